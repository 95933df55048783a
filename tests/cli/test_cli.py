"""Tests of the ``sparsa`` command line (:mod:`sparsa.cli`)."""

import json
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from sparsa.models.algorithms.spatten_trace import read_trace

REPO = Path(__file__).resolve().parents[2]
TINY = ["--lanes", "2", "--comparators", "2", "--capacity", "4", "--width", "3"]
Cli = Callable[[list[str]], tuple[int, str, str]]  # the cli fixture (conftest.py)


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--lanes", "3", "lanes must be a power of two from 1 to 64, not 3"),
        ("--lanes", "x", "argument --lanes: invalid integer value: 'x'"),
        ("--comparators", "128", "comparators must be a power of two from 1 to 64, not 128"),
        ("--capacity", "0", "capacity must be an integer from 1 to 65535, not 0"),
        ("--capacity", "65536", "capacity must be an integer from 1 to 65535, not 65536"),
        ("--width", "33", "width of signed values must be from 2 to 32 bits, not 33"),
        ("--width", "1", "width of signed values must be from 2 to 32 bits, not 1"),
        ("--pivot", "random", "argument --pivot: invalid choice: 'random'"),
        ("--seed", "0", "seed must be an integer from 1 to 65535, not 0"),
        ("--seed", "0x10000", "seed must be an integer from 1 to 65535, not 65536"),
    ],
)
def test_bad_parameter_exits_2_with_one_line(
    option: str, value: str, named: str, tmp_path: Path, cli: Cli
) -> None:
    status, out, err = cli(["verilog", "topk", option, value, "--out", str(tmp_path)])
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sparsa: error: "), err
    assert named in err
    assert list(tmp_path.iterdir()) == []


def test_unsigned_width_zero_is_rejected(
    tmp_path: Path, cli: Cli
) -> None:
    argv = ["verilog", "topk", "--width", "0", "--no-signed", "--out", str(tmp_path)]
    status, _, err = cli(argv)
    assert status == 2
    assert err == "sparsa: error: width of unsigned values must be from 1 to 32 bits, not 0\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["verilog"],
        ["verilog", "topk"],
        ["bench"],
        ["bench", "topk", "--trials", "many"],
        ["report", "--quick", "yes"],
    ],
)
def test_bad_command_line_exits_2_with_one_line(
    argv: list[str], cli: Cli
) -> None:
    status, _, err = cli(argv)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("sparsa: error: "), err


def test_verilog_topk_help(cli: Cli) -> None:
    status, out, _ = cli(["verilog", "topk", "--help"])
    assert status == 0
    for option in ("--lanes", "--comparators", "--capacity", "--width", "--signed", "--pivot",
                   "--seed", "--out"):
        assert option in out


def test_python_dash_m_sparsa_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sparsa", "verilog", "topk", "--help"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: sparsa verilog topk" in result.stdout


def test_verilog_topk_writes_verilog_and_sidecar(
    tmp_path: Path, cli: Cli
) -> None:
    out_dir = tmp_path / "verilog"
    status, out, err = cli(["verilog", "topk", *TINY, "--no-signed", "--pivot", "middle",
                            "--seed", "0x1234", "--out", str(out_dir)])
    verilog_path, json_path = out_dir / "topk.v", out_dir / "topk.json"
    assert out.splitlines() == [str(verilog_path), str(json_path), str(out_dir / "topk.md")]
    assert verilog_path.read_text().count("module topk(") == 1
    assert "| `cmd.n` | 0 | 3 | unsigned integer (0 to 7) |" in (out_dir / "topk.md").read_text()
    assert json.loads(json_path.read_text())["config"] == {
        "lanes": 2, "comparators": 2, "capacity": 4, "width": 3, "signed": False,
        "pivot": "middle", "seed": 0x1234,
    }
    assert (out_dir / "topk.vlt").exists()
    # Progress goes to stderr; the design lints clean, so the exit status is 0.
    assert "sparsa: generating Verilog" in err
    assert "%Warning" not in err
    assert status == 0, err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--patterns", "2:4,8:8"], "N of an N:8 pattern must be from 1 to 7, not 8"),
        (["--patterns", "2:3"], "M must be one of (2, 4, 8, 16), not 3"),
        (["--patterns", "0:4"], "N of an N:4 pattern must be from 1 to 3, not 0"),
        (["--patterns", "2-4"], "an N:M pattern looks like '2:8', not '2-4'"),
        (["--patterns", "2:4,2:4"], "patterns must not repeat: ['2:4', '2:4']"),
        (["--rows", "65"], "rows must be an integer from 1 to 64, not 65"),
        (["--dtype", "fp8"], "argument --dtype: invalid choice: 'fp8'"),
    ],
)
def test_sat_array_bad_parameter_exits_2(
    argv: list[str], named: str, tmp_path: Path, cli: Cli
) -> None:
    status, out, err = cli(["verilog", "sat-array", *argv, "--out", str(tmp_path)])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and named in err, err
    assert list(tmp_path.iterdir()) == []


def test_verilog_sat_array_writes_lint_clean_verilog(
    tmp_path: Path, cli: Cli
) -> None:
    for interleave in (True, False):
        argv = ["verilog", "sat-array", "--rows", "2", "--cols", "3", "--patterns", "1:4,3:8",
                "--dtype", "int16", "--max-reduction", "64",
                *([] if interleave else ["--no-interleave"]), "--out", str(tmp_path)]
        status, out, err = cli(argv)
        assert status == 0, err
        assert out.splitlines() == [str(tmp_path / f"sat_array.{suffix}")
                                    for suffix in ("v", "json", "md")]
        config = json.loads((tmp_path / "sat_array.json").read_text())["config"]
        assert config == {"rows": 2, "cols": 3, "patterns": [{"n": 1, "m": 4}, {"n": 3, "m": 8}],
                          "dtype": "int16", "max_reduction": 64, "interleave": interleave,
                          "add_latency": 1}


def test_verilog_attention_core_writes_lint_clean_verilog(
    tmp_path: Path, cli: Cli
) -> None:
    argv = ["verilog", "attention-core", "--dim", "32", "--multipliers", "64", "--msb-bits", "6",
            "--max-tokens", "64", "--heads", "2", "--out", str(tmp_path)]
    status, out, err = cli(argv)
    assert status == 0, err
    assert out.splitlines() == [str(tmp_path / f"attention_core.{suffix}")
                                for suffix in ("v", "json", "md")]
    assert "module attention_core(" in (tmp_path / "attention_core.v").read_text()
    config = json.loads((tmp_path / "attention_core.json").read_text())["config"]
    assert config["multipliers"] == 64 and config["heads"] == 2
    assert config["attention"]["dim"] == 32 and config["attention"]["msb_bits"] == 6
    status, _, err = cli([*argv[:5], "100", *argv[6:]])
    assert status == 2 and "multipliers must be D = 32 times a power of two" in err


def test_bench_topk_prints_the_sweep(
    monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    calls = []

    def sweep(**kwargs: object) -> list[types.SimpleNamespace]:
        calls.append(kwargs)
        return []

    fake = types.SimpleNamespace(sweep=sweep, format_table=lambda points: "TABLE")
    monkeypatch.setitem(sys.modules, "sparsa.sim.studies.topk_bench", fake)
    status, out, _ = cli(["bench", "topk"])
    assert (status, out) == (0, "TABLE\n")
    assert calls[0]["trials"] == 100 and calls[0]["seed"] == 1
    status, out, _ = cli(["bench", "topk", "--json", "--trials", "7", "--seed", "3"])
    assert (status, json.loads(out)) == (0, [])
    assert calls[1]["trials"] == 7 and calls[1]["seed"] == 3


def test_bench_topk_reports_a_rejected_trial_count(
    monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    def sweep(**kwargs: object) -> list:
        raise ValueError(f"trials must be an integer >= 2, not {kwargs['trials']!r}")

    fake = types.SimpleNamespace(sweep=sweep, format_table=lambda points: "")
    monkeypatch.setitem(sys.modules, "sparsa.sim.studies.topk_bench", fake)
    status, _, err = cli(["bench", "topk", "--trials", "1"])
    assert status == 2
    assert err == "sparsa: error: trials must be an integer >= 2, not 1\n"


def test_report_passes_its_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli: Cli
) -> None:
    calls = []

    def build_report(out_dir: Path, *, quick: bool, progress: object, force: bool) -> Path:
        calls.append((out_dir, quick, force))
        return out_dir / "report.md"

    fake = types.SimpleNamespace(build_report=build_report,
                                 check_report_dir=lambda _out, force: None)
    monkeypatch.setitem(sys.modules, "sparsa.reports.main_report", fake)
    assert cli(["report"])[:2] == (0, f"{Path('build/report/report.md')}\n")
    assert cli(["report", "--out", str(tmp_path), "--quick", "--force"])[0] == 0
    assert calls == [(Path("build/report"), False, False), (tmp_path, True, True)]


def test_report_refuses_an_out_that_would_lose_files_before_any_work(tmp_path: Path,
                                                                      cli: Cli) -> None:
    """A folder holding a user's file, a file, a path under a file and an empty path: one line,
    exit 2, nothing touched (the report itself would take minutes; these return at once)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me too")
    for out, named in ((folder, "holds files and is not a previous sparsa report"),
                       (a_file, "is a file, not a folder for the report"),
                       (a_file / "sub", "which is a file"),
                       ("", "must name a path, not ''")):
        status, stdout, err = cli(["report", "--out", str(out), "--quick"])
        assert (status, stdout) == (2, "") and err.count("\n") == 1 and named in err, err
    assert (folder / "notes.txt").read_text() == "keep me"
    assert a_file.read_text() == "keep me too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "mine"]


def test_verilog_sore_writes_lint_clean_verilog_and_rejects_bad_lanes(
    tmp_path: Path, cli: Cli
) -> None:
    status, _, err = cli(["verilog", "sore", "--lanes", "6", "--m", "4", "--out",
                          str(tmp_path)])
    assert status == 2 and err.count("\n") == 1 and "lanes must be a multiple of m" in err, err
    status, _, err = cli(["verilog", "sore", "--m", "3", "--out", str(tmp_path)])
    assert status == 2 and "m must be one of (2, 4, 8, 16), not 3" in err, err
    assert list(tmp_path.iterdir()) == []
    status, out, err = cli(["verilog", "sore", "--lanes", "4", "--m", "2", "--out",
                            str(tmp_path)])
    assert status == 0, err
    assert out.splitlines() == [str(tmp_path / f"sore.{s}") for s in ("v", "json", "md")]


def test_targets_lists_the_built_in_targets(cli: Cli) -> None:
    status, out, _ = cli(["targets"])
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == ["spatten-asic", "u280", "vcu1525"]
    assert "76.8 GB/s" in out and "512 GB/s" in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--model", "alexnet"], "argument --model: invalid choice: 'alexnet'"),
        (["--model", "small-cnn", "--pattern", "8:4"], "N of an N:4 pattern must be from 1 to 3"),
        (["--model", "small-cnn", "--target", "nope"], "unknown target 'nope'"),
        (["--model", "small-cnn", "--batch", "0"], "batch must be a positive integer, not 0"),
        (["--model", "small-cnn", "--pattern", "2:4", "--system", "r8c8-int8-w128-sore8"],
         "the system's SORE groups M = 8 weights, the layers' pattern 2:4 needs M = 4"),
        (["--model", "small-cnn", "--system", "r4c4-int8-w64", "--dtype", "fp16"],
         "--dtype fp16 conflicts with --system r4c4-int8-w64, whose array is int8"),
        (["--model", "small-cnn", "--system", "nope"], "argument --system: invalid choice"),
    ],
)
def test_simulate_sat_bad_input_exits_2(
    argv: list[str], named: str, tmp_path: Path, cli: Cli
) -> None:
    out_file = tmp_path / "r.json"
    status, _, err = cli(["simulate", "sat", *argv, "--json", str(out_file)])
    assert status == 2 and named in err, err
    assert list(tmp_path.iterdir()) == []


def test_simulate_sat_prints_and_writes_json(
    tmp_path: Path, cli: Cli
) -> None:
    out_file = tmp_path / "r.json"
    status, out, err = cli(["simulate", "sat", "--model", "small-cnn", "--pattern", "2:4",
                            "--batch", "4", "--allow-overfull", "--json", str(out_file)])
    assert status == 0, err
    assert "small-cnn batch 4, 2:4, on vcu1525" in out
    data = json.loads(out_file.read_text())
    assert data["pattern"] == "2:4" and data["cycles"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_simulate_sat_technique_switches(
    tmp_path: Path, cli: Cli
) -> None:
    cycles = {}
    for flag in ("", "--no-interleave", "--no-pregen", "--no-offline-schedule"):
        out_file = tmp_path / f"r{flag}.json"
        status, _, err = cli(["simulate", "sat", "--model", "small-cnn", "--pattern", "2:4",
                              "--batch", "4", "--allow-overfull", *([flag] if flag else []),
                              "--json", str(out_file)])
        assert status == 0, err
        data = json.loads(out_file.read_text())
        cycles[flag] = data["cycles"]
        name = flag[5:].replace("-", "_") if flag else None
        assert all(on == (key != name) for key, on in data["techniques"].items()), flag
    assert all(cycles[flag] >= cycles[""] for flag in cycles)


def test_simulate_sat_reports_the_predicted_resources_beside_cycles_and_energy(
    tmp_path: Path, cli: Cli
) -> None:
    out_file = tmp_path / "r.json"
    status, out, err = cli(["simulate", "sat", "--model", "small-cnn", "--pattern", "2:4",
                            "--batch", "2", "--dtype", "int8", "--json", str(out_file)])
    assert status == 0, err
    line = next(x for x in out.splitlines() if "resources (resource model)" in x)
    assert "LUT " in line and "of 1,182,240" in line and "RAMB36 2,160 of 2,160 (100.0%)" in line
    data = json.loads(out_file.read_text())["resources"]
    assert data["fits"] is True and data["target"] == "vcu1525"
    assert set(data["parts"]) == {"array", "sore", "control", "buffers"}
    assert data["predicted"]["dsp"] == sum(p["dsp"] for p in data["parts"].values())


def test_simulate_sat_sizes_the_run_from_a_system(tmp_path: Path, cli: Cli) -> None:
    out_file = tmp_path / "r.json"
    status, out, _ = cli(["simulate", "sat", "--model", "small-cnn", "--pattern", "2:8",
                          "--batch", "2", "--system", "r8c8-int8-w128-sore8", "--json",
                          str(out_file)])
    assert status == 0 and "sized by the system r8c8-int8-w128-sore8" in out
    result = json.loads(out_file.read_text())
    # The system's own buffers, block RAM included, not the target's whole on-chip memory.
    assert "buffers" not in result["resources"]["parts"]
    assert 0 < result["resources"]["predicted"]["bram36"] < 100


def test_simulate_sat_rejects_a_design_that_does_not_fit_unless_asked(
    tmp_path: Path, cli: Cli
) -> None:
    from sparsa.config.presets import SAT_NETWORK_ARRAY
    from sparsa.sim.network.sat_network import network_utilisation
    from sparsa.sim.network.target import load_target

    # The 32 x 32 FP16 design of the network simulations needs more LUTs than the XCVU9P has.
    predicted = network_utilisation(SAT_NETWORK_ARRAY, None, load_target("vcu1525"))
    assert not predicted.fits
    out_file = tmp_path / "r.json"
    argv = ["simulate", "sat", "--model", "small-cnn", "--batch", "2", "--dtype", "fp16",
            "--json", str(out_file)]
    status, out, err = cli(argv)
    assert status == 2 and out == ""
    error = err.splitlines()[-1]
    lut = predicted.total.rounded()["lut"]
    assert error.startswith(f"sparsa: error: the design does not fit vcu1525: LUT {lut:,} "
                            "predicted, 1,182,240 available"), err
    assert list(tmp_path.iterdir()) == []
    status, out, err = cli([*argv, "--allow-overfull"])
    assert status == 0, err
    assert "(does not fit: simulated on request)" in out
    assert json.loads(out_file.read_text())["resources"]["fits"] is False


def test_simulate_spatten_on_the_public_trace(
    tmp_path: Path, cli: Cli
) -> None:
    out_file = tmp_path / "s.json"
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--json",
                            str(out_file)])
    assert status == 0, err
    assert "| DRAM reduction vs dense FP32 |" in out
    assert json.loads(out_file.read_text())["shape"]["rows"] == 4608
    assert json.loads(out_file.read_text())["time"]["core_model"] == "rtl_core_cycles"
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--core", "paper"])
    assert status == 0 and "paper datapath bound, not RTL-validated" in out
    # More local-V top-k engines: the same work shared by more engines, and a faster core.
    four = tmp_path / "four.json"
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--topk-engines",
                            "4", "--json", str(four)])
    assert status == 0, err
    two, four = (json.loads(f.read_text())["time"] for f in (out_file, four))
    assert (two["topk_engines"], four["topk_engines"]) == (2, 4)
    assert four["topk_cycles"] == two["topk_cycles"] and four["gops"] > two["gops"]
    assert "| local-V top-k (each of 4) |" in out
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--core", "paper",
                            "--topk-engines", "4"])
    assert status == 2 and error_line(err) == (
        "sparsa: error: --topk-engines: an option of the RTL core (--core rtl)")


def error_line(err: str) -> str:
    """The one error line of stderr (progress lines may come before it)."""
    errors = [line for line in err.splitlines() if line.startswith("sparsa: error: ")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n"), err
    return errors[0]


def test_simulate_spatten_checks_a_trace_against_its_model(cli: Cli) -> None:
    from sparsa.dataflow.spatten_workloads import public_traces

    small, medium = public_traces("gpt2-small")[0], public_traces("gpt2-medium")[0]
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-medium", "--trace",
                            str(small)])
    assert status == 2 and out == "", err
    assert error_line(err).startswith(
        f"sparsa: error: {small}: not a trace of gpt2-medium: iteration 0 has no row of layer "
        "12; gpt2-medium has 24 layers x 16 heads")
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--trace",
                            str(medium)])
    assert status == 2 and out == "", err
    assert (f"{medium}, line 194, column 'layer_id': not a trace of gpt2-small: layer 12 is not "
            "a layer of gpt2-small; allowed: 0 to 11") in error_line(err)
    status, out, err = cli(["simulate", "spatten", "--model", "bert-base", "--trace",
                            str(small)])
    assert status == 2
    assert ("sentence_length_L': not a trace of bert-base: context length 993 exceeds "
            "bert-base's positions; allowed: 1 to 512") in error_line(err)


def test_simulate_spatten_rejects_a_head_the_model_lacks(tmp_path: Path, cli: Cli) -> None:
    from sparsa.dataflow.spatten_workloads import public_traces

    lines = public_traces("gpt2-small")[0].read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("head_id")] = "12"
    bad = tmp_path / "head.csv"
    bad.write_text("\n".join([lines[0], lines[1], ",".join(row), *lines[2:]]) + "\n")
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--trace", str(bad)])
    assert status == 2 and out == "", err
    assert (f"{bad}, line 3, column 'head_id': not a trace of gpt2-small: head 12 is not a head "
            "of gpt2-small; allowed: 0 to 11") in error_line(err)


def test_simulate_spatten_presents_the_dense_medium_trace_as_the_baseline(cli: Cli) -> None:
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-medium"])
    assert status == 0, err
    assert "Dense baseline: no technique applies" in out
    assert "430 GOP/s" not in out and "| throughput |" not in out


def test_simulate_spatten_bert_runs_in_summarization(tmp_path: Path, cli: Cli) -> None:
    out_file = tmp_path / "bert.json"
    status, out, err = cli(["simulate", "spatten", "--model", "bert-base", "--run",
                            "--prompt-len", "16", "--token-keep", "0.8,0.5", "--head-keep",
                            "0.9,0.8", "--msb-bits", "8", "--json", str(out_file)])
    assert status == 0, err
    assert "summarization:" in out and "1610 GOP/s (BERT, 22 benchmarks)" in out
    assert "Busiest unit: the attention core" in out and "datapath bound" in out
    assert "progressive quantization" not in out  # BERT quantizes statically
    data = json.loads(out_file.read_text())
    assert data["shape"]["mode"] == "summarization" and data["dram"]["bytes_by_class"]["k_lsb"] == 0
    assert data["shape"]["queries"] == sum(layer["keys"] for layer in data["per_layer"])
    assert data["paper_core_bound"]["gops"] > data["time"]["gops"]


@pytest.mark.parametrize("command", [["simulate", "spatten", "--run"],
                                     ["trace", "spatten", "--out", "never.csv"]],
                         ids=["simulate", "trace"])
def test_spatten_bert_is_static_quantization_only(command: list[str], cli: Cli,
                                                  tmp_path: Path) -> None:
    """Neither the simulator nor the trace writer runs BERT with an LSB refetch (a trace
    with one could not be simulated); nothing is written."""
    argv = [*command[:2], "--model", "bert-large", "--msb-bits", "8", "--threshold", "0.1",
            *[str(tmp_path / a) if a.endswith(".csv") else a for a in command[2:]]]
    status, out, err = cli(argv)
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "--threshold 0.1: bert-large runs static quantization only" in err
    assert "allowed: 0" in err
    assert list(tmp_path.iterdir()) == []


def test_simulate_spatten_malformed_trace_names_file_line_and_column(
    tmp_path: Path, cli: Cli
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    status, _, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--trace", str(bad)])
    assert status == 2
    assert f"{bad}, line 1, column 'a'" in err


def test_trace_spatten_writes_a_trace_the_reader_accepts(
    tmp_path: Path, cli: Cli
) -> None:
    out_file = tmp_path / "t.csv"
    args = ["trace", "spatten", "--model", "gpt2-small", "--prompt-len", "24", "--steps", "3",
            "--token-keep", "0.5,0.25", "--v-keep", "0.5", "--msb-bits", "6", "--threshold",
            "0.1", "--out", str(out_file)]
    status, out, err = cli(args)
    assert status == 0, err
    trace = read_trace(out_file)
    assert len(trace) == 3 * 12 * 12 and trace.head_dim == 64
    assert f"{out_file}: 432 rows (3 iterations, 12 layers x 12 heads)" in out
    assert "LSB refetch" in out and "model run" in err
    # the same run, simulated directly
    status, out, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--run",
                            *args[4:-2]])
    assert status == 0, err
    assert "gpt2-small on spatten-asic: 432 rows" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["--v-keep", "1.5"], "v_keep = 1.5 is not allowed"),
    (["--msb-bits", "5"], "msb_bits = 5 is not supported"),
    (["--msb-bits", "6", "--threshold", "1.2"], "threshold = 1.2 is not allowed"),
    (["--token-keep", "x"], "invalid keep_ratio value: 'x'"),
    (["--steps", "2000"], "positions"),
])
def test_trace_spatten_bad_settings(
    tmp_path: Path, cli: Cli, extra: list[str], message: str
) -> None:
    out_file = tmp_path / "t.csv"
    status, _, err = cli(["trace", "spatten", "--model", "gpt2-small", "--prompt-len", "8",
                          *extra, "--out", str(out_file)])
    assert status == 2 and message in err
    assert not out_file.exists()


def test_simulate_spatten_rejects_policy_options_without_run(
    cli: Cli,
) -> None:
    status, _, err = cli(["simulate", "spatten", "--model", "gpt2-small", "--v-keep", "0.5"])
    assert status == 2 and "--v-keep: model-run options" in err


def test_baseline_times_a_small_workload(cli: Cli) -> None:
    status, out, err = cli(["baseline", "--workload", "small-cnn", "--batch", "2",
                            "--warmup", "1", "--repeats", "4", "--json"])
    assert status == 0, err
    data = json.loads(out)
    assert data["kept"] == 4 and data["mean_s"] > 0 and data["gflops_per_s"] is None
    assert data["environment"]["torch"].startswith("2.13.0")
    status, _, err = cli(["baseline", "--workload", "small-cnn", "--repeats", "0"])
    assert status == 2 and "repeats must be a positive integer, not 0" in err
    status, out, err = cli(["baseline", "--workload", "bert-base", "--seq-len", "16",
                            "--warmup", "0", "--repeats", "1", "--json"])
    assert status == 0, err
    assert json.loads(out)["seq_len"] == 16
    status, _, err = cli(["baseline", "--workload", "gpt2-small", "--seq-len", "16"])
    assert status == 2 and "--seq-len sets a BERT sentence length" in err


def test_simulate_sat_bad_dtype_exits_2_with_one_line(tmp_path: Path, cli: Cli) -> None:
    out_file = tmp_path / "r.json"
    status, out, err = cli(["simulate", "sat", "--model", "small-cnn", "--dtype", "fp8",
                            "--json", str(out_file)])
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("sparsa: error: "), err
    assert "argument --dtype: invalid choice: 'fp8'" in err
    assert list(tmp_path.iterdir()) == []


def test_simulate_sat_dtype_defaults_to_the_preset_and_fp16_runs_the_update(
    tmp_path: Path, cli: Cli
) -> None:
    from sparsa.config.presets import SAT_NETWORK_ARRAY

    runs = {}
    for dtype in (None, "int8", "fp16", "bf16"):
        out_file = tmp_path / f"{dtype}.json"
        status, out, err = cli(["simulate", "sat", "--model", "small-cnn", "--pattern", "2:8",
                                "--batch", "2", *(["--dtype", dtype] if dtype else []),
                                "--allow-overfull", "--json", str(out_file)])
        assert status == 0, err
        runs[dtype] = (out, json.loads(out_file.read_text()))
    default_out, default = runs[None]
    assert default["array"]["dtype"] == SAT_NETWORK_ARRAY.dtype.value
    assert f"{SAT_NETWORK_ARRAY.dtype.value} operands" in default_out
    assert runs["int8"][1]["weight_update"] is None
    assert "weight update" not in runs["int8"][0]
    fp16_out, fp16 = runs["fp16"]
    assert fp16["array"]["dtype"] == "fp16" and "fp16 operands (fp32 accumulators)" in fp16_out
    assert fp16["weight_update"]["cycles"] > 0
    assert "weight update (16 lanes" in fp16_out
    assert fp16["dram"]["by_class"]["master_weights"]["write"] > 0
    assert fp16["cycles"] == runs["int8"][1]["cycles"] + fp16["weight_update"]["cycles"] + (
        fp16["stall_cycles"]["dram"] - runs["int8"][1]["stall_cycles"]["dram"]
    )
    assert runs["bf16"][1]["dram"] == fp16["dram"]


@pytest.mark.parametrize(("argv", "named"), [
    (["bench", "sat-training", "--batch", "0"], "--batch: must be a positive integer, not '0'"),
    (["bench", "sat-training", "--target", "nope"], "unknown target 'nope'"),
    (["bench", "topk", "--seed", str(2**70)], "--seed: must be an integer from 0 to 2**63 - 1"),
    (["bench", "topk", "--seed", "-1"], "--seed: must be an integer from 0 to 2**63 - 1"),
    (["baseline", "--workload", "gpt2-small", "--device", "meta"],
     "device must be the CPU or a CUDA device"),
    (["baseline", "--workload", "bert-base", "--seq-len", "100000000"],
     "seq_len must be at most 512 for bert-base"),
])
def test_bad_values_exit_2_with_one_line_before_any_work(argv, named, cli: Cli) -> None:
    status, out, err = cli(argv)
    assert (status, out) == (2, "") and err.count("\n") == 1 and named in err, err


def test_output_paths_are_checked_before_any_work(tmp_path: Path, cli: Cli) -> None:
    """--json, --out FILE and --out DIR that are a folder, a file, lie under a file or are
    empty: one line, exit 2, before the work; a missing parent folder is made."""
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    cases = [
        (["simulate", "sat", "--model", "small-cnn", "--json", str(tmp_path)], "is a folder"),
        (["simulate", "sat", "--model", "small-cnn", "--json", str(a_file / "x.json")],
         "which is a file"),
        (["simulate", "sat", "--model", "small-cnn", "--json", ""], "must name a path"),
        (["trace", "spatten", "--model", "gpt2-small", "--out", str(tmp_path)], "is a folder"),
        (["verilog", "topk", "--out", str(a_file)], "is a file; name a folder"),
        (["vivado", "topk", "--out", str(a_file / "d")], "which is a file"),
        (["synth", "fit", "--out", str(tmp_path)], "is a folder"),
        (["verify", "topk", "--replay-out", str(tmp_path)], "is a folder"),
    ]
    for argv, named in cases:
        status, out, err = cli(argv)
        assert (status, out) == (2, "") and err.count("\n") == 1 and named in err, (argv, err)
    assert a_file.read_text() == "keep"
    deep = tmp_path / "new" / "deeper" / "result.json"
    status, _, err = cli(["simulate", "sat", "--model", "small-cnn", "--allow-overfull",
                          "--json", str(deep)])
    assert status == 0 and json.loads(deep.read_text())["model"] == "small-cnn", err
