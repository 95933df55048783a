"""Report section: SAT training at network scale as figures (issue 14).

Three figures, drawn from ``sat_training.json``, which :func:`sparsa.reports.network_report.
sat_training_section` writes from this run's simulations, never from numbers written here:

* ``sat_speedups.png``: each network's speedup over its dense iteration at each N:M pattern
  (bars) against its bound (black ticks: FF and BP of the sparse layers scaled by N / M);
* ``sat_ablation.png``: the ablation of the dataflow techniques, the speedup over the dense
  iteration with each technique off;
* ``sat_breakdown.png``: one iteration's DRAM bytes by tensor class and energy by action, dense
  against sparse, stacked.

Each figure function returns the :class:`matplotlib.figure.Figure` it drew, so the bars can be
checked against the data.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from sparsa.reports.png import write_png

__all__ = ["SAT_FIGURES", "ablation_figure", "breakdown_figure", "sat_figures_section",
           "speedup_figure"]

SAT_FIGURES = {
    "speedups": "sat_speedups.png",
    "ablation": "sat_ablation.png",
    "breakdown": "sat_breakdown.png",
}
"""Figure name to its file in the report folder."""


def speedup_figure(rows: Sequence[Mapping]) -> Figure:
    """Bars of each model's speedup at each sparse pattern, its bound as a black tick
    (``rows``: :class:`sparsa.sim.studies.sat_study.SpeedupRow` records, dense ones included)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    patterns = list(dict.fromkeys(r["pattern"] for r in rows if r["pattern"] != "dense"))
    fig = Figure(figsize=(2.4 + 1.4 * len(models), 3.4))
    ax = fig.subplots()
    width = 0.8 / max(1, len(patterns))
    for j, pattern in enumerate(patterns):
        xs, speedups, bounds = [], [], []
        for i, model in enumerate(models):
            row = next(r for r in rows if r["model"] == model and r["pattern"] == pattern)
            xs.append(i - 0.4 + width * (j + 0.5))
            speedups.append(row["speedup"])
            bounds.append(row["bound"])
        bars = ax.bar(xs, speedups, width * 0.9, label=pattern)
        ax.scatter(xs, bounds, marker="_", s=300, color="black", zorder=3,
                   label="bound (N / M on sparse FF and BP)" if j == 0 else None)
        for bar, value in zip(bars, speedups, strict=True):
            ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value),
                        xytext=(0, -3), textcoords="offset points", ha="center", va="top",
                        fontsize=7, color="white")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(models)), models)
    ax.set_ylim(0, 1.12 * max(max(r["speedup"], r["bound"]) for r in rows))
    ax.set_ylabel("speedup over dense (x)")
    ax.set_title("SAT training iteration: speedup by N:M pattern")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def ablation_figure(rows: Sequence[Mapping]) -> Figure:
    """Bars of the speedup over dense of each technique setting (``rows``:
    :class:`sparsa.sim.studies.sat_study.AblationRow` records)."""
    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.subplots()
    labels = [r["setting"] for r in rows]
    values = [r["speedup_over_dense"] for r in rows]
    bars = ax.barh(range(len(rows)), values, color="tab:blue")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:.3f}x", (value, bar.get_y() + bar.get_height() / 2),
                    xytext=(2, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("speedup over the dense iteration (x)")
    first = rows[0]
    ax.set_title(f"Ablation of the dataflow techniques ({first['model']}, {first['pattern']})")
    fig.tight_layout()
    return fig


def breakdown_figure(runs: Mapping[str, Mapping]) -> Figure:
    """Stacked bars of one iteration's DRAM bytes by class and energy by action, one bar per
    run (``runs``: label to ``{"traffic": {class: {"read", "write"}}, "energy_j": {action:
    joules, "total": ...}}``)."""
    fig = Figure(figsize=(11.0, 3.6))
    left, right = fig.subplots(1, 2)
    labels = list(runs)
    for ax, key, unit, scale in ((left, "traffic", "DRAM GB", 1e-9), (right, "energy_j",
                                                                     "energy (J)", 1.0)):
        parts: dict[str, list[float]] = {}
        for i, label in enumerate(labels):
            data = runs[label][key]
            for name, value in data.items():
                if name == "total":
                    continue
                amount = sum(value.values()) if isinstance(value, Mapping) else value
                parts.setdefault(name, [0.0] * len(labels))[i] = amount * scale
        bottoms = [0.0] * len(labels)
        for name, values in parts.items():
            if not any(values):
                continue
            ax.bar(labels, values, bottom=bottoms, label=name, width=0.5)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        for i, total in enumerate(bottoms):
            ax.annotate(f"{total:.3g}", (i, total), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=7)
        ax.set_ylabel(unit)
        ax.set_ylim(0, 1.1 * max(bottoms))
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    left.set_title("DRAM bytes by tensor class")
    right.set_title("energy by action")
    fig.tight_layout()
    return fig


def sat_figures_section(stage: Path) -> str:
    """Draw the three figures from ``stage/sat_training.json`` into ``stage`` and return the
    section linking them (a line saying they were not drawn, when the file is missing)."""
    source = stage / "sat_training.json"
    if not source.is_file():
        return "### SAT figures\n\nNot run: no SAT training results in this report.\n"
    data = json.loads(source.read_text())
    write_png(speedup_figure(data["speedups"]), stage / SAT_FIGURES["speedups"])
    write_png(ablation_figure(data["ablation"]), stage / SAT_FIGURES["ablation"])
    write_png(breakdown_figure(data["iteration"]), stage / SAT_FIGURES["breakdown"])
    model = data["ablation"][0]["model"]
    return f"""### SAT figures

![SAT speedup by pattern]({SAT_FIGURES['speedups']})

*Speedup by pattern:* each network's training iteration at each N:M pattern over its dense
iteration on the same array (bars, values in them) and the bound (black ticks), from the
table above.

![ablation of the dataflow techniques]({SAT_FIGURES['ablation']})

*Ablation:* the {model} iteration's speedup over dense with each technique off, from the table
above.

![DRAM traffic and energy]({SAT_FIGURES['breakdown']})

*Breakdown:* one {model} iteration's DRAM bytes by tensor class (read and written together)
and energy by action, dense against sparse, from the tables above.
"""
