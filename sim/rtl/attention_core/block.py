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
LSB and V rows the core requested and when it consumed each operand beat. The core runs up to
three commands at once, so each output stream's beats are given, in order, to the commands that
send beats on it (:class:`_Owners`). In an unstalled batch, which starts on an empty core, the
edges of every command's ``cmd`` and ``out`` transfers after the batch's first ``cmd`` transfer
are compared with :func:`sparsa.sim.blocks.attention_core.pipeline_timing` at the batch's memory
latency, the top-k parts from an
:class:`~sparsa.sim.blocks.attention_core.AttentionCoreCycleModel` fed every good query in RTL
order (the engines' turn and pivot LFSRs carry over).
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.lib import wiring

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.sim.blocks.attention_core import AttentionCoreCycleModel, pipeline_timing
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
    model : AttentionCoreCycleModel
        The core's cycle model (its top-k engines' turn and pivot LFSRs).
    previous : Observed or None
        What the core did for the previous command.
    """

    golden: ImportanceState
    model: AttentionCoreCycleModel
    previous: Observed | None = None


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


class _Owners:
    """Which command each output beat belongs to: the core runs up to three commands at once,
    so a stream's beats belong, in order, to the commands that send beats on it (``keys``:
    ceil(n / E) per good command; ``lsb_req``: as many for a requantized one; ``v_req``: beats
    whose counts add up to v_keep; ``out``: one per command)."""

    def __init__(self, config: AttentionCoreConfig, specs: tuple[QuerySpec, ...],
                 results: list) -> None:
        owed: dict[str, deque[list[int]]] = {port: deque() for port in SINKS}
        for number, (spec, result) in enumerate(zip(specs, results, strict=True)):
            owed["out"].append([number, 1])
            if result is None:
                continue
            beats = -(-spec.n // config.lanes)
            owed["keys"].append([number, beats])
            if result.requant:
                owed["lsb_req"].append([number, beats])
            if spec.v_keep:
                owed["v_req"].append([number, spec.v_keep])
        self._owed = owed

    def owner(self, port: str, value: dict[str, Any]) -> int | None:
        """The command that a beat of ``port`` belongs to (None: no command owes one)."""
        owed = self._owed[port]
        if not owed:
            return None
        number, left = owed[0]
        left -= value["count"] if port == "v_req" else 1
        if left > 0:
            owed[0][1] = left
        else:
            owed.popleft()
        return number


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
        return CoreState(golden=ImportanceState(config), model=AttentionCoreCycleModel(config))

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
        # The golden results, in command order (they do not depend on timing), tell each output
        # stream which commands send beats on it and how many.
        results = [
            None if ops is None else state.golden.attend(spec, ops)
            for spec, ops in zip(specs, operands, strict=True)
        ]
        owners = _Owners(config, specs, results)
        answered = 0  # out beats of this batch so far
        stray: list[str] = []  # output beats past what the batch's commands send

        def on_input(port: str, beat: Beat) -> None:
            if port == "cmd":
                observed[beat.tag].cmd_cycle = beat.cycle
            else:
                observed[beat.tag].inputs.setdefault(port, []).append(beat.cycle)

        def on_beat(port: str, keep: Callable[[Beat], None]) -> Callable[[Beat], None]:
            def take(beat: Beat) -> None:
                nonlocal answered
                keep(beat)
                value = unpack[port](beat.payload)
                number = owners.owner(port, value)
                if number is None:
                    stray.append(port)
                    return
                current = observed[number]
                if port == "out":
                    current.out, current.out_cycle = value, beat.cycle
                    answered += 1
                    return
                getattr(current, port).append(value)
                query = beats[number]
                if port in MEMORY and query is not None:
                    stream, answer = MEMORY[port]
                    rows = value["index"][: value["count"]]
                    memory.request(stream, answer(query, rows), number, beat.cycle)

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
        commands = [AttentionCoreCycleModel.reject() for _ in specs]
        places: list[Callable[[], str]] = []  # per command: its description for failures
        for number, spec in enumerate(specs):
            seen = observed[number]

            def where(number: int = number, spec: QuerySpec = spec, seen: Observed = seen) -> str:
                return (
                    f"attention-core command #{number} ({batch.stalls.describe()}, memory "
                    f"latency {latency}, batch seed {batch.seed}) {spec.describe()}; "
                    f"{seen.describe()}"
                )

            places.append(where)

            await runner.run_until(until(lambda number=number: answered > number),
                                   max_cycles=cycle_bound(config, spec, batch.stalls, latency),
                                   what=where())
            reason = spec.reject_reason(config)
            result = results[number]
            problems = check_query(config, spec, result, seen)
            problems += check_transfers(seen, expected_inputs(config, spec, seen), state.previous)
            previous, state.previous = state.previous, seen
            overlapped = (previous is not None and None not in (seen.cmd_cycle, previous.out_cycle)
                          and seen.cmd_cycle < previous.out_cycle)
            scoreboard.count("overlapped commands", int(overlapped))
            scoreboard.answer(problems, where)
            scoreboard.count(f"pattern {spec.pattern}")
            scoreboard.count(f"memory latency {latency}")
            if result is None:
                scoreboard.count("rejected")
                scoreboard.count(f"rejected: {reason.name}")
                continue
            scoreboard.count("requantized", int(result.requant))
            scoreboard.count("K LSB rows", result.k_lsb_rows.numel())
            scoreboard.count("V rows", result.v_rows.numel())
            for name, hit in saturated(config, result).items():
                scoreboard.count(name, int(hit))
            # Each engine's LFSR steps in every good query it selects for, stalled or not.
            commands[number] = state.model.command(result.probs, spec.v_keep, result.requant)

        # An unstalled batch starts on an empty core: every command's edges are the model's.
        if batch.stalls.none and all(seen.cmd_cycle is not None for seen in observed):
            first = observed[0].cmd_cycle
            timings = pipeline_timing(config, commands, latency)
            for seen, timing, place in zip(observed, timings, places, strict=True):
                scoreboard.check_cycles((seen.cmd_cycle - first, seen.out_cycle - first),
                                        (timing.accepted, timing.out),
                                        lambda place=place: f"{place()}; (cmd, out) edges after "
                                                            "the batch's first cmd")

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
