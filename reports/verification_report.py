"""The report's RTL verification section: Verilog of the SORE and the attention core, and short
amaranth.sim checks of the SORE, the top-k engine and the attention core run by this report.

Each check runs seeded cases on the Amaranth design, cycle by cycle, compares every answer with
the block's golden model and, for the cases run without stalls, its cycles with the block's
cycle model (:mod:`sparsa.sim.rtl.sore.check`, :mod:`sparsa.sim.rtl.topk.check`, :mod:`sparsa.sim.rtl.attention_core.bench`). A
mismatch does not stop the report: the section says so at its top and lists the failures.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.sat import SoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.hw.attention.attention_core import AttentionCore
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.sat.sore import Sore
from sparsa.reports.markdown import lint_summary
from sparsa.sim.rtl.attention_core import bench as attention_bench
from sparsa.sim.rtl.rtl_check import RtlCheck
from sparsa.sim.rtl.sore import check as sore_check
from sparsa.sim.rtl.topk import check as topk_check

__all__ = ["CASES", "SEED", "BlockVerification", "block_markdown", "verification_section"]

SEED = 1
CASES = {"sore": (8, 40), "topk": (8, 40), "attention_core": (24, 150)}
"""Per block, the size of its check (quick, full): good SORE commands and top-k requests per
run (each check runs once without and once with stalls), attention core commands in all."""
SORE_CHECKED = SoreConfig(lanes=8, m=8)  # the exported SORE's M and format, fewer lanes
TOPK_CHECKED = TopKConfig(capacity=128)  # the exported engine with a smaller capacity


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
    check : RtlCheck
        What the amaranth.sim check found.
    stopped : str or None
        Why the check stopped before its end (the RTL stopped answering), else None.
    """

    title: str
    verilog: str
    exported: str
    lint: list[str] | None
    check: RtlCheck
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        """The check ran to its end without a mismatch and the Verilog lints clean."""
        return self.check.ok and self.stopped is None and not self.lint

    def as_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "title": self.title,
            "verilog": self.verilog,
            "exported_config": self.exported,
            "lint": self.lint,
            "check": self.check.as_json(),
            "stopped": self.stopped,
            "ok": self.ok,
        }


def _counts_text(check: RtlCheck) -> str:
    parts = [f"{value} {name}" for name, value in sorted(check.counts.items())]
    return f"{check.cases} ({', '.join(parts)})" if parts else str(check.cases)


def block_markdown(block: BlockVerification) -> str:
    """The block's subsection: a table of its Verilog and its check, and any failures."""
    check = block.check
    if block.lint is None:
        lint = "linted in its own section"
    else:
        lint = "clean" if not block.lint else f"**{len(block.lint)} warning(s)**, listed below"
    rows = [
        ("Verilog", f"`{block.verilog}`"),
        ("Exported configuration", f"`{block.exported}`"),
        ("Verilator lint", lint),
        ("Configuration checked in amaranth.sim", f"`{check.config}`"),
        ("Cases run on the RTL in this run", _counts_text(check)),
        ("Mismatches with the golden model", str(check.mismatches)),
        ("Cycle checks against the cycle model", str(check.cycle_checks)),
        ("Cycle mismatches", str(check.cycle_mismatches)),
    ]
    lines = [f"### {block.title}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if block.stopped:
        lines += ["", f"**The check stopped before its end:** {block.stopped}"]
    if check.failures:
        lines += ["", "First failures:", "", "```", *check.failures, "```"]
    if block.lint:
        lines += ["", lint_summary(block.lint, Path(block.verilog).stem)]
    return "\n".join(lines) + "\n"


def _run_check(
    block: str, config: object, run: Callable[[], RtlCheck]
) -> tuple[RtlCheck, str | None]:
    """Run a check; a run that stops (the RTL hangs) is recorded, not raised."""
    try:
        return run(), None
    except AssertionError as exc:
        return RtlCheck(block=block, config=repr(config), seed=SEED), str(exc)


def _export(
    component: object, name: str, config: object, stage: Path, say: Callable[[str], None]
) -> tuple[str, list[str]]:
    say(f"exporting and linting the {name} Verilog")
    path, _ = export_verilog(component, name=name, out_dir=stage / "verilog", config=config)
    return f"verilog/{path.name}", lint_verilog(path)


def verification_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Export and lint the SORE and the attention core (``verilog/sore.*``,
    ``verilog/attention_core.*``), run the SORE, top-k and attention core checks in
    amaranth.sim (fewer cases when ``quick``), write ``verification.json`` into ``stage`` and
    return the section. Mismatches are reported in the section, never raised."""
    size = {
        block: quick_size if quick else full_size
        for block, (quick_size, full_size) in CASES.items()
    }
    sore_config, core_config = SoreConfig(), AttentionCoreConfig()
    sore_v, sore_lint = _export(Sore(sore_config), "sore", sore_config, stage, say)
    core_v, core_lint = _export(
        AttentionCore(core_config), "attention_core", core_config, stage, say
    )
    say(f"checking the SORE's RTL on {size['sore']} commands per run (amaranth.sim)")
    sore = _run_check(
        "sore",
        SORE_CHECKED,
        lambda: sore_check.run_check(SORE_CHECKED, commands=size["sore"], seed=SEED),
    )
    say(f"checking the top-k engine's RTL on {size['topk']} requests per run (amaranth.sim)")
    topk = _run_check(
        "topk",
        TOPK_CHECKED,
        lambda: topk_check.run_check(TOPK_CHECKED, requests=size["topk"], seed=SEED),
    )
    bench_config = attention_bench.BENCH_CONFIG
    say(f"checking the attention core's RTL on {size['attention_core']} commands (amaranth.sim)")
    core = _run_check(
        "attention_core",
        bench_config,
        lambda: attention_bench.run_bench(bench_config, queries=size["attention_core"], seed=SEED),
    )
    blocks = [
        BlockVerification("SAT SORE", sore_v, repr(sore_config), sore_lint, *sore),
        BlockVerification(
            "SpAtten top-k engine", "verilog/topk.v", repr(TopKConfig()), None, *topk
        ),
        BlockVerification("SpAtten attention core", core_v, repr(core_config), core_lint, *core),
    ]
    (stage / "verification.json").write_text(
        json.dumps(
            {"quick": quick, "seed": SEED, "blocks": [b.as_json() for b in blocks]}, indent=2
        )
        + "\n"
    )
    return _markdown(blocks)


def _markdown(blocks: list[BlockVerification]) -> str:
    bad = [b.title for b in blocks if not b.ok]
    if bad:
        verdict = (
            f"**RTL VERIFICATION FAILED for {', '.join(bad)}: see the tables below (mismatches, "
            "cycle mismatches, lint warnings or a stopped check). The figures of the blocks "
            "concerned cannot be trusted until this is fixed.**"
        )
    else:
        verdict = (
            "Every answer of the three blocks below equals its golden model and every cycle "
            "count checked equals its cycle model's prediction; the Verilog exported here lints "
            "clean."
        )
    return "\n".join(
        [
            "## Verilog and RTL verification",
            "",
            verdict,
            "",
            "Each block's Verilog is exported at its default configuration and "
            "linted with Verilator. In this run each block's Amaranth design is also simulated "
            "in `amaranth.sim`, cycle by cycle, on seeded cases at a smaller configuration that "
            "simulates quickly (given in each table): "
            "every answer is compared with the block's golden model (`sparsa.models.golden.sat."
            "sore_tile`, `sparsa.models.golden.topk.topk`, `sparsa.models.golden.attention.attend_one_query`; for "
            "the attention core also the requested K-LSB and V rows, probabilities and "
            "importance), and the cycles of every case run without stalls with the block's "
            "cycle model (`sparsa.sim.blocks.sore`, `sparsa.sim.blocks.topk`, `sparsa.sim.blocks.attention_core`); the other cases run "
            "with idle inputs and a back-pressured output. The SAT PE array's RTL is checked "
            "against its golden GEMM and its cycle model by the layer bench of the SAT PE "
            "array section. Details in `verification.json`.",
            "",
            *[block_markdown(b) for b in blocks],
            "Many more cases run on the generated Verilog itself, simulated by cocotb on "
            "Verilator, in the project's RTL test suites (`make test`, `tests/rtl`); their "
            "counts are not produced by this run and are not quoted here.",
            "",
        ]
    )
