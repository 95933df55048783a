"""Stream drivers and monitors with one set of rules, on either backend.

Every ``amaranth.lib.stream`` port of a block under test is driven by a :class:`Source` (its
inputs) or watched by a :class:`Sink` (its outputs), and a :class:`StreamRunner` steps them
together, cycle by cycle, on a :class:`~sparsa.sim.rtl.backends.Backend`:

- A source presents its items in order. Before each item it idles for a seeded random number
  of cycles (each cycle with probability ``idle``), driving valid low and random junk on the
  payload; once valid is high it holds valid and the payload until the handshake.
- A sink refuses a beat (ready low) in each cycle with probability ``busy``.
- A transfer happens at the rising edge after a cycle where valid and ready are both high;
  its cycle number is that of the edge, counted from the first cycle after reset.

All random draws come from one seeded generator, in a fixed order, so a run takes the same
cycles on ``amaranth.sim`` and on Verilator.
"""

import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sparsa.sim.rtl.backends import Backend

__all__ = ["Beat", "HarnessTimeoutError", "Sink", "Source", "StreamRunner"]


class HarnessTimeoutError(AssertionError):
    """The block did not finish within the cycles a run allows (a hang, or a lost beat)."""


@dataclass(frozen=True)
class Beat:
    """One transfer on a stream: its payload bits, the item's tag, and its cycle."""

    payload: int
    tag: Any
    cycle: int


class Source:
    """Drive input stream ``port`` from a queue of ``(payload, tag)`` items.

    Parameters
    ----------
    port : str
        The stream's name.
    idle : float
        Probability of each idle cycle before an item (0 presents items back to back).
    on_transfer : callable, optional
        Called with each :class:`Beat` once it has crossed.
    """

    def __init__(
        self, port: str, *, idle: float = 0.0, on_transfer: Callable[[Beat], None] | None = None
    ) -> None:
        if not 0.0 <= idle < 1.0:
            raise ValueError(f"idle must be a probability below 1, not {idle!r}")
        self.port = port
        self.idle = idle
        self.on_transfer = on_transfer
        self._queue: deque[tuple[int, Any]] = deque()
        self._current: tuple[int, Any] | None = None
        self._wait = 0

    @property
    def pending(self) -> int:
        """Items queued or being presented."""
        return len(self._queue) + (self._current is not None)

    def push(self, payload: int, tag: Any = None) -> None:
        """Queue one item."""
        self._queue.append((payload, tag))

    def _drive(self, backend: Backend, rng: random.Random, width: int) -> bool:
        if self._current is None and self._queue:
            self._current = self._queue.popleft()
            self._wait = 0
            while self.idle and rng.random() < self.idle:
                self._wait += 1
        if self._current is None or self._wait:
            self._wait = max(0, self._wait - 1)
            backend.set(self.port, "valid", 0)
            backend.set(self.port, "payload", rng.getrandbits(width))
            return False
        backend.set(self.port, "valid", 1)
        backend.set(self.port, "payload", self._current[0])
        return True

    def _fire(self, cycle: int) -> None:
        assert self._current is not None
        payload, tag = self._current
        self._current = None
        if self.on_transfer is not None:
            self.on_transfer(Beat(payload, tag, cycle))


class Sink:
    """Accept the beats of output stream ``port``, with seeded back-pressure.

    Parameters
    ----------
    port : str
        The stream's name.
    busy : float
        Probability that ready is low in a cycle.
    on_beat : callable, optional
        Called with each :class:`Beat` (tag ``None``); by default beats go to :attr:`beats`.
    """

    def __init__(
        self, port: str, *, busy: float = 0.0, on_beat: Callable[[Beat], None] | None = None
    ) -> None:
        if not 0.0 <= busy < 1.0:
            raise ValueError(f"busy must be a probability below 1, not {busy!r}")
        self.port = port
        self.busy = busy
        self.beats: list[Beat] = []
        self.on_beat = on_beat if on_beat is not None else self.beats.append


class StreamRunner:
    """Steps sources and sinks together on one backend, counting cycles.

    Parameters
    ----------
    backend : Backend
    sources, sinks : iterable
        The :class:`Source` and :class:`Sink` of every stream the run uses.
    seed : int
        Seed of the idle cycles, the back-pressure and the junk payloads.
    """

    def __init__(
        self,
        backend: Backend,
        sources: Iterable[Source],
        sinks: Iterable[Sink],
        *,
        seed: int,
    ) -> None:
        self.backend = backend
        self.sources = {s.port: s for s in sources}
        self.sinks = {s.port: s for s in sinks}
        self.rng = random.Random(seed)
        self.cycle = 0
        self._widths = {port: backend.width(port) for port in self.sources}

    def idle(self) -> None:
        """Drive every source's valid and every sink's ready low (before reset)."""
        for port in self.sources:
            self.backend.set(port, "valid", 0)
            self.backend.set(port, "payload", 0)
        for port in self.sinks:
            self.backend.set(port, "ready", 0)

    async def step(self) -> None:
        """Run one cycle: drive, settle, sample, and move past the rising edge."""
        backend, rng = self.backend, self.rng
        offered = [
            source for port, source in self.sources.items()
            if source._drive(backend, rng, self._widths[port])
        ]
        ready = {}
        for port, sink in self.sinks.items():
            ready[port] = not (sink.busy and rng.random() < sink.busy)
            backend.set(port, "ready", int(ready[port]))
        await backend.settle()
        fired = [s for s in offered if backend.get(s.port, "ready")]
        beats = [
            (sink, backend.get(port, "payload"))
            for port, sink in self.sinks.items()
            if ready[port] and backend.get(port, "valid")
        ]
        await backend.tick()
        self.cycle += 1
        for source in fired:
            source._fire(self.cycle)
        for sink, payload in beats:
            sink.on_beat(Beat(payload, None, self.cycle))

    async def run_until(self, done: Callable[[], bool], *, max_cycles: int, what: str) -> None:
        """Step until ``done()`` holds, or raise :class:`HarnessTimeoutError` after ``max_cycles``.

        Parameters
        ----------
        done : callable
            Checked before every cycle.
        max_cycles : int
            Cycles this call may take.
        what : str
            What is awaited, for the error message.
        """
        start = self.cycle
        while not done():
            if self.cycle - start >= max_cycles:
                pending = {p: s.pending for p, s in self.sources.items() if s.pending}
                raise HarnessTimeoutError(
                    f"{what}: not done after {max_cycles} cycles (cycle {self.cycle}; "
                    f"input beats still pending: {pending or 'none'})"
                )
            await self.step()

    async def run_idle(self, cycles: int) -> None:
        """Step ``cycles`` cycles (e.g. to check that nothing more comes out)."""
        for _ in range(cycles):
            await self.step()
