"""Software baselines: timing of PyTorch workloads on this machine's CPU (or a GPU).

The method follows SpAtten's CPU/GPU baselines (spatten.md section 3): warm-up runs, many
timed repetitions, the top and bottom 15% dropped, the mean and spread of the rest. The
workloads use random weights and data (nothing is downloaded):

* :func:`cnn_training_step`: one SGD training iteration of a CNN of the zoo
  (:data:`sparsa.models.zoo.workloads.CNN_WORKLOADS`, ImageNet-size inputs for the published
  networks);
* :func:`attention_workload`: the attention (Q x K, softmax, prob x V; no projections, no FC
  layers, as SpAtten measures attention only) of all layers of BERT-Base/Large at a sentence
  length, or of GPT-2 Small/Medium generating :data:`GPT2_GENERATED` tokens after a
  :data:`GPT2_PROMPT`-token prompt with a KV cache.

Energy is either an estimate from a stated power figure (:func:`energy_estimate`) or a RAPL
measurement where the counters are readable (:func:`rapl_energy`); nothing is made up.
"""

import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sparsa.config.checks import is_int
from sparsa.config.presets import BERT_SEQ_LEN, GPT2_GENERATED, GPT2_PROMPT, SAT_BATCH
from sparsa.models.algorithms.transformer import TRANSFORMERS
from sparsa.models.zoo.workloads import CNN_WORKLOADS

__all__ = [
    "ATTENTION_MODELS",
    "BERT_SEQ_LEN",
    "DEFAULT_TRIM",
    "GPT2_GENERATED",
    "GPT2_PROMPT",
    "RAPL_ROOT",
    "AttentionShape",
    "EnergyEstimate",
    "RaplMeter",
    "Timing",
    "attention_flops",
    "attention_workload",
    "cnn_training_step",
    "energy_estimate",
    "environment",
    "rapl_energy",
    "time_callable",
]

DEFAULT_TRIM = 0.15
"""Fraction of the samples dropped at each end (SpAtten drops the top and bottom 15%)."""
RAPL_ROOT = Path("/sys/class/powercap")
"""Where Linux exposes the RAPL energy counters."""


@dataclass(frozen=True)
class AttentionShape:
    """Attention dimensions of a Transformer: layers, heads per layer, head dimension D."""

    layers: int
    heads: int
    head_dim: int
    generative: bool


ATTENTION_MODELS: dict[str, AttentionShape] = {
    name: AttentionShape(c.layers, c.heads, c.head_dim, generative=c.causal)
    for name, c in TRANSFORMERS.items()
}
"""The four SpAtten attention benchmarks' models' attention shapes (from
:data:`sparsa.models.algorithms.transformer.TRANSFORMERS`)."""


# --------------------------------------------------------------------------------------------
# Timing


@dataclass(frozen=True)
class Timing:
    """Trimmed statistics of repeated timings, in seconds.

    Attributes
    ----------
    mean, std : float
        Mean and sample standard deviation (``ddof=1``; 0 with one kept sample) of the kept
        samples.
    min, max : float
        Extremes of the kept samples.
    kept : int
        Samples left after trimming.
    trim : float
        Fraction dropped at each end.
    samples : tuple of float
        All raw samples in the order they were taken (before trimming).
    """

    mean: float
    std: float
    min: float
    max: float
    kept: int
    trim: float
    samples: tuple[float, ...]


def _check_trim(trim: float) -> None:
    if isinstance(trim, bool) or not isinstance(trim, int | float) or not 0 <= trim < 0.5:
        raise ValueError(f"trim must be a number with 0 <= trim < 0.5, not {trim!r}")


def _trimmed(samples: Sequence[float], trim: float) -> Timing:
    """Drop ``floor(n * trim)`` samples at each end of the sorted ``samples``; summarise."""
    _check_trim(trim)
    n = len(samples)
    drop = math.floor(n * trim)
    if n - 2 * drop < 1:
        raise ValueError(f"{n} samples leave none after trimming {trim!r} at each end; "
                         f"at least one must remain")
    kept = sorted(samples)[drop:n - drop]
    mean = math.fsum(kept) / len(kept)
    var = (math.fsum((s - mean) ** 2 for s in kept) / (len(kept) - 1)) if len(kept) > 1 else 0.0
    return Timing(mean=mean, std=math.sqrt(var), min=kept[0], max=kept[-1], kept=len(kept),
                  trim=float(trim), samples=tuple(float(s) for s in samples))


def _device(device: str | torch.device) -> torch.device:
    """The device to time on: the CPU or a CUDA device (others, such as ``meta``, which
    computes nothing, would give no true time)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda:0', "
                         f"not {device!r}") from err
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be the CPU or a CUDA device ('cpu', 'cuda', 'cuda:N'), "
                         f"not {device!r}")
    return dev


def time_callable(fn: Callable[[], object], *, warmup: int, repeats: int,
                  trim: float = DEFAULT_TRIM, device: str | torch.device = "cpu") -> Timing:
    """Time ``fn()`` after ``warmup`` untimed calls, ``repeats`` times, and trim the samples.

    Each sample is one call measured with :func:`time.perf_counter`. On a CUDA ``device`` the
    device is synchronised before the clock starts and before it stops, so queued kernels count.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is ignored.
    warmup : int
        Untimed calls first (>= 0).
    repeats : int
        Timed calls (>= 1; ``repeats - 2 * floor(repeats * trim)`` of them are kept).
    trim : float
        Fraction dropped at each end of the sorted samples, ``0 <= trim < 0.5``.
    device : str or torch.device
        Where ``fn`` runs (only a CUDA device changes anything).

    Returns
    -------
    Timing

    Raises
    ------
    ValueError
        For a non-callable ``fn``, or ``warmup``, ``repeats``, ``trim`` or ``device`` out of
        range.
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, not {fn!r}")
    if not is_int(warmup) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, not {warmup!r}")
    if not is_int(repeats) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, not {repeats!r}")
    _check_trim(trim)
    dev = _device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda _=None: None)
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        sync(dev)
        start = time.perf_counter()
        fn()
        sync(dev)
        samples.append(time.perf_counter() - start)
    return _trimmed(samples, trim)


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or None


def environment(device: str | torch.device = "cpu") -> dict[str, object]:
    """Describe the machine and software a baseline ran on.

    Returns
    -------
    dict
        ``torch`` (version), ``threads`` (:func:`torch.get_num_threads`), ``cpu`` (model name
        from ``/proc/cpuinfo``, None if unknown), ``logical_cpus``, ``python`` (version),
        ``device`` (the device string), ``device_name`` (the GPU's name on CUDA, else the
        CPU model) and ``load_average`` (the 1-minute load average when this is called, None
        where the OS has none: other work on the machine slows the baseline down).
    """
    dev = _device(device)
    cpu = _cpu_model()
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu,
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


# --------------------------------------------------------------------------------------------
# Workloads


def _check_positive(name: str, value: object) -> None:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def cnn_training_step(model_name: str, batch: int = SAT_BATCH,
                      device: str | torch.device = "cpu", *, lr: float = 0.01,
                      seed: int = 0) -> Callable[[], float]:
    """Build one SGD training iteration of a zoo CNN on a fixed random batch.

    The model (random weights, train mode), one batch of random inputs of the workload's input
    shape (3x224x224 for the ImageNet networks) and random labels are created once; each call
    runs forward, cross-entropy loss, backward and an SGD step (momentum 0.9) on that batch.

    Parameters
    ----------
    model_name : str
        A key of :data:`sparsa.models.zoo.workloads.CNN_WORKLOADS` (``resnet18``, ``resnet50``,
        ``vgg16``, ``small-cnn``).
    batch : int
        Batch size.
    device : str or torch.device
        Where the model and data live.
    lr : float
        SGD learning rate.
    seed : int
        Seed of the weights and the data.

    Returns
    -------
    callable
        ``step() -> float``: runs one iteration, returns the loss before the update.

    Raises
    ------
    ValueError
        For an unknown model, a batch that is not a positive integer, or a bad device.
    """
    if model_name not in CNN_WORKLOADS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {sorted(CNN_WORKLOADS)}")
    _check_positive("batch", batch)
    dev = _device(device)
    build, shape = CNN_WORKLOADS[model_name]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build().to(dev).train()
    classes = [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features
    x = torch.randn((batch, *shape), generator=gen).to(dev)
    y = torch.randint(classes, (batch,), generator=gen).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _attention_args(kind: str, seq_len: int | None, prompt: int,
                    generated: int) -> tuple[AttentionShape, int]:
    if kind not in ATTENTION_MODELS:
        raise ValueError(f"unknown attention model {kind!r}; choose one of "
                         f"{sorted(ATTENTION_MODELS)}")
    shape = ATTENTION_MODELS[kind]
    if shape.generative:
        if seq_len is not None:
            raise ValueError(f"seq_len applies to BERT only; {kind!r} takes prompt and "
                             f"generated, not seq_len={seq_len!r}")
        _check_positive("prompt", prompt)
        _check_positive("generated", generated)
        return shape, prompt
    length = BERT_SEQ_LEN if seq_len is None else seq_len
    _check_positive("seq_len", length)
    limit = TRANSFORMERS[kind].max_positions
    if length > limit:
        raise ValueError(f"seq_len must be at most {limit} for {kind} (its position "
                         f"embeddings), not {length}")
    return shape, length


def attention_flops(kind: str, *, seq_len: int | None = None, prompt: int = GPT2_PROMPT,
                    generated: int = GPT2_GENERATED) -> int:
    """Floating-point operations of the two attention matrix products of a workload.

    A multiply-accumulate counts as 2 FLOPs; softmax and scaling are not counted. Per layer
    and head, BERT at length L does ``2 * L * L * D`` MACs (Q x K^T and prob x V); GPT-2 at
    generation step ``t`` (0-based) has one query against ``n = prompt + t + 1`` cached keys
    and values, ``2 * n * D`` MACs.

    Parameters
    ----------
    kind : str
        A key of :data:`ATTENTION_MODELS`.
    seq_len : int, optional
        BERT sentence length (default :data:`BERT_SEQ_LEN`); not allowed for GPT-2.
    prompt, generated : int
        GPT-2 prompt length and generated tokens (ignored for BERT).

    Raises
    ------
    ValueError
        For an unknown kind or a length that is not a positive integer.
    """
    shape, length = _attention_args(kind, seq_len, prompt, generated)
    # Keys each query sees, summed over queries: L * L, or the growing cache of each step.
    keys = sum(range(length + 1, length + generated + 1)) if shape.generative else length**2
    return 4 * shape.layers * shape.heads * shape.head_dim * keys


def attention_workload(kind: str, *, seq_len: int | None = None, prompt: int = GPT2_PROMPT,
                       generated: int = GPT2_GENERATED, device: str | torch.device = "cpu",
                       dtype: torch.dtype = torch.float32,
                       seed: int = 0) -> Callable[[], torch.Tensor]:
    """Build the attention of all layers of a SpAtten benchmark model on random Q, K, V.

    * BERT (``bert-base``: 12 layers x 12 heads, ``bert-large``: 24 x 16, D = 64): per layer,
      ``softmax(Q K^T / sqrt(D)) V`` over all heads at once for ``seq_len`` tokens.
    * GPT-2 (``gpt2-small``: 12 x 12, ``gpt2-medium``: 24 x 16, D = 64): a KV cache holds
      ``prompt`` tokens; for each of ``generated`` steps and each layer, the new token's K and V
      are written into the cache and its one query per head attends over the
      ``prompt + t + 1`` cached tokens.

    Only attention is computed (no QKV or output projections, no FC layers), as SpAtten
    measures; :func:`attention_flops` gives the matching FLOP count.

    Parameters
    ----------
    kind : str
        A key of :data:`ATTENTION_MODELS`.
    seq_len : int, optional
        BERT sentence length, default :data:`BERT_SEQ_LEN` (see there for its source).
    prompt, generated : int
        GPT-2 prompt tokens and generated tokens (defaults 992 and 32, spatten.md 3).
    device, dtype
        Where and in which precision the tensors live.
    seed : int
        Seed of the random tensors.

    Returns
    -------
    callable
        ``run() -> Tensor``: computes the workload once and returns the last attention output.

    Raises
    ------
    ValueError
        For an unknown kind, a bad length, or a bad device.
    """
    shape, length = _attention_args(kind, seq_len, prompt, generated)
    dev = _device(device)
    gen = torch.Generator().manual_seed(seed)
    heads, d = shape.heads, shape.head_dim
    scale = 1.0 / math.sqrt(d)

    def rand(*size: int) -> torch.Tensor:
        return torch.randn(size, generator=gen, dtype=dtype).to(dev)

    if not shape.generative:
        qkv = [rand(3, heads, length, d) for _ in range(shape.layers)]

        def run_bert() -> torch.Tensor:
            out = torch.empty(0)
            for q, k, v in qkv:
                probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1)
                out = torch.matmul(probs, v)
            return out

        return run_bert

    total = length + generated
    caches = [rand(2, heads, total, d) for _ in range(shape.layers)]
    new = [rand(3, generated, heads, 1, d) for _ in range(shape.layers)]

    def run_gpt2() -> torch.Tensor:
        out = torch.empty(0)
        for t in range(generated):
            n = length + t + 1
            for cache, (q, k, v) in zip(caches, new, strict=True):
                cache[0, :, n - 1:n] = k[t]
                cache[1, :, n - 1:n] = v[t]
                scores = torch.matmul(q[t], cache[0, :, :n].transpose(-1, -2)) * scale
                out = torch.matmul(torch.softmax(scores, dim=-1), cache[1, :, :n])
        return out

    return run_gpt2


# --------------------------------------------------------------------------------------------
# Energy


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy estimated as a stated power times a measured time (not a measurement).

    Attributes
    ----------
    joules, seconds, power_w : float
        Energy, time and the power figure used.
    source : str
        Where the power figure comes from (a datasheet TDP, a meter reading, ...).
    measured : bool
        Always False: this is an estimate.
    """

    joules: float
    seconds: float
    power_w: float
    source: str
    measured: bool = False


def energy_estimate(seconds: float, *, power_w: float, source: str) -> EnergyEstimate:
    """Estimate the energy of ``seconds`` at a stated average power ``power_w``.

    Raises
    ------
    ValueError
        For a negative or non-finite time, a power that is not positive and finite, or an empty
        ``source``.
    """
    for name, value, low in (("seconds", seconds, "non-negative"),
                             ("power_w", power_w, "positive")):
        bad = isinstance(value, bool) or not isinstance(value, int | float)
        if bad or not math.isfinite(value) or value < 0 or (low == "positive" and value == 0):
            raise ValueError(f"{name} must be a {low} finite number, not {value!r}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be a non-empty string naming the power figure's origin, "
                         f"not {source!r}")
    return EnergyEstimate(joules=float(seconds) * float(power_w), seconds=float(seconds),
                          power_w=float(power_w), source=source)


class RaplMeter:
    """Result of :func:`rapl_energy`: ``joules`` is None until the block ends, and stays None
    when the counters cannot be read."""

    def __init__(self) -> None:
        self.joules: float | None = None
        self.zones: tuple[str, ...] = ()


def _rapl_zones(root: Path) -> list[Path]:
    # Top-level packages only (intel-rapl:N); sub-zones (intel-rapl:N:M) are part of them.
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


def _read_uj(zones: Sequence[Path]) -> list[int] | None:
    try:
        return [int((z / "energy_uj").read_text()) for z in zones]
    except (OSError, ValueError):
        return None


def _wrap(zone: Path) -> int | None:
    try:
        return int((zone / "max_energy_range_uj").read_text())
    except (OSError, ValueError):
        return None


@contextmanager
def rapl_energy(root: Path = RAPL_ROOT) -> Iterator[RaplMeter]:
    """Measure the energy of the ``with`` block from the RAPL package counters.

    The ``energy_uj`` counter of every top-level ``intel-rapl:N`` zone under ``root`` is read
    before and after the block; the difference (with one counter wrap-around allowed, from
    ``max_energy_range_uj``) summed over the packages is the meter's ``joules``. When no zone
    exists or a counter cannot be read (no RAPL, no permission), ``joules`` stays None.

    Yields
    ------
    RaplMeter
    """
    meter = RaplMeter()
    zones = _rapl_zones(root) if root.is_dir() else []
    before = _read_uj(zones) if zones else None
    yield meter
    after = _read_uj(zones) if before is not None else None
    if before is None or after is None:
        return
    total = 0
    for zone, b, a in zip(zones, before, after, strict=True):
        if a < b:
            span = _wrap(zone)
            if span is None:
                return
            a += span
        total += a - b
    meter.zones = tuple(z.name for z in zones)
    meter.joules = total / 1e6
