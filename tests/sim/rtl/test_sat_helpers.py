"""Fast checks of the SAT PE array's harness parts (no simulator): configurations, GEMMs, plans,
replay JSON, the per-tile reference and the scoreboard's checks."""

import itertools

import pytest
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.presets import SAT_ARRAY_CONFIGS
from sparsa.config.sat import SUPPORTED_M, Dataflow, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile
from sparsa.hw.sat.sat_array import out_layout
from sparsa.sim.blocks.sat_array import TileTiming, is_rejected
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.sat_array.block import SatArrayBlock
from sparsa.sim.rtl.sat_array.codec import OutBeat, SatArrayCodec
from sparsa.sim.rtl.sat_array.gemms import STYLES, Gemm, GemmSpec, make_operands, pattern_names
from sparsa.sim.rtl.sat_array.scoreboard import (
    check_gemm,
    check_reject,
    check_tile,
    check_timing,
    check_transfers,
    tile_reference,
)
from sparsa.sim.rtl.sat_array.stimulus import (
    REASONS,
    Reject,
    command_fields,
    commands,
    job_from_json,
    job_to_json,
    make_plan,
    rejects,
)

PLANS = {name: make_plan(config, seed=11, count=450) for name, config in SAT_ARRAY_CONFIGS.items()}
BLOCK = SatArrayBlock()


def _gemms(name: str) -> list[Gemm]:
    return [j for b in PLANS[name] for j in b.jobs if isinstance(j, Gemm)]


def test_configs_cover_the_required_space() -> None:
    configs = list(SAT_ARRAY_CONFIGS.values())
    assert {c.dtype for c in configs} == set(NumberFormat)
    assert {p.m for c in configs for p in c.patterns} == set(SUPPORTED_M)
    assert any(c.rows > c.cols for c in configs) and any(c.rows < c.cols for c in configs)
    assert any(c.max_reduction & (c.max_reduction - 1) for c in configs)  # not a power of 2
    assert {c.interleave for c in configs} == {True, False}
    # A bad pattern code fits the field in some configurations, not in others.
    assert {r.reason for c in configs for r in rejects(c)} == set(REASONS)


@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_rejects_are_rejected(name: str) -> None:
    config = SAT_ARRAY_CONFIGS[name]
    for reject in rejects(config):
        assert is_rejected(config, **command_fields(reject.cmd)), reject.describe()
    for gemm in _gemms(name):
        for tile in gemm.tiles:
            assert not is_rejected(config, **command_fields(tile.cmd)), gemm.spec.describe()


@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_plan_covers_the_requirements(name: str) -> None:
    config, plan = SAT_ARRAY_CONFIGS[name], PLANS[name]
    gemms = _gemms(name)
    tiles = [t for g in gemms for t in g.tiles]
    assert sum(len(b.cases) for b in plan) >= 450 and len(tiles) >= 400
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
    assert [b.stalls.none for b in plan[1:5]] == [False, True, False, True]  # every other one
    assert sum(b.tiles for b in plan if not b.stalls.none) >= 140
    assert {g.spec.style for g in gemms} == set(STYLES)
    jobs = [j for b in plan for j in b.jobs]
    directed = plan[0].jobs
    assert all(r in directed for r in rejects(config))  # every reject, in the directed batch
    assert sum(isinstance(j, Reject) for b in plan[1:] for j in b.jobs) > 0
    for before, after in itertools.pairwise(jobs):
        if isinstance(before, Reject):
            assert isinstance(after, Gemm), "every reject is followed by a GEMM"
    assert isinstance(jobs[-1], Gemm)
    # The directed GEMMs run kind after kind, a reject between the kinds.
    kinds = [j.spec.kind if isinstance(j, Gemm) else "reject" for j in directed]
    assert kinds[: kinds.index("reject")] == ["FF"] * (2 * len(pattern_names(config)))
    R, C = config.rows, config.cols
    os_tiles = [t for t in tiles if t.dataflow is Dataflow.OS]
    ws_tiles = [t for t in tiles if t.dataflow is Dataflow.WS]
    assert any(t.out_rows < R for t in os_tiles) and any(t.out_cols < C for t in os_tiles)
    assert any(t.out_rows == R and t.out_cols == C for t in os_tiles)
    assert any(t.out_rows < C for t in ws_tiles) and any(t.out_rows == C for t in ws_tiles)
    assert any(t.rows < max(R // 2, 2) for t in ws_tiles)  # a short tail of the reduction
    assert any(t.length == 1 for t in os_tiles) and any(t.length == 1 for t in ws_tiles)
    for nm in (None, config.patterns[0]):
        m = nm.m if nm else 1
        n = nm.n if nm else 1
        full = [g for g in directed if isinstance(g, Gemm) and g.spec.style == "corner"
                and g.spec.nm == nm]
        # The accumulators' extremes: max_reduction entries in one OS tile, R rows in WS.
        assert any(g.spec.dataflow == "OS" and g.spec.k == config.max_reduction // m * m
                   and g.tiles[0].length == config.max_reduction // m * n for g in full)
        assert any(g.spec.dataflow == "WS" and g.tiles[0].rows == R // n * n for g in full)


@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_junk_lanes_extremes_and_zero_groups(name: str) -> None:
    config = SAT_ARRAY_CONFIGS[name]
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
    corner = next(g for g in gemms if g.spec.style == "corner")
    c_a, c_b = make_operands(corner.spec, config.dtype)
    if config.dtype.is_float:  # bit patterns: NaN, +/-Inf, subnormals and -0 among them
        layout, sign = config.dtype.float_layout, 1 << (config.dtype.width - 1)
        inf = layout.max_exponent << layout.fraction_bits
        values = {v for g in gemms if g.spec.style == "mixed"
                  for v in make_operands(g.spec, config.dtype)[0].flatten().tolist()}
        assert sign in values and any(v & ~sign == inf for v in values)
        assert any(v & ~sign > inf for v in values)  # a NaN
        assert any(0 < v & ~sign < 1 << layout.fraction_bits for v in values)  # a subnormal
        lo, hi = inf - 1, sign | (inf - 1)  # the largest finite values, + and -
        assert (c_a == lo).all() and ((c_b == lo).all() or (c_b == hi).all())
    else:
        lo, hi = config.dtype.range
        assert {lo, hi} <= set(a.flatten().tolist())
        assert (c_a == lo).all() and ((c_b == lo).all() or (c_b == hi).all())
    zero_groups = 0
    for g in gemms:
        if g.spec.nm is not None and g.spec.style != "corner":
            a, _ = make_operands(g.spec, config.dtype)
            groups = a.reshape(a.shape[0], -1, g.spec.nm.m)
            zero_groups += int((groups == 0).all(dim=2).sum())
    assert zero_groups > 10


def _specs(plan) -> list:
    return [[j.spec if isinstance(j, Gemm) else j for j in b.jobs] for b in plan]


def test_plan_is_seeded() -> None:
    config = SAT_ARRAY_CONFIGS["r5c3-int8"]
    specs = _specs(make_plan(config, 3, 50))
    assert specs == _specs(make_plan(config, 3, 50))
    assert specs != _specs(make_plan(config, 4, 50))


def test_block_plan_batches_and_replay_json() -> None:
    config = SAT_ARRAY_CONFIGS["r5c3-int8"]
    batches = BLOCK.plan(config, 3, 200, stalls=True)
    plan = make_plan(config, 3, 200)
    assert [len(b.cases) for b in batches] == [len(b.cases) for b in plan]
    assert [b.seed for b in batches] == [3 + i for i in range(len(plan))]
    assert [b.stalls for b in batches] == [b.stalls for b in plan]
    assert any(not b.stalls.none for b in batches)
    assert all(b.stalls.none for b in BLOCK.plan(config, 3, 200, stalls=False))
    for batch in batches[:3]:
        data = BLOCK.batch_to_json(batch)
        back = BLOCK.batch_from_json(config, data)
        assert (back.seed, back.stalls) == (batch.seed, batch.stalls)
        assert [(c.cmd, c.tile, c.beats) for c in back.cases] == [
            (c.cmd, c.tile, c.beats) for c in batch.cases
        ]
        assert BLOCK.batch_to_json(back) == data


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
    with pytest.raises(ValueError, match=r"dataflow must be one of \('OS', 'WS'\), not 'IS'"):
        GemmSpec(
            kind="FF", pattern="2:4", dataflow="IS", rows=1, k=4, cols=1, style="mixed", seed=0
        )
    config = SAT_ARRAY_CONFIGS["r8c8-int8"]
    gemm = _gemms("r8c8-int8")[0]
    back = job_from_json(config, job_to_json(gemm))
    assert isinstance(back, Gemm) and back.spec == gemm.spec
    assert torch.equal(back.expect, gemm.expect) and back.tiles == gemm.tiles
    for reject in rejects(config):
        data = job_to_json(reject)
        assert data["reject"]["dataflow"] in ("OS", "WS")
        again = job_from_json(config, data)
        assert again == reject and again.dataflow is reject.dataflow


def test_commands_of_jobs() -> None:
    config = SAT_ARRAY_CONFIGS["r8c8-int8"]
    gemm = next(g for g in _gemms("r8c8-int8") if len(g.tiles) > 2)
    reject = rejects(config)[0]
    cases = commands([reject, gemm])
    assert [c.tile for c in cases] == [0, *range(len(gemm.tiles))]
    assert cases[0].is_reject and cases[0].ends_job and cases[0].cmd == reject.cmd
    assert cases[0].beats == {"weights": [], "acts": []}
    assert [c.ends_job for c in cases[1:]] == [False] * (len(gemm.tiles) - 1) + [True]
    assert cases[2].cmd == gemm.tiles[1].cmd and cases[2].beats["acts"] == gemm.tiles[1].acts
    assert "tile 2/" in cases[2].describe() and "reject (" in cases[0].describe()
    assert command_fields(reject.cmd) == {
        "dataflow": reject.dataflow, "pattern": reject.pattern, "length": reject.length,
        "rows": reject.rows,
    }


SMALL = SatArrayConfig(rows=2, cols=2, max_reduction=16)


def _tile() -> Tile:
    weights = [[{"value": 3, "index": 0}, {"value": -2, "index": 0}]] * 2
    acts = [[[5] + [0] * 7, [7] + [1] * 7]] * 2
    return Tile(Dataflow.OS, 0, 2, 2, weights, acts, 0, 0, 2, 2)


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
    early = [OutBeat((30, 42), True, False, 10), OutBeat((-20, -28), True, False, 11)]
    assert check_tile(SMALL, tile, early) == ["last set before the final beat"]
    assert check_reject(_beats([[0, 0]], error=True)) == []
    assert check_reject(_beats([[0, 0]]))[0].startswith("a rejected command must get")
    assert check_reject(_beats([[0, 0], [0, 0]], error=True))[0].endswith("[(1, 0), (1, 1)]")


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
    # A rejected command consumes nothing.
    reject = Timeline(cmd_edge=10, inputs={"acts": [21]}, out=_beats([[0, 0]], edge=12))
    assert check_transfers(None, reject, {"weights": 0, "acts": 0}, overlap=True) == [
        "acts beats transferred outside the command's span",
        "1 acts beats consumed, expected 0",
    ]
    assert good.describe() == "edges after cmd: weights 1..2 (2 beats), out [10]"
    record = Timeline()
    for stream, edge in (("cmd", 3), ("acts", 4), ("acts", 6)):
        record.record(stream, edge)
    assert (record.cmd_edge, record.inputs) == (3, {"acts": [4, 6]})


def test_scoreboard_checks_the_timing() -> None:
    assert check_timing(TileTiming(3, 20), TileTiming(3, 20)) == []
    assert check_timing(TileTiming(4, 21), TileTiming(3, 20)) == [
        "cmd taken at edge 4, timeline 3",
        "answer ended at edge 21, timeline 20",
    ]


def test_codec_decodes_out_beats() -> None:
    config = SAT_ARRAY_CONFIGS["r5c3-int8"]
    codec = SatArrayCodec(config)
    bits = codec.pack("cmd", {"dataflow": Dataflow.WS, "pattern": 2, "length_m1": 3,
                              "rows_m1": 4})
    assert bits == 1 | 2 << 1 | 3 << 3 | 4 << 3 + config.max_reduction.bit_length()
    value = {"value": [-(1 << 21), 5, (1 << 21) - 1], "last": 1, "error": 0}
    beat = codec.out(out_layout(config).const(value).as_bits(), edge=7)
    assert beat == OutBeat((-(1 << 21), 5, (1 << 21) - 1), True, False, 7)
    assert codec.payload_widths["out"] == 3 * config.acc_width + 2
