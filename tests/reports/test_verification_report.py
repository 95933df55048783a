"""The report's RTL verification section: a quick run, and what it says about a mismatch."""

import json
from pathlib import Path

from sparsa.reports.verification_report import (
    CASES,
    BlockVerification,
    block_markdown,
    verification_section,
)
from sparsa.sim.rtl.rtl_check import RtlCheck


def test_quick_section_exports_checks_and_finds_no_mismatch(tmp_path: Path):
    lines: list[str] = []
    text = verification_section(tmp_path, quick=True, say=lines.append)
    for name in ("sore", "attention_core"):
        assert (tmp_path / "verilog" / f"{name}.v").stat().st_size > 0
        assert (tmp_path / "verilog" / f"{name}.json").exists()
    record = json.loads((tmp_path / "verification.json").read_text())
    assert record["quick"] is True
    blocks = {b["check"]["block"]: b for b in record["blocks"]}
    assert set(blocks) == set(CASES)
    for name, block in blocks.items():
        check = block["check"]
        assert block["ok"] and block["stopped"] is None, f"seed={check['seed']}: {block}"
        assert check["mismatches"] == check["cycle_mismatches"] == 0, f"{name}: {check}"
        assert check["cycle_checks"] > 0 and check["cases"] >= CASES[name][0], f"{name}"
    assert blocks["sore"]["lint"] == blocks["attention_core"]["lint"] == []
    assert blocks["attention_core"]["check"]["cases"] == CASES["attention_core"][0]
    assert "FAILED" not in text and "## Verilog and RTL verification" in text
    assert f"| Cases run on the RTL in this run | {blocks['topk']['check']['cases']} (" in text
    assert "`make test`" in text and lines


def test_a_mismatch_is_reported_loudly():
    check = RtlCheck(block="sore", config="SoreConfig()", seed=3)
    check.answer(["BP lane 0 differs"], "command 4")
    check.cycles(12, 11, "command 5")
    block = BlockVerification("SAT SORE", "verilog/sore.v", "SoreConfig()", [], check)
    assert not block.ok
    text = block_markdown(block)
    assert "| Mismatches with the golden model | 1 |" in text
    assert "| Cycle mismatches | 1 |" in text
    assert "seed=3 command 4: BP lane 0 differs" in text
    stopped = BlockVerification(
        "SAT SORE",
        "verilog/sore.v",
        "SoreConfig()",
        None,
        RtlCheck(block="sore", config="", seed=3),
        "no end",
    )
    assert not stopped.ok and "stopped before its end" in block_markdown(stopped)
