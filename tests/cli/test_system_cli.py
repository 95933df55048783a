"""``sparsa verilog sat-accelerator`` and ``sparsa run sat``."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[[list[str]], tuple[int, str, str]]  # the cli fixture (conftest.py)
SMALL = ["--rows", "4", "--cols", "4", "--max-reduction", "64", "--data-width", "128",
         "--addr-width", "32", "--dram-bytes", "16777216", "--a-rows", "256", "--b-rows", "256",
         "--out-rows", "64", "--program-depth", "4096"]


def test_verilog_sat_accelerator_writes_verilog_sidecar_and_datasheet(
    tmp_path: Path, cli: Cli
) -> None:
    status, out, err = cli(["verilog", "sat-accelerator", *SMALL, "--dtype", "fp16",
                            "--out", str(tmp_path)])
    assert status == 0, err
    names = ["sat_accelerator.v", "sat_accelerator.json", "sat_accelerator.md"]
    assert out.splitlines() == [str(tmp_path / n) for n in names]
    sidecar = json.loads((tmp_path / "sat_accelerator.json").read_text())
    assert sidecar["config"]["array"]["dtype"] == "fp16"
    assert {r["name"] for r in sidecar["registers"]} >= {"control", "status", "cycles_lo"}
    assert sidecar["instructions"]["STORE"]["shift"] == {"lsb": 48, "width": 6}
    assert sidecar["store_modes"].keys() == {"RAW", "FP16", "BF16"}
    sheet = (tmp_path / "sat_accelerator.md").read_text()
    assert "| `0x000` | `control` | RW |" in sheet and "## Faults" in sheet
    assert "4 x 4, fp16 operands" in sheet


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--dtype", "int16"], "out_width must be an integer from the array's accumulator "
                               "width 44 to 64, not 32"),
        (["--a-rows", "1"], "a_rows must be an integer from 2 to 65535, not 1"),
        (["--data-width", "48"], "data_width must be a power of two from 32 to 1024, not 48"),
    ],
)
def test_bad_system_configs_exit_2_with_one_line(argv, named, tmp_path: Path, cli: Cli) -> None:
    status, out, err = cli(["verilog", "sat-accelerator", *argv, "--out", str(tmp_path)])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and named in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--model", "lenet"], "unknown model 'lenet'"),
        (["--model", "small-cnn", "--layers", "9"], "layers must be from 1 to 5 for small-cnn"),
        (["--model", "small-cnn", "--latency", "2"], "--latency must be at least 3, not 2"),
        (["--model", "small-cnn", "--program-depth", "4"],
         "a single tile of this GEMM does not fit program_depth = 4"),
        (["--model", "small-cnn", "--chain", "--layers", "2"], "it takes no --layers"),
        (["--model", "resnet18", "--chain"], "resnet18 ends in 1 Linear layer(s)"),
        (["--model", "small-cnn", "--chain", "--program-depth", "64"],
         "more than program_depth = 64"),
    ],
)
def test_run_sat_bad_input_exits_2(argv, named, cli: Cli) -> None:
    """One error line; a program too long for the controller (a single tile's, which no cut
    into parts shortens; a chain's) is found while compiling, after the progress line."""
    status, out, err = cli(["run", "sat", *SMALL, *argv])
    assert (status, out) == (2, "")
    *before, last = err.splitlines()
    assert last.startswith("sparsa: error: ") and named in last, err
    assert len(before) == ("program_depth" in named), err


@pytest.mark.rtl
def test_run_sat_runs_a_layer_and_the_model_predicts_it(tmp_path: Path, cli: Cli) -> None:
    report = tmp_path / "run.json"
    status, out, err = cli(["run", "sat", *SMALL, "--model", "small_cnn", "--pattern", "2:8",
                            "--layers", "1", "--batch", "1", "--json", str(report)])
    assert status == 0, out + err
    assert "every result equals the golden model" in out
    runs = json.loads(report.read_text())["runs"]
    assert [r["name"] for r in runs] == ["features.0 FF", "features.0 WU"]
    assert all(r["rtl_cycles"] == r["model_cycles"] and not r["failures"] for r in runs)
    # the network simulator plans the same programs from the shapes: the same cycles
    assert all(r["netsim_cycles"] == r["rtl_cycles"] for r in runs), runs


@pytest.mark.rtl
def test_run_sat_chains_the_classifier_in_one_program(tmp_path: Path, cli: Cli) -> None:
    report = tmp_path / "run.json"
    status, out, err = cli(["run", "sat", *SMALL, "--model", "small-cnn", "--pattern", "2:4",
                            "--chain", "--batch", "4", "--json", str(report)])
    assert status == 0, out + err
    assert "every result equals the golden model" in out
    (run,) = json.loads(report.read_text())["runs"]
    assert run["name"] == "FF classifier.0..2 chained" and run["pattern"] == "2:4/dense"
    assert run["rtl_cycles"] == run["model_cycles"] and not run["failures"]


needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None,
                                 reason="no yosys on PATH (.ci/run installs Debian's)")


@needs_yosys
def test_synth_command_prints_and_writes_the_shares(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "synth.json"
    status, text, err = cli(["synth", "sat-array", "--rows", "2", "--cols", "2",
                             "--max-reduction", "64", "--json", str(out)])
    assert status == 0, err
    result = json.loads(out.read_text())
    assert result["target"] == "vcu1525" and result["resources"]["dsp"] == 4
    assert result["shares"]["dsp"] == 4 / 6840
    assert "DSP48E2" in text and "of     6,840" in text


def test_synth_without_yosys_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                   cli: Cli) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    status, out, err = cli(["synth", "topk"])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "apt-get install yosys" in err, err


def test_synth_fit_without_yosys_exits_2_with_one_line_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli: Cli
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    status, out, err = cli(["synth", "fit", "--out", str(tmp_path / "model.json")])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "apt-get install yosys" in err, err
    assert list(tmp_path.iterdir()) == []


def test_vivado_writes_a_build_consistent_with_the_config(tmp_path: Path, cli: Cli) -> None:
    status, out, err = cli(["vivado", "sat-array", "--rows", "2", "--cols", "2",
                            "--clock-mhz", "250", "--out", str(tmp_path)])
    assert status == 0, err
    names = ["sat_array.v", "sat_array.json", "build.tcl", "sat_array.xdc"]
    assert out.splitlines() == [str(tmp_path / n) for n in names]
    tcl = (tmp_path / "build.tcl").read_text()
    for line in ("set top sat_array", "set part xcvu9p-fsgd2104-2L-e", "read_verilog sat_array.v",
                 "read_xdc -mode out_of_context sat_array.xdc",
                 "synth_design -top $top -part $part -mode out_of_context", "route_design",
                 "report_timing_summary -max_paths 10 -file ${top}_timing.rpt"):
        assert line in tcl.splitlines(), line
    xdc = (tmp_path / "sat_array.xdc").read_text()
    assert "create_clock -period 4.000 -name clk [get_ports clk]" in xdc
    assert "module sat_array(" in (tmp_path / "sat_array.v").read_text()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--target", "spatten-asic"], "target 'spatten-asic' has no Vivado part"),
        (["--clock-mhz", "0"], "argument --clock-mhz: must be a positive number, not '0'"),
    ],
)
def test_vivado_bad_input_exits_2(argv, named, tmp_path: Path, cli: Cli) -> None:
    status, out, err = cli(["vivado", "topk", *argv, "--out", str(tmp_path)])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and named in err, err
