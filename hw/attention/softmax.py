"""The attention core's softmax pieces: the exp unit and the requant decision.

The exp unit computes SpAtten's softmax terms exactly as :func:`sparsa.models.golden.attention.
fixed_softmax` (steps 1 to 3); the sum (step 4) is :class:`sparsa.hw.attention.stages.TermSum`
and the division (step 5) :class:`sparsa.hw.attention.divider.ProbDivider`, a pipeline of the
same kind (:class:`LanePipeline`).

The requant decision needs no division: the maximum score's term is exactly 2**W, so the
maximum probability is floor((2**(W+P+1) + sum) / (2 sum)), and it is below the threshold t iff
2**(W+P+1) + sum < 2 t sum (floor(a / b) < t iff a < t b for integers, b > 0). That is
:func:`sparsa.models.golden.attention.requant_decision` on the softmax's output, for every t
from 0 to 2**P.
"""

from amaranth import Module, Mux, ShapeLike, Signal, Value, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import exp_lut_table
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.attention.layouts import CoreBlock
from sparsa.hw.common.fixed_point import round_shift
from sparsa.hw.common.registers import delay_line

__all__ = [
    "EXP_LATENCY",
    "ExpUnit",
    "LanePipeline",
    "exp_term_width",
    "requant_needed",
    "tagged_lanes",
]

EXP_LATENCY = 3
"""Cycles (while its output is ready) from scores at the exp unit's input to their terms at the
output."""


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


def tagged_lanes(name: str, lane: ShapeLike, lanes: int, tag: ShapeLike) -> data.StructLayout:
    """``lanes`` lanes of shape ``lane`` under ``name``, and a ``tag``."""
    return data.StructLayout({name: data.ArrayLayout(lane, lanes), "tag": tag})


class LanePipeline(CoreBlock):
    """Base of the softmax's two pipelines: E lanes per beat in, E lanes per beat out, a tag
    travelling with them, all stages advancing together.

    The pipeline moves while ``o_stream`` is ready (``i_stream.ready`` is ``o_stream.ready``)
    and holds as a whole while it is not, so a beat takes the same number of cycles with the
    output ready whatever the bubbles in between.

    Parameters
    ----------
    config : AttentionCoreConfig
    tag : ShapeLike
        Shape of the side-band ``tag`` of each beat.
    """

    _LANES: tuple[tuple[str, object], tuple[str, object]]
    """(name, shape function of the config) of the input and the output lanes."""

    def __init__(self, config: AttentionCoreConfig, *, tag: ShapeLike) -> None:
        self._tag = tag
        super().__init__(config)

    def _members(self) -> dict:
        cfg = self.config
        (i_name, i_lane), (o_name, o_lane) = self._LANES
        i_layout = tagged_lanes(i_name, i_lane(cfg), cfg.lanes, self._tag)
        o_layout = tagged_lanes(o_name, o_lane(cfg), cfg.lanes, self._tag)
        return {
            "i_stream": In(stream.Signature(i_layout)),
            "o_stream": Out(stream.Signature(o_layout)),
        }

    def _advance(self, m: Module, stages: int) -> Value:
        """Pass valid and tag through ``stages`` registers to the output; return the enable."""
        en = self.o_stream.ready
        m.d.comb += self.i_stream.ready.eq(en)
        valid = delay_line(m, self.i_stream.valid, stages, en=en, name="valid")
        tag = delay_line(m, self.i_stream.payload.tag, stages, en=en, name="tag")
        m.d.comb += [self.o_stream.valid.eq(valid[-1]), self.o_stream.payload.tag.eq(tag[-1])]
        return en


def _score_lane(config: AttentionCoreConfig) -> ShapeLike:
    return signed(config.attention.score_bits)


class ExpUnit(LanePipeline):
    """E softmax terms per cycle: x = LUT[f] >> e (rounded) with y = (max - s) log2(e).

    Stage 1 registers the base-2 exponent y = ((max - s) K) >> (F + L - G), rounded half up;
    stage 2 splits it into e = min(y >> G, W + 2) and f = y mod 2**G and reads LUT[f]
    (:func:`sparsa.config.attention.exp_lut_table`, a ROM read port per lane); stage 3 registers the
    term, LUT[f] shifted right by e with rounding half up. :data:`EXP_LATENCY` stages, advancing
    together while the output is ready (see :class:`LanePipeline`).

    The parameters are :class:`LanePipeline`'s.

    Members
    -------
    i_stream : In(stream.Signature(tagged_lanes("scores", signed(S), E, tag)))
    max : In(signed(S))
        The largest score of the query, held while its terms are computed.
    o_stream : Out(stream.Signature(tagged_lanes("terms", unsigned(W + 1), E, tag)))
    """

    _LANES = (("scores", _score_lane), ("terms", exp_term_width))

    def _members(self) -> dict:
        return {**super()._members(), "max": In(_score_lane(self.config))}

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        att, E = cfg.attention, cfg.lanes
        G = att.exp_lut_bits
        shift = att.score_frac_bits + att.log2e_frac_bits - G
        rom = Memory(shape=unsigned(exp_term_width(cfg)), depth=1 << G, init=exp_lut_table(att))
        m.submodules.exp_lut = rom
        en = self._advance(m, EXP_LATENCY)
        y_width = att.score_bits - att.score_frac_bits + 1 + G
        scores, terms = self.i_stream.payload.scores, self.o_stream.payload.terms
        for lane in range(E):
            y = Signal(y_width, name=f"y{lane}")
            e = Signal(range(att.exp_shift_max + 1), name=f"e{lane}")
            term = Signal(exp_term_width(cfg), name=f"term{lane}")
            diff = (self.max - scores[lane])[: att.score_bits]
            port = rom.read_port()
            exponent = y >> G
            m.d.comb += [port.en.eq(en), port.addr.eq(y[:G]), terms[lane].eq(term)]
            with m.If(en):
                m.d.sync += [
                    y.eq(round_shift(diff * att.log2e_fixed, shift)),
                    e.eq(Mux(exponent > att.exp_shift_max, att.exp_shift_max, exponent)),
                    term.eq(round_shift(port.data, e)),
                ]
        return m
