# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the prefix sum, the zero eliminator and the packer."""

import random

import pytest
from amaranth.sim import Simulator

from sparsa.hw.topk.compaction import Packer, PrefixSum, ZeroEliminator
from sparsa.models.golden.topk import zero_eliminate

SEED = 2026


def _run_comb(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("lanes", [1, 2, 8])
def test_prefix_sum_exhaustive(lanes):
    dut = PrefixSum(lanes)

    async def bench(ctx):
        for flags in range(1 << lanes):
            ctx.set(dut.flags, flags)
            bits = [(flags >> i) & 1 for i in range(lanes)]
            got = [ctx.get(dut.exclusive[i]) for i in range(lanes)]
            assert got == [sum(bits[:i]) for i in range(lanes)], f"flags={flags:#x}"
            assert ctx.get(dut.total) == sum(bits), f"flags={flags:#x}"

    _run_comb(dut, bench)


@pytest.mark.parametrize("lanes", [1, 2, 4, 16])
def test_zero_eliminator_matches_golden(lanes):
    rng = random.Random(SEED + lanes)
    width = 7
    dut = ZeroEliminator(lanes, width)
    patterns = [0, (1 << lanes) - 1, 1, 1 << (lanes - 1)]
    patterns += [rng.getrandbits(lanes) for _ in range(200)]

    async def bench(ctx):
        for keep in patterns:
            items = [rng.getrandbits(width) for _ in range(lanes)]
            flags = [bool((keep >> i) & 1) for i in range(lanes)]
            ctx.set(dut.keep, keep)
            ctx.set(dut.items, items)
            expect = zero_eliminate(items, flags).tolist()
            got = [ctx.get(dut.out[i]) for i in range(lanes)]
            msg = f"seed={SEED + lanes} keep={keep:#x} items={items}"
            assert ctx.get(dut.count) == len(expect), msg
            assert got[: len(expect)] == expect, msg
            assert got[len(expect) :] == [0] * (lanes - len(expect)), msg

    _run_comb(dut, bench)


@pytest.mark.parametrize("lanes", [1, 4, 8])
def test_packer_rows_and_flush(lanes):
    """Random bursts of 0..lanes items come out as full rows, then one flushed partial row."""
    seed = SEED * 3 + lanes
    rng = random.Random(seed)
    dut = Packer(lanes, 9)
    stream = []
    for _ in range(60):
        c = rng.randint(0, lanes)
        stream.append([rng.getrandbits(9) for _ in range(c)])
    pending: list[int] = [x for chunk in stream for x in chunk]
    rows: list[list[int]] = []

    async def bench(ctx):
        ctx.set(dut.en, 1)
        for i in range(len(stream) + 2):
            chunk = stream[i] if i < len(stream) else []
            ctx.set(dut.flush, i >= len(stream))
            ctx.set(dut.in_count, len(chunk))
            ctx.set(dut.in_items, chunk + [0] * (lanes - len(chunk)))
            if ctx.get(dut.out_valid):
                cnt = ctx.get(dut.out_count)
                rows.append([ctx.get(dut.out_items[j]) for j in range(cnt)])
            # A one-lane packer holds nothing and is purely combinational: no clock domain.
            await (ctx.tick() if lanes > 1 else ctx.delay(1e-8))

    sim = Simulator(dut)
    sim.add_clock(1e-8, if_exists=True)
    sim.add_testbench(bench)
    sim.run()
    flat = [x for r in rows for x in r]
    assert flat == pending, f"seed={seed}"
    assert all(len(r) == lanes for r in rows[:-1]), f"seed={seed}"
    assert 0 < len(rows[-1]) <= lanes, f"seed={seed}"


def test_parameters_are_validated():
    with pytest.raises(ValueError, match=r"lanes must be a power of two >= 1, not 3"):
        ZeroEliminator(3, 8)
    with pytest.raises(ValueError, match=r"item_width must be a positive integer, not 0"):
        Packer(4, 0)
    with pytest.raises(ValueError, match=r"lanes must be a power of two >= 1, not 0"):
        PrefixSum(0)
