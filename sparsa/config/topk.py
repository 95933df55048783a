"""Configuration of the SpAtten quick-select top-k engine.

One :class:`TopKConfig` elaborates the RTL (:class:`sparsa.hw.topk.topk.TopKEngine`), parameterises
the golden functions (:mod:`sparsa.models.golden.topk`) and sizes the cycle model
(:mod:`sparsa.sim.blocks.topk`).
"""

from dataclasses import dataclass, replace
from enum import Enum

from sparsa.config.checks import is_int, is_pow2
from sparsa.config.lfsr import LFSR_WIDTH

MAX_LANES = 64
MAX_WIDTH = 32


class PivotMode(Enum):
    """How each quick-select round picks its pivot among the m surviving candidates.

    ``MIDDLE`` takes the candidate at position ``m // 2`` (deterministic; the median for sorted
    input). ``LFSR`` takes position ``(state * m) >> 16`` of a seeded 16-bit LFSR that steps once
    per round, as SpAtten's random pivot.

    An elaboration-time choice that no signal carries, so a plain configuration enum, not an
    :mod:`amaranth.lib.enum` shape: its values are the words of the CLI's ``--pivot`` and of
    the sidecars' ``config``.
    """

    MIDDLE = "middle"
    LFSR = "lfsr"


@dataclass(frozen=True, kw_only=True)
class TopKConfig:
    """Parameters of one top-k engine instance.

    Parameters
    ----------
    lanes : int
        P, values accepted and emitted per cycle (power of two, 1 to 64).
    comparators : int
        C, comparators in each of the two comparator arrays, i.e. candidates partitioned per
        cycle in a quick-select round (power of two, 1 to 64). SpAtten uses 16.
    capacity : int
        Largest n a request may carry (1 to 65535).
    width : int
        W, bits per value (1 to 32; at least 2 when signed).
    signed : bool
        Whether values are two's-complement signed.
    pivot : PivotMode
        Pivot source of the quick-select rounds.
    seed : int
        Reset state of the LFSR (1 to 65535); used when ``pivot`` is ``PivotMode.LFSR``.
    """

    lanes: int = 8
    comparators: int = 16
    capacity: int = 1024
    width: int = 16
    signed: bool = True
    pivot: PivotMode = PivotMode.LFSR
    seed: int = 0xACE1

    def __post_init__(self) -> None:
        for name in ("lanes", "comparators"):
            value = getattr(self, name)
            if not is_int(value) or not is_pow2(value) or value > MAX_LANES:
                raise ValueError(
                    f"{name} must be a power of two from 1 to {MAX_LANES}, not {value!r}"
                )
        if not is_int(self.capacity) or not 1 <= self.capacity < 1 << LFSR_WIDTH:
            raise ValueError(
                f"capacity must be an integer from 1 to {(1 << LFSR_WIDTH) - 1}, "
                f"not {self.capacity!r}"
            )
        if not isinstance(self.signed, bool):
            raise ValueError(f"signed must be True or False, not {self.signed!r}")
        min_width = 2 if self.signed else 1
        if not is_int(self.width) or not min_width <= self.width <= MAX_WIDTH:
            kind = "signed" if self.signed else "unsigned"
            raise ValueError(
                f"width of {kind} values must be from {min_width} to {MAX_WIDTH} bits, "
                f"not {self.width!r}"
            )
        if not isinstance(self.pivot, PivotMode):
            raise ValueError(
                f"pivot must be one of {[m.value for m in PivotMode]}, not {self.pivot!r}"
            )
        if not is_int(self.seed) or not 0 < self.seed < 1 << LFSR_WIDTH:
            raise ValueError(
                f"seed must be an integer from 1 to {(1 << LFSR_WIDTH) - 1}, not {self.seed!r}"
            )

    def replace(self, **changes: object) -> "TopKConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    @property
    def count_width(self) -> int:
        """Bits of the n and k fields of a request: 0 to capacity + 1, so that a request one
        past the contract (n = capacity + 1, k = n + 1 at n = capacity) is representable and
        answered with ``error``."""
        return (self.capacity + 1).bit_length()

    @property
    def index_width(self) -> int:
        """Bits of an output index (0 to capacity - 1)."""
        return max(1, (self.capacity - 1).bit_length())

    @property
    def value_range(self) -> tuple[int, int]:
        """Smallest and largest representable value (inclusive)."""
        if self.signed:
            return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return 0, (1 << self.width) - 1

    @property
    def row_lanes(self) -> int:
        """Values per row of the input buffer: max(P, C), so both ports read whole rows."""
        return max(self.lanes, self.comparators)
