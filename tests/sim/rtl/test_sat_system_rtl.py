"""The SAT accelerator end to end on Verilator: programs compiled from GEMMs run from a DRAM
image through the AXI4-Lite registers; DRAM, faults and counters against the golden program
model, cycles against the system's cycle model."""

import pytest
import torch

from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.dataflow.sat_schedule import GemmOp
from sparsa.sim.blocks.sat_system import program_timing
from sparsa.sim.network.sat_system_gemm import system_gemm
from sparsa.sim.rtl.sat_system.cases import (
    chain_cases,
    compare,
    fault_cases,
    gemm_cases,
    generated_cases,
    memory_error_cases,
    parts_cases,
)
from sparsa.sim.rtl.sat_system.run import run_jobs

pytestmark = pytest.mark.rtl

MEMORY = 1 << 20


INT8, FP16, FP16_A3, COMPUTE_BOUND = (SAT_SYSTEM_CONFIGS[n] for n in (
    "r4c4-int8-w64", "r4c4-fp16-w64", "r4c4-fp16-a3-w64", "r4c4-int8-w512"))


def _run(config, cases, *, latency, stall=0.0, seed=1, memory=MEMORY):
    results = run_jobs(config, [c.job for c in cases], memory_bytes=memory, latency=latency,
                       stall=stall, seed=seed)
    failures, rows = [], []
    for case, result in zip(cases, results, strict=True):
        problems, row = compare(config, case, result, latency, stall)
        failures += problems
        rows.append(row)
    assert not failures, f"seed {seed}: " + "; ".join(failures[:8])
    return rows


@pytest.mark.parametrize("latency", [3, 40])
@pytest.mark.parametrize("config", [INT8, FP16, FP16_A3, COMPUTE_BOUND],
                         ids=["int8", "fp16", "fp16-adder3", "wide"])
def test_gemm_programs_equal_the_golden_model_and_the_cycle_model(config, latency) -> None:
    rows = _run(config, gemm_cases(config, seed=5), latency=latency)
    for row in rows:
        assert (row["rtl"], row["busy_rtl"]) == (row["model"], row["busy_model"]), row


@pytest.mark.parametrize("latency", [3, 40])
@pytest.mark.parametrize("config", [INT8, COMPUTE_BOUND], ids=["int8", "wide"])
def test_streamed_programs_equal_the_golden_model_and_the_cycle_model(config, latency) -> None:
    """Every tile loading both operands into the halves (``resident=False``): more loads,
    the same results, cycles still predicted exactly."""
    cases = gemm_cases(config, seed=5, resident=False)
    rows = _run(config, cases, latency=latency)
    for row in rows:
        assert (row["rtl"], row["busy_rtl"]) == (row["model"], row["busy_model"]), row
    resident = gemm_cases(config, seed=5)
    assert sum(len(c.program) for c in resident) < sum(len(c.program) for c in cases)


@pytest.mark.parametrize("name", ["r4c4-int8-w64-sore4", "r8c8-int8-w128-sore8"])
def test_the_sore_in_the_datapath_builds_the_copies_the_golden_model_does(name) -> None:
    """GENERATE: dense weights from DRAM through the SORE into buffer A, FF and BP copies,
    both dataflows, edge shapes; results and cycles as the golden and cycle models say."""
    config = SAT_SYSTEM_CONFIGS[name]
    rows = _run(config, generated_cases(config, seed=3), latency=40)
    for row in rows:
        assert (row["rtl"], row["busy_rtl"], row["sore_rtl"]) == (
            row["model"], row["busy_model"], row["sore_model"]), row
        assert row["sore_rtl"] > 0


@pytest.mark.parametrize(("name", "latency"), [("r4c4-int8-w64", 40), ("r4c4-fp16-w64", 3),
                                             ("r8c8-int8-w128-sore8", 40)])
def test_chained_layers_run_as_one_program(name, latency) -> None:
    """Three layers, one program: each layer's STOREs requantize (ReLU, shift) and write the
    next layer's activation beats, a SYNC hands them to its LOADs; DRAM as the golden program
    model says, every layer's output as the layer golden says, cycles exactly as the model."""
    config = SAT_SYSTEM_CONFIGS[name]
    chains = chain_cases(config, seed=3)
    results = run_jobs(config, [c.case.job for c in chains], memory_bytes=MEMORY,
                       latency=latency)
    for chain, result in zip(chains, results, strict=True):
        failures, row = compare(config, chain.case, result, latency)
        assert not failures, failures
        assert (row["rtl"], row["busy_rtl"], row["sore_rtl"]) == (
            row["model"], row["busy_model"], row["sore_model"]), row
        for i, want in enumerate(chain.want):
            got = chain.compiled.read_layer(result.regions[0], i)
            assert torch.equal(got, want), (chain.case.name, i)


@pytest.mark.parametrize(("config", "latency"), [(INT8, 40), (FP16, 3)], ids=["int8", "fp16"])
def test_a_gemm_longer_than_the_instruction_memory_runs_as_parts(config, latency) -> None:
    """GEMMs too long for the 256-instruction memory, run as the programs of their parts, one
    start each: every part's DRAM as the golden program model says and its cycles exactly as the
    cycle model; Y assembled by the host is the golden GEMM's; the network simulator's cycles
    for the GEMM (its parts planned from the shape) are the sum of the parts' RTL cycles."""
    gemms = parts_cases(config, seed=4)
    cases = [case for gemm in gemms for case in gemm.cases]
    results = iter(run_jobs(config, [c.job for c in cases], memory_bytes=MEMORY,
                            latency=latency))
    for gemm in gemms:
        runs = [next(results) for _ in gemm.cases]
        rtl = 0
        for case, result in zip(gemm.cases, runs, strict=True):
            failures, row = compare(config, case, result, latency)
            assert not failures, failures
            assert (row["rtl"], row["busy_rtl"]) == (row["model"], row["busy_model"]), row
            rtl += row["rtl"]
        got = gemm.compiled.read_output([result.regions[0] for result in runs])
        assert torch.equal(got, gemm.want), gemm.cases[0].name
        rows, k, cols, pattern, dataflow = gemm.op
        netsim = system_gemm(config, GemmOp("x", "FF", rows, k, cols, pattern), dataflow,
                             read_latency=latency)
        assert (netsim.parts, netsim.timing.cycles) == (len(gemm.cases), rtl), gemm.op


def test_faults_stop_the_program_and_leave_the_accelerator_usable() -> None:
    _run(INT8, fault_cases(INT8), latency=3)


def test_a_memory_error_stops_the_program_at_its_load() -> None:
    half = INT8.dram_bytes // 2
    _run(INT8, memory_error_cases(INT8, half), latency=3, memory=half)


def test_stalled_memory_changes_the_time_not_the_results() -> None:
    """Every channel of the memory idles 30% of cycles: the results are still the golden
    model's. The model told of the stalls predicts the expected time: within 10% per program
    (short programs vary most: the largest of these 18 is 8.4%) and 2% over all of them; told
    of none, it is a lower bound."""
    stall, seed = 0.3, 9
    cases = gemm_cases(INT8, seed=seed)
    rows = _run(INT8, cases, latency=10, stall=stall, seed=seed)
    errors = [(r["model"] - r["rtl"]) / r["rtl"] for r in rows]
    total = sum(r["model"] for r in rows) / sum(r["rtl"] for r in rows) - 1
    print(f"model error with {stall:.0%} stalls: " + ", ".join(f"{e:+.1%}" for e in errors)
          + f"; all programs {total:+.2%}")
    assert all(abs(e) <= 0.10 for e in errors) and abs(total) <= 0.02, (seed, errors, total)
    for case, row in zip(cases, rows, strict=True):
        blind = program_timing(INT8, list(case.program), program_addr=case.job.program_addr,
                               read_latency=10)
        assert blind.cycles <= row["rtl"], (seed, case.name)
