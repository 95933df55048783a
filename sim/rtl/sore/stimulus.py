"""Seeded commands for SAT's SORE: directed corner cases, then random batches; pure Python.

A command carries its dense tile (M rows of L weights), drawn from one of :data:`TILE_STYLES`,
most of them rich in equal magnitudes (ties), the format's extremes and all-zero groups.
:func:`make_plan` is the plan of the RTL harness (:mod:`sparsa.sim.rtl.sore.block`, ``sparsa
verify sore``); :func:`check_batches` is the short check of the report
(``tests/hw/sat/test_sore.py``). Both draw from one seeded generator, so a plan is
unit-tested without a simulator.
"""

import random
from dataclasses import dataclass

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import BdwpPass, SoreConfig
from sparsa.hw.sat.sore import cmd_layout
from sparsa.sim.rtl.plans import alternating_plan
from sparsa.sim.rtl.stalls import Stalls, random_stalls

__all__ = [
    "BATCH_COMMANDS",
    "REJECT_RATE",
    "SOURCES",
    "TILE_STYLES",
    "SoreBatch",
    "SoreCommand",
    "check_batches",
    "draw_tile",
    "make_plan",
    "reject_fields",
]

SOURCES = ("cmd", "weights")  # the SORE's input streams, in the order their sources are made
# full: uniform; small: -2..2 (equal and +/- equal magnitudes); extremes: the minimum beside
# its neighbours and +/- pairs; equal: one value everywhere; zero: all zeros (draw_tile says
# what each holds for floating-point weights).
TILE_STYLES = ("full", "small", "extremes", "equal", "zero")
BATCH_COMMANDS = 12
REJECT_RATE = 0.08


@dataclass(frozen=True)
class SoreCommand:
    """One SORE command and its tile.

    Attributes
    ----------
    n, copies : int
        The command fields (``copies``: bit ``1 << p`` asks for the copy of
        :class:`~sparsa.config.sat.BdwpPass` p; 1 = FF, 2 = BP, 3 = both).
    tile : tuple of tuple of int
        M rows of L weights, the ``weights`` beats (empty for a rejected command).
    style : str
        How the tile was drawn (or why the command is rejected), for reports.
    """

    n: int
    copies: int
    tile: tuple[tuple[int, ...], ...]
    style: str

    def is_good(self, config: SoreConfig) -> bool:
        """Whether the engine must accept the command (1 <= N < M and some copy asked)."""
        return 1 <= self.n < config.m and self.copies != 0

    @property
    def passes(self) -> list[BdwpPass]:
        """The copies to produce, in output order (FF first)."""
        return [p for p in BdwpPass if self.copies >> p & 1]

    def describe(self) -> str:
        """Short text for reports."""
        return f"n={self.n} copies={self.copies} ({self.style})"


@dataclass(frozen=True)
class SoreBatch:
    """Commands run back to back under one stall setting."""

    commands: tuple[SoreCommand, ...]
    stalls: Stalls

    @property
    def cases(self) -> tuple[SoreCommand, ...]:
        """Its commands (the harness's cases)."""
        return self.commands


def _int_alphabets(dtype: NumberFormat) -> dict[str, list[int]]:
    lo, hi = dtype.range
    return {
        "small": [-2, -1, 0, 1, 2],
        "extremes": [lo, lo + 1, hi, -1, 0, 1],
        "equal": [lo, hi, -3, 0, 5],
        "zero": [0],
    }


def _float_alphabets(dtype: NumberFormat) -> dict[str, list[int]]:
    """Bit patterns: ``small``, the smallest magnitudes (signed zeros, the two smallest
    subnormals, +/-1.0); ``extremes``, +/-Inf, two NaNs, the largest finite values, the largest
    subnormal and the smallest normal, signed zeros."""
    layout = dtype.float_layout
    sign = 1 << (dtype.width - 1)
    one = layout.bias << layout.fraction_bits
    inf = layout.max_exponent << layout.fraction_bits
    quiet_nan, signalling_nan = inf | 1 << (layout.fraction_bits - 1), inf | 1
    normal = 1 << layout.fraction_bits  # the smallest normal; the one below is a subnormal
    extremes = [inf, quiet_nan, signalling_nan, inf - 1, normal, normal - 1, 0]
    return {
        "small": [0, sign, 1, sign | 1, 2, one, sign | one],
        "extremes": extremes + [v | sign for v in extremes],
        "equal": [one, sign | one, inf, quiet_nan, 1, 0],
        "zero": [0, sign],
    }


def draw_tile(rng: random.Random, config: SoreConfig, style: str) -> list[list[int]]:
    """An ``M x L`` tile of ``style`` (one of :data:`TILE_STYLES`); the full and extremes ones
    also get an all-zero BP group (a column) and an all-zero FF group (M positions of a row).

    Integer weights are values; floating-point ones are bit patterns, and a full tile is uniform
    over all of them (NaNs, infinities and subnormals included). A zero tile of floats mixes +0
    and -0, whose magnitudes tie."""
    M, L = config.m, config.lanes
    dtype = config.dtype
    alphabets = _float_alphabets(dtype) if dtype.is_float else _int_alphabets(dtype)
    lo, hi = dtype.stored_range
    if style == "full":
        tile = [[rng.randint(lo, hi) for _ in range(L)] for _ in range(M)]
    elif style == "equal" or alphabets.get(style) == [0]:
        value = rng.choice(alphabets["equal"]) if style == "equal" else 0
        tile = [[value] * L for _ in range(M)]
    elif style in alphabets:
        tile = [[rng.choice(alphabets[style]) for _ in range(L)] for _ in range(M)]
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
    """Every kind of rejected command as (n, copies, reason): N = 0, N = M, no copy asked, and
    the largest N the field holds (when it is above M)."""
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
        M = self.config.m
        rejects = [self.reject(fields) for fields in reject_fields(self.config)]
        commands = [rejects[0]]  # a rejected command on an idle engine
        styles = iter(TILE_STYLES * (3 * M))
        for n in range(1, M):
            commands += [self.good(n, copies, next(styles)) for copies in (1, 2, 3)]
        for style in TILE_STYLES:  # every style at the smallest and the largest N
            commands += [self.good(n, 3, style) for n in sorted({1, M - 1})]
        for reject in rejects:
            commands += [reject, self.random_good()]
        commands += [rejects[-1], rejects[0], self.random_good()]  # rejected back to back
        commands.append(rejects[1])  # a rejected command last, behind a good one
        return commands

    def random_reject(self) -> SoreCommand:
        return self.reject(self.rng.choice(reject_fields(self.config)))


def make_plan(config: SoreConfig, seed: int, count: int) -> list[SoreBatch]:
    """Build a seeded plan of at least ``count`` commands for ``config``.

    The first batch, without stalls, holds the directed commands: every N with every copies
    mask (FF, BP, both), every tile style at the smallest and the largest N, and every kind of
    rejected command (first on the idle engine, each followed by a good one, two back to back,
    one last). The random batches of :data:`BATCH_COMMANDS` commands that follow alternate
    between random idle cycles on cmd and weights with back-pressure on out (the first one)
    and no stalls (their cycles are checked against :mod:`sparsa.sim.blocks.sore`); about
    :data:`REJECT_RATE` of their commands are rejected ones, each followed by a good one.

    Parameters
    ----------
    config : SoreConfig
        The engine under test.
    seed : int
        Seed of the plan's own random generator.
    count : int
        Commands wanted in total (the directed ones are always produced).
    """
    planner = _Planner(config, random.Random(seed))
    plan = alternating_plan(planner.directed(), count, size=BATCH_COMMANDS,
                            good=planner.random_good, bad=planner.random_reject,
                            bad_rate=REJECT_RATE, rng=planner.rng, sources=SOURCES,
                            stalled_first=True)
    return [SoreBatch(commands=commands, stalls=stalls) for commands, stalls in plan]


def check_batches(config: SoreConfig, seed: int, commands: int) -> list[SoreBatch]:
    """The two batches of the report's short check: ``commands`` good commands and every kind
    of rejected command at random places, first without stalls, then (new commands) with random
    stalls. The good commands cycle through the pairs of N and copies mask (all of them once
    ``commands`` reaches 3 (M - 1)), in a seeded order; their tiles' styles are drawn."""
    planner = _Planner(config, random.Random(seed))
    rng, M = planner.rng, config.m
    batches = []
    pairs = [(n, copies) for n in range(1, M) for copies in (1, 2, 3)]
    for stalled in (False, True):
        fields = [pairs[k % len(pairs)] for k in range(commands)]
        rng.shuffle(fields)
        batch = [planner.good(n, copies) for n, copies in fields]
        for reject in reject_fields(config):
            batch.insert(rng.randrange(len(batch) + 1), planner.reject(reject))
        stalls = random_stalls(rng, SOURCES) if stalled else Stalls()
        batches.append(SoreBatch(commands=tuple(batch), stalls=stalls))
    return batches
