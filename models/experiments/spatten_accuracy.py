"""SpAtten's accuracy experiment: a small Transformer classifier trained on a generated task,
evaluated on held-out inputs with token, head and local value pruning and progressive
quantization switched in (:mod:`sparsa.models.algorithms.spatten_pruning`).

**Task** (:class:`MajorityTask`). A sequence is a ``[CLS]`` token and ``seq_len - 1`` tokens:
noise tokens everywhere except ``signals`` positions holding class tokens; the label is the
class with the most signal tokens (inputs whose top two classes tie are not generated). Only a
few tokens decide the label, and the classifier reads the ``[CLS]`` token's output, so it must
gather them by attention. Inputs come from a seeded generator: nothing is downloaded, and the
held-out inputs come from a different stream than the training ones (and none repeats a
training input).

**Model.** A pre-norm encoder (:class:`~sparsa.models.algorithms.transformer.Transformer`, head
dimension 32), trained on CPU with AdamW and a one-cycle schedule, then a linear layer on the
``[CLS]`` output.

**Sweep** (:func:`run_accuracy_experiment`). From the unpruned model, one knob at a time: token
keep ratio, head keep ratio, local V keep ratio, and progressive quantization of K and V
(``msb_bits`` x ``threshold``), then all combined. Each point reports the held-out accuracy, the
fraction of per-query decisions that refetched the LSBs (the paper: 5.9% of inputs,
spatten.md 1.4), and the keys and values fetched relative to dense attention. The combined
point's evaluation is exported as a trace (one iteration per held-out input) and simulated on
the SpAtten ASIC target (:func:`sparsa.sim.network.spatten.simulate`). A keep ratio of 1 without
quantization runs the same arithmetic as plain attention, so it reproduces the unpruned accuracy
exactly.
"""

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional

from sparsa.config.attention import DIMS
from sparsa.config.checks import is_int
from sparsa.config.presets import SPATTEN_TARGET
from sparsa.models.algorithms.spatten_pruning import SpattenAttention, SpattenPolicy
from sparsa.models.algorithms.spatten_trace import SpattenTrace
from sparsa.models.algorithms.transformer import (
    INIT_STD,
    AttentionFn,
    Transformer,
    TransformerConfig,
)
from sparsa.models.experiments.threads import torch_threads
from sparsa.sim.network.spatten import SpattenResult, simulate
from sparsa.sim.network.target import load_target

__all__ = [
    "SIM_TARGET",
    "AccuracyResult",
    "Classifier",
    "ExperimentSetup",
    "MajorityTask",
    "SweepPoint",
    "evaluate",
    "run_accuracy_experiment",
    "split_data",
    "train_classifier",
]

SIM_TARGET = SPATTEN_TARGET
"""Target the exported trace is simulated on."""

WARMUP = 0.1
"""Fraction of the training steps over which the learning rate rises to its peak."""


def _positive(name: str, value: object) -> None:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class MajorityTask:
    """The generated classification task (see the module docstring).

    Parameters
    ----------
    seq_len : int
        Tokens per input, ``[CLS]`` included (at least ``signals + 1``).
    noise_tokens : int
        Distinct noise tokens.
    classes : int
        Classes (at least 2), one token each.
    signals : int
        Class tokens per input (at least 2).
    """

    seq_len: int = 64
    noise_tokens: int = 24
    classes: int = 4
    signals: int = 7

    def __post_init__(self) -> None:
        for name in ("seq_len", "noise_tokens", "classes", "signals"):
            _positive(name, getattr(self, name))
        if self.classes < 2 or self.signals < 2:
            raise ValueError(
                f"classes = {self.classes} and signals = {self.signals}: both must be at least 2"
            )
        if self.signals > self.seq_len - 1:
            raise ValueError(
                f"signals = {self.signals} do not fit beside [CLS] in seq_len = "
                f"{self.seq_len}; allowed: up to {self.seq_len - 1}"
            )

    @property
    def vocab(self) -> int:
        """``[CLS]`` (0), the noise tokens, then one token per class."""
        return 1 + self.noise_tokens + self.classes

    def generate(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` inputs (int64, (n, seq_len)) and their labels, drawn from ``generator``."""
        _positive("n", n)
        ids, labels = [], []
        found = 0
        while found < n:
            m = 2 * n
            x = torch.randint(1, self.noise_tokens + 1, (m, self.seq_len), generator=generator)
            x[:, 0] = 0
            cls = torch.randint(0, self.classes, (m, self.signals), generator=generator)
            counts = functional.one_hot(cls, self.classes).sum(dim=1)
            top2 = counts.topk(2, dim=1).values
            where = torch.rand(m, self.seq_len - 1, generator=generator).argsort(dim=1)
            x.scatter_(1, where[:, : self.signals] + 1, 1 + self.noise_tokens + cls)
            unique = top2[:, 0] > top2[:, 1]
            ids.append(x[unique])
            labels.append(counts.argmax(dim=1)[unique])
            found += int(unique.sum())
        return torch.cat(ids)[:n], torch.cat(labels)[:n]


class Classifier(nn.Module):
    """Encoder plus a linear layer on the first (``[CLS]``) token's output.

    Parameters
    ----------
    config : TransformerConfig
        An encoder (``causal=False``).
    classes : int
    seed : int
        Seeds every weight.
    """

    def __init__(self, config: TransformerConfig, classes: int, *, seed: int) -> None:
        super().__init__()
        if config.causal:
            raise ValueError("the classifier needs an encoder (causal=False)")
        self.encoder = Transformer(config, seed=seed)
        self.head = nn.Linear(config.d_model, classes)
        with torch.no_grad():
            self.head.weight.normal_(
                0.0, INIT_STD, generator=torch.Generator().manual_seed(seed + 1)
            )
            self.head.bias.zero_()

    def forward(self, ids: torch.Tensor, attention: AttentionFn | None = None) -> torch.Tensor:
        """Logits, (B, classes)."""
        return self.head(self.encoder(ids, attention=attention)[:, 0])


@dataclass(frozen=True, kw_only=True)
class ExperimentSetup:
    """Everything the experiment does, by value (:meth:`preset` gives the standard ones).

    Parameters
    ----------
    task : MajorityTask
    layers, heads, d_model, d_ffn : int
        The encoder (head dimension d_model / heads, 32 or 64 for the trace's simulator).
    train_size, test_size, epochs, batch : int
        Training inputs, held-out inputs, passes over the training set, batch size.
    lr : float
        Peak learning rate of AdamW (one cycle: :data:`WARMUP` of the steps up, then cosine
        decay).
    token_keeps, head_keeps, v_keeps : tuple of float
        The points of the three pruning sweeps (one ratio for every pruned layer).
    msb_bits, thresholds : tuple
        The quantization sweep's grid (K and V quantized).
    combined : SpattenPolicy
        The point with everything on, whose trace is exported and simulated.
    seed : int
    """

    task: MajorityTask = field(default_factory=MajorityTask)
    layers: int = 3
    heads: int = 4
    d_model: int = 128
    d_ffn: int = 256
    train_size: int = 2000
    test_size: int = 500
    epochs: int = 2
    batch: int = 16
    lr: float = 5e-4
    token_keeps: tuple[float, ...] = (1.0, 0.5, 0.3, 0.2, 0.15, 0.1, 0.05)
    head_keeps: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)
    v_keeps: tuple[float, ...] = (1.0, 0.5, 0.2, 0.1, 0.05)
    msb_bits: tuple[int, ...] = (4, 6, 8)
    thresholds: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1)
    combined: SpattenPolicy = field(
        default_factory=lambda: SpattenPolicy(
            token_keep=0.3, head_keep=0.75, v_keep=0.5, msb_bits=6, threshold=0.1, quantize_v=True
        )
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.task, MajorityTask):
            raise ValueError(f"task must be a MajorityTask, not {self.task!r}")
        for name in (
            "layers",
            "heads",
            "d_model",
            "d_ffn",
            "train_size",
            "test_size",
            "epochs",
            "batch",
        ):
            _positive(name, getattr(self, name))
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {self.seed!r}")
        if not (isinstance(self.lr, float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive float, not {self.lr!r}")
        if self.d_model % self.heads or self.d_model // self.heads not in DIMS:
            raise ValueError(
                f"d_model = {self.d_model} over heads = {self.heads} must give a head dimension "
                f"in {DIMS} (the attention core's)"
            )
        if not isinstance(self.combined, SpattenPolicy):
            raise ValueError(f"combined must be a SpattenPolicy, not {self.combined!r}")
        self.policies()  # builds (and so validates) every point's policy

    @classmethod
    def preset(cls, *, quick: bool, seed: int = 0) -> "ExperimentSetup":
        """The full experiment, or (``quick``) a smaller one with a coarser sweep."""
        if quick:
            return cls(
                train_size=600,
                test_size=200,
                token_keeps=(1.0, 0.3, 0.1),
                head_keeps=(1.0, 0.5),
                v_keeps=(1.0, 0.2),
                msb_bits=(4, 8),
                thresholds=(0.0, 0.1),
                seed=seed,
            )
        return cls(seed=seed)

    def model_config(self) -> TransformerConfig:
        """The encoder's configuration."""
        return TransformerConfig(
            layers=self.layers,
            heads=self.heads,
            d_model=self.d_model,
            d_ffn=self.d_ffn,
            vocab=self.task.vocab,
            max_positions=self.task.seq_len,
            causal=False,
            pre_norm=True,
        )

    def policies(self) -> list[tuple[str, SpattenPolicy]]:
        """The sweep's points, each named by the knob it turns."""
        points = [("token", SpattenPolicy(token_keep=r)) for r in self.token_keeps]
        points += [("head", SpattenPolicy(head_keep=r)) for r in self.head_keeps]
        points += [("value", SpattenPolicy(v_keep=r)) for r in self.v_keeps]
        points += [
            ("quantization", SpattenPolicy(msb_bits=b, threshold=t, quantize_v=True))
            for b in self.msb_bits
            for t in self.thresholds
        ]
        return [*points, ("combined", self.combined)]


def split_data(
    setup: ExperimentSetup,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training inputs and labels, then held-out ones: separate seeded streams, and any
    held-out input that repeats a training input dropped (so there may be fewer than
    ``test_size``, never more)."""
    train_ids, train_labels = setup.task.generate(
        setup.train_size, torch.Generator().manual_seed(2 * setup.seed)
    )
    test_ids, test_labels = setup.task.generate(
        setup.test_size, torch.Generator().manual_seed(2 * setup.seed + 1)
    )
    seen = {tuple(row) for row in train_ids.tolist()}
    fresh = torch.tensor([tuple(row) not in seen for row in test_ids.tolist()])
    if not fresh.any():
        raise ValueError("every held-out input repeats a training input; make the task larger")
    return train_ids, train_labels, test_ids[fresh], test_labels[fresh]


def train_classifier(
    setup: ExperimentSetup, ids: torch.Tensor, labels: torch.Tensor
) -> tuple[Classifier, tuple[float, ...]]:
    """Train a :class:`Classifier` on ``ids``/``labels``; return it (in eval mode) and the mean
    training loss of every epoch."""
    model = Classifier(setup.model_config(), setup.task.classes, seed=setup.seed)
    generator = torch.Generator().manual_seed(setup.seed + 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=setup.lr)
    steps = setup.epochs * math.ceil(len(ids) / setup.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=setup.lr, total_steps=steps, pct_start=WARMUP
    )
    losses = []
    model.train()
    for _ in range(setup.epochs):
        order = torch.randperm(len(ids), generator=generator)
        total = 0.0
        for start in range(0, len(ids), setup.batch):
            batch = order[start : start + setup.batch]
            loss = functional.cross_entropy(model(ids[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        losses.append(total / len(ids))
    return model.eval(), tuple(losses)


def evaluate(
    model: Classifier, ids: torch.Tensor, labels: torch.Tensor, policy: SpattenPolicy | None
) -> tuple[float, SpattenAttention | None]:
    """Accuracy on (``ids``, ``labels``), with SpAtten's ``policy`` or (None) plain attention,
    and the :class:`SpattenAttention` that ran (its records and refetch counts)."""
    config = model.encoder.config
    attention = (
        None
        if policy is None
        else SpattenAttention(policy, layers=config.layers, heads=config.heads, readout="first")
    )
    with torch.inference_mode():
        predicted = model(ids, attention=attention).argmax(dim=1)
    return float((predicted == labels).double().mean()), attention


@dataclass(frozen=True)
class SweepPoint:
    """One evaluated point.

    Attributes
    ----------
    sweep : str
        The knob turned: ``token``, ``head``, ``value``, ``quantization`` or ``combined``.
    policy : SpattenPolicy
    accuracy : float
        On the held-out inputs.
    refetch_fraction : float or None
        Per-query LSB refetch decisions that refetched (None without requant).
    key_fraction, value_fraction : float
        Keys and V rows fetched over all heads and layers, relative to dense attention (every
        head of every layer fetching all L keys and values).
    """

    sweep: str
    policy: SpattenPolicy
    accuracy: float
    refetch_fraction: float | None
    key_fraction: float
    value_fraction: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        p = self.policy
        return {
            "sweep": self.sweep,
            "token_keep": list(p.token_keep),
            "head_keep": list(p.head_keep),
            "v_keep": p.v_keep,
            "msb_bits": p.msb_bits,
            "threshold": p.threshold,
            "quantize_v": p.quantize_v,
            "accuracy": self.accuracy,
            "refetch_fraction": self.refetch_fraction,
            "key_fraction": self.key_fraction,
            "value_fraction": self.value_fraction,
        }


def _fractions(trace: SpattenTrace) -> tuple[float, float]:
    _, seq_len = trace.iteration_seq_len()
    dense = float(seq_len.sum()) * trace.layers * trace.heads
    return float(trace.key_fetch.sum()) / dense, float(trace.value_fetch.sum()) / dense


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


@dataclass(frozen=True)
class AccuracyResult:
    """Outcome of :func:`run_accuracy_experiment`.

    Attributes
    ----------
    setup : ExperimentSetup
    model : Classifier
        The trained classifier.
    losses : tuple of float
        Mean training loss of every epoch.
    test_size : int
        Held-out inputs evaluated.
    baseline_accuracy : float
        Held-out accuracy with plain attention.
    points : tuple of SweepPoint
    trace : SpattenTrace
        The combined point's evaluation, one iteration per held-out input.
    simulation : SpattenResult
        ``trace`` simulated on :data:`SIM_TARGET`.
    seconds : float
        Wall time of the whole experiment.
    threads : int
        PyTorch CPU threads it ran on.
    """

    setup: ExperimentSetup
    model: Classifier
    losses: tuple[float, ...]
    test_size: int
    baseline_accuracy: float
    points: tuple[SweepPoint, ...]
    trace: SpattenTrace
    simulation: SpattenResult
    seconds: float
    threads: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        s = self.setup
        sim = self.simulation
        return {
            "task": {
                "seq_len": s.task.seq_len,
                "noise_tokens": s.task.noise_tokens,
                "classes": s.task.classes,
                "signals": s.task.signals,
            },
            "model": {
                "layers": s.layers,
                "heads": s.heads,
                "d_model": s.d_model,
                "d_ffn": s.d_ffn,
                "head_dim": s.d_model // s.heads,
            },
            "training": {
                "train_size": s.train_size,
                "epochs": s.epochs,
                "batch": s.batch,
                "lr": s.lr,
                "seed": s.seed,
                "losses": list(self.losses),
            },
            "test_size": self.test_size,
            "baseline_accuracy": self.baseline_accuracy,
            "points": [p.to_dict() for p in self.points],
            "trace": {"rows": len(self.trace), "config": self.trace.config},
            "simulation": {
                "target": sim.target,
                "dram_bytes": sim.dram_bytes,
                "fp32_bytes": sim.fp32_bytes,
                "reduction_vs_fp32": sim.reduction,
                "chain": {f.technique: f.factor for f in sim.chain},
                "cycles": sim.cycles,
                "gops": sim.gops,
            },
            "seconds": self.seconds,
            "threads": self.threads,
        }

    def to_markdown(self) -> str:
        """The sweep as a Markdown table, with the training and the simulated trace."""
        s = self.setup
        sim = self.simulation
        lines = [
            f"Classifier: {s.layers} layers x {s.heads} heads (D = {s.d_model // s.heads}), "
            f"trained on {s.train_size} generated inputs of {s.task.seq_len} tokens "
            f"({s.task.signals} class tokens of {s.task.classes} classes decide the label) for "
            f"{s.epochs} epochs (loss {' -> '.join(f'{x:.3f}' for x in self.losses)}); "
            f"accuracies on {self.test_size} held-out inputs, unpruned "
            f"{_percent(self.baseline_accuracy)}.",
            "",
        ]
        rows = []
        for p in self.points:
            pol = p.policy
            quant = (
                "-"
                if pol.msb_bits is None
                else f"{pol.msb_bits}+4, thr {pol.threshold:g}"
                + (", K+V" if pol.quantize_v else ", K")
            )
            rows.append(
                (
                    p.sweep,
                    f"{pol.token_keep[0]:g}",
                    f"{pol.head_keep[0]:g}",
                    f"{pol.v_keep:g}",
                    quant,
                    _percent(p.accuracy),
                    f"{100 * (p.accuracy - self.baseline_accuracy):+.1f}",
                    _percent(p.refetch_fraction),
                    _percent(p.key_fraction),
                    _percent(p.value_fraction),
                )
            )
        lines += _table(
            (
                "sweep",
                "token keep",
                "head keep",
                "V keep",
                "quantization",
                "accuracy",
                "change (points)",
                "LSB refetch",
                "keys fetched",
                "values fetched",
            ),
            rows,
        )
        chain = ", ".join(f"{f.technique} {f.factor:.2f}x" for f in sim.chain)
        lines.append(
            f"The combined point's trace ({len(self.trace)} rows, one iteration per "
            f"held-out input) on {sim.target}: {sim.dram_bytes:,} DRAM bytes, "
            f"{sim.reduction:.2f}x less than dense FP32 ({chain}); {sim.cycles:,} "
            f"cycles, {sim.gops:.1f} GOP/s."
        )
        lines += ["", f"Wall time {self.seconds:.1f} s on {self.threads} CPU thread(s)."]
        return "\n".join(lines) + "\n"


def run_accuracy_experiment(
    *,
    quick: bool = False,
    seed: int = 0,
    setup: ExperimentSetup | None = None,
    threads: int = 1,
) -> AccuracyResult:
    """Train the classifier, run the sweep on held-out inputs, export and simulate a trace.

    Parameters
    ----------
    quick : bool
        Use :meth:`ExperimentSetup.preset` ``(quick=True)`` (ignored when ``setup`` is given).
    seed : int
        Seed of the preset (ignored when ``setup`` is given).
    setup : ExperimentSetup, optional
        Run this instead of a preset.
    threads : int
        PyTorch CPU threads (:func:`~sparsa.models.experiments.threads.torch_threads`; results are
        bit-reproducible at a fixed count).

    Returns
    -------
    AccuracyResult
    """
    start = time.perf_counter()
    if setup is None:
        setup = ExperimentSetup.preset(quick=quick, seed=seed)
    elif not isinstance(setup, ExperimentSetup):
        raise ValueError(f"setup must be an ExperimentSetup or None, not {setup!r}")
    with torch_threads(threads):
        train_ids, train_labels, test_ids, test_labels = split_data(setup)
        model, losses = train_classifier(setup, train_ids, train_labels)
        baseline, _ = evaluate(model, test_ids, test_labels, None)
        points = []
        trace = None
        for sweep, policy in setup.policies():
            accuracy, attention = evaluate(model, test_ids, test_labels, policy)
            this = attention.to_trace(
                model="spatten-accuracy-classifier",
                config=f"sparsa accuracy {sweep} {policy.describe()}",
            )
            points.append(
                SweepPoint(sweep, policy, accuracy, attention.refetch_fraction, *_fractions(this))
            )
            if sweep == "combined":
                trace = this
        simulation = simulate(trace, load_target(SIM_TARGET))
    return AccuracyResult(
        setup=setup,
        model=model,
        losses=losses,
        test_size=len(test_ids),
        baseline_accuracy=baseline,
        points=tuple(points),
        trace=trace,
        simulation=simulation,
        seconds=time.perf_counter() - start,
        threads=threads,
    )
