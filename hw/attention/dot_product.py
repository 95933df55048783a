"""The attention core's two multiplier arrays: Q x K scores and the prob x V accumulation.

Both have E x D multipliers (E = ``config.lanes``), as SpAtten's broadcast-multiply-reduce
arrays: the Q x K array broadcasts Q to E key rows and reduces each row with a D-input adder
tree (E scores per beat); the prob x V array broadcasts each of E probabilities to its V row
and reduces the E products of every element with an E-input adder tree into D accumulators.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.attention.bit_converter import full_rows_layout, key_rows_layout
from sparsa.hw.attention.layouts import CoreBlock, prob_rows_layout, score_shift_width
from sparsa.hw.common.fixed_point import round_shift, saturate, tree_sum
from sparsa.hw.common.registers import beat_counter, delay_line

__all__ = [
    "PV_LATENCY",
    "QK_LATENCY",
    "ProbValueArray",
    "ScoreArray",
    "score_rows_layout",
    "score_shift_width",
    "value_rows_layout",
]

QK_LATENCY = 2
"""Cycles from a key beat at the Q x K array's input to its scores at the output."""
PV_LATENCY = 2
"""Cycles from a V beat at the prob x V array's input to its sum in the accumulators."""


def score_rows_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """E scores (S-bit signed) and the number of valid ones."""
    return data.StructLayout(
        {
            "scores": data.ArrayLayout(signed(config.attention.score_bits), config.lanes),
            "count": range(config.lanes + 1),
        }
    )


def value_rows_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """E probabilities with their full-precision V rows; the first ``count`` pairs are valid."""
    return data.StructLayout(
        {**dict(prob_rows_layout(config).members), "values": full_rows_layout(config)}
    )


class ScoreArray(CoreBlock):
    """E scores per beat: q . k_r for E full-precision key rows, shifted, rounded, saturated.

    Stage 1 registers the E x D products, stage 2 the scores: the D-input adder tree's exact
    sum (``qk_acc_width`` bits, :func:`sparsa.models.golden.attention.qk_scores`) shifted right
    by the run-time ``shift`` with rounding half up, saturated to S-bit signed. Fully pipelined, one
    beat per cycle, :data:`QK_LATENCY` cycles, no back-pressure; a beat's ``count`` (its valid
    rows) travels with it.

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    i_stream : In(stream.Signature(key_rows_layout(config), always_ready=True))
    query : In(data.ArrayLayout(signed(T), D))
        Held for the whole query.
    shift : In(score_shift_width(config))
        Held for the whole query.
    o_stream : Out(stream.Signature(score_rows_layout(config), always_ready=True))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(key_rows_layout(cfg), always_ready=True)),
            "query": In(data.ArrayLayout(signed(cfg.attention.total_bits), cfg.dim)),
            "shift": In(score_shift_width(cfg)),
            "o_stream": Out(stream.Signature(score_rows_layout(cfg), always_ready=True)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        T, D, E = cfg.attention.total_bits, cfg.dim, cfg.lanes
        beat, out = self.i_stream.payload, self.o_stream.payload
        valid = delay_line(m, self.i_stream.valid, QK_LATENCY, name="valid")
        count = delay_line(m, beat.count, QK_LATENCY, name="count")
        m.d.comb += [self.o_stream.valid.eq(valid[-1]), out.count.eq(count[-1])]
        for r in range(E):
            products = [Signal(signed(2 * T), name=f"product_{r}_{d}") for d in range(D)]
            for d in range(D):
                m.d.sync += products[d].eq(beat.keys[r][d] * self.query[d])
            dot = tree_sum(products)
            score = Signal(signed(cfg.attention.score_bits), name=f"score_{r}")
            m.d.sync += score.eq(saturate(round_shift(dot, self.shift), cfg.attention.score_bits))
            m.d.comb += out.scores[r].eq(score)
        return m


class ProbValueArray(CoreBlock):
    """D accumulators of sum_i p_i * v_i over E (probability, V row) pairs per beat.

    Stage 1 registers, for every element d, the E-input adder tree's sum of p_r * v_r[d] over
    the beat's first ``count`` rows (the others contribute zero); stage 2 adds it into the
    accumulators of ``pv_acc_width`` signed bits (exact for n <= max_tokens, as
    :func:`sparsa.models.golden.attention.prob_times_v`). ``clear`` zeroes the accumulators and
    ``beats`` (it wins over a sum arriving in the same cycle). One beat per cycle, no
    back-pressure, :data:`PV_LATENCY` cycles.

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    i_stream : In(stream.Signature(value_rows_layout(config), always_ready=True))
    clear : In(1)
    acc : Out(data.ArrayLayout(signed(pv_acc_width), D))
    beats : Out(range(config.rows + 1))
        Beats added into the accumulators since the last ``clear``.
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(value_rows_layout(cfg), always_ready=True)),
            "clear": In(1),
            "acc": Out(data.ArrayLayout(signed(cfg.attention.pv_acc_width), cfg.dim)),
            "beats": Out(range(cfg.rows + 1)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        att, D, E = cfg.attention, cfg.dim, cfg.lanes
        beat = self.i_stream.payload
        partial_width = att.total_bits + att.prob_width + (E - 1).bit_length()
        (busy,) = delay_line(m, self.i_stream.valid, 1, name="busy")
        probs = [Mux(r < beat.count, beat.probs[r], 0) for r in range(E)]
        for d in range(D):
            partial = Signal(signed(partial_width), name=f"partial_{d}")
            m.d.sync += partial.eq(tree_sum([probs[r] * beat.values[r][d] for r in range(E)]))
            with m.If(self.clear):
                m.d.sync += self.acc[d].eq(0)
            with m.Elif(busy):
                m.d.sync += self.acc[d].eq(self.acc[d] + partial)
        beats = beat_counter(m, busy, restart=self.clear, limit=cfg.rows, name="summed")
        m.d.comb += self.beats.eq(beats)
        return m
