"""Consistency of the network-scale SAT simulator with the RTL-validated block models."""

import dataclasses

import pytest
import torch

from sparsa.config.sat import Dataflow, NMPattern, SoreConfig
from sparsa.dataflow.sat_schedule import plan_gemm, training_gemms
from sparsa.dataflow.sat_tiles import plan_tiles
from sparsa.models.golden.sat import nm_generate
from sparsa.models.zoo.workloads import training_layers
from sparsa.sim.blocks.sat_array import ArrayTimeline
from sparsa.sim.blocks.sore import stream_cycles
from sparsa.sim.network.sat_network import (
    ALL_TECHNIQUES,
    DEFAULT_ARRAY,
    SORE_LANES,
    Techniques,
    double_buffered_cycles,
    simulate_iteration,
)
from sparsa.sim.network.target import load_target
from sparsa.sim.studies.sat_study import ABLATION

TARGET = load_target("vcu1525")
# The same board with a DRAM so fast that no transfer is ever exposed.
FAST = dataclasses.replace(
    TARGET,
    dram=dataclasses.replace(
        TARGET.dram, channel_bytes_per_s=TARGET.dram.channel_bytes_per_s * 1e9
    ),
)


def _run(model, pattern, target=TARGET, techniques=ALL_TECHNIQUES, batch=2):
    layers = training_layers(model, batch=batch, pattern=pattern)
    return layers, simulate_iteration(
        layers, model=model, pattern=pattern, target=target, batch=batch, techniques=techniques
    )


def _producers(ops) -> list[int | None]:
    """The dependences the simulator states: FF after the previous FF; BP and WU after the
    latest BP (the first backward GEMMs after the last FF)."""
    producers, last = [], {"FF": None, "BP": None}
    for i, op in enumerate(ops):
        if op.phase == "FF":
            producers.append(last["FF"])
        else:
            producers.append(last["BP"] if last["BP"] is not None else last["FF"])
        if op.phase in last:
            last[op.phase] = i
    return producers


@pytest.mark.parametrize(
    "techniques",
    [
        Techniques(pregen=False),
        Techniques(interleave=False, pregen=False),
        Techniques(offline_schedule=False, pregen=False),
    ],
)
def test_without_dram_stalls_the_iteration_is_the_sum_of_the_block_models(techniques):
    """The simulator's cycles are those of the RTL-validated array model run tile by tile
    (each GEMM cut by the RTL tests' tiler, in the dataflow the schedule chose, a dependent
    GEMM held until its producer answered), plus the SORE and each GEMM's first load."""
    pattern = NMPattern(2, 8)
    layers, result = _run("small-cnn", pattern, FAST, techniques)
    ops = training_gemms(layers)
    array = DEFAULT_ARRAY.replace(interleave=techniques.interleave)
    timeline, ends = ArrayTimeline(array), []
    for op, gemm, producer in zip(ops, result.gemms, _producers(ops), strict=True):
        a = torch.ones(op.rows, op.reduction, dtype=torch.int64)
        b = torch.ones(op.reduction, op.cols, dtype=torch.int64)
        values, indices = (a, a) if op.pattern is None else nm_generate(a, op.pattern)
        tiles = (
            plan_tiles(array, values, indices, b, op.pattern, Dataflow[gemm.dataflow])
            * op.count
        )
        for i, t in enumerate(tiles):
            timeline.issue(
                dataflow=t.dataflow,
                pattern=t.pattern,
                length=t.length,
                rows=t.rows,
                not_before=ends[producer] + 1 if i == 0 and producer is not None else None,
            )
        ends.append(timeline.end_edge)
        assert gemm.tiles == len(tiles), (gemm.layer, gemm.phase)
    sore = sum(
        stream_cycles(
            SoreConfig(lanes=SORE_LANES, m=8),
            n=2,
            copies=3,
            count=-(-layer.cout // 8) * -(-layer.ff.k // SORE_LANES),
        )
        for layer in layers
        if layer.pattern is not None
    )
    assert sore > 0
    # Each GEMM's first operand load is exposed: one cycle at this bandwidth.
    assert result.cycles == timeline.end_edge + sore + len(ops)
    assert result.stall_cycles == {"dram": len(ops), "sore": sore}
    if not techniques.offline_schedule:
        assert {(g.dataflow, g.a_resident) for g in result.gemms} == {("OS", True)}


def test_gemms_that_fit_the_array_exactly_have_the_closed_form_cycles():
    R, C = DEFAULT_ARRAY.rows, DEFAULT_ARRAY.cols
    op = training_gemms(training_layers("small-cnn", batch=2, pattern=None))[0]
    for interleave in (True, False):
        array = DEFAULT_ARRAY.replace(interleave=interleave)
        for blocks in (1, 4):  # output blocks of R x C, each one tile of 256 entries
            plan = plan_gemm(
                dataclasses.replace(op, rows=R, cols=blocks * C, reduction=256),
                array,
                dataflow=Dataflow.OS,
                a_resident=True,
                a_buffer_bytes=0,
                b_buffer_bytes=0,
            )
            lone = 256 + C + R
            expect = (
                blocks * 256 + C + R if interleave else blocks * lone + blocks - 1
            )  # back to back, or one after the other
            assert (plan.tiles, plan.cycles) == (blocks, expect), (interleave, blocks)


@pytest.mark.parametrize(
    ("model", "pattern"),
    [("small-cnn", NMPattern(2, 8)), ("resnet18", NMPattern(2, 8)), ("resnet18", NMPattern(1, 8))],
)
def test_switching_a_technique_off_never_makes_a_run_faster(model, pattern):
    cycles = {name: _run(model, pattern, techniques=t)[1].cycles for name, t in ABLATION.items()}
    alone = ("no interleave", "no pre-generation", "no offline scheduling")
    assert set(ABLATION) == {"all techniques", *alone, "none"}
    for name in alone:
        assert cycles["all techniques"] <= cycles[name] <= cycles["none"], (name, cycles)
    assert cycles["all techniques"] < cycles["no interleave"], cycles


def test_the_same_inputs_give_the_same_result_and_sparsity_helps():
    first = _run("resnet18", NMPattern(2, 8))[1].to_dict()
    assert first == _run("resnet18", NMPattern(2, 8))[1].to_dict()
    dense = _run("resnet18", None)[1]
    assert dense.cycles > first["cycles"]
    assert first["energy_j"]["total"] == pytest.approx(
        sum(v for k, v in first["energy_j"].items() if k != "total")
    )


def test_double_buffering_exposes_the_first_load_and_the_slower_stage():
    assert double_buffered_cycles(100, 0, 10) == 100
    assert double_buffered_cycles(100, 10, 10) == 101
    assert double_buffered_cycles(100, 1000, 10) == 1010
    with pytest.raises(ValueError, match="tiles must be at least 1, not 0"):
        double_buffered_cycles(1, 1, 0)


def test_the_bound_scales_only_ff_and_bp_of_sparse_layers():
    from sparsa.sim.studies.sat_study import pattern_speedups

    rows = pattern_speedups(["small-cnn"], [NMPattern(2, 8)], TARGET, batch=2)
    dense, sparse = rows
    assert dense.bound == 1.0
    # Not every layer is sparse (first and last stay dense) and WU is dense: 1 < bound < 4.
    assert 1.0 < sparse.macs_bound < 4.0
    assert sparse.speedup <= sparse.bound + 1e-9
