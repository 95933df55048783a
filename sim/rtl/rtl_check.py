"""What a short amaranth.sim check of one RTL block found: cases, mismatches, cycle checks.

The checks (:mod:`sparsa.sim.rtl.attention_core.bench`, :mod:`sparsa.sim.rtl.sore.check`, :mod:`sparsa.sim.rtl.topk.check`) run
seeded cases on the Amaranth design cycle by cycle, compare every answer with the golden model
and, where nothing stalls, every case's cycles with the cycle model; they count what they find
in an :class:`RtlCheck` instead of raising, so a report can record a mismatch.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["MAX_FAILURES", "RtlCheck"]

MAX_FAILURES = 10  # failure texts kept per check


@dataclass
class RtlCheck:
    """Counts of one check.

    Attributes
    ----------
    block : str
        The block checked (``"attention_core"``, ``"sore"``, ``"topk"``).
    config : str
        ``repr`` of the configuration the RTL was elaborated from.
    seed : int
        Seed of the cases.
    cases : int
        Commands answered by the RTL (rejected ones included).
    mismatches : int
        Cases whose answer differs from the golden model.
    cycle_checks : int
        Cases whose cycles were compared with the cycle model (those run without stalls).
    cycle_mismatches : int
        Cycle checks that failed.
    counts : dict of str to int
        Further counts of what the cases covered (rejected commands, stalled cases, ...).
    failures : list of str
        Texts of the first :data:`MAX_FAILURES` failures (with the seed).
    """

    block: str
    config: str
    seed: int
    cases: int = 0
    mismatches: int = 0
    cycle_checks: int = 0
    cycle_mismatches: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No answer and no cycle count differed."""
        return not (self.mismatches or self.cycle_mismatches)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the further count ``name``."""
        self.counts[name] = self.counts.get(name, 0) + amount

    def answer(self, problems: list[str], where: str) -> None:
        """Account for one answered case with its ``problems`` (empty when it matched)."""
        self.cases += 1
        if problems:
            self.mismatches += 1
            self._fail(f"seed={self.seed} {where}: " + "; ".join(problems))

    def cycles(self, measured: int, predicted: int, where: str) -> None:
        """Account for one case's cycles against the cycle model's prediction."""
        self.cycle_checks += 1
        if measured != predicted:
            self.cycle_mismatches += 1
            self._fail(f"seed={self.seed} {where}: {measured} cycles, model {predicted}")

    def _fail(self, text: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(text)

    def as_json(self) -> dict[str, Any]:
        """Plain-data form, with :attr:`ok`."""
        return {**asdict(self), "ok": self.ok}
