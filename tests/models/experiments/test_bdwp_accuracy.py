"""Tests of the BDWP accuracy experiment's machinery in
:mod:`sparsa.models.experiments.bdwp_accuracy`.

These train for one to three epochs (the real experiment is a benchmark, not a test): the loss
goes down, the sparse layers use N:M weights at every training step and after deployment,
accuracy is computed on the held-out part, and a seed reproduces its result. In bf16 mixed
precision the GEMMs run in bfloat16 while the weights, masks, optimizer state and loss stay
float32.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from math import isfinite
from statistics import fmean, stdev

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils._python_dispatch import TorchDispatchMode

from sparsa.config.sat import NMPattern
from sparsa.models.algorithms import bdwp
from sparsa.models.algorithms.bdwp import BDWPConv2d, BDWPLinear
from sparsa.models.experiments.accuracy_data import ImageSplit, load_digits_split
from sparsa.models.experiments.bdwp_accuracy import (
    PAPER_AVG_LOSS_2_8,
    PRECISIONS,
    RECIPE,
    TrainingRecipe,
    build_model,
    deploy,
    run_bdwp_accuracy,
    top1,
    train,
    train_and_evaluate,
)
from sparsa.models.golden.nm_sparsity import backward_mask, forward_mask, gemm_matrix, is_nm_sparse
from sparsa.models.zoo.cnn import resnet8

TINY = RECIPE.replace(epochs=1)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One PyTorch thread, as the experiment runs: two threads on a busy 2-core machine are
    nearly three times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def split() -> ImageSplit:
    return load_digits_split()


@pytest.fixture(scope="module")
def subset(split: ImageSplit) -> ImageSplit:
    """The first 320 training images and the whole held-out part."""
    return replace(
        split,
        train_images=split.train_images[:320],
        train_labels=split.train_labels[:320],
        train_indices=split.train_indices[:320],
    )


def sparse_layers(model: nn.Module) -> list[BDWPConv2d | BDWPLinear]:
    return [m for m in model.modules() if isinstance(m, BDWPConv2d | BDWPLinear)]


def plain_forward(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, BDWPLinear):
        return functional.linear(x, weight, layer.bias)
    return functional.conv2d(x, weight, layer.bias, layer.stride, layer.padding, layer.dilation)


@pytest.mark.parametrize(
    ("model", "method", "pattern"),
    [
        ("small_cnn", "bdwp", NMPattern(2, 8)),
        ("resnet8", "bdwp", NMPattern(1, 4)),
        ("resnet8", "srste", NMPattern(2, 4)),
    ],
)
def test_training_lowers_the_loss_with_nm_weights_at_every_step(
    subset: ImageSplit, model: str, method: str, pattern: NMPattern
) -> None:
    seed = 3
    net, dense = build_model(model, method, pattern, seed=seed)
    layers = sparse_layers(net)
    assert len(layers) == sum(isinstance(m, nn.Conv2d | nn.Linear) for m in net.modules()) - 2
    assert len(dense) == 2, dense
    calls = dict.fromkeys(map(id, layers), 0)

    def check(layer: nn.Module, args: tuple[torch.Tensor], out: torch.Tensor) -> None:
        # The forward GEMM of every step used W * Mf, N:M along K; BDWP's BP mask is N:M along
        # Cout.
        assert (layer.config.mode, layer.config.pattern) == (method, pattern)
        w = layer.weight.detach()
        used = w * forward_mask(w, pattern)
        assert is_nm_sparse(gemm_matrix(used), pattern), f"seed={seed} {layer}"
        if method == "bdwp":
            back = w * backward_mask(w, pattern)
            assert is_nm_sparse(gemm_matrix(back).t(), pattern), f"seed={seed} {layer}"
        torch.testing.assert_close(
            out,
            plain_forward(layer, args[0], used),
            rtol=0,
            atol=0,
            msg=lambda m: f"seed={seed} {layer}: {m}",
        )
        calls[id(layer)] += 1

    handles = [layer.register_forward_hook(check) for layer in layers]
    losses = train(net, subset, TINY.replace(epochs=3), seed=seed)
    for handle in handles:
        handle.remove()
    assert set(calls.values()) == {3 * -(-320 // TINY.batch_size)}, f"seed={seed}"
    assert losses[2] < losses[1] < losses[0], f"seed={seed} {losses}"


def test_deployed_model_is_exactly_nm_and_predicts_like_the_trained_one(
    subset: ImageSplit,
) -> None:
    seed, pattern = 1, NMPattern(2, 8)
    net, _ = build_model("resnet8", "bdwp", pattern, seed=seed)
    train(net, subset, TINY, seed=seed)
    before = [layer.weight.detach().clone() for layer in sparse_layers(net)]
    deployed = deploy(net)
    for layer, dense in zip(sparse_layers(deployed), before, strict=True):
        assert layer.config.mode == "dense"
        matrix = gemm_matrix(layer.weight.detach())
        assert is_nm_sparse(matrix, pattern), f"seed={seed} {layer}"
        # Exactly N survivors per group (trained weights are never exactly zero).
        assert int((matrix != 0).sum()) == matrix.numel() * pattern.n // pattern.m
        torch.testing.assert_close(layer.weight.detach(), dense * forward_mask(dense, pattern))
    for layer, dense in zip(sparse_layers(net), before, strict=True):
        assert torch.equal(layer.weight.detach(), dense), "deploy changed the trained model"
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            deployed(subset.test_images), net(subset.test_images), msg=lambda m: f"seed={seed}: {m}"
        )


def test_accuracy_is_of_the_held_out_images(split: ImageSplit) -> None:
    seed, recipe = 2, TINY.replace(epochs=2)  # two epochs: ResNet-8 is past 90 % already
    run = train_and_evaluate(
        "resnet8", "srste", NMPattern(2, 4), seed=seed, split=split, recipe=recipe
    )
    assert run.held_out == len(split.test_labels) == 450
    assert run.top1 * run.held_out / 100 == pytest.approx(round(run.top1 * run.held_out / 100))
    net, _ = build_model("resnet8", "srste", NMPattern(2, 4), seed=seed)
    train(net, split, recipe, seed=seed)
    deployed = deploy(net)
    assert run.top1 == top1(deployed, split.test_images, split.test_labels), f"seed={seed}"
    assert 80 < run.top1 <= 100, f"seed={seed}: {run.top1}"


def test_same_seed_same_result_other_seed_other_result(subset: ImageSplit) -> None:
    def once(seed: int) -> tuple:
        run = train_and_evaluate(
            "small_cnn", "bdwp", NMPattern(2, 4), seed=seed, split=subset, recipe=TINY
        )
        return run.top1, run.epoch_losses

    assert once(5) == once(5), "seed=5"
    assert once(5)[1] != once(6)[1], "seeds 5 and 6"


def test_build_model_starts_every_method_from_the_seed_and_leaves_the_global_rng() -> None:
    state = torch.random.get_rng_state()
    dense, none = build_model("resnet8", "dense", None, seed=4)
    sparse, skipped = build_model("resnet8", "bdwp", NMPattern(2, 8), seed=4)
    other, _ = build_model("resnet8", "dense", None, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert none == {} and sorted(skipped) == ["fc", "features.0"]
    for a, b in zip(dense.parameters(), sparse.parameters(), strict=True):
        assert torch.equal(a, b), "seed=4"
    assert not torch.equal(next(dense.parameters()), next(other.parameters())), "seeds 4 and 5"


def test_resnet8_shapes() -> None:
    torch.manual_seed(0)
    model = resnet8(num_classes=4, in_channels=3).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 8, 8)).shape == (2, 4), "seed=0"
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 16, 32, 32, 32, 64, 64, 64]
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        resnet8(num_classes=0)


def test_run_tabulates_the_runs_against_dense() -> None:
    threads = torch.get_num_threads()
    result = run_bdwp_accuracy(
        seeds=(0, 1),
        models=("small_cnn",),
        methods=("bdwp",),
        patterns=(NMPattern(2, 8),),
        recipe=TINY,
    )
    assert torch.get_num_threads() == threads
    assert [(r.method, r.pattern) for r in result.rows] == [
        ("dense", None),
        ("bdwp", NMPattern(2, 8)),
    ]
    for row in result.rows:
        accs = [
            run.top1
            for run in result.runs
            if (run.method, run.pattern) == (row.method, row.pattern)
        ]
        assert list(row.accuracies) == accs and len(accs) == 2
        assert row.mean == fmean(accs) and row.std == stdev(accs)
    dense, bdwp = result.rows
    assert result.loss_vs_dense(bdwp) == dense.mean - bdwp.mean == result.average_loss()
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["paper_comparison"]["paper_avg_loss_pp"] == PAPER_AVG_LOSS_2_8 == 0.56
    assert summary["dense_layers"] == {
        "small_cnn": {
            "features.0": "first layer (kept dense; first_layer=True sparsifies it)",
            "classifier.2": "last layer (kept dense; last_layer=True sparsifies it)",
        }
    }
    assert len(summary["runs"]) == 4 and summary["recipe"]["epochs"] == 1
    table = result.to_markdown()
    assert f"| small_cnn | bdwp | 2:8 | {bdwp.mean:.2f} | {bdwp.std:.2f} |" in table
    assert f"{dense.mean - bdwp.mean:+.2f} pp (paper: 0.56%" in table
    assert "| small_cnn | dense | - |" in table and "| baseline |" in table


def test_one_seed_has_no_spread_and_no_paper_line_without_2_8() -> None:
    result = run_bdwp_accuracy(
        seeds=(0,),
        models=("small_cnn",),
        methods=("srste",),
        patterns=(NMPattern(2, 4),),
        recipe=TINY,
    )
    assert all(row.std is None for row in result.rows)
    assert result.paper_comparison is None and "paper" not in result.to_markdown()
    assert "| n/a |" in result.to_markdown()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": ("vgg16",)}, r"models must hold values of \['small_cnn', 'resnet8'\]"),
        ({"models": "resnet8"}, "models must be a non-empty sequence"),
        ({"methods": ("dense",)}, r"methods must hold values of \['srste', 'bdwp'\]"),
        ({"methods": ("bdwp", "bdwp")}, "methods must not repeat a value"),
        ({"patterns": ("2:8",)}, "patterns must be a non-empty sequence of distinct NMPatterns"),
        ({"seeds": (0, 0)}, "seeds must be distinct and at least one"),
        ({"seeds": ()}, "seeds must be distinct and at least one"),
        ({"seeds": (-1,)}, "seed must be a non-negative integer"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"recipe": {"epochs": 1}}, "recipe must be a TrainingRecipe"),
        ({"quick": 1}, "quick must be True or False"),
    ],
)
def test_run_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_bdwp_accuracy(**kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("resnet18", "dense", None), r"model must be one of \['resnet8', 'small_cnn'\]"),
        (("resnet8", "sparse", None), r"method must be one of \('dense', 'srste', 'bdwp'\)"),
        (("resnet8", "dense", NMPattern(2, 4)), "the dense method takes no pattern"),
        (("resnet8", "bdwp", None), r"the bdwp method needs an NMPattern"),
    ],
)
def test_build_model_rejects_bad_arguments(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(*args, seed=0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be a positive integer"),
        ("batch_size", 2.0, "batch_size must be a positive integer"),
        ("lr", 0, r"lr must be a finite number > 0"),
        ("momentum", 1, r"momentum must be a finite number in \(0, 1\)"),
        ("weight_decay", float("inf"), "weight_decay must be a finite number >= 0"),
        ("weight_decay", True, "weight_decay must be a finite number >= 0"),
    ],
)
def test_recipe_validation(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingRecipe(**{field: value})


GEMMS = ("mm", "addmm", "convolution", "convolution_backward")
LOSS = ("_log_softmax", "nll_loss_forward")


def float_dtypes(values: object) -> list[torch.dtype]:
    values = values if isinstance(values, tuple | list) else (values,)
    return [v.dtype for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()]


class OpDtypes(TorchDispatchMode):
    """Records the operand and result dtypes of every GEMM, convolution and loss op, as the
    kernels receive them (after autocast's casts and the BDWP layers' own)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[torch.dtype], list[torch.dtype]]] = []

    def __torch_dispatch__(
        self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None
    ) -> object:
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in GEMMS + LOSS:
            self.calls.append((name, float_dtypes(args), float_dtypes(out)))
        return out


@pytest.mark.parametrize(
    ("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)]
)
def test_precision_runs_the_forward_and_backward_gemms_in_its_dtype(
    subset: ImageSplit, precision: str, dtype: torch.dtype
) -> None:
    seed, pattern = 7, NMPattern(2, 8)
    net, _ = build_model("small_cnn", "bdwp", pattern, seed=seed)
    layers = sparse_layers(net)
    assert {type(layer) for layer in layers} == {BDWPConv2d, BDWPLinear}

    def check(layer: nn.Module, args: tuple[torch.Tensor], out: torch.Tensor) -> None:
        # Inside the training step's autocast region: the plain layer on W * Mf (Mf from the
        # float32 W) gives the same values in the same dtype.
        w = layer.weight.detach()
        with torch.no_grad():
            expected = plain_forward(layer, args[0], w * forward_mask(w, pattern))
        assert out.dtype == expected.dtype == dtype, f"seed={seed} {layer}"
        torch.testing.assert_close(
            out, expected, rtol=0, atol=0, msg=lambda m: f"seed={seed} {layer}: {m}"
        )

    handles = [layer.register_forward_hook(check) for layer in layers]
    with OpDtypes() as ops:
        losses = train(net, subset, TINY, seed=seed, precision=precision)
    for handle in handles:
        handle.remove()
    names = {name for name, _, _ in ops.calls}
    assert names == set(GEMMS + LOSS), f"seed={seed}: {names}"
    for name, operands, results in ops.calls:
        if name in LOSS:
            assert set(operands + results) == {torch.float32}, f"seed={seed} {name}"
            continue
        # Every operand, the BDWP backward GEMMs' masked weights included (the layers cast
        # them to the gradient's dtype), and every result.
        assert set(results) == {dtype}, f"seed={seed} {name}: {results}"
        assert set(operands) == {dtype}, f"seed={seed} {name}: {operands}"
    assert all(isfinite(loss) for loss in losses), f"seed={seed} {losses}"


def recording(mask: Callable, calls: list[torch.dtype]) -> Callable:
    """``mask``, appending the dtype of the weight it is given to ``calls``."""

    def recorded(weight: torch.Tensor, *args: object) -> torch.Tensor:
        calls.append(weight.dtype)
        return mask(weight, *args)

    return recorded


def test_bf16_keeps_float32_master_weights_masks_and_optimizer_state(
    subset: ImageSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = 8
    net, _ = build_model("small_cnn", "bdwp", NMPattern(2, 8), seed=seed)
    mask_inputs: dict[str, list[torch.dtype]] = {"forward_mask": [], "backward_mask": []}
    for name, calls in mask_inputs.items():
        monkeypatch.setattr(bdwp, name, recording(getattr(bdwp, name), calls))
    states: list[set[torch.dtype]] = []

    def record_state(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        states.append({s["momentum_buffer"].dtype for s in optimizer.state.values()})

    handle = register_optimizer_step_post_hook(record_state)
    try:
        train(net, subset, TINY, seed=seed, precision="bf16")
    finally:
        handle.remove()
    steps = -(-320 // TINY.batch_size)
    # Mf in the forward and Mb in the backward pass of each of the 3 BDWP layers, every step.
    assert mask_inputs == {
        "forward_mask": [torch.float32] * 3 * steps,
        "backward_mask": [torch.float32] * 3 * steps,
    }, f"seed={seed}"
    assert states == [{torch.float32}] * steps, f"seed={seed}"
    assert {p.dtype for p in net.parameters()} == {torch.float32}, f"seed={seed}"
    assert {p.grad.dtype for p in net.parameters()} == {torch.float32}, f"seed={seed}"


def test_bf16_run_reproduces_and_scores_the_deployed_model_in_bf16(subset: ImageSplit) -> None:
    seed, pattern = 9, NMPattern(2, 8)

    def once(precision: str) -> tuple:
        run = train_and_evaluate(
            "small_cnn", "bdwp", pattern, seed=seed, split=subset, recipe=TINY, precision=precision
        )
        return run.top1, run.epoch_losses, run.precision

    bf16 = once("bf16")
    assert bf16 == once("bf16") and bf16[2] == "bf16", f"seed={seed}"
    assert bf16[1] != once("fp32")[1], f"seed={seed}: bf16 trained like fp32"
    net, _ = build_model("small_cnn", "bdwp", pattern, seed=seed)
    train(net, subset, TINY, seed=seed, precision="bf16")
    deployed = deploy(net)
    assert {p.dtype for p in deployed.parameters()} == {torch.float32}
    assert bf16[0] == top1(deployed, subset.test_images, subset.test_labels, precision="bf16")


def test_run_shows_bf16_beside_fp32() -> None:
    p24, p28 = NMPattern(2, 4), NMPattern(2, 8)
    result = run_bdwp_accuracy(
        seeds=(0, 1),
        models=("small_cnn",),
        methods=("srste", "bdwp"),
        patterns=(p24, p28),
        recipe=TINY,
        precisions=PRECISIONS,
    )
    # fp32 trains every case; bf16 the dense baseline and BDWP at 2:8.
    assert [(r.method, r.pattern, r.precision) for r in result.rows] == [
        ("dense", None, "fp32"),
        ("dense", None, "bf16"),
        ("srste", p24, "fp32"),
        ("srste", p28, "fp32"),
        ("bdwp", p24, "fp32"),
        ("bdwp", p28, "fp32"),
        ("bdwp", p28, "bf16"),
    ]
    for row in result.rows:
        assert row.accuracies == tuple(
            run.top1
            for run in result.runs
            if (run.method, run.pattern, run.precision) == (row.method, row.pattern, row.precision)
        )
        assert len(row.accuracies) == 2 and row.std == stdev(row.accuracies)
    dense, bf16 = (
        result.row("small_cnn", "dense", None, "bf16"),
        result.row("small_cnn", "bdwp", p28, "bf16"),
    )
    assert result.loss_vs_dense(bf16) == dense.mean - bf16.mean
    assert result.average_loss(precision="bf16") == dense.mean - bf16.mean

    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["precisions"] == ["fp32", "bf16"]
    assert [r["precision"] for r in summary["rows"]] == [r.precision for r in result.rows]
    assert [r["precision"] for r in summary["runs"]] == [run.precision for run in result.runs]
    assert [run.precision for run in result.runs].count("bf16") == 2 * 2
    comparison = summary["paper_comparison"]
    assert comparison["precision"] == "fp32"
    assert comparison["measured_avg_loss_pp"] == result.average_loss()
    assert comparison["other_precisions_avg_loss_pp"] == {"bf16": dense.mean - bf16.mean}

    table = result.to_markdown()
    fp32 = result.row("small_cnn", "bdwp", p28)
    assert (
        f"| small_cnn | bdwp | 2:8 | {fp32.mean:.2f} | {fp32.std:.2f} | "
        f"{result.loss_vs_dense(fp32):+.2f} | {fp32.accuracies[0]:.2f}, {fp32.accuracies[1]:.2f} | "
        f"{bf16.mean:.2f} | {bf16.std:.2f} | {dense.mean - bf16.mean:+.2f} | "
        f"{bf16.accuracies[0]:.2f}, {bf16.accuracies[1]:.2f} |"
    ) in table
    assert "| small_cnn | srste | 2:4 |" in table and "| - | - | - | - |" in table
    assert "| bf16 top-1 mean (%) | bf16 std (pp) |" in table
    assert f"In bf16: {dense.mean - bf16.mean:+.2f} pp." in table


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"precisions": ("fp16",)},
            r"precisions must hold values of \['fp32', 'bf16'\], not 'fp16'",
        ),
        ({"precisions": "bf16"}, "precisions must be a non-empty sequence"),
        ({"precisions": ("fp32", "fp32")}, "precisions must not repeat a value"),
        ({"precisions": ("bf16",)}, "precisions must include 'fp32'"),
    ],
)
def test_run_rejects_bad_precisions(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_bdwp_accuracy(**kwargs)


@pytest.mark.parametrize("precision", ["fp16", "BF16", None])
def test_train_and_top1_reject_an_unknown_precision(subset: ImageSplit, precision: object) -> None:
    message = rf"precision must be one of \('fp32', 'bf16'\), not {precision!r}"
    net, _ = build_model("small_cnn", "dense", None, seed=0)
    with pytest.raises(ValueError, match=message):
        train(net, subset, TINY, seed=0, precision=precision)
    with pytest.raises(ValueError, match=message):
        top1(net, subset.test_images, subset.test_labels, precision=precision)
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(
            "small_cnn", "dense", None, seed=0, split=subset, recipe=TINY, precision=precision
        )
