"""Fast checks of the top-k RTL test helpers (no simulator): configs, plans, codec, scoreboard."""

import itertools
import random

import pytest

from sparsa.config.presets import TOPK_CONFIGS
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.hw.topk.topk import dout_layout
from sparsa.sim.rtl.configs import config_hash
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.topk.codec import DoutBeat, TopKCodec
from sparsa.sim.rtl.topk.scoreboard import check_order, check_response, expected_pairs
from sparsa.sim.rtl.topk.stimulus import (
    PATTERNS,
    Request,
    make_plan,
    make_values,
    replay_from_json,
    replay_to_json,
)

SMALL = TopKConfig(lanes=4, comparators=2, capacity=10, width=4, signed=True)


def test_configs_cover_the_required_space() -> None:
    configs = list(TOPK_CONFIGS.values())
    assert {c.lanes for c in configs} == {8, 16}
    assert {c.width for c in configs} == {8, 16}
    assert {c.signed for c in configs} == {False, True}
    assert {c.comparators for c in configs} == {1, 2, 4, 8, 16, 32}
    assert {c.pivot for c in configs} == set(PivotMode)
    assert any(c.capacity % c.lanes and c.capacity % c.comparators for c in configs)


def test_config_hashes_differ() -> None:
    assert len({config_hash(c) for c in TOPK_CONFIGS.values()}) == len(TOPK_CONFIGS)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_values_stay_in_range(pattern: str) -> None:
    values = make_values(random.Random(1), pattern, 50, -8, 7)
    assert len(values) == 50 and all(-8 <= v <= 7 for v in values)


def test_unknown_pattern_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown value pattern 'zigzag'"):
        make_values(random.Random(1), "zigzag", 3, 0, 1)


@pytest.mark.parametrize("config", [SMALL, *TOPK_CONFIGS.values()])
def test_plan_covers_the_corner_cases(config: TopKConfig) -> None:
    plan = make_plan(config, seed=7, count=400)
    requests = [r for b in plan for r in b.requests]
    assert len(requests) >= 400
    good = [r for r in requests if not r.is_error(config)]
    assert {1, config.capacity} <= {r.n for r in good}
    assert any(r.k == 0 for r in good) and any(r.k == 1 for r in good)
    assert any(r.k == r.n > 1 for r in good)
    assert {r.pattern for r in good} == set(PATTERNS)
    assert any(r.n == 0 for r in requests)
    assert any(r.n > config.capacity for r in requests)
    assert any(0 < r.n <= config.capacity and r.k > r.n for r in requests)
    for before, after in itertools.pairwise(requests):
        if before.is_error(config):
            assert not after.is_error(config), "every error request is followed by a good one"
    lo, hi = config.value_range
    for r in requests:
        assert len(r.values) == r.n and r.k < 1 << config.count_width
        assert all(lo <= v <= hi for v in r.values + r.junk)
        beats = r.din_beats(config)
        assert len(beats) == -(-r.n // config.lanes)
        assert all(len(beat) == config.lanes for beat in beats)
    assert any(b.stalls.none for b in plan[1:]) and not all(b.stalls.none for b in plan)
    assert sum(len(b.requests) for b in plan if b.stalls.none) >= 150


def test_plan_is_seeded() -> None:
    assert make_plan(SMALL, seed=3, count=100) == make_plan(SMALL, seed=3, count=100)
    assert make_plan(SMALL, seed=3, count=100) != make_plan(SMALL, seed=4, count=100)


def test_codec_matches_the_layouts() -> None:
    codec = TopKCodec(SMALL)
    bits = (
        dout_layout(SMALL)
        .const({"index": [1, 2, 3, 9], "value": [-8, 7, 0, -1], "count": 3, "last": 1, "error": 0})
        .as_bits()
    )
    beat = codec.dout(bits, edge=5)
    assert beat == DoutBeat((1, 2, 3, 9), (-8, 7, 0, -1), 3, True, False, 5)
    assert codec.payload_widths == {"cmd": 8, "din": 16, "dout": 4 * 4 + 4 * 4 + 3 + 2}
    cmd = codec.cmd(10, 3)
    width = SMALL.count_width
    assert (cmd & ((1 << width) - 1), cmd >> width) == (10, 3)
    assert codec.din([-1, 0, 1, 2]) == 0xF | 0x0 << 4 | 0x1 << 8 | 0x2 << 12


def _request(values: list[int], k: int) -> Request:
    return Request(n=len(values), k=k, values=tuple(values), pattern="test", junk=())


def _beats(pairs: list[tuple[int, int]], lanes: int, edge: int = 10) -> list[DoutBeat]:
    chunks = [pairs[i : i + lanes] for i in range(0, len(pairs), lanes)] or [[]]
    beats = []
    for i, chunk in enumerate(chunks):
        pad = [(0, 0)] * (lanes - len(chunk))
        index, value = zip(*(chunk + pad), strict=True)
        beats.append(DoutBeat(index, value, len(chunk), i == len(chunks) - 1, False, edge + i))
    return beats


def test_scoreboard_accepts_the_golden_response() -> None:
    request = _request([3, -2, 7, 7, 0, 5], 5)
    pairs = expected_pairs(SMALL, request)
    assert pairs == [(0, 3), (2, 7), (3, 7), (4, 0), (5, 5)]
    assert check_response(SMALL, request, _beats(pairs, SMALL.lanes)) == []
    assert check_response(SMALL, _request([1, 2], 0), _beats([], SMALL.lanes)) == []
    error = DoutBeat((0,) * 4, (0,) * 4, 0, True, True, 3)
    assert check_response(SMALL, _request([1, 2], 3), [error]) == []


def test_scoreboard_reports_mismatches() -> None:
    request = _request([3, -2, 7, 7, 0, 5], 5)
    pairs = expected_pairs(SMALL, request)
    wrong_tie = [(0, 3), (2, 7), (3, 7), (1, -2), (5, 5)]
    assert "kept pairs differ" in check_response(SMALL, request, _beats(wrong_tie, 4))[0]
    assert "expected 2 dout beats, got 3" in check_response(SMALL, request, _beats(pairs, 2))[0]
    missing_error = _beats([], SMALL.lanes)
    assert check_response(SMALL, _request([1], 2), missing_error)[0].startswith("error request")


def test_order_check() -> None:
    previous = Timeline(cmd_edge=0, inputs={"din": [1, 2]}, out=_beats([(0, 1)], 4, edge=9))
    assert check_order(previous, Timeline(cmd_edge=10)) == []
    assert len(check_order(previous, Timeline(cmd_edge=9))) == 1
    assert len(check_order(previous, Timeline(cmd_edge=2))) == 2


def test_replay_round_trip() -> None:
    requests = (_request([1, 2, 3], 2), _request([-4], 0))
    back = replay_from_json(SMALL, replay_to_json(requests))
    assert [(r.n, r.k, r.values, len(r.junk)) for r in back] == [(3, 2, (1, 2, 3), 1),
                                                                  (1, 0, (-4,), 3)]
