"""Tests of BDWP / SR-STE training of Linear and Conv2d layers in
:mod:`sparsa.models.algorithms.bdwp`.

Gradients are checked in float64 against explicit formulas (input gradient by a matmul or a
transposed convolution with the masked weight, weight gradient by autograd of the plain layer)
and with ``torch.autograd.gradcheck`` where the layer's gradient is the true derivative of its
forward. Random tensors come from seeded ``torch.Generator`` objects; messages name the seed.
"""

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.nn import functional

from sparsa.config.sat import NMPattern
from sparsa.models.algorithms.bdwp import (
    SRSTE_DECAY,
    BDWPConfig,
    BDWPConv2d,
    BDWPLinear,
    bdwp_conv2d,
    bdwp_linear,
    sparsify,
    training_masks,
)
from sparsa.models.golden.nm_sparsity import backward_mask, forward_mask, gemm_matrix, is_nm_sparse

PATTERNS = [NMPattern(n, m) for n, m in ((2, 4), (1, 4), (2, 8), (4, 8), (1, 8))]
MODES = ("dense", "srste", "bdwp")
OPTIONS = {
    "default": {},
    "no-decay": {"decay": 0.0},
    "masked-wgrad": {"mask_weight_grad": True, "decay": 0.01},
    "mb-from-pruned": {"backward_source": "forward"},
}


def randn(*shape: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64)


@dataclass(frozen=True)
class Geometry:
    """A convolution's kernel, stride, padding, dilation and input size."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    size: tuple[int, int]


GEOMETRIES = [
    Geometry((3, 3), (1, 1), (1, 1), (1, 1), (6, 6)),
    Geometry((3, 3), (2, 2), (1, 1), (1, 1), (8, 7)),
    Geometry((3, 3), (1, 1), (2, 2), (2, 2), (5, 5)),
    Geometry((1, 1), (2, 2), (0, 0), (1, 1), (7, 7)),
    Geometry((3, 1), (2, 1), (1, 0), (1, 1), (6, 5)),
]


def expected_grads(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, grad: torch.Tensor,
    config: BDWPConfig, geometry: Geometry | None,
) -> tuple[torch.Tensor, ...]:
    """y, dx, dW and db of the module docstring's table, written out by hand."""
    w = weight.detach()
    if config.mode == "dense":
        mf = mb = torch.ones_like(w, dtype=torch.bool)
    else:
        mf = forward_mask(w, config.pattern)
        if config.mode == "srste":
            mb = mf
        elif config.backward_source == "dense":
            mb = backward_mask(w, config.pattern)
        else:
            mb = backward_mask(w * mf, config.pattern) & mf
    w_leaf = w.clone().requires_grad_()
    if geometry is None:
        y = functional.linear(x, w * mf, bias)
        dx = grad @ (w * mb)
        plain = functional.linear(x.detach(), w_leaf)
        db = grad.reshape(-1, w.shape[0]).sum(0)
    else:
        g = geometry
        y = functional.conv2d(x, w * mf, bias, g.stride, g.padding, g.dilation)
        out_padding = tuple(
            size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
            for size, out, s, p, d, k in zip(x.shape[-2:], y.shape[-2:], g.stride, g.padding,
                                             g.dilation, g.kernel, strict=True)
        )
        dx = functional.conv_transpose2d(grad, w * mb, None, g.stride, g.padding, out_padding,
                                         1, g.dilation)
        plain = functional.conv2d(x.detach(), w_leaf, None, g.stride, g.padding, g.dilation)
        db = grad.sum((0, 2, 3))
    (dw,) = torch.autograd.grad(plain, w_leaf, grad)
    if config.mode != "dense":
        if config.mask_weight_grad:
            dw = dw * mf
        dw = dw + config.decay * torch.where(mf, 0.0, w)
    return y.detach(), dx, dw, db


def run_layer(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_()
    y = layer(x)
    y.backward(grad)
    return y.detach(), x.grad, layer.weight.grad, layer.bias.grad


def assert_close(got: tuple[torch.Tensor, ...], expected: tuple[torch.Tensor, ...],
                 message: str) -> None:
    for name, a, b in zip(("y", "dx", "dW", "db"), got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12,
                                   msg=lambda detail, name=name: f"{name}: {message}\n{detail}")


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_linear_gradients_match_the_formulas(pattern: NMPattern, mode: str, option: str) -> None:
    seed = PATTERNS.index(pattern)
    gen = torch.Generator().manual_seed(seed)
    config = BDWPConfig(mode=mode, pattern=pattern, **OPTIONS[option])
    layer = BDWPLinear(3 * pattern.m, 2 * pattern.m, dtype=torch.float64, config=config)
    x, grad = randn(2, 3, 3 * pattern.m, gen=gen), randn(2, 3, 2 * pattern.m, gen=gen)
    with torch.no_grad():
        layer.weight.copy_(randn(2 * pattern.m, 3 * pattern.m, gen=gen))
    expected = expected_grads(x, layer.weight, layer.bias.detach(), grad, config, None)
    assert_close(run_layer(layer, x, grad), expected, f"seed={seed} {config}")


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"k{g.kernel}s{g.stride}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_conv_gradients_match_the_formulas(pattern: NMPattern, mode: str,
                                           geometry: Geometry) -> None:
    p, g = PATTERNS.index(pattern), GEOMETRIES.index(geometry)
    seed = 10 * p + g
    gen = torch.Generator().manual_seed(seed)
    # Every option meets every mode on several patterns and geometries.
    option = list(OPTIONS.values())[(p + g) % len(OPTIONS)]
    config = BDWPConfig(mode=mode, pattern=pattern, **option)
    layer = BDWPConv2d(pattern.m, 2 * pattern.m, geometry.kernel, geometry.stride,
                       geometry.padding, geometry.dilation, dtype=torch.float64, config=config)
    x = randn(2, pattern.m, *geometry.size, gen=gen)
    with torch.no_grad():
        layer.weight.copy_(randn(*layer.weight.shape, gen=gen))
        out_shape = layer(x).shape
    grad = randn(*out_shape, gen=gen)
    expected = expected_grads(x, layer.weight, layer.bias.detach(), grad, config, geometry)
    assert_close(run_layer(layer, x, grad), expected, f"seed={seed} {config} {geometry}")


def test_bdwp_uses_a_different_mask_than_srste_in_bp() -> None:
    gen = torch.Generator().manual_seed(0)
    weight = randn(8, 8, gen=gen)
    fmask, bmask = training_masks(weight, BDWPConfig(pattern=NMPattern(2, 4)))
    assert not torch.equal(fmask, bmask), "seed=0: the test weight should not be transposable"
    assert is_nm_sparse(weight * fmask, NMPattern(2, 4))
    assert is_nm_sparse((weight * bmask).t(), NMPattern(2, 4))
    assert not is_nm_sparse((weight * fmask).t(), NMPattern(2, 4))
    srste = training_masks(weight, BDWPConfig(mode="srste", pattern=NMPattern(2, 4)))
    assert torch.equal(srste[0], fmask) and torch.equal(srste[1], fmask)
    dense = training_masks(weight, BDWPConfig(mode="dense"))
    assert all(bool(m.all()) for m in dense)


@pytest.mark.parametrize("seed", range(3))
def test_backward_mask_from_pruned_weights_lies_inside_the_forward_mask(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    weight = randn(16, 8, 3, 3, gen=gen)
    config = BDWPConfig(pattern=NMPattern(2, 8), backward_source="forward")
    fmask, bmask = training_masks(weight, config)
    assert not bool((bmask & ~fmask).any()), f"seed={seed}"
    assert torch.equal(bmask, backward_mask(weight * fmask, NMPattern(2, 8)) & fmask), \
        f"seed={seed}"
    assert is_nm_sparse(gemm_matrix(weight * bmask).t(), NMPattern(2, 8)), f"seed={seed}"


def distinct_weight(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Magnitudes 1/n .. 1 in random order with random signs: every gap is >= 1/n, far wider
    than gradcheck's perturbation, so the masks stay put."""
    numel = torch.Size(shape).numel()
    magnitudes = (torch.randperm(numel, generator=gen) + 1).to(torch.float64) / numel
    signs = torch.randint(0, 2, (numel,), generator=gen) * 2 - 1
    return (magnitudes * signs).reshape(shape)


def transposable_weight(rows: int, cols: int, gen: torch.Generator) -> torch.Tensor:
    """A weight that is 2:4 sparse along both dims (so Mf == Mb), non-zeros of magnitude >= 0.5
    (gradcheck's perturbation of a zero never outranks them)."""
    block = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]])
    support = block.repeat(rows // 4, cols // 4).bool()
    return (0.5 + distinct_weight((rows, cols), gen).abs()) * support


GRADCHECK_CASES = ["dense", "srste-exact", "bdwp-transposable"]


def gradcheck_setup(case: str, shape: tuple[int, ...], gen: torch.Generator) -> tuple:
    """Config and weight of a case whose gradient is the true derivative of its forward."""
    if case == "dense":
        return BDWPConfig(mode="dense"), randn(*shape, gen=gen)
    exact = {"decay": 0.0, "mask_weight_grad": True, "pattern": NMPattern(2, 4)}
    if case == "srste-exact":
        return BDWPConfig(mode="srste", **exact), distinct_weight(shape, gen)
    weight = transposable_weight(shape[0], torch.Size(shape[1:]).numel(), gen).reshape(shape)
    config = BDWPConfig(mode="bdwp", **exact)
    fmask, bmask = training_masks(weight, config)
    assert torch.equal(fmask, bmask) and torch.equal(fmask, weight != 0)
    return config, weight


@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_gradcheck_linear(case: str) -> None:
    gen = torch.Generator().manual_seed(1)
    config, weight = gradcheck_setup(case, (8, 12), gen)
    inputs = (randn(3, 12, gen=gen).requires_grad_(), weight.requires_grad_(),
              randn(8, gen=gen).requires_grad_())
    assert torch.autograd.gradcheck(lambda x, w, b: bdwp_linear(x, w, b, config), inputs), \
        f"seed=1 {case}"


@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_gradcheck_conv2d(case: str) -> None:
    gen = torch.Generator().manual_seed(2)
    config, weight = gradcheck_setup(case, (4, 2, 2, 1), gen)
    inputs = (randn(1, 2, 5, 3, gen=gen).requires_grad_(), weight.requires_grad_(),
              randn(4, gen=gen).requires_grad_())
    assert torch.autograd.gradcheck(
        lambda x, w, b: bdwp_conv2d(x, w, b, config, stride=2, padding=1), inputs
    ), f"seed=2 {case}"


def test_decay_term_alone() -> None:
    gen = torch.Generator().manual_seed(3)
    config = BDWPConfig(pattern=NMPattern(1, 4))
    layer = BDWPLinear(8, 8, bias=False, dtype=torch.float64, config=config)
    layer(randn(5, 8, gen=gen)).backward(torch.zeros(5, 8, dtype=torch.float64))
    fmask = forward_mask(layer.weight, config.pattern)
    expected = SRSTE_DECAY * layer.weight.detach().masked_fill(fmask, 0)
    assert torch.equal(layer.weight.grad, expected), "seed=3"
    assert config.decay == 2e-4


def test_masks_follow_the_current_weights() -> None:
    gen = torch.Generator().manual_seed(4)
    config = BDWPConfig(pattern=NMPattern(2, 8))
    layer = BDWPConv2d(8, 16, 3, padding=1, dtype=torch.float64, config=config)
    x = randn(1, 8, 4, 4, gen=gen)
    for _ in range(3):
        with torch.no_grad():
            layer.weight.copy_(randn(16, 8, 3, 3, gen=gen))
        w = layer.weight.detach()
        expected = functional.conv2d(x, w * forward_mask(w, config.pattern), layer.bias,
                                     padding=1)
        assert torch.equal(layer(x), expected), "seed=4"
        fmask, bmask = layer.masks()
        assert torch.equal(fmask, forward_mask(w, config.pattern)), "seed=4"
        assert torch.equal(bmask, backward_mask(w, config.pattern)), "seed=4"


def test_unbatched_inputs() -> None:
    gen = torch.Generator().manual_seed(5)
    config = BDWPConfig(pattern=NMPattern(2, 4))
    conv = BDWPConv2d(4, 8, 3, dtype=torch.float64, config=config)
    x = randn(4, 5, 5, gen=gen).requires_grad_()
    y = conv(x)
    assert y.shape == (8, 3, 3), "seed=5"
    y.sum().backward()
    assert x.grad.shape == x.shape, "seed=5"
    linear = BDWPLinear(8, 4, dtype=torch.float64, config=config.replace(mode="srste"))
    v = randn(8, gen=gen).requires_grad_()
    linear(v).sum().backward()
    w = linear.weight.detach()
    torch.testing.assert_close(v.grad, (w * forward_mask(w, config.pattern)).sum(0), rtol=0,
                               atol=1e-15, msg="seed=5")


def test_from_dense_takes_over_the_parameters() -> None:
    torch.manual_seed(6)
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
    linear = nn.Linear(16, 8)
    x = torch.randn(2, 8, 6, 6)
    new_conv = BDWPConv2d.from_dense(conv, BDWPConfig(mode="dense"))
    new_linear = BDWPLinear.from_dense(linear, BDWPConfig(mode="srste", pattern=NMPattern(1, 4)))
    assert new_conv.weight is conv.weight and new_conv.bias is None
    assert new_linear.weight is linear.weight and new_linear.bias is linear.bias
    assert (new_conv.stride, new_conv.padding) == ((2, 2), (1, 1))
    assert torch.equal(new_conv(x), conv(x)), "seed=6"
    w = linear.weight.detach()
    v = torch.randn(3, 16)
    expected = functional.linear(v, w * forward_mask(w, NMPattern(1, 4)), linear.bias)
    assert torch.equal(new_linear(v), expected), "seed=6"
    assert "mode=srste, pattern=1:4" in repr(new_linear)


def test_layers_reject_what_the_sparse_modes_cannot_do() -> None:
    bdwp = BDWPConfig(pattern=NMPattern(2, 4))
    with pytest.raises(ValueError, match=r"cannot train in bdwp mode .* groups = 2"):
        BDWPConv2d(8, 8, 3, groups=2, config=bdwp)
    assert BDWPConv2d(8, 8, 3, groups=2, config=BDWPConfig(mode="dense")).groups == 2
    with pytest.raises(ValueError, match=r"padding 'same' with padding_mode 'zeros'"):
        BDWPConv2d(8, 8, 3, padding="same", config=bdwp)
    with pytest.raises(ValueError, match=r"padding_mode 'reflect'"):
        BDWPConv2d(8, 8, 3, padding=1, padding_mode="reflect", config=bdwp)
    with pytest.raises(ValueError, match=r"K = Cin\*kh\*kw = 27 of weight \(8, 3, 3, 3\) is "
                                         r"not a multiple of M = 4"):
        BDWPConv2d(3, 8, 3, config=bdwp)
    with pytest.raises(ValueError, match=r"Cout = 6 of weight \(6, 8\) is not a multiple"):
        BDWPLinear(8, 6, config=bdwp)
    layer = BDWPLinear(8, 6, config=bdwp.replace(mode="srste"))  # SR-STE needs only K % M
    with pytest.raises(ValueError, match=r"Cout = 6"):
        layer.config = bdwp
    assert layer.config.mode == "srste"
    with pytest.raises(ValueError, match=r"config must be a BDWPConfig, not 'bdwp'"):
        BDWPLinear(8, 8, config="bdwp")
    with pytest.raises(ValueError, match=r"stride must be an integer or a pair"):
        bdwp_conv2d(torch.ones(1, 4, 3, 3), torch.ones(4, 4, 1, 1), None, bdwp, stride=(1, 2, 3))


def test_config_validation() -> None:
    assert BDWPConfig() == BDWPConfig(mode="bdwp", pattern=NMPattern(2, 8), decay=2e-4,
                                      mask_weight_grad=False, backward_source="dense")
    for changes, message in (
        ({"mode": "sparse"}, r"mode must be one of \('dense', 'srste', 'bdwp'\), not 'sparse'"),
        ({"pattern": (2, 4)}, r"pattern must be an NMPattern .* not \(2, 4\)"),
        ({"decay": -1.0}, r"decay must be a finite number >= 0, not -1.0"),
        ({"decay": float("nan")}, r"decay must be .* not nan"),
        ({"decay": True}, r"decay must be .* not True"),
        ({"mask_weight_grad": 1}, r"mask_weight_grad must be True or False, not 1"),
        ({"backward_source": "sparse"}, r"backward_source must be one of \('dense', 'forward'\)"),
    ):
        with pytest.raises(ValueError, match=message):
            BDWPConfig(**changes)
        with pytest.raises(ValueError, match=message):
            BDWPConfig().replace(**changes)
    assert BDWPConfig().replace(decay=0).decay == 0


def toy_model() -> nn.Sequential:
    torch.manual_seed(7)
    return nn.Sequential(
        nn.Conv2d(4, 16, 3, padding=1),               # 0: first layer
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),              # 2: eligible
        nn.Conv2d(32, 32, 3, padding=1, groups=2),    # 3: groups
        nn.Conv2d(32, 12, 1),                         # 4: Cout = 12
        nn.Conv2d(12, 16, 1),                         # 5: K = 12
        nn.Conv2d(16, 16, 3, padding="same"),         # 6: string padding
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 16),                            # 9: eligible
        nn.Linear(16, 10),                            # 10: last layer
    )


def test_sparsify_replaces_the_eligible_layers() -> None:
    model = toy_model()
    x = torch.randn(2, 4, 8, 8)
    dense_out = model(x)
    params = list(model.parameters())
    skipped = sparsify(model, BDWPConfig(mode="dense", pattern=NMPattern(2, 8)))
    assert list(skipped) == ["0", "3", "4", "5", "6", "10"]
    assert "first layer" in skipped["0"] and "last layer" in skipped["10"]
    assert "groups = 2" in skipped["3"]
    assert "Cout = 12" in skipped["4"] and "K = Cin*kh*kw = 12" in skipped["5"]
    assert "padding 'same'" in skipped["6"]
    assert type(model[2]) is BDWPConv2d and type(model[9]) is BDWPLinear
    assert type(model[0]) is nn.Conv2d and type(model[10]) is nn.Linear
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    assert torch.equal(model(x), dense_out), "seed=7"
    with pytest.raises(ValueError, match=r"already holds the BDWP layer '2'"):
        sparsify(model, BDWPConfig())


def test_sparsify_first_and_last_layers_on_request() -> None:
    model = toy_model()
    skipped = sparsify(model, BDWPConfig(pattern=NMPattern(1, 2)), first_layer=True,
                       last_layer=True)
    assert list(skipped) == ["3", "6"]
    assert type(model[0]) is BDWPConv2d and type(model[10]) is BDWPLinear
    assert model[4].config.pattern == NMPattern(1, 2)
    model(torch.randn(1, 4, 4, 4)).sum().backward()


def test_sparsify_leaves_subclasses_and_the_root_alone() -> None:
    class Scaled(nn.Linear):
        pass

    model = nn.Sequential(nn.Linear(8, 8), Scaled(8, 8), nn.Linear(8, 8))
    skipped = sparsify(model, BDWPConfig(pattern=NMPattern(2, 4)))
    assert skipped["1"] == "Scaled (only plain nn.Linear and nn.Conv2d are replaced)"
    root = nn.Linear(8, 8)
    assert "the model itself" in sparsify(root, BDWPConfig(pattern=NMPattern(2, 4)),
                                          first_layer=True, last_layer=True)[""]
    with pytest.raises(ValueError, match=r"config must be a BDWPConfig"):
        sparsify(root, "bdwp")


def test_weights_stay_dense_while_the_gemms_are_nm() -> None:
    gen = torch.Generator().manual_seed(8)
    config = BDWPConfig(pattern=NMPattern(2, 8))
    layer = BDWPConv2d(8, 16, 3, dtype=torch.float64, config=config)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        layer(randn(2, 8, 5, 5, gen=gen)).square().sum().backward()
        optimizer.step()
    fmask, bmask = layer.masks()
    w = layer.weight.detach()
    assert bool((w != 0).all()), "seed=8: the dense weights keep every entry"
    assert is_nm_sparse(gemm_matrix(w * fmask), config.pattern), "seed=8"
    assert is_nm_sparse(gemm_matrix(w * bmask).t(), config.pattern), "seed=8"
