# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the whole attention core: golden answers, requested rows, cycles.

The bulk of the checking runs on the generated Verilog (``tests/sim/rtl``, ``sparsa verify
attention-core``); these runs of the same harness (:mod:`sparsa.sim.rtl.attention_core.block`)
on a small configuration catch regressions without a Verilator build.
"""

import dataclasses
import json

import pytest

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig, RejectReason
from sparsa.config.topk import PivotMode
from sparsa.hw.attention.attention_core import AttentionCore
from sparsa.hw.attention.bit_converter import msb_rows_layout
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.sim.blocks.attention_core import MAX_MEMORY_LATENCY
from sparsa.sim.rtl.attention_core import block as core_block
from sparsa.sim.rtl.attention_core.block import AttentionCoreBlock
from sparsa.sim.rtl.attention_core.stimulus import DIRECTED_LATENCIES, SLOW_MEMORY
from sparsa.sim.rtl.harness import first_cases, run_amaranth

# Small and quick: 20 tokens, 3 heads, narrow importance accumulators.
ATTENTION = AttentionConfig(dim=32, msb_bits=8, prob_bits=10, max_tokens=20,
                            token_importance_bits=12, head_importance_bits=14)
CONFIG = AttentionCoreConfig(attention=ATTENTION, multipliers=64, comparators=2, heads=3)
BLOCK = AttentionCoreBlock()


def _failures(scoreboard, seed: int) -> str:
    return f"seed={seed}\n" + "\n".join(scoreboard.failures)


def test_core_matches_golden_and_cycle_model_with_stalls_and_slow_memories():
    # Directed cases, directed batches across the cycle model's memory latencies, then random
    # batches: unstalled ones (cycles checked) and stalled ones with a memory up to SLOW_MEMORY.
    seed = 8
    plan = BLOCK.plan(CONFIG, seed, 120, stalls=True)
    scoreboard = run_amaranth(BLOCK, CONFIG, plan, seed=seed)
    counts = scoreboard.counts
    assert scoreboard.ok, _failures(scoreboard, seed)
    assert scoreboard.cases == sum(len(b.cases) for b in plan) >= 120
    stalled = counts["stalled cases"]
    assert stalled > 0 and scoreboard.cycle_checks == scoreboard.cases - stalled, f"seed={seed}"
    good = scoreboard.cases - counts["rejected"]
    assert 0 < counts["requantized"] < good, f"seed={seed}: {counts}"
    assert counts["K LSB rows"] > 0 and counts["V rows"] > 0, f"seed={seed}: {counts}"
    reasons = {r.name for r in RejectReason if r != RejectReason.NONE}
    assert {name for name in reasons if counts.get(f"rejected: {name}")} == reasons, counts
    for latency in (1, *DIRECTED_LATENCIES):
        assert counts[f"memory latency {latency}"] > 0, f"seed={seed}: {counts}"
    assert any(b.memory_latency > MAX_MEMORY_LATENCY for b in plan if not b.stalls.none)
    assert all(b.memory_latency <= SLOW_MEMORY for b in plan), f"seed={seed}"
    assert counts["token importance saturated"] > 0, f"seed={seed}: {counts}"


def test_a_wrong_answer_is_a_mismatch_and_the_run_carries_on():
    seed = 77
    plan = first_cases(BLOCK.plan(CONFIG, seed, 1, stalls=False), 4)
    right = core_block.ImportanceState.attend

    def wrong(self, spec, operands):
        result = right(self, spec, operands)
        result.out[0] += 1
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_block.ImportanceState, "attend", wrong)
        scoreboard = run_amaranth(BLOCK, CONFIG, plan, seed=seed)
    assert (scoreboard.cases, scoreboard.mismatches) == (4, 4), _failures(scoreboard, seed)
    assert scoreboard.cycle_mismatches == 0 and len(scoreboard.failed_batches) == 1
    assert "attention output differs" in scoreboard.failures[0]
    assert scoreboard.failures[0].startswith("attention-core command #0 (no stalls, memory ")


def test_the_first_commands_of_the_plan_run_and_check():
    seed = 5
    plan = first_cases(BLOCK.plan(CONFIG, seed, 6, stalls=True), 6)
    scoreboard = run_amaranth(BLOCK, CONFIG, plan, seed=seed)
    assert scoreboard.ok, _failures(scoreboard, seed)
    assert (scoreboard.cases, scoreboard.cycle_checks) == (6, 6)


def test_core_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be an AttentionCoreConfig, not dict"):
        AttentionCore({"dim": 64})


EXPORT_CONFIGS = {
    "e1-heads1-noprobs": AttentionCoreConfig(
        attention=AttentionConfig(dim=32, msb_bits=6, max_tokens=16),
        multipliers=32,
        comparators=1,
        topk_engines=1,
        heads=1,
        emit_probs=False,
    ),
    "e4-msb12-n21": AttentionCoreConfig(
        attention=AttentionConfig(dim=32, msb_bits=12, max_tokens=21, prob_bits=8),
        multipliers=128,
        comparators=8,
        pivot=PivotMode.MIDDLE,
        topk_engines=3,
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
