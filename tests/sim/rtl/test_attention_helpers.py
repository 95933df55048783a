"""Tests of the attention core's RTL-test helpers that need no simulator: plans, beats, checks."""

import copy

import pytest

from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.hw.attention.attention_core import q_layout, request_layout
from sparsa.hw.attention.bit_converter import full_rows_layout, lsb_rows_layout, msb_rows_layout
from sparsa.sim.rtl.attention_core.cocotb_scoreboard import AttentionSummary
from sparsa.sim.rtl.attention_core.scoreboard import ImportanceState, Observed, check_query
from sparsa.sim.rtl.attention_core.stimulus import (
    PATTERNS,
    CoreStalls,
    QueryBeats,
    QuerySpec,
    make_operands,
    make_plan,
    pack_lanes,
)
from sparsa.sim.rtl.topk.codec import unpacker

NAMES = list(ATTENTION_CONFIGS)


def _low(value: int, bits: int) -> int:
    low = value & ((1 << bits) - 1)
    return low - (1 << bits) if low >> (bits - 1) else low


@pytest.mark.parametrize("name", NAMES)
def test_plan_is_seeded_and_covers_both_requant_paths(name):
    config = ATTENTION_CONFIGS[name]
    plan = make_plan(config, 17, 120)
    assert plan == make_plan(config, 17, 120)
    specs = [s for batch in plan for s in batch.queries]
    assert len(specs) >= 120
    assert plan[0].stalls.none and any(not b.stalls.none for b in plan)
    assert {s.pattern for s in specs} >= {*PATTERNS, "reject"}
    for spec in specs:
        assert spec.is_error(config) == (spec.pattern == "reject"), spec.describe()
        assert QuerySpec.from_json(spec.to_json()) == spec
    state = ImportanceState(config)
    requants = [
        state.attend(s, make_operands(config, s)).requant for s in specs if not s.is_error(config)
    ]
    assert 0 < sum(requants) < len(requants), f"seed=17 {name}: {sum(requants)} requant"


def test_query_beats_carry_the_operands_under_junk():
    config = ATTENTION_CONFIGS["d32-m128-n90"]  # E = 4, 90 keys: a partial last beat
    base = make_plan(config, 3, 0)[0].queries[0]
    spec = QuerySpec(**{**base.to_json(), "n": 90, "v_keep": 1, "msb_bits": 4, "score_shift": 0})
    ops = make_operands(config, spec)
    beats = QueryBeats(config, spec, ops)
    msb, lsb = ops.planes(config, spec.msb_bits)
    T, b, E = spec.msb_bits + 4, spec.msb_bits, config.lanes
    q = unpacker(q_layout(config))(beats.q)
    assert [_low(x, T) for x in q] == ops.q.tolist()
    assert any(x != _low(x, T) for x in q), "junk above the setting's bits"
    rows = [row for beat in beats.k_msb for row in unpacker(msb_rows_layout(config))(beat)]
    assert len(beats.k_msb) == -(-spec.n // E)
    assert [[_low(x, b) for x in row] for row in rows[: spec.n]] == msb.tolist()
    answer = unpacker(lsb_rows_layout(config))(beats.k_lsb([88, 89]))
    assert answer[:2] == lsb[88:90].tolist()
    v = unpacker(full_rows_layout(config))(beats.v_rows([5, 0, 7]))
    assert [[_low(x, T) for x in row] for row in v[:3]] == ops.v[[5, 0, 7]].tolist()
    assert pack_lanes([-1, 2], 4) == 0x2F and pack_lanes([-1], 8, keep=4) == 0x0F


def _observed(config, spec, result) -> Observed:
    """What a correct core sends for ``spec``."""
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
        "error": 0,
    }
    return Observed(
        lsb_req=requests(result.k_lsb_rows.tolist()),
        v_req=requests(result.v_rows.tolist()),
        keys=keys,
        out=out,
    )


def test_check_query_accepts_the_golden_answer_and_reports_each_deviation():
    config = ATTENTION_CONFIGS["d32-m64-n64"]
    specs = make_plan(config, 9, 0)[0].queries
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
    assert request_layout(config).size  # the request layout the checks decode


def test_summary_counts():
    config = ATTENTION_CONFIGS["d64-m64-n64"]
    specs = make_plan(config, 4, 0)[0].queries
    summary = AttentionSummary(label="x", seed=4)
    state = ImportanceState(config)
    for spec in specs:
        result = None if spec.is_error(config) else state.attend(spec, make_operands(config, spec))
        summary.count(spec, result, CoreStalls())
    rejects = sum(s.pattern == "reject" for s in specs)
    assert (summary.queries, summary.rejects, summary.stalled) == (len(specs), rejects, 0)
    assert summary.counts_text().startswith(f"{len(specs)} queries ({rejects} rejected, ")
