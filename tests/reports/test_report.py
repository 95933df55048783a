"""The main job's report: every file written, nothing half-written on failure."""

import json
import shutil

import pytest

import sparsa.reports.topk_report as topk_report
from sparsa.reports.headline_report import headline_section
from sparsa.reports.main_report import REPORT_MARKER, build_report, check_report_dir
from sparsa.reports.spatten_figures import FIGURES
from sparsa.sim.studies.topk_bench import DEFAULT_COMPARATORS, DEFAULT_K_FRACTIONS, DEFAULT_SIZES


def test_quick_report_writes_every_file(tmp_path):
    out = tmp_path / "report"
    md = build_report(out, quick=True)
    assert md == out / "report.md"
    assert (out / REPORT_MARKER).is_file()  # a report sparsa may replace next time
    page = (out / "report.html").read_text()
    assert page.count("<h2>") == md.read_text().count("\n## ")
    assert "data:image/png;base64," in page and "<table>" in page
    text = md.read_text()
    assert text.count("Lint: clean") == 3
    assert "| 1024 | 512 | 16 |" in text
    assert f"{topk_report.QUICK_TRIALS} seeded random requests per point" in text
    points = json.loads((out / "topk_bench.json").read_text())
    assert len(points) == len(DEFAULT_SIZES) * len(DEFAULT_K_FRACTIONS) * len(DEFAULT_COMPARATORS)
    assert (out / "topk_cycles.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("topk", "sat_array"):
        for suffix in (".v", ".json", ".vlt"):
            assert (out / "verilog" / f"{name}{suffix}").is_file()
    assert "## SAT PE array" in text
    assert "## The SAT accelerator as a system" in text
    system = json.loads((out / "sat_system.json").read_text())
    assert not system["failures"] and system["gemms"] and not system["layers"]  # quick
    assert all(g["rtl"] == g["model"] for g in system["gemms"])
    assert (out / "verilog" / "sat_accelerator.md").is_file()
    assert "## Synthesis and timing" in text
    if shutil.which("yosys") is not None:  # quick: the 2 x 2 array, synthesised and routed
        (design,) = json.loads((out / "synthesis.json").read_text())["designs"]
        assert design["resources"]["dsp"] == 4 and design["depth"]["levels"] > 1
        assert design["ecp5"]["fmax_mhz"] > 0 and f"{design['ecp5']['fmax_mhz']} MHz" in text
    else:
        assert "Not run: sparsa synth needs Yosys" in text
    assert "## SAT training at network scale" in text
    assert "## SpAtten on the public GPT-2 traces" in text
    assert json.loads((out / "spatten_traces.json").read_text())["gpt2-small"]["shape"]["rows"] \
        == 4608
    assert len(json.loads((out / "sat_bench.json").read_text())) == 12  # 2 dataflows x 6
    assert "## Software baselines against the accelerators" in text
    baselines = json.loads((out / "baselines.json").read_text())
    # quick: GPT-2 Small against both public traces, ResNet-18 against SAT dense and 2:8
    assert [(c["workload"].split()[0], c["accelerator"].split(" (")[0])
            for c in baselines["comparisons"]] == [
        ("gpt2-small", "SpAtten"), ("gpt2-small", "SpAtten datapath, dense trace"),
        ("resnet18", "SAT dense"), ("resnet18", "SAT 2:8")]
    for c in baselines["comparisons"]:
        assert c["speedup"] == c["software_s"] / c["accelerator_s"] > 0
    assert baselines["speedup_breakdown"][0]["step"] == "PyTorch on this CPU (measured)"
    assert "## SpAtten on the project's own trace and accuracy" in text
    own = json.loads((out / "spatten_own.json").read_text())
    assert own["run"]["kept_keys_first"][0] == 128  # quick: 128-token prompt, first layer whole
    assert (out / "traces" / "gpt2-small-sparsa.csv").is_file()
    figures = text[text.index("## SpAtten figures"):text.index("## BDWP accuracy")]
    for name in FIGURES.values():  # quick: the breakdowns and sweeps the sections computed
        assert f"]({name})" in figures and (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "GPT-2 Small, the project's trace" in figures
    assert "## BDWP accuracy (SAT's training method)" in text
    assert "## Verilog and RTL verification" in text and "FAILED" not in text
    assert json.loads((out / "verification.json").read_text())
    assert json.loads((out / "bdwp_accuracy.json").read_text())["paper_comparison"] is not None
    headlines = text[text.index("## Headline figures"):]
    assert headlines.count("not run") == 0
    assert "| SpAtten speedup over a GPU |" in headlines and "not measured" in headlines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_failed_report_leaves_the_old_one_and_no_temporary_files(tmp_path, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("previous")
    (out / REPORT_MARKER).write_text("a previous report")

    def broken_sweep(**_kwargs):
        raise RuntimeError("sweep failed")

    monkeypatch.setattr(topk_report, "sweep", broken_sweep)
    with pytest.raises(RuntimeError, match="sweep failed"):
        build_report(out, quick=True)
    assert (out / "report.md").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_report_may_replace_only_a_report_or_an_empty_folder(tmp_path):
    check_report_dir(tmp_path / "new" / "report")  # parents made later
    (tmp_path / "empty").mkdir()
    check_report_dir(tmp_path / "empty")
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "report.md").write_text("old")
    with pytest.raises(ValueError, match="is not a previous sparsa report"):
        check_report_dir(previous)
    check_report_dir(previous, force=True)
    (previous / REPORT_MARKER).write_text("")
    check_report_dir(previous)


def test_headlines_without_results_say_not_run(tmp_path):
    text = headline_section(tmp_path)
    assert text.count("not run") == 5  # top-k, traces, refetch, SAT, BDWP; no baseline rows
    assert "| top-k quick-select latency" in text
