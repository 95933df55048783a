"""``sparsa verilog spatten-accelerator`` and ``sparsa run spatten``."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[[list[str]], tuple[int, str, str]]  # the cli fixture (conftest.py)


def test_verilog_spatten_accelerator_writes_verilog_sidecar_and_datasheet(
    tmp_path: Path, cli: Cli
) -> None:
    status, out, err = cli(["verilog", "spatten-accelerator", "--max-tokens", "32",
                            "--heads", "4", "--data-width", "128", "--out", str(tmp_path)])
    assert status == 0, err
    assert out.splitlines()[0] == str(tmp_path / "spatten_accelerator.v")
    sidecar = json.loads((tmp_path / "spatten_accelerator.json").read_text())
    assert sidecar["config"]["core"]["attention"]["max_tokens"] == 32
    assert sidecar["config"]["axi"]["data_width"] == 128
    assert sidecar["descriptor"]["token_keep"] == {"lsb": 384, "width": 16}
    assert sidecar["row_words"] == {"q": 3, "k_msb": 2, "k_lsb": 1, "v": 3}
    assert {r["name"] for r in sidecar["registers"]} >= {"table_lo", "tokens", "prune_lo"}
    sheet = (tmp_path / "spatten_accelerator.md").read_text()
    assert "## Layer descriptor (512 bits)" in sheet and "| 3 | DRAM |" in sheet


@pytest.mark.parametrize(("argv", "named"), [
    (["--tokens", "100"], "tokens must be an integer from 1 to 64, not 100"),
    (["--heads", "9"], "heads must be an integer from 1 to 8, not 9"),
    (["--latency", "2"], "--latency must be at least 3, not 2"),
    (["--data-width", "32"], "axi.data_width must be from 64 to 512"),
])
def test_run_spatten_bad_input_exits_2(argv, named, cli: Cli) -> None:
    status, out, err = cli(["run", "spatten", *argv])
    assert (status, out) == (2, "")
    assert err.splitlines()[-1].startswith("sparsa: error: ") and named in err, err


@pytest.mark.rtl
def test_run_spatten_runs_layers_and_the_models_predict_them(tmp_path: Path, cli: Cli) -> None:
    report = tmp_path / "run.json"
    status, out, err = cli(["run", "spatten", "--layers", "2", "--tokens", "24", "--heads", "3",
                            "--latency", "12", "--json", str(report)])
    assert status == 0, out + err
    assert "equals the golden model" in out
    result = json.loads(report.read_text())
    assert result["failures"] == []
    assert abs(result["model"] / result["rtl"] - 1) < 0.01
