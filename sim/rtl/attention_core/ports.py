"""One cocotb coroutine that drives every stream port of the attention core.

The core has five input and four output streams; a coroutine per port (as
:mod:`streams` has) costs two simulator triggers per port and cycle, which dominates a run.
:class:`PortDriver` serves them all with two triggers per cycle, with the same timing
convention and the same stream rules as :class:`streams.StreamSource` and
:class:`streams.StreamSink`: right after a rising edge it drives each source (before each beat
it idles a random number of cycles with valid low and junk on the payload, then holds valid and
the payload until the transfer) and each sink's ready (low with a random probability); at
:class:`~cocotb.triggers.ReadOnly` it samples the cycle's handshakes. A transfer happens at the
next rising edge, whose number is ``edge_number() + 1``.
"""

import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from cocotb.handle import SimHandleBase
from cocotb.triggers import ReadOnly, RisingEdge

from sparsa.sim.rtl.cocotb_streams import Transfer

__all__ = ["PortDriver"]


class _Source:
    def __init__(self, dut: SimHandleBase, name: str) -> None:
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.width = len(self.payload)
        self.queue: deque[tuple[int, Any]] = deque()
        self.idle_prob = 0.0
        self.presenting = False
        self.driven_valid = False

    def drive(self, rng: random.Random) -> None:
        if self.presenting or not self.queue:
            valid = self.presenting
        elif self.idle_prob and rng.random() < self.idle_prob:
            valid = False
            self.payload.value = rng.getrandbits(self.width)
        else:
            valid = self.presenting = True
            self.payload.value = self.queue[0][0]
        if valid != self.driven_valid:
            self.valid.value = int(valid)
            self.driven_valid = valid


class _Sink:
    def __init__(self, dut: SimHandleBase, name: str) -> None:
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.busy_prob = 0.0
        self.driven_ready: bool | None = None

    def drive(self, rng: random.Random) -> None:
        ready = not (self.busy_prob and rng.random() < self.busy_prob)
        if ready != self.driven_ready:
            self.ready.value = int(ready)
            self.driven_ready = ready


class PortDriver:
    """Sources and sinks of a toplevel's streams, served by one coroutine (:meth:`run`).

    Parameters
    ----------
    dut : SimHandleBase
        The toplevel, with ``{name}__valid``, ``__ready`` and ``__payload`` per stream.
    clk : SimHandleBase
    sources, sinks : sequence of str
        The input and output streams.
    rng : random.Random
        Source of the idle cycles, the junk payloads and the back-pressure.
    edge_number : callable
        Number of the latest rising edge (:func:`streams.edge_counter`).
    on_source : callable
        ``on_source(name, transfer)`` at each input transfer (``transfer.tag`` as sent).
    on_sink : callable
        ``on_sink(name, transfer)`` at each output transfer (tag ``None``); it may
        :meth:`send` beats, which a source presents from the next cycle on.
    """

    def __init__(
        self,
        dut: SimHandleBase,
        clk: SimHandleBase,
        sources: Sequence[str],
        sinks: Sequence[str],
        rng: random.Random,
        edge_number: Callable[[], int],
        on_source: Callable[[str, Transfer], None],
        on_sink: Callable[[str, Transfer], None],
    ) -> None:
        self._clk = clk
        self._rng = rng
        self._edge_number = edge_number
        self._on_source = on_source
        self._on_sink = on_sink
        self.sources = {name: _Source(dut, name) for name in sources}
        self.sinks = {name: _Sink(dut, name) for name in sinks}

    def idle(self) -> None:
        """Drive every valid and ready low (before reset)."""
        for source in self.sources.values():
            source.valid.value = 0
            source.payload.value = 0
        for sink in self.sinks.values():
            sink.ready.value = 0
            sink.driven_ready = False

    def send(self, stream: str, payload: int, tag: Any) -> None:
        """Queue one beat on an input stream."""
        self.sources[stream].queue.append((payload, tag))

    def pending(self) -> dict[str, int]:
        """Beats queued and not yet transferred, per input stream."""
        return {name: len(s.queue) for name, s in self.sources.items() if s.queue}

    def set_stalls(self, idle: dict[str, float], busy: dict[str, float]) -> None:
        """Per-cycle probabilities of an idle source and of a sink refusing a beat."""
        for name, source in self.sources.items():
            source.idle_prob = idle.get(name, 0.0)
        for name, sink in self.sinks.items():
            sink.busy_prob = busy.get(name, 0.0)

    async def run(self) -> None:
        """The driver loop; start it with ``cocotb.start_soon`` right after a rising edge."""
        rng = self._rng
        sources = list(self.sources.items())
        sinks = list(self.sinks.items())
        read_only, rising = ReadOnly(), RisingEdge(self._clk)
        while True:
            for _, source in sources:
                source.drive(rng)
            for _, sink in sinks:
                sink.drive(rng)
            await read_only
            fired = [
                (name, source)
                for name, source in sources
                if source.presenting and source.ready.value
            ]
            taken = [(name, sink) for name, sink in sinks if sink.driven_ready and sink.valid.value]
            if fired or taken:
                edge = self._edge_number() + 1
                for name, source in fired:
                    payload, tag = source.queue.popleft()
                    source.presenting = False
                    self._on_source(name, Transfer(payload, tag, edge))
                for name, sink in taken:
                    self._on_sink(name, Transfer(sink.payload.value.to_unsigned(), None, edge))
            await rising
