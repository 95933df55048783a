"""The BDWP accuracy experiment: dense, SR-STE and BDWP training of small CNNs on 8x8 digits.

Every (model, method, pattern, seed) trains from scratch on the training part of
:func:`sparsa.models.experiments.accuracy_data.load_digits_split` and is scored by held-out
top-1 accuracy:

* **Models**: :func:`sparsa.models.zoo.cnn.small_cnn` and :func:`sparsa.models.zoo.cnn.resnet8`. In
  the sparse methods :func:`sparsa.models.algorithms.bdwp.sparsify` replaces every Conv2d and Linear
  layer but the first and the last, which stay dense (its default); the result lists them.
* **Methods**: ``dense``, ``srste`` (forward-only N:M) and ``bdwp`` (forward and backward N:M),
  the modes of :mod:`sparsa.models.algorithms.bdwp` with its defaults (SR-STE decay 2e-4, masks
  recomputed from the dense weights on every forward call, ``Mb`` from the dense weights, dense
  weight update), at the N:M patterns 2:4, 2:8 and 1:4.
* **Recipe** (:data:`RECIPE`): SGD with Nesterov momentum 0.9 and weight decay 5e-4 on every
  parameter, learning rate 0.1 annealed to 0 by a per-step cosine, batch 128, 15 epochs,
  cross-entropy loss. The seed fixes the initial weights (the same for every method, so the
  methods are compared from the same start) and the order of the batches; the split is fixed.
* **Precision** (:data:`PRECISIONS`): ``fp32`` trains and evaluates in float32 throughout.
  ``bf16`` is mixed precision: the parameters and the optimizer state stay float32 (master
  weights), and so do the masks ``Mf`` and ``Mb`` and the SR-STE decay term, computed from them;
  the forward and backward GEMMs and convolutions run in bfloat16 under
  ``torch.autocast(device_type="cpu", dtype=torch.bfloat16)``; the loss is computed in float32
  from the logits. bfloat16 has float32's 8-bit exponent range, so gradients do not underflow
  and no loss scaling is used. The sparse layers' custom autograd function computes its BP and
  WU GEMMs itself in the gradient's dtype (it casts ``W * Mb`` and the saved activations to
  bfloat16 and returns the weight gradient in float32); the backward pass runs inside the
  autocast region like the forward pass. A model is evaluated in the precision it trained in.
  bf16 trains the dense baseline and BDWP at 2:8
  (:data:`sparsa.models.algorithms.bdwp.DEFAULT_PATTERN`); SR-STE and the other patterns train
  in fp32 only (see :func:`run_bdwp_accuracy`).
* **Scoring**: after training, the sparse layers are *deployed*: their weights are replaced by
  ``W * Mf`` in plain dense layers, checked to be exactly N:M (a run stops with an error if
  not), and the deployed model is evaluated on the held-out images in eval mode.

The dense baseline does not depend on the pattern, so it trains once per model, seed and
precision. Runs
use one CPU thread by default: on this project's 2-core machine, shared with other work, two
threads made the full run nearly three times slower, and results are only bit-reproducible
at a fixed thread count.
"""

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from math import cos, isfinite, pi
from statistics import fmean, stdev

import torch
from torch import nn
from torch.nn import functional

from sparsa.config.checks import is_int
from sparsa.config.sat import NMPattern
from sparsa.models.algorithms.bdwp import (
    DEFAULT_PATTERN,
    MODES,
    BDWPConfig,
    BDWPConv2d,
    BDWPLinear,
    sparsify,
)
from sparsa.models.experiments.accuracy_data import ImageSplit, load_digits_split
from sparsa.models.experiments.threads import torch_threads
from sparsa.models.golden.nm_sparsity import forward_mask, gemm_matrix, is_nm_sparse
from sparsa.models.zoo.cnn import resnet8, small_cnn

__all__ = [
    "DEFAULT_SEEDS",
    "MODELS",
    "PAPER_AVG_LOSS_2_8",
    "PATTERNS",
    "PRECISIONS",
    "QUICK_RECIPE",
    "QUICK_SEEDS",
    "RECIPE",
    "AccuracyRow",
    "BDWPAccuracyResult",
    "RunResult",
    "TrainingRecipe",
    "build_model",
    "deploy",
    "run_bdwp_accuracy",
    "top1",
    "train",
    "train_and_evaluate",
]

# Average accuracy loss of BDWP at 2:8 (sparsa.models.algorithms.bdwp.DEFAULT_PATTERN) against dense
# training over the paper's models and data sets: "0.56%" in the abstract of Fang et al., "Efficient
# N:M Sparse DNN Training Using Algorithm, Architecture, and Dataflow Co-Design", IEEE TCAD 2023
# (arXiv 2309.13015). Read here as
# percentage points of top-1, the unit of this experiment's losses.
PAPER_AVG_LOSS_2_8 = 0.56

MODELS: dict[str, Callable[..., nn.Module]] = {"small_cnn": small_cnn, "resnet8": resnet8}
PATTERNS = (NMPattern(2, 4), NMPattern(2, 8), NMPattern(1, 4))
SPARSE_METHODS = tuple(mode for mode in MODES if mode != "dense")
DEFAULT_SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True, kw_only=True)
class TrainingRecipe:
    """How every run trains: SGD with Nesterov momentum and a per-step cosine learning rate.

    Parameters
    ----------
    epochs : int
        Passes over the training images.
    batch_size : int
        Images per step (the last batch of an epoch may be smaller).
    lr : float
        Peak learning rate; step ``s`` of ``S`` uses ``lr * (1 + cos(pi * s / S)) / 2``.
    momentum : float
        Nesterov momentum, in (0, 1).
    weight_decay : float
        L2 weight decay of the optimizer on every parameter (on top of the SR-STE decay that
        the sparse methods add to the weight gradient).
    """

    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        for name, allowed, ok in (
            ("lr", "> 0", lambda v: v > 0),
            ("momentum", "in (0, 1)", lambda v: 0 < v < 1),
            ("weight_decay", ">= 0", lambda v: v >= 0),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not isfinite(value)
                or not ok(value)
            ):
                raise ValueError(f"{name} must be a finite number {allowed}, not {value!r}")

    def replace(self, **changes: object) -> "TrainingRecipe":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)


RECIPE = TrainingRecipe()
QUICK_RECIPE = RECIPE.replace(epochs=4)


def _check_pattern(method: str, pattern: NMPattern | None) -> None:
    if method not in MODES:
        raise ValueError(f"method must be one of {MODES}, not {method!r}")
    if method == "dense" and pattern is not None:
        raise ValueError(f"the dense method takes no pattern, not {pattern!r}")
    if method != "dense" and not isinstance(pattern, NMPattern):
        raise ValueError(
            f"the {method} method needs an NMPattern (for example NMPattern(2, 8)), not {pattern!r}"
        )


def _check_seed(seed: object) -> None:
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")


def _check_precision(precision: object) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")


def _autocast(precision: str) -> AbstractContextManager:
    """The region in which ``precision``'s GEMMs run (see the module docstring)."""
    _check_precision(precision)
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


def build_model(
    model: str,
    method: str,
    pattern: NMPattern | None,
    *,
    seed: int,
    num_classes: int = 10,
    in_channels: int = 1,
) -> tuple[nn.Module, dict[str, str]]:
    """A freshly initialised model of :data:`MODELS`, sparsified for ``method``.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS`.
    method : str
        ``"dense"``, ``"srste"`` or ``"bdwp"``.
    pattern : NMPattern or None
        The N:M pattern of a sparse method; None for dense.
    seed : int
        Seed of the initial weights (the global RNG is left as it was); the same seed gives the
        same initial weights for every method.
    num_classes, in_channels : int
        Classifier outputs and input channels.

    Returns
    -------
    model : nn.Module
        The model, in training mode.
    dense_layers : dict of str to str
        The Conv2d and Linear layers left dense by :func:`sparsa.models.algorithms.bdwp.sparsify`
        and why (empty for the dense method).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, not {model!r}")
    _check_pattern(method, pattern)
    _check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = MODELS[model](num_classes=num_classes, in_channels=in_channels)
    if method == "dense":
        return net, {}
    return net, sparsify(net, BDWPConfig(mode=method, pattern=pattern))


def _cosine(step: int, steps: int) -> float:
    return (1 + cos(pi * step / steps)) / 2


def train(
    model: nn.Module,
    split: ImageSplit,
    recipe: TrainingRecipe,
    *,
    seed: int,
    precision: str = "fp32",
) -> list[float]:
    """Train ``model`` in place on ``split``'s training images under ``recipe``.

    Parameters
    ----------
    model : nn.Module
        A model of ``split``'s classes (for example from :func:`build_model`).
    split : ImageSplit
        Only its training part is read.
    recipe : TrainingRecipe
        Optimizer, schedule, epochs and batch size.
    seed : int
        Seed of the batch order (a private generator; the global RNG is not used).
    precision : str
        One of :data:`PRECISIONS`: ``"fp32"``, or ``"bf16"`` mixed precision (float32 master
        weights, optimizer state and loss; bfloat16 forward and backward GEMMs under CPU
        autocast; no loss scaling, see the module docstring).

    Returns
    -------
    list of float
        Mean training cross-entropy of every epoch (mean over the epoch's images).
    """
    _check_seed(seed)
    region = _autocast(precision)
    images, labels = split.train_images, split.train_labels
    count = len(labels)
    steps = recipe.epochs * -(-count // recipe.batch_size)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        nesterov=True,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _cosine(step, steps))
    order = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(recipe.epochs):
        total = 0.0
        for batch in torch.randperm(count, generator=order).split(recipe.batch_size):
            with region:
                loss = functional.cross_entropy(model(images[batch]).float(), labels[batch])
                optimizer.zero_grad()
                loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        losses.append(total / count)
    return losses


def deploy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for inference: every sparse BDWP layer holds ``W * Mf``, in dense mode.

    Raises
    ------
    RuntimeError
        If a deployed weight is not N:M sparse along K (the forward GEMM's reduction).
    """
    deployed = copy.deepcopy(model).eval()
    for name, layer in deployed.named_modules():
        if not isinstance(layer, BDWPConv2d | BDWPLinear) or layer.config.mode == "dense":
            continue
        pattern = layer.config.pattern
        with torch.no_grad():
            layer.weight.mul_(forward_mask(layer.weight, pattern))
        if not is_nm_sparse(gemm_matrix(layer.weight.detach()), pattern):
            raise RuntimeError(f"deployed weight of layer {name!r} is not {pattern} sparse")
        layer.config = layer.config.replace(mode="dense")
    return deployed


def top1(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, precision: str = "fp32"
) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on ``images``, in percent.

    ``precision`` (one of :data:`PRECISIONS`) is that of the forward pass: ``"bf16"`` runs it
    under the CPU autocast that :func:`train` uses.
    """
    region = _autocast(precision)
    model.eval()
    with torch.no_grad(), region:
        predictions = model(images).argmax(dim=1)
    return 100 * (predictions == labels).sum().item() / len(labels)


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One trained model: its held-out accuracy and its training curve."""

    model: str
    method: str
    pattern: NMPattern | None
    precision: str
    seed: int
    top1: float
    epoch_losses: tuple[float, ...]
    held_out: int
    dense_layers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "model": self.model,
            "method": self.method,
            "pattern": None if self.pattern is None else str(self.pattern),
            "precision": self.precision,
            "seed": self.seed,
            "top1": self.top1,
            "epoch_losses": list(self.epoch_losses),
            "held_out": self.held_out,
        }


def train_and_evaluate(
    model: str,
    method: str,
    pattern: NMPattern | None,
    *,
    seed: int,
    split: ImageSplit,
    recipe: TrainingRecipe,
    precision: str = "fp32",
) -> RunResult:
    """Build, train, deploy and score one model (see the module docstring).

    Parameters
    ----------
    model, method, pattern, seed
        As for :func:`build_model` (``seed`` also orders the batches).
    split : ImageSplit
        Trains on its training part, scores on its held-out part.
    recipe : TrainingRecipe
        How to train.
    precision : str
        One of :data:`PRECISIONS`, for training (:func:`train`) and the deployed model's
        evaluation (:func:`top1`).
    """
    net, dense_layers = build_model(
        model,
        method,
        pattern,
        seed=seed,
        num_classes=split.num_classes,
        in_channels=split.image_shape[0],
    )
    losses = train(net, split, recipe, seed=seed, precision=precision)
    accuracy = top1(deploy(net), split.test_images, split.test_labels, precision=precision)
    return RunResult(
        model=model,
        method=method,
        pattern=pattern,
        precision=precision,
        seed=seed,
        top1=accuracy,
        epoch_losses=tuple(losses),
        held_out=len(split.test_labels),
        dense_layers=dense_layers,
    )


@dataclass(frozen=True, kw_only=True)
class AccuracyRow:
    """Held-out top-1 of one (model, method, pattern, precision) over the seeds."""

    model: str
    method: str
    pattern: NMPattern | None
    precision: str
    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean top-1 over the seeds, in percent."""
        return fmean(self.accuracies)

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1) over the seeds, in points; None for one seed."""
        return stdev(self.accuracies) if len(self.accuracies) > 1 else None


def _fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


@dataclass(frozen=True, kw_only=True)
class BDWPAccuracyResult:
    """The experiment's rows, settings and runs (see :func:`run_bdwp_accuracy`)."""

    dataset: str
    held_out: int
    recipe: TrainingRecipe
    seeds: tuple[int, ...]
    precisions: tuple[str, ...]
    threads: int
    wall_s: float
    dense_layers: dict[str, dict[str, str]]
    rows: tuple[AccuracyRow, ...]
    runs: tuple[RunResult, ...]

    def row(
        self, model: str, method: str, pattern: NMPattern | None, precision: str = "fp32"
    ) -> AccuracyRow:
        """The row of one (model, method, pattern, precision); ``pattern`` None for dense."""
        for row in self.rows:
            if (row.model, row.method, row.pattern, row.precision) == (
                model,
                method,
                pattern,
                precision,
            ):
                return row
        raise ValueError(
            f"no row for model {model!r}, method {method!r}, pattern {pattern}, precision "
            f"{precision!r}; the rows are "
            f"{[(r.model, r.method, str(r.pattern), r.precision) for r in self.rows]}"
        )

    def loss_vs_dense(self, row: AccuracyRow) -> float:
        """Dense mean top-1 minus ``row``'s, both in ``row``'s precision, in percentage points
        (positive: lost accuracy)."""
        return self.row(row.model, "dense", None, row.precision).mean - row.mean

    def average_loss(
        self, method: str = "bdwp", pattern: NMPattern = DEFAULT_PATTERN, precision: str = "fp32"
    ) -> float:
        """Mean over the models of :meth:`loss_vs_dense` for ``method`` at ``pattern`` in
        ``precision``."""
        models = dict.fromkeys(row.model for row in self.rows)
        return fmean(self.loss_vs_dense(self.row(m, method, pattern, precision)) for m in models)

    def _ran(self, method: str, pattern: NMPattern | None, precision: str) -> bool:
        return any(
            (row.method, row.pattern, row.precision) == (method, pattern, precision)
            for row in self.rows
        )

    @property
    def paper_comparison(self) -> dict[str, object] | None:
        """BDWP's average loss at 2:8 in fp32 beside the paper's, if 2:8 was run; with the
        average loss in the other precisions that trained BDWP at 2:8."""
        if not self._ran("bdwp", DEFAULT_PATTERN, "fp32"):
            return None
        return {
            "pattern": str(DEFAULT_PATTERN),
            "precision": "fp32",
            "measured_avg_loss_pp": self.average_loss(),
            "other_precisions_avg_loss_pp": {
                precision: self.average_loss(precision=precision)
                for precision in self.precisions
                if precision != "fp32" and self._ran("bdwp", DEFAULT_PATTERN, precision)
            },
            "paper_avg_loss_pp": PAPER_AVG_LOSS_2_8,
            "paper_source": "Fang et al., IEEE TCAD 2023, abstract: average over the "
            "paper's models and data sets",
        }

    def to_dict(self) -> dict[str, object]:
        """Everything, JSON-ready."""
        return {
            "dataset": self.dataset,
            "held_out": self.held_out,
            "recipe": {
                "optimizer": "SGD, Nesterov",
                "schedule": "per-step cosine to 0",
                **self.recipe.__dict__,
            },
            "seeds": list(self.seeds),
            "precisions": list(self.precisions),
            "threads": self.threads,
            "wall_s": self.wall_s,
            "dense_layers": self.dense_layers,
            "rows": [
                {
                    "model": r.model,
                    "method": r.method,
                    "pattern": None if r.pattern is None else str(r.pattern),
                    "precision": r.precision,
                    "top1": list(r.accuracies),
                    "mean": r.mean,
                    "std": r.std,
                    "loss_vs_dense_pp": self.loss_vs_dense(r),
                }
                for r in self.rows
            ],
            "paper_comparison": self.paper_comparison,
            "runs": [run.to_dict() for run in self.runs],
        }

    def _cells(self, row: AccuracyRow | None) -> list[str]:
        """Mean, std, loss vs dense and per-seed cells of ``row`` (``-`` if not run)."""
        if row is None:
            return ["-"] * 4
        loss = "baseline" if row.method == "dense" else _fmt(self.loss_vs_dense(row), sign=True)
        return [_fmt(row.mean), _fmt(row.std), loss, ", ".join(_fmt(a) for a in row.accuracies)]

    def to_markdown(self) -> str:
        """A Markdown table of the rows, the precisions side by side, and a line on the paper's
        2:8 figure."""
        recipe = self.recipe
        seeds = ", ".join(map(str, self.seeds))
        lines = [
            f"Held-out top-1 on {self.dataset}; mean and sample std over seeds {seeds}. "
            f"SGD (Nesterov, momentum {recipe.momentum}, weight decay {recipe.weight_decay}), "
            f"lr {recipe.lr} cosine to 0, batch {recipe.batch_size}, {recipe.epochs} epochs. "
            f"First and last layers dense; sparse accuracies are of the deployed N:M weights.",
        ]
        if "bf16" in self.precisions:
            lines.append(
                "bf16 columns: mixed precision (float32 master weights, optimizer state, masks "
                "and loss; bfloat16 forward and backward GEMMs under CPU autocast; no loss "
                "scaling), evaluated in bf16, loss vs the bf16 dense baseline; it trains dense "
                f"and BDWP at {DEFAULT_PATTERN} only ('-': not run)."
            )
        lines += [
            "",
            "| Model | Method | Pattern |"
            + "".join(
                f" {p} top-1 mean (%) | {p} std (pp) | {p} loss vs dense (pp) | {p} per seed (%) |"
                for p in self.precisions
            ),
            "| --- | --- | --- |" + " ---: | ---: | ---: | --- |" * len(self.precisions),
        ]
        rows = {(r.model, r.method, r.pattern, r.precision): r for r in self.rows}
        for model, method, pattern in dict.fromkeys(
            (r.model, r.method, r.pattern) for r in self.rows
        ):
            cells = [model, method, str(pattern or "-")]
            for precision in self.precisions:
                cells += self._cells(rows.get((model, method, pattern, precision)))
            lines.append(f"| {' | '.join(cells)} |")
        comparison = self.paper_comparison
        if comparison is not None:
            lines += [
                "",
                f"BDWP at {DEFAULT_PATTERN}, average loss vs dense over "
                f"{len(dict.fromkeys(r.model for r in self.rows))} model(s): "
                f"{_fmt(comparison['measured_avg_loss_pp'], sign=True)} pp "
                f"(paper: {PAPER_AVG_LOSS_2_8}% average over its models and data sets)."
                + "".join(
                    f" In {precision}: {_fmt(loss, sign=True)} pp."
                    for precision, loss in comparison["other_precisions_avg_loss_pp"].items()
                ),
            ]
        lines += ["", f"Wall time {self.wall_s:.1f} s on {self.threads} CPU thread(s)."]
        return "\n".join(lines)


def _check_choices(name: str, values: object, allowed: Sequence[object]) -> tuple:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty sequence, not {values!r}")
    for value in values:
        if value not in allowed:
            raise ValueError(f"{name} must hold values of {list(allowed)!r}, not {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value, not {values!r}")
    return tuple(values)


def run_bdwp_accuracy(
    quick: bool = False,
    *,
    seeds: Sequence[int] | None = None,
    models: Sequence[str] = tuple(MODELS),
    methods: Sequence[str] = SPARSE_METHODS,
    patterns: Sequence[NMPattern] = PATTERNS,
    recipe: TrainingRecipe | None = None,
    precisions: Sequence[str] = ("fp32",),
    threads: int = 1,
) -> BDWPAccuracyResult:
    """Train every (model, method, pattern, seed) and tabulate held-out top-1 against dense.

    Parameters
    ----------
    quick : bool
        :data:`QUICK_RECIPE` and :data:`QUICK_SEEDS` instead of :data:`RECIPE` and
        :data:`DEFAULT_SEEDS` (a smoke run; ``seeds`` and ``recipe`` still override).
    seeds : sequence of int, optional
        Seeds of the initial weights and batch order; every method uses each of them.
    models : sequence of str
        Keys of :data:`MODELS`.
    methods : sequence of str
        Sparse methods (``"srste"``, ``"bdwp"``); dense always runs, once per model and seed.
    patterns : sequence of NMPattern
        N:M patterns of the sparse methods.
    recipe : TrainingRecipe, optional
        How every run trains.
    precisions : sequence of str
        Values of :data:`PRECISIONS`, ``"fp32"`` among them. fp32 trains every case above;
        ``"bf16"`` (mixed precision, see the module docstring) trains the dense baseline and,
        if ``"bdwp"`` is in ``methods`` and 2:8 in ``patterns``, BDWP at 2:8 (SAT's method at
        its headline pattern). On this project's CPU (AVX-512 without bfloat16 instructions) a
        bf16 run takes 1.2 to 2.5 times as long as its fp32 run: these two cases made the quick
        preset 1.27 times as long, bf16 at every case would more than double it. The report
        passes :data:`PRECISIONS`.
    threads : int
        CPU threads of PyTorch during the runs (restored afterwards).

    Returns
    -------
    BDWPAccuracyResult
        Rows in the order dense, then each method at each pattern, model by model; each case
        in the order of ``precisions``.
    """
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be True or False, not {quick!r}")
    seeds = tuple(seeds) if seeds is not None else QUICK_SEEDS if quick else DEFAULT_SEEDS
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, not {seeds!r}")
    for seed in seeds:
        _check_seed(seed)
    models = _check_choices("models", models, tuple(MODELS))
    methods = _check_choices("methods", methods, SPARSE_METHODS)
    if (
        isinstance(patterns, str)
        or not isinstance(patterns, Sequence)
        or not patterns
        or not all(isinstance(p, NMPattern) for p in patterns)
        or len(set(patterns)) != len(patterns)
    ):
        raise ValueError(
            f"patterns must be a non-empty sequence of distinct NMPatterns, not {patterns!r}"
        )
    recipe = recipe if recipe is not None else QUICK_RECIPE if quick else RECIPE
    if not isinstance(recipe, TrainingRecipe):
        raise ValueError(f"recipe must be a TrainingRecipe, not {recipe!r}")
    precisions = _check_choices("precisions", precisions, PRECISIONS)
    if "fp32" not in precisions:
        raise ValueError(
            f"precisions must include 'fp32', the reference the others are shown beside, "
            f"not {precisions!r}"
        )
    if not is_int(threads) or threads < 1:
        raise ValueError(f"threads must be a positive integer, not {threads!r}")

    split = load_digits_split()
    cases = [
        (model, method, pattern, precision)
        for model in models
        for method, pattern in [("dense", None)]
        + [(method, pattern) for method in methods for pattern in patterns]
        for precision in precisions
        if precision == "fp32" or (method, pattern) in (("dense", None), ("bdwp", DEFAULT_PATTERN))
    ]
    start = time.perf_counter()
    with torch_threads(threads):
        runs = tuple(
            train_and_evaluate(
                model, method, pattern, seed=seed, split=split, recipe=recipe, precision=precision
            )
            for model, method, pattern, precision in cases
            for seed in seeds
        )
    wall_s = time.perf_counter() - start
    rows = tuple(
        AccuracyRow(
            model=model,
            method=method,
            pattern=pattern,
            precision=precision,
            accuracies=tuple(
                run.top1
                for run in runs
                if (run.model, run.method, run.pattern, run.precision)
                == (model, method, pattern, precision)
            ),
        )
        for model, method, pattern, precision in cases
    )
    dense_layers = {run.model: run.dense_layers for run in runs if run.method != "dense"}
    return BDWPAccuracyResult(
        dataset=split.name,
        held_out=len(split.test_labels),
        recipe=recipe,
        seeds=seeds,
        precisions=precisions,
        threads=threads,
        wall_s=wall_s,
        dense_layers=dense_layers,
        rows=rows,
        runs=runs,
    )
