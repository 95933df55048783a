"""The report's short check of the SORE's RTL in ``amaranth.sim``, on the RTL harness.

:func:`run_check` runs the two batches of :func:`sparsa.sim.rtl.sore.stimulus.check_batches`
(good commands over every N and copies mask with every kind of rejected command, once without
and once with stalls) through :class:`sparsa.sim.rtl.sore.block.SoreBlock` on one freshly reset
SORE, so its answers and cycles are checked exactly as ``sparsa verify sore`` checks them, and
gives the counts as the :class:`~sparsa.sim.rtl.rtl_check.RtlCheck` the report reads.
"""

from sparsa.config.checks import is_int
from sparsa.config.sat import SoreConfig
from sparsa.sim.rtl.harness import run_amaranth
from sparsa.sim.rtl.rtl_check import RtlCheck
from sparsa.sim.rtl.sore.block import SoreBlock, harness_batches
from sparsa.sim.rtl.sore.stimulus import check_batches

__all__ = ["run_check"]


def run_check(config: SoreConfig, *, commands: int, seed: int) -> RtlCheck:
    """Run ``commands`` good seeded commands and every kind of rejected one without stalls,
    then as many new ones with stalls, and count what differs from the golden and the cycle
    model.

    Returns
    -------
    RtlCheck
        Counts ``rejected`` and ``stalled`` commands besides the cases; a hang counts as a
        mismatch (the harness's scoreboard records it and stops the run).
    """
    if not is_int(commands) or commands < 1:
        raise ValueError(f"commands must be a positive integer, not {commands!r}")
    batches = harness_batches(check_batches(config, seed, commands), seed)
    scoreboard = run_amaranth(SoreBlock(), config, batches, seed=seed)
    counts = {
        "rejected": scoreboard.counts.get("rejected commands", 0),
        "stalled": scoreboard.counts.get("stalled cases", 0),
    }
    return RtlCheck(
        block="sore",
        config=repr(config),
        seed=seed,
        cases=scoreboard.cases,
        mismatches=scoreboard.mismatches,
        cycle_checks=scoreboard.cycle_checks,
        cycle_mismatches=scoreboard.cycle_mismatches,
        counts=counts,
        failures=[f"seed={seed} {text}" for text in scoreboard.failures],
    )
