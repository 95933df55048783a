# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of :mod:`sparsa.hw.common.streams`, :mod:`sparsa.hw.common.gearbox`,
:mod:`sparsa.hw.common.registers` and :mod:`sparsa.hw.common.component`.

Every stream block runs under random idle sources and back-pressured sinks (seeded; the seed
is in the failure messages) and must deliver every beat, in order, within its stated latency.
"""

import random

import pytest
from amaranth import ClockDomain, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from sparsa.config.dram_layout import pack_rows, unpack_rows
from sparsa.hw.common.component import ConfigComponent
from sparsa.hw.common.gearbox import StreamPacker, StreamUnpacker, words_for_rows
from sparsa.hw.common.registers import delay_line
from sparsa.hw.common.streams import (
    RegisterSlice,
    StreamDemux,
    StreamFIFO,
    StreamFork,
    StreamJoin,
    connect_mapped,
    transfer,
)

PAIR = data.StructLayout({"a": 8, "b": 4})


def simulate(dut, *benches) -> None:
    """Run ``benches`` on ``dut`` with a clock (a ``sync`` domain even for combinational
    blocks, so the testbenches can count cycles)."""
    top = Module()
    top.submodules.dut = dut
    top.domains.sync = ClockDomain()
    sim = Simulator(top)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench)
    sim.run()


def source(port, beats, rng, idle: float):
    """A testbench offering ``beats`` on ``port``, idling with probability ``idle``."""

    async def bench(ctx):
        for beat in beats:
            while rng.random() < idle:
                await ctx.tick()
            ctx.set(port.valid, 1)
            ctx.set(port.payload, beat)
            await ctx.tick().until(port.ready)
            ctx.set(port.valid, 0)

    return bench


def sink(port, count, rng, busy: float, got: list, cycles: list | None = None):
    """A testbench taking ``count`` beats from ``port`` into ``got``, refusing with
    probability ``busy``; ``cycles`` gets the cycle of each transfer."""
    return sinks([port], count, rng, busy, [got], None if cycles is None else [cycles])


def sinks(ports, count, rng, busy: float, gots: list, cycles: list | None = None):
    """:func:`sink` for several ports in one testbench, which sets every ready before it reads
    any valid (a lazy fork's valid depends on the other outputs' ready)."""

    async def bench(ctx):
        cycle = 0
        while min(len(got) for got in gots) < count:
            readies = [rng.random() >= busy for _ in ports]
            for port, ready in zip(ports, readies, strict=True):
                ctx.set(port.ready, ready)
            for k, (port, ready) in enumerate(zip(ports, readies, strict=True)):
                if ready and ctx.get(port.valid):
                    gots[k].append(ctx.get(port.payload))
                    if cycles is not None:
                        cycles[k].append(cycle)
            await ctx.tick()
            cycle += 1
            assert cycle < 100 * count + 100, f"only {[len(g) for g in gots]} of {count} beats"
        for port in ports:
            ctx.set(port.ready, 0)

    return bench


def pairs(rng, count):
    return [{"a": rng.getrandbits(8), "b": rng.getrandbits(4)} for _ in range(count)]


def as_dicts(values):
    return [{"a": v.a, "b": v.b} for v in values]


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("idle,busy", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.6), (0.3, 0.5)])
def test_fifo_keeps_order_under_stalls(buffered, idle, busy):
    seed = 3 + int(buffered) + int(10 * idle) + int(100 * busy)
    rng = random.Random(seed)
    dut = StreamFIFO(PAIR, 3, buffered=buffered)
    beats, got = pairs(rng, 60), []
    simulate(
        dut,
        source(dut.i_stream, beats, rng, idle),
        sink(dut.o_stream, len(beats), rng, busy, got),
    )
    assert as_dicts(got) == beats, f"seed={seed}"


def test_fifo_latency_level_and_depth():
    dut = StreamFIFO(8, 2)
    assert dut.depth == 2

    async def bench(ctx):
        ctx.set(dut.i_stream.valid, 1)
        ctx.set(dut.i_stream.payload, 5)
        assert ctx.get(dut.i_stream.ready) and not ctx.get(dut.o_stream.valid)
        await ctx.tick()
        ctx.set(dut.i_stream.payload, 6)
        assert ctx.get(dut.o_stream.valid) and ctx.get(dut.o_stream.payload) == 5
        await ctx.tick()
        ctx.set(dut.i_stream.valid, 0)
        assert ctx.get(dut.level) == 2 and not ctx.get(dut.i_stream.ready)

    simulate(dut, bench)
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        StreamFIFO(8, 0)


@pytest.mark.parametrize("idle,busy", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.3, 0.3)])
def test_register_slice_passes_every_beat(idle, busy):
    seed = 17 + int(10 * idle) + int(100 * busy)
    rng = random.Random(seed)
    dut = RegisterSlice(PAIR)
    beats, got, cycles = pairs(rng, 50), [], []
    simulate(
        dut,
        source(dut.i_stream, beats, rng, idle),
        sink(dut.o_stream, len(beats), rng, busy, got, cycles),
    )
    assert as_dicts(got) == beats, f"seed={seed}"
    if idle == busy == 0:  # one beat per cycle after one cycle of latency
        assert cycles == list(range(1, len(beats) + 1))


def test_register_slice_ready_is_empty_or_leaving():
    dut = RegisterSlice(8)

    async def bench(ctx):
        assert ctx.get(dut.i_stream.ready)  # empty
        ctx.set(dut.i_stream.valid, 1)
        ctx.set(dut.i_stream.payload, 9)
        await ctx.tick()
        ctx.set(dut.i_stream.valid, 0)
        assert ctx.get(dut.o_stream.valid) and ctx.get(dut.o_stream.payload) == 9
        assert not ctx.get(dut.i_stream.ready)  # full, not leaving
        ctx.set(dut.o_stream.ready, 1)
        assert ctx.get(dut.i_stream.ready)  # full, leaving
        await ctx.tick()
        assert not ctx.get(dut.o_stream.valid)

    simulate(dut, bench)


@pytest.mark.parametrize("lazy", [False, True])
def test_fork_gives_every_output_every_beat(lazy):
    seed = 23 + int(lazy)
    rng = random.Random(seed)
    dut = StreamFork(PAIR, 3, lazy=lazy)
    beats = pairs(rng, 40)
    got = [[] for _ in range(3)]
    cycles = [[] for _ in range(3)]
    simulate(
        dut,
        source(dut.i_stream, beats, rng, 0.3),
        sinks(list(dut.o_streams), len(beats), rng, 0.4, got, cycles),
    )
    for g in got:
        assert as_dicts(g) == beats, f"seed={seed}"
    if lazy:  # all outputs take a beat in the same cycle
        assert cycles[0] == cycles[1] == cycles[2], f"seed={seed}"


def test_eager_fork_lets_a_ready_output_take_the_beat_first():
    dut = StreamFork(8, 2)

    async def bench(ctx):
        ctx.set(dut.i_stream.valid, 1)
        ctx.set(dut.i_stream.payload, 7)
        ctx.set(dut.o_streams[0].ready, 1)
        assert ctx.get(dut.o_streams[0].valid) and ctx.get(dut.o_streams[1].valid)
        assert not ctx.get(dut.i_stream.ready)
        await ctx.tick()
        assert not ctx.get(dut.o_streams[0].valid) and ctx.get(dut.o_streams[1].valid)
        ctx.set(dut.o_streams[1].ready, 1)
        assert ctx.get(dut.i_stream.ready)
        await ctx.tick()
        ctx.set(dut.i_stream.payload, 8)
        assert ctx.get(dut.o_streams[0].valid) and ctx.get(dut.o_streams[1].valid)

    simulate(dut, bench)


def test_join_pairs_the_inputs_beat_by_beat():
    seed = 29
    rng = random.Random(seed)
    dut = StreamJoin({"x": 8, "y": PAIR})
    xs, ys = [rng.getrandbits(8) for _ in range(40)], pairs(rng, 40)
    got = []
    simulate(
        dut,
        source(dut.i_x, xs, rng, 0.4),
        source(dut.i_y, ys, rng, 0.2),
        sink(dut.o_stream, len(xs), rng, 0.3, got),
    )
    assert [g.x for g in got] == xs, f"seed={seed}"
    assert as_dicts([g.y for g in got]) == ys, f"seed={seed}"


def test_demux_routes_by_select():
    seed = 31
    rng = random.Random(seed)
    dut = StreamDemux(8, 2)
    beats = [rng.getrandbits(8) for _ in range(60)]
    routed = [[], []]

    async def bench(ctx):
        for beat in beats:
            select = beat & 1
            ctx.set(dut.select, select)
            ctx.set(dut.i_stream.valid, 1)
            ctx.set(dut.i_stream.payload, beat)
            ready = rng.random() < 0.6
            ctx.set(dut.o_streams[select].ready, ready)
            assert not ctx.get(dut.o_streams[1 - select].valid)
            while not ctx.get(dut.i_stream.ready):
                await ctx.tick()
                ctx.set(dut.o_streams[select].ready, 1)
            routed[select].append(ctx.get(dut.o_streams[select].payload))
            await ctx.tick()
            ctx.set(dut.o_streams[select].ready, 0)

    simulate(dut, bench)
    assert routed == [[b for b in beats if not b & 1], [b for b in beats if b & 1]]


class Swap(wiring.Component):
    """Maps a PAIR stream to a 12-bit stream (b above a) through connect_mapped."""

    i_stream: In(stream.Signature(PAIR))
    o_stream: Out(stream.Signature(data.StructLayout({"low": 4, "high": 8})))

    def elaborate(self, platform):
        m = Module()
        connect_mapped(
            m,
            wiring.flipped(self.i_stream),
            wiring.flipped(self.o_stream),
            lambda beat: {"low": beat.b, "high": beat.a},
        )
        return m


def test_connect_mapped_maps_the_payload_and_passes_the_handshake():
    dut = Swap()

    async def bench(ctx):
        ctx.set(dut.i_stream.valid, 1)
        ctx.set(dut.i_stream.payload, {"a": 0xAB, "b": 0xC})
        ctx.set(dut.o_stream.ready, 1)
        assert ctx.get(dut.o_stream.valid) and ctx.get(dut.i_stream.ready)
        assert ctx.get(dut.o_stream.payload.high) == 0xAB
        assert ctx.get(dut.o_stream.payload.low) == 0xC
        assert ctx.get(transfer(dut.o_stream))

    simulate(dut, bench)


def test_constructors_check_their_counts():
    with pytest.raises(ValueError, match="count must be an integer of at least 2, not 1"):
        StreamFork(8, 1)
    with pytest.raises(ValueError, match="count must be an integer of at least 2, not 1"):
        StreamDemux(8, 1)
    with pytest.raises(ValueError, match="the number of inputs must be an integer of at least 2"):
        StreamJoin({"x": 8})


def test_delay_line_delays_and_holds():
    m = Module()
    value, en = Signal(4), Signal(init=1)
    chain = delay_line(m, value, 3, en=en, name="d")
    free = delay_line(m, value, 2, name="f")
    assert [s.name for s in chain] == ["d1", "d2", "d3"]

    async def bench(ctx):
        seen = []
        for cycle in range(8):
            ctx.set(value, cycle + 1)
            ctx.set(en, cycle not in (4, 5))
            await ctx.tick()
            seen.append((ctx.get(chain[-1]), ctx.get(free[-1])))
        # free: value two edges ago; chain: three enabled edges ago.
        assert [f for _, f in seen] == [0, 1, 2, 3, 4, 5, 6, 7]
        assert [c for c, _ in seen] == [0, 0, 1, 2, 2, 2, 3, 4]

    simulate(m, bench)
    with pytest.raises(ValueError, match="stages must be a positive integer, not 0"):
        delay_line(m, value, 0, name="x")


class Widget(ConfigComponent):
    _check_config = staticmethod(lambda c: None if isinstance(c, int) else _bad(c))

    def _members(self):
        return {"o": Out(self.config)}

    def elaborate(self, platform):
        return Module()


def _bad(config):
    raise TypeError(f"config must be an int, not {type(config).__name__}")


def test_config_component_checks_first_and_exposes_the_config():
    assert Widget(5).config == 5 and len(Widget(5).o) == 5
    with pytest.raises(TypeError, match="config must be an int, not str"):
        Widget("5")


# ---- gearboxes (sparsa.hw.common.gearbox) against the DRAM layout of sparsa.dataflow ----------

GEARS = [(64, 8), (64, 88), (32, 88), (512, 512), (512, 1000), (64, 24), (128, 40)]


def _transfers(rng, row_width, count):
    return [[rng.getrandbits(row_width) for _ in range(rng.choice([1, 2, 7, rng.randint(1, 40)]))]
            for _ in range(count)]


@pytest.mark.parametrize(("word_width", "row_width"), GEARS)
@pytest.mark.parametrize(("idle", "busy"), [(0.0, 0.0), (0.4, 0.5)])
def test_unpacker_cuts_each_transfer_into_its_rows(word_width, row_width, idle, busy):
    seed = word_width + row_width + int(10 * idle)
    rng = random.Random(seed)
    dut = StreamUnpacker(word_width, row_width, max_rows=64)
    transfers = _transfers(rng, row_width, 12)
    words = [w for rows in transfers for w in pack_rows(rows, row_width, word_width)]
    want = [{"data": r, "last": int(i == len(rows) - 1)}
            for rows in transfers for i, r in enumerate(rows)]
    got, cycles = [], []
    simulate(
        dut,
        source(dut.cmd, [len(rows) for rows in transfers], rng, idle),
        source(dut.i_stream, words, rng, idle),
        sink(dut.o_stream, len(want), rng, busy, got, cycles),
    )
    assert [{"data": g.data, "last": g.last} for g in got] == want, f"seed={seed}"
    if not idle and not busy:  # one row or one word per cycle, whichever is wider
        beats = max(len(words), len(want))
        assert cycles[-1] <= beats + 2 * len(transfers), f"seed={seed}: {cycles[-1]} cycles"


@pytest.mark.parametrize(("word_width", "row_width"), GEARS)
@pytest.mark.parametrize(("idle", "busy"), [(0.0, 0.0), (0.4, 0.5)])
def test_packer_lays_rows_out_as_the_dram_layout(word_width, row_width, idle, busy):
    seed = 2 * word_width + row_width + int(10 * idle)
    rng = random.Random(seed)
    dut = StreamPacker(word_width, row_width, max_rows=64)
    transfers = _transfers(rng, row_width, 12)
    rows = [{"data": r, "last": int(i == len(t) - 1)} for t in transfers for i, r in enumerate(t)]
    want = []
    for t in transfers:
        words = pack_rows(t, row_width, word_width)
        assert len(words) == words_for_rows(len(t), row_width, word_width)
        want += [{"data": w, "last": int(i == len(words) - 1)} for i, w in enumerate(words)]
    got, cycles = [], []
    simulate(dut, source(dut.i_stream, rows, rng, idle),
             sink(dut.o_stream, len(want), rng, busy, got, cycles))
    assert [{"data": g.data, "last": g.last} for g in got] == want, f"seed={seed}"
    if not idle and not busy:
        beats = max(len(rows), len(want))
        assert cycles[-1] <= beats + 2 * len(transfers), f"seed={seed}: {cycles[-1]} cycles"


def test_dram_layout_round_trips_and_refuses_wide_rows():
    rows = [5, 0, 7, 1]
    words = pack_rows(rows, 3, 8)
    assert words == [0b11_000_101, 0b0_001_1]  # 12 bits over two bytes, zero-padded
    assert unpack_rows(words, 3, 8, 4) == rows
    with pytest.raises(ValueError, match="row 1 = 9 does not fit 3 bits"):
        pack_rows([1, 9], 3, 8)
    with pytest.raises(ValueError, match="fewer than 6 rows"):
        unpack_rows(words, 3, 8, 6)
