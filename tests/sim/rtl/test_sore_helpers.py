"""Fast checks of the SORE RTL test helpers (no simulator): configurations, plans, tiles, the
scoreboard and the codec."""

import itertools
import random

import pytest

from sparsa.config.presets import SORE_CONFIGS
from sparsa.config.sat import SUPPORTED_M, IntFormat, SoreConfig
from sparsa.hw.sat.sore import BP, FF, out_layout
from sparsa.sim.rtl.sat_array.codec import SoreBeat, SoreCodec
from sparsa.sim.rtl.sore.scoreboard import check_answer, expected_lanes
from sparsa.sim.rtl.sore.stimulus import (
    TILE_STYLES,
    SoreCommand,
    command_from_json,
    command_to_json,
    draw_tile,
    make_plan,
    reject_fields,
)

SMALL = SoreConfig(lanes=4, m=2)


def test_configs_cover_the_required_space() -> None:
    configs = list(SORE_CONFIGS.values())
    assert {c.m for c in configs} == set(SUPPORTED_M)
    assert {c.dtype for c in configs} == set(IntFormat)
    assert any(c.lanes == 32 for c in configs)
    assert any(c.lanes & (c.lanes - 1) for c in configs)  # not a power of two


@pytest.mark.parametrize("name", list(SORE_CONFIGS))
def test_plan_covers_the_requirements(name: str) -> None:
    config = SORE_CONFIGS[name]
    plan = make_plan(config, seed=5, count=120)
    commands = [c for b in plan for c in b.commands]
    assert len(commands) >= 120
    good = [c for c in commands if c.is_good(config)]
    directed = {(c.n, c.copies) for c in plan[0].commands if c.is_good(config)}
    assert directed == set(itertools.product(range(1, config.m), (1, 2, 3)))
    assert {c.style for c in good} == set(TILE_STYLES)
    bad = {(c.n, c.copies) for c in commands if not c.is_good(config)}
    assert bad >= {(n, copies) for n, copies, _ in reject_fields(config)}
    for before, after in itertools.pairwise(commands):
        if not before.is_good(config):
            assert after.is_good(config) and not before.tile
    assert plan[0].stalls.none and any(not b.stalls.none for b in plan)
    assert sum(len(b.commands) for b in plan if not b.stalls.none) >= 60
    lo, hi = config.dtype.range
    for c in good:
        assert len(c.tile) == config.m and all(len(row) == config.lanes for row in c.tile)
        assert all(lo <= v <= hi for row in c.tile for v in row)
    assert sum(len(c.directions) for c in good) * config.lanes >= 500


def test_plan_is_seeded() -> None:
    assert make_plan(SMALL, 3, 40) == make_plan(SMALL, 3, 40) != make_plan(SMALL, 4, 40)


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


def _beat(lanes: list[list[tuple[int, int]]], direction: int, last: bool,
          error: bool = False) -> SoreBeat:
    return SoreBeat(tuple(tuple(lane) for lane in lanes), direction, last, error, 0)


def test_scoreboard() -> None:
    tile = ((3, -3, 0, 5), (-4, 2, 2, -5))
    command = SoreCommand(n=1, copies=3, tile=tile, style="test")
    ff = expected_lanes(SMALL, command, FF)
    bp = expected_lanes(SMALL, command, BP)
    assert ff == [[(3, 0)], [(5, 1)], [(-4, 0)], [(-5, 1)]]  # ties go to the lowest index
    assert bp == [[(-4, 1)], [(-3, 0)], [(2, 1)], [(5, 0)]]  # |5| = |-5|: index 0
    good = [_beat(ff, FF, False), _beat(bp, BP, True)]
    assert check_answer(SMALL, command, good) == []
    swapped = [_beat(bp, FF, False), _beat(ff, BP, True)]
    assert "FF copy: 4 lanes differ" in check_answer(SMALL, command, swapped)[0]
    assert check_answer(SMALL, command, good[:1])[0] == "expected 2 out beats, got 1"
    reject = SoreCommand(n=0, copies=1, tile=(), style="rejected")
    zeros = [[(0, 0)]] * 4
    assert check_answer(SMALL, reject, [_beat(zeros, FF, True, error=True)]) == []
    assert check_answer(SMALL, reject, [_beat(ff, FF, True, error=True)])
    assert command_from_json(command_to_json(command)) == command


def test_codec_decodes_out_beats() -> None:
    config = SoreConfig(lanes=4, m=4)
    codec = SoreCodec(config)
    lanes = [[{"value": -128 + i, "index": i % 4} for i in range(3)] for _ in range(4)]
    bits = out_layout(config).const(
        {"lanes": lanes, "direction": BP, "last": 1, "error": 0}).as_bits()
    beat = codec.out(bits, edge=3)
    assert beat.lanes[0] == ((-128, 0), (-127, 1), (-126, 2)) and beat.direction == BP
    assert beat.last and not beat.error and beat.edge == 3
    assert codec.pack("cmd", {"n": 3, "copies": 2}) == 3 | 2 << 3
