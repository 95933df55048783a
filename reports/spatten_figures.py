"""Report section: SpAtten's evaluation as figures (issue 12, section 4).

Four figures, drawn from this run's simulator results, which the SpAtten sections before this
one write into the report folder (``spatten_traces.json``, ``spatten_own.json``,
``baselines.json``), never from numbers written here:

* ``spatten_breakdown.png``, in the style of the paper's Fig. 20: the speedup of each technique
  of :func:`sparsa.sim.studies.spatten_study.speedup_breakdown` (each step's time over the one
  before) and of all of them together over the dedicated datapath;
* ``spatten_topk_sweep.png``, in the style of Fig. 19a: throughput against the local-V top-k
  engine's comparators per array (:func:`sparsa.sim.studies.spatten_study.topk_sweep`);
* ``spatten_dram.png``: DRAM bytes as the techniques are added, the simulator's attribution
  chain (:attr:`sparsa.sim.network.spatten.SpattenResult.chain`);
* ``spatten_energy.png``: energy by component (:attr:`SpattenResult.energy_j`, grouped by
  :func:`energy_components`), as shares of each trace's total.

The paper's figures are drawn beside them as markers or dashed lines where it gives one, always
labelled as the paper's: Fig. 19a's GFLOPS and Fig. 20's factors for GPT-2 (quoted in
:mod:`sparsa.sim.studies.spatten_study`), its DRAM reductions and its power breakdown. A trace
to which no technique applies (the dense GPT-2 Medium trace) is a baseline and gets no paper
marker, and no breakdown panel (there is nothing to add to it).

Each figure function returns the :class:`matplotlib.figure.Figure` it drew, so the bars can be
checked against the data; :func:`sparsa.reports.png.write_png` writes one atomically.
"""

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from sparsa.config.presets import SPATTEN_TARGET
from sparsa.dataflow.spatten_workloads import SUMMARIZATION
from sparsa.reports.png import write_png
from sparsa.sim.network.spatten import (
    PAPER_DRAM_REDUCTION,
    PAPER_TECHNIQUE_FACTORS,
    PAPER_TOKEN_V_AVERAGE,
    TECHNIQUES,
)
from sparsa.sim.studies.spatten_study import (
    PAPER_FIG19A_GOPS,
    PAPER_FIG20_FACTORS,
    PAPER_FIG20_TOTAL,
)

__all__ = [
    "ALL_TECHNIQUES",
    "ENERGY_COMPONENTS",
    "FIGURES",
    "PAPER_POWER_TOTAL_W",
    "PAPER_POWER_W",
    "BreakdownPanel",
    "DramPanel",
    "TraceFigures",
    "breakdown_figure",
    "dram_figure",
    "energy_components",
    "energy_figure",
    "load_traces",
    "paper_dram_marks",
    "spatten_figures_section",
    "topk_sweep_figure",
]

FIGURES = {
    "breakdown": "spatten_breakdown.png",
    "topk": "spatten_topk_sweep.png",
    "dram": "spatten_dram.png",
    "energy": "spatten_energy.png",
}
"""File of each figure, next to ``report.md``."""

ALL_TECHNIQUES = "all techniques"
"""Label of the breakdown's last bar: every technique over the dedicated datapath."""

ENERGY_COMPONENTS = {
    "DRAM": ("dram_read_bit", "dram_write_bit"),
    "SRAM and FIFOs": ("sram_read_bit", "sram_write_bit"),
    "multipliers": ("mac_int8", "mac_int12", "mac_int16", "mac_fp16", "mac_bf16", "mac_fp32"),
    "top-k engines": ("topk_element",),
    "static": ("static",),
}
"""Components of the energy figure and the actions of
:data:`sparsa.sim.network.energy.ACTIONS` (plus ``static``) each one sums; an action not listed
goes to ``other``."""

PAPER_POWER_W = {"DRAM": 5.71, "SRAM and FIFOs": 1.24, "computation logic": 1.36}
"""The paper's power breakdown (Table II, spatten.md 2.7); its computation logic includes the
top-k engines' 0.08 W and the softmax and fetcher, which this simulator does not charge."""

PAPER_POWER_TOTAL_W = 8.30
"""The paper's total power (Table II; its parts above add up to 8.31 W after rounding)."""

DRAM_STAGES = ("dense FP32", *(f"+ {t}" for t in TECHNIQUES))
"""Bars of the DRAM figure: the attribution chain's stages, in order."""

_PAPER = "#d62728"
_COLOURS = {"DRAM": "#1f77b4", "SRAM and FIFOs": "#ff7f0e", "multipliers": "#2ca02c",
            "computation logic": "#bcbd22", "top-k engines": "#9467bd", "static": "#8c564b",
            "other": "#7f7f7f"}
_SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#17becf")  # no red: red is the paper's


@dataclass(frozen=True)
class BreakdownPanel:
    """One trace's speedup breakdown: the steps after the dedicated datapath, the factor of
    each (its time before over its time after), the total over the datapath, and the paper's
    factors by step name (empty where the paper gives none)."""

    title: str
    steps: tuple[str, ...]
    factors: tuple[float, ...]
    total: float
    paper: Mapping[str, float] = field(default_factory=dict)
    paper_total: float | None = None


@dataclass(frozen=True)
class DramPanel:
    """One trace's DRAM bytes after each stage of :data:`DRAM_STAGES`, and the paper's
    reductions drawn as bytes (:func:`paper_dram_marks`) plus its average line (or None)."""

    title: str
    stages: tuple[str, ...]
    bytes: tuple[int, ...]
    paper: Mapping[str, float] = field(default_factory=dict)
    paper_line: float | None = None


@dataclass(frozen=True)
class TraceFigures:
    """What the figures show of one trace, read from this run's JSON files.

    Attributes
    ----------
    key, title : str
        Short name and a title for the figures.
    mode : str
        How its rows ran.
    dense_baseline : bool
        No technique applies (:attr:`SpattenResult.dense_baseline`).
    result : dict
        :meth:`SpattenResult.to_dict` of the trace.
    breakdown : list of dict or None
        :class:`BreakdownStep` records, the software baseline left out.
    sweep : list of dict or None
        :class:`SweepPoint` records.
    """

    key: str
    title: str
    mode: str
    dense_baseline: bool
    result: Mapping
    breakdown: list[Mapping] | None
    sweep: list[Mapping] | None


def _grid(count: int, width: float, height: float) -> tuple[Figure, list]:
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1).tolist()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _labels(ax, bars, texts: Sequence[str]) -> None:
    """Write each text above (or, for a bar hanging down, below) its bar."""
    for bar, text in zip(bars, texts, strict=True):
        down = bar.get_height() < 0
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height()),
                    xytext=(0, -2 if down else 2), textcoords="offset points", ha="center",
                    va="top" if down else "bottom", fontsize=7)


def _plain_log(axis, unit: str = "") -> None:
    """Plain numbers (not powers of ten) at 1, 2 and 5 times each power of ten on a log axis."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}{unit}"))
    axis.set_minor_formatter(NullFormatter())


def _log_limits(ax, values: Sequence[float], *, top: float, bottom: float = 1.5) -> None:
    """Room on a log axis for the labels above the bars and the legend."""
    positive = [v for v in values if v > 0]
    ax.set_ylim(min(positive) / bottom, max(positive) * top)


def _finish_panels(fig: Figure, axes: Sequence, title: str) -> Figure:
    """``fig`` titled, with one legend under its panels for every labelled artist, laid out
    to leave room for it."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=len(seen),
                   fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _mb(value: float) -> str:
    return f"{value:,.0f} MB" if value >= 100 else f"{value:.3g} MB"


def _panel_grid(panels: Sequence[object], name: str) -> tuple[Figure, list]:
    """A figure of one axes per panel (:func:`_grid`).

    Raises
    ------
    ValueError
        For no panels.
    """
    if not panels:
        raise ValueError(f"{name} needs at least one panel")
    return _grid(len(panels), 5.2, 4.4)


def _same_count(title: str, names: Sequence[object], what: str, values: Sequence[object],
                of: str) -> None:
    """Check that a panel has one value per name.

    Raises
    ------
    ValueError
        Naming the panel and both counts, when they differ.
    """
    if len(names) != len(values):
        raise ValueError(f"{title}: {len(names)} {what} but {len(values)} {of}")


def breakdown_figure(panels: Sequence[BreakdownPanel], *, title: str) -> Figure:
    """Bars of each step's speedup and of all steps together, one panel per trace; the paper's
    factors as red markers. The bars stand on 1x (a slowdown hangs down from it): bar i of a
    panel reaches ``factors[i]`` (its top, ``get_y() + get_height()``), its last bar
    ``total``."""
    fig, axes = _panel_grid(panels, "breakdown_figure")
    for ax, panel in zip(axes, panels, strict=True):
        _same_count(panel.title, panel.steps, "steps", panel.factors, "factors")
        names = [*panel.steps, ALL_TECHNIQUES]
        heights = [*panel.factors, panel.total]
        x = list(range(len(names)))
        bars = ax.bar(x, [h - 1.0 for h in heights], bottom=1.0,
                      color=["#1f77b4"] * len(panel.steps) + ["#17becf"],
                      label="this run (simulated)")
        _labels(ax, bars, [f"{h:.2f}x" for h in heights])
        paper = [(i, panel.paper[n]) for i, n in enumerate(panel.steps) if n in panel.paper]
        if panel.paper_total is not None:
            paper.append((len(names) - 1, panel.paper_total))
        if paper:
            ax.plot([i for i, _ in paper], [v for _, v in paper], linestyle="none",
                    marker="D", color=_PAPER, label="paper, Fig. 20 (GPT-2, quoted)")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        _log_limits(ax, [*heights, *(v for _, v in paper), 1.0], top=2.0)
        _plain_log(ax.yaxis, "x")
        ax.set_xticks(x, [n.removeprefix("+ ") for n in names], rotation=35, ha="right",
                      fontsize=7)
        ax.set_ylabel("speedup of the step (x, log scale)")
        ax.set_title(panel.title, fontsize=9)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    return _finish_panels(fig, axes, title)


def topk_sweep_figure(series: Mapping[str, tuple[Sequence[int], Sequence[float]]], *,
                      title: str, paper: Mapping[int, float] | None = None) -> Figure:
    """Throughput (GOP/s) against comparators per array, one line per trace; the paper's
    Fig. 19a as a dashed red line. Line i has the i-th series' GOP/s as its y data."""
    if not series:
        raise ValueError("topk_sweep_figure needs at least one series")
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    ticks: set[int] = set()
    for i, (name, (comparators, gops)) in enumerate(series.items()):
        ax.plot(list(comparators), list(gops), marker="o", color=_SERIES[i % len(_SERIES)],
                label=f"{name} (this run)")
        ticks.update(comparators)
    if paper:
        ax.plot(list(paper), list(paper.values()), linestyle="--", marker="D", color=_PAPER,
                label="paper, Fig. 19a (one GPT-2 application, GFLOPS, quoted)")
        ticks.update(paper)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sorted(ticks), [str(t) for t in sorted(ticks)])
    ax.xaxis.set_minor_formatter(NullFormatter())
    _plain_log(ax.yaxis)
    ax.set_xlabel("top-k comparators per array (parallelism)")
    ax.set_ylabel("throughput (GOP/s, log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def dram_figure(panels: Sequence[DramPanel], *, title: str) -> Figure:
    """Bars of DRAM megabytes after each technique, one panel per trace (bar i has height
    ``bytes[i] / 1e6``); the paper's reductions as red markers, its average as a dashed line."""
    fig, axes = _panel_grid(panels, "dram_figure")
    for ax, panel in zip(axes, panels, strict=True):
        _same_count(panel.title, panel.stages, "stages", panel.bytes, "byte counts")
        x = list(range(len(panel.stages)))
        heights = [b / 1e6 for b in panel.bytes]
        bars = ax.bar(x, heights, color="#1f77b4", label="this run (simulated)")
        factors = [""] + [f"\n÷{a / b:.2f}" if b else ""
                          for a, b in zip(panel.bytes, panel.bytes[1:], strict=False)]
        _labels(ax, bars, [f"{_mb(h)}{f}" for h, f in zip(heights, factors, strict=True)])
        marks = [(panel.stages.index(s), v / 1e6) for s, v in panel.paper.items()]
        if marks:
            ax.plot([i for i, _ in marks], [v for _, v in marks], linestyle="none", marker="D",
                    color=_PAPER, label="paper's reduction applied to the bar before (quoted)")
        if panel.paper_line is not None:
            ax.axhline(panel.paper_line / 1e6, color=_PAPER, linestyle="--", linewidth=1,
                       label=f"paper: {PAPER_DRAM_REDUCTION:g}x less than dense FP32 "
                       "(30-benchmark average, quoted)")
        ax.set_yscale("log")
        lows = [*heights, *(v for _, v in marks)]
        if panel.paper_line is not None:
            lows.append(panel.paper_line / 1e6)
        _log_limits(ax, lows, top=3.0)
        _plain_log(ax.yaxis)
        ax.set_xticks(x, panel.stages, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel("DRAM traffic (MB, log scale)")
        ax.set_title(panel.title, fontsize=9)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    return _finish_panels(fig, axes, title)


def energy_components(energy_j: Mapping[str, float]) -> dict[str, float]:
    """Joules of each :data:`ENERGY_COMPONENTS` group (and ``other``) of an ``energy_j``
    breakdown; zero groups are left out. The ``total`` entry is checked, not summed."""
    out = {name: sum(energy_j.get(a, 0.0) for a in actions)
           for name, actions in ENERGY_COMPONENTS.items()}
    known = {a for actions in ENERGY_COMPONENTS.values() for a in actions} | {"total"}
    out["other"] = sum(v for a, v in energy_j.items() if a not in known)
    if "total" in energy_j and not math.isclose(sum(out.values()), energy_j["total"],
                                                rel_tol=1e-9, abs_tol=1e-18):
        raise ValueError(f"the energy actions sum to {sum(out.values())} J, not the total "
                         f"{energy_j['total']} J")
    return {name: joules for name, joules in out.items() if joules}


def energy_figure(bars: Mapping[str, Mapping[str, float]], *, title: str,
                  paper: Mapping[str, float] | None = None,
                  paper_total_w: float | None = None) -> Figure:
    """One stacked bar per trace of each component's share of its energy (%), its total in mJ
    above it; the paper's power breakdown (watts by component, and its stated total) as a
    last, hatched bar (its shares are energy shares at equal time). The patches are drawn
    component by component (in order of first appearance), bar by bar, so patch
    ``c * len(bars) + b`` (``len(bars) + 1`` with the paper's) is component c of bar b."""
    if not bars:
        raise ValueError("energy_figure needs at least one bar")
    columns = {name: dict(parts) for name, parts in bars.items()}
    if paper:
        columns["paper (power, Table II)"] = dict(paper)
    names = list(columns)
    components = list(dict.fromkeys(c for parts in columns.values() for c in parts))
    fig = Figure(figsize=(max(6.0, 1.3 * len(names) + 2.5), 4.8))
    ax = fig.subplots()
    x = list(range(len(names)))
    bottoms = [0.0] * len(names)
    totals = [sum(columns[n].values()) for n in names]
    for component in components:
        shares = [100 * columns[n].get(component, 0.0) / t for n, t in zip(names, totals,
                                                                          strict=True)]
        drawn = ax.bar(x, shares, bottom=bottoms, label=component,
                       color=_COLOURS.get(component, "#7f7f7f"), edgecolor="white")
        if paper:
            drawn[-1].set_hatch("//")
        bottoms = [b + s for b, s in zip(bottoms, shares, strict=True)]
    for i, (name, total) in enumerate(zip(names, totals, strict=True)):
        text = (f"{paper_total_w or total:.2f} W" if paper and i == len(names) - 1
                else f"{total * 1e3:.3g} mJ")
        ax.annotate(text, (i, 100), xytext=(0, 2), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7, color=_PAPER if name not in bars else "black")
    ax.set_ylim(0, 110)
    ax.set_xticks(x, names, rotation=25, ha="right", fontsize=7)
    ax.set_ylabel("share of energy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def paper_dram_marks(chain: Sequence[Mapping], mode: str) -> dict[str, float]:
    """The paper's DRAM reductions as bytes on a trace's chain (``to_dict()['dram']['chain']``):
    head pruning's 1.1x from the dense bytes; token plus local V pruning's (3.8x on GPT-2, 1.9x
    averaged over all benchmarks for BERT, which has no figure of its own) from the bytes after
    head pruning, drawn at the local V bar; progressive quantization's 5.1x (GPT-2 only) from
    the bytes after local V pruning."""
    by = {link["technique"]: link for link in chain}
    marks = {"+ head pruning": by["head pruning"]["bytes_without"]
             / PAPER_TECHNIQUE_FACTORS["head pruning"]}
    token_v = (PAPER_TOKEN_V_AVERAGE if mode == SUMMARIZATION
               else PAPER_TECHNIQUE_FACTORS["token + local V pruning"])
    marks["+ local V pruning"] = by["token pruning"]["bytes_without"] / token_v
    if mode != SUMMARIZATION:
        marks["+ progressive quantization"] = (
            by["progressive quantization"]["bytes_without"]
            / PAPER_TECHNIQUE_FACTORS["progressive quantization"])
    return marks


def _read(stage: Path, name: str) -> dict | None:
    path = stage / name
    return json.loads(path.read_text()) if path.is_file() else None


def _titled(model: str) -> str:
    return {"gpt2-small": "GPT-2 Small", "gpt2-medium": "GPT-2 Medium",
            "bert-base": "BERT-Base", "bert-large": "BERT-Large"}.get(model, model)


def _simulated(steps: list[Mapping] | None) -> list[Mapping] | None:
    """A breakdown without its software baseline step (no DRAM bytes)."""
    return None if steps is None else [s for s in steps if s["dram_bytes"] is not None]


def load_traces(stage: Path) -> list[TraceFigures]:
    """The traces of this run's SpAtten sections, from the JSON files in ``stage``: each trace
    of ``spatten_traces.json`` (its breakdown and sweep where that section computed them, else
    the public GPT-2 Small ones of ``baselines.json``), then the project's own trace of
    ``spatten_own.json``. A file that is missing contributes nothing."""
    traces = _read(stage, "spatten_traces.json") or {}
    baselines = _read(stage, "baselines.json") or {}
    out = []
    for model, result in traces.items():
        dense = bool(result["paper"]["dense_baseline"])
        mode = result["shape"]["mode"]
        kind = ("public dense trace (baseline)" if dense
                else "public trace" if model.startswith("gpt2") else "default run")
        breakdown = result.get("speedup_breakdown")
        sweep = result.get("topk_sweep")
        if model == "gpt2-small" and not dense:
            breakdown = breakdown or baselines.get("speedup_breakdown")
            sweep = sweep or baselines.get("topk_sweep")
        out.append(TraceFigures(model, f"{_titled(model)}, {kind}", mode, dense, result,
                                _simulated(breakdown), sweep))
    own = _read(stage, "spatten_own.json")
    if own is not None:
        result = own["simulation"]
        out.append(TraceFigures(
            "gpt2-small-sparsa", f"{_titled(result['model'])}, the project's trace",
            result["shape"]["mode"], bool(result["paper"]["dense_baseline"]), result,
            _simulated(own.get("speedup_breakdown")), own.get("topk_sweep")))
    return out


def _breakdown_panel(trace: TraceFigures) -> BreakdownPanel:
    steps = trace.breakdown[1:]
    generation = trace.mode != SUMMARIZATION
    return BreakdownPanel(
        trace.title, tuple(s["step"] for s in steps), tuple(s["factor"] for s in steps),
        math.prod(s["factor"] for s in steps),
        paper=dict(PAPER_FIG20_FACTORS) if generation else {},
        paper_total=PAPER_FIG20_TOTAL if generation else None)


def _dram_panel(trace: TraceFigures) -> DramPanel:
    dram = trace.result["dram"]
    chain = dram["chain"]
    stages = list(DRAM_STAGES)
    if trace.mode == SUMMARIZATION:
        stages[-1] = "+ static quantization"
    moved = (chain[0]["bytes_without"], *(link["bytes_with"] for link in chain))
    if trace.dense_baseline:
        return DramPanel(trace.title, tuple(stages), moved)
    marks = paper_dram_marks(chain, trace.mode)
    return DramPanel(trace.title, tuple(stages), moved,
                     paper={s: v for s, v in marks.items() if s in stages},
                     paper_line=dram["fp32_baseline_bytes"] / PAPER_DRAM_REDUCTION)


def _paper_fig20() -> str:
    steps = ", ".join(f"{v:g}x {k.removeprefix('+ ')}" for k, v in PAPER_FIG20_FACTORS.items())
    return f"{steps}; {PAPER_FIG20_TOTAL:.1f}x in all"


def _paper_fig19a() -> str:
    return ", ".join(f"{g:g} at {c}" for c, g in PAPER_FIG19A_GOPS.items())


def spatten_figures_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Draw the four figures from the SpAtten results in ``stage`` (:func:`load_traces`), write
    them next to ``report.md`` (:data:`FIGURES`) and return the section linking them."""
    traces = load_traces(stage)
    if not traces:
        return ("## SpAtten figures: the paper's evaluation\n\nNot run: no SpAtten results in "
                "this report (the SpAtten sections did not run).\n")
    say("drawing the SpAtten figures")
    blocks: list[str] = []
    with_breakdown = [t for t in traces if t.breakdown and not t.dense_baseline]
    if with_breakdown:
        write_png(breakdown_figure(
            [_breakdown_panel(t) for t in with_breakdown],
            title="Speedup of each SpAtten technique (style of the paper's Fig. 20)"),
            stage / FIGURES["breakdown"])
        blocks.append(
            f"![speedup breakdown by technique]({FIGURES['breakdown']})\n\n"
            "*Speedup breakdown:* each bar is one step's speedup (time before it over time "
            "after it) as the techniques are added to the dedicated datapath on "
            f"`{SPATTEN_TARGET}`, the last bar all of them together; red diamonds are the "
            f"paper's Fig. 20 factors for GPT-2 (quoted: {_paper_fig20()}; GPT-2 panels only)"
            + "".join(f"; no panel for {t.title}: "
                      + ("a dense baseline has no technique to add" if t.dense_baseline
                         else "not computed in quick mode")
                      for t in traces if t not in with_breakdown)
            + ".\n")
    with_sweep = [t for t in traces if t.sweep]
    if with_sweep:
        write_png(topk_sweep_figure(
            {t.title: ([p["comparators"] for p in t.sweep], [p["gops"] for p in t.sweep])
             for t in with_sweep},
            title="Throughput against top-k parallelism (style of the paper's Fig. 19a)",
            paper=PAPER_FIG19A_GOPS), stage / FIGURES["topk"])
        left = [t.title for t in traces if t not in with_sweep]
        swept = [p["comparators"] for t in with_sweep for p in t.sweep]
        blocks.append(
            f"![throughput against top-k comparators]({FIGURES['topk']})\n\n"
            "*Top-k parallelism:* simulated GOP/s with local-V top-k engines of "
            f"{min(swept)} to {max(swept)} comparators per array (the lanes stay the "
            "target's); the dashed red line is the paper's Fig. 19a "
            f"(quoted: {_paper_fig19a()} GFLOPS on one GPT-2 application)"
            + ("" if not left else f"; not swept here: {', '.join(left)}"
               + (" (quick mode)" if quick else "")) + ".\n")
    write_png(dram_figure([_dram_panel(t) for t in traces],
                          title="DRAM traffic as SpAtten's techniques are added"),
              stage / FIGURES["dram"])
    blocks.append(
        f"![DRAM traffic by technique]({FIGURES['dram']})\n\n"
        "*DRAM traffic by technique:* bytes moved (whole DRAM bursts) from the dense FP32 "
        "baseline as each technique is added (the simulator's attribution chain), with each "
        "step's reduction; red diamonds put the paper's reductions on the bar before them "
        f"(quoted: {PAPER_TECHNIQUE_FACTORS['head pruning']}x head, "
        f"{PAPER_TECHNIQUE_FACTORS['token + local V pruning']}x token + local V on GPT-2 and "
        f"{PAPER_TOKEN_V_AVERAGE}x averaged over all 30 benchmarks for BERT, "
        f"{PAPER_TECHNIQUE_FACTORS['progressive quantization']}x progressive quantization), "
        f"the dashed line its {PAPER_DRAM_REDUCTION}x average; none on the dense baseline.\n")
    write_png(energy_figure(
        {t.title: energy_components(t.result["energy_j"]) for t in traces},
        title=f"Energy by component on {SPATTEN_TARGET}", paper=PAPER_POWER_W,
        paper_total_w=PAPER_POWER_TOTAL_W),
        stage / FIGURES["energy"])
    blocks.append(
        f"![energy by component]({FIGURES['energy']})\n\n"
        "*Energy by component:* each trace's simulated energy split by component (per-action "
        "energies of the target file times counts; total above each bar), beside the paper's "
        "power breakdown (quoted, Table II: "
        + ", ".join(f"{w} W {name}" for name, w in PAPER_POWER_W.items())
        + f" of {PAPER_POWER_TOTAL_W:.2f} W; its logic also holds the softmax and "
        "fetcher, which this simulator does not charge).\n")
    names = ", ".join(t.title for t in traces)
    return f"""## SpAtten figures: the paper's evaluation

Drawn from this run's simulator results (`spatten_traces.json`, `spatten_own.json`,
`baselines.json` in this folder) for {names}; the paper's figures appear only as labelled
markers and dashed lines.{" Quick mode: breakdowns and sweeps only where the sections above"
    " computed them." if quick else ""}

{chr(10).join(blocks)}"""
