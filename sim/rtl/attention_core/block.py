"""The attention core in the RTL harness: its plan, drive, memory and checks (both backends).

Each batch's ``cmd``, ``q`` and ``k_msb`` beats are queued at once on independent sources, so
they are offered as early as the core takes them. A memory model answers the core's own row
requests: every ``lsb_req`` beat gets a ``k_lsb`` beat and every ``v_req`` beat a ``v`` beat
(the requested rows of the running command, junk in the lanes past the request's count), queued
on the matching source ``memory_latency`` edges after the request's transfer
(:attr:`~sparsa.sim.rtl.attention_core.stimulus.CoreBatch.memory_latency`); from there the
answers idle and cross like any input beat, so the stalls of a batch reach the memory too. The
``keys`` and ``out`` sinks are drained under the batch's back-pressure.

Every answer is compared with :func:`sparsa.models.golden.attention.attend_one_query` (through
:class:`~sparsa.sim.rtl.attention_core.scoreboard.ImportanceState`, which carries the
importance accumulators from command to command as the core does), including exactly which K
LSB and V rows the core requested and when it consumed each operand beat; the cycles of every
command of an unstalled batch, from its ``cmd`` transfer to its ``out`` transfer, are compared
with :func:`sparsa.sim.blocks.attention_core.query_cycles` at the batch's memory latency, its
top-k part from a :class:`~sparsa.sim.blocks.topk.TopKCycleModel` fed every good query in RTL
order (the engine's pivot LFSR carries over).
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.lib import wiring

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.sim.blocks.attention_core import REJECT_CYCLES, query_cycles
from sparsa.sim.blocks.topk import TopKCycleModel
from sparsa.sim.rtl.attention_core import stimulus
from sparsa.sim.rtl.attention_core.scoreboard import (
    ImportanceState,
    Observed,
    check_query,
    check_transfers,
    expected_inputs,
    saturated,
)
from sparsa.sim.rtl.attention_core.stimulus import (
    SINKS,
    SOURCES,
    CoreBatch,
    QueryBeats,
    QuerySpec,
    make_operands,
    make_plan,
    port_layouts,
)
from sparsa.sim.rtl.harness import Batch, Bench, Block
from sparsa.sim.rtl.stalls import Stalls
from sparsa.sim.rtl.streams import Beat, Source

__all__ = ["MEMORY", "STALLED_FACTOR", "AttentionCoreBlock", "CoreState", "cycle_bound"]

MEMORY = {"lsb_req": ("k_lsb", QueryBeats.k_lsb), "v_req": ("v", QueryBeats.v_rows)}
"""Request stream to the source of its answers and the answer's beat."""
STALLED_FACTOR = 30  # a stalled command may take this many times its unstalled bound


def cycle_bound(config: AttentionCoreConfig, spec: QuerySpec, stalls: Stalls, latency: int) -> int:
    """Generous number of cycles within which a command must be answered (else: a hang)."""
    n = min(max(spec.n, 1), config.max_tokens)
    beats = -(-n // config.lanes)
    cycles = 40 * beats + n * n // config.comparators + 8 * latency + 600
    return cycles if stalls.none else STALLED_FACTOR * cycles


@dataclass
class CoreState:
    """What a run carries from batch to batch, as the core does.

    Attributes
    ----------
    golden : ImportanceState
        The importance accumulators.
    topk : TopKCycleModel
        The local-V top-k engine's cycle model (its pivot LFSR).
    last_out : int or None
        Cycle of the previous command's ``out`` transfer.
    """

    golden: ImportanceState
    topk: TopKCycleModel
    last_out: int | None = None


class _Memory:
    """Answers queued for the sources ``latency`` edges after their requests' transfers."""

    def __init__(self, sources: dict[str, Source], latency: int) -> None:
        self._sources = sources
        self._latency = latency
        self._waiting: deque[tuple[int, str, int, int]] = deque()

    @property
    def pending(self) -> int:
        """Answers not yet handed to their source."""
        return len(self._waiting)

    def request(self, port: str, payload: int, tag: int, cycle: int) -> None:
        """Answer a request transferred at edge ``cycle`` on source ``port``."""
        self._waiting.append((cycle + self._latency - 1, port, payload, tag))

    def release(self, cycle: int) -> None:
        """Hand the answers due by ``cycle`` (the edges so far) to their sources."""
        while self._waiting and self._waiting[0][0] <= cycle:
            _, port, payload, tag = self._waiting.popleft()
            self._sources[port].push(payload, tag)


class AttentionCoreBlock(Block):
    """SpAtten's attention core (:class:`~sparsa.hw.attention.attention_core.AttentionCore`)."""

    name = "attention-core"
    config_type = AttentionCoreConfig
    sources = SOURCES
    sinks = SINKS

    def elaborate(self, config: AttentionCoreConfig) -> wiring.Component:
        from sparsa.hw.attention.attention_core import AttentionCore

        return AttentionCore(config)

    def new_state(self, config: AttentionCoreConfig) -> CoreState:
        return CoreState(golden=ImportanceState(config), topk=TopKCycleModel(config.topk))

    def plan(
        self, config: AttentionCoreConfig, seed: int, count: int, *, stalls: bool
    ) -> list[Batch]:
        return list(make_plan(config, seed, count, stalls=stalls))

    def batch_to_json(self, batch: Batch) -> Any:
        assert isinstance(batch, CoreBatch)
        return stimulus.batch_to_json(batch)

    def batch_from_json(self, config: AttentionCoreConfig, data: Any) -> Batch:
        return stimulus.batch_from_json(data)

    async def run_batch(self, bench: Bench, batch: Batch) -> None:
        assert isinstance(batch, CoreBatch)
        config: AttentionCoreConfig = bench.config
        state: CoreState = bench.state
        scoreboard, runner = bench.scoreboard, bench.runner
        layouts = port_layouts(config)
        pack_cmd = packer(layouts["cmd"])
        unpack = {port: unpacker(layouts[port]) for port in SINKS}
        specs: tuple[QuerySpec, ...] = batch.cases
        observed = [Observed() for _ in specs]
        operands = [None if s.is_error(config) else make_operands(config, s) for s in specs]
        beats = [
            None if ops is None else QueryBeats(config, spec, ops)
            for spec, ops in zip(specs, operands, strict=True)
        ]
        memory = _Memory(bench.sources, batch.memory_latency)
        answered = 0  # out beats of this batch so far
        stray: list[str] = []  # output beats after the batch's last out beat

        def on_input(port: str, beat: Beat) -> None:
            if port == "cmd":
                observed[beat.tag].cmd_cycle = beat.cycle
            else:
                observed[beat.tag].inputs.setdefault(port, []).append(beat.cycle)

        def on_beat(port: str, keep: Callable[[Beat], None]) -> Callable[[Beat], None]:
            def take(beat: Beat) -> None:
                nonlocal answered
                keep(beat)
                if answered == len(specs):
                    stray.append(port)
                    return
                value, current = unpack[port](beat.payload), observed[answered]
                if port == "out":
                    current.out, current.out_cycle = value, beat.cycle
                    answered += 1
                    return
                getattr(current, port).append(value)
                query = beats[answered]
                if port in MEMORY and query is not None:
                    stream, answer = MEMORY[port]
                    rows = value["index"][: value["count"]]
                    memory.request(stream, answer(query, rows), answered, beat.cycle)

            return take

        def until(condition: Callable[[], bool]) -> Callable[[], bool]:
            # Checked before every cycle: the memory hands over the answers due by then.
            def done() -> bool:
                memory.release(runner.cycle)
                return condition()

            return done

        bench.on_inputs(on_input)
        kept = {port: sink.on_beat for port, sink in bench.sinks.items()}
        for port, sink in bench.sinks.items():
            sink.on_beat = on_beat(port, kept[port])
        for number, (spec, query) in enumerate(zip(specs, beats, strict=True)):
            bench.sources["cmd"].push(pack_cmd(spec.cmd()), number)
            if query is not None:
                bench.sources["q"].push(query.q, number)
                for beat in query.k_msb:
                    bench.sources["k_msb"].push(beat, number)

        latency = batch.memory_latency
        for number, spec in enumerate(specs):
            seen = observed[number]

            def where(number: int = number, spec: QuerySpec = spec, seen: Observed = seen) -> str:
                return (
                    f"attention-core command #{number} ({batch.stalls.describe()}, memory "
                    f"latency {latency}, batch seed {batch.seed}) {spec.describe()}; "
                    f"{seen.describe()}"
                )

            await runner.run_until(until(lambda number=number: answered > number),
                                   max_cycles=cycle_bound(config, spec, batch.stalls, latency),
                                   what=where())
            reason = spec.reject_reason(config)
            ops = operands[number]
            result = None if ops is None else state.golden.attend(spec, ops)
            problems = check_query(config, spec, result, seen)
            problems += check_transfers(seen, expected_inputs(config, spec, seen), state.last_out)
            state.last_out = seen.out_cycle
            scoreboard.answer(problems, where)
            timed = batch.stalls.none and seen.cmd_cycle is not None  # (else: a problem above)
            scoreboard.count(f"pattern {spec.pattern}")
            scoreboard.count(f"memory latency {latency}")
            if result is None:
                scoreboard.count("rejected")
                scoreboard.count(f"rejected: {reason.name}")
                if timed:
                    scoreboard.check_cycles(seen.cycles, REJECT_CYCLES, where)
                continue
            scoreboard.count("requantized", int(result.requant))
            scoreboard.count("K LSB rows", result.k_lsb_rows.numel())
            scoreboard.count("V rows", result.v_rows.numel())
            for name, hit in saturated(config, result).items():
                scoreboard.count(name, int(hit))
            # The top-k engine's LFSR steps in every good query, stalled or not.
            topk = state.topk.request(result.probs, spec.v_keep)
            if timed:  # (a stalled batch's memory may be slower than the model's range)
                predicted = query_cycles(config, n=spec.n, v_keep=spec.v_keep,
                                         requant=result.requant, topk=topk,
                                         memory_latency=latency)
                scoreboard.check_cycles(seen.cycles, predicted.total, where)

        # Nothing may be left unconsumed, nor answered twice.
        def drained() -> bool:
            return not memory.pending and not bench.inputs_pending

        await runner.run_until(until(drained), max_cycles=64 + 8 * latency,
                               what=f"attention-core ({batch.stalls.describe()}): draining inputs")
        for port, sink in bench.sinks.items():
            sink.on_beat = kept[port]
        if stray:
            scoreboard.mismatches += 1
            scoreboard.fail(f"attention-core ({batch.stalls.describe()}, batch seed {batch.seed}): "
                            f"output beats after the batch's last out beat: {stray}")
