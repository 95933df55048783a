"""The report's RTL verification section: a quick run, and what it says about a mismatch."""

import json
from pathlib import Path

from sparsa.config.presets import REPORT_RTL_CHECKS
from sparsa.reports.verification_report import (
    BlockVerification,
    block_markdown,
    verification_section,
)
from sparsa.sim.rtl.harness import Scoreboard
from sparsa.sim.rtl.verify import VerifyResult


def test_quick_section_exports_checks_and_finds_no_mismatch(tmp_path: Path):
    lines: list[str] = []
    text = verification_section(tmp_path, quick=True, say=lines.append)
    for name in ("sore", "attention_core"):
        assert (tmp_path / "verilog" / f"{name}.v").stat().st_size > 0
        assert (tmp_path / "verilog" / f"{name}.json").exists()
    record = json.loads((tmp_path / "verification.json").read_text())
    assert record["quick"] is True
    blocks = {b["check"]["block"]: b for b in record["blocks"]}
    assert set(blocks) == set(REPORT_RTL_CHECKS)
    for name, block in blocks.items():
        check = block["check"]
        assert block["ok"], f"seed={check['seed']}: {block}"
        assert check["backend"] == "amaranth"
        assert check["mismatches"] == check["cycle_mismatches"] == 0, f"{name}: {check}"
        assert check["cycle_checks"] > 0, name
        assert check["cases"] >= REPORT_RTL_CHECKS[name][1], name
    assert blocks["sore"]["lint"] == blocks["attention-core"]["lint"] == []
    assert "FAILED" not in text and "## Verilog and RTL verification" in text
    assert f"| Cases run on the RTL in this run | {blocks['topk']['check']['cases']} (" in text
    assert "`make test`" in text and lines


def test_a_mismatch_is_reported_loudly():
    scoreboard = Scoreboard(block="sore")
    scoreboard.answer(["BP lane 0 differs"], lambda: "command 4")
    scoreboard.check_cycles(12, 11, lambda: "command 5")
    result = VerifyResult(block="sore", config={"lanes": 8}, backend="amaranth", seed=3, jobs=1,
                          scoreboard=scoreboard, wall_s=0.1)
    block = BlockVerification("SAT SORE", "verilog/sore.v", "SoreConfig()", [], result)
    assert not block.ok
    text = block_markdown(block)
    assert "| Mismatches with the golden model | 1 |" in text
    assert "| Cycle mismatches | 1 |" in text
    assert "command 4: BP lane 0 differs" in text and "(seed 3)" in text
