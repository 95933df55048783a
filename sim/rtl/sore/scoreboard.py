"""Check the SORE's answers: every copy of every tile against :func:`sparsa.models.golden.sat.sore_tile`
and rejected commands against the contract. Pure Python (no cocotb)."""

from collections import Counter
from dataclasses import dataclass, field

import torch

from sparsa.config.sat import SoreConfig
from sparsa.hw.sat.sore import BP, FF
from sparsa.models.golden.sat import sore_tile
from sparsa.sim.rtl.records import RunSummary
from sparsa.sim.rtl.sat_array.codec import SoreBeat
from sparsa.sim.rtl.sore.stimulus import SoreCommand

__all__ = ["DIRECTION_NAMES", "SoreSummary", "check_answer", "expected_lanes"]

DIRECTION_NAMES = {FF: "FF", BP: "BP"}
MAX_LISTED = 4  # differing lanes listed per failure


def expected_lanes(
    config: SoreConfig, command: SoreCommand, direction: int
) -> list[list[tuple[int, int]]]:
    """Per lane, the M - 1 (value, index) entries of one copy: the golden survivors, then
    zeros."""
    values, indices = sore_tile(torch.tensor(command.tile), command.n,
                                DIRECTION_NAMES[direction])
    pad = [(0, 0)] * (config.m - 1 - command.n)
    return [list(zip(v, i, strict=True)) + pad
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)]


def check_answer(config: SoreConfig, command: SoreCommand, beats: list[SoreBeat]) -> list[str]:
    """Problems with the ``out`` beats answering ``command`` (the last one has ``last`` set)."""
    if not command.is_good(config):
        zero = all(entry == (0, 0) for lane in beats[0].lanes for entry in lane)
        if len(beats) != 1 or not beats[0].error or not beats[0].last or not zero:
            return ["a rejected command must get one beat error=1 last=1 with zero lanes, got "
                    + "; ".join(b.describe() for b in beats)]
        return []
    problems = []
    directions = command.directions
    if len(beats) != len(directions):
        problems.append(f"expected {len(directions)} out beats, got {len(beats)}")
    if any(b.error for b in beats):
        problems.append("error flag set on a good command")
    if any(b.last for b in beats[:-1]):
        problems.append("last set before the final beat")
    for beat, direction in zip(beats, directions, strict=False):
        name = DIRECTION_NAMES[direction]
        if beat.direction != direction:
            problems.append(f"{name} copy has direction {beat.direction}")
        want = expected_lanes(config, command, direction)
        diffs = [f"lane {lane}: got {list(got)}, expected {exp}"
                 for lane, (got, exp) in enumerate(zip(beat.lanes, want, strict=True))
                 if list(got) != exp]
        if diffs:
            problems.append(f"{name} copy: {len(diffs)} lanes differ: "
                            + "; ".join(diffs[:MAX_LISTED]))
    return problems


@dataclass
class SoreSummary(RunSummary):
    """Counts and the first failures of a SORE run."""

    commands: int = 0
    rejects: int = 0
    stalled_commands: int = 0
    groups: int = 0
    copies: Counter[str] = field(default_factory=Counter)
    n_values: Counter[int] = field(default_factory=Counter)
    styles: Counter[str] = field(default_factory=Counter)

    def count(self, config: SoreConfig, command: SoreCommand, stalled: bool) -> None:
        """Account for one answered command."""
        self.commands += 1
        self.stalled_commands += stalled
        if not command.is_good(config):
            self.rejects += 1
            return
        self.groups += len(command.directions) * config.lanes
        self.copies["+".join(DIRECTION_NAMES[d] for d in command.directions)] += 1
        self.n_values[command.n] += 1
        self.styles[command.style] += 1

    def counts_text(self) -> str:
        """Commands, groups and copies run."""
        copies = ", ".join(f"{k} {v}" for k, v in sorted(self.copies.items()))
        return (
            f"{self.commands} commands ({self.rejects} rejected, {self.stalled_commands} "
            f"stalled), {self.groups} groups checked, copies {copies}, N {sorted(self.n_values)}"
        )
