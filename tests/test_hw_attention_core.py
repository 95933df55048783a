# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the whole attention core: golden answers, requested rows, cycles.

The bulk of the checking runs on the generated Verilog in ``tests/rtl`` (over a thousand
queries); these short runs on a small configuration catch regressions without a Verilator
build. A Python memory answers the core's ``lsb_req`` and ``v_req`` beats.
"""

import dataclasses
import json
import random
from collections import deque
from dataclasses import dataclass

import pytest
from amaranth.sim import Simulator
from rtl.attention_scoreboard import ImportanceState, Observed, check_query
from rtl.attention_stimulus import (
    SINKS,
    SOURCES,
    CoreStalls,
    QueryBeats,
    QuerySpec,
    make_operands,
    make_plan,
)
from rtl.codec import packer, unpacker

from hw.attention_core import (
    AttentionCore,
    cmd_layout,
    keys_layout,
    out_layout,
    q_layout,
    request_layout,
)
from hw.attention_core_config import AttentionCoreConfig
from hw.bit_converter import full_rows_layout, lsb_rows_layout, msb_rows_layout
from hw.export import export_verilog, lint_verilog
from hw.topk_config import PivotMode
from models.attention_config import AttentionConfig
from sim.attention_core import MAX_MEMORY_LATENCY, AttentionCoreCycleModel

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


def layouts(config: AttentionCoreConfig) -> dict[str, object]:
    return {
        "cmd": cmd_layout(config),
        "q": q_layout(config),
        "k_msb": msb_rows_layout(config),
        "k_lsb": lsb_rows_layout(config),
        "v": full_rows_layout(config),
        "lsb_req": request_layout(config),
        "v_req": request_layout(config),
        "keys": keys_layout(config),
        "out": out_layout(config),
    }


@dataclass
class Answer:
    """The core's answer to one command and the cycles from its cmd to its out transfer."""

    observed: Observed
    cycles: int


def run_core(
    config: AttentionCoreConfig,
    specs: list[QuerySpec],
    *,
    stalls: CoreStalls,
    stall_seed: int = 0,
    memory_latency: int = 1,
) -> list[Answer]:
    """Run ``specs`` back to back on a fresh core; a memory answers the requests after
    ``memory_latency`` edges; sources idle and sinks refuse beats as ``stalls`` says."""
    dut = AttentionCore(config)
    lay = layouts(config)
    pack_cmd = packer(lay["cmd"])
    unpack = {name: unpacker(lay[name]) for name in SINKS}
    rng = random.Random(stall_seed)
    queues: dict[str, deque] = {name: deque() for name in SOURCES}
    beats: list[QueryBeats | None] = []
    for spec in specs:
        queues["cmd"].append((pack_cmd(spec.cmd()), 0))
        if spec.is_error(config):
            beats.append(None)
            continue
        qb = QueryBeats(config, spec, make_operands(config, spec))
        beats.append(qb)
        queues["q"].append((qb.q, 0))
        queues["k_msb"].extend((beat, 0) for beat in qb.k_msb)
    answers: list[Answer] = []
    memory = {"lsb_req": ("k_lsb", QueryBeats.k_lsb), "v_req": ("v", QueryBeats.v_rows)}

    async def bench(ctx):
        cycle, current, started = 0, Observed(), 0
        presenting = dict.fromkeys(SOURCES, False)
        while len(answers) < len(specs):
            fires = []
            for name, queue in queues.items():
                port = getattr(dut, name)
                due = bool(queue) and queue[0][1] <= cycle
                if due and not presenting[name]:
                    presenting[name] = rng.random() >= stalls.idle.get(name, 0.0)
                ctx.set(port.valid, due and presenting[name])
                if due and presenting[name]:
                    ctx.set(port.payload.as_value(), queue[0][0])
                    fires.append(name)
            for name in SINKS:
                ctx.set(getattr(dut, name).ready, rng.random() >= stalls.busy.get(name, 0.0))
            fired = [name for name in fires if ctx.get(getattr(dut, name).ready)]
            taken = [
                (name, unpack[name](ctx.get(getattr(dut, name).payload.as_value())))
                for name in SINKS
                if ctx.get(getattr(dut, name).valid) and ctx.get(getattr(dut, name).ready)
            ]
            await ctx.tick()
            cycle += 1
            for name in fired:
                queues[name].popleft()
                presenting[name] = False
                if name == "cmd":
                    started = cycle
            for name, value in taken:
                if name == "out":
                    current.out = value
                    answers.append(Answer(current, cycle - started))
                    current = Observed()
                    continue
                getattr(current, name).append(value)
                if name in memory:
                    stream, answer = memory[name]
                    rows = value["index"][: value["count"]]
                    queues[stream].append(
                        (answer(beats[len(answers)], rows), cycle + memory_latency - 1)
                    )
            assert cycle < 5000 * len(specs), f"no answer after {cycle} cycles"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return answers


def check_run(
    config: AttentionCoreConfig,
    specs: list[QuerySpec],
    answers: list[Answer],
    *,
    state: ImportanceState,
    model: AttentionCoreCycleModel | None,
    seed: int,
) -> int:
    """Check every answer against the golden model (and the cycles when ``model`` is given);
    return the number of requantized queries."""
    requants = 0
    for i, (spec, answer) in enumerate(zip(specs, answers, strict=True)):
        msg = f"seed={seed} query {i}: {spec.describe()}"
        if spec.is_error(config):
            result = None
            predicted = AttentionCoreCycleModel.reject()
        else:
            result = state.attend(spec, make_operands(config, spec))
            requants += result.requant
            predicted = model.query(result.probs, spec.v_keep, result.requant) if model else None
        problems = check_query(config, spec, result, answer.observed)
        assert not problems, f"{msg}\n" + "\n".join(problems)
        if model is not None:
            total = predicted if isinstance(predicted, int) else predicted.total
            assert answer.cycles == total, f"{msg}: {answer.cycles} cycles, predicted {predicted}"
    return requants


def test_core_directed_queries_golden_and_cycles():
    seed = 2024
    plan = make_plan(CONFIG, seed, 0)
    specs = list(plan[0].queries[:10]) + [s for s in plan[0].queries if s.pattern == "reject"][:3]
    answers = run_core(CONFIG, specs, stalls=CoreStalls())
    requants = check_run(
        CONFIG,
        specs,
        answers,
        state=ImportanceState(CONFIG),
        model=AttentionCoreCycleModel(CONFIG),
        seed=seed,
    )
    assert 0 < requants < len(specs)


def test_core_under_stalls_and_back_pressure():
    seed = 77
    plan = make_plan(CONFIG, seed, 60)
    stalled = next(b for b in plan if not b.stalls.none)
    specs = list(stalled.queries[:6])
    answers = run_core(CONFIG, specs, stalls=stalled.stalls, stall_seed=seed)
    check_run(CONFIG, specs, answers, state=ImportanceState(CONFIG), model=None, seed=seed)


@pytest.mark.parametrize("latency", range(2, MAX_MEMORY_LATENCY + 1))
def test_cycle_model_with_a_slower_memory(latency):
    seed = 300 + latency
    plan = make_plan(CONFIG, seed, 0)
    specs = [s for s in plan[0].queries if s.pattern in ("flat", "peaked")][:3]
    answers = run_core(CONFIG, specs, stalls=CoreStalls(), memory_latency=latency)
    check_run(
        CONFIG,
        specs,
        answers,
        state=ImportanceState(CONFIG),
        model=AttentionCoreCycleModel(CONFIG, memory_latency=latency),
        seed=seed,
    )


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
