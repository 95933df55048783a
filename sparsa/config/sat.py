"""Configurations of SAT's blocks: N:M patterns, number formats, the PE array and the SORE.

One frozen object per block elaborates its RTL, parameterises its golden functions and sizes its
cycle model, as :class:`sparsa.config.topk.TopKConfig` does for the top-k engine.

The codes the blocks' streams carry are :mod:`amaranth.lib.enum` enumerations with an explicit
shape, defined here once for the RTL, the golden functions, the cycle models and the RTL
harness: :class:`Dataflow` (the PE array's command) and :class:`BdwpPass` (the SORE's copies).
"""

from dataclasses import dataclass, replace

from amaranth.lib import enum as hw_enum

from sparsa.config.checks import is_int
from sparsa.config.formats import NumberFormat, as_format

__all__ = [
    "MAX_ADD_LATENCY",
    "SUPPORTED_M",
    "BdwpPass",
    "Dataflow",
    "NMPattern",
    "SatArrayConfig",
    "SoreConfig",
    "as_dataflow",
]

SUPPORTED_M = (2, 4, 8, 16)
MAX_ADD_LATENCY = 4  # register stages of the PE's FP32 adder (hw.common.floats.Fp32Adder's)


class Dataflow(hw_enum.IntEnum, shape=1):
    """Dataflow of one PE array tile: the ``dataflow`` field of the array's command.

    ``OS``: output-stationary, each PE accumulates one output. ``WS``: weight-stationary, each PE
    holds one weight entry while the activations stream past (:mod:`sparsa.hw.sat.sat_array`
    describes both). An ``IntEnum`` so that the integer codes read back from the Verilog or from
    replay files compare equal to the members.
    """

    OS = 0
    WS = 1


def as_dataflow(value: object) -> Dataflow:
    """``value``, a :class:`Dataflow` member or its integer code, as the member.

    Raises
    ------
    ValueError
        If ``value`` is neither.
    """
    try:
        return Dataflow(value)
    except ValueError:
        codes = " or ".join(f"{d.name} ({d.value})" for d in Dataflow)
        raise ValueError(f"dataflow must be {codes}, not {value!r}") from None


class BdwpPass(hw_enum.IntEnum, shape=1):
    """The BDWP training pass an N:M copy of a weight tile serves: the ``direction`` field of the
    SORE's out beat; bit ``1 << p`` of its command's ``copies`` mask asks for the copy of pass p.

    ``FF``: the forward pass, ``Y = (W o Mf) X``, groups of M along the reduction. ``BP``: the
    backward pass, ``dX = (W o Mb)^T dY``, groups of M along the output channels. The third pass,
    WU (the weight update ``dW = dY X^T``), is dense: it needs no N:M copy, and no block
    distinguishes it, so it is no member. An ``IntEnum``: the members index the copies mask.
    """

    FF = 0
    BP = 1


@dataclass(frozen=True, order=True)
class NMPattern:
    """An N:M sparsity pattern: at most N non-zeros in every group of M consecutive weights.

    Parameters
    ----------
    n : int
        Survivors per group, 1 <= n < m.
    m : int
        Group size, one of :data:`SUPPORTED_M`.
    """

    n: int
    m: int

    def __post_init__(self) -> None:
        if not is_int(self.m) or self.m not in SUPPORTED_M:
            raise ValueError(f"M must be one of {SUPPORTED_M}, not {self.m!r}")
        if not is_int(self.n) or not 1 <= self.n < self.m:
            raise ValueError(
                f"N of an N:{self.m} pattern must be from 1 to {self.m - 1}, not {self.n!r}"
            )

    @classmethod
    def parse(cls, text: str) -> "NMPattern":
        """Parse ``"N:M"`` (for example ``"2:8"``)."""
        parts = text.strip().split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"an N:M pattern looks like '2:8', not {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    @property
    def index_width(self) -> int:
        """Bits of the in-group index of a compressed weight: log2(M)."""
        return self.m.bit_length() - 1

    @property
    def density(self) -> float:
        """N / M."""
        return self.n / self.m

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"


@dataclass(frozen=True, kw_only=True)
class SatArrayConfig:
    """Parameters of the SAT PE array (dense and N:M sparse GEMMs, OS and WS dataflows).

    Parameters
    ----------
    rows, cols : int
        R x C processing elements (1 to 64 each).
    patterns : tuple of NMPattern
        The N:M patterns the array supports besides dense (at least one, no duplicates).
    dtype : NumberFormat
        Operand format of weights, activations and errors: INT8 or INT16 (exact integer
        accumulation), FP16 or BF16 (FP32 accumulation, :mod:`sparsa.hw.sat.sat_array`).
    max_reduction : int
        Most products one accumulator sums in a tile (the entries per row of an output-
        stationary tile; at least ``rows``, the chain length of a weight-stationary tile). It
        sizes the accumulators so they never overflow; longer reductions are split into tiles
        whose partial sums the output buffer adds.
    interleave : bool
        Interleave mapping: the array takes the next tile's command and operands while the
        current tile's wavefront drains and its results leave, so that back-to-back independent
        tiles fill the fill and drain bubbles (:mod:`sparsa.hw.sat.sat_array` says which transitions
        overlap). False elaborates the same datapath with the command accepted only once the
        array has answered the previous one in full (the non-overlapped array, for the
        ablation).
    add_latency : int
        Register stages of each PE's FP32 adder, L = 1 to 4 (floating-point formats only; an
        integer array adds in one cycle and takes 1). With L > 1 an output-stationary PE keeps
        L interleaved partial sums, combined at the array's output, and a weight-stationary
        partial sum takes L steps per row (:mod:`sparsa.hw.sat.sat_array`).
    """

    rows: int = 8
    cols: int = 8
    patterns: tuple[NMPattern, ...] = (NMPattern(2, 4), NMPattern(2, 8))
    dtype: NumberFormat = NumberFormat.INT8
    max_reduction: int = 4096
    interleave: bool = True
    add_latency: int = 1

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not is_int(value) or not 1 <= value <= 64:
                raise ValueError(f"{name} must be an integer from 1 to 64, not {value!r}")
        if (
            not isinstance(self.patterns, tuple)
            or not self.patterns
            or not all(isinstance(p, NMPattern) for p in self.patterns)
        ):
            raise ValueError(
                f"patterns must be a non-empty tuple of NMPattern, not {self.patterns!r}"
            )
        if len(set(self.patterns)) != len(self.patterns):
            raise ValueError(f"patterns must not repeat: {[str(p) for p in self.patterns]}")
        object.__setattr__(self, "dtype", as_format(self.dtype))
        if not is_int(self.max_reduction) or not self.rows <= self.max_reduction <= 1 << 20:
            raise ValueError(
                f"max_reduction must be an integer from rows = {self.rows} to "
                f"{1 << 20}, not {self.max_reduction!r}"
            )
        if not isinstance(self.interleave, bool):
            raise ValueError(f"interleave must be True or False, not {self.interleave!r}")
        if not is_int(self.add_latency) or not 1 <= self.add_latency <= MAX_ADD_LATENCY:
            raise ValueError(
                f"add_latency must be an integer from 1 to {MAX_ADD_LATENCY}, "
                f"not {self.add_latency!r}"
            )
        if self.add_latency > 1 and not self.dtype.is_float:
            raise ValueError(
                f"add_latency must be 1 for the integer format {self.dtype.value} (its PEs add "
                f"in one cycle), not {self.add_latency}"
            )

    def replace(self, **changes: object) -> "SatArrayConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    @property
    def max_m(self) -> int:
        """Largest group size among the patterns (width of the activation-select mux)."""
        return max(p.m for p in self.patterns)

    @property
    def acc_width(self) -> int:
        """Accumulator bits. Integers: a product needs 2W bits, a sum of max_reduction of them
        ceil(log2(max_reduction)) more, so no tile can overflow (no saturation). Floats: 32, an
        IEEE binary32 accumulator."""
        if self.dtype.is_float:
            return 32
        return 2 * self.dtype.width + (self.max_reduction - 1).bit_length()


@dataclass(frozen=True, kw_only=True)
class SoreConfig:
    """Parameters of the sparse online reduction engine (SAT's hardware N:M weight generator).

    Parameters
    ----------
    lanes : int
        L, groups reduced in parallel (1 to 64, a multiple of ``m``; SAT uses 32).
    m : int
        Group size M, one of :data:`SUPPORTED_M`; N (1 to M - 1) is chosen per request.
    dtype : NumberFormat
        Format of the dense weights (floats as bit patterns, ranked by magnitude:
        :mod:`sparsa.hw.sat.sore`).
    """

    lanes: int = 32
    m: int = 8
    dtype: NumberFormat = NumberFormat.INT8

    def __post_init__(self) -> None:
        if not is_int(self.lanes) or not 1 <= self.lanes <= 64:
            raise ValueError(f"lanes must be an integer from 1 to 64, not {self.lanes!r}")
        if not is_int(self.m) or self.m not in SUPPORTED_M:
            raise ValueError(f"m must be one of {SUPPORTED_M}, not {self.m!r}")
        if self.lanes % self.m:
            raise ValueError(
                f"lanes must be a multiple of m (a tile row holds whole FF groups), "
                f"not lanes={self.lanes} with m={self.m}"
            )
        object.__setattr__(self, "dtype", as_format(self.dtype))

    def replace(self, **changes: object) -> "SoreConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)
