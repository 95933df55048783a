"""Check the SORE's answers: pure functions that return a list of problems (empty when all is
well), so that a run carries on and reports every mismatch.

:func:`check_answer` compares every copy of a tile with :func:`sparsa.models.golden.sat.sore_tile`
and a rejected command's beat with the contract; :func:`check_weights` checks which ``weights``
beats a command consumed, and when.
"""

import torch

from sparsa.config.sat import BdwpPass, SoreConfig
from sparsa.models.golden.sat import sore_tile
from sparsa.sim.rtl.records import check_framing
from sparsa.sim.rtl.sore.codec import SoreBeat
from sparsa.sim.rtl.sore.stimulus import SoreCommand

__all__ = ["MAX_LISTED", "check_answer", "check_weights", "expected_lanes"]

MAX_LISTED = 4  # differing lanes listed per failure


def expected_lanes(
    config: SoreConfig, command: SoreCommand, direction: BdwpPass
) -> list[list[tuple[int, int]]]:
    """Per lane, the M - 1 (value, index) entries of one copy: the golden survivors, then
    zeros."""
    values, indices = sore_tile(torch.tensor(command.tile), command.n, direction,
                               config.dtype)
    pad = [(0, 0)] * (config.m - 1 - command.n)
    return [list(zip(v, i, strict=True)) + pad
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)]


def check_answer(config: SoreConfig, command: SoreCommand, beats: list[SoreBeat]) -> list[str]:
    """Problems with the ``out`` beats answering ``command`` (the last one has ``last`` set).

    A good command gets one beat per copy asked, FF first, each with its pass as ``direction``,
    ``last`` on the final one only, and per lane the golden survivors then zeros. A rejected
    command gets one beat with ``error`` and ``last`` set and everything else zero (lanes, and
    the direction code 0).
    """
    if not command.is_good(config):
        beat = beats[0]
        zero = all(entry == (0, 0) for lane in beat.lanes for entry in lane)
        if len(beats) != 1 or not beat.error or not beat.last or not zero or beat.direction != 0:
            return ["a rejected command must get one beat error=1 last=1 with zero lanes and "
                    "direction 0, got " + "; ".join(b.describe() for b in beats)]
        return []
    passes = command.passes
    problems = check_framing(beats, len(passes))
    for beat, direction in zip(beats, passes, strict=False):
        if beat.direction is not direction:
            problems.append(f"{direction.name} copy has direction {beat.direction!r}")
        want = expected_lanes(config, command, direction)
        diffs = [f"lane {lane}: got {list(got)}, expected {exp}"
                 for lane, (got, exp) in enumerate(zip(beat.lanes, want, strict=True))
                 if list(got) != exp]
        if diffs:
            problems.append(f"{direction.name} copy: {len(diffs)} lanes differ: "
                            + "; ".join(diffs[:MAX_LISTED]))
    return problems


def check_weights(
    command: SoreCommand, cmd_cycle: int, weight_cycles: list[int], end_cycle: int
) -> list[str]:
    """Problems with the ``weights`` beats a command consumed: exactly its tile's rows (none
    for a rejected command), each after its ``cmd`` beat (``cmd_cycle``) and by its last
    ``out`` beat (``end_cycle``)."""
    problems = []
    if any(not cmd_cycle < cycle <= end_cycle for cycle in weight_cycles):
        relative = [cycle - cmd_cycle for cycle in weight_cycles]
        problems.append(f"weights beats crossed outside the command's span ({relative} cycles "
                        f"after its cmd beat, which was answered {end_cycle - cmd_cycle} later)")
    if len(weight_cycles) != len(command.tile):
        problems.append(f"{len(weight_cycles)} weights beats consumed, expected "
                        f"{len(command.tile)}")
    return problems
