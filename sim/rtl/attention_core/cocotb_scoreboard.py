"""Counts of a cocotb run of the attention core (the checks are in
:mod:`sparsa.sim.rtl.attention_core.scoreboard`)."""

from collections import Counter
from dataclasses import dataclass, field

from sparsa.models.golden.attention import AttentionResult
from sparsa.sim.rtl.attention_core.stimulus import CoreStalls, QuerySpec
from sparsa.sim.rtl.records import RunSummary

__all__ = ["AttentionSummary"]


@dataclass
class AttentionSummary(RunSummary):
    """Counts and the first failures of an attention core run."""

    queries: int = 0
    rejects: int = 0
    requants: int = 0
    stalled: int = 0
    lsb_rows: int = 0
    v_rows: int = 0
    patterns: Counter[str] = field(default_factory=Counter)

    def count(self, spec: QuerySpec, result: AttentionResult | None, stalls: CoreStalls) -> None:
        """Account for one answered command."""
        self.queries += 1
        self.rejects += result is None
        self.stalled += not stalls.none
        self.patterns[spec.pattern] += 1
        if result is not None:
            self.requants += result.requant
            self.lsb_rows += result.k_lsb_rows.numel()
            self.v_rows += result.v_rows.numel()

    def counts_text(self) -> str:
        """Queries run, by kind."""
        return (
            f"{self.queries} queries ({self.rejects} rejected, {self.requants} requantized, "
            f"{self.stalled} stalled; {self.lsb_rows} LSB rows and {self.v_rows} V rows "
            f"fetched)"
        )
