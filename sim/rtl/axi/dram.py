"""The DDR a system's AXI4 master talks to in cocotb: ``cocotbext-axi``'s RAM, with a read
latency and seeded random stalls on every channel.

``cocotbext-axi`` answers a read burst as soon as it takes the address and takes the next
address only after the burst's last beat, so on its own it neither has a latency nor lets reads
overlap. :class:`Dram` keeps its write side and its memory and replaces the read side's process
with a pipelined one: every address is taken when it arrives (a queue of up to
``max_reads_queued``), and the first beat of a burst leaves ``latency`` cycles after its
address was taken at the earliest, bursts in order (one ID), so a master that keeps several
bursts in flight hides the latency as it would on a DDR controller. ``latency`` counts from the
cycle the address handshake happens to the cycle the first beat can be taken; the model's own
pipeline (a queue between its coroutines) takes :data:`MIN_LATENCY` cycles, so that is the least
it can be (measured on the SAT system: the first beat came 2 + max(wait, 1) cycles after the
address for an internal wait in cycles). Stalls: each channel's
handshake side (AR and AW ready, W ready, R and B valid) idles on a cycle with probability
``stall``, drawn from one seeded generator per channel.
"""

import random
from collections import deque
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiReadBus, AxiWriteBus
from cocotbext.axi.axi_ram import AxiRamRead, AxiRamWrite
from cocotbext.axi.constants import AxiResp
from cocotbext.axi.memory import Memory

__all__ = ["MIN_LATENCY", "Dram"]

MIN_LATENCY = 3  # cycles from a read address to its first beat when the model waits no cycle


class _LatencyRead(AxiRamRead):
    """The RAM's read side, pipelined with a fixed latency (module docstring)."""

    def __init__(self, *args: Any, wait: int, **kwargs: Any) -> None:
        self.wait = wait
        self.cycle = 0
        super().__init__(*args, **kwargs)
        self.ar_channel.queue_occupancy_limit = 64

    async def _count(self) -> None:
        while True:
            await RisingEdge(self.clock)
            self.cycle += 1

    async def _process_read(self) -> None:
        taken: deque[tuple[int, Any]] = deque()
        counter = cocotb.start_soon(self._count())
        answer = cocotb.start_soon(self._answer(taken))
        try:
            while True:
                ar = await self.ar_channel.recv()
                taken.append((self.cycle, ar))
        finally:
            counter.cancel()
            answer.cancel()

    async def _answer(self, taken: deque[tuple[int, Any]]) -> None:
        while True:
            if not taken or self.cycle < taken[0][0] + self.wait:
                await RisingEdge(self.clock)
                continue
            _, ar = taken.popleft()
            size = 1 << int(ar.arsize)
            addr = int(ar.araddr) // size * size
            beats = int(ar.arlen) + 1
            assert 0x1000 - (addr & 0xFFF) >= size * beats, f"burst at {addr:#x} crosses 4 KiB"
            for n in range(beats):
                word = addr // self.byte_lanes * self.byte_lanes
                r = self.r_channel._transaction_obj()
                r.rid = int(ar.arid)
                r.rlast = n == beats - 1
                r.rresp = AxiResp.OKAY
                if word + self.byte_lanes > self.size:
                    r.rresp, data = AxiResp.DECERR, bytes(self.byte_lanes)
                else:
                    data = self.read(word, self.byte_lanes)
                r.rdata = int.from_bytes(data, "little")
                await self.r_channel.send(r)
                addr += size


def _pauses(rng: random.Random, stall: float):
    while True:
        yield rng.random() < stall


class Dram(Memory):
    """A byte-addressed memory of ``size`` bytes behind the DUT's AXI4 master ports
    ``<prefix>_*`` (its read side, its write side or both, whichever the DUT has).

    Parameters
    ----------
    dut : cocotb handle
        The toplevel, with ``clk`` and ``rst`` (active high).
    size : int
        Bytes of memory. A read past the end is answered DECERR; a write past it wraps
        (``cocotbext-axi``'s behaviour), which the tests never do.
    latency : int
        Cycles from a read address's handshake to its first data beat, at the earliest; at least
        :data:`MIN_LATENCY`.
    stall : float
        Probability that a channel's handshake side idles on a cycle (0: never).
    seed : int
        Seed of the stall generators.
    prefix : str
        Prefix of the AXI ports.
    read_prefixes : tuple of str
        Prefixes of more read ports on the same memory (a system with a port per tensor), each
        with the same latency and its own stall generators; ``read_ports`` lists every read
        side.
    """

    def __init__(self, dut: Any, *, size: int, latency: int = MIN_LATENCY, stall: float = 0.0,
                 seed: int = 0, prefix: str = "m_axi", read_prefixes: tuple[str, ...] = ()
                 ) -> None:
        if not isinstance(latency, int) or latency < MIN_LATENCY:
            raise ValueError(f"latency must be an integer of at least {MIN_LATENCY}, "
                             f"not {latency!r}")
        super().__init__(size)
        self.write_if = self.read_if = None
        channels = []
        if hasattr(dut, f"{prefix}_awvalid"):
            self.write_if = AxiRamWrite(AxiWriteBus.from_prefix(dut, prefix), dut.clk, dut.rst,
                                        mem=self.mem, size=size)
            channels += [self.write_if.aw_channel, self.write_if.w_channel,
                         self.write_if.b_channel]
        self.read_ports = []
        for name in (prefix, *read_prefixes):
            if hasattr(dut, f"{name}_arvalid"):
                port = _LatencyRead(AxiReadBus.from_prefix(dut, name), dut.clk, dut.rst,
                                    mem=self.mem, size=size, wait=latency - MIN_LATENCY + 1)
                self.read_ports.append(port)
                channels += [port.ar_channel, port.r_channel]
        if self.read_ports and hasattr(dut, f"{prefix}_arvalid"):
            self.read_if = self.read_ports[0]
        if stall:
            rng = random.Random(seed)
            for channel in channels:
                channel.set_pause_generator(_pauses(random.Random(rng.getrandbits(64)), stall))
