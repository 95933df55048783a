# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the whole attention core: golden answers, requested rows, cycles.

The bulk of the checking runs on the generated Verilog in ``tests/rtl`` (over a thousand
queries); these short runs on a small configuration catch regressions without a Verilator
build. The driver, its memory model and the checks are :mod:`sparsa.sim.rtl.attention_core.bench`'s.
"""

import dataclasses
import json

import pytest

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.topk import PivotMode
from sparsa.hw.attention.attention_core import AttentionCore
from sparsa.hw.attention.bit_converter import msb_rows_layout
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.sim.blocks.attention_core import MAX_MEMORY_LATENCY, AttentionCoreCycleModel
from sparsa.sim.rtl.attention_core.bench import Answer, check_answers, run_bench, run_core
from sparsa.sim.rtl.attention_core.scoreboard import ImportanceState
from sparsa.sim.rtl.attention_core.stimulus import CoreStalls, QuerySpec, make_plan
from sparsa.sim.rtl.rtl_check import RtlCheck

CONFIG = AttentionCoreConfig(
    attention=AttentionConfig(
        dim=32,
        msb_bits=8,
        prob_bits=10,
        max_tokens=20,
        token_importance_bits=12,
        head_importance_bits=14,
    ),
    multipliers=64,
    comparators=2,
    heads=3,
)


def check_run(
    specs: list[QuerySpec],
    answers: list[Answer],
    *,
    model: AttentionCoreCycleModel | None,
    seed: int,
) -> RtlCheck:
    """Check the answers of a fresh core to ``specs``; fail on any mismatch."""
    check = RtlCheck(block="attention_core", config=repr(CONFIG), seed=seed)
    check_answers(CONFIG, specs, answers, state=ImportanceState(CONFIG), model=model, check=check)
    assert check.ok, "\n".join(check.failures)
    assert check.cases == len(specs) and check.cycle_checks == (len(specs) if model else 0)
    return check


def test_core_directed_queries_golden_and_cycles():
    seed = 2024
    plan = make_plan(CONFIG, seed, 0)
    specs = list(plan[0].queries[:10]) + [s for s in plan[0].queries if s.pattern == "reject"][:3]
    answers = run_core(CONFIG, specs, stalls=CoreStalls())
    check = check_run(specs, answers, model=AttentionCoreCycleModel(CONFIG), seed=seed)
    assert 0 < check.counts["requantized"] < len(specs), f"seed={seed}"
    assert check.counts["rejected"] == 3, f"seed={seed}"


def test_core_under_stalls_and_back_pressure():
    seed = 77
    plan = make_plan(CONFIG, seed, 60)
    stalled = next(b for b in plan if not b.stalls.none)
    specs = list(stalled.queries[:6])
    answers = run_core(CONFIG, specs, stalls=stalled.stalls, stall_seed=seed)
    check_run(specs, answers, model=None, seed=seed)


@pytest.mark.parametrize("latency", range(2, MAX_MEMORY_LATENCY + 1))
def test_cycle_model_with_a_slower_memory(latency):
    seed = 300 + latency
    plan = make_plan(CONFIG, seed, 0)
    specs = [s for s in plan[0].queries if s.pattern in ("flat", "peaked")][:3]
    answers = run_core(CONFIG, specs, stalls=CoreStalls(), memory_latency=latency)
    check_run(
        specs, answers, model=AttentionCoreCycleModel(CONFIG, memory_latency=latency), seed=seed
    )


def test_bench_counts_cases_cycle_checks_and_stalls():
    seed = 5
    check = run_bench(CONFIG, queries=60, seed=seed)
    assert check.ok, "\n".join(check.failures)
    assert check.cases == 60 and check.counts["stalled"] > 0, f"seed={seed}: {check}"
    assert check.cycle_checks == 60 - check.counts["stalled"], f"seed={seed}: {check}"
    assert check.counts["rejected"] > 0 and check.counts["requantized"] > 0, f"seed={seed}"


def test_bench_records_a_wrong_answer_instead_of_raising():
    seed = 2024
    specs = [s for s in make_plan(CONFIG, seed, 0)[0].queries if s.pattern == "peaked"][:2]
    answers = run_core(CONFIG, specs, stalls=CoreStalls())
    answers[1].observed.out["out"][0] ^= 1
    answers[1].cycles += 1
    check = RtlCheck(block="attention_core", config=repr(CONFIG), seed=seed)
    model = AttentionCoreCycleModel(CONFIG)
    check_answers(CONFIG, specs, answers, state=ImportanceState(CONFIG), model=model, check=check)
    assert (check.cases, check.mismatches) == (2, 1), f"seed={seed}: {check}"
    assert (check.cycle_checks, check.cycle_mismatches) == (2, 1), f"seed={seed}: {check}"
    assert "attention output differs" in check.failures[0] and not check.ok


def test_bench_rejects_a_bad_query_count():
    with pytest.raises(ValueError, match="queries must be a positive integer, not 0"):
        run_bench(CONFIG, queries=0, seed=1)


def test_core_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be an AttentionCoreConfig, not dict"):
        AttentionCore({"dim": 64})


EXPORT_CONFIGS = {
    "e1-heads1-noprobs": AttentionCoreConfig(
        attention=AttentionConfig(dim=32, msb_bits=6, max_tokens=16),
        multipliers=32,
        comparators=1,
        heads=1,
        emit_probs=False,
    ),
    "e4-msb12-n21": AttentionCoreConfig(
        attention=AttentionConfig(dim=32, msb_bits=12, max_tokens=21, prob_bits=8),
        multipliers=128,
        comparators=8,
        pivot=PivotMode.MIDDLE,
        heads=5,
    ),
}


@pytest.fixture(scope="module", params=list(EXPORT_CONFIGS))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    config = EXPORT_CONFIGS[request.param]
    out_dir = tmp_path_factory.mktemp(request.param)
    return config, *export_verilog(
        AttentionCore(config), name="attention_core", out_dir=out_dir, config=config
    )


def test_exported_core_lints_clean(exported):
    assert lint_verilog(exported[1]) == []


def test_exported_sidecar_records_the_config_and_every_stream(exported):
    config, _, json_path = exported
    sidecar = json.loads(json_path.read_text())
    assert sidecar["config"]["attention"] == dataclasses.asdict(config.attention)
    assert sidecar["config"]["pivot"] == config.pivot.value
    ports = {p["name"]: p for p in sidecar["ports"]}
    for name in ("cmd", "q", "k_msb", "lsb_req", "k_lsb", "v_req", "v", "keys", "out"):
        assert {f"{name}__payload", f"{name}__valid", f"{name}__ready"} <= set(ports)
    assert ports["k_msb__payload"]["width"] == msb_rows_layout(config).size
    assert ("prob" in str(ports["keys__payload"]["layout"])) == config.emit_probs
