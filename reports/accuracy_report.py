"""Report section: the BDWP accuracy experiment (dense, SR-STE and BDWP at N:M, over seeds)."""

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from sparsa.models.experiments.bdwp_accuracy import PRECISIONS, run_bdwp_accuracy
from sparsa.reports.png import write_png

__all__ = ["ACCURACY_FIGURE", "accuracy_figure", "bdwp_accuracy_section"]

ACCURACY_FIGURE = "bdwp_accuracy.png"
"""The BDWP accuracy figure's file in the report folder."""


def accuracy_figure(rows: Sequence[Mapping], *, title: str) -> Figure:
    """One panel per model: each (method, pattern, precision)'s held-out top-1, the mean as a
    bar, its sample standard deviation as an error bar and every seed as a dot (``rows``: the
    ``rows`` of :meth:`BDWPAccuracyResult.to_dict`)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig = Figure(figsize=(5.2 * len(models), 3.4))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    low = min(min(r["top1"]) for r in rows)
    for ax, model in zip(axes, models, strict=True):
        mine = [r for r in rows if r["model"] == model]
        labels = [f"{r['method']} {r['pattern'] or ''} {r['precision']}".replace("  ", " ")
                  for r in mine]
        colors = ["tab:grey" if r["method"] == "dense" else
                  "tab:orange" if r["method"] == "srste" else "tab:blue" for r in mine]
        ax.bar(range(len(mine)), [r["mean"] for r in mine], color=colors,
               yerr=[r["std"] or 0 for r in mine], capsize=3)
        for i, r in enumerate(mine):
            ax.scatter([i] * len(r["top1"]), r["top1"], s=8, color="black", zorder=3)
        ax.set_xticks(range(len(mine)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(max(0.0, low - 5), 100)
        ax.set_ylabel("held-out top-1 (%)")
        ax.set_title(model)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def bdwp_accuracy_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Train and evaluate the BDWP experiment
    (:func:`sparsa.models.experiments.bdwp_accuracy.run_bdwp_accuracy`, its quick preset when
    ``quick``, in fp32 and bf16 mixed precision), write ``bdwp_accuracy.json`` and return the
    section."""
    say(f"training the BDWP accuracy experiment ({'quick' if quick else 'full'}: dense, SR-STE "
        "and BDWP on the digits set, fp32 and bf16)")
    result = run_bdwp_accuracy(quick=quick, precisions=PRECISIONS)
    data = result.to_dict()
    (stage / "bdwp_accuracy.json").write_text(json.dumps(data, indent=2) + "\n")
    note = ("Quick mode trains 4 epochs with one seed: a smoke check of the machinery, not a "
            "comparison of the methods.\n\n" if quick else "")
    seeds = len(data["seeds"])
    write_png(accuracy_figure(data["rows"], title=(
        "BDWP accuracy, QUICK MODE: one seed, a smoke check only" if quick else
        f"BDWP accuracy on the digits set: mean of {seeds} seeds, std as error bars, "
        "each seed a dot")), stage / ACCURACY_FIGURE)
    return f"""## BDWP accuracy (SAT's training method)

`sparsa.models.experiments.bdwp_accuracy.run_bdwp_accuracy(quick={quick}, precisions={PRECISIONS})`:
a small CNN and a ResNet-8 trained from scratch on scikit-learn's bundled 8 x 8 digits (no
download), dense, SR-STE and BDWP at 2:4, 2:8 and 1:4, held-out top-1 over seeds; after training
the deployed forward weights are checked to be exactly N:M. Every case trains in FP32; dense and
BDWP at 2:8 also train in bf16 mixed precision (FP32 master weights, bfloat16 GEMMs), shown in the
bf16 columns beside FP32. The digits set is easy (dense reaches about 99%), so differences of a
few tenths of a point are within the seed-to-seed spread.

{note}{result.to_markdown()}

![BDWP accuracy]({ACCURACY_FIGURE})

*Accuracy:* each bar is the mean held-out top-1 of one method, pattern and precision over the
seeds, the error bar its standard deviation and each dot one seed, from the table above.
"""
