"""Closed-form tiling of training GEMMs against the tile-by-tile plan and cycle model."""

import random

import pytest
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.dataflow.sat_schedule import GemmOp, GemmPlan, plan_gemm, training_gemms
from sparsa.dataflow.sat_tiles import plan_tiles
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.models.golden.sat import nm_generate
from sparsa.models.zoo.cnn import layer_gemms, small_cnn
from sparsa.sim.blocks.sat_array import ArrayTimeline, sequence_cycles
from sparsa.sim.rtl.sat_array.stimulus import command_fields

ARRAY = SatArrayConfig(rows=4, cols=3, patterns=(NMPattern(2, 4), NMPattern(3, 8)),
                       dtype=NumberFormat.INT8, max_reduction=64)
BIG = 1 << 40


def _plan(op: GemmOp, array: SatArrayConfig = ARRAY, *, dataflow: Dataflow = Dataflow.OS,
          b_buffer_bytes: int = BIG) -> GemmPlan:
    """:func:`plan_gemm` with A resident and room for all of A (and by default of B) on chip."""
    return plan_gemm(op, array, dataflow=dataflow, a_resident=True, a_buffer_bytes=BIG,
                     b_buffer_bytes=b_buffer_bytes)


def _tiles(array, op: GemmOp, dataflow: int) -> list[dict[str, int]]:
    """The commands of ``op`` as :func:`sparsa.dataflow.sat_tiles.plan_tiles` cuts it, repeated."""
    a = torch.ones(op.rows, op.reduction, dtype=torch.int64)
    b = torch.ones(op.reduction, op.cols, dtype=torch.int64)
    values, indices = (a, a) if op.pattern is None else nm_generate(a, op.pattern)
    tiles = plan_tiles(array, values, indices, b, op.pattern, dataflow)
    return [command_fields(t.cmd) for t in tiles] * op.count


@pytest.mark.parametrize("interleave", [True, False])
@pytest.mark.parametrize("dataflow", [Dataflow.OS, Dataflow.WS])
@pytest.mark.parametrize("pattern", runtime_patterns(ARRAY))
@pytest.mark.parametrize(
    ("rows", "red", "cols", "count"),
    [(1, 8, 1, 1), (4, 16, 3, 1), (7, 40, 5, 2), (9, 64, 13, 1), (5, 200, 4, 3), (6, 24, 300, 1)],
)
def test_closed_form_equals_the_tiles(interleave, dataflow, pattern, rows, red, cols, count):
    array = ARRAY.replace(interleave=interleave)
    op = GemmOp("l", "FF", rows, red, cols, pattern, count)
    tiles = _tiles(array, op, dataflow)
    plan = _plan(op, array, dataflow=dataflow)
    assert (plan.tiles, plan.cycles) == (len(tiles), sequence_cycles(array, tiles))
    assert (plan.first, plan.last) == (tiles[0], tiles[-1])


@pytest.mark.parametrize("interleave", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_gemms_placed_at_once_equal_their_tiles(interleave, seed):
    """A chain of GEMMs, some held until an earlier one has answered, placed run by run
    (:meth:`ArrayTimeline.issue_run`, as the network simulator does) and tile by tile."""
    array = ARRAY.replace(interleave=interleave)
    rng = random.Random(seed)
    by_run, by_tile, ends = ArrayTimeline(array), ArrayTimeline(array), []
    for _ in range(6):
        pattern = rng.choice(runtime_patterns(array))
        m = 1 if pattern is None else pattern.m
        op = GemmOp(
            "l",
            "FF",
            rng.randint(1, 14),
            m * rng.randint(1, 12),
            rng.randint(1, 40),
            pattern,
            rng.choice((1, 1, 2)),
        )
        dataflow = rng.choice((Dataflow.OS, Dataflow.WS))
        plan = _plan(op, array, dataflow=dataflow)
        not_before = ends[rng.randrange(len(ends))] + 1 if ends and rng.random() < 0.5 else None
        for i, tile in enumerate(_tiles(array, op, dataflow)):
            by_tile.issue(**tile, not_before=not_before if i == 0 else None)
        ends.append(
            by_run.issue_run(
                plan.first, plan.last, span=plan.span, tiles=plan.tiles, not_before=not_before
            )
        )
        assert ends[-1] == by_tile.end_edge, (seed, op, dataflow)


def test_long_reductions_are_chunked_into_whole_tiles():
    serial = ARRAY.replace(interleave=False)
    for array in (ARRAY, serial):
        op = GemmOp("l", "WU", 4, 64, 3, None)  # 64 entries: exactly max_reduction
        one = _plan(op, array)
        two = _plan(GemmOp("l", "WU", 4, 128, 3, None), array)
        assert two.tiles == 2 * one.tiles
        # Interleaved, the second chunk's 64 entries follow the first's back to back.
        assert two.cycles == (one.cycles + 64 if array.interleave else 2 * one.cycles + 1)


def test_grouped_gemms_repeat_and_bytes_follow_the_loop_order():
    op = GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4), count=3)
    serial = ARRAY.replace(interleave=False)
    single = _plan(GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4)), serial, b_buffer_bytes=0)
    triple = _plan(op, serial, b_buffer_bytes=0)
    assert triple.cycles == 3 * single.cycles + 2
    # 8 rows x 8 entries of 8-bit values and 2-bit indices; B (16 x 6 bytes) once per row block.
    assert single.a_bytes == 8 * 8 * 10 // 8
    assert single.b_bytes == 16 * 6 * 2
    cached = _plan(GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4)))
    assert cached.b_bytes == 16 * 6


@pytest.mark.parametrize(("op", "message"), [
    (GemmOp("conv", "FF", 4, 16, 4, NMPattern(1, 4)), r"pattern 1:4 is not supported by the array"),
    (GemmOp("conv", "FF", 4, 18, 4, NMPattern(2, 4)), r"reduction 18 is not a multiple of M = 4"),
])
def test_unsupported_pattern_and_ragged_reduction_are_rejected(op, message):
    with pytest.raises(ValueError, match=message):
        _plan(op)


def test_training_gemms_run_ff_forward_then_bp_and_wu_backward():
    layers = layer_gemms(small_cnn(), (1, 8, 8), batch=2)
    ops = training_gemms(layers)
    names = [layer.name for layer in layers]
    assert [o.layer for o in ops if o.phase == "FF"] == names
    assert [o.layer for o in ops if o.phase == "WU"] == names[::-1]
    assert [o.layer for o in ops if o.phase == "BP"] == names[:0:-1]  # no BP for layer 0
    assert sum(o.macs for o in ops if o.phase == "FF") == sum(layer.macs for layer in layers)


@pytest.mark.parametrize("dataflow", [Dataflow.OS, Dataflow.WS])
@pytest.mark.parametrize("pattern", [None, NMPattern(3, 8)])
def test_bytes_follow_the_format_and_the_tiles_do_not(dataflow, pattern):
    """16-bit formats move twice the bytes of int8 per value, the same index bits; the tiles
    and cycles are the same in every format; int16, fp16 and bf16 move the same bytes."""
    op = GemmOp("l", "FF", 7, 40, 5, pattern, count=2)
    plans = {
        d: _plan(op, ARRAY.replace(dtype=d), dataflow=dataflow)
        for d in ("int8", "int16", "fp16", "bf16")
    }
    int8 = plans["int8"]
    entries = 40 if pattern is None else 15
    index = 0 if pattern is None else 3
    for dtype, plan in plans.items():
        w = 8 if dtype == "int8" else 16
        assert (plan.tiles, plan.cycles, plan.span) == (int8.tiles, int8.cycles, int8.span)
        assert plan.a_bytes == 2 * -(-7 * entries * (w + index) // 8)
        assert (plan.b_bytes, plan.out_bytes) == (2 * 40 * 5 * w // 8, 2 * 7 * 5 * w // 8)
        assert plan.b_fed_bits == int8.b_fed_bits * w // 8
    wide = [plans[d] for d in ("int16", "fp16", "bf16")]
    assert len({(p.bytes, p.a_fed_bits, p.b_fed_bits) for p in wide}) == 1
