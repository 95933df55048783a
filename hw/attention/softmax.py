"""The attention core's softmax pieces: the exp unit and the requant decision.

The exp unit computes SpAtten's softmax terms exactly as :func:`sparsa.models.golden.attention.
fixed_softmax` (steps 1 to 3); the sum (step 4) is accumulated by the core and the division
(step 5) is :class:`sparsa.hw.attention.divider.ProbDivider`.

The requant decision needs no division: the maximum score's term is exactly 2**W, so the
maximum probability is floor((2**(W+P+1) + sum) / (2 sum)), and it is below the threshold t iff
2**(W+P+1) + sum < 2 t sum (floor(a / b) < t iff a < t b for integers, b > 0). That is
:func:`sparsa.models.golden.attention.requant_decision` on the softmax's output, for every t from 0 to
2**P.
"""

from amaranth import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import exp_lut_table
from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.hw.common.fixed_point import round_shift

__all__ = ["EXP_LATENCY", "ExpUnit", "exp_term_width", "requant_needed"]

EXP_LATENCY = 3
"""Cycles (with ``en`` high) from scores at the exp unit's input to their terms at the output."""


def exp_term_width(config: AttentionCoreConfig) -> int:
    """Bits of an exp term: W + 1 (0 to 2**W)."""
    return config.attention.exp_frac_bits + 1


def requant_needed(config: AttentionCoreConfig, total: Value, threshold: Value) -> Value:
    """Whether max(probs) < ``threshold``, from the softmax's term sum ``total`` alone.

    2 t sum > 2**(W+P+1) + sum (see the module docstring); false for t = 0.
    """
    att = config.attention
    top = 1 << (att.exp_frac_bits + att.prob_bits + 1)
    return (threshold << 1) * total > top + total


class ExpUnit(wiring.Component):
    """E softmax terms per cycle: x = LUT[f] >> e (rounded) with y = (max - s) log2(e).

    Stage 1 registers the base-2 exponent y = ((max - s) K) >> (F + L - G), rounded half up;
    stage 2 splits it into e = min(y >> G, W + 2) and f = y mod 2**G and reads LUT[f]
    (:func:`sparsa.config.attention.exp_lut_table`, a ROM read port per lane); stage 3 registers the
    term, LUT[f] shifted right by e with rounding half up. Every stage advances only when ``en``
    is high (the whole unit then holds); ``tag`` travels with the scores.

    Parameters
    ----------
    config : AttentionCoreConfig
    tag_width : int
        Bits of the side-band ``tag``.

    Members
    -------
    en : In(1)
    valid : In(1)
    scores : In(signed(S)).array(E)
    max : In(signed(S))
        The largest score of the query, held while its terms are computed.
    tag : In(tag_width)
    out_valid : Out(1)
    terms : Out(unsigned(W + 1)).array(E)
    out_tag : Out(tag_width)
    """

    def __init__(self, config: AttentionCoreConfig, *, tag_width: int) -> None:
        check_core_config(config)
        if not isinstance(tag_width, int) or tag_width < 1:
            raise ValueError(f"tag_width must be a positive integer, not {tag_width!r}")
        self._config = config
        att = config.attention
        super().__init__(
            {
                "en": In(1),
                "valid": In(1),
                "scores": In(signed(att.score_bits)).array(config.lanes),
                "max": In(signed(att.score_bits)),
                "tag": In(tag_width),
                "out_valid": Out(1),
                "terms": Out(exp_term_width(config)).array(config.lanes),
                "out_tag": Out(tag_width),
            }
        )

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        att, E = cfg.attention, cfg.lanes
        G = att.exp_lut_bits
        shift = att.score_frac_bits + att.log2e_frac_bits - G
        rom = Memory(shape=unsigned(exp_term_width(cfg)), depth=1 << G, init=exp_lut_table(att))
        m.submodules.exp_lut = rom
        y_width = att.score_bits - att.score_frac_bits + 1 + G
        valid = [Signal(name=f"valid{s}") for s in (1, 2)]
        tag = [Signal(len(self.tag), name=f"tag{s}") for s in (1, 2)]
        with m.If(self.en):
            m.d.sync += [
                valid[0].eq(self.valid),
                valid[1].eq(valid[0]),
                self.out_valid.eq(valid[1]),
                tag[0].eq(self.tag),
                tag[1].eq(tag[0]),
                self.out_tag.eq(tag[1]),
            ]
        for lane in range(E):
            y = Signal(y_width, name=f"y{lane}")
            e = Signal(range(att.exp_shift_max + 1), name=f"e{lane}")
            diff = (self.max - self.scores[lane])[: att.score_bits]
            port = rom.read_port()
            exponent = y >> G
            m.d.comb += [port.en.eq(self.en), port.addr.eq(y[:G])]
            with m.If(self.en):
                m.d.sync += [
                    y.eq(round_shift(diff * att.log2e_fixed, shift)),
                    e.eq(Mux(exponent > att.exp_shift_max, att.exp_shift_max, exponent)),
                    self.terms[lane].eq(round_shift(port.data, e)),
                ]
        return m
