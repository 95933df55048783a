"""Configuration of the SpAtten attention core (Q x K, softmax, requant decision, prob x V).

One :class:`AttentionConfig` parameterises the bit-exact golden functions
(:mod:`sparsa.models.golden.attention`) and is meant to elaborate the future RTL and size its cycle
model. Every field is a width or a count of fractional bits; the formats they define are
documented in :mod:`sparsa.models.golden.attention`.
"""

import math
from dataclasses import dataclass, replace

from sparsa.config.checks import is_int

__all__ = ["DIMS", "LSB_BITS", "MSB_BITS", "AttentionConfig"]

MSB_BITS = (4, 6, 8, 10, 12)
"""MSB-plane widths of SpAtten's progressive quantization (settings 4+4 to 12+4)."""
LSB_BITS = 4
"""Width of the LSB plane, the same for every setting."""
DIMS = (32, 64, 128)
"""Supported head dimensions D."""

_RANGES = {
    "score_bits": (8, 16),
    "exp_lut_bits": (2, 12),
    "exp_frac_bits": (8, 24),
    "prob_bits": (4, 16),
    "out_bits": (8, 24),
    "token_importance_bits": (8, 48),
    "head_importance_bits": (8, 48),
    "max_tokens": (1, 65535),
}


@dataclass(frozen=True, kw_only=True)
class AttentionConfig:
    """Parameters of one attention core instance.

    Parameters
    ----------
    dim : int
        D, elements of a Q, K or V vector, one of :data:`DIMS`.
    msb_bits : int
        Width of the signed MSB plane of Q, K and V, one of :data:`MSB_BITS`.
    lsb_bits : int
        Width of the unsigned LSB plane; must equal :data:`LSB_BITS` (4).
    score_bits : int
        S, width of a signed score word (8 to 16; SpAtten's on-chip words are 12 bits).
    score_frac_bits : int
        F, fractional bits of a score (0 to S - 1): a score word s stands for the logit s / 2**F.
    log2e_frac_bits : int
        L, fractional bits of the log2(e) constant (``exp_lut_bits`` to 24).
    exp_lut_bits : int
        G, fractional bits of the base-2 exponent; the 2**-f table has 2**G entries (2 to 12).
    exp_frac_bits : int
        W, fractional bits of the table entries and of every exp term (8 to 24).
    prob_bits : int
        P, fractional bits of a probability (4 to 16); a probability word has P + 1 bits.
    out_bits : int
        Width of a signed attention-output element (8 to 24, at most total_bits + 1 + P).
    token_importance_bits, head_importance_bits : int
        Widths of the unsigned saturating importance accumulators (8 to 48).
    max_tokens : int
        Largest number of keys n of one query (1 to 65535); sizes the sum and the prob x V
        accumulators.
    """

    dim: int = 64
    msb_bits: int = 6
    lsb_bits: int = LSB_BITS
    score_bits: int = 12
    score_frac_bits: int = 6
    log2e_frac_bits: int = 20
    exp_lut_bits: int = 8
    exp_frac_bits: int = 20
    prob_bits: int = 12
    out_bits: int = 12
    token_importance_bits: int = 24
    head_importance_bits: int = 32
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        if not is_int(self.dim) or self.dim not in DIMS:
            raise ValueError(f"dim must be one of {DIMS}, not {self.dim!r}")
        if not is_int(self.msb_bits) or self.msb_bits not in MSB_BITS:
            raise ValueError(f"msb_bits must be one of {MSB_BITS}, not {self.msb_bits!r}")
        if not is_int(self.lsb_bits) or self.lsb_bits != LSB_BITS:
            raise ValueError(f"lsb_bits must be {LSB_BITS}, not {self.lsb_bits!r}")
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if not is_int(value) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")
        self._check_range("score_frac_bits", 0, self.score_bits - 1)
        self._check_range("log2e_frac_bits", self.exp_lut_bits, 24)
        self._check_range("out_bits", 8, self.total_bits + 1 + self.prob_bits)
        kappa_denominator = (
            1 - self.exp_relative_error - (self.max_tokens - 1) * 2.0**-(self.exp_frac_bits)
        )
        if kappa_denominator <= 0.5:
            raise ValueError(
                f"exp_frac_bits = {self.exp_frac_bits} is too few for max_tokens = "
                f"{self.max_tokens}: the exp terms' errors could exceed half their sum"
            )

    def _check_range(self, name: str, lo: int, hi: int) -> None:
        value = getattr(self, name)
        if not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")

    def replace(self, **changes: object) -> "AttentionConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    @property
    def total_bits(self) -> int:
        """T = msb_bits + lsb_bits, width of a full-precision signed Q, K or V element."""
        return self.msb_bits + self.lsb_bits

    @property
    def qk_acc_width(self) -> int:
        """Signed width of the Q x K accumulator: 2T + log2(D) bits, holds any dot product."""
        return 2 * self.total_bits + self.dim.bit_length() - 1

    @property
    def log2e_fixed(self) -> int:
        """log2(e) rounded to nearest with L fractional bits (unsigned, L + 1 bits)."""
        return math.floor(math.log2(math.e) * 2**self.log2e_frac_bits + 0.5)

    @property
    def exp_shift_max(self) -> int:
        """Integer exponent e at which an exp term is 0 (W + 2); larger e are clamped to it."""
        return self.exp_frac_bits + 2

    @property
    def exp_sum_width(self) -> int:
        """Unsigned width of the sum of n <= max_tokens exp terms of W + 1 bits."""
        return self.exp_frac_bits + 1 + (self.max_tokens - 1).bit_length()

    @property
    def prob_width(self) -> int:
        """Unsigned width of a probability word: P + 1 bits (0 to 2**P)."""
        return self.prob_bits + 1

    @property
    def pv_acc_width(self) -> int:
        """Signed width of the prob x V accumulator: T + (P + 1) + ceil(log2(max_tokens))."""
        return self.total_bits + self.prob_width + (self.max_tokens - 1).bit_length()

    @property
    def out_shift(self) -> int:
        """Right shift from the prob x V accumulator to the output: P + T + 1 - out_bits.

        An output word is then in units of 2**(T + 1 - out_bits) V units, so its range is
        twice V's range (one guard bit).
        """
        return self.prob_bits + self.total_bits + 1 - self.out_bits

    @property
    def exp_relative_error(self) -> float:
        """r = 2**delta - 1 with delta = 2**-(G+1) + (2**S - 1) * 2**-(F+L+1).

        delta bounds the error of the base-2 exponent of any exp term (rounding to G fractional
        bits plus the error of the log2(e) constant times the largest score difference);
        r bounds the relative error it causes in 2**-exponent.
        """
        delta = 2.0 ** -(self.exp_lut_bits + 1) + (2**self.score_bits - 1) * 2.0 ** -(
            self.score_frac_bits + self.log2e_frac_bits + 1
        )
        return 2.0**delta - 1


def exp_lut_table(config: AttentionConfig) -> tuple[int, ...]:
    """The exp unit's table, shared by the RTL's ROM and the golden softmax.

    Entry f is round(2**W * 2**(-f / 2**G)), rounding half up, for G = ``exp_lut_bits`` and
    W = ``exp_frac_bits``: unsigned W + 1 bit integers from 2**(W-1) + 1 to 2**W.
    """
    size = 1 << config.exp_lut_bits
    return tuple(
        math.floor(2.0 ** (config.exp_frac_bits - f / size) + 0.5) for f in range(size)
    )
