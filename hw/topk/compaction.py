"""Compaction blocks shared by the top-k engine: prefix sum, zero eliminator and packer.

SpAtten compacts the kept lanes of a vector with a *zero eliminator*: a prefix sum counts, for
every lane, the dropped lanes before it, and a log2(lanes)-stage shifter moves each kept item left
by 2**s in stage s when bit s of its count is set (least significant bit first, which never makes
two kept items collide). A *packer* then gathers the variable-size compacted vectors into full
rows for a FIFO or an output stream.
"""

from amaranth import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Packer", "PrefixSum", "ZeroEliminator", "prefix_sums"]


def _check_lanes(lanes: object) -> None:
    if not isinstance(lanes, int) or lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"lanes must be a power of two >= 1, not {lanes!r}")


def _check_width(item_width: object) -> None:
    if not isinstance(item_width, int) or item_width < 1:
        raise ValueError(f"item_width must be a positive integer, not {item_width!r}")


def prefix_sums(flags: Value) -> list[Value]:
    """Inclusive prefix counts of the bits of ``flags`` (Hillis-Steele scan, log2 depth).

    Element i of the result is the number of set bits among ``flags[0..i]``, as a value wide
    enough for ``len(flags)``.
    """
    n = len(flags)
    width = n.bit_length()
    sums: list[Value] = [flags[i].as_unsigned() for i in range(n)]
    step = 1
    while step < n:
        sums = [
            (sums[i] + sums[i - step])[:width] if i >= step else sums[i] for i in range(n)
        ]
        step *= 2
    return sums


class PrefixSum(wiring.Component):
    """Combinational exclusive prefix count over ``lanes`` flags.

    Members
    -------
    flags : In(lanes)
        One flag per lane.
    exclusive : Out(ArrayLayout(range(lanes + 1), lanes))
        Lane i holds the number of set flags in lanes 0 to i - 1.
    total : Out(range(lanes + 1))
        Number of set flags.
    """

    def __init__(self, lanes: int) -> None:
        _check_lanes(lanes)
        self._lanes = lanes
        super().__init__({
            "flags": In(lanes),
            "exclusive": Out(data.ArrayLayout(range(lanes + 1), lanes)),
            "total": Out(range(lanes + 1)),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def elaborate(self, platform: object) -> Module:
        m = Module()
        inclusive = prefix_sums(self.flags)
        for i in range(self._lanes):
            m.d.comb += self.exclusive[i].eq(inclusive[i] - self.flags[i])
        m.d.comb += self.total.eq(inclusive[-1])
        return m


class _ItemLanes(wiring.Component):
    """Base of the components that move ``lanes`` items of ``item_width`` bits: it checks both
    parameters, keeps them as read-only properties and takes its signature's members from
    :meth:`_members`."""

    def __init__(self, lanes: int, item_width: int) -> None:
        _check_lanes(lanes)
        _check_width(item_width)
        self._lanes = lanes
        self._item_width = item_width
        super().__init__(self._members(lanes, data.ArrayLayout(item_width, lanes)))

    @staticmethod
    def _members(lanes: int, layout: data.ArrayLayout) -> dict[str, wiring.Member]:
        """The members, given ``layout``, the ``ArrayLayout`` of one item per lane."""
        raise NotImplementedError

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def item_width(self) -> int:
        return self._item_width


class ZeroEliminator(_ItemLanes):
    """Combinational stable compaction of the kept lanes (SpAtten's zero eliminator).

    Members
    -------
    keep : In(lanes)
        Keep flag per lane.
    items : In(ArrayLayout(item_width, lanes))
        One item per lane.
    out : Out(ArrayLayout(item_width, lanes))
        The kept items in lane order in lanes 0 to ``count - 1``; higher lanes hold zero.
    count : Out(range(lanes + 1))
        Number of kept items.
    """

    @staticmethod
    def _members(lanes: int, layout: data.ArrayLayout) -> dict[str, wiring.Member]:
        return {
            "keep": In(lanes),
            "items": In(layout),
            "out": Out(layout),
            "count": Out(range(lanes + 1)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self._lanes
        m.submodules.zeros = zeros = PrefixSum(n)
        m.d.comb += zeros.flags.eq(~self.keep)
        m.d.comb += self.count.eq(n - zeros.total)
        valid = [self.keep[i] for i in range(n)]
        item = [Value.cast(self.items[i]) for i in range(n)]
        # shift[i]: the bits of lane i's shift count that this and later stages use.
        # A kept lane has at most n - 1 dropped lanes before it: log2(n) bits.
        shift = [Value.cast(zeros.exclusive[i])[: (n - 1).bit_length()] for i in range(n)]
        stage = 0
        while 1 << stage < n:
            dist = 1 << stage
            moves = [valid[i] & shift[i][0] for i in range(n)]
            stays = [valid[i] & ~shift[i][0] for i in range(n)]
            nv, ni, ns = [], [], []
            for i in range(n):
                arrive = moves[i + dist] if i + dist < n else Const(0)
                src_item = item[i + dist] if i + dist < n else item[i]
                v = Signal(name=f"v{stage}_{i}")
                it = Signal(self._item_width, name=f"item{stage}_{i}")
                m.d.comb += [
                    v.eq(arrive | stays[i]),
                    it.eq(Mux(arrive, src_item, Mux(stays[i], item[i], 0))),
                ]
                nv.append(v)
                ni.append(it)
                if 2 << stage < n:  # the last stage's shift counts would be unused
                    sh = Signal(len(shift[i]) - 1, name=f"shift{stage}_{i}")
                    src_shift = (shift[i + dist] if i + dist < n else shift[i])[1:]
                    m.d.comb += sh.eq(Mux(arrive, src_shift, Mux(stays[i], shift[i][1:], 0)))
                    ns.append(sh)
            valid, item, shift = nv, ni, ns
            stage += 1
        for i in range(n):
            m.d.comb += self.out[i].eq(Mux(valid[i], item[i], 0))
        return m


class Packer(_ItemLanes):
    """Gathers compacted vectors of 0 to ``lanes`` items into full rows of ``lanes`` items.

    It keeps fewer than ``lanes`` items between cycles. In a cycle with ``en`` set it appends the
    ``in_count`` items of ``in_items`` (lanes 0 to ``in_count - 1``) behind the held ones; when at
    least ``lanes`` items are available it presents the first ``lanes`` of them on ``out_*`` and
    keeps the rest; otherwise, when ``flush`` is set and items are available, it presents them all
    as a partial row and empties. The outputs are combinational; the held items update at the clock
    edge when ``en`` is set.

    Members
    -------
    en : In(1)
        Advance (consume the input, update the held items).
    flush : In(1)
        Emit a partial row if no full row is available.
    in_count : In(range(lanes + 1))
        Items on the input (0 when idle).
    in_items : In(ArrayLayout(item_width, lanes))
    out_valid : Out(1)
        A row is presented this cycle.
    out_count : Out(range(lanes + 1))
        Items in the presented row (``lanes`` unless it is a flushed partial row).
    out_items : Out(ArrayLayout(item_width, lanes))
    held : Out(range(lanes))
        Items that stay held after this cycle's emission.
    """

    @staticmethod
    def _members(lanes: int, layout: data.ArrayLayout) -> dict[str, wiring.Member]:
        return {
            "en": In(1),
            "flush": In(1),
            "in_count": In(range(lanes + 1)),
            "in_items": In(layout),
            "out_valid": Out(1),
            "out_count": Out(range(lanes + 1)),
            "out_items": Out(layout),
            "held": Out(range(lanes)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n, w = self._lanes, self._item_width
        if n == 1:
            # A one-item row is full as soon as it holds its item: nothing is ever held.
            m.d.comb += [
                self.out_items.eq(self.in_items),
                self.out_valid.eq(self.in_count != 0),
                self.out_count.eq(self.in_count),
            ]
            return m
        acc = Signal(data.ArrayLayout(w, n))
        fill = Signal(range(n))
        # Place the new items behind the held ones: a log2(lanes)-stage shifter by `fill` items.
        shifted = Cat(self.in_items, Const(0, n * w))
        for bit in range(len(fill)):
            dist = (1 << bit) * w
            stage = Signal(2 * n * w, name=f"shift{bit}")
            m.d.comb += stage.eq(Mux(fill[bit], Cat(Const(0, dist), shifted[:-dist]), shifted))
            shifted = stage
        joined = Signal(2 * n * w)
        for j in range(2 * n):
            lane = shifted[j * w : (j + 1) * w]
            if j < n:
                lane = Mux(j < fill, acc[j], lane)
            m.d.comb += joined[j * w : (j + 1) * w].eq(lane)
        total = Signal(range(2 * n))
        m.d.comb += total.eq(fill + self.in_count)
        full = total >= n
        m.d.comb += [
            self.out_items.eq(joined[: n * w]),
            self.out_valid.eq(full | (self.flush & (total != 0))),
            self.out_count.eq(Mux(full, n, total)),
            self.held.eq(Mux(full, total - n, Mux(self.flush, 0, total))),
        ]
        with m.If(self.en):
            m.d.sync += fill.eq(self.held)
            m.d.sync += acc.eq(Mux(full, joined[n * w :], joined[: n * w]))
        return m
