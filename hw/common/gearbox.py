"""Width conversion between memory words and the rows of on-chip buffers.

A tensor in DRAM is a packed bit stream of equal rows (a buffer row: a beat of compressed
weights, of activation groups, of output values), starting at bit 0 of a word-aligned address,
row after row with no padding, the last word padded with zeros. :class:`StreamUnpacker` cuts a
transfer's words back into its rows; :class:`StreamPacker` packs rows into words. Both keep
up with one word or one row per cycle, whichever is wider, and hold at most one word and one
row of bits (a shift register of ``word + row`` bits, shifted by multiples of their greatest
common divisor, so the barrel shifter has as few levels as the widths allow).
"""

from math import gcd

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.checks import is_int

__all__ = ["StreamPacker", "StreamUnpacker", "rows_layout", "words_for_rows"]


def words_for_rows(rows: int, row_width: int, word_width: int) -> int:
    """Words of ``word_width`` bits that ``rows`` packed rows of ``row_width`` bits fill."""
    return -(-rows * row_width // word_width)


def rows_layout(width: int) -> data.StructLayout:
    """A row or a word and whether it ends its transfer."""
    return data.StructLayout({"data": width, "last": 1})


def _check_widths(word_width: object, row_width: object, max_rows: object) -> None:
    for name, value in (("word_width", word_width), ("row_width", row_width),
                        ("max_rows", max_rows)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


class _Gearbox(wiring.Component):
    """What both directions share: the widths, the shift unit and the bit buffer."""

    def __init__(self, members: dict[str, wiring.Member], word_width: int, row_width: int,
                 max_rows: int) -> None:
        _check_widths(word_width, row_width, max_rows)
        self.word_width, self.row_width, self.max_rows = word_width, row_width, max_rows
        self._unit = gcd(word_width, row_width)
        super().__init__(members)

    def _buffer(self, m: Module, name: str) -> tuple[Signal, Signal]:
        """The bit buffer and its fill, counted in shift units."""
        capacity = self.word_width + self.row_width
        bits = Signal(capacity, name=f"{name}_bits")
        fill = Signal(range(capacity // self._unit + 1), name=f"{name}_fill")
        return bits, fill

    def _units(self, width: int) -> int:
        return width // self._unit

    def _shifted(self, value, fill: Signal):
        """``value`` moved up by ``fill`` shift units."""
        return value << (fill * self._unit) if self._unit > 1 else value << fill


class StreamUnpacker(_Gearbox):
    """Cuts transfers of ``word_width``-bit words into ``row_width``-bit rows.

    For each ``cmd`` beat (the transfer's row count, at least 1) it takes the transfer's
    :func:`words_for_rows` words from ``i_stream`` and gives that many rows on ``o_stream``,
    ``last`` set on the final one; the padding bits after the final row are dropped. A row
    leaves the cycle after the word that completes it arrives.

    Parameters
    ----------
    word_width, row_width : int
        Bits of a word and of a row.
    max_rows : int
        Most rows of one transfer.

    Members
    -------
    cmd : In(stream.Signature(range(1, max_rows + 1)))
    i_stream : In(stream.Signature(word_width))
    o_stream : Out(stream.Signature(rows_layout(row_width)))
    """

    def __init__(self, word_width: int, row_width: int, max_rows: int) -> None:
        super().__init__(
            {
                "cmd": In(stream.Signature(range(max_rows + 1))),
                "i_stream": In(stream.Signature(word_width)),
                "o_stream": Out(stream.Signature(rows_layout(row_width))),
            },
            word_width, row_width, max_rows,
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bits, fill = self._buffer(m, "unpack")
        row_u, word_u = self._units(self.row_width), self._units(self.word_width)
        active = Signal()
        rows_left = Signal(range(self.max_rows + 1))
        # Shift units of the transfer still to take in (negative once its last word is in).
        owed = Signal(range(-word_u, self.max_rows * row_u + 1))
        m.d.comb += self.cmd.ready.eq(~active)
        with m.If(self.cmd.valid & ~active):
            m.d.sync += [active.eq(1), rows_left.eq(self.cmd.payload),
                         owed.eq(self.cmd.payload * row_u)]

        pop, push = Signal(), Signal()
        m.d.comb += [
            self.o_stream.valid.eq(active & (fill >= row_u)),
            self.o_stream.payload.data.eq(bits[: self.row_width]),
            self.o_stream.payload.last.eq(rows_left == 1),
            pop.eq(self.o_stream.valid & self.o_stream.ready),
        ]
        kept = Signal.like(fill)
        m.d.comb += kept.eq(Mux(pop, fill - row_u, fill))
        m.d.comb += [
            self.i_stream.ready.eq(active & (owed > 0) & (kept <= row_u)),
            push.eq(self.i_stream.valid & self.i_stream.ready),
        ]
        remaining = Mux(pop, bits >> self.row_width, bits)
        with m.If(push):
            m.d.sync += [
                bits.eq(remaining | self._shifted(self.i_stream.payload, kept)),
                fill.eq(kept + word_u),
                owed.eq(owed - word_u),
            ]
        with m.Else():
            m.d.sync += [bits.eq(remaining), fill.eq(kept)]
        with m.If(pop):
            m.d.sync += rows_left.eq(rows_left - 1)
            with m.If(rows_left == 1):  # drop the padding; the next transfer starts clean
                m.d.sync += [active.eq(0), fill.eq(0), bits.eq(0)]
        return m


class StreamPacker(_Gearbox):
    """Packs rows of ``row_width`` bits into words of ``word_width`` bits.

    The rows of a transfer arrive on ``i_stream``, ``last`` on its final row; its words leave
    on ``o_stream``, the final one zero-padded and marked ``last`` (:func:`words_for_rows`
    words). A word leaves the cycle after the row that completes it arrives.

    Parameters
    ----------
    word_width, row_width : int
        Bits of a word and of a row.
    max_rows : int
        Most rows of one transfer (sizes nothing but is checked like the unpacker's).

    Members
    -------
    i_stream : In(stream.Signature(rows_layout(row_width)))
    o_stream : Out(stream.Signature(rows_layout(word_width)))
    """

    def __init__(self, word_width: int, row_width: int, max_rows: int) -> None:
        super().__init__(
            {
                "i_stream": In(stream.Signature(rows_layout(row_width))),
                "o_stream": Out(stream.Signature(rows_layout(word_width))),
            },
            word_width, row_width, max_rows,
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bits, fill = self._buffer(m, "pack")
        row_u, word_u = self._units(self.row_width), self._units(self.word_width)
        ending = Signal()  # the transfer's final row is in: flush what is left
        pop, push = Signal(), Signal()
        m.d.comb += [
            self.o_stream.valid.eq((fill >= word_u) | (ending & (fill != 0))),
            self.o_stream.payload.data.eq(bits[: self.word_width]),
            self.o_stream.payload.last.eq(ending & (fill <= word_u)),
            pop.eq(self.o_stream.valid & self.o_stream.ready),
        ]
        kept = Signal.like(fill)
        m.d.comb += kept.eq(Mux(pop, Mux(fill > word_u, fill - word_u, 0), fill))
        m.d.comb += [
            self.i_stream.ready.eq(~ending & (kept <= word_u)),
            push.eq(self.i_stream.valid & self.i_stream.ready),
        ]
        remaining = Mux(pop, bits >> self.word_width, bits)
        with m.If(push):
            m.d.sync += [
                bits.eq(remaining | self._shifted(self.i_stream.payload.data, kept)),
                fill.eq(kept + row_u),
                ending.eq(self.i_stream.payload.last),
            ]
        with m.Else():
            m.d.sync += [bits.eq(remaining), fill.eq(kept)]
            with m.If(pop & self.o_stream.payload.last):
                m.d.sync += ending.eq(0)
        return m
