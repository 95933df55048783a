"""Closed-form tiling of training GEMMs against the tile-by-tile plan and cycle model."""

import random

import pytest
import torch

from sparsa.config.sat import Dataflow, IntFormat, NMPattern, SatArrayConfig
from sparsa.dataflow.sat_schedule import GemmOp, plan_gemm, training_gemms
from sparsa.dataflow.sat_tiles import plan_tiles
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.models.golden.sat import nm_generate
from sparsa.models.zoo.cnn import layer_gemms, small_cnn
from sparsa.sim.blocks.sat_array import ArrayTimeline, sequence_cycles

ARRAY = SatArrayConfig(
    rows=4,
    cols=3,
    patterns=(NMPattern(2, 4), NMPattern(3, 8)),
    dtype=IntFormat.INT8,
    max_reduction=64,
)
BIG = 1 << 40


def _fields(tile) -> dict[str, int]:
    return {
        "dataflow": tile.dataflow,
        "pattern": tile.pattern,
        "length": tile.length,
        "rows": tile.rows,
    }


def _tiles(array, op: GemmOp, dataflow: int) -> list[dict[str, int]]:
    """The commands of ``op`` as :func:`sparsa.dataflow.sat_tiles.plan_tiles` cuts it, repeated."""
    a = torch.ones(op.rows, op.reduction, dtype=torch.int64)
    b = torch.ones(op.reduction, op.cols, dtype=torch.int64)
    values, indices = (a, a) if op.pattern is None else nm_generate(a, op.pattern)
    return [
        _fields(t) for t in plan_tiles(array, values, indices, b, op.pattern, dataflow)
    ] * op.count


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
    plan = plan_gemm(
        op, array, dataflow=dataflow, a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG
    )
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
        plan = plan_gemm(
            op, array, dataflow=dataflow, a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG
        )
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
        one = plan_gemm(
            op, array, dataflow=Dataflow.OS, a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG
        )
        two = plan_gemm(
            GemmOp("l", "WU", 4, 128, 3, None),
            array,
            dataflow=Dataflow.OS,
            a_resident=True,
            a_buffer_bytes=BIG,
            b_buffer_bytes=BIG,
        )
        assert two.tiles == 2 * one.tiles
        # Interleaved, the second chunk's 64 entries follow the first's back to back.
        assert two.cycles == (one.cycles + 64 if array.interleave else 2 * one.cycles + 1)


def test_grouped_gemms_repeat_and_bytes_follow_the_loop_order():
    op = GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4), count=3)
    serial = ARRAY.replace(interleave=False)
    single = plan_gemm(
        GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4)),
        serial,
        dataflow=Dataflow.OS,
        a_resident=True,
        a_buffer_bytes=BIG,
        b_buffer_bytes=0,
    )
    triple = plan_gemm(
        op, serial, dataflow=Dataflow.OS, a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=0
    )
    assert triple.cycles == 3 * single.cycles + 2
    # 8 rows x 8 entries of 8-bit values and 2-bit indices; B (16 x 6 bytes) once per row block.
    assert single.a_bytes == 8 * 8 * 10 // 8
    assert single.b_bytes == 16 * 6 * 2
    cached = plan_gemm(
        GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4)),
        ARRAY,
        dataflow=Dataflow.OS,
        a_resident=True,
        a_buffer_bytes=BIG,
        b_buffer_bytes=BIG,
    )
    assert cached.b_bytes == 16 * 6


def test_unsupported_pattern_and_ragged_reduction_are_rejected():
    with pytest.raises(ValueError, match=r"pattern 1:4 is not supported by the array"):
        plan_gemm(
            GemmOp("conv", "FF", 4, 16, 4, NMPattern(1, 4)),
            ARRAY,
            dataflow=Dataflow.OS,
            a_resident=True,
            a_buffer_bytes=BIG,
            b_buffer_bytes=BIG,
        )
    with pytest.raises(ValueError, match=r"reduction 18 is not a multiple of M = 4"):
        plan_gemm(
            GemmOp("conv", "FF", 4, 18, 4, NMPattern(2, 4)),
            ARRAY,
            dataflow=Dataflow.OS,
            a_resident=True,
            a_buffer_bytes=BIG,
            b_buffer_bytes=BIG,
        )


def test_training_gemms_run_ff_forward_then_bp_and_wu_backward():
    layers = layer_gemms(small_cnn(), (1, 8, 8), batch=2)
    ops = training_gemms(layers)
    names = [layer.name for layer in layers]
    assert [o.layer for o in ops if o.phase == "FF"] == names
    assert [o.layer for o in ops if o.phase == "WU"] == names[::-1]
    assert [o.layer for o in ops if o.phase == "BP"] == names[:0:-1]  # no BP for layer 0
    assert sum(o.macs for o in ops if o.phase == "FF") == sum(layer.macs for layer in layers)
