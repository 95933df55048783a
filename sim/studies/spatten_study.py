"""SpAtten studies on a trace: a speedup breakdown by technique and a top-k parallelism sweep.

:func:`speedup_breakdown` adds SpAtten's techniques one at a time, in the order of the paper's
Fig. 20 (spatten.md 3), by rewriting the columns of one pruned, quantized trace, and simulates
every step with :func:`sparsa.sim.network.spatten.simulate`:

0. *dedicated datapath*: every head of every layer at every iteration fetches all L keys and
   values at FP32 (no pruning, no quantization; the local-V top-k engines keep every row);
1. *+ head pruning*: only the (iteration, layer, head) rows of the trace;
2. *+ token pruning*: N_k = N_v = the trace's ``key_fetch_num``;
3. *+ local V pruning, serial top-k*: N_v = ``value_fetch_num``, the core's local-V top-k
   engines with one comparator per array;
4. *+ parallel top-k*: the engines with the target's ``topk_comparators``;
5. *+ static quantization*: the trace's widths, K always fetched at MSB + LSB bits (no refetch
   decision; a K width whose MSB + LSB is not a width of the format is an error);
6. *+ progressive quantization*: the trace as it is (MSBs first, LSBs on demand).

Steps 0-2 and 5-6 use the parallel engines. Each
step's factor is the previous step's time over its own, so the factors multiply to the total.
With a measured software time of the same workload the breakdown starts from it, as the
paper's starts from a GPU. In summarization (BERT) the last step is left out: SpAtten uses
static quantization only there (spatten.md 1.4), so step 5 is the trace as it is.

:func:`topk_sweep` simulates the trace with local-V top-k engines of 1 to 32 comparators per
array, in the style of the paper's Fig. 19a.
"""

from dataclasses import dataclass, replace

import numpy as np

from sparsa.dataflow.spatten_workloads import GENERATION, SUMMARIZATION
from sparsa.models.algorithms.spatten_trace import LSB_BITS, MSB_BITS, UNQUANTIZED, SpattenTrace
from sparsa.sim.network.spatten import LocalVTopK, RtlCoreCycles, SpattenResult, simulate
from sparsa.sim.network.target import Target

__all__ = ["PAPER_FIG19A_GOPS", "PAPER_FIG20_FACTORS", "PAPER_FIG20_TOTAL",
           "SWEEP_COMPARATORS", "BreakdownStep", "SweepPoint", "format_breakdown",
           "format_sweep", "speedup_breakdown", "topk_sweep"]

SWEEP_COMPARATORS = (1, 2, 4, 8, 16, 32)
"""Comparators per array swept by :func:`topk_sweep` (the paper's Fig. 19a sweeps 1 to 32)."""

PAPER_FIG19A_GOPS = {1: 168.0, 2: 299.0, 4: 485.0, 8: 653.0, 16: 776.0, 32: 771.0}
"""The paper's Fig. 19a: overall GFLOPS of one GPT-2 application against the top-k engine's
parallelism (comparators per array), quoted (spatten.md 2.3, 6)."""

PAPER_FIG20_FACTORS = {
    "+ head pruning": 1.1,
    "+ token pruning": 1.1,
    "+ parallel top-k": 3.0,
    "+ static quantization": 1.6,
    "+ progressive quantization": 1.7,
}
"""The paper's Fig. 20 (GPT-2 over a TITAN Xp) per-technique speedups, quoted (spatten.md 3),
under the names of :func:`speedup_breakdown`'s steps. The paper adds token pruning before head
pruning and has no separate serial local-V step (its pruning steps run without a fast top-k)."""

PAPER_FIG20_TOTAL = 209.0 / 22.1
"""The paper's Fig. 20 speedup of all techniques over the dedicated datapath alone: 209x over the
TITAN Xp with every technique against 22.1x from the datapath (spatten.md 3), about 9.5x."""


@dataclass(frozen=True)
class BreakdownStep:
    """One step of :func:`speedup_breakdown`.

    Attributes
    ----------
    step : str
        The technique added at this step.
    seconds : float
        Simulated (or, for the software baseline, measured) time.
    dram_bytes : int or None
        DRAM bytes of the step (None for the software baseline).
    factor : float
        Time of the previous step over this one (1 for the first).
    cumulative : float
        Time of the first step over this one.
    """

    step: str
    seconds: float
    dram_bytes: int | None
    factor: float
    cumulative: float


@dataclass(frozen=True)
class SweepPoint:
    """One point of :func:`topk_sweep`."""

    comparators: int
    seconds: float
    topk_cycles: int
    gops: float
    speedup: float


def _full_grid(trace: SpattenTrace) -> SpattenTrace:
    ids, seq_len = trace.iteration_seq_len()
    it, layer, head = (a.reshape(-1) for a in np.meshgrid(
        ids, np.arange(trace.layers), np.arange(trace.heads), indexing="ij"))
    length = seq_len[np.searchsorted(ids, it)]
    off = np.full(len(it), UNQUANTIZED)
    return replace(
        trace, iteration=it, layer=layer, head=head, seq_len=length, key_fetch=length,
        value_fetch=length, key_bits=off, value_bits=off, query_bits=off,
        requant_threshold=off.astype(np.float64), requant_bits=off,
        requant=np.zeros(len(it), dtype=bool), accumulate_importance=np.zeros(len(it), bool),
        rescale_importance=np.zeros(len(it), bool), token_topk=np.zeros(len(it), bool),
        topk=off)


def _unquantized(trace: SpattenTrace, **columns: np.ndarray) -> SpattenTrace:
    off = np.full(len(trace), UNQUANTIZED)
    return replace(trace, key_bits=off, value_bits=off, query_bits=off,
                   requant_threshold=off.astype(np.float64), requant_bits=off,
                   requant=np.zeros(len(trace), dtype=bool), **columns)


def _static(trace: SpattenTrace) -> SpattenTrace:
    progressive = trace.requant_bits != UNQUANTIZED
    key_bits = np.where(progressive, trace.key_bits + LSB_BITS, trace.key_bits)
    bad = progressive & ~np.isin(key_bits, MSB_BITS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {row}: K width {trace.key_bits[row]} + {LSB_BITS} LSB bits = "
                         f"{key_bits[row]} is not a width of the trace format {MSB_BITS}, so "
                         "static quantization at full precision cannot be expressed")
    off = np.full(len(trace), UNQUANTIZED)
    return replace(trace, key_bits=key_bits, requant_threshold=off.astype(np.float64),
                   requant_bits=off, requant=np.zeros(len(trace), dtype=bool))


def _simulate(trace: SpattenTrace, target: Target, comparators: int,
              mode: str = GENERATION) -> SpattenResult:
    """Simulate with the core's local-V top-k engines of ``comparators`` per array."""
    return simulate(trace, target, mode=mode, core_cycles=RtlCoreCycles(comparators=comparators))


def speedup_breakdown(trace: SpattenTrace, target: Target, *,
                      baseline: tuple[str, float] | None = None,
                      mode: str = GENERATION) -> list[BreakdownStep]:
    """Time of the trace's workload as SpAtten's techniques are added (module docstring).

    Parameters
    ----------
    trace : SpattenTrace
        A pruned, quantized trace (its widths and fetch counts define the last step).
    target : Target
    baseline : (str, float), optional
        Name and measured seconds of a software run of the same workload; it becomes the first
        step, so every factor is relative to it.
    mode : str
        How the rows run (:func:`sparsa.sim.network.spatten.simulate`); in summarization the
        progressive-quantization step is left out.

    Returns
    -------
    list of BreakdownStep
    """
    if baseline is not None:
        seconds = baseline[1]
        if not isinstance(seconds, float | int) or not seconds > 0:
            raise ValueError(f"baseline seconds must be a positive number, not {seconds!r}")
    serial = 1
    parallel = LocalVTopK.for_target(target, trace.head_dim).config.comparators
    steps: list[tuple[str, SpattenTrace, int]] = [
        ("dedicated datapath", _full_grid(trace), parallel),
        ("+ head pruning", _unquantized(trace, key_fetch=trace.seq_len,
                                        value_fetch=trace.seq_len), parallel),
        ("+ token pruning", _unquantized(trace, value_fetch=trace.key_fetch), parallel),
        ("+ local V pruning, serial top-k", _unquantized(trace), serial),
        ("+ parallel top-k", _unquantized(trace), parallel),
        ("+ static quantization", _static(trace), parallel),
        ("+ progressive quantization", trace, parallel),
    ]
    if mode == SUMMARIZATION:
        steps[-2:] = [("+ static quantization", trace, parallel)]
    timed: list[tuple[str, float, int | None]] = [] if baseline is None else [
        (baseline[0], float(baseline[1]), None)]
    for step, variant, comparators in steps:
        result = _simulate(variant, target, comparators, mode)
        timed.append((step, result.seconds, result.dram_bytes))
    first = timed[0][1]
    return [BreakdownStep(step, seconds, moved, 1.0 if i == 0 else timed[i - 1][1] / seconds,
                          first / seconds)
            for i, (step, seconds, moved) in enumerate(timed)]


def topk_sweep(trace: SpattenTrace, target: Target,
               comparators: tuple[int, ...] = SWEEP_COMPARATORS, *,
               mode: str = GENERATION) -> list[SweepPoint]:
    """Simulate ``trace`` (rows run in ``mode``) with local-V top-k engines of each comparator
    count.

    The engine's lanes stay the target's (Q x K scores per cycle); speedups are against the
    first comparator count.
    """
    results: list[tuple[int, SpattenResult]] = [
        (c, _simulate(trace, target, c, mode))
        for c in comparators]
    base = results[0][1].seconds
    return [SweepPoint(c, r.seconds, r.topk_cycles, r.gops, base / r.seconds)
            for c, r in results]


def format_breakdown(steps: list[BreakdownStep]) -> str:
    """Markdown table of a :func:`speedup_breakdown`."""
    lines = ["| step | time (ms) | DRAM bytes | factor | cumulative |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {s.step} | {s.seconds * 1e3:.4g} | "
              f"{'measured' if s.dram_bytes is None else f'{s.dram_bytes:,}'} | "
              f"{s.factor:.2f}x | {s.cumulative:.1f}x |" for s in steps]
    return "\n".join(lines) + "\n"


def format_sweep(points: list[SweepPoint]) -> str:
    """Markdown table of a :func:`topk_sweep`."""
    lines = ["| comparators | time (ms) | top-k busy cycles | GOP/s | speedup |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {p.comparators} | {p.seconds * 1e3:.4g} | {p.topk_cycles:,} | "
              f"{p.gops:.1f} | {p.speedup:.2f}x |" for p in points]
    return "\n".join(lines) + "\n"
