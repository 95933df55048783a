"""SpAtten at workload scale (:mod:`sparsa.sim.network.spatten`): bytes by class, attribution,
time."""

import json
import math
from dataclasses import replace
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
import torch

from sparsa.config.topk import TopKConfig
from sparsa.dataflow.spatten_workloads import public_traces
from sparsa.models.algorithms.spatten_trace import SpattenTrace, read_trace
from sparsa.sim.blocks.attention_core import Command, pipeline_timing
from sparsa.sim.blocks.topk import TopKCycleModel
from sparsa.sim.network.dram import overlap, transfer_cycles
from sparsa.sim.network.spatten import (
    CORE_UNITS,
    PAPER_DRAM_REDUCTION,
    PAPER_GPT2_GOPS,
    TECHNIQUES,
    LocalVTopK,
    RtlCoreCycles,
    format_table,
    fused_rows,
    paper_datapath_cycles,
    row_bytes,
    simulate,
)
from sparsa.sim.network.target import load_target

PRUNED, DENSE = public_traces("gpt2-small")  # the copies shipped as package data
MEDIUM, _ = public_traces("gpt2-medium")

ASIC = load_target("spatten-asic")  # HBM2, 32-byte bursts, 1 GHz, 512 + 512 multipliers


def make_trace(*rows: dict, layers: int = 1, heads: int = 2) -> SpattenTrace:
    """A trace of the given rows; each sets fields over a quantized, non-requant default."""
    default = {"iteration": 0, "layer": 0, "head": 0, "seq_len": 10, "key_fetch": 8,
               "key_bits": 6, "query_bits": 16, "requant_threshold": 0.05, "requant": False,
               "requant_bits": 4, "value_fetch": 3, "value_bits": 6,
               "accumulate_importance": True, "rescale_importance": False,
               "token_topk": False, "topk": -1}
    full = [{**default, **row} for row in rows]
    return SpattenTrace(model="hand", config=None, layers=layers, heads=heads, head_dim=64,
                        **{name: [row[name] for row in full] for name in default})


# Row A: 6-bit K (two 48-byte rows per 96-byte transfer) with the LSB refetch, 6-bit V (its
# third row is a 48-byte transfer of its own, two bursts).
ROW_A = {"requant": True}
BYTES_A = {"k_msb": 4 * 96, "k_lsb": 8 * 32, "v_msb": 96 + 64, "q": 128, "outputs": 96}
# Row B: 8-bit K (64 B a row), 4-bit V (32 B), 8-bit Q, no refetch.
ROW_B = {"head": 1, "key_fetch": 5, "key_bits": 8, "value_fetch": 1, "value_bits": 4,
         "query_bits": 8}
BYTES_B = {"k_msb": 5 * 64, "k_lsb": 0, "v_msb": 32, "q": 64, "outputs": 96}
# Row C: unquantized (the dense traces): everything FP32, 256 B a vector.
ROW_C = {"iteration": 1, "key_fetch": 10, "value_fetch": 10, "key_bits": -1, "value_bits": -1,
         "query_bits": -1, "requant_threshold": -1, "requant_bits": -1}
BYTES_C = {"k_msb": 10 * 256, "k_lsb": 0, "v_msb": 10 * 256, "q": 256, "outputs": 256}


def test_fused_rows_reproduce_the_rtl_fetch_profiles():
    # (bits, fused) = (4, 1), (6, 2), (8, 1) at D = 64 with 32-byte transactions (spatten.md
    # 2.4); 12 and 32 bits fill whole bursts with one row; the RTL fuses at most two.
    bits = np.array([4, 6, 8, 10, 12, 16, 32])
    assert fused_rows(64, bits, 32).tolist() == [1, 2, 1, 2, 1, 1, 1]
    assert fused_rows(64, bits, 64).tolist() == [2, 2, 1, 2, 2, 1, 1]


def test_bytes_by_class_of_hand_made_rows():
    trace = make_trace(ROW_A, ROW_B, ROW_C)
    got = row_bytes(trace, ASIC.dram)
    for cls in BYTES_A:
        assert got[cls].tolist() == [BYTES_A[cls], BYTES_B[cls], BYTES_C[cls]], cls
    result = simulate(trace, ASIC)
    assert result.bytes_by_class == {cls: BYTES_A[cls] + BYTES_B[cls] + BYTES_C[cls]
                                     for cls in BYTES_A}
    assert result.dram_bytes == 1024 + 512 + 5632
    assert result.traffic.bytes("outputs", "write") == 96 * 2 + 256
    assert result.traffic.bytes(direction="write") == result.traffic.bytes("outputs")
    # Requested bytes: row A's third V row (48 B) moves two 32-byte bursts.
    assert result.traffic.requested_bytes("v_msb") == 3 * 48 + 32 + 2560
    assert result.traffic.requested_bytes() == result.dram_bytes - 16
    assert result.ops == 2 * 64 * (8 + 3 + 5 + 1 + 10 + 10)


def test_bursts_are_rounded_per_transfer():
    wide = replace(ASIC, dram=replace(ASIC.dram, burst_bytes=64))
    got = row_bytes(make_trace(ROW_A), wide.dram)
    # 6-bit pairs of rows (96 B) take two 64-byte bursts each and a lone 6-bit row one; 4-bit
    # LSB rows pair up into one burst; the 12-bit output (96 B) takes two.
    assert {cls: int(v[0]) for cls, v in got.items()} == {
        "k_msb": 4 * 128, "k_lsb": 4 * 64, "v_msb": 128 + 64, "q": 128, "outputs": 128}
    result = simulate(make_trace(ROW_A), wide)
    assert result.dram_bytes == 512 + 256 + 192 + 128 + 128
    assert result.traffic.requested_bytes() == 384 + 256 + 144 + 128 + 96


def test_attribution_chain_of_a_hand_made_trace():
    # Layer 0 has heads 0 and 1; only head 0 ran (head 1 was pruned).
    result = simulate(make_trace(ROW_A), ASIC)
    fp32_row = 256 + 256  # Q and output vectors
    stages = [2 * (10 * 512 + fp32_row), 10 * 512 + fp32_row, 8 * 512 + fp32_row,
              8 * 256 + 3 * 256 + fp32_row, sum(BYTES_A.values())]
    assert [f.technique for f in result.chain] == list(TECHNIQUES)
    assert [(f.bytes_without, f.bytes_with) for f in result.chain] == list(pairwise(stages))
    assert result.fp32_bytes == stages[0]
    assert result.reduction == stages[0] / stages[-1]
    assert math.prod(Fraction(f.bytes_without, f.bytes_with) for f in result.chain) == \
        Fraction(result.fp32_bytes, result.dram_bytes)


def test_time_overlaps_dram_with_the_slower_of_core_and_topk():
    trace = make_trace(ROW_A, ROW_B, {**ROW_C, "head": 1})
    seen = []

    def topk(n, k):
        seen.append((n.tolist(), k.tolist()))
        return 50 * np.ones_like(n)

    result = simulate(trace, ASIC, core_cycles=lambda t, target: np.array([7, 90, 20]),
                      topk_cycles=topk)
    assert seen == [([8, 5], [3, 1])]  # row C keeps every value: no top-k
    dram = [transfer_cycles(ASIC.dram, b, ASIC.clock_hz) for b in (1024, 512, 5632)]
    assert dram == [math.ceil(b * 1e9 / (16 * 32e9 * 0.924)) for b in (1024, 512, 5632)]
    assert (result.cycles, result.stall_cycles) == overlap([50, 90, 20], dram)
    assert (result.dram_cycles, result.core_cycles, result.topk_cycles) == (sum(dram), 117, 100)
    assert result.core_model == "<lambda>"
    assert result.gops == result.ops / (result.cycles / 1e9) / 1e9


def test_rows_run_in_iteration_layer_head_order():
    rows = (ROW_B, ROW_A, {**ROW_C, "head": 0})  # head 1 before head 0 in the file
    trace = make_trace(*rows)
    cores = {"ab": np.array([5, 100, 3]), "ba": np.array([100, 5, 3])}
    results = {key: simulate(trace, ASIC, core_cycles=lambda t, target, c=c: c,
                             topk_cycles=lambda n, k: np.zeros_like(n))
               for key, c in cores.items()}
    # In (iteration, layer, head) order row A (head 0) runs first.
    dram = [transfer_cycles(ASIC.dram, b, ASIC.clock_hz) for b in (1024, 512, 5632)]
    assert results["ab"].cycles == overlap([100, 5, 3], dram)[0]
    assert results["ba"].cycles == overlap([5, 100, 3], dram)[0]


def test_paper_datapath_bound():
    trace = make_trace(ROW_A, ROW_B, {**ROW_C, "head": 1, "key_fetch": 10, "value_fetch": 9})
    # 512 multipliers / D = 64: 8 keys or values per cycle; Q x K twice on a requant row.
    assert paper_datapath_cycles(trace, ASIC).tolist() == [2, 1, 2]
    long = make_trace({"seq_len": 1000, "key_fetch": 1000, "value_fetch": 999})
    assert paper_datapath_cycles(long, ASIC).tolist() == [125]
    small = replace(ASIC, resources={**ASIC.resources, "qk_multipliers": 96})
    with pytest.raises(ValueError, match=r"head dimension 64 must divide the 96 multipliers "
                       r"of 'qk_multipliers'"):
        paper_datapath_cycles(trace, small)
    bare = load_target("vcu1525")
    with pytest.raises(ValueError, match=r"target 'vcu1525' has no resource 'qk_multipliers'"):
        simulate(trace, bare)


def test_local_v_topk_is_the_cycle_model_on_seeded_scores():
    model = LocalVTopK.for_target(ASIC, 64)
    assert model.config == TopKConfig(lanes=8, comparators=16)
    n, k = 300, 60
    lo, hi = model.config.value_range
    scores = torch.randint(lo, hi + 1, (n,), generator=torch.Generator().manual_seed(0))
    expected = TopKCycleModel(model.config).request(scores, k).total
    assert model.cycles(n, k) == expected
    batch = model(np.array([300, 100, 300, 100]), np.array([60, 20, 60, 10]))
    assert batch.tolist() == [expected, model.cycles(100, 20), expected, model.cycles(100, 10)]
    with pytest.raises(ValueError, match=r"k = 5 of n = 1025"):
        model.cycles(1025, 5)
    with pytest.raises(ValueError, match=r"k = 0 of n = 10"):
        model.cycles(10, 0)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, not -1"):
        LocalVTopK(model.config, seed=-1)


def test_bad_arguments():
    trace = make_trace(ROW_A)
    with pytest.raises(ValueError, match=r"core_cycles must return an array of 1 integers"):
        simulate(trace, ASIC, core_cycles=lambda t, target: np.array([1.5]))
    with pytest.raises(ValueError, match=r"core_cycles must return non-negative cycles, not -2"):
        simulate(trace, ASIC, core_cycles=lambda t, target: np.array([-2]))
    with pytest.raises(ValueError, match=r"topk_cycles must return an array of 1 integers"):
        simulate(trace, ASIC, core_cycles=paper_datapath_cycles,
                 topk_cycles=lambda n, k: np.array([1, 2]))
    with pytest.raises(ValueError, match=r"topk_cycles goes with a core_cycles function"):
        simulate(trace, ASIC, topk_cycles=lambda n, k: np.array([1]))
    with pytest.raises(ValueError, match=r"trace must be a SpattenTrace, not str"):
        simulate("trace", ASIC)
    with pytest.raises(ValueError, match=r"target must be a Target, not str"):
        simulate(trace, "spatten-asic")
    other = make_trace(ROW_A, heads=3)
    with pytest.raises(ValueError, match=r"the dense trace has heads = 3, the trace 2"):
        simulate(trace, ASIC, dense=other)
    with pytest.raises(ValueError, match=r"same iterations and context lengths"):
        simulate(trace, ASIC, dense=make_trace({**ROW_C, "iteration": 0, "seq_len": 11,
                                                "key_fetch": 11, "value_fetch": 11}))


@pytest.fixture(scope="module")
def gpt2_small():
    return simulate(read_trace(PRUNED), ASIC, dense=read_trace(DENSE))


def test_gpt2_small_traffic(gpt2_small):
    r, trace = gpt2_small, read_trace(PRUNED)
    # Dense FP32: 144 heads per iteration, L = 993 ... 1024; per head L keys and values of
    # 256 B and the Q and output vectors (256 B each).
    assert r.fp32_bytes == 144 * sum(512 * L + 512 for L in range(993, 1025))
    assert r.dense_trace_bytes == r.fp32_bytes  # the dense trace is the FP32 baseline
    assert r.reduction_vs_dense_trace == r.reduction
    per_row = row_bytes(trace, ASIC.dram)
    assert r.bytes_by_class == {cls: int(v.sum()) for cls, v in per_row.items()}
    assert r.bytes_by_class["k_lsb"] == 32 * int(trace.key_fetch[trace.requant].sum())
    assert r.bytes_by_class["q"] == 4608 * 128
    assert r.bytes_by_class["outputs"] == 4608 * 96
    assert math.prod(f.factor for f in r.chain) == pytest.approx(r.reduction, rel=1e-12)
    assert math.prod(Fraction(f.bytes_without, f.bytes_with) for f in r.chain) == \
        Fraction(r.fp32_bytes, r.dram_bytes)
    factors = {f.technique: f.factor for f in r.chain}
    assert factors["head pruning"] == 1.0  # every head runs in this trace
    # The README's derived K+V-only figure is 6.0x from pruning alone (spatten.md 1.5).
    assert factors["token pruning"] * factors["local V pruning"] == pytest.approx(6.0, abs=0.05)
    assert sum(layer.dram_bytes for layer in r.per_layer) == r.dram_bytes
    assert sum(layer.rows for layer in r.per_layer) == 4608


def test_gpt2_small_time(gpt2_small):
    r = gpt2_small
    assert r.core_model == "rtl_core_cycles"
    # the core's own local-V top-k engines are among its units, sharing the work
    assert r.core_cycles >= r.topk_cycles // r.topk_engines
    assert r.ops == 2 * 64 * int(read_trace(PRUNED).key_fetch.sum()
                                 + read_trace(PRUNED).value_fetch.sum())
    assert r.cycles >= max(r.dram_cycles, r.core_cycles)
    assert r.cycles <= r.dram_cycles + r.core_cycles
    assert r.seconds == r.cycles / 1e9
    print(f"\nGPT-2 Small: {r.reduction:.2f}x DRAM reduction vs dense FP32 (paper "
          f"{PAPER_DRAM_REDUCTION}x), {r.gops:.1f} GOP/s (paper {PAPER_GPT2_GOPS:.0f})")


def test_dense_gpt2_medium_has_no_reduction():
    r = simulate(read_trace(MEDIUM), ASIC)
    assert r.reduction == 1.0
    assert [f.factor for f in r.chain] == [1.0] * 4
    # no local V pruning: the RTL core's engines still answer each query (keeping every row),
    # the paper's bound runs no top-k
    assert r.topk_cycles > 0
    assert simulate(read_trace(MEDIUM), ASIC, core_cycles=paper_datapath_cycles).topk_cycles == 0
    assert r.stall_cycles > 0  # FP32 K and V: memory-bound


def test_report_outputs(gpt2_small):
    d = json.loads(json.dumps(gpt2_small.to_dict()))
    assert d["dram"]["reduction_vs_fp32"] == gpt2_small.reduction
    assert [c["technique"] for c in d["dram"]["chain"]] == list(TECHNIQUES)
    assert d["paper"]["gpt2_gops"] == 430.0
    assert d["paper"]["dram_reduction"] == 10.0
    assert d["time"]["core_model"] == "rtl_core_cycles"
    assert len(d["per_layer"]) == 12
    table = format_table(gpt2_small)
    assert "the project's attention core, RTL-validated" in table
    paper = format_table(simulate(read_trace(PRUNED), ASIC, core_cycles=paper_datapath_cycles))
    assert "paper datapath bound, not RTL-validated" in paper
    assert "| progressive quantization |" in table
    assert "| throughput |" in table and "430 GOP/s (GPT-2)" in table
    assert f"| all (product) | {gpt2_small.fp32_bytes:,} | {gpt2_small.dram_bytes:,} |" in table


def test_energy_of_hand_made_rows():
    """Each action's joules are its count times the target's energy, counted by hand."""
    trace = make_trace(ROW_A, ROW_B, {"head": 1, "iteration": 1, "token_topk": True, "topk": 7,
                                      "seq_len": 11, "key_fetch": 9})
    result = simulate(trace, ASIC)
    pj = ASIC.energy.pj
    macs = 64 * ((8 * 2 + 3) + (5 + 1) + (9 + 3))  # row A recomputes Q x K
    read_bits = 8 * sum(result.traffic.bytes(c) for c in ("k_msb", "k_lsb", "v_msb", "q"))
    expected = {
        "mac_int12": macs * pj["mac_int12"],
        "dram_read_bit": read_bits * pj["dram_read_bit"],
        "dram_write_bit": 8 * result.traffic.bytes("outputs") * pj["dram_write_bit"],
        "sram_read_bit": read_bits * pj["sram_read_bit"],
        "sram_write_bit": read_bits * pj["sram_write_bit"],
        # local-V top-k over 8 + 5 + 9 keys, token top-k over the 11 tokens of the third row
        "topk_element": (8 + 5 + 9 + 11) * pj["topk_element"],
    }
    for action, joules in result.energy_j.items():
        if action in ("static", "total"):
            continue
        assert joules == pytest.approx(expected.get(action, 0.0) * 1e-12, rel=1e-12), action
    assert result.energy_j["static"] == ASIC.static_w * result.seconds
    assert result.energy_j["total"] == pytest.approx(sum(expected.values()) * 1e-12, rel=1e-12)
    assert json.loads(json.dumps(result.to_dict()))["energy_j"] == result.energy_j
    # A row that prunes no V row: the RTL core's engines still see its 8 scores; the paper's
    # bound runs no local-V top-k for it.
    unpruned = make_trace({"value_fetch": 8})
    assert simulate(unpruned, ASIC).energy_j["topk_element"] == pytest.approx(
        8 * pj["topk_element"] * 1e-12, rel=1e-12)
    assert simulate(unpruned, ASIC, core_cycles=paper_datapath_cycles).energy_j[
        "topk_element"] == 0


def test_pruning_saves_energy(gpt2_small):
    dense = simulate(read_trace(DENSE), ASIC)
    assert 0 < gpt2_small.energy_j["total"] < dense.energy_j["total"]


def test_rtl_core_cycles_are_the_pipeline_model_in_run_order():
    """The rows' queries run back to back through sparsa.sim.blocks.attention_core's pipeline
    model of the target's core, in (iteration, layer, head) order, with the top-k model fed the
    seeded probabilities LocalVTopK uses; a row costs what it adds to the run."""
    trace = make_trace(ROW_A, ROW_B, {"head": 1, "iteration": 1, "key_fetch": 9,
                                      "value_fetch": 9})
    model = RtlCoreCycles()
    config = model.core_config(trace, ASIC)
    assert (config.lanes, config.comparators, config.max_tokens, config.topk_engines) == (
        8, 16, 1024, 2)
    topk = LocalVTopK(config.topk)
    commands = [Command(n=n, v_keep=k, requant=r, topk=topk.request(n, k))
                for n, k, r in ((8, 3, True), (5, 1, False), (9, 9, False))]
    outs = [t.out for t in pipeline_timing(config, commands)]
    order = np.arange(3)
    pipeline = model.pipeline(trace, ASIC, order, np.ones(3, dtype=np.int64))
    assert pipeline.cycles.tolist() == [outs[0], outs[1] - outs[0], outs[2] - outs[1]]
    assert pipeline.busy["local-V top-k"].tolist() == [c.topk.total for c in commands]
    # run backwards, the rows cost differently, and the run as a whole takes its own time
    backwards = model.pipeline(trace, ASIC, order[::-1], np.ones(3, dtype=np.int64))
    assert backwards.cycles.sum() == pipeline_timing(config, commands[::-1])[-1].out
    # a requant row pays the refetch and a second sum and decision in the front
    plain = replace(trace, requant=np.zeros(3, dtype=bool))
    assert (model.pipeline(plain, ASIC, order, np.ones(3, dtype=np.int64)).busy["front"][0]
            < pipeline.busy["front"][0])
    one = RtlCoreCycles(comparators=1, engines=1).pipeline(trace, ASIC, order,
                                                           np.ones(3, dtype=np.int64))
    assert one.cycles.sum() > pipeline.cycles.sum() and one.engines == 1
    odd = replace(trace, head_dim=48)
    with pytest.raises(ValueError, match=r"does not fit the RTL attention core.*dim must be one"):
        model.core_config(odd, ASIC)


def test_dense_gpt2_medium_is_presented_as_the_dense_baseline(gpt2_small):
    medium = simulate(read_trace(MEDIUM), ASIC)
    assert medium.dense_baseline and not gpt2_small.dense_baseline
    table = format_table(medium)
    assert "Dense baseline: no technique applies" in table
    assert "| figure |" not in table and "430 GOP/s" not in table and "| throughput |" not in table
    paper = json.loads(json.dumps(medium.to_dict()))["paper"]
    assert paper["dense_baseline"] is True and "gpt2_gops" not in paper


# Summarization, by hand: one head of a 5-token input that keeps 4 tokens (its 4 queries) and 3
# V rows, 8-bit K, V and Q (64 B a row, one burst pair), D = 64. K and V are loaded once for the
# 4 queries; each query reads its Q vector and writes its 12-bit output (96 B).
SUMMARY = {"seq_len": 5, "key_fetch": 4, "value_fetch": 3, "key_bits": 8, "value_bits": 8,
           "query_bits": 8, "requant_threshold": -1, "requant_bits": -1}
SUMMARY_BYTES = {"k_msb": 4 * 64, "k_lsb": 0, "v_msb": 3 * 64, "q": 4 * 64, "outputs": 4 * 96}


def test_summarization_loads_k_and_v_once_per_head():
    trace = make_trace(SUMMARY)
    result = simulate(trace, ASIC, mode="summarization")
    assert result.bytes_by_class == SUMMARY_BYTES
    assert {cls: int(v[0]) for cls, v in row_bytes(trace, ASIC.dram, mode="summarization")
            .items()} == SUMMARY_BYTES
    generation = simulate(trace, ASIC)  # one query: the same K and V, one Q and one output
    assert generation.bytes_by_class == {**SUMMARY_BYTES, "q": 64, "outputs": 96}
    assert (result.mode, result.queries, generation.queries) == ("summarization", 4, 1)
    # dense FP32 (256 B a vector): both heads with 5 keys, values, queries and outputs; head
    # pruning leaves one head; token pruning 4 of each; local V pruning 3 values
    assert [(f.bytes_without, f.bytes_with) for f in result.chain] == [
        (2 * 20 * 256, 20 * 256), (20 * 256, 16 * 256), (16 * 256, 15 * 256),
        (15 * 256, sum(SUMMARY_BYTES.values()))]


def test_summarization_time_and_ops_are_per_query():
    trace = make_trace(SUMMARY)
    result = simulate(trace, ASIC, mode="summarization")
    model = RtlCoreCycles()
    config = model.core_config(trace, ASIC)
    command = Command(n=4, v_keep=3, topk=LocalVTopK(config.topk).request(4, 3))
    queries = pipeline_timing(config, [command] * 4)  # the head's 4 queries back to back
    assert result.core_cycles == queries[-1].out
    assert result.topk_cycles == 4 * command.topk.total and result.topk_engines == 2
    dram = transfer_cycles(ASIC.dram, sum(SUMMARY_BYTES.values()), ASIC.clock_hz)
    assert result.cycles == dram + queries[-1].out  # one head: nothing overlaps
    assert result.ops == 4 * 2 * 64 * (4 + 3)
    assert result.core_units == {
        "front": sum(t.front for t in queries), "normalize": sum(t.normalize for t in queries),
        "local-V top-k": 4 * command.topk.total, "values": sum(t.values for t in queries)}
    pj = ASIC.energy.pj
    # each query reads the head's K and V from the SRAMs, and its own Q
    sram_read_bits = 8 * (4 * (4 * 64 + 3 * 64) + 4 * 64)
    assert result.energy_j["sram_read_bit"] == pytest.approx(
        sram_read_bits * pj["sram_read_bit"] * 1e-12, rel=1e-12)
    assert result.energy_j["mac_int12"] == pytest.approx(
        4 * 64 * (4 + 3) * pj["mac_int12"] * 1e-12, rel=1e-12)
    table = format_table(result)
    assert "summarization: 4 queries" in table and "1610 GOP/s (BERT" in table
    assert "| attention core unit |" in table
    assert json.loads(json.dumps(result.to_dict()))["paper"]["bert_gops"] == 1610.0


def test_summarization_bad_input():
    with pytest.raises(ValueError, match=r"^mode must be one of 'generation', 'summarization', "
                       r"not 'prompt'"):
        simulate(make_trace(SUMMARY), ASIC, mode="prompt")
    with pytest.raises(ValueError, match=r"^row 0: auto_requant_incre = 4; summarization runs "
                       r"static quantization only"):
        simulate(make_trace(ROW_B), ASIC, mode="summarization")
    small = replace(ASIC, sram_bytes={**ASIC.sram_bytes, "value": 2 * 200})
    with pytest.raises(ValueError, match=r"^row 0: 3 rows of D = 64 at 12 bits take 288 B, more "
                       r"than half the value SRAM of 'spatten-asic' \(200 of 400 B"):
        simulate(make_trace(SUMMARY), small, mode="summarization")
    bare = replace(ASIC, sram_bytes={"value": 196608})
    with pytest.raises(ValueError, match=r"target 'spatten-asic' has no 'key' SRAM"):
        simulate(make_trace(SUMMARY), bare, mode="summarization")
    with pytest.raises(ValueError, match=r"^mode must be one of"):
        row_bytes(make_trace(SUMMARY), ASIC.dram, mode="encoder")


def test_core_units_overlap_within_the_core_time(gpt2_small):
    """Each unit is busy at most the core's time (the units overlap), the front the most on the
    public GPT-2 Small trace; the two engines share the top-k work."""
    units = gpt2_small.core_units
    assert set(units) == set(CORE_UNITS)
    assert max(units["front"], units["normalize"], units["values"],
               units["local-V top-k"] // gpt2_small.topk_engines) <= gpt2_small.core_cycles
    assert sum(units.values()) > gpt2_small.core_cycles
    assert units["front"] == max(units["front"], units["normalize"], units["values"])
    bound = simulate(read_trace(PRUNED), ASIC, core_cycles=paper_datapath_cycles)
    assert bound.core_units is None and bound.topk_engines == 1
