"""SAT at network scale: speedup of each N:M pattern over dense, its bound, and the ablation.

Every figure comes from :func:`sparsa.sim.network.sat_network.simulate_iteration` on the same array
and target, so speedups are ratios of cycles measured in one run.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sparsa.config.sat import NMPattern
from sparsa.models.zoo.workloads import training_layers
from sparsa.sim.network.sat_network import ALL_TECHNIQUES, SatResult, Techniques, simulate_iteration
from sparsa.sim.network.target import Target

__all__ = [
    "ABLATION",
    "PAPER_SPEEDUP_2_8",
    "AblationRow",
    "SpeedupRow",
    "ablation",
    "format_ablation",
    "format_speedups",
    "pattern_speedups",
    "simulate",
]

PAPER_SPEEDUP_2_8 = 1.75  # SAT paper abstract: BDWP at 2:8 over dense training (sat.md 1)
ABLATION = {  # each technique off alone, then all off
    "all techniques": ALL_TECHNIQUES,
    "no interleave": Techniques(interleave=False),
    "no pre-generation": Techniques(pregen=False),
    "no offline scheduling": Techniques(offline_schedule=False),
    "none": Techniques(interleave=False, pregen=False, offline_schedule=False),
}


def simulate(
    model: str,
    pattern: NMPattern | None,
    target: Target,
    *,
    batch: int,
    techniques: Techniques = ALL_TECHNIQUES,
) -> tuple[SatResult, float]:
    """Simulate one iteration; also return the simulator's wall time in seconds (the
    simulation proper, after the workload's layer list is extracted from the PyTorch model)."""
    layers = training_layers(model, batch=batch, pattern=pattern)
    start = time.perf_counter()
    result = simulate_iteration(
        layers, model=model, pattern=pattern, target=target, batch=batch, techniques=techniques
    )
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class SpeedupRow:
    """One model at one pattern against the dense run on the same array."""

    model: str
    pattern: str
    cycles: int
    speedup: float
    bound: float
    macs_bound: float
    utilisation: float  # dense-equivalent MACs per MAC slot (above 1 where sparsity skips MACs)
    busy: float  # the share of cycles the array holds a tile
    wall_s: float


def _bound(dense: SatResult, sparse: SatResult) -> tuple[float, float]:
    """The upper bound on the speedup: FF and BP of the sparse layers scaled by N / M, WU and
    dense layers as in the dense run; in array cycles and in MACs."""
    by_gemm = {(g.layer, g.phase): g for g in sparse.gemms}
    cycles = scaled_cycles = macs = scaled_macs = 0
    for g in dense.gemms:
        s = by_gemm[g.layer, g.phase]
        scale = s.issued_macs / s.macs if g.phase != "WU" else 1.0
        cycles += g.cycles
        scaled_cycles += g.cycles * scale
        macs += g.macs
        scaled_macs += g.macs * scale
    return cycles / scaled_cycles, macs / scaled_macs


def pattern_speedups(
    models: Sequence[str],
    patterns: Sequence[NMPattern],
    target: Target,
    *,
    batch: int,
    progress: Callable[[str], None] | None = None,
) -> list[SpeedupRow]:
    """Each model, dense and at each pattern, all techniques on."""
    rows = []
    for model in models:
        dense, wall = simulate(model, None, target, batch=batch)
        rows.append(
            SpeedupRow(model, "dense", dense.cycles, 1.0, 1.0, 1.0, dense.utilisation,
                       dense.busy_share, wall)
        )
        for pattern in patterns:
            sparse, wall = simulate(model, pattern, target, batch=batch)
            bound, macs_bound = _bound(dense, sparse)
            rows.append(
                SpeedupRow(
                    model,
                    str(pattern),
                    sparse.cycles,
                    dense.cycles / sparse.cycles,
                    bound,
                    macs_bound,
                    sparse.utilisation,
                    sparse.busy_share,
                    wall,
                )
            )
            if progress:
                progress(f"{model} {pattern}: {dense.cycles / sparse.cycles:.2f}x")
    return rows


@dataclass(frozen=True)
class AblationRow:
    """One technique setting for one model and pattern."""

    model: str
    pattern: str
    setting: str
    cycles: int
    speedup_over_dense: float
    dram_stall_cycles: int
    sore_exposed_cycles: int


def ablation(model: str, pattern: NMPattern, target: Target, *, batch: int) -> list[AblationRow]:
    """The iteration with each setting of :data:`ABLATION` (each technique off alone, then all
    off); speedups are over the dense run with all techniques on."""
    dense, _ = simulate(model, None, target, batch=batch)
    rows = []
    for setting, techniques in ABLATION.items():
        result, _ = simulate(model, pattern, target, batch=batch, techniques=techniques)
        rows.append(
            AblationRow(
                model,
                str(pattern),
                setting,
                result.cycles,
                dense.cycles / result.cycles,
                result.stall_cycles["dram"],
                result.stall_cycles["sore"],
            )
        )
    return rows


def format_speedups(rows: Sequence[SpeedupRow]) -> str:
    """Markdown table of :func:`pattern_speedups`."""
    lines = [
        "| model | pattern | cycles | speedup | bound (cycles) | bound (MACs) | "
        "dense-equivalent MACs per slot | array busy | simulator wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {r.pattern} | {r.cycles:,} | {r.speedup:.2f}x | {r.bound:.2f}x "
        f"| {r.macs_bound:.2f}x | {r.utilisation:.2f} | {100 * r.busy:.1f}% | {r.wall_s:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def format_ablation(rows: Sequence[AblationRow]) -> str:
    """Markdown table of :func:`ablation`."""
    lines = [
        "| model | pattern | techniques | cycles | speedup over dense | DRAM stalls | "
        "SORE on critical path |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {r.pattern} | {r.setting} | {r.cycles:,} | "
        f"{r.speedup_over_dense:.2f}x | {r.dram_stall_cycles:,} | "
        f"{r.sore_exposed_cycles:,} |"
        for r in rows
    ]
    return "\n".join(lines)
