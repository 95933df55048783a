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
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.hw.attention.softmax import exp_term_width

__all__ = ["ProbDivider", "divider_latency"]


def divider_latency(config: AttentionCoreConfig) -> int:
    """Cycles (with ``en`` high) through the divider: one stage per quotient bit, P + 1."""
    return config.attention.prob_width


class ProbDivider(wiring.Component):
    """E probabilities per cycle from E exp terms and their sum (see the module docstring).

    Every stage advances only when ``en`` is high (the whole divider then holds); ``tag``
    travels with the terms.

    Parameters
    ----------
    config : AttentionCoreConfig
    tag_width : int
        Bits of the side-band ``tag``.

    Members
    -------
    en : In(1)
    valid : In(1)
    terms : In(unsigned(W + 1)).array(E)
        Each at most ``total``.
    total : In(unsigned(exp_sum_width))
        The sum of the query's terms (at least 2**W), held while its terms pass.
    tag : In(tag_width)
    out_valid : Out(1)
    probs : Out(unsigned(P + 1)).array(E)
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
                "terms": In(exp_term_width(config)).array(config.lanes),
                "total": In(att.exp_sum_width),
                "tag": In(tag_width),
                "out_valid": Out(1),
                "probs": Out(att.prob_width).array(config.lanes),
                "out_tag": Out(tag_width),
            }
        )

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        att, E = self._config.attention, self._config.lanes
        P = att.prob_bits
        divisor = self.total << 1
        remainder_width = max(exp_term_width(self._config) + P + 1, att.exp_sum_width) + 1
        valid, tag = self.valid, self.tag
        remainders = [(self.terms[lane] << (P + 1)) + self.total for lane in range(E)]
        quotients = [0] * E
        for bit in range(P, -1, -1):
            stage = P - bit
            last = bit == 0
            next_valid = self.out_valid if last else Signal(name=f"valid{stage}")
            next_tag = self.out_tag if last else Signal(len(self.tag), name=f"tag{stage}")
            with m.If(self.en):
                m.d.sync += [next_valid.eq(valid), next_tag.eq(tag)]
            valid, tag = next_valid, next_tag
            for lane in range(E):
                step = divisor << bit
                fits = remainders[lane] >= step
                q = self.probs[lane] if last else Signal(P + 1, name=f"q{stage}_{lane}")
                with m.If(self.en):
                    m.d.sync += q.eq(quotients[lane] | (fits << bit))
                quotients[lane] = q
                if not last:  # the last stage's remainder is not needed
                    r = Signal(remainder_width, name=f"r{stage}_{lane}")
                    with m.If(self.en):
                        m.d.sync += r.eq(Mux(fits, remainders[lane] - step, remainders[lane]))
                    remainders[lane] = r
        return m
