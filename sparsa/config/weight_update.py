"""Configuration of SAT's weight-update vector engine (AMP-style SGD on FP32 master weights).

One frozen object elaborates :class:`sparsa.hw.sat.weight_update.WeightUpdate`, parameterises
:mod:`sparsa.models.golden.weight_update` and sizes :mod:`sparsa.sim.blocks.weight_update`.
The per-step values (element count, learning rate, momentum, weight decay, SR-STE decay) travel
in the engine's command; what is fixed for a run is here.

The loss scale S is a power of two, held as its exponent ``log2 S`` from ``min_scale_log2`` to
``max_scale_log2``; the engine unscales with the FP32 value ``1/S = 2^-log2 S``.
"""

from dataclasses import dataclass, replace

from sparsa.config.checks import is_int
from sparsa.config.formats import FP32, NumberFormat, as_format

__all__ = ["MAX_SCALE_LOG2", "WeightUpdateConfig"]

MAX_SCALE_LOG2 = FP32.bias - 1
"""Largest loss-scale exponent: 1/S = 2^-126 is FP32's smallest normal number."""


@dataclass(frozen=True, kw_only=True)
class WeightUpdateConfig:
    """Parameters of the weight-update engine (:mod:`sparsa.hw.sat.weight_update`).

    Parameters
    ----------
    lanes : int
        Elements per beat (1 to 64).
    dtype : NumberFormat
        Format of the gradients and of the weights' half copy: ``fp16`` or ``bf16``.
    init_scale_log2 : int
        log2 of the loss scale after reset (AMP starts at 2^16).
    min_scale_log2, max_scale_log2 : int
        Bounds of log2 S, 0 <= min <= init <= max <= :data:`MAX_SCALE_LOG2` (default 2^0 = 1
        and 2^24). A skipped step at the minimum keeps the scale; a growth at the maximum keeps
        it (and restarts the count of clean steps).
    growth_interval : int
        Consecutive clean steps after which the scale doubles (AMP's default 2000; 1 to 2^20).
    max_count : int
        Most elements of one step (sizes the command's count field; 1 to 2^40 - 1).
    multiplier_stages : int
        Register stages of each FP32 multiplier (1 to 3).
    adder_stages : int
        Register stages of each FP32 adder (1 to 4).
    """

    lanes: int = 8
    dtype: NumberFormat = NumberFormat.FP16
    init_scale_log2: int = 16
    min_scale_log2: int = 0
    max_scale_log2: int = 24
    growth_interval: int = 2000
    max_count: int = (1 << 32) - 1
    multiplier_stages: int = 3
    adder_stages: int = 3

    def __post_init__(self) -> None:
        if not is_int(self.lanes) or not 1 <= self.lanes <= 64:
            raise ValueError(f"lanes must be an integer from 1 to 64, not {self.lanes!r}")
        object.__setattr__(self, "dtype", as_format(self.dtype))
        if not self.dtype.is_float:
            raise ValueError(f"dtype must be fp16 or bf16, not {self.dtype.value}")
        low, start, high = self.min_scale_log2, self.init_scale_log2, self.max_scale_log2
        if not all(is_int(x) for x in (low, start, high)) or not (
            0 <= low <= start <= high <= MAX_SCALE_LOG2
        ):
            raise ValueError(
                f"the loss-scale exponents must be integers with 0 <= min_scale_log2 <= "
                f"init_scale_log2 <= max_scale_log2 <= {MAX_SCALE_LOG2}, not {low!r}, "
                f"{start!r}, {high!r}"
            )
        if not is_int(self.growth_interval) or not 1 <= self.growth_interval <= 1 << 20:
            raise ValueError(
                f"growth_interval must be an integer from 1 to {1 << 20}, "
                f"not {self.growth_interval!r}"
            )
        if not is_int(self.max_count) or not 1 <= self.max_count < 1 << 40:
            raise ValueError(
                f"max_count must be an integer from 1 to {(1 << 40) - 1}, not {self.max_count!r}"
            )
        if not is_int(self.multiplier_stages) or not 1 <= self.multiplier_stages <= 3:
            raise ValueError(
                f"multiplier_stages must be 1, 2 or 3, not {self.multiplier_stages!r}"
            )
        if not is_int(self.adder_stages) or not 1 <= self.adder_stages <= 4:
            raise ValueError(f"adder_stages must be 1, 2, 3 or 4, not {self.adder_stages!r}")

    def replace(self, **changes: object) -> "WeightUpdateConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)
