"""cocotb tests of SAT's PE array's generated Verilog (run by :mod:`test_sat_array_rtl`).

One simulator launch runs a whole seeded plan (see :func:`sat_stimulus.make_plan`): cmd,
weights and acts are driven by independent sources, so operand beats are offered as early as
the array may take them; out is drained by a sink. Every tile's beats are compared with the
golden arithmetic on its own operands, every GEMM reassembled with its golden result, every
rejected command must answer one error beat and consume nothing. In batches without stalls
(each starts on an idle array) every command's command and last-answer edges, counted from the
batch's first command, are compared with :func:`sparsa.sim.blocks.sat_array.sequence_timeline`, every
command that runs alone (the first of a batch, or any without interleave) with the target's
cycle model (:func:`sparsa.sim.blocks.sat_array.tile_cycles`), and each batch with
:func:`sparsa.sim.blocks.sat_array.sequence_cycles`.
"""

import functools
import json
from collections.abc import Callable
from typing import Any

import cocotb
from cocotb.handle import SimHandleBase

from sparsa.sim.blocks.sat_array import TileTiming, sequence_cycles, sequence_timeline
from sparsa.sim.rtl.cocotb_bench import StreamBench, load_attribute
from sparsa.sim.rtl.sat_array.codec import SatArrayCodec
from sparsa.sim.rtl.sat_array.gemms import Gemm
from sparsa.sim.rtl.sat_array.scoreboard import (
    SatArraySummary,
    check_gemm,
    check_reject,
    check_tile,
    check_transfers,
)
from sparsa.sim.rtl.sat_array.stimulus import (
    SOURCES,
    Reject,
    SatBatch,
    job_from_json,
    job_to_json,
    make_plan,
)
from sparsa.sim.rtl.settings import TbSettings
from sparsa.sim.rtl.stalls import Stalls

STALLED_FACTOR = 30  # a stalled command may take this many times its unstalled bound


def _tile_fields(cmd: dict[str, int]) -> dict[str, int]:
    """The keyword arguments of :func:`sparsa.sim.blocks.sat_array.tile_cycles` for a command beat."""
    return {
        "dataflow": cmd["dataflow"],
        "pattern": cmd["pattern"],
        "length": cmd["length_m1"] + 1,
        "rows": cmd["rows_m1"] + 1,
    }


class SatArrayBench(StreamBench):
    """The array's streams, checked command by command and GEMM by GEMM."""

    def __init__(self, dut: SimHandleBase, settings: TbSettings) -> None:
        self.codec = SatArrayCodec(settings.config)
        super().__init__(
            dut,
            settings,
            SatArraySummary(label=settings.label, seed=settings.seed),
            sources=SOURCES,
            sink="out",
            payload_widths=self.codec.payload_widths,
            decode=self.codec.out,
        )
        self.batch_first = 0  # number of the running batch's first command
        self.model: Callable[..., int] | None = None
        try:
            self.model = functools.partial(load_attribute(settings.cycle_model), self.config)
        except Exception as exc:  # reported in the summary; the functional checks still run
            self.summary.cycle_model_error = f"{settings.cycle_model}: {exc!r}"

    def _bound(self, cmd: dict[str, int], stalls: Stalls) -> int:
        """Generous cycles within which a command must be answered (else: a hang)."""
        cfg = self.config
        cycles = 4 * (cmd["length_m1"] + cmd["rows_m1"] + cfg.rows + cfg.cols) + 64
        return cycles if stalls.none else STALLED_FACTOR * cycles

    def _reporter(self, job: Gemm | Reject, what: str, stalls: Stalls) -> Callable[[str], str]:
        name = job.spec.describe() if isinstance(job, Gemm) else job.describe()

        def report(text: str) -> str:
            return (
                f"[{self.settings.label} seed={self.settings.seed}] {name}, {what} "
                f"({stalls.describe()})\n  {text}\n  replay: {json.dumps(job_to_json(job))}"
            )

        return report

    def _queue(self, batch: SatBatch) -> list[int]:
        """Queue every beat of the batch; return the first command number of each job."""
        firsts = []
        for job in batch.jobs:
            firsts.append(len(self.timelines))
            if isinstance(job, Reject):
                self.send("cmd", self.codec.pack("cmd", job.cmd), self.new_job())
                continue
            for tile in job.tiles:
                number = self.new_job()
                self.send("cmd", self.codec.pack("cmd", tile.cmd), number)
                for beat in tile.weights:
                    self.send("weights", self.codec.pack("weights", beat), number)
                for beat in tile.acts:
                    self.send("acts", self.codec.pack("acts", beat), number)
        return firsts

    def _check_cycles(
        self,
        number: int,
        cmd: dict[str, int],
        expect: TileTiming | None,
        report: Callable[[str], str],
    ) -> None:
        """Compare an unstalled command's edges with the timeline of its batch and, when it
        runs alone, its cycles with the target's cycle model."""
        timeline = self.timelines[number]
        assert timeline.cmd_edge is not None and expect is not None
        origin = self.timelines[self.batch_first].cmd_edge
        assert origin is not None
        measured = TileTiming(timeline.cmd_edge - origin, timeline.out[-1].edge - origin)
        checks = [("edges from the batch's first command", measured, expect)]
        if self.model is not None and (number == self.batch_first or not self.config.interleave):
            try:
                alone = self.model(**_tile_fields(cmd))
            except Exception as exc:  # reported in the summary; the functional checks go on
                self.summary.cycle_model_error = f"{self.settings.cycle_model}: {exc!r}"
                self.model = None
            else:
                checks.append(("cycles of a command alone", measured.cycles, alone))
        for what, got, want in checks:
            self.summary.cycle_checks += 1
            if got != want:
                self.summary.cycle_mismatches += 1
                self.summary.fail(
                    report(f"{what}: measured {got}, predicted {want}; {timeline.describe()}")
                )

    async def _command(
        self,
        number: int,
        cmd: dict[str, int],
        beats: dict[str, int],
        stalls: Stalls,
        report: Callable[[str], str],
        expect: TileTiming | None,
    ) -> tuple[list[Any], list[str]]:
        """Await one command's answer; check its transfers and (without stalls) its cycles."""
        out = await self.response(number, self._bound(cmd, stalls), report)
        previous = self.timelines[number - 1] if number else None
        problems = check_transfers(
            previous, self.timelines[number], beats, overlap=self.config.interleave
        )
        if stalls.none:
            self._check_cycles(number, cmd, expect, report)
        return out, problems

    async def _run_gemm(
        self, gemm: Gemm, first: int, stalls: Stalls, expect: list[TileTiming]
    ) -> None:
        outputs = []
        for offset, tile in enumerate(gemm.tiles):
            what = (
                f"tile {offset + 1}/{len(gemm.tiles)} cmd={tile.cmd} at Y[{tile.row0}][{tile.col0}]"
            )
            report = self._reporter(gemm, what, stalls)
            beats = {"weights": len(tile.weights), "acts": len(tile.acts)}
            number = first + offset
            out, problems = await self._command(
                number, tile.cmd, beats, stalls, report, expect[number - self.batch_first]
            )
            problems += check_tile(self.config, tile, out)
            if problems:
                got = "\n    ".join(b.describe() for b in out)
                self.mismatch(report("; ".join(problems) + f"\n  out beats:\n    {got}"))
            outputs.append([list(b.value) for b in out])
            self.summary.tiles += 1
            self.summary.stalled_tiles += not stalls.none
        spec = gemm.spec
        self.summary.gemms += 1
        self.summary.gemm_kinds[f"{spec.kind} {spec.pattern} {spec.dataflow}"] += 1
        problems = check_gemm(gemm, outputs)
        if problems:
            self.mismatch(self._reporter(gemm, "whole GEMM", stalls)(problems[0]))

    async def _run_reject(
        self, reject: Reject, number: int, stalls: Stalls, expect: list[TileTiming]
    ) -> None:
        report = self._reporter(reject, "rejected command", stalls)
        beats = dict.fromkeys(SOURCES[1:], 0)
        out, problems = await self._command(
            number, reject.cmd, beats, stalls, report, expect[number - self.batch_first]
        )
        problems += check_reject(out)
        if problems:
            self.mismatch(report("; ".join(problems)))
        self.summary.rejects += 1

    def _check_sequence(self, cmds: list[dict[str, int]], first: int) -> None:
        """Without stalls, the whole batch takes :func:`sequence_cycles` of its commands."""
        start, end = self.timelines[first], self.timelines[-1]
        assert start.cmd_edge is not None
        measured = end.out[-1].edge - start.cmd_edge
        predicted = sequence_cycles(self.config, [_tile_fields(c) for c in cmds])
        self.summary.sequence_checks += 1
        if measured != predicted:
            self.summary.cycle_mismatches += 1
            self.summary.fail(
                f"[{self.settings.label} seed={self.settings.seed}] batch of "
                f"{len(cmds)} commands: measured {measured} cycles, "
                f"sequence_cycles predicts {predicted}"
            )

    async def run_batch(self, batch: SatBatch) -> None:
        """Run the jobs of ``batch`` back to back and check every answer."""
        self.set_stalls(batch.stalls)
        firsts = self._queue(batch)
        self.batch_first = firsts[0]
        cmds = [t.cmd for j in batch.jobs for t in (j.tiles if isinstance(j, Gemm) else [j])]
        expect = sequence_timeline(self.config, [_tile_fields(c) for c in cmds])
        for job, first in zip(batch.jobs, firsts, strict=True):
            if isinstance(job, Reject):
                await self._run_reject(job, first, batch.stalls, expect)
            else:
                await self._run_gemm(job, first, batch.stalls, expect)
        if batch.stalls.none:
            self._check_sequence(cmds, firsts[0])
        last = batch.jobs[-1]
        await self.drain(64, self._reporter(last, "after the batch", batch.stalls))


@cocotb.test()
async def sat_array_plan(dut: SimHandleBase) -> None:
    """Run the seeded plan (or the replayed jobs) and check values, protocol and cycles."""
    settings = TbSettings.from_env()
    if settings.replay is not None:
        jobs = tuple(job_from_json(settings.config, job) for job in settings.replay)
        plan = [SatBatch(jobs=jobs, stalls=Stalls())]
    else:
        plan = make_plan(settings.config, settings.seed, settings.count)
    await SatArrayBench(dut, settings).execute(plan)
