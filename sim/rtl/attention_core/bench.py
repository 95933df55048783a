"""The report's short amaranth.sim check of the attention core, on the RTL harness.

:func:`run_bench` runs the first ``queries`` commands of the block's seeded plan
(:meth:`sparsa.sim.rtl.attention_core.block.AttentionCoreBlock.plan`: directed cases first,
then random batches, half of them stalled) through :func:`sparsa.sim.rtl.harness.run_amaranth`
and returns what the harness's scoreboard found as an :class:`~sparsa.sim.rtl.rtl_check.RtlCheck`
(the form :mod:`sparsa.reports.verification_report` records).
"""

import dataclasses

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.checks import is_int
from sparsa.sim.rtl.attention_core.block import AttentionCoreBlock
from sparsa.sim.rtl.harness import Batch, run_amaranth
from sparsa.sim.rtl.rtl_check import RtlCheck

__all__ = ["BENCH_CONFIG", "COUNTS", "first_cases", "run_bench"]

BENCH_CONFIG = AttentionCoreConfig(
    attention=AttentionConfig(dim=32, msb_bits=8, max_tokens=64),
    multipliers=64,
    comparators=4,
    heads=4,
)
"""A small core (D = 32, E = 2 rows per cycle, up to 64 tokens) that simulates quickly."""
COUNTS = {"rejected": "rejected", "requantized": "requantized", "stalled cases": "stalled"}
"""The harness's coverage counts the check reports, under the names the report uses."""


def first_cases(batches: list[Batch], count: int) -> list[Batch]:
    """The plan cut after its first ``count`` cases (the batch it cuts keeps its settings)."""
    cut: list[Batch] = []
    for batch in batches:
        if count <= 0:
            break
        cut.append(dataclasses.replace(batch, cases=batch.cases[:count]))
        count -= len(cut[-1].cases)
    return cut


def run_bench(config: AttentionCoreConfig = BENCH_CONFIG, *, queries: int, seed: int) -> RtlCheck:
    """Run the first ``queries`` commands of the seeded plan on ``config``'s core and check them.

    Parameters
    ----------
    config : AttentionCoreConfig
    queries : int
        Commands to run (at least 1).
    seed : int
        Seed of the plan and of the stalls.

    Returns
    -------
    RtlCheck
        Counts ``rejected``, ``requantized`` and ``stalled`` commands besides the cases; a
        command the core does not answer counts as a mismatch and ends the run.
    """
    if not is_int(queries) or queries < 1:
        raise ValueError(f"queries must be a positive integer, not {queries!r}")
    block = AttentionCoreBlock()
    plan = first_cases(block.plan(config, seed, queries, stalls=True), queries)
    scoreboard = run_amaranth(block, config, plan, seed=seed)
    check = RtlCheck(block="attention_core", config=repr(config), seed=seed)
    for name in ("cases", "mismatches", "cycle_checks", "cycle_mismatches"):
        setattr(check, name, getattr(scoreboard, name))
    for name, reported in COUNTS.items():
        check.count(reported, scoreboard.counts.get(name, 0))
    check.failures = [f"seed={seed} {text}" for text in scoreboard.failures]
    return check
