"""SAT's weight-update engine in the RTL harness: its plan, its drive, its checks (both
backends).

Each batch's ``cmd``, ``grads`` and ``data`` beats are queued at once on independent sources:
one ``cmd`` beat and ceil(count / lanes) ``grads`` beats per step, and as many ``data`` beats
for each step the golden model applies (none for a skipped or empty step, as software sends
them only after reading the status), so the engine takes each beat as soon as it wants it. The
four outputs are drained under the batch's back-pressure.

The engine keeps its loss scale and its count of clean steps from command to command, so the
golden :class:`~sparsa.models.golden.weight_update.ScaleState` does too: :meth:`new_state` starts
it from reset with the run (a chunk of ``sparsa verify`` starts on a freshly reset engine), and
each batch carries it on through its steps in plan order. A replayed batch therefore runs from
the reset state, not from the one it met in the plan.

Every step is checked by :mod:`sparsa.sim.rtl.weight_update.scoreboard`: its status beat
(skipped, the scale and the clean count after it) and every lane of its ``weights``,
``momentum`` and ``copies`` beats, padding lanes included, bit for bit against
:mod:`sparsa.models.golden.weight_update`; the input beats it consumed and when; the order of
the steps. In a batch without stalls (each starts on an idle engine) every step's cmd edge,
counted from the batch's first, and its status and last output edges, counted from its cmd
edge, are compared with :func:`sparsa.sim.blocks.weight_update.step_cycles`.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.lib import wiring

from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.sat.weight_update import WeightUpdate, pipeline_latency
from sparsa.models.golden.weight_update import ScaleState, StepHyper, found_overflow
from sparsa.sim.blocks.weight_update import step_cycles
from sparsa.sim.rtl.harness import Batch, Bench, Block, Scoreboard, seeded_batches
from sparsa.sim.rtl.stalls import Stalls
from sparsa.sim.rtl.streams import Beat, Sink
from sparsa.sim.rtl.weight_update.codec import OUTPUTS, WeightUpdateCodec
from sparsa.sim.rtl.weight_update.scoreboard import (
    Expected,
    StepEdges,
    check_cycles,
    check_outputs,
    check_status,
    check_transfers,
    expected_step,
)
from sparsa.sim.rtl.weight_update.stimulus import SOURCES, WeightStep, make_plan

__all__ = ["SINKS", "STALLED_FACTOR", "GoldenState", "WeightUpdateBlock", "cycle_bound"]

SINKS = (*OUTPUTS, "status")
STALLED_FACTOR = 30  # a stalled step may take this many times its unstalled bound


def cycle_bound(config: WeightUpdateConfig, step: WeightStep, stalls: Stalls) -> int:
    """Cycles within which a step must be answered once the previous one was (else: a hang).

    Unstalled, a step takes at most 2 B + T + 2 cycles (:mod:`sparsa.sim.blocks.weight_update`);
    the bound leaves ample room above that.
    """
    cycles = 4 * (2 * step.beats(config) + pipeline_latency(config) + 2) + 64
    return cycles if stalls.none else STALLED_FACTOR * cycles


@dataclass
class GoldenState:
    """What the golden model carries from batch to batch of a run: the scale state."""

    scale: ScaleState


@functools.lru_cache(maxsize=16)
def _codec(config: WeightUpdateConfig) -> WeightUpdateCodec:
    return WeightUpdateCodec(config)


class _Collected:
    """A sink's beats during one batch, decoded (the sink's former ``on_beat`` still gets
    them)."""

    def __init__(self, sink: Sink, decode: Callable[[int, int], Any]) -> None:
        self.beats: list[Any] = []
        self._sink, self._keep, self._decode = sink, sink.on_beat, decode
        sink.on_beat = self._take

    def _take(self, beat: Beat) -> None:
        self._keep(beat)
        self.beats.append(self._decode(beat.payload, beat.cycle))

    def close(self) -> None:
        self._sink.on_beat = self._keep


class WeightUpdateBlock(Block):
    """SAT's weight-update engine (:class:`~sparsa.hw.sat.weight_update.WeightUpdate`)."""

    name = "weight-update"
    config_type = WeightUpdateConfig
    sources = SOURCES
    sinks = SINKS

    def elaborate(self, config: WeightUpdateConfig) -> wiring.Component:
        return WeightUpdate(config)

    def new_state(self, config: WeightUpdateConfig) -> GoldenState:
        return GoldenState(ScaleState.initial(config))

    def plan(
        self, config: WeightUpdateConfig, seed: int, count: int, *, stalls: bool
    ) -> list[Batch]:
        return seeded_batches(make_plan(config, seed, count), seed, stalls=stalls)

    def batch_to_json(self, batch: Batch) -> Any:
        steps: tuple[WeightStep, ...] = batch.cases
        return batch.to_json(steps=[
            [s.count, [s.hyper.lr, s.hyper.momentum, s.hyper.weight_decay, s.hyper.decay],
             list(s.weights), list(s.momentum), list(s.grads), list(s.masks), s.style]
            for s in steps
        ])

    def batch_from_json(self, config: WeightUpdateConfig, data: Any) -> Batch:
        steps = (
            WeightStep(
                count=count,
                hyper=StepHyper(lr=lr, momentum=mu, weight_decay=wd, decay=lam),
                weights=tuple(weights), momentum=tuple(momentum), grads=tuple(grads),
                masks=tuple(masks), style=style,
            )
            for count, (lr, mu, wd, lam), weights, momentum, grads, masks, style in data["steps"]
        )
        return Batch.from_json(data, steps)

    async def run_batch(self, bench: Bench, batch: Batch) -> None:
        config: WeightUpdateConfig = bench.config
        codec = _codec(config)
        scoreboard, runner, sources = bench.scoreboard, bench.runner, bench.sources
        steps: tuple[WeightStep, ...] = batch.cases
        state: GoldenState = bench.state
        expected: list[Expected] = []
        for step in steps:  # the golden scale state follows the plan, step by step
            expected.append(expected_step(config, state.scale, step))
            state.scale = expected[-1].state
        edges = [StepEdges() for _ in steps]
        bench.on_inputs(lambda port, beat: edges[beat.tag].record(port, beat.cycle))
        ends = []  # output beats up to and including each step
        for number, (step, answer) in enumerate(zip(steps, expected, strict=True)):
            sources["cmd"].push(codec.cmd(step.count, step.hyper), number)
            lanes = [step.lanes(b, config) for b in range(step.beats(config))]
            for part in lanes:
                sources["grads"].push(codec.grads(step.grads[part]), number)
            if answer.outputs is not None:
                for part in lanes:
                    sources["data"].push(codec.data(step.weights[part], step.momentum[part],
                                                    step.grads[part], step.masks[part]), number)
            ends.append((ends[-1] if ends else 0) + len(lanes) * (answer.outputs is not None))
        collected = {port: _Collected(bench.sinks[port], functools.partial(codec.lanes, port))
                     for port in OUTPUTS}
        collected["status"] = _Collected(bench.sinks["status"], codec.status)
        offset = 0  # the cycle model's cmd edge of the step, from the batch's first
        for number, (step, answer) in enumerate(zip(steps, expected, strict=True)):

            def where(number: int = number, step: WeightStep = step) -> str:
                return (f"weight-update step #{number} {step.describe()} "
                        f"({batch.stalls.describe()})")

            def answered(number: int = number) -> bool:
                return len(collected["status"].beats) > number and all(
                    len(collected[port].beats) >= ends[number] for port in OUTPUTS)

            await runner.run_until(answered, max_cycles=cycle_bound(config, step, batch.stalls),
                                   what=where())
            status = collected["status"].beats[number]
            start = ends[number - 1] if number else 0
            outputs = {port: collected[port].beats[start : ends[number]] for port in OUTPUTS}
            current = edges[number]
            current.status = status.edge
            current.outputs = {port: [b.edge for b in beats] for port, beats in outputs.items()}
            previous = edges[number - 1] if number else None
            problems = check_status(answer, status)
            problems += check_outputs(config, step, answer, outputs)
            problems += check_transfers(config, step, answer, current, previous)
            if problems:
                problems[-1] += f"\n  {current.describe()}"
            scoreboard.answer(problems, where)
            _count(scoreboard, config, step, answer)
            if batch.stalls.none:
                assert current.cmd is not None and edges[0].cmd is not None
                cycles = check_cycles(config, step, answer, current, current.cmd - edges[0].cmd,
                                      offset)
                scoreboard.cycle_checks += 1
                if cycles:
                    scoreboard.cycle_mismatches += 1
                    scoreboard.fail(f"{where()}: {'; '.join(cycles)}; {current.describe()}")
                offset += step_cycles(config, count=step.count, skipped=answer.skipped).period
        # Nothing may be left unconsumed, nor answered twice.
        await bench.drain(max_cycles=64, what="weight-update: draining inputs")
        await runner.run_idle(pipeline_latency(config) + 8)
        for port, got in collected.items():
            got.close()
            wanted = len(steps) if port == "status" else ends[-1]
            if len(got.beats) != wanted:
                scoreboard.mismatches += 1
                scoreboard.fail(f"weight-update ({batch.stalls.describe()}): "
                                f"{len(got.beats) - wanted} {port} beats after the batch's last "
                                "step")


def _count(scoreboard: Scoreboard, config: WeightUpdateConfig, step: WeightStep,
           answer: Expected) -> None:
    """Count what one answered step covered."""
    before, after = answer.before, answer.state
    if answer.skipped:
        scoreboard.count("skipped steps")
        held = after.scale_log2 == before.scale_log2
        scoreboard.count("skips at the minimum scale (held)" if held else "scale halvings")
        return
    if before.clean + 1 == config.growth_interval:
        held = after.scale_log2 == before.scale_log2
        scoreboard.count("growths at the maximum scale (held)" if held else "scale growths")
    if answer.outputs is None:
        scoreboard.count("empty steps")
        return
    scoreboard.count("applied steps")
    scoreboard.count("elements checked", step.count)
    scoreboard.count("pruned elements", step.count - sum(step.masks[: step.count]))
    padding = len(step.grads) - step.count
    if padding:
        scoreboard.count("padding lanes checked", padding)
        if found_overflow(step.grads[step.count :], config.dtype):
            scoreboard.count("clean steps with Inf or NaN padding")
