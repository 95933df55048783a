"""One partition step of quick-select: the two comparator arrays and the equal counter."""

from amaranth import Module, Shape
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from sparsa.hw.topk.compaction import PrefixSum, ZeroEliminator

__all__ = ["PartitionStep"]


class PartitionStep(wiring.Component):
    """Split up to C candidates around a pivot, keeping arrival order (combinational).

    The first ``valid_count`` lanes of ``values`` are candidates. Those greater than ``pivot``
    (one comparator array) and those less than it (the other) each leave compacted by a zero
    eliminator, ready for their partition FIFO; those equal to it are only counted.

    Parameters
    ----------
    comparators : int
        C, lanes per step (power of two).
    value_shape : amaranth Shape
        Signed or unsigned shape of a value.

    Members
    -------
    pivot : In(value_shape)
    values : In(ArrayLayout(value_shape, C))
    valid_count : In(range(C + 1))
    greater, less : Out(ArrayLayout(value_shape, C))
        Compacted partitions; lanes at or above their count hold zero.
    greater_count, less_count, equal_count : Out(range(C + 1))
    """

    def __init__(self, *, comparators: int, value_shape: Shape) -> None:
        if not isinstance(comparators, int) or comparators < 1 or comparators & (comparators - 1):
            raise ValueError(f"comparators must be a power of two >= 1, not {comparators!r}")
        self._comparators = comparators
        self._value_shape = Shape.cast(value_shape)
        layout = data.ArrayLayout(self._value_shape, comparators)
        count = range(comparators + 1)
        super().__init__({
            "pivot": In(self._value_shape),
            "values": In(layout),
            "valid_count": In(count),
            "greater": Out(layout),
            "less": Out(layout),
            "greater_count": Out(count),
            "less_count": Out(count),
            "equal_count": Out(count),
        })

    @property
    def comparators(self) -> int:
        return self._comparators

    @property
    def value_shape(self) -> Shape:
        return self._value_shape

    def elaborate(self, platform: object) -> Module:
        m = Module()
        c, width = self._comparators, self._value_shape.width
        m.submodules.gt_eliminator = gt = ZeroEliminator(c, width)
        m.submodules.lt_eliminator = lt = ZeroEliminator(c, width)
        m.submodules.eq_counter = eq = PrefixSum(c)
        for i in range(c):
            valid = i < self.valid_count
            value = self.values[i]
            m.d.comb += [
                gt.keep[i].eq(valid & (value > self.pivot)),
                lt.keep[i].eq(valid & (value < self.pivot)),
                eq.flags[i].eq(valid & (value == self.pivot)),
            ]
        m.d.comb += [
            gt.items.eq(self.values),
            lt.items.eq(self.values),
            self.greater.eq(gt.out),
            self.less.eq(lt.out),
            self.greater_count.eq(gt.count),
            self.less_count.eq(lt.count),
            self.equal_count.eq(eq.total),
        ]
        return m
