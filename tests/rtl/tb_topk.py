"""cocotb tests of the top-k engine's generated Verilog (run by :mod:`test_topk_rtl`).

One simulator launch runs a whole seeded plan of requests (see :func:`stimulus.make_plan`):
cmd and din are driven by independent sources so din beats are offered as early as possible,
dout is drained by a sink, every response is compared with :func:`models.topk.topk`, and the
cycles of every request run without stalls are compared with the cycle model's prediction.
"""

import importlib
import json
import logging
import random
import time
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.handle import SimHandleBase
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout

from hw.topk_config import TopKConfig

from .codec import DoutBeat, TopKCodec
from .scoreboard import Summary, Timeline, check_order, check_response
from .settings import TbSettings
from .stimulus import Batch, Request, Stalls, make_plan
from .streams import StreamSink, StreamSource, Transfer, edge_counter

_log = logging.getLogger("sparsa.tests.tb_topk")
_log.setLevel(logging.INFO)

PERIOD_NS = 10
RESET_CYCLES = 4


def cycle_bound(config: TopKConfig, request: Request, stalls: Stalls) -> int:
    """Generous number of cycles within which a request must be answered (else: a hang).

    Quick-select streams at most about n^2 / 2 candidates through C comparators in all, with a
    few cycles per round; error requests only consume their beats.
    """
    n, beats = request.n, -(-request.n // config.lanes)
    select = 0 if request.is_error(config) else n * n // config.comparators + 16 * n
    cycles = 8 * beats + select + 1000
    return cycles if stalls.none else 10 * cycles


def load_cycle_model(path: str, config: TopKConfig) -> Any:
    """Instantiate the cycle model class named ``"module:attribute"`` for ``config``."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)(config)


class TopKBench:
    """Clock, reset, stream drivers and scoreboard around the ``topk`` toplevel."""

    def __init__(self, dut: SimHandleBase, settings: TbSettings) -> None:
        self.dut = dut
        self.settings = settings
        self.config = settings.config
        self.codec = TopKCodec(self.config)
        rng = random.Random(settings.seed ^ 0x5EED)
        edge_number = edge_counter(PERIOD_NS)
        self.cmd = StreamSource(dut, "cmd", dut.clk, edge_number, rng, self._on_cmd)
        self.din = StreamSource(dut, "din", dut.clk, edge_number, rng, self._on_din)
        self.dout = StreamSink(dut, "dout", dut.clk, edge_number, rng)
        self.timelines: list[Timeline] = []
        self.summary = Summary(label=settings.label, seed=settings.seed)
        self.model: Any = None
        try:
            self.model = load_cycle_model(settings.cycle_model, self.config)
        except Exception as exc:  # reported in the summary; the functional checks still run
            self.summary.cycle_model_error = f"{settings.cycle_model}: {exc!r}"

    def _on_cmd(self, transfer: Transfer) -> None:
        self.timelines[transfer.tag].cmd_edge = transfer.edge

    def _on_din(self, transfer: Transfer) -> None:
        self.timelines[transfer.tag].din_edges.append(transfer.edge)

    async def start(self) -> None:
        """Check the ports, start the clock, hold reset a few cycles, then start the drivers."""
        for name, width in self.codec.payload_widths.items():
            port = len(getattr(self.dut, f"{name}__payload"))
            assert port == width, f"{name}__payload has {port} bits, its layout {width}"
        Clock(self.dut.clk, PERIOD_NS, unit="ns").start()
        self.dut.rst.value = 1
        for port in (self.cmd, self.din, self.dout):
            port.idle()
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.first_edge = edge_counter(PERIOD_NS)()
        for port in (self.cmd, self.din, self.dout):
            cocotb.start_soon(port.run())

    async def _next_response(self) -> list[DoutBeat]:
        beats: list[DoutBeat] = []
        while not beats or not beats[-1].last:
            transfer = await self.dout.beats.get()
            beats.append(self.codec.dout(transfer.payload, transfer.edge))
        return beats

    def _report(self, number: int, request: Request, stalls: Stalls, text: str) -> str:
        return (
            f"[{self.settings.label} seed={self.settings.seed}] request #{number} "
            f"(stalls cmd={stalls.cmd_idle} din={stalls.din_idle} dout={stalls.dout_busy}) "
            f"n={request.n} k={request.k} pattern={request.pattern}\n"
            f"  values={list(request.values)}\n  {text}"
        )

    async def run_batch(self, batch: Batch) -> None:
        """Run the requests of ``batch`` back to back and check every response."""
        self.cmd.idle_prob = batch.stalls.cmd_idle
        self.din.idle_prob = batch.stalls.din_idle
        self.dout.busy_prob = batch.stalls.dout_busy
        first = len(self.timelines)
        predictions = []
        for number, request in enumerate(batch.requests, start=first):
            # The cycle model is stateful (LFSR): feed it every request in RTL order.
            if self.model is not None:
                predictions.append(self.model.request(list(request.values), request.k))
            self.timelines.append(Timeline())
            self.cmd.send(self.codec.cmd(request.n, request.k), number)
            for lanes in request.din_beats(self.config):
                self.din.send(self.codec.din(lanes), number)
        for offset, request in enumerate(batch.requests):
            number = first + offset
            timeline = self.timelines[number]
            bound = cycle_bound(self.config, request, batch.stalls)
            try:
                timeline.dout = await with_timeout(self._next_response(), bound * PERIOD_NS, "ns")
            except SimTimeoutError:
                text = f"no final dout beat within {bound} cycles; {timeline.describe()}"
                self._abort(self._report(number, request, batch.stalls, text))
            self.summary.count(self.config, request, batch.stalls)
            problems = check_response(self.config, request, timeline.dout)
            problems += check_order(self.timelines[number - 1] if number else None, timeline)
            if problems:
                self.summary.mismatches += 1
                got = "\n    ".join(b.describe() for b in timeline.dout)
                text = "; ".join(problems) + f"\n  dout beats:\n    {got}"
                self.summary.fail(self._report(number, request, batch.stalls, text))
            if predictions and batch.stalls.none:
                self._check_cycles(number, request, batch.stalls, predictions[offset])
        await self._drain(batch)

    def _check_cycles(self, number: int, request: Request, stalls: Stalls, predicted: Any) -> None:
        timeline = self.timelines[number]
        self.summary.cycle_checks += 1
        if timeline.measured_cycles != predicted.total:
            self.summary.cycle_mismatches += 1
            text = (
                f"cycles: measured {timeline.measured_cycles}, predicted {predicted.total} "
                f"({predicted}); {timeline.describe()}"
            )
            self.summary.fail(self._report(number, request, stalls, text))

    async def _drain(self, batch: Batch) -> None:
        """After a batch, every din beat must have been consumed (within a few cycles)."""
        for _ in range(4 * self.config.capacity + 16):
            if not self.din.pending and not self.cmd.pending:
                return
            await RisingEdge(self.dut.clk)
        number = len(self.timelines) - 1
        text = (
            f"{self.din.pending} din and {self.cmd.pending} cmd beats left unconsumed after "
            f"the last response; {self.timelines[number].describe()}"
        )
        self._abort(self._report(number, batch.requests[-1], batch.stalls, text))

    def _abort(self, text: str) -> None:
        self.summary.mismatches += 1
        self.summary.fail(text)
        self.finish()
        raise AssertionError(text)

    def finish(self) -> None:
        """Write the JSON summary for the pytest side."""
        self.summary.cycles = edge_counter(PERIOD_NS)() - self.first_edge
        self.settings.summary.write_text(json.dumps(self.summary.as_json(), indent=2))


@cocotb.test()
async def topk_requests(dut: SimHandleBase) -> None:
    """Run the seeded plan (or the replayed requests) and check values, protocol and cycles."""
    settings = TbSettings.from_env()
    if settings.replay is not None:
        plan = [Batch(requests=settings.replay, stalls=Stalls())]
    else:
        plan = make_plan(settings.config, settings.seed, settings.requests)
    bench = TopKBench(dut, settings)
    await bench.start()
    started = time.perf_counter()
    for batch in plan:
        await bench.run_batch(batch)
    bench.finish()
    wall = time.perf_counter() - started
    _log.info("%s; %.1f s, %.0f cycles/s", bench.summary.line(), wall, bench.summary.cycles / wall)
    failures = "\n".join(bench.summary.failures)
    assert bench.summary.ok, f"{bench.summary.line()}\n{failures}"
