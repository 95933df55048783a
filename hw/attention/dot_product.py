"""The attention core's two multiplier arrays: Q x K scores and the prob x V accumulation.

Both have E x D multipliers (E = ``config.lanes``), as SpAtten's broadcast-multiply-reduce
arrays: the Q x K array broadcasts Q to E key rows and reduces each row with a D-input adder
tree (E scores per beat); the prob x V array broadcasts each of E probabilities to its V row
and reduces the E products of every element with an E-input adder tree into D accumulators.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.hw.common.fixed_point import round_shift, saturate, tree_sum

__all__ = [
    "PV_LATENCY",
    "QK_LATENCY",
    "ProbValueArray",
    "ScoreArray",
    "score_shift_width",
]

QK_LATENCY = 2
"""Cycles from a key beat at the Q x K array's input to its scores at the output."""
PV_LATENCY = 2
"""Cycles from a V beat at the prob x V array's input to its sum in the accumulators."""


def score_shift_width(config: AttentionCoreConfig) -> int:
    """Bits of the run-time score shift: enough for the widest setting's 2T + log2(D)."""
    return config.attention.qk_acc_width.bit_length()


class ScoreArray(wiring.Component):
    """E scores per beat: q . k_r for E full-precision key rows, shifted, rounded, saturated.

    Stage 1 registers the E x D products, stage 2 the scores: the D-input adder tree's exact
    sum (``qk_acc_width`` bits, :func:`sparsa.models.golden.attention.qk_scores`) shifted right by the
    run-time ``shift`` with rounding half up, saturated to S-bit signed. Fully pipelined, one
    beat per cycle, :data:`QK_LATENCY` cycles; ``count`` (the valid rows of the beat) travels
    with it.

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    valid : In(1)
    keys : In(signed(T)).array(E, D)
        Lane d of key row r is ``keys[r][d]``.
    count : In(range(E + 1))
    query : In(signed(T)).array(D)
        Held for the whole query.
    shift : In(score_shift_width(config))
        Held for the whole query.
    out_valid : Out(1)
    scores : Out(signed(S)).array(E)
    out_count : Out(range(E + 1))
    """

    def __init__(self, config: AttentionCoreConfig) -> None:
        check_core_config(config)
        self._config = config
        att = config.attention
        T, E = signed(att.total_bits), config.lanes
        super().__init__(
            {
                "valid": In(1),
                "keys": In(T).array(E, config.dim),
                "count": In(range(E + 1)),
                "query": In(T).array(config.dim),
                "shift": In(score_shift_width(config)),
                "out_valid": Out(1),
                "scores": Out(signed(att.score_bits)).array(E),
                "out_count": Out(range(E + 1)),
            }
        )

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        T, D, E = cfg.attention.total_bits, cfg.dim, cfg.lanes
        valid1 = Signal()
        count1 = Signal(range(E + 1))
        m.d.sync += [
            valid1.eq(self.valid),
            count1.eq(self.count),
            self.out_valid.eq(valid1),
            self.out_count.eq(count1),
        ]
        for r in range(E):
            products = [Signal(signed(2 * T), name=f"product_{r}_{d}") for d in range(D)]
            for d in range(D):
                m.d.sync += products[d].eq(self.keys[r][d] * self.query[d])
            dot = tree_sum(products)
            score = saturate(round_shift(dot, self.shift), cfg.attention.score_bits)
            m.d.sync += self.scores[r].eq(score)
        return m


class ProbValueArray(wiring.Component):
    """D accumulators of sum_i p_i * v_i over E (probability, V row) pairs per beat.

    Stage 1 registers, for every element d, the E-input adder tree's sum of p_r * v_r[d] over
    the beat's first ``count`` rows (the others contribute zero); stage 2 adds it into the
    accumulators of ``pv_acc_width`` signed bits (exact for n <= max_tokens, as
    :func:`sparsa.models.golden.attention.prob_times_v`). ``clear`` zeroes the accumulators (it wins
    over a sum arriving in the same cycle). One beat per cycle, :data:`PV_LATENCY` cycles.

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    clear : In(1)
    valid : In(1)
    probs : In(unsigned(P + 1)).array(E)
    values : In(signed(T)).array(E, D)
        Lane d of V row r is ``values[r][d]``.
    count : In(range(E + 1))
    busy : Out(1)
        A beat is in stage 1 (not yet in the accumulators).
    acc : Out(signed(pv_acc_width)).array(D)
    """

    def __init__(self, config: AttentionCoreConfig) -> None:
        check_core_config(config)
        self._config = config
        att, E = config.attention, config.lanes
        super().__init__(
            {
                "clear": In(1),
                "valid": In(1),
                "probs": In(att.prob_width).array(E),
                "values": In(signed(att.total_bits)).array(E, config.dim),
                "count": In(range(E + 1)),
                "busy": Out(1),
                "acc": Out(signed(att.pv_acc_width)).array(config.dim),
            }
        )

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        att, D, E = cfg.attention, cfg.dim, cfg.lanes
        partial_width = att.total_bits + att.prob_width + (E - 1).bit_length()
        m.d.sync += self.busy.eq(self.valid)
        probs = [Mux(r < self.count, self.probs[r], 0) for r in range(E)]
        for d in range(D):
            partial = Signal(signed(partial_width), name=f"partial_{d}")
            m.d.sync += partial.eq(tree_sum([probs[r] * self.values[r][d] for r in range(E)]))
            with m.If(self.clear):
                m.d.sync += self.acc[d].eq(0)
            with m.Elif(self.busy):
                m.d.sync += self.acc[d].eq(self.acc[d] + partial)
        return m
