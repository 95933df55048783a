"""Tests of the attention core's harness parts that need no simulator: plan, beats, checks."""

import copy
import json

import pytest

from sparsa.config.attention_core import CommandStatus, RejectReason
from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.hw.common.stream_codec import unpacker
from sparsa.sim.blocks.attention_core import MAX_MEMORY_LATENCY
from sparsa.sim.rtl.attention_core.block import AttentionCoreBlock, cycle_bound
from sparsa.sim.rtl.attention_core.scoreboard import (
    ImportanceState,
    Observed,
    check_query,
    check_transfers,
    expected_inputs,
)
from sparsa.sim.rtl.attention_core.stimulus import (
    DIRECTED_LATENCIES,
    PATTERNS,
    SLOW_MEMORY,
    SOURCES,
    QueryBeats,
    QuerySpec,
    make_operands,
    make_plan,
    pack_lanes,
    port_layouts,
)
from sparsa.sim.rtl.stalls import Stalls

NAMES = list(ATTENTION_CONFIGS)


def _low(value: int, bits: int) -> int:
    low = value & ((1 << bits) - 1)
    return low - (1 << bits) if low >> (bits - 1) else low


@pytest.mark.parametrize("name", NAMES)
def test_plan_is_seeded_and_covers_both_requant_paths(name):
    config = ATTENTION_CONFIGS[name]
    plan = make_plan(config, 17, 150)
    assert plan == make_plan(config, 17, 150)
    specs = [s for batch in plan for s in batch.cases]
    assert len(specs) >= 150
    directed = plan[:1 + len(DIRECTED_LATENCIES)]
    assert [(b.stalls.none, b.memory_latency) for b in directed] == [
        (True, latency) for latency in (1, *DIRECTED_LATENCIES)
    ]
    assert max(DIRECTED_LATENCIES) == MAX_MEMORY_LATENCY
    stalled = [b for b in plan if not b.stalls.none]
    assert stalled and all(set(b.stalls.idle) == set(SOURCES) for b in stalled)
    for batch in plan:
        top = MAX_MEMORY_LATENCY if batch.stalls.none else SLOW_MEMORY
        assert 1 <= batch.memory_latency <= top, batch
    assert {s.pattern for s in specs} >= {*PATTERNS, "reject"}
    reasons = {s.reject_reason(config) for s in specs}
    assert RejectReason.TOKENS in reasons and RejectReason.V_KEEP in reasons
    assert (RejectReason.HEAD in reasons) == (config.heads & (config.heads - 1) != 0)
    for spec in specs:
        assert spec.is_error(config) == (spec.pattern == "reject"), spec.describe()
        assert QuerySpec.from_json(spec.to_json()) == spec
    state = ImportanceState(config)
    requants = [
        state.attend(s, make_operands(config, s)).requant for s in specs if not s.is_error(config)
    ]
    assert 0 < sum(requants) < len(requants), f"seed=17 {name}: {sum(requants)} requant"


def test_a_plan_without_stalls_stalls_nowhere():
    config = ATTENTION_CONFIGS["d32-m64-n64"]
    plan = make_plan(config, 4, 120, stalls=False)
    assert all(b.stalls.none and b.memory_latency <= MAX_MEMORY_LATENCY for b in plan)
    assert [b.seed for b in plan] == list(range(4, 4 + len(plan)))


def test_batches_round_trip_through_json():
    config = ATTENTION_CONFIGS["d64-m64-n64"]
    block = AttentionCoreBlock()
    for batch in make_plan(config, 8, 80):
        text = json.dumps(block.batch_to_json(batch))
        assert block.batch_from_json(config, json.loads(text)) == batch


def test_query_beats_carry_the_operands_under_junk():
    config = ATTENTION_CONFIGS["d32-m128-n90"]  # E = 4, 90 keys: a partial last beat
    layouts = port_layouts(config)
    base = make_plan(config, 3, 0)[0].cases[0]
    spec = QuerySpec(**{**base.to_json(), "n": 90, "v_keep": 1, "msb_bits": 4, "score_shift": 0})
    ops = make_operands(config, spec)
    beats = QueryBeats(config, spec, ops)
    msb, lsb = ops.planes(config, spec.msb_bits)
    T, b, E = spec.msb_bits + 4, spec.msb_bits, config.lanes
    q = unpacker(layouts["q"])(beats.q)
    assert [_low(x, T) for x in q] == ops.q.tolist()
    assert any(x != _low(x, T) for x in q), "junk above the setting's bits"
    rows = [row for beat in beats.k_msb for row in unpacker(layouts["k_msb"])(beat)]
    assert len(beats.k_msb) == -(-spec.n // E)
    assert [[_low(x, b) for x in row] for row in rows[: spec.n]] == msb.tolist()
    answer = unpacker(layouts["k_lsb"])(beats.k_lsb([88, 89]))
    assert answer[:2] == lsb[88:90].tolist()
    v = unpacker(layouts["v"])(beats.v_rows([5, 0, 7]))
    assert [[_low(x, T) for x in row] for row in v[:3]] == ops.v[[5, 0, 7]].tolist()
    assert pack_lanes([-1, 2], 4) == 0x2F and pack_lanes([-1], 8, keep=4) == 0x0F


def _observed(config, spec, result) -> Observed:
    """What a correct core sends for ``spec``, and when: cmd at 10, one operand beat per
    cycle after it, out at 500."""
    E = config.lanes

    def requests(rows):
        return [
            {
                "index": rows[i : i + E] + [0] * (E - len(rows[i : i + E])),
                "count": len(rows[i : i + E]),
            }
            for i in range(0, len(rows), E)
        ]

    keys = []
    for i in range(0, spec.n, E):
        count = min(E, spec.n - i)
        beat = {
            "importance": result.token_importance[i : i + count].tolist() + [0] * (E - count),
            "count": count,
            "last": int(i + E >= spec.n),
        }
        if config.emit_probs:
            beat["prob"] = result.probs[i : i + count].tolist() + [0] * (E - count)
        keys.append(beat)
    out = {
        "out": result.out.tolist(),
        "requant": int(result.requant),
        "head_importance": result.head_importance,
        "error": CommandStatus.ACCEPTED,
    }
    observed = Observed(
        lsb_req=requests(result.k_lsb_rows.tolist()),
        v_req=requests(result.v_rows.tolist()),
        keys=keys,
        out=out,
        cmd_cycle=10,
        out_cycle=500,
    )
    inputs = expected_inputs(config, spec, observed)
    observed.inputs = {s: list(range(11, 11 + count)) for s, count in inputs.items() if count}
    return observed


def test_check_query_accepts_the_golden_answer_and_reports_each_deviation():
    config = ATTENTION_CONFIGS["d32-m64-n64"]
    specs = make_plan(config, 9, 0)[0].cases
    spec = next(s for s in specs if s.pattern == "flat" and s.v_keep > 2 and s.n > 4)
    result = ImportanceState(config).attend(spec, make_operands(config, spec))
    assert result.requant
    good = _observed(config, spec, result)
    assert check_query(config, spec, result, good) == []
    deviations = {
        "requant=0": lambda o: o.out.update(requant=0),
        "attention output differs": lambda o: o.out["out"].__setitem__(0, o.out["out"][0] + 1),
        "head importance": lambda o: o.out.update(head_importance=0),
        "error flag set": lambda o: o.out.update(error=1),
        "v_req rows differ": lambda o: o.v_req[0]["index"].__setitem__(0, 63),
        "lsb_req rows differ": lambda o: o.lsb_req.pop(),
        "keys beats": lambda o: o.keys.pop(),
        "token importance differs": lambda o: o.keys[0]["importance"].__setitem__(0, 1),
        "probabilities differ": lambda o: o.keys[0]["prob"].__setitem__(0, 1),
        "count 0 outside": lambda o: o.v_req.append({"index": [0, 0], "count": 0}),
    }
    for text, spoil in deviations.items():
        observed = copy.deepcopy(good)
        spoil(observed)
        problems = check_query(config, spec, result, observed)
        assert any(text in p for p in problems), (text, problems)
    reject = next(s for s in specs if s.pattern == "reject")
    answer = {"out": [0] * config.dim, "requant": 0, "head_importance": 0, "error": 1}
    assert check_query(config, reject, None, Observed(out=answer)) == []
    spoiled = Observed(v_req=[{"index": [1, 2], "count": 2}], out=dict(answer, error=0))
    problems = check_query(config, reject, None, spoiled)
    assert len(problems) == 2 and "error=1" in problems[0] and "v_req" in problems[1]
    assert check_query(config, reject, None, Observed()) == ["no out beat"]


def test_check_transfers_reports_early_late_and_missing_beats():
    config = ATTENTION_CONFIGS["d32-m64-n64"]
    specs = make_plan(config, 9, 0)[0].cases
    spec = next(s for s in specs if s.pattern == "flat" and s.v_keep > 2 and s.n > 4)
    result = ImportanceState(config).attend(spec, make_operands(config, spec))
    good = _observed(config, spec, result)
    inputs = expected_inputs(config, spec, good)
    assert inputs == {
        "q": 1,
        "k_msb": -(-spec.n // config.lanes),
        "k_lsb": -(-spec.n // config.lanes),
        "v": -(-spec.v_keep // config.lanes),
    }
    # The core runs several commands at once: the previous one need only come first.
    previous = Observed(cmd_cycle=9, out_cycle=499)
    assert check_transfers(good, inputs, previous) == []
    assert check_transfers(good, inputs, Observed(cmd_cycle=9, out_cycle=12)) == []
    assert good.cycles == 490 and f"k_msb 1..{inputs['k_msb']} (" in good.describe()
    deviations = {
        "cmd accepted before the previous command": lambda o: setattr(o, "cmd_cycle", 9),
        "out beat sent before the previous command's": lambda o: setattr(o, "out_cycle", 499),
        "q beats transferred outside": lambda o: o.inputs["q"].__setitem__(0, 10),
        "v beats transferred outside": lambda o: o.inputs["v"].append(501),
        "k_msb beats consumed, expected": lambda o: o.inputs["k_msb"].pop(),
    }
    for text, spoil in deviations.items():
        observed = copy.deepcopy(good)
        spoil(observed)
        problems = check_transfers(observed, inputs, previous)
        assert any(text in p for p in problems), (text, problems)
    reject = next(s for s in specs if s.pattern == "reject")
    assert expected_inputs(config, reject, Observed()) == {"q": 0, "k_msb": 0, "k_lsb": 0, "v": 0}
    assert check_transfers(Observed(cmd_cycle=3), inputs, None) == ["cmd or out beat missing"]


def test_a_stalled_command_may_take_longer_before_it_counts_as_hung():
    config = ATTENTION_CONFIGS["d64-m128-n128"]
    spec = make_plan(config, 1, 0)[0].cases[2]
    calm = cycle_bound(config, spec, Stalls(), 1)
    assert calm > 1000 and cycle_bound(config, spec, Stalls(busy=0.5), 1) > 10 * calm
    assert cycle_bound(config, spec, Stalls(), SLOW_MEMORY) > calm
