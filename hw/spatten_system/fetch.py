"""The SpAtten system's fetcher: rows of one tensor plane read through one AXI4 read engine.

A plane's rows are gathered: the core asks for rows by their place j in the query's key list,
and the fetcher reads the row of alive token ``list[j]``. Two parts, one per direction:

* :class:`RowRequester` takes request beats (up to E row places and a count, the core's
  :func:`~sparsa.hw.attention.layouts.request_layout`), looks each place up in the alive list
  (a synchronous read port of the list memory, or the place itself at the first layer, when
  token j is alive as j) and gives one row request per place, one per cycle: the row's byte
  address ``base`` + (head x max_tokens + token) x the row's stride, and whether it closes its
  beat.
* :class:`RowReader` sends each row request to the read engine as one transfer of the row's
  words, keeps the closing flags of the transfers in flight, collects each row's words and packs
  the rows of a beat into lanes 0, 1, ...: a beat leaves when its closing row is in, with its
  row count. A word answered with an error still fills its row and raises ``error`` for a cycle.

Both keep up with one row (or one word) per cycle.
"""

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from sparsa.config.axi import AxiConfig
from sparsa.hw.common.axi import transfer_layout

__all__ = ["RowReader", "RowRequester", "beat_layout", "requester_layout", "row_request_layout"]


def row_request_layout(config: AxiConfig) -> data.StructLayout:
    """One row to read: its byte address and whether it is the last row of its beat."""
    return data.StructLayout({"addr": config.addr_width, "close": 1})


def beat_layout(lanes: int, row_bits: int) -> data.StructLayout:
    """A beat of up to ``lanes`` rows of ``row_bits`` bits (lane r at bits r x row_bits) and
    how many lanes hold a row."""
    return data.StructLayout({"rows": lanes * row_bits, "count": range(lanes + 1)})


class RowReader(wiring.Component):
    """Row requests in, beats of rows out, through one AXI4 read engine (module docstring).

    Parameters
    ----------
    axi : AxiConfig
    lanes : int
        Rows per beat.
    row_bits : int
        Bits of a row; it fills ceil(row_bits / data_width) words, the last one padded.

    Members
    -------
    req : In(stream.Signature(row_request_layout(axi)))
    reader_cmd : Out(stream.Signature(transfer_layout(axi)))
        To the read engine's ``cmd``.
    reader_data : In(stream.Signature(...))
        From the read engine's ``data`` (``data``, ``last``, ``error``).
    beat : Out(stream.Signature(beat_layout(lanes, row_bits)))
    error : Out(1)
        A word answered with an error was taken this cycle.
    """

    def __init__(self, axi: AxiConfig, lanes: int, row_bits: int) -> None:
        self.axi, self.lanes, self.row_bits = axi, lanes, row_bits
        self.words = -(-row_bits // axi.data_width)
        word = data.StructLayout({"data": axi.data_width, "last": 1, "error": 1})
        super().__init__({
            "req": In(stream.Signature(row_request_layout(axi))),
            "reader_cmd": Out(stream.Signature(transfer_layout(axi))),
            "reader_data": In(stream.Signature(word)),
            "beat": Out(stream.Signature(beat_layout(lanes, row_bits))),
            "error": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        W, E, R = self.axi.data_width, self.lanes, self.row_bits
        # A closing flag per transfer issued and not yet collected: the read engine holds at
        # most max_reads bursts, one row being collected, one more entering.
        m.submodules.closes = closes = SyncFIFO(width=1, depth=self.axi.max_reads + 2)
        m.d.comb += [
            self.reader_cmd.valid.eq(self.req.valid & closes.w_rdy),
            self.reader_cmd.payload.addr.eq(self.req.payload.addr),
            self.reader_cmd.payload.words.eq(self.words),
            self.req.ready.eq(self.reader_cmd.ready & closes.w_rdy),
            closes.w_en.eq(self.req.valid & self.req.ready),
            closes.w_data.eq(self.req.payload.close),
        ]
        collected = [Signal(W, name=f"word{i}") for i in range(self.words - 1)]
        word = Signal(range(self.words), name="word_index")
        lane = Signal(range(E), name="lane")
        rows = Signal(E * R, name="rows")
        word_in = self.reader_data
        m.d.comb += [
            word_in.ready.eq(~self.beat.valid | self.beat.ready),
            self.error.eq(word_in.valid & word_in.ready & word_in.payload.error),
            self.beat.payload.rows.eq(rows),
        ]
        with m.If(self.beat.valid & self.beat.ready):
            m.d.sync += self.beat.valid.eq(0)
        with m.If(word_in.valid & word_in.ready):
            row_done = word == self.words - 1
            with m.If(row_done):
                m.d.sync += word.eq(0)
                row = Cat(*collected, word_in.payload.data)[:R]
                with m.Switch(lane):
                    for i in range(E):
                        with m.Case(i):
                            m.d.sync += rows[i * R:(i + 1) * R].eq(row)
                m.d.comb += closes.r_en.eq(1)
                with m.If(closes.r_data):
                    m.d.sync += [self.beat.valid.eq(1), self.beat.payload.count.eq(lane + 1),
                                 lane.eq(0)]
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
            with m.Else():
                m.d.sync += word.eq(word + 1)
                with m.Switch(word):
                    for i in range(self.words - 1):
                        with m.Case(i):
                            m.d.sync += collected[i].eq(word_in.payload.data)
        return m


class RowRequester:
    """Request beats to row requests, elaborated into ``m`` by its constructor
    (module docstring).

    Parameters
    ----------
    m : Module
    req : stream.Interface
        Request beats (``index``, ``count``; lanes past the count ignored) with their command's
        ``head``, :func:`requester_layout`; taken when the last place of the previous one goes.
    out : stream.Interface
        Row requests (:func:`row_request_layout`).
    port : ReadPort
        A read port of the alive list memory; the requester drives ``addr`` and ``en``.
    bank : Value
        The list memory's offset of the alive list (0 or max_tokens).
    identity : Value
        Token j is alive as j (the first layer): the list is not read.
    base : Value
        The plane's byte address.
    stride : int
        Bytes of a row.
    max_tokens : int
        Rows per head in DRAM.
    name : str
    """

    def __init__(self, m: Module, req: stream.Interface, out: stream.Interface, port: ReadPort,
                 *, bank, identity, base, stride: int, max_tokens: int, name: str) -> None:
        lanes = len(req.payload.index)
        held = Signal(req.payload.shape(), name=f"{name}_held")
        holding = Signal(name=f"{name}_holding")
        lane = Signal(range(lanes), name=f"{name}_lane")
        place = Signal(len(req.payload.index[0]), name=f"{name}_place")
        head = Signal(len(req.payload.head), name=f"{name}_head")
        advance = Signal(name=f"{name}_advance")
        last = lane + 1 == held.count
        current = Array(held.index[i] for i in range(lanes))[lane]
        m.d.comb += [
            advance.eq(~out.valid | out.ready),
            port.en.eq(advance),
            port.addr.eq(bank + current),
            req.ready.eq(~holding | (advance & last)),
        ]
        with m.If(advance):
            m.d.sync += out.valid.eq(holding)
            with m.If(holding):
                m.d.sync += [out.payload.close.eq(last), place.eq(current),
                             head.eq(held.head), lane.eq(Mux(last, 0, lane + 1))]
                with m.If(last):
                    m.d.sync += holding.eq(0)
        with m.If(req.valid & req.ready):
            m.d.sync += [held.eq(req.payload), holding.eq(req.payload.count != 0), lane.eq(0)]
        token = Mux(identity, place, port.data)
        m.d.comb += out.payload.addr.eq(base + (head * max_tokens + token) * stride)


def requester_layout(lanes: int, index_width: int, head_width: int) -> data.StructLayout:
    """A request beat for :class:`RowRequester`: up to ``lanes`` row places, how many, and
    the head of their command."""
    return data.StructLayout({
        "index": data.ArrayLayout(index_width, lanes),
        "count": range(lanes + 1),
        "head": head_width,
    })
