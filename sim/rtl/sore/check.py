"""Seeded commands on the SORE's RTL in ``amaranth.sim``, against the golden model and the
cycle model.

:func:`run_sore` drives :class:`sparsa.hw.sat.sore.Sore` (cycle by cycle, through
:func:`sparsa.sim.rtl.amaranth_streams.drive`) with commands and their weight tiles; :func:`answer_problems`
compares every copy of every tile with :func:`sparsa.models.golden.sat.sore_tile`; :func:`run_check`
runs seeded commands (every N, every copies mask and rejected ones, tiles rich in ties and
extremes) once without stalls, comparing the cycle of each command's last beat with
:func:`sparsa.sim.blocks.sore.last_beat_cycles`, and once with idle sources and a back-pressured sink.
"""

import random
from dataclasses import dataclass

import torch

from sparsa.config.checks import is_int
from sparsa.config.sat import SoreConfig
from sparsa.hw.sat.sore import BP, FF, Sore, cmd_layout
from sparsa.models.golden.sat import sore_tile
from sparsa.sim.blocks.sore import last_beat_cycles
from sparsa.sim.rtl.amaranth_streams import Trace, drive
from sparsa.sim.rtl.rtl_check import RtlCheck

__all__ = [
    "DIRECTION_NAMES",
    "SoreAnswer",
    "answer_problems",
    "beat_problems",
    "is_good",
    "random_commands",
    "random_tile",
    "run_check",
    "run_sore",
]

DIRECTION_NAMES = {FF: "FF", BP: "BP"}


def random_tile(rng: random.Random, config: SoreConfig) -> torch.Tensor:
    """An M x lanes tile drawn from one of several alphabets, rich in ties and extremes
    (full range, small magnitudes, the format's ends, all equal, all zero; all-zero FF and BP
    groups in some)."""
    M, L = config.m, config.lanes
    lo, hi = config.dtype.range
    kind = rng.choice(["full", "small", "extremes", "equal", "zero"])
    if kind == "full":
        t = torch.tensor([[rng.randint(lo, hi) for _ in range(L)] for _ in range(M)])
    elif kind == "small":  # many equal magnitudes, +/- pairs
        t = torch.tensor([[rng.randint(-2, 2) for _ in range(L)] for _ in range(M)])
    elif kind == "extremes":  # the most negative value beside its neighbours and +/- pairs
        alphabet = [lo, lo + 1, hi, -1, 0, 1]
        t = torch.tensor([[rng.choice(alphabet) for _ in range(L)] for _ in range(M)])
    elif kind == "equal":
        t = torch.full((M, L), rng.choice([lo, hi, -3, 0, 5]))
    else:
        t = torch.zeros(M, L, dtype=torch.int64)
    if kind in ("full", "extremes"):
        t[:, rng.randrange(L)] = 0  # an all-zero BP group
        row, group = rng.randrange(M), rng.randrange(L // M)
        t[row, group * M : (group + 1) * M] = 0  # an all-zero FF group
    return t


def random_commands(rng: random.Random, config: SoreConfig, count: int) -> list[tuple[int, int]]:
    """``count`` good ``(n, copies)`` commands covering every N and every copies mask, and four
    rejected ones at random places: N = 0, N = M, the largest N field, no copy."""
    M = config.m
    good = [(1 + k % (M - 1), 1 + k % 3) for k in range(count)]
    rng.shuffle(good)
    n_max = (1 << cmd_layout(config).members["n"].width) - 1
    for cmd in [(0, 3), (M, 1), (n_max, 2), (1, 0)]:
        good.insert(rng.randrange(len(good) + 1), cmd)
    return good


def is_good(config: SoreConfig, n: int, copies: int) -> bool:
    """Whether the SORE accepts the command (otherwise it answers with one error beat)."""
    return 1 <= n < config.m and copies != 0


@dataclass
class SoreAnswer:
    """The output beats of one command and the edge of its last beat, counted from the edge
    that transferred the first command."""

    beats: list
    cycles: int


def run_sore(
    config: SoreConfig,
    commands: list[tuple[int, int]],
    tiles: list[torch.Tensor],
    *,
    stall_seed: int | None = None,
) -> tuple[list[SoreAnswer], Trace]:
    """Run ``(n, copies)`` commands back to back on a fresh SORE, each good one with its tile.

    Returns
    -------
    answers : list of SoreAnswer
        One per command.
    trace : Trace
        The transfers (from :func:`sparsa.sim.rtl.amaranth_streams.drive`).
    """
    sources = {
        "cmd": [{"n": n, "copies": c} for n, c in commands],
        "weights": [
            tile[i].tolist()
            for (n, c), tile in zip(commands, tiles, strict=True)
            if is_good(config, n, c)
            for i in range(config.m)
        ],
    }
    trace = drive(Sore(config), sources, "out", lasts=len(commands), stall_seed=stall_seed)
    answers, beats = [], []
    for cycle, out in zip(trace.cycles["out"], trace.outputs, strict=True):
        beats.append(out)
        if out.last:
            answers.append(SoreAnswer(beats, cycle - trace.cycles["cmd"][0]))
            beats = []
    return answers, trace


def beat_problems(
    config: SoreConfig, beat: object, tile: torch.Tensor, n: int, direction: int
) -> list[str]:
    """Differences between one output beat and the golden copy of ``tile`` in ``direction``."""
    M = config.m
    name = DIRECTION_NAMES[direction]
    if beat.error or beat.direction != direction:
        return [f"{name} beat has error={beat.error} direction={beat.direction}"]
    values, indices = sore_tile(tile, n, name)
    pad = [0] * (M - 1 - n)
    problems = []
    for lane in range(config.lanes):
        got_v = [beat.lanes[lane][s].value for s in range(M - 1)]
        got_i = [beat.lanes[lane][s].index for s in range(M - 1)]
        if got_v != values[lane].tolist() + pad or got_i != indices[lane].tolist() + pad:
            problems.append(
                f"{name} lane {lane}: values {got_v} indices {got_i}, golden "
                f"{values[lane].tolist()} {indices[lane].tolist()} (padded with zeros)"
            )
    return problems


def answer_problems(
    config: SoreConfig, command: tuple[int, int], tile: torch.Tensor, beats: list
) -> list[str]:
    """Differences between a command's output beats and the golden answer: one beat per
    requested copy (FF first), or one all-zero error beat for a rejected command."""
    n, copies = command
    if not is_good(config, n, copies):
        beat = beats[0]
        zero = all(
            beat.lanes[lane][s].value == beat.lanes[lane][s].index == 0
            for lane in range(config.lanes)
            for s in range(config.m - 1)
        )
        if len(beats) == 1 and beat.error and beat.last and zero:
            return []
        return [f"a rejected command must get one all-zero error beat, got {len(beats)} beats"]
    directions = [d for d in (FF, BP) if copies >> d & 1]
    if len(beats) != len(directions):
        return [f"{len(beats)} beats for {len(directions)} copies"]
    problems = []
    for beat, direction in zip(beats, directions, strict=True):
        problems += beat_problems(config, beat, tile, n, direction)
    return problems


def run_check(config: SoreConfig, *, commands: int, seed: int) -> RtlCheck:
    """Run ``commands`` good seeded commands and four rejected ones without stalls, then as
    many with stalls, each run on a fresh SORE, and count what differs from the golden and the
    cycle model.

    Returns
    -------
    RtlCheck
        Counts ``rejected`` and ``stalled`` commands besides the cases.
    """
    if not is_int(commands) or commands < 1:
        raise ValueError(f"commands must be a positive integer, not {commands!r}")
    check = RtlCheck(block="sore", config=repr(config), seed=seed)
    rng = random.Random(seed)
    for stall_seed in (None, seed):
        batch = random_commands(rng, config, commands)
        tiles = [random_tile(rng, config) for _ in batch]
        answers, _ = run_sore(config, batch, tiles, stall_seed=stall_seed)
        predicted = last_beat_cycles(config, batch)
        for i, (command, tile, answer) in enumerate(zip(batch, tiles, answers, strict=True)):
            where = (
                f"{'stalled ' if stall_seed is not None else ''}command {i} (n, copies)={command}"
            )
            check.count("rejected", int(not is_good(config, *command)))
            check.answer(answer_problems(config, command, tile, answer.beats), where)
            if stall_seed is None:
                check.cycles(answer.cycles, predicted[i], where)
            else:
                check.count("stalled")
    return check
