"""The report's RTL verification section: Verilog of the SORE and the attention core, and
amaranth.sim runs of every block's harness plan (the SAT PE array, the SORE, the top-k engine
and the attention core) made by this report.

Each block runs through :func:`sparsa.sim.rtl.verify.verify` on the amaranth.sim backend, the
same harness as ``sparsa verify`` and the Verilator tests: seeded cases on the Amaranth design,
cycle by cycle, every answer compared with the block's golden model and, for the cases run
without stalls, its cycles with the block's cycle model. A mismatch does not stop the report:
the section says so at its top and lists the failures.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparsa.config.describe import describe
from sparsa.config.presets import (
    DEFAULT_ATTENTION_CORE,
    DEFAULT_SORE,
    DEFAULT_TOPK,
    REPORT_RTL_CHECKS,
    VERIFY_SEED,
)
from sparsa.hw.attention.attention_core import AttentionCore
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.sat.sore import Sore
from sparsa.reports.markdown import lint_summary
from sparsa.sim.rtl.verify import VerifyResult, verify

__all__ = ["BlockVerification", "block_markdown", "verification_section"]

TITLES = {
    "sat-array": "SAT PE array",
    "sore": "SAT SORE",
    "topk": "SpAtten top-k engine",
    "attention-core": "SpAtten attention core",
}


@dataclass
class BlockVerification:
    """One block's Verilog and its check in this run.

    Attributes
    ----------
    title : str
        The block's name in the report.
    verilog : str
        The Verilog file, relative to the report folder.
    exported : str
        ``repr`` of the configuration the Verilog was elaborated from.
    lint : list of str or None
        Verilator's warnings (None when another section lints the file).
    result : VerifyResult
        What the amaranth.sim run found.
    """

    title: str
    verilog: str
    exported: str
    lint: list[str] | None
    result: VerifyResult

    @property
    def ok(self) -> bool:
        """The run found no mismatch and the Verilog lints clean."""
        return self.result.ok and not self.lint

    def as_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "title": self.title,
            "verilog": self.verilog,
            "exported_config": self.exported,
            "lint": self.lint,
            "check": self.result.as_json(),
            "ok": self.ok,
        }


def _counts_text(result: VerifyResult) -> str:
    counts = result.scoreboard.counts
    parts = [f"{value} {name}" for name, value in sorted(counts.items())]
    cases = result.scoreboard.cases
    return f"{cases} ({', '.join(parts)})" if parts else str(cases)


def block_markdown(block: BlockVerification) -> str:
    """The block's subsection: a table of its Verilog and its check, and any failures."""
    s = block.result.scoreboard
    if block.lint is None:
        lint = "linted in its own section"
    else:
        lint = "clean" if not block.lint else f"**{len(block.lint)} warning(s)**, listed below"
    config = ", ".join(f"{k}={v}" for k, v in block.result.config.items())
    rows = [
        ("Verilog", f"`{block.verilog}`"),
        ("Exported configuration", f"`{block.exported}`"),
        ("Verilator lint", lint),
        ("Configuration checked in amaranth.sim", f"`{describe(config)}`"),
        ("Cases run on the RTL in this run", _counts_text(block.result)),
        ("Mismatches with the golden model", str(s.mismatches)),
        ("Cycle checks against the cycle model", str(s.cycle_checks)),
        ("Cycle mismatches", str(s.cycle_mismatches)),
    ]
    lines = [f"### {block.title}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if s.failures:
        lines += ["", f"First failures (seed {block.result.seed}):", "", "```", *s.failures, "```"]
    if block.lint:
        lines += ["", lint_summary(block.lint, Path(block.verilog).stem)]
    return "\n".join(lines) + "\n"


def _export(
    component: object, name: str, config: object, stage: Path, say: Callable[[str], None]
) -> tuple[str, list[str]]:
    say(f"exporting and linting the {name} Verilog")
    path, _ = export_verilog(component, name=name, out_dir=stage / "verilog", config=config)
    return f"verilog/{path.name}", lint_verilog(path)


def verification_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Export and lint the SORE and the attention core (``verilog/sore.*``,
    ``verilog/attention_core.*``), run every block's harness plan in amaranth.sim (fewer cases
    when ``quick``), write ``verification.json`` into ``stage`` and return the section.
    Mismatches are reported in the section, never raised."""
    sore_v, sore_lint = _export(Sore(DEFAULT_SORE), "sore", DEFAULT_SORE, stage, say)
    core_v, core_lint = _export(
        AttentionCore(DEFAULT_ATTENTION_CORE), "attention_core", DEFAULT_ATTENTION_CORE, stage, say
    )
    exported = {
        "sat-array": ("verilog/sat_array.v", "the SAT PE array section's", None),
        "sore": (sore_v, describe(DEFAULT_SORE), sore_lint),
        "topk": ("verilog/topk.v", describe(DEFAULT_TOPK), None),
        "attention-core": (core_v, describe(DEFAULT_ATTENTION_CORE), core_lint),
    }
    blocks = []
    for name, (config, quick_cases, full_cases) in REPORT_RTL_CHECKS.items():
        cases = quick_cases if quick else full_cases
        say(f"checking the {TITLES[name]}'s RTL on {cases} cases (amaranth.sim)")
        result = verify(name, config, cases=cases, seed=VERIFY_SEED, backend="amaranth")
        blocks.append(BlockVerification(TITLES[name], *exported[name], result))
    (stage / "verification.json").write_text(
        json.dumps({"quick": quick, "seed": VERIFY_SEED,
                    "blocks": [b.as_json() for b in blocks]}, indent=2) + "\n"
    )
    return _markdown(blocks)


def _markdown(blocks: list[BlockVerification]) -> str:
    bad = [b.title for b in blocks if not b.ok]
    if bad:
        verdict = (
            f"**RTL VERIFICATION FAILED for {', '.join(bad)}: see the tables below (mismatches, "
            "cycle mismatches, a hang or lint warnings). The figures of the blocks concerned "
            "cannot be trusted until this is fixed.**"
        )
    else:
        verdict = (
            f"Every answer of the {len(blocks)} blocks below equals its golden model and every "
            "cycle count checked equals its cycle model's prediction; the Verilog exported here "
            "lints clean."
        )
    return "\n".join(
        [
            "## Verilog and RTL verification",
            "",
            verdict,
            "",
            "Each block's Verilog is exported at its default configuration and linted with "
            "Verilator. In this run each block's Amaranth design is also simulated in "
            "`amaranth.sim`, cycle by cycle, on the seeded plan of the project's one RTL harness "
            "(`sparsa verify BLOCK --backend amaranth`; directed corner cases, then random "
            "batches, every other one with idle inputs and a back-pressured output) at a "
            "configuration that simulates quickly (given in each table): every answer is "
            "compared with the block's golden model (`sparsa.models.golden`), and the cycles of "
            "every case run without stalls with the block's cycle model (`sparsa.sim.blocks`). "
            "Details in `verification.json`.",
            "",
            *[block_markdown(b) for b in blocks],
            "The same plans run on the generated Verilog itself, simulated by cocotb on "
            "Verilator, in the project's RTL test suites (`make test`, `tests/sim/rtl`) and with "
            "`sparsa verify BLOCK`; their counts are not produced by this run and are not quoted "
            "here.",
            "",
        ]
    )
