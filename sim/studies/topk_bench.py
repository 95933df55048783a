"""Parallelism sweep of the top-k engine: the analogue of SpAtten's Fig. 19a study.

For each request size n, each k and each comparator count C, :func:`sweep` runs seeded random
requests through the cycle model (:class:`sparsa.sim.blocks.topk.TopKCycleModel`, which the RTL
tests show to equal the RTL's measured cycles) and summarises the cycles of the quick-select phase
and of the whole request.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sparsa.config.presets import TOPK_BENCH_SEED, TOPK_BENCH_TRIALS
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles

__all__ = [
    "DEFAULT_COMPARATORS",
    "DEFAULT_K_FRACTIONS",
    "DEFAULT_SEED",
    "DEFAULT_SIZES",
    "DEFAULT_TRIALS",
    "BenchPoint",
    "bench_config",
    "format_table",
    "sweep",
]

DEFAULT_SIZES = (256, 1024, 4096)
DEFAULT_K_FRACTIONS = (0.1, 0.5)
DEFAULT_COMPARATORS = (1, 2, 4, 8, 16, 32)
DEFAULT_TRIALS = TOPK_BENCH_TRIALS
DEFAULT_SEED = TOPK_BENCH_SEED
BENCH_LANES = 8  # SpAtten feeds its top-k engine 8 scores per cycle (Q x K output rate)
BENCH_WIDTH = 16


@dataclass(frozen=True)
class BenchPoint:
    """Cycle statistics of one (n, k, C) point over ``trials`` random requests.

    ``*_mean``/``*_std`` are the mean and the sample standard deviation over the trials.
    ``k = max(1, int(n * k_fraction))``. ``elements_per_cycle`` is n divided by the mean total
    cycles (load, selection and output).
    """

    n: int
    k_fraction: float
    k: int
    comparators: int
    lanes: int
    trials: int
    select_mean: float
    select_std: float
    rounds_mean: float
    total_mean: float
    total_std: float
    elements_per_cycle: float

    @classmethod
    def of_runs(
        cls, n: int, k_fraction: float, k: int, comparators: int, runs: Sequence[TopKCycles]
    ) -> BenchPoint:
        """The statistics of ``runs`` (at least 2 cycle-model requests) at one point."""
        select = [r.select for r in runs]
        total = [r.total for r in runs]
        return cls(n, k_fraction, k, comparators, BENCH_LANES, len(runs),
                   statistics.fmean(select), statistics.stdev(select),
                   statistics.fmean(r.rounds for r in runs),
                   statistics.fmean(total), statistics.stdev(total),
                   n / statistics.fmean(total))


def bench_config(comparators: int, capacity: int) -> TopKConfig:
    """Engine configuration of the sweep: 8 input lanes, 16-bit signed scores, LFSR pivot."""
    return TopKConfig(
        lanes=BENCH_LANES,
        comparators=comparators,
        capacity=capacity,
        width=BENCH_WIDTH,
        signed=True,
        pivot=PivotMode.LFSR,
    )


def sweep(
    *,
    trials: int,
    seed: int,
    sizes: Sequence[int] = DEFAULT_SIZES,
    k_fractions: Sequence[float] = DEFAULT_K_FRACTIONS,
    comparators: Sequence[int] = DEFAULT_COMPARATORS,
    progress: Callable[[str], None] | None = None,
) -> list[BenchPoint]:
    """Run the sweep.

    Parameters
    ----------
    trials : int
        Random requests per point (at least 2, for a spread).
    seed : int
        Seed of the value generator; every point uses the same inputs for a given (n, trial).
    sizes, k_fractions, comparators : sequences
        The grid: k = int(n * fraction), at least 1.
    progress : callable, optional
        Called with a short line after each point.

    Returns
    -------
    list of BenchPoint
    """
    if not isinstance(trials, int) or trials < 2:
        raise ValueError(f"trials must be an integer >= 2, not {trials!r}")
    for f in k_fractions:
        if not 0 < f <= 1:
            raise ValueError(f"k fractions must lie in (0, 1], not {f!r}")
    capacity = max(sizes)
    lo, hi = bench_config(comparators[0], capacity).value_range
    points = []
    for n in sizes:
        gen = torch.Generator().manual_seed(seed + n)
        inputs = [torch.randint(lo, hi + 1, (n,), generator=gen) for _ in range(trials)]
        for fraction in k_fractions:
            k = max(1, int(n * fraction))
            for c in comparators:
                model = TopKCycleModel(bench_config(c, capacity))
                runs = [model.request(values, k) for values in inputs]
                point = BenchPoint.of_runs(n, fraction, k, c, runs)
                points.append(point)
                if progress:
                    progress(f"n={n} k={k} C={c}: {point.select_mean:.0f} select cycles")
    return points


def format_table(points: Sequence[BenchPoint]) -> str:
    """A Markdown table of the sweep."""
    lines = [
        "| n | k | C | quick-select cycles | rounds | total cycles | elements/cycle |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p.n} | {p.k} | {p.comparators} | {p.select_mean:.1f} ± {p.select_std:.1f} "
            f"| {p.rounds_mean:.1f} | {p.total_mean:.1f} ± {p.total_std:.1f} "
            f"| {p.elements_per_cycle:.2f} |"
        )
    return "\n".join(lines)
