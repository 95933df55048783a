"""cocotb tests of the top-k engine's generated Verilog (run by :mod:`test_topk_rtl`).

One simulator launch runs a whole seeded plan of requests (see :func:`stimulus.make_plan`):
cmd and din are driven by independent sources so din beats are offered as early as possible,
dout is drained by a sink, every response is compared with :func:`sparsa.models.golden.topk.topk`, and the
cycles of every request run without stalls are compared with the cycle model's prediction.
"""

from collections.abc import Callable
from typing import Any

import cocotb
from cocotb.handle import SimHandleBase

from sparsa.config.topk import TopKConfig
from sparsa.sim.rtl.cocotb_bench import StreamBench, load_attribute
from sparsa.sim.rtl.settings import TbSettings
from sparsa.sim.rtl.stalls import Stalls
from sparsa.sim.rtl.topk.codec import TopKCodec
from sparsa.sim.rtl.topk.scoreboard import Summary, check_order, check_response
from sparsa.sim.rtl.topk.stimulus import SOURCES, Batch, Request, make_plan, replay_from_json


def cycle_bound(config: TopKConfig, request: Request, stalls: Stalls) -> int:
    """Generous number of cycles within which a request must be answered (else: a hang).

    Quick-select streams at most about n^2 / 2 candidates through C comparators in all, with a
    few cycles per round; error requests only consume their beats.
    """
    n, beats = request.n, -(-request.n // config.lanes)
    select = 0 if request.is_error(config) else n * n // config.comparators + 16 * n
    cycles = 8 * beats + select + 1000
    return cycles if stalls.none else 10 * cycles


class TopKBench(StreamBench):
    """The engine's streams, checked request by request against the golden and cycle models."""

    def __init__(self, dut: SimHandleBase, settings: TbSettings) -> None:
        self.codec = TopKCodec(settings.config)
        super().__init__(
            dut,
            settings,
            Summary(label=settings.label, seed=settings.seed),
            sources=SOURCES,
            sink="dout",
            payload_widths=self.codec.payload_widths,
            decode=self.codec.dout,
        )
        self.model: Any = None
        try:
            self.model = load_attribute(settings.cycle_model)(self.config)
        except Exception as exc:  # reported in the summary; the functional checks still run
            self.summary.cycle_model_error = f"{settings.cycle_model}: {exc!r}"

    def _report(self, number: int, request: Request, stalls: Stalls, text: str) -> str:
        return (
            f"[{self.settings.label} seed={self.settings.seed}] request #{number} "
            f"({stalls.describe()}) n={request.n} k={request.k} pattern={request.pattern}\n"
            f"  values={list(request.values)}\n  {text}"
        )

    async def run_batch(self, batch: Batch) -> None:
        """Run the requests of ``batch`` back to back and check every response."""
        self.set_stalls(batch.stalls)
        first = len(self.timelines)
        predictions = []
        for request in batch.requests:
            # The cycle model is stateful (LFSR): feed it every request in RTL order.
            if self.model is not None:
                predictions.append(self.model.request(list(request.values), request.k))
            number = self.new_job()
            self.send("cmd", self.codec.cmd(request.n, request.k), number)
            for lanes in request.din_beats(self.config):
                self.send("din", self.codec.din(lanes), number)
        for offset, request in enumerate(batch.requests):
            number = first + offset

            def report(text: str, number: int = number, request: Request = request) -> str:
                return self._report(number, request, batch.stalls, text)

            bound = cycle_bound(self.config, request, batch.stalls)
            beats = await self.response(number, bound, report)
            self.summary.count(self.config, request, batch.stalls)
            problems = check_response(self.config, request, beats)
            previous = self.timelines[number - 1] if number else None
            problems += check_order(previous, self.timelines[number])
            if problems:
                got = "\n    ".join(b.describe() for b in beats)
                self.mismatch(report("; ".join(problems) + f"\n  dout beats:\n    {got}"))
            if predictions and batch.stalls.none:
                self._check_cycles(number, predictions[offset], report)
        last, number = batch.requests[-1], len(self.timelines) - 1
        await self.drain(
            4 * self.config.capacity + 16,
            lambda text: self._report(number, last, batch.stalls, text),
        )

    def _check_cycles(
        self, number: int, predicted: Any, report: Callable[[str], str]
    ) -> None:
        timeline = self.timelines[number]
        self.summary.cycle_checks += 1
        if timeline.measured_cycles != predicted.total:
            self.summary.cycle_mismatches += 1
            self.summary.fail(report(
                f"cycles: measured {timeline.measured_cycles}, predicted {predicted.total} "
                f"({predicted}); {timeline.describe()}"
            ))


@cocotb.test()
async def topk_requests(dut: SimHandleBase) -> None:
    """Run the seeded plan (or the replayed requests) and check values, protocol and cycles."""
    settings = TbSettings.from_env()
    if settings.replay is not None:
        plan = [Batch(requests=replay_from_json(settings.config, settings.replay),
                      stalls=Stalls())]
    else:
        plan = make_plan(settings.config, settings.seed, settings.count)
    await TopKBench(dut, settings).execute(plan)
