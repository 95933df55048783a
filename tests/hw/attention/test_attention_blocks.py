# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the attention core's sub-blocks against the golden functions.

Converter, fixed-point operators, Q x K array, exp unit + divider (the whole softmax), the
requant decision and the prob x V array. Every random case comes from a seeded generator; the
seed is in the failure messages.
"""

import random

import pytest
import torch
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig, KeyPlanes
from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.hw.attention.bit_converter import BitConverter
from sparsa.hw.attention.divider import ProbDivider, divider_latency
from sparsa.hw.attention.dot_product import PV_LATENCY, QK_LATENCY, ProbValueArray, ScoreArray
from sparsa.hw.attention.softmax import EXP_LATENCY, ExpUnit, requant_needed
from sparsa.hw.common.fixed_point import round_shift, saturate, sign_extend, tree_sum
from sparsa.models.golden.attention import (
    fixed_softmax,
    msb_only,
    qk_scores,
    reassemble,
    split_planes,
)

CONFIG = ATTENTION_CONFIGS["d32-m64-n64"]
# Narrow formats: a 4-entry exp table, 6-bit probabilities, one lane.
NARROW = AttentionCoreConfig(
    attention=AttentionConfig(
        dim=32,
        msb_bits=6,
        score_bits=8,
        score_frac_bits=2,
        log2e_frac_bits=12,
        exp_lut_bits=2,
        exp_frac_bits=12,
        prob_bits=6,
        out_bits=8,
        max_tokens=40,
    ),
    multipliers=32,
)


def run(dut, bench, *, clocked: bool = True) -> None:
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def signed_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def rand_signed(rng: random.Random, width: int) -> int:
    return rng.randint(*signed_range(width))


def test_fixed_point_operators_match_the_golden_rules():
    seed = 11
    rng = random.Random(seed)
    m = Module()
    x = Signal(signed(20))
    shift = Signal(5)
    lane = Signal(12)
    sign, mask = Signal(12), Signal(12)
    rounded, clamped, extended = Signal(signed(20)), Signal(signed(7)), Signal(signed(12))
    terms = [Signal(signed(9), name=f"t{i}") for i in range(5)]
    total = Signal(signed(12))
    m.d.comb += [
        rounded.eq(round_shift(x, shift)),
        clamped.eq(saturate(x, 7)),
        extended.eq(sign_extend(lane, sign, mask)),
        total.eq(tree_sum(terms)),
    ]

    async def bench(ctx):
        for case in range(400):
            xv, sv = rand_signed(rng, 20), rng.randint(0, 21)
            lv, wv = rng.getrandbits(12), rng.randint(2, 12)
            tv = [rand_signed(rng, 9) for _ in terms]
            ctx.set(x, xv)
            ctx.set(shift, sv)
            ctx.set(lane, lv)
            ctx.set(sign, 1 << (wv - 1))
            ctx.set(mask, (1 << wv) - 1)
            for t, v in zip(terms, tv, strict=True):
                ctx.set(t, v)
            msg = f"seed={seed} case={case} x={xv} shift={sv} lane={lv} width={wv}"
            want_round = (xv + (1 << (sv - 1))) >> sv if sv else xv
            assert ctx.get(rounded) == want_round, msg
            assert ctx.get(clamped) == max(-64, min(63, xv)), msg
            low = lv & ((1 << wv) - 1)
            assert ctx.get(extended) == low - ((low >> (wv - 1)) << wv), msg
            assert ctx.get(total) == sum(tv), msg

    run(m, bench, clocked=False)
    assert round_shift(x, 0) is x
    with pytest.raises(ValueError, match="shift must be >= 0, not -1"):
        round_shift(x, -1)
    with pytest.raises(ValueError, match="tree_sum needs at least one value"):
        tree_sum([])


@pytest.mark.parametrize("config", [CONFIG, NARROW], ids=["d32-e2", "narrow"])
def test_bit_converter_reassembles_the_planes(config):
    seed = 21 + config.lanes
    rng = random.Random(seed)
    dut = BitConverter(config)
    E, D, lane_bits = config.lanes, config.dim, config.attention.msb_bits

    async def bench(ctx):
        for case in range(30):
            b = rng.choice(config.msb_settings)
            golden = config.golden(b)
            keys = torch.tensor([[rand_signed(rng, b + 4) for _ in range(D)] for _ in range(E)])
            msb, lsb = split_planes(keys, golden)
            # The lanes' bits above the setting are junk: the converter must ignore them.
            lanes = [
                [((int(v) & ((1 << b) - 1)) | (rng.getrandbits(lane_bits) >> b << b)) for v in row]
                for row in msb
            ]
            lanes = [
                [v - (1 << lane_bits) if v >> (lane_bits - 1) else v for v in row] for row in lanes
            ]
            with_lsb = rng.random() < 0.5
            count = rng.randint(0, E)
            beat = dut.i_stream.payload
            ctx.set(beat.msb, lanes)
            ctx.set(beat.lsb, lsb.tolist())
            ctx.set(beat.planes, KeyPlanes.FULL if with_lsb else KeyPlanes.MSB)
            ctx.set(beat.count, count)
            ctx.set(dut.i_stream.valid, case % 2)
            ctx.set(dut.msb_bits, b)
            want = reassemble(msb, lsb, golden) if with_lsb else msb_only(msb, golden)
            out = dut.o_stream.payload
            got = [[ctx.get(out.keys[r][d]) for d in range(D)] for r in range(E)]
            msg = f"seed={seed} case={case} b={b} lsb={with_lsb}"
            assert got == want.tolist(), msg
            assert ctx.get(out.count) == count and ctx.get(dut.o_stream.valid) == case % 2, msg

    run(dut, bench, clocked=False)


@pytest.mark.parametrize("config", [CONFIG, NARROW], ids=["d32-e2", "narrow"])
def test_score_array_matches_qk_scores(config):
    seed = 31 + config.lanes
    rng = random.Random(seed)
    dut = ScoreArray(config)
    E, D = config.lanes, config.dim
    beats = []
    for _ in range(12):
        b = rng.choice(config.msb_settings)
        golden = config.golden(b)
        T = b + 4
        extreme = rng.random() < 0.3
        q = [rng.choice(signed_range(T)) if extreme else rand_signed(rng, T) for _ in range(D)]
        k = [
            [rng.choice(signed_range(T)) if extreme else rand_signed(rng, T) for _ in range(D)]
            for _ in range(E)
        ]
        shift = rng.randint(0, golden.qk_acc_width)
        want = qk_scores(torch.tensor(q), torch.tensor(k), golden, score_shift=shift).tolist()
        beats.append((q, k, shift, rng.randint(0, E), want))

    async def bench(ctx):
        # The query and shift are held per beat here, so every beat stays alone in the array.
        for i, (q, k, shift, count, want) in enumerate(beats):
            ctx.set(dut.query, q)
            ctx.set(dut.shift, shift)
            ctx.set(dut.i_stream.payload.keys, k)
            ctx.set(dut.i_stream.payload.count, count)
            ctx.set(dut.i_stream.valid, 1)
            await ctx.tick()
            ctx.set(dut.i_stream.valid, 0)
            for _ in range(QK_LATENCY - 1):
                assert not ctx.get(dut.o_stream.valid)
                await ctx.tick()
            msg = f"seed={seed} beat={i} shift={shift}"
            out = dut.o_stream.payload
            assert ctx.get(dut.o_stream.valid), msg
            assert ctx.get(out.count) == count, msg
            assert [ctx.get(out.scores[r]) for r in range(E)] == want, msg
            await ctx.tick()
            assert not ctx.get(dut.o_stream.valid), msg

    run(dut, bench)


def _score_vectors(rng: random.Random, config: AttentionCoreConfig, count: int) -> list[list]:
    """Random score vectors: uniform, ties, extremes, and one dominant score."""
    att = config.attention
    lo, hi = signed_range(att.score_bits)
    vectors = []
    for i in range(count):
        n = rng.choice((1, 2, rng.randint(3, att.max_tokens), att.max_tokens))
        kind = i % 4
        if kind == 0:
            s = [rng.randint(lo, hi) for _ in range(n)]
        elif kind == 1:
            alphabet = [rng.randint(lo, hi) for _ in range(3)]
            s = [rng.choice(alphabet) for _ in range(n)]
        elif kind == 2:
            s = [rng.choice((lo, hi)) for _ in range(n)]
        else:
            base = rng.randint(lo, hi - 64)
            s = [base + rng.randint(0, 8) for _ in range(n)]
            s[rng.randrange(n)] = hi
        vectors.append(s)
    return vectors


@pytest.mark.parametrize("config", [CONFIG, NARROW], ids=["d32-e2", "narrow"])
def test_exp_unit_and_divider_compute_fixed_softmax(config):
    """Terms from the exp unit, summed, divided: the golden probabilities, with stalls."""
    seed = 41 + config.lanes
    rng = random.Random(seed)
    E = config.lanes
    m = Module()
    m.submodules.exp = exp = ExpUnit(config, tag=8)
    m.submodules.div = div = ProbDivider(config, tag=8)
    vectors = _score_vectors(rng, config, 16)

    async def stream(ctx, unit, inputs):
        """Push ``inputs`` (lists of E lanes) through ``unit`` with the output ready at random
        (the pipeline moves only then); return the outputs by tag and the cycles it moved."""
        i, o = unit.i_stream, unit.o_stream
        lanes_in = "scores" if unit is exp else "terms"
        lanes_out = "terms" if unit is exp else "probs"
        outputs, sent, cycles = {}, 0, 0
        while len(outputs) < len(inputs):
            ready = rng.random() < 0.7
            ctx.set(o.ready, ready)
            ctx.set(i.valid, sent < len(inputs))
            if sent < len(inputs):
                ctx.set(i.payload[lanes_in], inputs[sent])
                ctx.set(i.payload.tag, sent)
            assert ctx.get(i.ready) == ready
            if ready and ctx.get(o.valid):
                lanes = o.payload[lanes_out]
                outputs[ctx.get(o.payload.tag)] = [ctx.get(lanes[r]) for r in range(E)]
            if ready and sent < len(inputs):
                sent += 1
            await ctx.tick()
            cycles += ready
        return outputs, cycles

    async def bench(ctx):
        for i, s in enumerate(vectors):
            msg = f"seed={seed} vector={i} scores={s}"
            n = len(s)
            padded = s + [s[0]] * (-n % E)
            beats = [padded[j : j + E] for j in range(0, len(padded), E)]
            ctx.set(exp.max, max(s))
            terms, cycles = await stream(ctx, exp, beats)
            assert cycles == len(beats) + EXP_LATENCY, msg
            flat = [x for j in range(len(beats)) for x in terms[j]][:n]
            assert flat[s.index(max(s))] == 1 << config.attention.exp_frac_bits, msg
            ctx.set(div.total, sum(flat))
            term_beats = [list(terms[j]) for j in range(len(beats))]
            probs, cycles = await stream(ctx, div, term_beats)
            assert cycles == len(beats) + divider_latency(config), msg
            got = [p for j in range(len(beats)) for p in probs[j]][:n]
            assert got == fixed_softmax(torch.tensor(s), config.attention).tolist(), msg

    run(m, bench)


@pytest.mark.parametrize("config", [CONFIG, NARROW], ids=["d32-e2", "narrow"])
def test_requant_decision_from_the_sum(config):
    """requant_needed(sum, t) is max prob < t, the maximum probability being the one of the
    term 2**W (the exp unit test checks that the maximum's term is 2**W)."""
    seed = 51 + config.lanes
    rng = random.Random(seed)
    att = config.attention
    W, P = att.exp_frac_bits, att.prob_bits
    m = Module()
    total = Signal(att.exp_sum_width)
    threshold = Signal(att.prob_width)
    decision = Signal()
    m.d.comb += decision.eq(requant_needed(config, total, threshold))
    top = 1 << P
    sums = [1 << W, (1 << att.exp_sum_width) - 1]
    sums += [rng.randint(1 << W, (1 << att.exp_sum_width) - 1) for _ in range(60)]
    sums += [rng.randint(1 << W, 3 << W) for _ in range(60)]

    async def bench(ctx):
        for s in sums:
            p_max = ((1 << (W + P + 1)) + s) // (2 * s)
            for t in {0, top, p_max, min(top, p_max + 1), max(0, p_max - 1), rng.randint(0, top)}:
                ctx.set(total, s)
                ctx.set(threshold, t)
                assert ctx.get(decision) == (p_max < t), f"seed={seed} sum={s} threshold={t}"

    run(m, bench, clocked=False)


def test_divider_extremes():
    """x = sum (probability 1), x = 0, one ulp around ties, at the largest sum."""
    config = NARROW
    att = config.attention
    P = att.prob_bits
    largest = (1 << att.exp_sum_width) - 1
    cases = [
        (0, 1 << att.exp_frac_bits),
        (1 << att.exp_frac_bits, 1 << att.exp_frac_bits),
        (1 << att.exp_frac_bits, largest),
        (1, largest),
        (0, largest),
    ]
    rng = random.Random(61)
    for _ in range(40):
        total = rng.randint(1 << att.exp_frac_bits, largest)
        cases.append((rng.randint(0, min(total, 1 << att.exp_frac_bits)), total))
    dut = ProbDivider(config, tag=1)

    async def bench(ctx):
        ctx.set(dut.o_stream.ready, 1)
        for x, total in cases:
            ctx.set(dut.i_stream.payload.terms, [x])
            ctx.set(dut.total, total)
            ctx.set(dut.i_stream.valid, 1)
            await ctx.tick()
            ctx.set(dut.i_stream.valid, 0)
            await ctx.tick().repeat(divider_latency(config) - 1)
            assert ctx.get(dut.o_stream.valid)
            want = (x * (1 << (P + 1)) + total) // (2 * total)
            got = ctx.get(dut.o_stream.payload.probs[0])
            assert got == want, f"seed=61 x={x} sum={total}"

    run(dut, bench)


@pytest.mark.parametrize("config", [CONFIG, NARROW], ids=["d32-e2", "narrow"])
def test_prob_value_array_accumulates_the_kept_rows(config):
    seed = 71 + config.lanes
    rng = random.Random(seed)
    dut = ProbValueArray(config)
    att, E, D = config.attention, config.lanes, config.dim
    T = att.total_bits

    async def bench(ctx):
        beat = dut.i_stream.payload
        for query in range(6):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            assert ctx.get(dut.beats) == 0
            want = [0] * D
            extreme = query % 2 == 1
            sent = rng.randint(1, 8)
            for _ in range(sent):
                probs = [
                    (1 << att.prob_bits) if extreme else rng.randint(0, 1 << att.prob_bits)
                    for _ in range(E)
                ]
                rows = [
                    [
                        rng.choice(signed_range(T)) if extreme else rand_signed(rng, T)
                        for _ in range(D)
                    ]
                    for _ in range(E)
                ]
                count = rng.randint(0, E)
                for r in range(count):
                    for d in range(D):
                        want[d] += probs[r] * rows[r][d]
                ctx.set(beat.probs, probs)
                ctx.set(beat.values, rows)
                ctx.set(beat.count, count)
                ctx.set(dut.i_stream.valid, 1)
                await ctx.tick()
                ctx.set(dut.i_stream.valid, 0)
                if rng.random() < 0.5:
                    await ctx.tick()
            await ctx.tick().repeat(PV_LATENCY - 1)
            assert ctx.get(dut.beats) == sent, f"seed={seed} query={query}"
            got = [ctx.get(dut.acc[d]) for d in range(D)]
            assert got == want, f"seed={seed} query={query}"

    run(dut, bench)
