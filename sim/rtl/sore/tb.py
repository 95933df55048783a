"""cocotb tests of SAT's SORE's generated Verilog (run by :mod:`test_sore_rtl`).

One simulator launch runs a whole seeded plan (see :func:`sore_stimulus.make_plan`): cmd and
weights are driven by independent sources, so the engine may load a tile while it reduces the
previous one; out is drained by a sink. Every copy of every tile is compared with
:func:`sparsa.models.golden.sat.sore_tile`, every rejected command must answer one error beat and
consume no weights, and in batches without stalls the edge of every command's last beat is
compared with :func:`sparsa.sim.blocks.sore.last_beat_cycles` (commands back to back).
"""

import json
from collections.abc import Callable

import cocotb
from cocotb.handle import SimHandleBase

from sparsa.sim.rtl.cocotb_bench import StreamBench, load_attribute
from sparsa.sim.rtl.records import check_operands
from sparsa.sim.rtl.sat_array.codec import SoreCodec
from sparsa.sim.rtl.settings import TbSettings
from sparsa.sim.rtl.sore.scoreboard import SoreSummary, check_answer
from sparsa.sim.rtl.sore.stimulus import (
    SOURCES,
    SoreBatch,
    SoreCommand,
    command_from_json,
    command_to_json,
    make_plan,
)
from sparsa.sim.rtl.stalls import Stalls

STALLED_FACTOR = 30  # a stalled command may take this many times its unstalled bound


class SoreBench(StreamBench):
    """The SORE's streams, checked command by command against the golden and cycle models."""

    def __init__(self, dut: SimHandleBase, settings: TbSettings) -> None:
        self.codec = SoreCodec(settings.config)
        super().__init__(
            dut,
            settings,
            SoreSummary(label=settings.label, seed=settings.seed),
            sources=SOURCES,
            sink="out",
            payload_widths=self.codec.payload_widths,
            decode=self.codec.out,
        )
        self.model: Callable[..., list[int]] | None = None
        try:
            self.model = load_attribute(settings.cycle_model)
        except Exception as exc:  # reported in the summary; the functional checks still run
            self.summary.cycle_model_error = f"{settings.cycle_model}: {exc!r}"

    def _reporter(self, number: int, command: SoreCommand, stalls: Stalls) -> Callable[[str], str]:
        def report(text: str) -> str:
            return (
                f"[{self.settings.label} seed={self.settings.seed}] command #{number} "
                f"{command.describe()} ({stalls.describe()})\n  {text}\n"
                f"  replay: {json.dumps(command_to_json(command))}"
            )

        return report

    def _predict(self, batch: SoreBatch) -> list[int] | None:
        if not batch.stalls.none or self.model is None:
            return None
        try:
            return self.model(self.config, [(c.n, c.copies) for c in batch.commands])
        except Exception as exc:  # reported in the summary; the functional checks go on
            self.summary.cycle_model_error = f"{self.settings.cycle_model}: {exc!r}"
            self.model = None
            return None

    async def run_batch(self, batch: SoreBatch) -> None:
        """Run the commands of ``batch`` back to back and check every answer."""
        self.set_stalls(batch.stalls)
        first = len(self.timelines)
        for command in batch.commands:
            number = self.new_job()
            self.send("cmd", self.codec.pack("cmd", command.cmd), number)
            for row in command.tile:
                self.send("weights", self.codec.pack("weights", list(row)), number)
        predicted = self._predict(batch)
        M = self.config.m
        bound = 4 * M + 64 if batch.stalls.none else STALLED_FACTOR * (4 * M + 64)
        for offset, command in enumerate(batch.commands):
            number = first + offset
            report = self._reporter(number, command, batch.stalls)
            beats = await self.response(number, bound, report)
            self.summary.count(self.config, command, not batch.stalls.none)
            problems = check_answer(self.config, command, beats)
            problems += check_operands(self.timelines[number], {"weights": len(command.tile)})
            if problems:
                got = "\n    ".join(b.describe() for b in beats)
                self.mismatch(report("; ".join(problems) + f"\n  out beats:\n    {got}"))
            if predicted is not None:
                self._check_cycles(first, number, predicted[offset], report)
        last = len(self.timelines) - 1
        await self.drain(64, self._reporter(last, batch.commands[-1], batch.stalls))

    def _check_cycles(
        self, first: int, number: int, predicted: int, report: Callable[[str], str]
    ) -> None:
        start = self.timelines[first].cmd_edge
        assert start is not None
        measured = self.timelines[number].out[-1].edge - start
        self.summary.cycle_checks += 1
        if measured != predicted:
            self.summary.cycle_mismatches += 1
            self.summary.fail(report(
                f"last beat {measured} cycles after the batch's first command, predicted "
                f"{predicted}; {self.timelines[number].describe()}"
            ))


@cocotb.test()
async def sore_plan(dut: SimHandleBase) -> None:
    """Run the seeded plan (or the replayed commands) and check values, protocol and cycles."""
    settings = TbSettings.from_env()
    if settings.replay is not None:
        commands = tuple(command_from_json(c) for c in settings.replay)
        plan = [SoreBatch(commands=commands, stalls=Stalls())]
    else:
        plan = make_plan(settings.config, settings.seed, settings.count)
    await SoreBench(dut, settings).execute(plan)
