"""cocotb tests of SAT's PE array's generated Verilog (run by :mod:`test_sat_array_rtl`).

One simulator launch runs a whole seeded plan (see :func:`sat_stimulus.make_plan`): cmd,
weights and acts are driven by independent sources, so operand beats are offered as early as
the array may take them; out is drained by a sink. Every tile's beats are compared with the
golden arithmetic on its own operands, every GEMM reassembled with its golden result, every
rejected command must answer one error beat and consume nothing, and in batches without stalls
every command's cycles are compared with :func:`sim.sat_array.tile_cycles` and each batch's
with :func:`sim.sat_array.sequence_cycles`.
"""

import functools
import json
from collections.abc import Callable
from typing import Any

import cocotb
from cocotb.handle import SimHandleBase

from sim.sat_array import sequence_cycles

from .bench import StreamBench, load_attribute
from .sat_codec import SatArrayCodec
from .sat_gemms import Gemm
from .sat_scoreboard import (
    SatArraySummary,
    check_gemm,
    check_reject,
    check_tile,
    check_transfers,
)
from .sat_stimulus import SOURCES, Reject, SatBatch, job_from_json, job_to_json, make_plan
from .settings import TbSettings
from .stalls import Stalls

STALLED_FACTOR = 30  # a stalled command may take this many times its unstalled bound


def _tile_fields(cmd: dict[str, int]) -> dict[str, int]:
    """The keyword arguments of :func:`sim.sat_array.tile_cycles` for a command beat."""
    return {"dataflow": cmd["dataflow"], "pattern": cmd["pattern"],
            "length": cmd["length_m1"] + 1, "rows": cmd["rows_m1"] + 1}


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

    async def _command(
        self, number: int, cmd: dict[str, int], beats: dict[str, int], stalls: Stalls,
        report: Callable[[str], str],
    ) -> tuple[list[Any], list[str]]:
        """Await one command's answer; check its transfers and (without stalls) its cycles."""
        out = await self.response(number, self._bound(cmd, stalls), report)
        previous = self.timelines[number - 1] if number else None
        problems = check_transfers(previous, self.timelines[number], beats)
        if stalls.none and self.model is not None:
            try:
                predicted = self.model(**_tile_fields(cmd))
            except Exception as exc:  # reported in the summary; the functional checks go on
                self.summary.cycle_model_error = f"{self.settings.cycle_model}: {exc!r}"
                self.model = None
                return out, problems
            self.summary.cycle_checks += 1
            measured = self.timelines[number].measured_cycles
            if measured != predicted:
                self.summary.cycle_mismatches += 1
                self.summary.fail(report(f"cycles: measured {measured}, predicted {predicted}; "
                                         f"{self.timelines[number].describe()}"))
        return out, problems

    async def _run_gemm(self, gemm: Gemm, first: int, stalls: Stalls) -> None:
        outputs = []
        for offset, tile in enumerate(gemm.tiles):
            what = (f"tile {offset + 1}/{len(gemm.tiles)} cmd={tile.cmd} "
                    f"at Y[{tile.row0}][{tile.col0}]")
            report = self._reporter(gemm, what, stalls)
            beats = {"weights": len(tile.weights), "acts": len(tile.acts)}
            out, problems = await self._command(first + offset, tile.cmd, beats, stalls, report)
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

    async def _run_reject(self, reject: Reject, number: int, stalls: Stalls) -> None:
        report = self._reporter(reject, "rejected command", stalls)
        beats = dict.fromkeys(SOURCES[1:], 0)
        out, problems = await self._command(number, reject.cmd, beats, stalls, report)
        problems += check_reject(out)
        if problems:
            self.mismatch(report("; ".join(problems)))
        self.summary.rejects += 1

    def _check_sequence(self, batch: SatBatch, firsts: list[int]) -> None:
        """Without stalls, the whole batch takes :func:`sequence_cycles` of its commands."""
        cmds = [t.cmd for j in batch.jobs for t in (j.tiles if isinstance(j, Gemm) else [j])]
        tiles = [_tile_fields(c) for c in cmds]
        start, end = self.timelines[firsts[0]], self.timelines[-1]
        assert start.cmd_edge is not None
        measured = end.out[-1].edge - start.cmd_edge
        predicted = sequence_cycles(self.config, tiles)
        self.summary.sequence_checks += 1
        if measured != predicted:
            self.summary.cycle_mismatches += 1
            self.summary.fail(f"[{self.settings.label} seed={self.settings.seed}] batch of "
                              f"{len(cmds)} commands: measured {measured} cycles, "
                              f"sequence_cycles predicts {predicted}")

    async def run_batch(self, batch: SatBatch) -> None:
        """Run the jobs of ``batch`` back to back and check every answer."""
        self.set_stalls(batch.stalls)
        firsts = self._queue(batch)
        for job, first in zip(batch.jobs, firsts, strict=True):
            if isinstance(job, Reject):
                await self._run_reject(job, first, batch.stalls)
            else:
                await self._run_gemm(job, first, batch.stalls)
        if batch.stalls.none and self.model is not None:
            self._check_sequence(batch, firsts)
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
