"""Closed-form tiling of training GEMMs against the tile-by-tile plan and cycle model."""

import pytest
import torch

from dataflow.sat_schedule import GemmOp, plan_gemm, training_gemms
from dataflow.sat_tiles import plan_tiles
from hw.sat_array import OS, WS, runtime_patterns
from hw.sat_config import IntFormat, NMPattern, SatArrayConfig
from models.cnn_zoo import layer_gemms, small_cnn
from models.sat_golden import nm_generate
from sim.sat_array import sequence_cycles

ARRAY = SatArrayConfig(rows=4, cols=3, patterns=(NMPattern(2, 4), NMPattern(3, 8)),
                       dtype=IntFormat.INT8, max_reduction=64)
BIG = 1 << 40


@pytest.mark.parametrize("dataflow", [OS, WS])
@pytest.mark.parametrize("pattern", runtime_patterns(ARRAY))
@pytest.mark.parametrize(("rows", "red", "cols"),
                         [(1, 8, 1), (4, 16, 3), (7, 40, 5), (9, 64, 13), (5, 200, 4)])
def test_closed_form_equals_the_tiles(dataflow, pattern, rows, red, cols):
    a = torch.ones(rows, red, dtype=torch.int64)
    b = torch.ones(red, cols, dtype=torch.int64)
    values, indices = (a, a) if pattern is None else nm_generate(a, pattern)
    tiles = plan_tiles(ARRAY, values, indices, b, pattern, dataflow)
    expect = sequence_cycles(ARRAY, [{"dataflow": t.dataflow, "pattern": t.pattern,
                                      "length": t.length, "rows": t.rows} for t in tiles])
    plan = plan_gemm(GemmOp("l", "FF", rows, red, cols, pattern), ARRAY, dataflow=dataflow,
                     a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG)
    assert (plan.tiles, plan.cycles) == (len(tiles), expect)


def test_long_reductions_are_chunked_into_whole_tiles():
    op = GemmOp("l", "WU", 4, 64, 3, None)  # 64 entries: exactly max_reduction
    one = plan_gemm(op, ARRAY, dataflow=OS, a_resident=True, a_buffer_bytes=BIG,
                    b_buffer_bytes=BIG)
    two = plan_gemm(GemmOp("l", "WU", 4, 128, 3, None), ARRAY, dataflow=OS, a_resident=True,
                    a_buffer_bytes=BIG, b_buffer_bytes=BIG)
    assert two.tiles == 2 * one.tiles
    assert two.cycles == 2 * one.cycles + 1


def test_grouped_gemms_repeat_and_bytes_follow_the_loop_order():
    op = GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4), count=3)
    single = plan_gemm(GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4)), ARRAY, dataflow=OS,
                       a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=0)
    triple = plan_gemm(op, ARRAY, dataflow=OS, a_resident=True, a_buffer_bytes=BIG,
                       b_buffer_bytes=0)
    assert triple.cycles == 3 * single.cycles + 2
    # 8 rows x 8 entries of 8-bit values and 2-bit indices; B (16 x 6 bytes) once per row block.
    assert single.a_bytes == 8 * 8 * 10 // 8
    assert single.b_bytes == 16 * 6 * 2
    cached = plan_gemm(GemmOp("l", "FF", 8, 16, 6, NMPattern(2, 4)), ARRAY, dataflow=OS,
                       a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG)
    assert cached.b_bytes == 16 * 6


def test_unsupported_pattern_and_ragged_reduction_are_rejected():
    with pytest.raises(ValueError, match=r"pattern 1:4 is not supported by the array"):
        plan_gemm(GemmOp("conv", "FF", 4, 16, 4, NMPattern(1, 4)), ARRAY, dataflow=OS,
                  a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG)
    with pytest.raises(ValueError, match=r"reduction 18 is not a multiple of M = 4"):
        plan_gemm(GemmOp("conv", "FF", 4, 18, 4, NMPattern(2, 4)), ARRAY, dataflow=OS,
                  a_resident=True, a_buffer_bytes=BIG, b_buffer_bytes=BIG)


def test_training_gemms_run_ff_forward_then_bp_and_wu_backward():
    layers = layer_gemms(small_cnn(), (1, 8, 8), batch=2)
    ops = training_gemms(layers)
    names = [layer.name for layer in layers]
    assert [o.layer for o in ops if o.phase == "FF"] == names
    assert [o.layer for o in ops if o.phase == "WU"] == names[::-1]
    assert [o.layer for o in ops if o.phase == "BP"] == names[:0:-1]  # no BP for layer 0
    assert sum(o.macs for o in ops if o.phase == "FF") == sum(layer.macs for layer in layers)
