"""Seeded (head, query) commands on the attention core's RTL in ``amaranth.sim``.

:func:`run_core` runs commands back to back on a freshly reset
:class:`sparsa.hw.attention.attention_core.AttentionCore`, cycle by cycle, with a memory that answers every
``lsb_req`` beat with a ``k_lsb`` beat and every ``v_req`` beat with a ``v`` beat (junk in the
lanes past the request's count); :func:`check_answers` compares every answer with the golden
model (:func:`sparsa.models.golden.attention.attend_one_query`, through
:class:`sparsa.sim.rtl.attention_core.scoreboard.ImportanceState`): the output vector, the requant and error
flags, the head and token importance, the probabilities and exactly which K LSB and V rows the
core requested; and, for commands run without stalls, the cycles from each command's transfer
to its answer's with :class:`sparsa.sim.blocks.attention_core.AttentionCoreCycleModel`. :func:`run_bench`
does both over a seeded plan (:func:`sparsa.sim.rtl.attention_core.stimulus.make_plan`) on a small core.
"""

import random
from collections import deque
from dataclasses import dataclass

from amaranth.lib import data
from amaranth.sim import Simulator

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.checks import is_int
from sparsa.hw.attention.attention_core import (
    AttentionCore,
    cmd_layout,
    keys_layout,
    out_layout,
    q_layout,
    request_layout,
)
from sparsa.hw.attention.bit_converter import full_rows_layout, lsb_rows_layout, msb_rows_layout
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.sim.blocks.attention_core import AttentionCoreCycleModel
from sparsa.sim.rtl.attention_core.scoreboard import ImportanceState, Observed, check_query
from sparsa.sim.rtl.attention_core.stimulus import (
    SINKS,
    SOURCES,
    CoreStalls,
    QueryBeats,
    QuerySpec,
    make_operands,
    make_plan,
)
from sparsa.sim.rtl.rtl_check import RtlCheck

__all__ = [
    "BENCH_CONFIG",
    "MAX_CYCLES_PER_QUERY",
    "Answer",
    "check_answers",
    "core_layouts",
    "run_bench",
    "run_core",
]

BENCH_CONFIG = AttentionCoreConfig(
    attention=AttentionConfig(dim=32, msb_bits=8, max_tokens=64),
    multipliers=64,
    comparators=4,
    heads=4,
)
"""A small core (D = 32, E = 2 rows per cycle, up to 64 tokens) that simulates quickly."""
MAX_CYCLES_PER_QUERY = 5000  # a run that takes longer per command is hung


def core_layouts(config: AttentionCoreConfig) -> dict[str, data.Layout]:
    """Payload layout of each of the core's nine streams, by port name."""
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
    """Run ``specs`` back to back on a fresh core.

    Parameters
    ----------
    config : AttentionCoreConfig
    specs : list of QuerySpec
        The commands, in order (rejected ones included).
    stalls : CoreStalls
        Sources idle and sinks refuse beats with these per-cycle probabilities (drawn from
        ``stall_seed``).
    memory_latency : int
        The memory answers a request ``memory_latency`` edges after its transfer.

    Returns
    -------
    list of Answer
        One per command, in order.

    Raises
    ------
    AssertionError
        When the core stops answering (more than :data:`MAX_CYCLES_PER_QUERY` cycles per
        command).
    """
    dut = AttentionCore(config)
    lay = core_layouts(config)
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
            assert cycle < MAX_CYCLES_PER_QUERY * len(specs), f"no answer after {cycle} cycles"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return answers


def check_answers(
    config: AttentionCoreConfig,
    specs: list[QuerySpec],
    answers: list[Answer],
    *,
    state: ImportanceState,
    model: AttentionCoreCycleModel | None,
    check: RtlCheck,
    where: str = "",
) -> None:
    """Compare every answer with the golden model (and its cycles with ``model`` when given)
    and count the outcome in ``check``: ``rejected`` and ``requantized`` commands besides the
    cases and mismatches. ``state`` (and ``model``) must have seen every earlier command of
    the core that gave ``answers``."""
    for i, (spec, answer) in enumerate(zip(specs, answers, strict=True)):
        msg = f"{where}query {i}: {spec.describe()}"
        if spec.is_error(config):
            result = None
            check.count("rejected")
        else:
            result = state.attend(spec, make_operands(config, spec))
            check.count("requantized", int(result.requant))
        check.answer(check_query(config, spec, result, answer.observed), msg)
        if model is None:
            continue
        if result is None:
            predicted = AttentionCoreCycleModel.reject()
        else:
            predicted = model.query(result.probs, spec.v_keep, result.requant).total
        check.cycles(answer.cycles, predicted, msg)


def run_bench(config: AttentionCoreConfig = BENCH_CONFIG, *, queries: int, seed: int) -> RtlCheck:
    """Run about ``queries`` commands of a seeded plan on ``config``'s core and check them.

    The plan (:func:`sparsa.sim.rtl.attention_core.stimulus.make_plan`) starts with directed cases and
    alternates batches without stalls (cycles checked) and with idle sources and
    back-pressured sinks; it is cut after ``queries`` commands. Every batch runs on a freshly
    reset core.

    Parameters
    ----------
    config : AttentionCoreConfig
    queries : int
        Commands to run (at least 1).
    seed : int
        Seed of the plan and of the stalls.

    Returns
    -------
    RtlCheck
        Counts ``rejected``, ``requantized`` and ``stalled`` commands besides the cases.
    """
    if not is_int(queries) or queries < 1:
        raise ValueError(f"queries must be a positive integer, not {queries!r}")
    check = RtlCheck(block="attention_core", config=repr(config), seed=seed)
    left = queries
    for b, batch in enumerate(make_plan(config, seed, queries)):
        specs = list(batch.queries[:left])
        if not specs:
            break
        left -= len(specs)
        answers = run_core(config, specs, stalls=batch.stalls, stall_seed=seed + b)
        model = AttentionCoreCycleModel(config) if batch.stalls.none else None
        if model is None:
            check.count("stalled", len(specs))
        check_answers(
            config,
            specs,
            answers,
            state=ImportanceState(config),
            model=model,
            check=check,
            where=f"batch {b} ({batch.stalls.describe()}) ",
        )
    return check
