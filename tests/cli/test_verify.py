"""Tests of ``sparsa verify`` (:mod:`sparsa.cli.verify`) with the harness replaced by a fake:
arguments, exit statuses, the JSON file and the configuration flags (no simulation runs)."""

import io
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sparsa.cli.blocks import BLOCKS
from sparsa.cli.options import ProgressBar
from sparsa.config.presets import BLOCK_DEFAULTS
from sparsa.config.topk import PivotMode
from sparsa.sim.rtl.runner import RtlToolError

Cli = Callable[[list[str]], tuple[int, str, str]]  # the cli fixture (conftest.py)


class FakeResult:
    """What the fake harness returns: the shape of ``sparsa.sim.rtl.verify.VerifyResult``."""

    def __init__(self, block: str, *, mismatches: int, replay: str | None) -> None:
        self.ok = mismatches == 0
        self._json = {"block": block, "config": {}, "backend": "verilator", "seed": 1,
                      "cases": 10, "mismatches": mismatches, "cycle_checks": 10,
                      "cycle_mismatches": 0, "wall_s": 0.5, "jobs": 1, "failures": [],
                      "replay": replay}

    def line(self) -> str:
        return f"{self._json['block']}: {self._json['mismatches']} mismatches"

    def as_json(self) -> dict[str, Any]:
        return self._json


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Replace ``sparsa.sim.rtl.verify`` by a fake: set ``mismatches`` or ``raises`` on the
    returned namespace to choose the outcome; ``calls`` records each call's arguments."""
    fake = types.SimpleNamespace(calls=[], mismatches=0, raises=None)

    def verify(block: str, config: Any, **kwargs: Any) -> FakeResult:
        fake.calls.append({"block": block, "config": config, **kwargs})
        if fake.raises is not None:
            raise fake.raises
        kwargs["progress"](5, 10)
        kwargs["progress"](10, 10)
        replay = str(kwargs["replay_out"]) if fake.mismatches else None
        return FakeResult(block, mismatches=fake.mismatches, replay=replay)

    module = types.SimpleNamespace(BLOCKS=dict.fromkeys(BLOCKS), verify=verify)
    monkeypatch.setitem(sys.modules, "sparsa.sim.rtl.verify", module)
    return fake


def one_error_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("sparsa: error: ")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["spatten-core"], "invalid choice: 'spatten-core'"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["topk", "--cases", "0"], "argument --cases: must be a positive integer, not '0'"),
        (["topk", "--cases", "-3"], "argument --cases: must be a positive integer, not '-3'"),
        (["sore", "--jobs", "0"], "argument --jobs: must be a positive integer, not '0'"),
        (["sore", "--backend", "icarus"], "argument --backend: invalid choice: 'icarus'"),
        (["topk", "--lanes", "3"], "lanes must be a power of two from 1 to 64, not 3"),
        (["sore", "--lanes", "6", "--m", "4"], "lanes must be a multiple of m"),
        (["sat-array", "--patterns", "2-4"], "an N:M pattern looks like '2:8', not '2-4'"),
        (["attention-core", "--multipliers", "100"], "multipliers must be D = 64 times"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_runs_nothing(
    argv: list[str], named: str, harness: types.SimpleNamespace,
    cli: Cli,
) -> None:
    status, out, err = cli(["verify", *argv])
    assert (status, out) == (2, "")
    assert one_error_line(err) and named in err, err
    assert harness.calls == []


@pytest.mark.parametrize(
    "error",
    [ValueError("replay.json is not a replay file of sparsa verify: 'block'"),
     RtlToolError("Verilator is missing:\n  install the verilator package\n")],
)
def test_harness_errors_exit_2_with_one_line(
    error: Exception, harness: types.SimpleNamespace, cli: Cli
) -> None:
    harness.raises = error
    status, out, err = cli(["verify", "topk", "--cases", "5"])
    assert (status, out) == (2, "")
    assert one_error_line(err), err
    assert str(error).splitlines()[0] in err


def test_a_passing_run_prints_one_line_writes_json_and_exits_0(
    harness: types.SimpleNamespace, tmp_path: Path, cli: Cli
) -> None:
    out_file = tmp_path / "verify.json"
    status, out, err = cli(["verify", "sore", "--json", str(out_file)])
    assert (status, out) == (0, "sore: 0 mismatches\n"), err
    assert json.loads(out_file.read_text())["mismatches"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify.json"]  # no temporary left
    call = harness.calls[0]
    assert call["block"] == "sore" and call["config"] == BLOCK_DEFAULTS["sore"]
    assert {k: call[k] for k in ("cases", "seed", "backend", "jobs", "stalls", "replay")} == {
        "cases": 1000, "seed": 1, "backend": "verilator", "jobs": 1, "stalls": True,
        "replay": None}
    assert call["replay_out"] == Path("build/verify/sore-replay.json")
    assert "10/10" in err  # progress on stderr


def test_a_mismatch_exits_1_and_names_the_replay_file(
    harness: types.SimpleNamespace, tmp_path: Path, cli: Cli
) -> None:
    harness.mismatches = 2
    replay = tmp_path / "r.json"
    status, out, err = cli(["verify", "topk", "--replay-out", str(replay), "--json",
                            str(tmp_path / "v.json")])
    assert (status, out) == (1, "topk: 2 mismatches\n")
    assert str(replay) in err and f"sparsa verify topk --replay {replay}" in err
    assert json.loads((tmp_path / "v.json").read_text())["replay"] == str(replay)


def test_the_run_options_reach_the_harness(
    harness: types.SimpleNamespace, tmp_path: Path, cli: Cli
) -> None:
    replay = tmp_path / "old.json"
    argv = ["verify", "sat-array", "--cases", "0x20", "--seed", "7", "--backend", "amaranth",
            "--jobs", "3", "--no-stalls", "--replay", str(replay)]
    assert cli(argv)[0] == 0
    call = harness.calls[0]
    assert {k: call[k] for k in ("cases", "seed", "backend", "jobs", "stalls", "replay")} == {
        "cases": 32, "seed": 7, "backend": "amaranth", "jobs": 3, "stalls": False,
        "replay": replay}


def test_the_config_flags_reach_the_config(
    harness: types.SimpleNamespace, cli: Cli
) -> None:
    argv = [
        ["topk", "--lanes", "16", "--no-signed", "--pivot", "middle", "--lfsr-seed", "0x1234",
         "--seed", "5"],
        ["sat-array", "--rows", "4", "--patterns", "1:4,3:8", "--dtype", "fp16",
         "--no-interleave", "--add-latency", "3"],
        ["sore", "--lanes", "8", "--m", "4"],
        ["attention-core", "--dim", "32", "--multipliers", "64", "--msb-bits", "6", "--heads",
         "2"],
    ]
    for args in argv:
        assert cli(["verify", *args])[0] == 0
    topk, sat, sore, core = (call["config"] for call in harness.calls)
    assert (topk.lanes, topk.signed, topk.pivot, topk.seed) == (16, False, PivotMode.MIDDLE,
                                                                0x1234)
    assert harness.calls[0]["seed"] == 5  # the plan's seed, not the LFSR's
    assert (sat.rows, [str(p) for p in sat.patterns], sat.dtype.value, sat.interleave,
            sat.add_latency) == (4, ["1:4", "3:8"], "fp16", False, 3)
    assert (sore.lanes, sore.m) == (8, 4)
    assert (core.attention.dim, core.multipliers, core.attention.msb_bits, core.heads) == (
        32, 64, 6, 2)
    assert core.attention.max_tokens == BLOCK_DEFAULTS["attention-core"].attention.max_tokens


@pytest.mark.parametrize("block", list(BLOCKS))
def test_without_flags_the_config_is_the_preset(
    block: str, harness: types.SimpleNamespace, cli: Cli
) -> None:
    assert cli(["verify", block])[0] == 0
    assert harness.calls[0]["config"] == BLOCK_DEFAULTS[block]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    stream = Terminal()
    bar = ProgressBar("verify topk: cases", stream)
    bar(3, 10)
    bar(10, 10)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("10/10 [" + "#" * 30 + "] 100%\n")


def test_progress_bar_prints_occasional_lines_elsewhere() -> None:
    stream = io.StringIO()
    bar = ProgressBar("cases", stream)
    for done in range(0, 1001, 50):
        bar(done, 1000)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1] == "sparsa: cases 1000/1000 (100%)"



def test_a_preset_names_one_of_the_blocks_test_configurations(
    harness: types.SimpleNamespace, cli: Cli
) -> None:
    from sparsa.config.presets import RTL_TEST_CONFIGS

    for block, configs in RTL_TEST_CONFIGS.items():
        name = next(iter(configs))
        status, _, _ = cli(["verify", block, "--preset", name])
        assert status == 0 and harness.calls[-1]["config"] == configs[name], block
    status, _, err = cli(["verify", "topk", "--preset", "r8c8-int8"])
    assert status == 2 and one_error_line(err) and "invalid choice: 'r8c8-int8'" in err
