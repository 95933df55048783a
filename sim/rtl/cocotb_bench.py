"""The cocotb side shared by every component's testbench: clock, reset, streams, timelines.

A component with a ``cmd`` stream, operand streams and one output stream is driven one job at a
time per command: :meth:`StreamBench.send` queues a job's beats (tagged with its number, so
every transfer lands in that job's :class:`records.Timeline`), :meth:`StreamBench.response`
collects its output beats up to the one with ``last`` set, and :meth:`StreamBench.drain` checks
that a batch left no beat unconsumed. Subclasses implement :meth:`StreamBench.run_batch`.
"""

import importlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.handle import SimHandleBase
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout

from sparsa.sim.rtl.cocotb_streams import StreamSink, StreamSource, Transfer, edge_counter
from sparsa.sim.rtl.records import RunSummary, Timeline
from sparsa.sim.rtl.settings import TbSettings
from sparsa.sim.rtl.stalls import Stalls

__all__ = ["PERIOD_NS", "RESET_CYCLES", "StreamBench", "load_attribute"]

PERIOD_NS = 10
RESET_CYCLES = 4

_log = logging.getLogger("sparsa.tests.rtl")
_log.setLevel(logging.INFO)


def load_attribute(path: str) -> Any:
    """The object named ``"module:attribute"``."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class StreamBench:
    """Clock, reset, stream drivers, timelines and summary around one toplevel.

    Parameters
    ----------
    dut : SimHandleBase
        The toplevel, with ``clk``, ``rst`` and the streams' ``__valid/__ready/__payload``.
    settings : TbSettings
        The launch's settings.
    summary : RunSummary
        Where counts and failures go.
    sources : sequence of str
        Input streams, ``"cmd"`` first (their drivers share one seeded generator, made in
        this order, then the sink's).
    sink : str
        The output stream.
    payload_widths : dict
        Bits of each stream's payload, checked against the ports.
    decode : callable
        ``decode(bits, edge)`` gives an output beat with ``last`` and ``edge``.
    """

    def __init__(
        self,
        dut: SimHandleBase,
        settings: TbSettings,
        summary: RunSummary,
        *,
        sources: Sequence[str],
        sink: str,
        payload_widths: dict[str, int],
        decode: Callable[[int, int], Any],
    ) -> None:
        self.dut = dut
        self.settings = settings
        self.config = settings.config
        self.summary = summary
        self.timelines: list[Timeline] = []
        self._widths = payload_widths
        self._decode = decode
        rng = random.Random(settings.seed ^ 0x5EED)
        edge_number = edge_counter(PERIOD_NS)
        self.sources = {
            name: StreamSource(dut, name, dut.clk, edge_number, rng, self._record(name))
            for name in sources
        }
        self.sink = StreamSink(dut, sink, dut.clk, edge_number, rng)
        self.first_edge = 0

    def _record(self, stream: str) -> Callable[[Transfer], None]:
        def record(transfer: Transfer) -> None:
            self.timelines[transfer.tag].record(stream, transfer.edge)

        return record

    def _ports(self) -> Iterable[StreamSource | StreamSink]:
        return [*self.sources.values(), self.sink]

    async def start(self) -> None:
        """Check the ports, start the clock, hold reset a few cycles, then start the drivers."""
        for name, width in self._widths.items():
            port = len(getattr(self.dut, f"{name}__payload"))
            assert port == width, f"{name}__payload has {port} bits, its layout {width}"
        Clock(self.dut.clk, PERIOD_NS, unit="ns").start()
        self.dut.rst.value = 1
        for port in self._ports():
            port.idle()
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.first_edge = edge_counter(PERIOD_NS)()
        for port in self._ports():
            cocotb.start_soon(port.run())

    def set_stalls(self, stalls: Stalls) -> None:
        """Apply a batch's stall setting to the drivers."""
        for name, source in self.sources.items():
            source.idle_prob = stalls.idle.get(name, 0.0)
        self.sink.busy_prob = stalls.busy

    def new_job(self) -> int:
        """Open the timeline of the next job; return its number."""
        self.timelines.append(Timeline())
        return len(self.timelines) - 1

    def send(self, stream: str, bits: int, job: int) -> None:
        """Queue one beat of ``job`` on an input stream."""
        self.sources[stream].send(bits, job)

    async def _collect(self) -> list[Any]:
        beats: list[Any] = []
        while not beats or not beats[-1].last:
            transfer = await self.sink.beats.get()
            beats.append(self._decode(transfer.payload, transfer.edge))
        return beats

    async def response(self, job: int, bound: int, report: Callable[[str], str]) -> list[Any]:
        """Wait for ``job``'s output beats (into its timeline); abort after ``bound`` cycles."""
        timeline = self.timelines[job]
        try:
            timeline.out = await with_timeout(self._collect(), bound * PERIOD_NS, "ns")
        except SimTimeoutError:
            self.abort(report(f"no final output beat within {bound} cycles; "
                              f"{timeline.describe()}"))
        return timeline.out

    async def drain(self, limit: int, report: Callable[[str], str]) -> None:
        """After a batch, every input beat must have been consumed within ``limit`` cycles."""
        for _ in range(limit):
            if not any(source.pending for source in self.sources.values()):
                return
            await RisingEdge(self.dut.clk)
        pending = ", ".join(f"{s.pending} {n}" for n, s in self.sources.items() if s.pending)
        job = len(self.timelines) - 1
        text = (f"{pending} beats left unconsumed after the last response; "
                f"{self.timelines[job].describe()}")
        self.abort(report(text))

    def mismatch(self, text: str) -> None:
        """Count a mismatch and keep its report."""
        self.summary.mismatches += 1
        self.summary.fail(text)

    def abort(self, text: str) -> None:
        """Record a fatal failure, write the summary and stop the test."""
        self.mismatch(text)
        self.finish()
        raise AssertionError(text)

    def finish(self) -> None:
        """Write the JSON summary for the pytest side."""
        self.summary.cycles = edge_counter(PERIOD_NS)() - self.first_edge
        self.settings.summary.write_text(json.dumps(self.summary.as_json(), indent=2))

    async def run_batch(self, batch: Any) -> None:
        """Run one batch of the plan and check it (implemented by each component)."""
        raise NotImplementedError

    async def execute(self, plan: Sequence[Any]) -> None:
        """Start, run every batch, write the summary, log it, and fail on any problem."""
        await self.start()
        started = time.perf_counter()
        for batch in plan:
            await self.run_batch(batch)
        self.finish()
        wall = time.perf_counter() - started
        line = self.summary.line()
        _log.info("%s; %.1f s, %.0f cycles/s", line, wall, self.summary.cycles / wall)
        failures = "\n".join(self.summary.failures)
        assert self.summary.ok, f"{line}\n{failures}"
