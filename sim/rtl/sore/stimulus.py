"""Seeded plans for SAT's SORE: directed commands (every N with every copies mask, every kind of
rejected command), then random batches with and without stalls.

Pure Python (no cocotb), so a plan is unit-tested without a simulator. A command carries its
dense tile (M rows of L weights), drawn from one of :data:`TILE_STYLES`, most of them rich in
equal magnitudes (ties), the format's extremes and all-zero groups.
"""

import random
from dataclasses import asdict, dataclass

from sparsa.config.sat import SoreConfig
from sparsa.hw.sat.sore import BP, FF, cmd_layout
from sparsa.sim.rtl.stalls import Stalls, random_stalls

__all__ = [
    "SOURCES",
    "TILE_STYLES",
    "SoreBatch",
    "SoreCommand",
    "command_from_json",
    "command_to_json",
    "draw_tile",
    "make_plan",
    "reject_fields",
]

SOURCES = ("cmd", "weights")  # the SORE's input streams, in driver order
# full: uniform; small: -2..2 (equal and +/- equal magnitudes); extremes: the minimum beside
# its neighbours and +/- pairs; equal: one value everywhere; zero: all zeros.
TILE_STYLES = ("full", "small", "extremes", "equal", "zero")
BATCH_COMMANDS = 12
REJECT_RATE = 0.08


@dataclass(frozen=True)
class SoreCommand:
    """One SORE command and its tile.

    Attributes
    ----------
    n, copies : int
        The command fields (copies: 1 = FF, 2 = BP, 3 = both).
    tile : tuple of tuple of int
        M rows of L weights, the ``weights`` beats (empty for a rejected command).
    style : str
        How the tile was drawn (or why the command is bad), for reports.
    """

    n: int
    copies: int
    tile: tuple[tuple[int, ...], ...]
    style: str

    def is_good(self, config: SoreConfig) -> bool:
        """Whether the engine must accept the command (1 <= N < M and some copy asked)."""
        return 1 <= self.n < config.m and self.copies != 0

    @property
    def directions(self) -> list[int]:
        """The copies to produce, in output order (FF first)."""
        return [d for d in (FF, BP) if self.copies >> d & 1]

    @property
    def cmd(self) -> dict[str, int]:
        """The command beat."""
        return {"n": self.n, "copies": self.copies}

    def describe(self) -> str:
        """Short text for reports."""
        return f"n={self.n} copies={self.copies} ({self.style})"


@dataclass(frozen=True)
class SoreBatch:
    """Commands run back to back under one stall setting."""

    commands: tuple[SoreCommand, ...]
    stalls: Stalls


def command_to_json(command: SoreCommand) -> dict[str, object]:
    """Plain-data form of a command (for replays)."""
    return asdict(command)


def command_from_json(data: dict) -> SoreCommand:
    """Inverse of :func:`command_to_json`."""
    return SoreCommand(n=data["n"], copies=data["copies"],
                       tile=tuple(tuple(row) for row in data["tile"]), style=data["style"])


def draw_tile(rng: random.Random, config: SoreConfig, style: str) -> list[list[int]]:
    """An ``M x L`` tile of ``style`` (one of :data:`TILE_STYLES`); the full and extremes ones
    also get an all-zero BP group (a column) and an all-zero FF group (M positions of a row)."""
    M, L = config.m, config.lanes
    lo, hi = config.dtype.range
    alphabets = {"small": [-2, -1, 0, 1, 2], "extremes": [lo, lo + 1, hi, -1, 0, 1]}
    if style == "full":
        tile = [[rng.randint(lo, hi) for _ in range(L)] for _ in range(M)]
    elif style in alphabets:
        tile = [[rng.choice(alphabets[style]) for _ in range(L)] for _ in range(M)]
    elif style in ("equal", "zero"):
        value = rng.choice([lo, hi, -3, 0, 5]) if style == "equal" else 0
        tile = [[value] * L for _ in range(M)]
    else:
        raise ValueError(f"unknown tile style {style!r}; expected one of {TILE_STYLES}")
    if style in ("full", "extremes"):
        column = rng.randrange(L)
        for row in tile:
            row[column] = 0
        row, group = rng.randrange(M), rng.randrange(L // M)
        tile[row][group * M:(group + 1) * M] = [0] * M
    return tile


def reject_fields(config: SoreConfig) -> list[tuple[int, int, str]]:
    """Every kind of bad command as (n, copies, reason): N = 0, N = M, the largest N the field
    holds, and no copy asked."""
    n_max = (1 << cmd_layout(config).members["n"].width) - 1
    bad = [(0, 3, "N = 0"), (config.m, 1, "N = M"), (1, 0, "no copy")]
    if n_max > config.m:
        bad.append((n_max, 2, f"N = {n_max}"))
    return bad


class _Planner:
    def __init__(self, config: SoreConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng

    def good(self, n: int, copies: int, style: str | None = None) -> SoreCommand:
        style = style or self.rng.choice(TILE_STYLES)
        tile = draw_tile(self.rng, self.config, style)
        return SoreCommand(n, copies, tuple(tuple(row) for row in tile), style)

    def random_good(self) -> SoreCommand:
        return self.good(self.rng.randint(1, self.config.m - 1), self.rng.randint(1, 3))

    def reject(self, fields: tuple[int, int, str]) -> SoreCommand:
        n, copies, reason = fields
        return SoreCommand(n, copies, (), f"rejected: {reason}")

    def directed(self) -> list[SoreCommand]:
        commands = []
        styles = iter(TILE_STYLES * (3 * self.config.m))
        for n in range(1, self.config.m):
            commands += [self.good(n, copies, next(styles)) for copies in (1, 2, 3)]
        for fields in reject_fields(self.config):
            commands += [self.reject(fields), self.random_good()]
        return commands


def make_plan(config: SoreConfig, seed: int, count: int) -> list[SoreBatch]:
    """Build a seeded plan of at least ``count`` commands for ``config``.

    The first batch, without stalls, holds every N with every copies mask and every kind of
    rejected command, each followed by a good one. Of the random batches that follow, of
    :data:`BATCH_COMMANDS` commands, one in three runs without stalls (its cycles are checked
    against :mod:`sparsa.sim.blocks.sore`) and the others with random idle cycles on cmd and weights and
    back-pressure on out, until half of ``count`` ran stalled; about :data:`REJECT_RATE` of their
    commands are rejected ones, each followed by a good one.
    """
    planner = _Planner(config, random.Random(seed))
    rng = planner.rng
    batches = [SoreBatch(commands=tuple(planner.directed()), stalls=Stalls())]
    total, stalled_total = len(batches[0].commands), 0
    while total < count or stalled_total < count // 2:
        stalled = len(batches) % 3 != 0
        commands: list[SoreCommand] = []
        while len(commands) < BATCH_COMMANDS:
            if rng.random() < REJECT_RATE:
                commands.append(planner.reject(rng.choice(reject_fields(config))))
            commands.append(planner.random_good())
        stalls = random_stalls(rng, SOURCES) if stalled else Stalls()
        batches.append(SoreBatch(commands=tuple(commands), stalls=stalls))
        total += len(commands)
        stalled_total += len(commands) if stalled else 0
    return batches

