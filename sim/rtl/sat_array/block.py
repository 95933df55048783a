"""SAT's PE array in the RTL harness: its plan, its drive, its checks (both backends).

A case is one array command (a GEMM tile or a rejected command, see
:mod:`sparsa.sim.rtl.sat_array.stimulus`). Each batch's cmd, weights and acts beats are queued
at once on independent sources, so operand beats are offered as early as the array may take
them; out is drained by the sink. Every tile's beats are compared with the golden arithmetic on
its own operands (:func:`~sparsa.sim.rtl.sat_array.scoreboard.check_tile`), every GEMM
reassembled with its golden result, every rejected command must answer one error beat and
consume nothing, and every command must be taken in order and consume exactly its own operand
beats. In batches without stalls (each starts on an idle array) every command's command and
last-answer edges, counted from the batch's first command, are compared with
:func:`sparsa.sim.blocks.sat_array.sequence_timeline`, and every command that runs alone (the
first of a batch, or any without interleave) with
:func:`sparsa.sim.blocks.sat_array.tile_cycles`.
"""

import functools
from typing import Any

from amaranth.lib import wiring

from sparsa.config.sat import SatArrayConfig
from sparsa.hw.sat.sat_array import SatArray
from sparsa.sim.blocks.sat_array import TileTiming, sequence_timeline, tile_cycles
from sparsa.sim.rtl.harness import Answers, Batch, Bench, Block, Scoreboard, seeded_batches
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.sat_array.codec import SatArrayCodec
from sparsa.sim.rtl.sat_array.gemms import Gemm
from sparsa.sim.rtl.sat_array.scoreboard import (
    check_gemm,
    check_reject,
    check_tile,
    check_timing,
    check_transfers,
)
from sparsa.sim.rtl.sat_array.stimulus import (
    SOURCES,
    Command,
    command_fields,
    commands,
    job_from_json,
    job_to_json,
    make_plan,
)
from sparsa.sim.rtl.stalls import Stalls

__all__ = ["STALLED_FACTOR", "SatArrayBlock", "cycle_bound"]

STALLED_FACTOR = 30  # a stalled command may take this many times its unstalled bound
DRAIN_CYCLES = 64  # after a batch's last answer, its input beats must all be gone by then


def cycle_bound(config: SatArrayConfig, command: Command, stalls: Stalls) -> int:
    """Generous cycles within which a command must be answered once the previous answer is in
    (else: a hang)."""
    cmd = command.cmd
    cycles = 4 * (cmd["length_m1"] + cmd["rows_m1"] + config.rows + config.cols) + 64
    return cycles if stalls.none else STALLED_FACTOR * cycles


@functools.lru_cache(maxsize=16)
def _codec(config: SatArrayConfig) -> SatArrayCodec:
    return SatArrayCodec(config)


class SatArrayBlock(Block):
    """SAT's PE array (:class:`~sparsa.hw.sat.sat_array.SatArray`)."""

    name = "sat-array"
    config_type = SatArrayConfig
    sources = SOURCES
    sinks = ("out",)

    def elaborate(self, config: SatArrayConfig) -> wiring.Component:
        return SatArray(config)

    def plan(self, config: SatArrayConfig, seed: int, count: int, *, stalls: bool) -> list[Batch]:
        return seeded_batches(make_plan(config, seed, count), seed, stalls=stalls)

    def batch_to_json(self, batch: Batch) -> Any:
        return batch.to_json(jobs=[job_to_json(c.job) for c in batch.cases if c.tile == 0])

    def batch_from_json(self, config: SatArrayConfig, data: Any) -> Batch:
        jobs = [job_from_json(config, job) for job in data["jobs"]]
        return Batch.from_json(data, commands(jobs))

    async def run_batch(self, bench: Bench, batch: Batch) -> None:
        config: SatArrayConfig = bench.config
        codec = _codec(config)
        scoreboard, runner = bench.scoreboard, bench.runner
        cases: tuple[Command, ...] = batch.cases
        transfers = bench.timelines(len(cases))
        for number, command in enumerate(cases):
            bench.sources["cmd"].push(codec.pack("cmd", command.cmd), number)
            for port, beats in command.beats.items():
                for beat in beats:
                    bench.sources[port].push(codec.pack(port, beat), number)
        answers = Answers(bench.sinks["out"], codec.out)
        unstalled = batch.stalls.none
        timeline = sequence_timeline(config, [command_fields(c.cmd) for c in cases])
        outputs: list[list[list[int]]] = []  # the running GEMM's tile outputs
        for number, command in enumerate(cases):

            def where(command: Command = command) -> str:
                return f"sat-array {command.describe()} ({batch.stalls.describe()})"

            answer = await answers.wait(
                runner, number, max_cycles=cycle_bound(config, command, batch.stalls),
                what=where())
            current = transfers[number]
            current.out = answer
            previous = transfers[number - 1] if number else None
            counts = {port: len(b) for port, b in command.beats.items()}
            problems = check_transfers(previous, current, counts, overlap=config.interleave)
            if previous is not None and current.cmd_edge <= previous.out[-1].edge:
                scoreboard.count("overlapped commands")
            if command.is_reject:
                problems += check_reject(answer)
                scoreboard.count("rejects")
                scoreboard.count(f"reject: {command.job.reason}")
            else:
                problems += check_tile(config, command.the_tile, answer)
                outputs.append([list(b.value) for b in answer])
                scoreboard.count("tiles")
                if command.ends_job:
                    problems += check_gemm(command.job, outputs)
                    self._count_gemm(scoreboard, command.job)
                    outputs = []
            if problems:
                got = "\n    ".join(b.describe() for b in answer)
                problems[-1] += f"\n  {current.describe()}\n  out beats:\n    {got}"
            scoreboard.answer(problems, where)
            if unstalled:
                self._check_cycles(scoreboard, config, transfers, number, timeline[number],
                                   command, where)
        # Nothing may be left unconsumed, nor answered twice.
        await bench.drain(max_cycles=DRAIN_CYCLES, what="sat-array: draining inputs")
        answers.close(scoreboard, f"sat-array ({batch.stalls.describe()})")

    @staticmethod
    def _count_gemm(scoreboard: Scoreboard, gemm: Gemm) -> None:
        spec = gemm.spec
        scoreboard.count("gemms")
        scoreboard.count(f"gemm {spec.kind} {spec.pattern} {spec.dataflow}")
        scoreboard.count(f"style {spec.style}")

    @staticmethod
    def _check_cycles(
        scoreboard: Scoreboard,
        config: SatArrayConfig,
        transfers: list[Timeline],
        number: int,
        predicted: TileTiming,
        command: Command,
        where: Any,
    ) -> None:
        """Compare an unstalled command's edges with its batch's timeline and, when it runs
        alone, its cycles with :func:`tile_cycles`."""
        origin, current = transfers[0].cmd_edge, transfers[number]
        assert origin is not None and current.cmd_edge is not None
        measured = TileTiming(current.cmd_edge - origin, current.out[-1].edge - origin)
        problems = check_timing(measured, predicted)
        scoreboard.cycle_checks += 1
        if problems:
            scoreboard.cycle_mismatches += 1
            scoreboard.fail(f"{where()}: edges from the batch's first command: "
                            f"{'; '.join(problems)}; {current.describe()}")
        if number == 0 or not config.interleave:
            alone = tile_cycles(config, **command_fields(command.cmd))
            scoreboard.check_cycles(measured.cycles, alone, where)
