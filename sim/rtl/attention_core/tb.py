"""cocotb tests of the attention core's generated Verilog (run by :mod:`test_attention_core_rtl`).

One simulator launch runs a whole seeded plan of (head, query) commands (see
:func:`sparsa.sim.rtl.attention_core.stimulus.make_plan`). ``cmd``, ``q`` and ``k_msb`` beats are offered as early
as the core may take them; a memory model answers every ``lsb_req`` beat with a ``k_lsb`` beat
and every ``v_req`` beat with a ``v`` beat (junk in the lanes past the request's count); ``keys``
and ``out`` are drained. In stalled batches every source idles and every sink refuses beats at
random (:class:`attention_ports.PortDriver` serves all nine streams). Every answer is compared
with :func:`sparsa.models.golden.attention.attend_one_query` (through
:class:`sparsa.sim.rtl.attention_core.scoreboard.ImportanceState`), including exactly which K LSB and V rows the
core requested, and the cycles of every command of a batch without stalls with
:mod:`sparsa.sim.blocks.attention_core`.
"""

import gc
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.handle import SimHandleBase
from cocotb.queue import Queue
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.attention.attention_core import (
    cmd_layout,
    keys_layout,
    out_layout,
    q_layout,
    request_layout,
)
from sparsa.hw.attention.bit_converter import full_rows_layout, lsb_rows_layout, msb_rows_layout
from sparsa.sim.rtl.attention_core.cocotb_scoreboard import AttentionSummary
from sparsa.sim.rtl.attention_core.ports import PortDriver
from sparsa.sim.rtl.attention_core.scoreboard import ImportanceState, Observed, check_query
from sparsa.sim.rtl.attention_core.stimulus import (
    SINKS,
    SOURCES,
    CoreStalls,
    QueryBatch,
    QueryBeats,
    QuerySpec,
    make_operands,
    make_plan,
)
from sparsa.sim.rtl.cocotb_bench import PERIOD_NS, RESET_CYCLES, load_attribute
from sparsa.sim.rtl.cocotb_streams import Transfer, edge_counter
from sparsa.sim.rtl.records import Timeline, check_operands
from sparsa.sim.rtl.settings import TbSettings
from sparsa.sim.rtl.topk.codec import packer, unpacker

STALLED_FACTOR = 20  # a stalled command may take this many times its unstalled bound
MEMORY = {"lsb_req": ("k_lsb", QueryBeats.k_lsb), "v_req": ("v", QueryBeats.v_rows)}

_log = logging.getLogger("sparsa.tests.rtl")
_log.setLevel(logging.INFO)


@dataclass(frozen=True)
class OutBeat:
    """The decoded ``out`` beat of a command and the edge it was transferred at."""

    fields: dict[str, Any]
    edge: int


def _layouts(config: AttentionCoreConfig) -> dict[str, Any]:
    return {
        "cmd": cmd_layout(config),
        "q": q_layout(config),
        "k_msb": msb_rows_layout(config),
        "k_lsb": lsb_rows_layout(config),
        "v": full_rows_layout(config),
        "lsb_req": request_layout(config),
        "v_req": request_layout(config),
        "keys": keys_layout(config),
        "out": out_layout(config),
    }


class AttentionBench:
    """The core's streams and a memory answering its requests, checked command by command.

    Parameters
    ----------
    dut : SimHandleBase
    settings : TbSettings
    """

    def __init__(self, dut: SimHandleBase, settings: TbSettings) -> None:
        self.dut = dut
        self.settings = settings
        self.config: AttentionCoreConfig = settings.config
        self.summary = AttentionSummary(label=settings.label, seed=settings.seed)
        layouts = _layouts(self.config)
        self.widths = {name: layout.size for name, layout in layouts.items()}
        self.pack_cmd = packer(layouts["cmd"])
        self.unpack = {name: unpacker(layouts[name]) for name in SINKS}
        self.ports = PortDriver(
            dut,
            dut.clk,
            SOURCES,
            SINKS,
            random.Random(settings.seed ^ 0x5EED),
            edge_counter(PERIOD_NS),
            self._on_source,
            self._on_sink,
        )
        self.timelines: list[Timeline] = []
        self.state = ImportanceState(self.config)
        self.running: deque[tuple[int, QueryBeats | None]] = deque()  # queued commands
        self.observed = Observed()  # of the command the core is running
        self.answers: Queue[tuple[OutBeat, Observed]] = Queue()
        self.first_edge = 0
        self.model: Any = None
        try:
            self.model = load_attribute(settings.cycle_model)(self.config)
        except Exception as exc:  # reported in the summary; the functional checks still run
            self.summary.cycle_model_error = f"{settings.cycle_model}: {exc!r}"

    # ---- port callbacks (run at ReadOnly of the cycle before the transfer edge) ----------------
    def _on_source(self, name: str, transfer: Transfer) -> None:
        self.timelines[transfer.tag].record(name, transfer.edge)

    def _on_sink(self, name: str, transfer: Transfer) -> None:
        beat = self.unpack[name](transfer.payload)
        if name == "out":
            observed, self.observed = self.observed, Observed()
            observed.out = beat
            if self.running:
                self.running.popleft()
            self.answers.put_nowait((OutBeat(beat, transfer.edge), observed))
            return
        getattr(self.observed, name).append(beat)
        if name in MEMORY and self.running and self.running[0][1] is not None:
            job, beats = self.running[0]
            stream, answer = MEMORY[name]
            rows = beat["index"][: beat["count"]]
            self.ports.send(stream, answer(beats, rows), job)

    # ---- run ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Check the ports, start the clock, hold reset a few cycles, then start the driver."""
        for name, width in self.widths.items():
            port = len(getattr(self.dut, f"{name}__payload"))
            assert port == width, f"{name}__payload has {port} bits, its layout {width}"
        Clock(self.dut.clk, PERIOD_NS, unit="ns").start()
        self.dut.rst.value = 1
        self.ports.idle()
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.first_edge = edge_counter(PERIOD_NS)()
        cocotb.start_soon(self.ports.run())

    def _bound(self, spec: QuerySpec, stalls: CoreStalls) -> int:
        """Generous cycles within which a command must be answered (else: a hang)."""
        n = min(max(spec.n, 1), self.config.max_tokens)
        cycles = 40 * (-(-n // self.config.lanes)) + n * n // self.config.comparators + 600
        return cycles if stalls.none else STALLED_FACTOR * cycles

    def _reporter(self, number: int, spec: QuerySpec, stalls: CoreStalls) -> Callable[[str], str]:
        def report(text: str) -> str:
            return (
                f"[{self.settings.label} seed={self.settings.seed}] command #{number} "
                f"{spec.describe()} ({stalls.describe()})\n  {text}\n"
                f"  replay: {json.dumps(spec.to_json())}"
            )

        return report

    def _queue(self, batch: QueryBatch) -> list[int]:
        """Queue the commands and operand beats of a batch; return their job numbers."""
        numbers = []
        for spec in batch.queries:
            number = len(self.timelines)
            self.timelines.append(Timeline())
            numbers.append(number)
            self.ports.send("cmd", self.pack_cmd(spec.cmd()), number)
            if spec.is_error(self.config):
                self.running.append((number, None))
                continue
            beats = QueryBeats(self.config, spec, make_operands(self.config, spec))
            self.running.append((number, beats))
            self.ports.send("q", beats.q, number)
            for beat in beats.k_msb:
                self.ports.send("k_msb", beat, number)
        return numbers

    async def run_batch(self, batch: QueryBatch) -> None:
        """Run the commands of ``batch`` back to back and check every answer."""
        self.ports.set_stalls(dict(batch.stalls.idle), dict(batch.stalls.busy))
        numbers = self._queue(batch)
        for spec, number in zip(batch.queries, numbers, strict=True):
            report = self._reporter(number, spec, batch.stalls)
            bound = self._bound(spec, batch.stalls)
            try:
                out, observed = await with_timeout(self.answers.get(), bound * PERIOD_NS, "ns")
            except SimTimeoutError:
                self.abort(
                    report(
                        f"no out beat within {bound} cycles; {self.timelines[number].describe()}"
                    )
                )
            self.timelines[number].out = [out]
            self._check(spec, number, observed, batch.stalls, report)
        for _ in range(64):
            if not self.ports.pending():
                return
            await RisingEdge(self.dut.clk)
        report = self._reporter(numbers[-1], batch.queries[-1], batch.stalls)
        self.abort(report(f"beats left unconsumed after the batch: {self.ports.pending()}"))

    def _check(
        self,
        spec: QuerySpec,
        number: int,
        observed: Observed,
        stalls: CoreStalls,
        report: Callable[[str], str],
    ) -> None:
        good = not spec.is_error(self.config)
        result = self.state.attend(spec, make_operands(self.config, spec)) if good else None
        self.summary.count(spec, result, stalls)
        timeline = self.timelines[number]
        beats = {
            "q": int(good),
            "k_msb": -(-spec.n // self.config.lanes) if good else 0,
            "k_lsb": len(observed.lsb_req),
            "v": len(observed.v_req),
        }
        problems = check_query(self.config, spec, result, observed)
        problems += check_operands(timeline, beats)
        previous = self.timelines[number - 1] if number else None
        if previous is not None and previous.out and timeline.cmd_edge <= previous.out[-1].edge:
            problems.append("cmd accepted before the previous command's out beat")
        if problems:
            self.mismatch(report("; ".join(problems)))
        if self.model is None:
            return
        # The model is stateful (the top-k LFSR): feed it every good query in RTL order.
        predicted = (
            self.model.query(result.probs, spec.v_keep, result.requant)
            if result is not None
            else self.model.reject()
        )
        if stalls.none:
            total = predicted if isinstance(predicted, int) else predicted.total
            self.summary.cycle_checks += 1
            if timeline.measured_cycles != total:
                self.summary.cycle_mismatches += 1
                self.summary.fail(
                    report(
                        f"cycles: measured {timeline.measured_cycles}, "
                        f"predicted {predicted}; {timeline.describe()}"
                    )
                )

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

    async def execute(self, plan: list[QueryBatch]) -> None:
        """Start, run every batch, write the summary, log it, and fail on any problem."""
        await self.start()
        # Fewer cyclic garbage collections: a run allocates many short-lived objects per cycle.
        gc.set_threshold(100_000, 50, 100)
        started = time.perf_counter()
        for batch in plan:
            await self.run_batch(batch)
        self.finish()
        wall = time.perf_counter() - started
        line = self.summary.line()
        _log.info("%s; %.1f s, %.0f cycles/s", line, wall, self.summary.cycles / wall)
        assert self.summary.ok, f"{line}\n" + "\n".join(self.summary.failures)


@cocotb.test()
async def attention_queries(dut: SimHandleBase) -> None:
    """Run the seeded plan (or the replayed commands) and check answers, rows and cycles."""
    settings = TbSettings.from_env()
    if settings.replay is not None:
        specs = tuple(QuerySpec.from_json(item) for item in settings.replay)
        plan = [QueryBatch(queries=specs, stalls=CoreStalls())]
    else:
        plan = make_plan(settings.config, settings.seed, settings.count)
    await AttentionBench(dut, settings).execute(plan)
