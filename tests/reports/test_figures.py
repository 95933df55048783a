"""The report's figures draw this run's results: bars, dots and lines are the data's numbers."""

import json

from matplotlib.collections import PathCollection

from sparsa.reports.accuracy_report import accuracy_figure
from sparsa.reports.baseline_report import Comparison, baseline_figure
from sparsa.reports.network_report import sat_training_section
from sparsa.reports.sat_figures import (
    SAT_FIGURES,
    ablation_figure,
    breakdown_figure,
    speedup_figure,
)
from sparsa.reports.spatten_report import accuracy_figure as spatten_accuracy_figure


def test_the_figures_draw_the_simulated_results(tmp_path):
    section = sat_training_section(tmp_path, say=lambda _msg: None)
    data = json.loads((tmp_path / "sat_training.json").read_text())
    for name in SAT_FIGURES.values():
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG" and f"]({name})" in section
    sparse = [r for r in data["speedups"] if r["pattern"] != "dense"]
    ax = speedup_figure(data["speedups"]).axes[0]
    heights = sorted(round(p.get_height(), 9) for p in ax.patches)
    assert heights == sorted(round(r["speedup"], 9) for r in sparse)
    ax = ablation_figure(data["ablation"]).axes[0]
    assert [p.get_width() for p in ax.patches] == [r["speedup_over_dense"]
                                                   for r in data["ablation"]]
    traffic, energy = breakdown_figure(data["iteration"]).axes
    for label_index, run in enumerate(data["iteration"].values()):
        stacked = sum(p.get_height() for p in traffic.patches
                      if round(p.get_x() + p.get_width() / 2) == label_index)
        total = sum(sum(v.values()) for v in run["traffic"].values())
        assert abs(stacked - total * 1e-9) < 1e-9 * total
        stacked = sum(p.get_height() for p in energy.patches
                      if round(p.get_x() + p.get_width() / 2) == label_index)
        assert abs(stacked - run["energy_j"]["total"]) < 1e-6 * run["energy_j"]["total"]


def test_the_accuracy_figure_draws_means_spreads_and_every_seed():
    rows = [{"model": "m", "method": "dense", "pattern": None, "precision": "fp32",
             "top1": [97.0, 98.0, 99.0], "mean": 98.0, "std": 1.0},
            {"model": "m", "method": "bdwp", "pattern": "2:8", "precision": "bf16",
             "top1": [90.0], "mean": 90.0, "std": None}]
    ax = accuracy_figure(rows, title="t").axes[0]
    assert [p.get_height() for p in ax.patches] == [98.0, 90.0]
    dots = sorted(float(y) for c in ax.collections if isinstance(c, PathCollection)
                  for _, y in c.get_offsets())
    assert dots == [90.0, 97.0, 98.0, 99.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["dense fp32", "bdwp 2:8 bf16"]


def test_the_spatten_accuracy_figure_draws_each_sweep():
    def point(sweep, accuracy, keys, values=1.0, bits=8):
        return {"sweep": sweep, "accuracy": accuracy, "key_fraction": keys,
                "value_fraction": values, "msb_bits": bits}

    data = {"baseline_accuracy": 0.9, "points": [
        point("token", 0.8, 0.5), point("token", 0.85, 0.7), point("value", 0.7, 1.0, 0.4),
        point("quantization", 0.88, 1.0, bits=6), point("quantization", 0.9, 1.0, bits=4)]}
    fetched, widths = spatten_accuracy_figure(data).axes
    lines = {line.get_label(): line for line in fetched.lines}
    assert list(lines["token"].get_xdata()) == [0.5, 0.7]
    assert list(lines["token"].get_ydata()) == [80.0, 85.0]
    assert list(lines["value (V rows)"].get_xdata()) == [0.4]
    quant = next(line for line in widths.lines if line.get_label() == "quantization")
    assert list(quant.get_xdata()) == [4, 6] and list(quant.get_ydata()) == [90.0, 88.0]
    assert all(line.get_ydata()[0] == 90.0 for ax in (fetched, widths) for line in ax.lines
               if line.get_label() == "unpruned")


def test_the_baselines_figure_sets_each_software_time_beside_its_accelerators():
    rows = [Comparison("w1", "SpAtten (`a.csv`)", 0.5, 0.01, 3, 10.0, 0.002, 0.001),
            Comparison("w2", "SAT dense", 5.0, 0.0, 1, 100.0, 0.4, 1.0),
            Comparison("w2", "SAT 2:8", 5.0, 0.0, 1, 100.0, 0.2, 1.0)]
    ax = baseline_figure(rows).axes[0]
    assert [round(p.get_height(), 9) for p in ax.patches] == [500.0, 2.0, 5000.0, 400.0, 200.0]
    assert [t.get_text() for t in ax.texts] == ["250x", "12.5x", "25x"]
