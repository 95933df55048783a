"""Small cocotb 2 drivers for ``amaranth.lib.stream`` ports (valid/ready/payload with ``__``).

Timing convention, shared by every class here: a coroutine writes its inputs right after a
rising edge, then waits for :class:`~cocotb.triggers.ReadOnly` and samples the settled
valid/ready of the cycle. If both are high, the transfer happens at the *next* rising edge; its
edge number is ``edge_number() + 1``. Edge numbers only matter as differences.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cocotb.handle import SimHandleBase
from cocotb.queue import Queue
from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["StreamSink", "StreamSource", "Transfer", "edge_counter"]


def edge_counter(period_ns: int) -> Callable[[], int]:
    """Return a function giving the number of the latest rising edge (clock starting high)."""

    def edge_number() -> int:
        return int(get_sim_time("ns")) // period_ns

    return edge_number


@dataclass(frozen=True)
class Transfer:
    """One beat that crossed a stream: its payload bits, tag and rising-edge number."""

    payload: int
    tag: Any
    edge: int


class StreamSource:
    """Drive a stream from a queue of ``(payload, tag)`` items, with optional idle cycles.

    Before presenting each item the source stays idle (valid low, random junk on payload) for
    a random number of cycles: each cycle with probability :attr:`idle_prob`. Once valid is
    high it holds valid and payload until the transfer, as the stream rules demand.

    Parameters
    ----------
    dut : SimHandleBase
        The toplevel; ``{name}__valid``, ``{name}__ready``, ``{name}__payload`` are used.
    name : str
        Stream port name, e.g. ``"cmd"``.
    clk : SimHandleBase
        The clock.
    edge_number : callable
        From :func:`edge_counter`.
    rng : random.Random
        Source of the idle cycles and of the junk payloads.
    on_transfer : callable, optional
        Called with each :class:`Transfer` at the edge it happens.
    """

    def __init__(
        self,
        dut: SimHandleBase,
        name: str,
        clk: SimHandleBase,
        edge_number: Callable[[], int],
        rng: random.Random,
        on_transfer: Callable[[Transfer], None] | None = None,
    ) -> None:
        self._valid = getattr(dut, f"{name}__valid")
        self._ready = getattr(dut, f"{name}__ready")
        self._payload = getattr(dut, f"{name}__payload")
        self._width = len(self._payload)
        self._clk = clk
        self._edge_number = edge_number
        self._rng = rng
        self._on_transfer = on_transfer
        self._queue: Queue[tuple[int, Any]] = Queue()
        self.idle_prob = 0.0
        self.pending = 0

    def idle(self) -> None:
        """Drive valid low (call before reset and before starting :meth:`run`)."""
        self._valid.value = 0
        self._payload.value = 0

    def send(self, payload: int, tag: Any = None) -> None:
        """Queue one beat."""
        self.pending += 1
        self._queue.put_nowait((payload, tag))

    def _drive_junk(self) -> None:
        self._valid.value = 0
        self._payload.value = self._rng.getrandbits(self._width)

    async def run(self) -> None:
        """The driver loop; start it with ``cocotb.start_soon`` right after a rising edge."""
        while True:
            if self._queue.empty():
                self._valid.value = 0
                item = await self._queue.get()
                await RisingEdge(self._clk)
            else:
                item = self._queue.get_nowait()
            while self.idle_prob and self._rng.random() < self.idle_prob:
                self._drive_junk()
                await RisingEdge(self._clk)
            payload, tag = item
            self._valid.value = 1
            self._payload.value = payload
            while True:
                await ReadOnly()
                accepted = bool(self._ready.value)
                edge = self._edge_number() + 1
                await RisingEdge(self._clk)
                if accepted:
                    break
            self.pending -= 1
            if self._on_transfer is not None:
                self._on_transfer(Transfer(payload, tag, edge))


class StreamSink:
    """Accept beats from a stream into a queue, with optional random back-pressure.

    Each cycle ready is low with probability :attr:`busy_prob`; every transfer is put into
    :attr:`beats` as a :class:`Transfer` (tag ``None``).
    """

    def __init__(
        self,
        dut: SimHandleBase,
        name: str,
        clk: SimHandleBase,
        edge_number: Callable[[], int],
        rng: random.Random,
    ) -> None:
        self._valid = getattr(dut, f"{name}__valid")
        self._ready = getattr(dut, f"{name}__ready")
        self._payload = getattr(dut, f"{name}__payload")
        self._clk = clk
        self._edge_number = edge_number
        self._rng = rng
        self.busy_prob = 0.0
        self.beats: Queue[Transfer] = Queue()

    def idle(self) -> None:
        """Drive ready low (call before reset and before starting :meth:`run`)."""
        self._ready.value = 0

    async def run(self) -> None:
        """The monitor loop; start it with ``cocotb.start_soon`` right after a rising edge."""
        while True:
            ready = not (self.busy_prob and self._rng.random() < self.busy_prob)
            self._ready.value = int(ready)
            await ReadOnly()
            if ready and self._valid.value:
                payload = self._payload.value.to_unsigned()
                self.beats.put_nowait(Transfer(payload, None, self._edge_number() + 1))
            await RisingEdge(self._clk)
