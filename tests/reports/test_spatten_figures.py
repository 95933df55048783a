"""SpAtten figures (:mod:`sparsa.reports.spatten_figures`): the bars are the data, the files
are PNGs, and the section links every figure it writes."""

import json
import math
import re
from dataclasses import asdict

import pytest

import sparsa.reports.spatten_figures as figures
from sparsa.dataflow.spatten_workloads import SUMMARIZATION, public_traces, read_model_trace
from sparsa.reports.png import write_png
from sparsa.reports.spatten_figures import (
    ALL_TECHNIQUES,
    FIGURES,
    PAPER_POWER_W,
    BreakdownPanel,
    DramPanel,
    breakdown_figure,
    dram_figure,
    energy_components,
    energy_figure,
    load_traces,
    paper_dram_marks,
    spatten_figures_section,
    topk_sweep_figure,
)
from sparsa.sim.network.spatten import PAPER_TECHNIQUE_FACTORS, simulate
from sparsa.sim.network.target import load_target
from sparsa.sim.studies.spatten_study import (
    PAPER_FIG19A_GOPS,
    PAPER_FIG20_FACTORS,
    PAPER_FIG20_TOTAL,
    speedup_breakdown,
    topk_sweep,
)

ASIC = load_target("spatten-asic")
PNG = b"\x89PNG\r\n\x1a\n"


def _tops(ax) -> list[float]:
    return [p.get_y() + p.get_height() for p in ax.patches]


def test_breakdown_bars_are_the_factors_and_the_total(tmp_path):
    gpt2 = BreakdownPanel("gpt2", ("+ head pruning", "+ serial", "+ parallel top-k"),
                          (1.0, 0.25, 4.0), 1.0, paper=PAPER_FIG20_FACTORS,
                          paper_total=PAPER_FIG20_TOTAL)
    bert = BreakdownPanel("bert", ("+ token pruning", "+ static quantization"), (1.5, 2.0), 3.0)
    fig = breakdown_figure([gpt2, bert], title="t")
    ax_gpt2, ax_bert = fig.axes[:2]
    assert _tops(ax_gpt2) == pytest.approx([1.0, 0.25, 4.0, 1.0])
    assert _tops(ax_bert) == pytest.approx([1.5, 2.0, 3.0])
    # bars stand on 1x: the slowdown hangs down
    assert ax_gpt2.patches[1].get_y() == 1.0 and ax_gpt2.patches[1].get_height() < 0
    # the paper's markers: head pruning (x 0), parallel top-k (x 2), all techniques (x 3)
    (marks,) = [line for line in ax_gpt2.lines if line.get_marker() == "D"]
    assert list(marks.get_xdata()) == [0, 2, 3]
    assert list(marks.get_ydata()) == [1.1, 3.0, PAPER_FIG20_TOTAL]
    assert not [line for line in ax_bert.lines if line.get_marker() == "D"]
    labels = [t.get_text() for t in ax_gpt2.get_xticklabels()]
    assert labels == ["head pruning", "serial", "parallel top-k", ALL_TECHNIQUES]
    assert ax_gpt2.get_yscale() == "log" and "speedup" in ax_gpt2.get_ylabel()
    path = write_png(fig, tmp_path / "b.png")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"]  # no temporary left
    with pytest.raises(ValueError, match="2 steps but 1 factors"):
        breakdown_figure([BreakdownPanel("x", ("a", "b"), (1.0,), 1.0)], title="t")
    with pytest.raises(ValueError, match="at least one panel"):
        breakdown_figure([], title="t")


def test_topk_sweep_lines_are_the_gops_and_the_paper_dashed():
    series = {"a": ((1, 2, 4), (10.0, 20.0, 25.0)), "b": ((1, 2, 4), (5.0, 6.0, 7.0))}
    fig = topk_sweep_figure(series, title="t", paper=PAPER_FIG19A_GOPS)
    (ax,) = fig.axes
    a, b, paper = ax.lines
    assert list(a.get_ydata()) == [10.0, 20.0, 25.0] and list(b.get_xdata()) == [1, 2, 4]
    assert list(paper.get_xdata()) == list(PAPER_FIG19A_GOPS)
    assert list(paper.get_ydata()) == list(PAPER_FIG19A_GOPS.values())
    assert paper.get_linestyle() == "--" and paper.get_label().startswith("paper, Fig. 19a")
    assert "GOP/s" in ax.get_ylabel() and "comparators" in ax.get_xlabel()
    assert len(topk_sweep_figure(series, title="t").axes[0].lines) == 2  # no paper line


def test_dram_bars_are_megabytes_with_the_paper_marks():
    panel = DramPanel("p", ("dense FP32", "+ head pruning", "+ token pruning"),
                      (8_000_000, 4_000_000, 1_000_000), paper={"+ head pruning": 7e6},
                      paper_line=8e5)
    dense = DramPanel("d", ("dense FP32", "+ head pruning"), (2_000_000, 2_000_000))
    fig = dram_figure([panel, dense], title="t")
    ax, ax_dense = fig.axes[:2]
    assert [p.get_height() for p in ax.patches] == pytest.approx([8.0, 4.0, 1.0])
    assert [p.get_height() for p in ax_dense.patches] == pytest.approx([2.0, 2.0])
    (marks,) = [line for line in ax.lines if line.get_marker() == "D"]
    assert (list(marks.get_xdata()), list(marks.get_ydata())) == ([1], [7.0])
    (line,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert list(line.get_ydata()) == [0.8, 0.8]
    assert not ax_dense.lines  # a dense baseline: no paper figures
    assert "MB" in ax.get_ylabel()
    texts = [t.get_text() for t in ax.texts]
    assert texts[1].endswith("÷2.00") and texts[2].endswith("÷4.00")


def test_energy_components_group_the_actions():
    energy = {"dram_read_bit": 3.0, "dram_write_bit": 1.0, "sram_read_bit": 2.0,
              "sram_write_bit": 0.5, "mac_int12": 1.5, "topk_element": 0.25, "static": 0.0,
              "sore_group": 0.0, "total": 8.25}
    assert energy_components(energy) == {"DRAM": 4.0, "SRAM and FIFOs": 2.5,
                                         "multipliers": 1.5, "top-k engines": 0.25}
    assert energy_components({"wu_element": 1.0, "total": 1.0}) == {"other": 1.0}
    with pytest.raises(ValueError, match="not the total"):
        energy_components({**energy, "total": 9.0})


def test_energy_bars_are_shares_stacked_by_component():
    bars = {"a": {"DRAM": 3.0, "SRAM and FIFOs": 1.0}, "b": {"DRAM": 1.0, "top-k engines": 1.0}}
    fig = energy_figure(bars, title="t", paper=PAPER_POWER_W, paper_total_w=8.30)
    (ax,) = fig.axes
    total_w = sum(PAPER_POWER_W.values())
    # component by component (DRAM, SRAM, top-k, logic), bar by bar (a, b, paper)
    assert [p.get_height() for p in ax.patches] == pytest.approx([
        75.0, 50.0, 100 * PAPER_POWER_W["DRAM"] / total_w,
        25.0, 0.0, 100 * PAPER_POWER_W["SRAM and FIFOs"] / total_w,
        0.0, 50.0, 0.0,
        0.0, 0.0, 100 * PAPER_POWER_W["computation logic"] / total_w])
    assert [p.get_y() for p in ax.patches[3:6]] == pytest.approx(
        [75.0, 50.0, 100 * PAPER_POWER_W["DRAM"] / total_w])
    assert ax.patches[2].get_hatch() == "//" and ax.patches[0].get_hatch() is None
    assert [t.get_text() for t in ax.texts] == ["4e+03 mJ", "2e+03 mJ", "8.30 W"]
    assert "%" in ax.get_ylabel()


def test_paper_dram_marks_apply_the_papers_factors():
    chain = [{"technique": t, "bytes_without": w, "bytes_with": b} for t, w, b in (
        ("head pruning", 1100, 1000), ("token pruning", 1000, 500),
        ("local V pruning", 500, 400), ("progressive quantization", 400, 100))]
    marks = paper_dram_marks(chain, "generation")
    assert marks == pytest.approx({
        "+ head pruning": 1100 / 1.1,
        "+ local V pruning": 1000 / PAPER_TECHNIQUE_FACTORS["token + local V pruning"],
        "+ progressive quantization": 400 / 5.1})
    summary = paper_dram_marks(chain, SUMMARIZATION)
    assert set(summary) == {"+ head pruning", "+ local V pruning"}
    assert summary["+ local V pruning"] == pytest.approx(1000 / 1.9)


@pytest.fixture(scope="module")
def stage_data():
    """JSON files as the SpAtten sections write them: the public GPT-2 Small trace with its
    breakdown and sweep, the dense GPT-2 Medium trace without, and a baselines.json breakdown
    (with its measured software step) for the project's trace stand-in."""
    small = read_model_trace(public_traces("gpt2-small")[0], "gpt2-small")
    medium = read_model_trace(public_traces("gpt2-medium")[0], "gpt2-medium")
    breakdown = speedup_breakdown(small, ASIC)
    with_software = speedup_breakdown(small, ASIC, baseline=("PyTorch (measured)", 1.0))
    sweep = topk_sweep(small, ASIC)
    small_dict = simulate(small, ASIC).to_dict()
    traces = {
        "gpt2-small": {**small_dict, "speedup_breakdown": [asdict(s) for s in breakdown],
                       "topk_sweep": [asdict(p) for p in sweep]},
        "gpt2-medium": simulate(medium, ASIC).to_dict(),
    }
    own = {"simulation": small_dict,
           "speedup_breakdown": [asdict(s) for s in with_software],
           "topk_sweep": [asdict(p) for p in sweep]}
    return traces, own


def test_section_links_every_figure_it_writes(tmp_path, monkeypatch, stage_data):
    traces, own = stage_data
    (tmp_path / "spatten_traces.json").write_text(json.dumps(traces))
    (tmp_path / "spatten_own.json").write_text(json.dumps(own))
    drawn = {}
    real_write = figures.write_png

    def capture(fig, path):
        drawn[path.name] = fig
        return real_write(fig, path)

    monkeypatch.setattr(figures, "write_png", capture)
    text = spatten_figures_section(tmp_path, quick=False, say=lambda _m: None)
    assert text.startswith("## SpAtten figures")
    linked = re.findall(r"!\[[^]]+\]\(([^)]+\.png)\)", text)
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert sorted(linked) == written == sorted(FIGURES.values())
    for name in written:
        assert (tmp_path / name).read_bytes()[:8] == PNG
        caption = text[text.index(f"({name})"):].split("\n\n")[1]
        assert caption.startswith("*") and "\n" not in caption.strip()  # one line each
    assert "quoted" in text and "no panel for GPT-2 Medium" in text

    # the bars are this run's results: the breakdown's factors (datapath step left out) ...
    steps = traces["gpt2-small"]["speedup_breakdown"][1:]
    small_ax, own_ax = drawn[FIGURES["breakdown"]].axes[:2]
    factors = [s["factor"] for s in steps]
    assert _tops(small_ax) == pytest.approx([*factors, math.prod(factors)])
    # ... and the software step of baselines-style records is left out the same way
    assert _tops(own_ax) == pytest.approx(_tops(small_ax))
    # the sweep's GOP/s, the chain's bytes, the energy shares
    sweep_ax = drawn[FIGURES["topk"]].axes[0]
    assert list(sweep_ax.lines[0].get_ydata()) == [p["gops"] for p in
                                                    traces["gpt2-small"]["topk_sweep"]]
    dram_axes = drawn[FIGURES["dram"]].axes
    chain = traces["gpt2-medium"]["dram"]["chain"]
    assert [p.get_height() for p in dram_axes[1].patches] == pytest.approx(
        [chain[0]["bytes_without"] / 1e6, *(c["bytes_with"] / 1e6 for c in chain)])
    energy_ax = drawn[FIGURES["energy"]].axes[0]
    dram_share = [p.get_height() for p in energy_ax.patches[:4]]
    energy = traces["gpt2-small"]["energy_j"]
    assert dram_share[0] == pytest.approx(
        100 * (energy["dram_read_bit"] + energy["dram_write_bit"]) / energy["total"])


def test_section_uses_the_baselines_breakdown_in_quick_mode(tmp_path, stage_data):
    traces, own = stage_data
    quick = {model: {k: v for k, v in result.items()
                     if k not in ("speedup_breakdown", "topk_sweep")}
             for model, result in traces.items()}
    (tmp_path / "spatten_traces.json").write_text(json.dumps(quick))
    (tmp_path / "baselines.json").write_text(json.dumps(
        {"speedup_breakdown": own["speedup_breakdown"], "topk_sweep": own["topk_sweep"]}))
    loaded = load_traces(tmp_path)
    assert [t.key for t in loaded] == ["gpt2-small", "gpt2-medium"]
    small, medium = loaded
    assert small.breakdown[0]["step"] == "dedicated datapath"  # software step left out
    assert medium.breakdown is None and medium.sweep is None and medium.dense_baseline
    text = spatten_figures_section(tmp_path, quick=True, say=lambda _m: None)
    assert "not swept here: GPT-2 Medium" in text and "Quick mode" in text


def test_section_without_results_says_not_run(tmp_path):
    text = spatten_figures_section(tmp_path, quick=True, say=lambda _m: None)
    assert "Not run" in text and not list(tmp_path.iterdir())
