"""SAT's SORE in the RTL harness: its plan, its drive, its checks (both backends).

Each batch's cmd and weights beats are queued at once on independent sources, so the engine
may load a tile while it reduces the previous one. Every command's answer (its out beats up to
``last``) is checked by :func:`sparsa.sim.rtl.sore.scoreboard.check_answer` (every copy of the
tile against :func:`sparsa.models.golden.sat.sore_tile`, a rejected command against the
contract) and :func:`~sparsa.sim.rtl.sore.scoreboard.check_weights` (exactly its own weights
beats, within its span). In a batch without stalls the cycle of every command's last beat,
counted from the batch's first cmd transfer, is compared with
:func:`sparsa.sim.blocks.sore.last_beat_cycles` of the batch's commands back to back (the
engine is idle when a batch starts, so the cycle model needs no state from batch to batch).
"""

from typing import Any

from amaranth.lib import wiring

from sparsa.config.sat import SoreConfig
from sparsa.hw.sat.sore import Sore
from sparsa.sim.blocks.sore import last_beat_cycles
from sparsa.sim.rtl.harness import Answers, Batch, Bench, Block, seeded_batches
from sparsa.sim.rtl.sore.codec import SoreCodec
from sparsa.sim.rtl.sore.scoreboard import check_answer, check_weights
from sparsa.sim.rtl.sore.stimulus import SOURCES, SoreCommand, make_plan
from sparsa.sim.rtl.stalls import Stalls

__all__ = ["STALLED_FACTOR", "SoreBlock", "cycle_bound"]

STALLED_FACTOR = 30  # a stalled command may take this many times its unstalled bound


def cycle_bound(config: SoreConfig, stalls: Stalls) -> int:
    """Cycles within which a command must be answered once the previous one was (else: a hang).

    Unstalled, a command takes at most M load cycles, two copies of M steps and the transfer
    (:mod:`sparsa.sim.blocks.sore`); the bound leaves ample room above that.
    """
    cycles = 4 * config.m + 64
    return cycles if stalls.none else STALLED_FACTOR * cycles


class SoreBlock(Block):
    """SAT's sparse online reduction engine (:class:`~sparsa.hw.sat.sore.Sore`)."""

    name = "sore"
    config_type = SoreConfig
    sources = SOURCES
    sinks = ("out",)

    def elaborate(self, config: SoreConfig) -> wiring.Component:
        return Sore(config)

    def plan(self, config: SoreConfig, seed: int, count: int, *, stalls: bool) -> list[Batch]:
        return seeded_batches(make_plan(config, seed, count), seed, stalls=stalls)

    def batch_to_json(self, batch: Batch) -> Any:
        return batch.to_json(commands=[[c.n, c.copies, [list(row) for row in c.tile], c.style]
                                       for c in batch.cases])

    def batch_from_json(self, config: SoreConfig, data: Any) -> Batch:
        commands = (
            SoreCommand(n=n, copies=copies, tile=tuple(tuple(row) for row in tile), style=style)
            for n, copies, tile, style in data["commands"]
        )
        return Batch.from_json(data, commands)

    async def run_batch(self, bench: Bench, batch: Batch) -> None:
        config: SoreConfig = bench.config
        codec = SoreCodec(config)
        scoreboard, runner = bench.scoreboard, bench.runner
        commands: tuple[SoreCommand, ...] = batch.cases
        timelines = bench.timelines(len(commands))
        for number, command in enumerate(commands):
            bench.sources["cmd"].push(codec.cmd(command.n, command.copies), number)
            for row in command.tile:
                bench.sources["weights"].push(codec.weights(row), number)
        predicted = (last_beat_cycles(config, [(c.n, c.copies) for c in commands])
                     if batch.stalls.none else None)
        answers = Answers(bench.sinks["out"], codec.out)
        bound = cycle_bound(config, batch.stalls)
        for number, command in enumerate(commands):

            def where(number: int = number, command: SoreCommand = command) -> str:
                return f"sore command #{number} {command.describe()} ({batch.stalls.describe()})"

            answer = await answers.wait(runner, number, max_cycles=bound, what=where())
            cmd_cycle = timelines[number].cmd_edge
            assert cmd_cycle is not None  # answered, so its cmd beat crossed
            weight_cycles = timelines[number].inputs.get("weights", [])
            problems = check_answer(config, command, answer)
            problems += check_weights(command, cmd_cycle, weight_cycles, answer[-1].cycle)
            if problems:
                problems.append("out beats: " + ", ".join(b.describe() for b in answer))
            scoreboard.answer(problems, where)
            _count(scoreboard, config, command)
            if predicted is not None:
                first = timelines[0].cmd_edge
                assert first is not None
                scoreboard.check_cycles(answer[-1].cycle - first, predicted[number], where)
        # Nothing may be left unconsumed, nor answered twice (a stray copy takes M steps).
        await bench.drain(max_cycles=bound, what="sore: draining inputs")
        await runner.run_idle(config.m + 2)
        answers.close(scoreboard, f"sore ({batch.stalls.describe()})")


def _count(scoreboard: Any, config: SoreConfig, command: SoreCommand) -> None:
    """Count what one answered command covered."""
    if not command.is_good(config):
        scoreboard.count("rejected commands")
        return
    scoreboard.count("copies " + "+".join(p.name for p in command.passes))
    scoreboard.count("groups checked", len(command.passes) * config.lanes)
    scoreboard.count(f"N={command.n}")
    scoreboard.count(f"tile {command.style}")
