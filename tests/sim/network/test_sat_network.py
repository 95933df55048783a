"""Consistency of the network-scale SAT simulator with the RTL-validated block models."""

import dataclasses

import pytest
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.config.sat import Dataflow, NMPattern, SoreConfig
from sparsa.dataflow.sat_schedule import plan_gemm, training_gemms
from sparsa.dataflow.sat_tiles import plan_tiles
from sparsa.models.golden.sat import nm_generate
from sparsa.models.zoo.cnn import GemmShape, LayerGemm
from sparsa.models.zoo.workloads import training_layers
from sparsa.sim.blocks.sat_array import ArrayTimeline
from sparsa.sim.blocks.sore import stream_cycles
from sparsa.sim.blocks.weight_update import step_cycles
from sparsa.sim.network.dram import TENSOR_CLASSES, DramTraffic
from sparsa.sim.network.sat_network import (
    ALL_TECHNIQUES,
    DEFAULT_ARRAY,
    NETWORK_WEIGHT_UPDATE,
    SORE_LANES,
    Techniques,
    double_buffered_cycles,
    layer_weights,
    simulate_iteration,
    simulate_weight_update,
    system_dram,
)
from sparsa.sim.network.sat_system_gemm import system_gemm
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
    # Each GEMM's first operand load is exposed: one cycle at this bandwidth. The preset's
    # floating-point array adds the weight update's step at the end.
    assert DEFAULT_ARRAY.dtype.is_float and result.weight_update is not None
    update = result.weight_update.cycles
    assert result.cycles == timeline.end_edge + sore + len(ops) + update
    assert result.stall_cycles == {"dram": len(ops), "sore": sore, "weight_update_dram": 0}
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
            lone = 256 + 1 + C + R  # 1: the array's edge registers
            expect = (
                blocks * 256 + 1 + C + R if interleave else blocks * lone + blocks - 1
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
    # 2:8 skips MACs: more dense-equivalent MACs than slots, while the array is busy < 100%
    assert first["utilisation"] > 1 > first["busy_share"] > 0
    assert dense.utilisation <= dense.busy_share <= 1
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


# --- Number formats and the weight-update engine -------------------------------------------


def _linear(name, cin, cout, batch, pattern):
    """A Linear layer's record, as sparsa.models.zoo.cnn.layer_gemms makes it."""
    return LayerGemm(
        name=name, kind="linear", cout=cout, cin=cin, kh=1, kw=1, stride=(1, 1), groups=1,
        in_h=1, in_w=1, out_h=1, out_w=1, mode="dense" if pattern is None else "bdwp",
        pattern=pattern, ff=GemmShape(cout, cin, batch), bp=GemmShape(cin, cout, batch),
        wu=GemmShape(cout, batch, cin),
    )


# fc1 (64 -> 32, 2:8, the first layer: no BP) and fc2 (32 -> 16, dense), 16 rows.
TINY = [_linear("fc1", 64, 32, 16, NMPattern(2, 8)), _linear("fc2", 32, 16, 16, None)]


def _tiny(dtype, target=TARGET, **kwargs):
    return simulate_iteration(
        TINY, model="tiny", pattern=NMPattern(2, 8), target=target, batch=16,
        array=DEFAULT_ARRAY.replace(dtype=dtype), **kwargs,
    )


def _requested(result):
    return {
        (c, d): result.traffic.requested_bytes(c, d)
        for c in TENSOR_CLASSES
        for d in ("read", "write")
        if result.traffic.requested_bytes(c, d)
    }


def test_int8_results_are_those_of_the_integer_simulator():
    """The figures the simulator gave before it knew the floating-point formats, plus the
    cycle the array's edge registers added since to every run of tiles."""
    layers = training_layers("small-cnn", batch=2, pattern=NMPattern(2, 8))
    result = simulate_iteration(layers, model="small-cnn", pattern=NMPattern(2, 8),
                                target=TARGET, batch=2, techniques=ALL_TECHNIQUES,
                                array=DEFAULT_ARRAY.replace(dtype=NumberFormat.INT8))
    assert result.weight_update is None
    assert (result.cycles, result.sore_cycles) == (3681, 1755)
    assert result.phase_cycles == {"FF": 849, "BP": 1121, "WU": 1711}
    assert result.stall_cycles == {"dram": 109, "sore": 0, "weight_update_dram": 0}
    assert {c: v for c, v in result.traffic.by_class().items() if v["read"] or v["write"]} == {
        "weights": {"read": 28608, "write": 0},
        "compressed_weights": {"read": 13568, "write": 13568},
        "indices": {"read": 5120, "write": 5120},
        "activations": {"read": 58112, "write": 8384},
        "gradients": {"read": 14720, "write": 55872},
    }
    assert result.energy_j["total"] == 4.701145824e-05
    assert result.energy_j["mac_int8"] == 7.654348800000001e-06
    assert result.energy_j["wu_element"] == 0


def test_dram_bytes_per_class_follow_the_format_and_the_amp_update():
    """Hand count for TINY (everything fits the buffers, so every operand is read once):
    b bytes per value (1 for int8, 2 for fp16); 3-bit indices; W = 32 x 64 + 16 x 32 = 2,560
    weights updated (fp16 only) with FP32 master weights and momentum."""
    counts = {}
    for dtype in (NumberFormat.INT8, NumberFormat.FP16):
        b = dtype.bytes
        expect = {
            # FF2 and BP2 read fc2's weights; pre-generation reads fc1's dense weights.
            ("weights", "read"): 512 * b + 512 * b + 2048 * b,
            # FF1 reads fc1's FF copy (32 rows x 16 entries); the SORE writes both copies.
            ("compressed_weights", "read"): 512 * b,
            ("compressed_weights", "write"): 1024 * b,
            ("indices", "read"): 192,  # 512 entries x 3 bits
            ("indices", "write"): 384,
            # FF1 and FF2 read their inputs, WU2 and WU1 read them again; FF writes outputs.
            ("activations", "read"): (1024 + 512 + 512 + 1024) * b,
            ("activations", "write"): (512 + 256) * b,
            # BP2 reads fc2's output errors, WU2 and WU1 read theirs; BP2 writes fc1's, the
            # WUs write the weight gradients.
            ("gradients", "read"): (256 + 256 + 512) * b,
            ("gradients", "write"): (512 + 512 + 2048) * b,
        }
        if dtype.is_float:
            w = 2560
            expect[("weights", "write")] = w * 2  # the half copy
            expect[("gradients", "read")] += 2 * w * 2  # the check and the update pass
            for tensor in ("master_weights", "momentum"):
                expect[(tensor, "read")] = expect[(tensor, "write")] = w * 4
            expect[("masks", "read")] = w // 8
            expect[("masks", "write")] = 32 * 64 // 8  # fc1's, by the SORE
        result = _tiny(dtype)
        assert _requested(result) == expect, dtype
        counts[dtype] = result.energy_j
    # The same MACs, priced per format.
    int8, fp16 = TARGET.energy.pj["mac_int8"], TARGET.energy.pj["mac_fp16"]
    assert counts[NumberFormat.FP16]["mac_fp16"] == pytest.approx(
        counts[NumberFormat.INT8]["mac_int8"] * fp16 / int8
    )


def test_compressed_fp16_2_8_weights_are_29_7_percent_of_dense_fp16():
    """sat.md section 8 row 13: (16 + 3) x 2 bits per 8 weights."""
    result = _tiny(NumberFormat.FP16)
    copies = result.traffic.requested_bytes("compressed_weights", "write") + \
        result.traffic.requested_bytes("indices", "write")
    assert copies / (2 * 32 * 64 * 2) == 38 / 128 == pytest.approx(0.297, abs=5e-4)


def test_bf16_moves_the_bytes_of_fp16_and_takes_its_cycles():
    fp16, bf16 = _tiny(NumberFormat.FP16), _tiny(NumberFormat.BF16)
    assert bf16.traffic.to_dict() == fp16.traffic.to_dict()
    assert bf16.cycles == fp16.cycles
    assert bf16.weight_update.config == fp16.weight_update.config.replace(dtype="bf16")
    assert bf16.energy_j["mac_bf16"] > 0 == bf16.energy_j["mac_fp16"]


def test_the_array_takes_the_same_cycles_in_every_format():
    """The PE array's timing is format-independent: with no DRAM stall, the GEMMs' cycles are
    the same; a floating-point iteration adds the update step."""
    results = {d: _tiny(d, FAST) for d in NumberFormat}
    cycles = {d: [(g.compute_cycles, g.cycles) for g in r.gemms] for d, r in results.items()}
    assert len(set(map(tuple, cycles.values()))) == 1
    base = results[NumberFormat.INT8].cycles
    for dtype, result in results.items():
        assert result.cycles == base + result.weight_update_cycles, dtype
        assert (result.weight_update is None) == (not dtype.is_float)


def test_the_update_step_takes_the_engines_cycles_when_dram_keeps_up():
    result = _tiny(NumberFormat.FP16, FAST)
    update = result.weight_update
    assert update.config == NETWORK_WEIGHT_UPDATE.replace(dtype="fp16")
    assert update.config.lanes == 16
    assert update.elements == sum(layer_weights(layer) for layer in TINY) == 2560
    model = step_cycles(update.config, count=2560, skipped=False).period
    assert update.engine_cycles == update.cycles == model == 2 * 160 + 19 + 2
    assert update.bound == "engine" and update.dram_stall_cycles == 0
    assert result.cycles == (
        sum(g.cycles for g in result.gemms) + result.sore_exposed_cycles + update.cycles
    )
    assert result.energy_j["wu_element"] == pytest.approx(2560 * 309.4e-12)
    # A given engine is used as given.
    wider = NETWORK_WEIGHT_UPDATE.replace(dtype="fp16", lanes=64)
    assert _tiny(NumberFormat.FP16, FAST, weight_update=wider).weight_update.cycles == (
        step_cycles(wider, count=2560, skipped=False).period
    )


def test_a_slow_dram_stretches_each_pass_of_the_update():
    # 4 channels x 800 MB/s at full efficiency and 200 MHz: 16 bytes per cycle.
    slow = dataclasses.replace(
        TARGET, dram=dataclasses.replace(TARGET.dram, channel_bytes_per_s=800e6, efficiency=1.0)
    )
    config = NETWORK_WEIGHT_UPDATE
    traffic = DramTraffic(slow.dram)
    update = simulate_weight_update(config, 2560, slow, traffic)
    check = 2560 * 2  # 80 bursts
    passes = 4 * 2560 * 4 + 2 * 2560 * 2 + 320  # every tensor whole bursts
    assert traffic.bytes() == check + passes
    assert (update.check_dram_cycles, update.update_dram_cycles) == (check // 16, passes // 16)
    beats_ = 160
    assert update.engine_cycles == 2 * beats_ + 19 + 2
    assert update.cycles == update.engine_cycles + (320 - beats_) + (3220 - beats_)
    assert update.bound == "dram"


def test_the_update_engine_must_be_in_the_arrays_format():
    with pytest.raises(ValueError, match=r"weight-update engine's dtype \(bf16\) must be the "
                       r"array's \(fp16\)"):
        _tiny(NumberFormat.FP16, weight_update=NETWORK_WEIGHT_UPDATE.replace(dtype="bf16"))


def test_a_system_sizes_the_array_buffers_and_sore_of_a_run():
    """The system's A and B buffers replace the thirds of the target's memory: the small
    system's 64-row buffers hold fewer operands whole, so more bytes move, on the same array;
    its SORE of 4 lanes takes longer than the 32 lanes the target-sized run assumes."""
    system = SAT_SYSTEM_CONFIGS["r4c4-int8-w64-sore4"]
    layers = training_layers("small-cnn", batch=2, pattern=NMPattern(2, 4))
    common = {"model": "small-cnn", "pattern": NMPattern(2, 4), "target": TARGET, "batch": 2}
    sized = simulate_iteration(layers, **common, system=system)
    assumed = simulate_iteration(layers, **common, array=system.array)
    assert sized.array == assumed.array
    assert sized.traffic.bytes() > assumed.traffic.bytes()
    assert sized.sore_cycles > assumed.sore_cycles
    assert "buffers" not in sized.resources.parts and "buffers" in assumed.resources.parts
    # The system's one 64-bit AXI port, 8 bytes a cycle, is far below the target's DRAM.
    dram = system_dram(system, TARGET)
    assert dram.peak_bytes_per_s == 8 * TARGET.clock_hz < TARGET.dram.peak_bytes_per_s
    assert (dram.channels, dram.efficiency) == (1, TARGET.dram.efficiency)
    assert sized.traffic.spec == dram
    wide = system.replace(axi=system.axi.replace(data_width=512, addr_width=34),
                          dram_bytes=1 << 34)
    slow = dataclasses.replace(TARGET, dram=dataclasses.replace(
        TARGET.dram, channels=1, channel_bytes_per_s=1e9))
    assert system_dram(wide, slow) == slow.dram  # a port faster than the memory: as it is
    assert simulate_iteration(layers, **common, system=wide).cycles < sized.cycles
    # Without a SORE the host makes the compressed copies: no SORE time, the same traffic.
    bare = simulate_iteration(layers, **common, system=SAT_SYSTEM_CONFIGS["r4c4-int8-w64"])
    assert (bare.sore_cycles, sized.sore_cycles > 0) == (0, True)
    assert bare.traffic.bytes() == sized.traffic.bytes()
    with pytest.raises(ValueError, match="give the array or the system"):
        simulate_iteration(layers, **common, system=system, array=system.array.replace(rows=8))
    with pytest.raises(ValueError, match=r"the system's SORE groups M = 4 weights, the layers' "
                                         r"pattern 2:8 needs M = 8"):
        simulate_iteration(training_layers("small-cnn", batch=2, pattern=NMPattern(2, 8)),
                           **{**common, "pattern": NMPattern(2, 8)}, system=system)


def test_a_system_sized_run_costs_each_gemm_by_its_program() -> None:
    """Every GEMM of a small CNN fits the system's instruction memory: its cycles, array-busy
    cycles and bytes are those of the program the compiler makes for it, timed by the system's
    cycle model at the run's memory latency; the schedule picks the faster dataflow."""
    system = SAT_SYSTEM_CONFIGS["r4c4-int8-w128"]
    pattern = NMPattern(2, 8)
    layers = training_layers("small-cnn", batch=1, pattern=pattern)[:2]
    common = {"model": "small-cnn", "pattern": pattern, "target": TARGET, "batch": 1,
              "system": system}
    result = simulate_iteration(layers, **common, read_latency=40)
    assert all(g.programs for g in result.gemms)
    fetched = 0
    for op, gemm in zip(training_gemms(layers), result.gemms, strict=True):
        runs = {d: system_gemm(system, op, d, read_latency=40) for d in Dataflow}
        best = min(runs.values(), key=lambda run: run.timing.cycles)
        assert gemm.dataflow == best.dataflow.name
        assert (gemm.cycles, gemm.compute_cycles) == (best.timing.cycles,
                                                      best.timing.array_busy)
        timing = best.timing
        assert best.a_bytes + best.b_bytes + best.program_bytes == timing.bytes_read
        assert gemm.dram_bytes == timing.bytes_read + timing.bytes_written
        fetched += best.program_bytes
    assert result.traffic.requested_bytes("program", "read") == fetched > 0
    # the memory's latency is the programs' (features.3 WU streams its tiles, each waiting)
    assert simulate_iteration(layers, **common, read_latency=3).cycles < result.cycles
    fixed = simulate_iteration(layers, **common, read_latency=40,
                               techniques=Techniques(offline_schedule=False))
    assert {g.dataflow for g in fixed.gemms} == {"OS"} and fixed.cycles >= result.cycles
