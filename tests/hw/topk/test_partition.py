# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of one quick-select partition step."""

import random

import pytest
from amaranth import signed, unsigned
from amaranth.sim import Simulator

from sparsa.hw.topk.partition import PartitionStep

SEED = 77


@pytest.mark.parametrize(("comparators", "is_signed"), [(1, True), (4, False), (16, True)])
def test_partition_step_is_a_stable_split(comparators, is_signed):
    seed = SEED + comparators
    rng = random.Random(seed)
    width = 6
    lo, hi = (-32, 31) if is_signed else (0, 63)
    dut = PartitionStep(
        comparators=comparators, value_shape=signed(width) if is_signed else unsigned(width)
    )

    async def bench(ctx):
        for case in range(300):
            alphabet = [lo, hi, 0, 1] if case % 3 == 0 else None
            values = [rng.choice(alphabet) if alphabet else rng.randint(lo, hi)
                      for _ in range(comparators)]
            count = rng.randint(0, comparators)
            pivot = rng.choice(values) if case % 2 else rng.randint(lo, hi)
            ctx.set(dut.values, values)
            ctx.set(dut.valid_count, count)
            ctx.set(dut.pivot, pivot)
            live = values[:count]
            greater = [v for v in live if v > pivot]
            less = [v for v in live if v < pivot]
            msg = f"seed={seed} case={case} values={values} count={count} pivot={pivot}"
            assert ctx.get(dut.greater_count) == len(greater), msg
            assert ctx.get(dut.less_count) == len(less), msg
            assert ctx.get(dut.equal_count) == live.count(pivot), msg
            assert [ctx.get(dut.greater[i]) for i in range(len(greater))] == greater, msg
            assert [ctx.get(dut.less[i]) for i in range(len(less))] == less, msg

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def test_comparators_are_validated():
    with pytest.raises(ValueError, match=r"comparators must be a power of two >= 1, not 12"):
        PartitionStep(comparators=12, value_shape=unsigned(8))
