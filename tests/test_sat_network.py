"""Consistency of the network-scale SAT simulator with the RTL-validated block models."""

import dataclasses

import pytest

from dataflow.sat_schedule import plan_gemm, training_gemms
from hw.sat_array import OS
from hw.sat_config import NMPattern, SoreConfig
from models.workloads import training_layers
from sim.sat_network import (
    ALL_TECHNIQUES,
    DEFAULT_ARRAY,
    SORE_LANES,
    Techniques,
    double_buffered_cycles,
    simulate_iteration,
)
from sim.sat_study import ABLATION
from sim.sore import stream_cycles
from sim.target import load_target

TARGET = load_target("vcu1525")
# The same board with a DRAM so fast that no transfer is ever exposed.
FAST = dataclasses.replace(TARGET, dram=dataclasses.replace(
    TARGET.dram, channel_bytes_per_s=TARGET.dram.channel_bytes_per_s * 1e9))


def _run(model, pattern, target=TARGET, techniques=ALL_TECHNIQUES, batch=2):
    layers = training_layers(model, batch=batch, pattern=pattern)
    return layers, simulate_iteration(layers, model=model, pattern=pattern, target=target,
                                      batch=batch, techniques=techniques)


def test_without_dram_stalls_the_iteration_is_the_sum_of_the_block_models():
    pattern = NMPattern(2, 8)
    layers, result = _run("small-cnn", pattern, FAST, Techniques(offline_schedule=False,
                                                                  pregen=False))
    plans = [plan_gemm(op, DEFAULT_ARRAY, dataflow=OS, a_resident=True,
                       a_buffer_bytes=0, b_buffer_bytes=0) for op in training_gemms(layers)]
    sore = sum(
        stream_cycles(SoreConfig(lanes=SORE_LANES, m=8), n=2, copies=3,
                      count=-(-layer.cout // 8) * -(-layer.ff.k // SORE_LANES))
        for layer in layers if layer.pattern is not None)
    assert sore > 0
    # Each GEMM's first operand load is exposed: one cycle at this bandwidth.
    assert result.cycles == sum(p.cycles for p in plans) + sore + len(plans)
    assert result.stall_cycles == {"dram": len(plans), "sore": sore}


def test_a_gemm_that_fits_the_array_exactly_has_the_closed_form_cycles():
    array = DEFAULT_ARRAY
    layers = training_layers("small-cnn", batch=2, pattern=None)
    op = training_gemms(layers)[0]
    plan = plan_gemm(dataclasses.replace(op, rows=array.rows, cols=array.cols, reduction=256),
                     array, dataflow=OS, a_resident=True, a_buffer_bytes=0, b_buffer_bytes=0)
    assert (plan.tiles, plan.cycles) == (1, 256 + array.rows + array.cols - 1 + array.rows)


@pytest.mark.parametrize("model", ["small-cnn", "resnet18"])
def test_switching_a_technique_off_never_makes_a_run_faster(model):
    cycles = {name: _run(model, NMPattern(2, 8), techniques=t)[1].cycles
              for name, t in ABLATION.items()}
    assert cycles["all techniques"] <= cycles["no pre-generation"] <= cycles["neither"]
    assert cycles["all techniques"] <= cycles["no offline scheduling"] <= cycles["neither"]


def test_the_same_inputs_give_the_same_result_and_sparsity_helps():
    first = _run("resnet18", NMPattern(2, 8))[1].to_dict()
    assert first == _run("resnet18", NMPattern(2, 8))[1].to_dict()
    dense = _run("resnet18", None)[1]
    assert dense.cycles > first["cycles"]
    assert first["energy_j"]["total"] == pytest.approx(
        sum(v for k, v in first["energy_j"].items() if k != "total"))


def test_double_buffering_exposes_the_first_load_and_the_slower_stage():
    assert double_buffered_cycles(100, 0, 10) == 100
    assert double_buffered_cycles(100, 10, 10) == 101
    assert double_buffered_cycles(100, 1000, 10) == 1010
    with pytest.raises(ValueError, match="tiles must be at least 1, not 0"):
        double_buffered_cycles(1, 1, 0)


def test_the_bound_scales_only_ff_and_bp_of_sparse_layers():
    from sim.sat_study import pattern_speedups

    rows = pattern_speedups(["small-cnn"], [NMPattern(2, 8)], TARGET, batch=2)
    dense, sparse = rows
    assert dense.bound == 1.0
    # Not every layer is sparse (first and last stay dense) and WU is dense: 1 < bound < 4.
    assert 1.0 < sparse.macs_bound < 4.0
    assert sparse.speedup <= sparse.bound + 1e-9
