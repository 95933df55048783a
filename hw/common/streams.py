"""Reusable stream plumbing: a FIFO, a register slice, forks, a join and a demultiplexer.

Every block takes and gives :mod:`amaranth.lib.stream` streams (``i_stream`` in, ``o_stream``
out, or arrays of them) and follows the stream rules: a beat moves on a cycle where valid and
ready are both high; once valid, a producer holds its payload until the transfer. What each
block adds to the latency and whether its valid depends on a ready is in its docstring, so a
design built from them can be counted cycle by cycle.

:func:`connect_mapped` joins two streams whose payloads differ (a field of one, a combinational
function of it), where :func:`amaranth.lib.wiring.connect` needs equal widths.
"""

from collections.abc import Callable, Mapping

from amaranth import Cat, Const, Module, Shape, ShapeLike, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from sparsa.config.checks import is_int

__all__ = [
    "RegisterSlice",
    "StreamDemux",
    "StreamFIFO",
    "StreamFork",
    "StreamJoin",
    "connect_mapped",
    "transfer",
]


def transfer(interface: stream.Interface) -> Value:
    """Whether ``interface`` moves a beat this cycle: valid and ready."""
    return interface.valid & interface.ready


def connect_mapped(
    m: Module,
    source: stream.Interface,
    sink: stream.Interface,
    payload: Callable[[Value], Value | Mapping[str, Value]],
) -> None:
    """Connect stream ``source`` to stream ``sink``, the payload through ``payload``.

    Valid and ready pass unchanged (``source`` may be any stream a component gives, ``sink``
    any it takes, a flipped port included); ``sink``'s payload is ``payload(source.payload)``,
    either a value or a mapping of the sink's fields to values. Combinational.
    """
    mapped = payload(source.payload)
    if isinstance(mapped, Mapping):
        m.d.comb += [sink.payload[name].eq(value) for name, value in mapped.items()]
    else:
        m.d.comb += sink.payload.eq(mapped)
    m.d.comb += [sink.valid.eq(source.valid), source.ready.eq(sink.ready)]


def _check_depth(depth: object) -> None:
    if not is_int(depth) or depth < 1:
        raise ValueError(f"depth must be a positive integer, not {depth!r}")


def _check_count(count: object, what: str) -> None:
    if not is_int(count) or count < 2:
        raise ValueError(f"{what} must be an integer of at least 2, not {count!r}")


class StreamFIFO(wiring.Component):
    """A first-in first-out queue of ``depth`` beats between two streams.

    ``buffered=False`` (the default) wraps :class:`amaranth.lib.fifo.SyncFIFO`: a beat written
    into an empty queue is offered the next cycle, from an asynchronously read memory (fine for
    the few entries of a queue between pipeline stages). ``buffered=True`` wraps
    :class:`~amaranth.lib.fifo.SyncFIFOBuffered`, whose synchronously read memory maps to block
    RAM, at one more cycle of latency. ``i_stream.ready`` is "not full", ``o_stream.valid``
    "not empty"; neither depends on the other stream's valid or ready.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of both streams.
    depth : int
        Entries (at least 1).
    buffered : bool

    Members
    -------
    i_stream : In(stream.Signature(shape))
    o_stream : Out(stream.Signature(shape))
    level : Out(range(depth + 1))
        Entries held.
    """

    def __init__(self, shape: ShapeLike, depth: int, *, buffered: bool = False) -> None:
        _check_depth(depth)
        self._shape, self._depth, self._buffered = shape, depth, bool(buffered)
        super().__init__(
            {
                "i_stream": In(stream.Signature(shape)),
                "o_stream": Out(stream.Signature(shape)),
                "level": Out(range(depth + 1)),
            }
        )

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform: object) -> Module:
        m = Module()
        kind = SyncFIFOBuffered if self._buffered else SyncFIFO
        m.submodules.queue = queue = kind(width=Shape.cast(self._shape).width, depth=self._depth)
        wiring.connect(m, wiring.flipped(self.i_stream), queue.w_stream)
        wiring.connect(m, queue.r_stream, wiring.flipped(self.o_stream))
        m.d.comb += self.level.eq(queue.level)
        return m


class RegisterSlice(wiring.Component):
    """One pipeline register between two streams, at one beat per cycle.

    It takes a beat when it is empty or when its beat leaves in the same cycle
    (``i_stream.ready = ~o_stream.valid | o_stream.ready``, a combinational path from the
    output's ready to the input's), and offers it the next cycle: one cycle of latency, a valid
    and a payload that are registers. The payload register loads on every cycle the slice is
    ready, a beat or not (the payload of an empty slice is don't-care), so no enable is needed
    where the output is always ready.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of both streams.

    Members
    -------
    i_stream : In(stream.Signature(shape))
    o_stream : Out(stream.Signature(shape))
    """

    def __init__(self, shape: ShapeLike) -> None:
        super().__init__(
            {"i_stream": In(stream.Signature(shape)), "o_stream": Out(stream.Signature(shape))}
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.i_stream.ready.eq(~self.o_stream.valid | self.o_stream.ready)
        with m.If(self.i_stream.ready):
            m.d.sync += [
                self.o_stream.valid.eq(self.i_stream.valid),
                self.o_stream.payload.eq(self.i_stream.payload),
            ]
        return m


class StreamFork(wiring.Component):
    """One stream to ``count`` streams, every output taking every beat.

    An *eager* fork (the default) offers the beat to each output until that output has taken
    it (a flag per output remembers which have), so the outputs may take it in different
    cycles; the input beat is consumed in the cycle the last of them takes it. Outputs' valid
    never depends on a ready. A *lazy* fork (``lazy=True``) has no state: the outputs take the
    beat together, each output's valid being the input's and the other outputs' ready, so it
    suits consumers whose ready does not depend on their valid (FIFOs, always-ready sinks).
    Both are combinational from input to outputs.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of every stream.
    count : int
        Outputs (at least 2).
    lazy : bool

    Members
    -------
    i_stream : In(stream.Signature(shape))
    o_streams : Out(stream.Signature(shape)).array(count)
    """

    def __init__(self, shape: ShapeLike, count: int, *, lazy: bool = False) -> None:
        _check_count(count, "count")
        self._count, self._lazy = count, bool(lazy)
        super().__init__(
            {
                "i_stream": In(stream.Signature(shape)),
                "o_streams": Out(stream.Signature(shape)).array(count),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        outputs = self.o_streams
        m.d.comb += [o.payload.eq(self.i_stream.payload) for o in outputs]
        if self._lazy:
            for k, o in enumerate(outputs):
                others = [p.ready for j, p in enumerate(outputs) if j != k]
                m.d.comb += o.valid.eq(self.i_stream.valid & _all(others))
            m.d.comb += self.i_stream.ready.eq(_all([o.ready for o in outputs]))
            return m
        done = [Signal(name=f"done_{k}") for k in range(self._count)]
        m.d.comb += [
            o.valid.eq(self.i_stream.valid & ~d) for o, d in zip(outputs, done, strict=True)
        ]
        m.d.comb += self.i_stream.ready.eq(
            _all([d | o.ready for o, d in zip(outputs, done, strict=True)])
        )
        with m.If(transfer(self.i_stream)):
            m.d.sync += [d.eq(0) for d in done]
        with m.Else():
            m.d.sync += [d.eq(d | transfer(o)) for o, d in zip(outputs, done, strict=True)]
        return m


class StreamJoin(wiring.Component):
    """Named streams to one: one beat of each input makes one output beat, a struct of them.

    The output is valid when every input is; an input is ready when the output is and every
    other input is valid, so all inputs move in the same cycle. Combinational.

    Parameters
    ----------
    shapes : mapping of str to ShapeLike
        Payload shape of each input (at least two), by name; the output payload is
        ``data.StructLayout(shapes)``.

    Members
    -------
    i_<name> : In(stream.Signature(shapes[name])), one per input
    o_stream : Out(stream.Signature(data.StructLayout(shapes)))
    """

    def __init__(self, shapes: Mapping[str, ShapeLike]) -> None:
        _check_count(len(shapes), "the number of inputs")
        self._names = list(shapes)
        members = {f"i_{name}": In(stream.Signature(shape)) for name, shape in shapes.items()}
        members["o_stream"] = Out(stream.Signature(data.StructLayout(dict(shapes))))
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        inputs = {name: getattr(self, f"i_{name}") for name in self._names}
        m.d.comb += self.o_stream.valid.eq(_all([i.valid for i in inputs.values()]))
        for name, i in inputs.items():
            others = [j.valid for other, j in inputs.items() if other != name]
            m.d.comb += [
                self.o_stream.payload[name].eq(i.payload),
                i.ready.eq(self.o_stream.ready & _all(others)),
            ]
        return m


class StreamDemux(wiring.Component):
    """One stream to the one of ``count`` outputs that ``select`` names.

    Output k is valid when the input is and ``select`` is k; the input is ready when the
    selected output is. Combinational.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape of every stream.
    count : int
        Outputs (at least 2).
    select : ShapeLike
        Shape of ``select`` (default ``range(count)``), e.g. an :mod:`amaranth.lib.enum`
        enumeration whose values are the outputs' indices.

    Members
    -------
    i_stream : In(stream.Signature(shape))
    select : In(select)
    o_streams : Out(stream.Signature(shape)).array(count)
    """

    def __init__(self, shape: ShapeLike, count: int, *, select: ShapeLike | None = None) -> None:
        _check_count(count, "count")
        self._count = count
        super().__init__(
            {
                "i_stream": In(stream.Signature(shape)),
                "select": In(range(count) if select is None else select),
                "o_streams": Out(stream.Signature(shape)).array(count),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        select = Value.cast(self.select)
        for k, o in enumerate(self.o_streams):
            m.d.comb += [
                o.payload.eq(self.i_stream.payload),
                o.valid.eq(self.i_stream.valid & (select == k)),
            ]
            with m.If(select == k):
                m.d.comb += self.i_stream.ready.eq(o.ready)
        return m


def _all(bits: list[Value]) -> Value:
    """AND of ``bits`` (1 for none)."""
    return Cat(*bits).all() if bits else Const(1)
