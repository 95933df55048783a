"""Streams read out of on-chip memories, a run of rows at a time.

:class:`RowFeeder` is what the SAT system's GEMM unit feeds the PE array's operand streams with
and what its STORE unit reads the output buffer with: it takes runs (a first row and a count)
from a queue and streams those rows from a synchronous read port, one per cycle, with no bubble
between runs; each run's flag leaves on ``done`` once its last row has been read (so the rows
may then be overwritten).
"""

from amaranth import Module, Signal
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import ReadPort

__all__ = ["RowFeeder", "run_layout"]


def run_layout(depth: int) -> data.StructLayout:
    """A run of rows: the first row, how many, and a flag handed back when it is read."""
    return data.StructLayout({"base": range(depth), "count": range(depth + 1), "flag": 1})


class RowFeeder:
    """Streams runs of rows from ``port`` (elaborated into ``m`` by its constructor).

    Parameters
    ----------
    m : Module
    port : ReadPort
        A synchronous read port of the memory (one cycle from address to data); the feeder
        drives its ``addr`` and ``en``.
    depth : int
        Rows of the memory.
    queue : int
        Runs the queue holds.
    name : str

    Attributes
    ----------
    runs : SyncFIFO
        Write runs (:func:`run_layout` as bits) into it.
    valid, data, ready, last :
        The row stream: ``data`` is the port's data; the consumer drives ``ready``; ``last``
        marks a run's final row.
    done : SyncFIFO
        One entry per run once its last row has been read: the run's flag.
    idle : Signal
        No run is queued, active or being streamed.
    """

    def __init__(self, m: Module, port: ReadPort, depth: int, queue: int, name: str) -> None:
        layout = run_layout(depth)
        m.submodules[f"{name}_runs"] = self.runs = SyncFIFO(width=layout.size, depth=queue)
        m.submodules[f"{name}_done"] = self.done = SyncFIFO(width=1, depth=2 * queue + 2)
        self.valid, self.ready, self.last = Signal(name=f"{name}_valid"), Signal(), Signal()
        self.data = port.data
        self.idle = Signal(name=f"{name}_idle")
        self._active = active = Signal(name=f"{name}_active")
        run = Signal(layout, name=f"{name}_run")
        index = Signal(range(depth + 1), name=f"{name}_index")
        head = layout(self.runs.r_data)
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.valid | self.ready),
            port.en.eq(advance),
            port.addr.eq(run.base + index),
            self.idle.eq(~active & ~self.valid & ~self.runs.r_rdy),
        ]
        finishing = Signal()
        m.d.comb += finishing.eq(advance & active & (index + 1 == run.count))
        with m.If(advance):
            m.d.sync += [self.valid.eq(active), self.last.eq(finishing)]
            with m.If(active):
                m.d.sync += index.eq(index + 1)
        m.d.comb += [self.done.w_en.eq(finishing), self.done.w_data.eq(run.flag)]
        take = Signal()
        m.d.comb += [take.eq(self.runs.r_rdy & (~active | finishing)), self.runs.r_en.eq(take)]
        with m.If(finishing):
            m.d.sync += active.eq(0)
        with m.If(take):
            m.d.sync += [active.eq(1), run.eq(head), index.eq(0)]

    @property
    def active(self) -> Signal:
        """A run is being read: a run queued now is taken when its last row is addressed, so
        its first row follows that one without a gap (or, when the active run is the queued
        one, is on ``data`` the next cycle)."""
        return self._active
