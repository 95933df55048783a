"""The top-k engine's section of the report: Verilog, lint, and the parallelism sweep."""

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from matplotlib.figure import Figure

from sparsa.config.describe import describe
from sparsa.config.topk import TopKConfig
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.topk.topk import TopKEngine
from sparsa.reports.markdown import lint_summary
from sparsa.sim.blocks.topk import ROUND_OVERHEAD
from sparsa.sim.studies.topk_bench import (
    DEFAULT_SEED,
    DEFAULT_TRIALS,
    BenchPoint,
    format_table,
    sweep,
)

__all__ = ["QUICK_TRIALS", "topk_section"]

QUICK_TRIALS = 20
# SpAtten's released latency model (sim/TopKLatencyModel.scala in mit-han-lab/spatten, replayed
# in Python when the figure was taken): quick-select cycles at 16 comparators,
# n = 1024, k = 512, mean and standard deviation over 200 random trials. Quoted, not measured.
SPATTEN_REF = {"n": 1024, "k": 512, "comparators": 16, "mean": 273, "std": 72}


def _plot(points: list[BenchPoint], path: Path) -> None:
    fractions = sorted({p.k_fraction for p in points})
    fig = Figure(figsize=(5 * len(fractions), 4))
    axes = fig.subplots(1, len(fractions), squeeze=False)
    for ax, frac in zip(axes[0], fractions, strict=True):
        for n in sorted({p.n for p in points}):
            row = [p for p in points if p.n == n and p.k_fraction == frac]
            ax.errorbar(
                [p.comparators for p in row],
                [p.select_mean for p in row],
                yerr=[p.select_std for p in row],
                marker="o",
                capsize=3,
                label=f"n = {n}, k = {row[0].k}",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("comparators per array (C)")
        ax.set_ylabel("quick-select cycles (mean ± std)")
        ax.set_title(f"k = {frac:g} n")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _markdown(config: TopKConfig, lint: list[str], points: list[BenchPoint], trials: int) -> str:
    ref = next(
        p for p in points
        if (p.n, p.k, p.comparators) == (SPATTEN_REF["n"], SPATTEN_REF["k"],
                                         SPATTEN_REF["comparators"])
    )
    wide = next(
        p for p in points
        if (p.n, p.k, p.comparators) == (ref.n, ref.k, 2 * ref.comparators)
    )
    lint_line = lint_summary(lint, "topk")
    return f"""## SpAtten top-k engine

### Verilog

`verilog/topk.v` with its sidecar `verilog/topk.json` (configuration, ports and widths, tool
versions), elaborated from `{describe(config)}`.

Lint: {lint_line}

### Parallelism sweep (analogue of SpAtten Fig. 19a)

{trials} seeded random requests per point (uniform 16-bit signed values, seed {DEFAULT_SEED}),
P = 8 input lanes, LFSR pivot. Cycles come from the cycle model `sparsa.sim.blocks.topk`, which
predicts the RTL's cycles exactly (checked against Verilator-measured cycles by `make test`,
tests/sim/rtl). *Quick-select cycles* are the selection rounds only; *total* adds loading the n
values (n / 8 cycles) and the final filter-and-compact pass; elements/cycle is n / total.

{format_table(points)}

![quick-select cycles against comparators](topk_cycles.png)

### Against SpAtten

SpAtten's released latency model gives {SPATTEN_REF['mean']} ± {SPATTEN_REF['std']} quick-select
cycles for n = {SPATTEN_REF['n']}, k = {SPATTEN_REF['k']} at {SPATTEN_REF['comparators']}
comparators (a figure quoted from the reference notes, not measured here). This engine takes
{ref.select_mean:.1f} ± {ref.select_std:.1f} cycles in {ref.rounds_mean:.1f} rounds on average.
A round over m candidates costs ceil(m / C) + {ROUND_OVERHEAD} cycles here against
ceil(m / C) + 3 in SpAtten's model: one extra cycle because this engine reads the pivot from
the candidate buffer at the start of every round, where SpAtten's released RTL samples it by
reservoir sampling while the candidates stream. The pivots differ as well (a seeded 16-bit LFSR
position here, a hash-based sample there), so the round counts and the spread differ a little.

Doubling the comparators from 16 to 32 cuts the quick-select cycles of this point by
{100 * (1 - wide.select_mean / ref.select_mean):.0f}% but the whole request only by
{100 * (1 - wide.total_mean / ref.total_mean):.0f}%: loading the n values and the final
filter-and-compact pass run at P = 8 values per cycle (n / 8 cycles each) and do not scale
with C. In SpAtten the engine's input is likewise bound to the 8 scores per cycle that Q x K
produces, which is why its Fig. 19a throughput stops growing beyond 16 comparators.
"""


def topk_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Export and lint the default engine, run the sweep, write their files into ``stage``
    (``verilog/topk.*``, ``topk_bench.json``, ``topk_cycles.png``) and return the section."""
    trials = QUICK_TRIALS if quick else DEFAULT_TRIALS
    config = TopKConfig()
    say("exporting the top-k Verilog")
    verilog_path, _ = export_verilog(
        TopKEngine(config), name="topk", out_dir=stage / "verilog", config=config
    )
    say("linting it with Verilator")
    lint = lint_verilog(verilog_path)
    say(f"running the top-k parallelism sweep ({trials} trials per point)")
    points = sweep(trials=trials, seed=DEFAULT_SEED, progress=say)
    (stage / "topk_bench.json").write_text(json.dumps([asdict(p) for p in points], indent=2) + "\n")
    _plot(points, stage / "topk_cycles.png")
    return _markdown(config, lint, points, trials)
