"""The attention core's probability divider: p = (x 2**(P+1) + sum) // (2 sum), E per cycle.

A pipelined restoring divider, one quotient bit per stage. With N = x 2**(P+1) + sum and the
divisor V = 2 sum, x <= sum (every term is at most 2**W, which the maximum's term is, and the
sum holds it) gives N < V 2**(P+1), so the quotient has P + 1 bits. Stage j (j = 0 .. P)
decides quotient bit b = P - j: it subtracts V 2**b from the partial remainder when that does
not go negative (the remainder stays below V 2**b after it) and sets bit b. After the last
stage the quotient is floor(N / V), the probability of
:func:`sparsa.models.golden.attention.fixed_softmax`, rounded to nearest with ties up.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib.wiring import In

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.attention.softmax import LanePipeline, exp_term_width

__all__ = ["ProbDivider", "divider_latency"]


def divider_latency(config: AttentionCoreConfig) -> int:
    """Cycles (while its output is ready) through the divider: one stage per quotient bit,
    P + 1."""
    return config.attention.prob_width


def _prob_lane(config: AttentionCoreConfig) -> int:
    return config.attention.prob_width


class ProbDivider(LanePipeline):
    """E probabilities per cycle from E exp terms and their sum (see the module docstring).

    :func:`divider_latency` stages, advancing together while the output is ready (see
    :class:`~sparsa.hw.attention.softmax.LanePipeline`).

    The parameters are :class:`~sparsa.hw.attention.softmax.LanePipeline`'s.

    Members
    -------
    i_stream : In(stream.Signature(tagged_lanes("terms", unsigned(W + 1), E, tag)))
        Each term at most ``total``.
    total : In(unsigned(exp_sum_width))
        The sum of the query's terms (at least 2**W), held while its terms pass.
    o_stream : Out(stream.Signature(tagged_lanes("probs", unsigned(P + 1), E, tag)))
    """

    _LANES = (("terms", exp_term_width), ("probs", _prob_lane))

    def _members(self) -> dict:
        return {**super()._members(), "total": In(self.config.attention.exp_sum_width)}

    def elaborate(self, platform: object) -> Module:
        m = Module()
        att, E = self.config.attention, self.config.lanes
        P = att.prob_bits
        en = self._advance(m, divider_latency(self.config))
        terms, probs = self.i_stream.payload.terms, self.o_stream.payload.probs
        divisor = self.total << 1
        remainder_width = max(exp_term_width(self.config) + P + 1, att.exp_sum_width) + 1
        remainders = [(terms[lane] << (P + 1)) + self.total for lane in range(E)]
        quotients = [0] * E
        for bit in range(P, -1, -1):
            stage = P - bit
            for lane in range(E):
                step = divisor << bit
                fits = remainders[lane] >= step
                q = Signal(P + 1, name=f"q{stage}_{lane}")
                with m.If(en):
                    m.d.sync += q.eq(quotients[lane] | (fits << bit))
                quotients[lane] = q
                if bit:  # the last stage's remainder is not needed
                    r = Signal(remainder_width, name=f"r{stage}_{lane}")
                    with m.If(en):
                        m.d.sync += r.eq(Mux(fits, remainders[lane] - step, remainders[lane]))
                    remainders[lane] = r
        m.d.comb += [probs[lane].eq(quotients[lane]) for lane in range(E)]
        return m
