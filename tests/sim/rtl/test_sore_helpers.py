"""Fast checks of the SORE's harness parts (no simulator): configurations, plans, tiles, the
scoreboard, the codec and the replay form of a batch."""

import itertools
import random

import pytest

from sparsa.config.formats import NumberFormat
from sparsa.config.presets import SORE_CONFIGS
from sparsa.config.sat import SUPPORTED_M, BdwpPass, SoreConfig
from sparsa.hw.sat.sore import out_layout
from sparsa.sim.rtl.sore.block import SoreBlock
from sparsa.sim.rtl.sore.codec import SoreBeat, SoreCodec
from sparsa.sim.rtl.sore.scoreboard import check_answer, check_weights, expected_lanes
from sparsa.sim.rtl.sore.stimulus import (
    TILE_STYLES,
    SoreCommand,
    check_batches,
    draw_tile,
    make_plan,
    reject_fields,
)

SMALL = SoreConfig(lanes=4, m=2)
BLOCK = SoreBlock()


def test_configs_cover_the_required_space() -> None:
    configs = list(SORE_CONFIGS.values())
    assert {c.m for c in configs} == set(SUPPORTED_M)
    assert {c.dtype for c in configs} == set(NumberFormat)
    assert any(c.lanes == 32 for c in configs)
    assert any(c.lanes & (c.lanes - 1) for c in configs)  # not a power of two


@pytest.mark.parametrize("name", list(SORE_CONFIGS))
def test_plan_covers_the_requirements(name: str) -> None:
    config = SORE_CONFIGS[name]
    plan = make_plan(config, seed=5, count=120)
    commands = [c for b in plan for c in b.commands]
    assert len(commands) >= 120
    good = [c for c in commands if c.is_good(config)]
    directed = plan[0].commands
    pairs = {(c.n, c.copies) for c in directed if c.is_good(config)}
    assert pairs == set(itertools.product(range(1, config.m), (1, 2, 3)))
    for n in (1, config.m - 1):  # every style at the smallest and the largest N
        assert {c.style for c in directed if c.n == n and c.copies == 3} == set(TILE_STYLES)
    rejects = {(n, copies) for n, copies, _ in reject_fields(config)}
    assert {(c.n, c.copies) for c in directed if not c.is_good(config)} == rejects
    assert not directed[0].is_good(config) and not directed[-1].is_good(config)
    assert any(not a.is_good(config) and not b.is_good(config)
               for a, b in itertools.pairwise(directed))
    for batch in plan[1:]:  # random batches: a rejected command is followed by a good one
        for before, after in itertools.pairwise(batch.commands):
            assert before.is_good(config) or after.is_good(config)
    assert all(not c.tile for c in commands if not c.is_good(config))
    assert any(not c.is_good(config) for b in plan[1:] for c in b.commands)
    # The directed batch runs without stalls, then the random ones alternate, stalled first.
    assert [b.stalls.none for b in plan] == [True] + [i % 2 == 1 for i in range(len(plan) - 1)]
    assert sum(len(b.commands) for b in plan if not b.stalls.none) >= 24
    # Integers are values; floats are bit patterns, all of them allowed.
    lo, hi = config.dtype.stored_range
    for c in good:
        assert len(c.tile) == config.m and all(len(row) == config.lanes for row in c.tile)
        assert all(lo <= v <= hi for row in c.tile for v in row)
    assert sum(len(c.passes) for c in good) * config.lanes >= 500
    if config.dtype.is_float:  # NaNs, infinities, subnormals and both zeros in the tiles
        layout = config.dtype.float_layout
        exponents = {v >> layout.fraction_bits & layout.max_exponent
                     for c in good for row in c.tile for v in row}
        values = {v for c in good for row in c.tile for v in row}
        sign = 1 << (config.dtype.width - 1)
        assert {0, layout.max_exponent} <= exponents and {0, sign} <= values


def test_check_batches() -> None:
    config = SoreConfig(lanes=8, m=4)
    calm, stalled = check_batches(config, 31, 9)
    assert calm.stalls.none and not stalled.stalls.none
    for batch in (calm, stalled):
        good = [(c.n, c.copies) for c in batch.commands if c.is_good(config)]
        assert sorted(good) == sorted(itertools.product(range(1, 4), (1, 2, 3)))
        bad = [(c.n, c.copies) for c in batch.commands if not c.is_good(config)]
        assert sorted(bad) == sorted((n, copies) for n, copies, _ in reject_fields(config))
    assert calm.commands != stalled.commands
    assert check_batches(config, 31, 9) == [calm, stalled] != check_batches(config, 32, 9)


@pytest.mark.parametrize("style", TILE_STYLES)
def test_tiles(style: str) -> None:
    config = SoreConfig(lanes=16, m=4)
    tile = draw_tile(random.Random(2), config, style)
    assert len(tile) == 4 and all(len(row) == 16 for row in tile)
    if style in ("full", "extremes"):
        assert any(all(row[col] == 0 for row in tile) for col in range(16))  # a BP group
        assert any(row[g * 4:(g + 1) * 4] == [0] * 4 for row in tile for g in range(4))  # FF
    if style == "extremes":
        assert -128 in {v for row in tile for v in row}
    with pytest.raises(ValueError, match="unknown tile style 'odd'"):
        draw_tile(random.Random(2), config, "odd")


def test_rejects_cover_the_field() -> None:
    assert reject_fields(SMALL) == [(0, 3, "N = 0"), (2, 1, "N = M"), (1, 0, "no copy"),
                                    (3, 2, "N = 3")]
    assert len(reject_fields(SoreConfig(lanes=8, m=8))) == 4
    assert len(reject_fields(SoreConfig(lanes=4, m=4))) == 4  # the n field holds 0..7


def _beat(lanes: list[list[tuple[int, int]]], direction: BdwpPass, last: bool,
          error: bool = False) -> SoreBeat:
    return SoreBeat(tuple(tuple(lane) for lane in lanes), direction, last, error, 0)


def test_scoreboard() -> None:
    tile = ((3, -3, 0, 5), (-4, 2, 2, -5))
    command = SoreCommand(n=1, copies=3, tile=tile, style="test")
    ff = expected_lanes(SMALL, command, BdwpPass.FF)
    bp = expected_lanes(SMALL, command, BdwpPass.BP)
    assert ff == [[(3, 0)], [(5, 1)], [(-4, 0)], [(-5, 1)]]  # ties go to the lowest index
    assert bp == [[(-4, 1)], [(-3, 0)], [(2, 1)], [(5, 0)]]  # |5| = |-5|: index 0
    good = [_beat(ff, BdwpPass.FF, False), _beat(bp, BdwpPass.BP, True)]
    assert check_answer(SMALL, command, good) == []
    swapped = [_beat(bp, BdwpPass.FF, False), _beat(ff, BdwpPass.BP, True)]
    assert check_answer(SMALL, command, swapped)[0].startswith("FF copy: 4 lanes differ: lane 0")
    assert check_answer(SMALL, command, good[:1]) == ["expected 2 out beats, got 1"]
    assert "BP copy has direction <BdwpPass.FF: 0>" in check_answer(
        SMALL, command, [good[0], _beat(bp, BdwpPass.FF, True)])
    early = [_beat(ff, BdwpPass.FF, True), _beat(bp, BdwpPass.BP, True)]
    assert check_answer(SMALL, command, early) == ["last set before the final beat"]
    reject = SoreCommand(n=0, copies=1, tile=(), style="rejected")
    zeros = [[(0, 0)]] * 4
    assert check_answer(SMALL, reject, [_beat(zeros, BdwpPass.FF, True, error=True)]) == []
    for wrong in (_beat(ff, BdwpPass.FF, True, error=True), _beat(zeros, BdwpPass.BP, True, True),
                  _beat(zeros, BdwpPass.FF, True)):
        assert check_answer(SMALL, reject, [wrong])[0].startswith("a rejected command must")


def test_weights_span() -> None:
    command = SoreCommand(n=1, copies=1, tile=((1, 2, 3, 4), (5, 6, 7, 8)), style="test")
    assert check_weights(command, 10, [11, 12], 16) == []
    assert check_weights(command, 10, [10, 12], 16)[0].startswith("weights beats crossed outside")
    assert check_weights(command, 10, [11, 12, 13], 16) == [
        "3 weights beats consumed, expected 2"]
    reject = SoreCommand(n=0, copies=1, tile=(), style="rejected")
    assert check_weights(reject, 4, [], 7) == []
    assert check_weights(reject, 4, [5], 7) == ["1 weights beats consumed, expected 0"]


def test_codec() -> None:
    config = SoreConfig(lanes=4, m=4)
    codec = SoreCodec(config)
    lanes = [[{"value": -128 + i, "index": i % 4} for i in range(3)] for _ in range(4)]
    bits = out_layout(config).const(
        {"lanes": lanes, "direction": BdwpPass.BP, "last": 1, "error": 0}).as_bits()
    beat = codec.out(bits, cycle=3)
    assert beat.lanes[0] == ((-128, 0), (-127, 1), (-126, 2)) and beat.direction is BdwpPass.BP
    assert beat.last and not beat.error and beat.cycle == 3
    assert codec.cmd(3, 2) == 3 | 2 << 3
    assert codec.weights((1, -1, 0, 2)) == 1 | 0xFF << 8 | 2 << 24


def test_a_batch_round_trips_through_json() -> None:
    config = SORE_CONFIGS["l12m4-int16"]
    for batch in BLOCK.plan(config, 8, 40, stalls=True)[:2]:
        assert BLOCK.batch_from_json(config, BLOCK.batch_to_json(batch)) == batch

