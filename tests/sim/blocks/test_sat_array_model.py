"""The SAT array's cycle model on its own: lone tiles, sequences with and without interleave,
runs placed at once, and its checks. (The model against the RTL: tests/hw/sat/test_sat_array.py
and the cocotb tests in tests/sim/rtl.)"""

import itertools
import random

import pytest

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.sim.blocks.sat_array import (
    REJECT_CYCLES,
    ArrayTimeline,
    increment,
    is_rejected,
    os_drain,
    sequence_cycles,
    sequence_timeline,
    tile_cycles,
)

ARRAY = SatArrayConfig(
    rows=4, cols=6, patterns=(NMPattern(2, 4), NMPattern(1, 8)), max_reduction=64
)
SERIAL = ARRAY.replace(interleave=False)
PIPELINED = {L: ARRAY.replace(dtype=NumberFormat.FP16, add_latency=L) for L in (2, 3, 4)}


def _tile(dataflow: Dataflow, length: int, rows: int, pattern: int = 0) -> dict[str, int]:
    return {"dataflow": dataflow, "pattern": pattern, "length": length, "rows": rows}


def _random_tiles(rng: random.Random, count: int, *, rejects: bool = True) -> list[dict]:
    tiles = []
    for _ in range(count):
        if rejects and rng.random() < 0.1:
            tiles.append(_tile(Dataflow.OS, 3, 1, pattern=1))  # 3 entries with N = 2: rejected
            continue
        code = rng.randrange(len(runtime_patterns(ARRAY)))
        n = 1 if code == 0 else runtime_patterns(ARRAY)[code].n
        dataflow = rng.choice((Dataflow.OS, Dataflow.WS))
        if dataflow == Dataflow.OS:
            length, rows = n * rng.randint(1, 20), rng.randint(1, ARRAY.rows)
            tiles.append(_tile(Dataflow.OS, length, rows, code))
        else:
            length, rows = rng.randint(1, 20), n * rng.randint(1, ARRAY.rows // n)
            tiles.append(_tile(Dataflow.WS, length, rows, code))
    return tiles


def test_lone_tiles_take_the_documented_cycles() -> None:
    R, C = ARRAY.rows, ARRAY.cols
    for config in (ARRAY, SERIAL):  # 1: the edge registers
        assert tile_cycles(config, **_tile(Dataflow.OS, 10, 3)) == 10 + 1 + C + 3
        assert tile_cycles(config, **_tile(Dataflow.WS, 10, 3)) == 3 + 10 + 1 + R + C
        assert tile_cycles(config, **_tile(Dataflow.OS, 3, 1, pattern=1)) == REJECT_CYCLES
        for tile in (
            _tile(Dataflow.OS, 10, 3),
            _tile(Dataflow.WS, 7, 2, pattern=1),
            _tile(Dataflow.OS, 65, 1),
        ):
            assert sequence_timeline(config, [tile])[0].cycles == tile_cycles(config, **tile)


@pytest.mark.parametrize(("L", "combine"), [(2, 1), (3, 5), (4, 7)])
def test_a_pipelined_adder_lengthens_the_drains(L: int, combine: int) -> None:
    # OS: the last lane sums leave the adders L - 1 cycles later, the tree of ceil(log2 L)
    # levels of L-stage adders takes combine cycles; WS: L cycles per row.
    R, C = ARRAY.rows, ARRAY.cols
    for config in (PIPELINED[L], PIPELINED[L].replace(interleave=False)):
        assert os_drain(config) == 1 + L - 1 + combine
        assert tile_cycles(config, **_tile(Dataflow.OS, 10, 3)) == (
            10 + 1 + C + 3 + L - 1 + combine
        )
        assert tile_cycles(config, **_tile(Dataflow.WS, 10, 3)) == 3 + 10 + 1 + R * L + C
        for tile in (_tile(Dataflow.OS, 10, 3), _tile(Dataflow.WS, 7, 2, pattern=1)):
            assert sequence_timeline(config, [tile])[0].cycles == tile_cycles(config, **tile)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_pipelined_tiles_that_fill_the_array_run_back_to_back(L: int) -> None:
    config, R, C, n = PIPELINED[L], ARRAY.rows, ARRAY.cols, 5
    drain = os_drain(config)
    T = 40  # one MAC per PE per cycle: no bubble between long OS tiles
    assert sequence_cycles(config, [_tile(Dataflow.OS, T, R)] * n) == n * T + C + R + drain
    # Short tiles wait for the previous tile's lane sums to reach the shadows and be read.
    assert sequence_cycles(config, [_tile(Dataflow.OS, 2, R)] * n) == (
        2 + (n - 1) * max(C + L - 1, R) + C + R + drain
    )
    B = 40  # the next tile's weights load while the previous one streams
    assert sequence_cycles(config, [_tile(Dataflow.WS, B, R)] * n) == R + n * B + 1 + R * L + C
    assert sequence_cycles(config, [_tile(Dataflow.WS, 2, R)] * n) == (
        R + (n - 1) * (1 + C + (R - 1) * L + 1) + 2 + 1 + R * L + C
    )


def test_pipelined_tiles_of_the_other_dataflow_wait() -> None:
    # An OS tile's first entry waits (R - 1)(L - 1) idle cycles after a WS tile's last beat
    # (its tags move one row per cycle, the WS tile's one per L); on 2 rows and L = 4, a WS
    # tile's first beat waits for an OS tile's rows to leave first.
    config = PIPELINED[3]
    R, L = config.rows, config.add_latency
    ws, os_ = _tile(Dataflow.WS, 1, R), _tile(Dataflow.OS, 1, 1)
    alone = tile_cycles(config, **os_)
    timings = sequence_timeline(config, [ws, os_])
    beat = R  # the WS tile's one beat enters in cycle R, after its R load cycles
    assert timings[1].end_edge == beat + 1 + (R - 1) * (L - 1) + alone
    small = PIPELINED[4].replace(rows=2, max_reduction=32)
    timeline = ArrayTimeline(small)
    os_end = timeline.issue(**_tile(Dataflow.OS, 1, 2)).end_edge
    ws_timing = timeline.issue(**_tile(Dataflow.WS, 1, 2))
    assert ws_timing.end_edge == os_end + 1  # its one column right after the OS rows


def test_rejections_follow_the_rtl_rules() -> None:
    assert is_rejected(ARRAY, **_tile(Dataflow.OS, 65, 1))  # above max_reduction = 64
    assert not is_rejected(ARRAY, **_tile(Dataflow.WS, 65, 1))  # a WS length counts columns
    assert is_rejected(ARRAY, **_tile(Dataflow.WS, 1, 3, pattern=1))  # 3 rows with N = 2
    assert is_rejected(ARRAY, **_tile(Dataflow.OS, 1, 1, pattern=3))  # no pattern 3
    with pytest.raises(ValueError, match=r"dataflow must be OS \(0\) or WS \(1\), not 2"):
        is_rejected(ARRAY, **_tile(2, 1, 1))
    with pytest.raises(ValueError, match="length must be from 1 to 128, not 129"):
        is_rejected(ARRAY, **_tile(Dataflow.WS, 129, 1))
    with pytest.raises(ValueError, match="rows must be from 1 to 4, not 5"):
        is_rejected(ARRAY, **_tile(Dataflow.OS, 1, 5))


def test_without_interleave_commands_follow_the_answers() -> None:
    tiles = _random_tiles(random.Random(3), 40)
    timings = sequence_timeline(SERIAL, tiles)
    assert [t.cycles for t in timings] == [tile_cycles(SERIAL, **t) for t in tiles]
    for before, after in itertools.pairwise(timings):
        assert after.cmd_edge == before.end_edge + 1
    assert sequence_cycles(SERIAL, tiles) == sum(t.cycles for t in timings) + len(tiles) - 1


@pytest.mark.parametrize("seed", range(5))
def test_interleave_never_answers_later(seed: int) -> None:
    tiles = _random_tiles(random.Random(seed), 60)
    overlapped = sequence_timeline(ARRAY, tiles)
    serial = sequence_timeline(SERIAL, tiles)
    assert all(a.end_edge <= b.end_edge for a, b in zip(overlapped, serial, strict=True)), seed
    assert overlapped[-1].end_edge < serial[-1].end_edge, seed
    ends = [t.end_edge for t in overlapped]
    assert ends == sorted(ends) and len(set(ends)) == len(ends), seed  # answers in order


def test_tiles_that_fill_the_array_run_back_to_back() -> None:
    R, C = ARRAY.rows, ARRAY.cols
    T, n = 40, 5  # T >= max(C, R): no bubble between output-stationary tiles; 1: the edge
    assert sequence_cycles(ARRAY, [_tile(Dataflow.OS, T, R)] * n) == n * T + 1 + C + R
    assert sequence_cycles(SERIAL, [_tile(Dataflow.OS, T, R)] * n) == (
        n * (T + 1 + C + R) + n - 1
    )
    # Short tiles wait for the previous tile's shadows (C steps) and rows (R' steps).
    assert sequence_cycles(ARRAY, [_tile(Dataflow.OS, 2, R)] * n) == (
        2 + (n - 1) * max(C, R) + 1 + C + R
    )
    B = 30  # B >= C + R: the next tile's weights load while the previous one streams
    assert sequence_cycles(ARRAY, [_tile(Dataflow.WS, B, R)] * n) == R + n * B + 1 + R + C
    # Short ones load row r once the previous tile's first beat has swapped it.
    assert sequence_cycles(ARRAY, [_tile(Dataflow.WS, 2, R)] * n) == (
        R + (n - 1) * (1 + C + R) + 2 + 1 + R + C
    )


@pytest.mark.parametrize("L", [1, 3])
@pytest.mark.parametrize("interleave", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_a_run_placed_at_once_equals_its_tiles(L: int, interleave: bool, seed: int) -> None:
    config = ARRAY.replace(interleave=interleave, dtype=NumberFormat.FP16 if L > 1 else "int8",
                           add_latency=L)
    rng = random.Random(seed)
    one_by_one, at_once = ArrayTimeline(config), ArrayTimeline(config)
    for _ in range(6):
        dataflow = rng.choice((Dataflow.OS, Dataflow.WS))
        tiles = [t for t in _random_tiles(rng, 200, rejects=False) if t["dataflow"] == dataflow][
            : rng.randint(1, 12)
        ]
        not_before = one_by_one.end_edge + rng.randint(-40, 5) if rng.random() < 0.5 else None
        for i, tile in enumerate(tiles):
            one_by_one.issue(**tile, not_before=not_before if i == 0 else None)
        span = sum(
            increment(config, dataflow, a["length"], a["rows"], b["length"], b["rows"])
            for a, b in itertools.pairwise(tiles)
        )
        end = at_once.issue_run(
            tiles[0], tiles[-1], span=span, tiles=len(tiles), not_before=not_before
        )
        assert end == one_by_one.end_edge, (seed, tiles)
    # After a run the answers leave as after its tiles; from the second command on, the
    # commands are taken at the same edges too.
    for tile in (
        _tile(Dataflow.OS, 3, 1, pattern=1), _tile(Dataflow.WS, 4, 2), _tile(Dataflow.OS, 2, 3)
    ):
        got, want = at_once.issue(**tile), one_by_one.issue(**tile)
        assert got.end_edge == want.end_edge and got.cmd_edge >= want.cmd_edge, (seed, tile)
    tile = _tile(Dataflow.OS, 5, 1)
    assert at_once.issue(**tile) == one_by_one.issue(**tile), seed


def test_a_late_command_waits() -> None:
    timeline = ArrayTimeline(ARRAY)
    timeline.issue(**_tile(Dataflow.OS, 10, 2))
    late = timeline.issue(**_tile(Dataflow.OS, 10, 2), not_before=100)
    assert late.cmd_edge == 100 and late.cycles == tile_cycles(ARRAY, **_tile(Dataflow.OS, 10, 2))
    copy = timeline.copy()
    copy.issue(**_tile(Dataflow.WS, 5, 2))
    assert copy.end_edge > timeline.end_edge == late.end_edge


def test_the_timeline_checks_its_inputs() -> None:
    with pytest.raises(TypeError, match="config must be a SatArrayConfig, not dict"):
        ArrayTimeline({})
    timeline = ArrayTimeline(ARRAY)
    with pytest.raises(ValueError, match="a run has at least one tile, not 0"):
        timeline.issue_run(_tile(Dataflow.OS, 1, 1), _tile(Dataflow.OS, 1, 1), span=0, tiles=0)
    with pytest.raises(ValueError, match="a run holds tiles of one dataflow"):
        timeline.issue_run(_tile(Dataflow.OS, 1, 1), _tile(Dataflow.WS, 1, 1), span=3, tiles=2)
    with pytest.raises(ValueError, match="a run of one tile has the same first and last tile"):
        timeline.issue_run(_tile(Dataflow.OS, 1, 1), _tile(Dataflow.OS, 2, 1), span=0, tiles=1)
    with pytest.raises(ValueError, match="a run holds accepted tiles only"):
        timeline.issue_run(
            _tile(Dataflow.OS, 2, 1, 1), _tile(Dataflow.OS, 3, 1, 1), span=6, tiles=2
        )
    with pytest.raises(ValueError, match="a sequence needs at least one tile"):
        sequence_cycles(ARRAY, [])
