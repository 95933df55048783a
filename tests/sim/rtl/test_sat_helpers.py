"""Fast checks of the SAT PE-array RTL test helpers (no simulator): configurations, GEMMs, plans,
the per-tile reference and the scoreboard."""

import itertools

import pytest
import torch

from sparsa.config.presets import SAT_ARRAY_CONFIGS
from sparsa.config.sat import SUPPORTED_M, IntFormat, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile
from sparsa.hw.sat.sat_array import OS, WS, out_layout
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.sat_array.codec import OutBeat, SatArrayCodec
from sparsa.sim.rtl.sat_array.gemms import STYLES, Gemm, GemmSpec, make_operands, pattern_names
from sparsa.sim.rtl.sat_array.scoreboard import (
    check_gemm,
    check_reject,
    check_tile,
    check_transfers,
    tile_reference,
)
from sparsa.sim.rtl.sat_array.stimulus import Reject, job_from_json, job_to_json, make_plan, rejects

PLANS = {name: make_plan(config, seed=11, tiles=300) for name, config in SAT_ARRAY_CONFIGS.items()}


def _gemms(name: str) -> list[Gemm]:
    return [j for b in PLANS[name] for j in b.jobs if isinstance(j, Gemm)]


def test_configs_cover_the_required_space() -> None:
    configs = list(SAT_ARRAY_CONFIGS.values())
    assert {c.dtype for c in configs} == set(IntFormat)
    assert {p.m for c in configs for p in c.patterns} == set(SUPPORTED_M)
    assert any(c.rows > c.cols for c in configs) and any(c.rows < c.cols for c in configs)
    assert any(c.max_reduction & (c.max_reduction - 1) for c in configs)  # not a power of 2
    assert {c.interleave for c in configs} == {True, False}
    for c in configs:  # a bad pattern code fits the field in some configurations, not others
        assert rejects(c)
    assert any(r.reason.startswith("pattern code") for c in configs for r in rejects(c))


@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_plan_covers_the_requirements(name: str) -> None:
    config, plan = SAT_ARRAY_CONFIGS[name], PLANS[name]
    gemms = _gemms(name)
    tiles = [t for g in gemms for t in g.tiles]
    assert len(tiles) >= 300
    combos = {(g.spec.kind, g.spec.pattern, g.spec.dataflow) for g in gemms}
    assert len(combos) == 2 * (2 * len(pattern_names(config)) + 1)  # FF, BP: all; WU: dense
    for stalled in (False, True):
        run = {
            (j.spec.kind, j.spec.pattern, j.spec.dataflow)
            for b in plan
            for j in b.jobs
            if isinstance(j, Gemm) and b.stalls.none != stalled
        }
        assert run == combos
    assert plan[0].stalls.none
    assert sum(b.tiles for b in plan if not b.stalls.none) >= 150
    assert sum(b.tiles for b in plan if b.stalls.none) >= 150
    assert {g.spec.style for g in gemms} == set(STYLES)
    jobs = [j for b in plan for j in b.jobs]
    assert {r.reason for r in jobs if isinstance(r, Reject)} >= {r.reason for r in rejects(config)}
    for before, after in itertools.pairwise(jobs):
        if isinstance(before, Reject):
            assert isinstance(after, Gemm), "every reject is followed by a GEMM"
    assert isinstance(jobs[-1], Gemm)
    R, C = config.rows, config.cols
    os_tiles = [t for t in tiles if t.dataflow == OS]
    ws_tiles = [t for t in tiles if t.dataflow == WS]
    assert any(t.out_rows < R for t in os_tiles) and any(t.out_cols < C for t in os_tiles)
    assert any(t.out_rows == R and t.out_cols == C for t in os_tiles)
    assert any(t.out_rows < C for t in ws_tiles) and any(t.out_rows == C for t in ws_tiles)
    assert any(t.rows < R // 2 for t in ws_tiles)  # a short tail of the reduction
    assert any(t.length == 1 for t in os_tiles) and any(t.length == 1 for t in ws_tiles)
    assert any(
        g.spec.k
        == config.max_reduction
        // (g.spec.nm.m if g.spec.nm else 1)
        * (g.spec.nm.m if g.spec.nm else 1)
        and g.spec.style == "corner"
        for g in gemms
    )


@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_junk_lanes_extremes_and_zero_groups(name: str) -> None:
    config = SAT_ARRAY_CONFIGS[name]
    lo, hi = config.dtype.range
    gemms = _gemms(name)
    junk = [
        value
        for g in gemms
        if g.spec.nm is None or g.spec.nm.m < config.max_m
        for t in g.tiles
        for beat in t.acts
        for group in beat[: config.cols]
        for value in group[(g.spec.nm.m if g.spec.nm else 1) :]
    ]
    assert junk and sum(v != 0 for v in junk) > len(junk) // 2
    mixed = next(
        g
        for g in gemms
        if g.spec.style == "mixed" and g.spec.nm is not None and g.spec.k >= 2 * g.spec.nm.m
    )
    a, _ = make_operands(mixed.spec, config.dtype)
    assert {lo, hi} <= set(a.flatten().tolist())
    corner = next(g for g in gemms if g.spec.style == "corner")
    a, b = make_operands(corner.spec, config.dtype)
    assert (a == lo).all() and ((b == lo).all() or (b == hi).all())
    zero_groups = 0
    for g in gemms:
        if g.spec.nm is not None and g.spec.style != "corner":
            a, _ = make_operands(g.spec, config.dtype)
            groups = a.reshape(a.shape[0], -1, g.spec.nm.m)
            zero_groups += int((groups == 0).all(dim=2).sum())
    assert zero_groups > 10


def test_plan_is_seeded() -> None:
    config = SAT_ARRAY_CONFIGS["r5c3-int8"]
    specs = [
        [j.spec if isinstance(j, Gemm) else j for j in b.jobs] for b in make_plan(config, 3, 50)
    ]
    assert specs == [
        [j.spec if isinstance(j, Gemm) else j for j in b.jobs] for b in make_plan(config, 3, 50)
    ]
    assert specs != [
        [j.spec if isinstance(j, Gemm) else j for j in b.jobs] for b in make_plan(config, 4, 50)
    ]


@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_tile_reference_reassembles_to_the_golden(name: str) -> None:
    config = SAT_ARRAY_CONFIGS[name]
    for gemm in _gemms(name):
        outputs = [tile_reference(config, tile) for tile in gemm.tiles]
        assert all(len(beat) == config.cols for out in outputs for beat in out)
        assert check_gemm(gemm, outputs) == [], gemm.spec.describe()


def test_gemm_spec_validation_and_json() -> None:
    with pytest.raises(ValueError, match="WU GEMMs are dense"):
        GemmSpec(
            kind="WU", pattern="2:4", dataflow="OS", rows=1, k=4, cols=1, style="mixed", seed=0
        )
    with pytest.raises(ValueError, match="bad sizes 1x6x1 for 2:4"):
        GemmSpec(
            kind="FF", pattern="2:4", dataflow="OS", rows=1, k=6, cols=1, style="mixed", seed=0
        )
    config = SAT_ARRAY_CONFIGS["r8c8-int8"]
    gemm = _gemms("r8c8-int8")[0]
    back = job_from_json(config, job_to_json(gemm))
    assert isinstance(back, Gemm) and back.spec == gemm.spec
    assert torch.equal(back.expect, gemm.expect) and back.tiles == gemm.tiles
    reject = rejects(config)[0]
    assert job_from_json(config, job_to_json(reject)) == reject


SMALL = SatArrayConfig(rows=2, cols=2, max_reduction=16)


def _tile() -> Tile:
    weights = [[{"value": 3, "index": 0}, {"value": -2, "index": 0}]] * 2
    acts = [[[5] + [0] * 7, [7] + [1] * 7]] * 2
    return Tile(OS, 0, 2, 2, weights, acts, 0, 0, 2, 2)


def _beats(values: list[list[int]], edge: int = 10, error: bool = False) -> list[OutBeat]:
    return [OutBeat(tuple(v), i == len(values) - 1, error, edge + i) for i, v in enumerate(values)]


def test_scoreboard_checks_a_tile() -> None:
    tile = _tile()
    assert tile_reference(SMALL, tile) == [[30, 42], [-20, -28]]
    assert check_tile(SMALL, tile, _beats([[30, 42], [-20, -28]])) == []
    assert (
        "1 values differ: beat 1 lane 0: got -21"
        in check_tile(SMALL, tile, _beats([[30, 42], [-21, -28]]))[0]
    )
    assert check_tile(SMALL, tile, _beats([[30, 42]]))[0] == "expected 2 out beats, got 1"
    assert "error flag" in check_tile(SMALL, tile, _beats([[30, 42], [-20, -28]], error=True))[0]
    assert check_reject(_beats([[0, 0]], error=True)) == []
    assert check_reject(_beats([[0, 0]]))[0].startswith("a rejected command must get")


def test_scoreboard_checks_the_transfers() -> None:
    previous = Timeline(cmd_edge=0, out=_beats([[0, 0]], edge=9))
    good = Timeline(cmd_edge=10, inputs={"weights": [11, 12]}, out=_beats([[0, 0]], edge=20))
    for overlap in (False, True):
        assert check_transfers(previous, good, {"weights": 2, "acts": 0}, overlap=overlap) == []
    early = Timeline(cmd_edge=9, inputs={"weights": [9, 12]}, out=_beats([[0, 0]], edge=20))
    problems = check_transfers(previous, early, {"weights": 1}, overlap=False)
    assert problems == [
        "cmd accepted before the previous answer had ended",
        "weights beats transferred outside the command's span",
        "2 weights beats consumed, expected 1",
    ]
    # Interleaved: a command may come before the previous answer ends, not before its command.
    overlapping = Timeline(cmd_edge=5, inputs={"weights": [6]}, out=_beats([[0, 0]], edge=20))
    assert check_transfers(previous, overlapping, {"weights": 1}, overlap=True) == []
    assert check_transfers(previous, overlapping, {"weights": 1}, overlap=False) == [
        "cmd accepted before the previous answer had ended"
    ]
    same = Timeline(cmd_edge=0, inputs={"weights": [6]}, out=_beats([[0, 0]], edge=20))
    assert check_transfers(previous, same, {"weights": 1}, overlap=True) == [
        "cmd accepted before the previous command"
    ]


def test_codec_decodes_out_beats() -> None:
    config = SAT_ARRAY_CONFIGS["r5c3-int8"]
    codec = SatArrayCodec(config)
    bits = codec.pack("cmd", {"dataflow": 1, "pattern": 2, "length_m1": 3, "rows_m1": 4})
    assert bits == 1 | 2 << 1 | 3 << 3 | 4 << 3 + config.max_reduction.bit_length()
    value = {"value": [-(1 << 21), 5, (1 << 21) - 1], "last": 1, "error": 0}
    beat = codec.out(out_layout(config).const(value).as_bits(), edge=7)
    assert beat == OutBeat((-(1 << 21), 5, (1 << 21) - 1), True, False, 7)
    assert codec.payload_widths["out"] == 3 * config.acc_width + 2
