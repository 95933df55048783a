"""Bit-exact golden model of SAT's weight-update vector engine: one optimizer step of SGD with
momentum, weight decay and SR-STE's decay of pruned weights on FP32 master weights, under
NVIDIA AMP's dynamic loss scaling, and the half-precision copy of the updated weights.

Values are bit patterns (:mod:`sparsa.models.golden.floats`): FP32 weights ``w`` and momentum
``v`` (``uint32``), half-precision gradients ``grad`` (``uint16``, FP16 or BF16 as
``config.dtype``, computed from a loss multiplied by the scale S), a mask bit ``m`` per element
(1: the weight is kept by its N:M mask, 0: pruned), and FP32 hyper-parameters
(:class:`StepHyper`): learning rate ``lr``, momentum ``mu``, weight decay ``wd`` and the SR-STE
decay ``lam``.

Element contract
    Each line is one FP32 operation (:func:`~sparsa.models.golden.floats.fp32_mul` or
    :func:`~sparsa.models.golden.floats.fp32_add`) rounded to nearest even, subnormals kept,
    every NaN canonical; no fused multiply-add::

        g  = widen(grad) * inv_scale        # unscale by 1/S = 2^-k: exact unless it underflows
        g  = g + wd * w                     # weight decay (also when wd = 0: g + (+-0))
        g  = g + (lam * (1 - m)) * w        # SR-STE: lam * (1 - m) is lam (pruned) or +0 (kept)
        v' = mu * v + g                     # momentum
        w' = w - lr * v'                    # i.e. w + (-(lr * v'))
        copy = to_half(w')                  # RNE to dtype, overflow to Inf, NaN canonical

    ``widen`` is exact (every half value is an FP32 value): it is the PE's product with 1.0
    (:func:`~sparsa.models.golden.floats.fp_product`), which canonicalises a NaN. The kept
    weights' SR-STE term is ``(+0) * w``, a signed zero (NaN for an infinite ``w``), added like
    any other; so the formula holds as written, as SR-STE's ``grad + decay * (1 - mask) *
    weight`` computes it.
    The momentum starts at +0 (stored by software), not at the first gradient as PyTorch's SGD
    does; the two differ only for a first gradient of -0.
Skip rule (dynamic loss scaling)
    A step is *skipped* when any of its gradients is Inf or NaN. It is checked on the
    half-precision gradients as they arrive, which is the same as after unscaling: 1/S <= 1
    (S >= 1) cannot overflow a finite gradient, and unscaling keeps Inf and NaN. A skipped
    step writes nothing: every weight, momentum and half copy keeps its stored value. Only the
    gradients are checked; an Inf or NaN that a step computes from finite gradients (a weight
    that overflows) is written as computed.
Scale rule
    S = 2^k with ``min_scale_log2 <= k <= max_scale_log2``, k = ``init_scale_log2`` after
    reset; ``clean`` counts the consecutive clean (not skipped) steps since the scale last
    changed or a step was skipped. A skipped step halves S (k - 1, kept at the minimum) and
    resets ``clean`` to 0. A clean step increments ``clean``; when it reaches
    ``growth_interval`` the scale doubles (k + 1, kept at the maximum) and ``clean`` is reset
    to 0. A step's gradients are unscaled with the S held before the step. This is PyTorch's
    ``GradScaler`` (growth factor 2, backoff factor 0.5) with bounds added.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sparsa.config.formats import FP32, NumberFormat
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.models.golden.floats import fp32_add, fp32_mul, fp32_to_half, fp_product, to_bits

__all__ = [
    "ScaleState",
    "StepHyper",
    "StepResult",
    "found_overflow",
    "inv_scale",
    "next_scale",
    "update_elements",
    "weight_update_step",
]

_SIGN = 1 << (FP32.width - 1)


@dataclass(frozen=True, kw_only=True)
class StepHyper:
    """The hyper-parameters of one step, as FP32 bit patterns (the command's fields).

    Parameters
    ----------
    lr, momentum, weight_decay, decay : int
        Learning rate, momentum ``mu``, weight decay ``wd`` and SR-STE decay ``lam`` (pruned
        weights only), each an FP32 bit pattern (0 to 2^32 - 1).
    """

    lr: int
    momentum: int = 0
    weight_decay: int = 0
    decay: int = 0

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay", "decay"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or not 0 <= value < 1 << FP32.width:
                raise ValueError(
                    f"{name} must be an FP32 bit pattern, an integer from 0 to 2^32 - 1, "
                    f"not {value!r}"
                )
            object.__setattr__(self, name, int(value))

    @classmethod
    def of(
        cls, *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, decay: float = 0.0
    ) -> "StepHyper":
        """The hyper-parameters given as numbers, each rounded to nearest even to FP32."""
        values = [lr, momentum, weight_decay, decay]
        lr_bits, mu_bits, wd_bits, lam_bits = (int(b) for b in to_bits(values, FP32))
        return cls(lr=lr_bits, momentum=mu_bits, weight_decay=wd_bits, decay=lam_bits)


@dataclass(frozen=True, kw_only=True)
class ScaleState:
    """The loss-scale state the engine keeps between steps.

    Parameters
    ----------
    scale_log2 : int
        k, the loss scale S = 2^k.
    clean : int
        Consecutive clean steps since the scale last changed or a step was skipped.
    """

    scale_log2: int
    clean: int = 0

    @classmethod
    def initial(cls, config: WeightUpdateConfig) -> "ScaleState":
        """The state after reset: ``init_scale_log2`` and no clean step."""
        return cls(scale_log2=config.init_scale_log2)


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What one step produces.

    Parameters
    ----------
    skipped : bool
        Some gradient was Inf or NaN: nothing was written.
    state : ScaleState
        The scale state after the step.
    weights, momentum : numpy.ndarray
        ``uint32`` FP32 patterns after the step (the inputs, unchanged, for a skipped step).
    copies : numpy.ndarray or None
        ``uint16`` half copies of the updated weights; None for a skipped step (the engine
        writes none, the stored copies stay).
    """

    skipped: bool
    state: ScaleState
    weights: np.ndarray
    momentum: np.ndarray
    copies: np.ndarray | None


def inv_scale(scale_log2: int) -> int:
    """The FP32 bit pattern of 1/S = 2^-``scale_log2`` (a normal number for 0 to 126)."""
    return (FP32.bias - scale_log2) << FP32.fraction_bits


def found_overflow(grads: npt.ArrayLike, dtype: NumberFormat) -> bool:
    """Whether any of the half-precision gradient patterns ``grads`` is Inf or NaN."""
    layout = dtype.float_layout
    exponents = (np.asarray(grads, dtype=np.uint32) >> layout.fraction_bits) & layout.max_exponent
    return bool(np.any(exponents == layout.max_exponent))


def next_scale(config: WeightUpdateConfig, state: ScaleState, skipped: bool) -> ScaleState:
    """The scale state after a step (the module's scale rule)."""
    if skipped:
        return ScaleState(scale_log2=max(state.scale_log2 - 1, config.min_scale_log2))
    if state.clean + 1 == config.growth_interval:
        return ScaleState(scale_log2=min(state.scale_log2 + 1, config.max_scale_log2))
    return ScaleState(scale_log2=state.scale_log2, clean=state.clean + 1)


def update_elements(
    weights: npt.ArrayLike,
    momentum: npt.ArrayLike,
    grads: npt.ArrayLike,
    masks: npt.ArrayLike,
    hyper: StepHyper,
    scale_log2: int,
    dtype: NumberFormat,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The element contract applied to every element, whatever the gradients hold.

    Parameters
    ----------
    weights, momentum : array_like of int
        FP32 bit patterns.
    grads : array_like of int
        ``dtype`` bit patterns, scaled by 2^``scale_log2``.
    masks : array_like of int or bool
        1 (True) for a weight its N:M mask keeps, 0 for a pruned one.
    hyper : StepHyper
    scale_log2 : int
        log2 S of the step.
    dtype : NumberFormat
        ``NumberFormat.FP16`` or ``NumberFormat.BF16``.

    Returns
    -------
    tuple of numpy.ndarray
        The updated weights and momentum (``uint32``) and the half copies (``uint16``).
    """
    w = np.asarray(weights, dtype=np.uint32)
    v = np.asarray(momentum, dtype=np.uint32)
    kept = np.asarray(masks).astype(bool)
    layout = dtype.float_layout
    widened = fp_product(grads, layout.bias << layout.fraction_bits, dtype)  # grad x 1.0, exact
    g = fp32_mul(widened, inv_scale(scale_log2))
    g = fp32_add(g, fp32_mul(hyper.weight_decay, w))
    g = fp32_add(g, fp32_mul(np.where(kept, np.uint32(0), np.uint32(hyper.decay)), w))
    v = fp32_add(fp32_mul(hyper.momentum, v), g)
    w = fp32_add(w, fp32_mul(hyper.lr, v) ^ np.uint32(_SIGN))
    return w, v, fp32_to_half(w, dtype)


def weight_update_step(
    config: WeightUpdateConfig,
    state: ScaleState,
    weights: npt.ArrayLike,
    momentum: npt.ArrayLike,
    grads: npt.ArrayLike,
    masks: npt.ArrayLike,
    hyper: StepHyper,
) -> StepResult:
    """One optimizer step of the engine on all the elements of a step (the module contract).

    Parameters
    ----------
    config : WeightUpdateConfig
    state : ScaleState
        The scale state before the step.
    weights, momentum, grads, masks, hyper
        As in :func:`update_elements`; the gradients are scaled by 2^``state.scale_log2``.

    Returns
    -------
    StepResult
    """
    skipped = found_overflow(grads, config.dtype)
    after = next_scale(config, state, skipped)
    if skipped:
        w = np.asarray(weights, dtype=np.uint32)
        v = np.asarray(momentum, dtype=np.uint32)
        return StepResult(skipped=True, state=after, weights=w, momentum=v, copies=None)
    w, v, copies = update_elements(
        weights, momentum, grads, masks, hyper, state.scale_log2, config.dtype
    )
    return StepResult(skipped=False, state=after, weights=w, momentum=v, copies=copies)
