"""Tests of :mod:`sparsa.models.golden.weight_update` and its configuration: hand-computed IEEE
cases, seeded random elements against an independent reference of the operation order (exact
:class:`fractions.Fraction` arithmetic rounded to nearest even after every operation, written
here), the skip and scale rules (against PyTorch's own AMP scale update where no bound is hit),
and the configuration's checks."""

import re
from fractions import Fraction

import numpy as np
import pytest
import torch

from sparsa.config.formats import FP32, FloatLayout, NumberFormat
from sparsa.config.weight_update import MAX_SCALE_LOG2, WeightUpdateConfig
from sparsa.models.golden.floats import to_bits
from sparsa.models.golden.weight_update import (
    ScaleState,
    StepHyper,
    found_overflow,
    inv_scale,
    next_scale,
    update_elements,
    weight_update_step,
)

FP16, BF16 = NumberFormat.FP16, NumberFormat.BF16
NAN32 = 0x7FC0_0000


def f32(value: float) -> int:
    return int(to_bits([value], FP32)[0])


def half(value: float, fmt: NumberFormat) -> int:
    return int(to_bits([value], fmt)[0])


# The reference: every operation on exact Fractions, then rounded by hand.


class Special:
    """NaN, or an infinity of a sign."""

    def __init__(self, kind: str, negative: bool = False) -> None:
        self.kind, self.negative = kind, negative


def decode(bits: int, layout: FloatLayout) -> tuple[bool, Fraction | Special]:
    """Sign and magnitude (a Fraction, or a Special) of a bit pattern."""
    f = layout.fraction_bits
    negative = bool(bits >> (layout.width - 1))
    exponent = (bits >> f) & layout.max_exponent
    fraction = bits & ((1 << f) - 1)
    if exponent == layout.max_exponent:
        return negative, Special("nan" if fraction else "inf", negative)
    significand = fraction + ((1 << f) if exponent else 0)
    return negative, Fraction(significand) * Fraction(2) ** (max(exponent, 1) - layout.bias - f)


def encode(magnitude: Fraction, negative: bool, layout: FloatLayout) -> int:
    """``magnitude`` rounded to nearest even onto ``layout`` (Inf beyond it), with the sign."""
    f = layout.fraction_bits
    sign = int(negative) << (layout.width - 1)
    if magnitude == 0:
        return sign
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    exponent = max(exponent, 1 - layout.bias)
    significand = round(magnitude / Fraction(2) ** (exponent - f))  # ties to even
    if significand == 1 << (f + 1):
        exponent, significand = exponent + 1, 1 << f
    if exponent > layout.max_exponent - 1 - layout.bias:
        return sign | (layout.max_exponent << f)
    if significand < 1 << f:
        return sign | significand
    return sign | ((exponent + layout.bias) << f) | (significand - (1 << f))


def nan(layout: FloatLayout) -> int:
    return (layout.max_exponent << layout.fraction_bits) | (1 << (layout.fraction_bits - 1))


def inf(negative: bool, layout: FloatLayout) -> int:
    return (int(negative) << (layout.width - 1)) | (layout.max_exponent << layout.fraction_bits)


def ref_mul(a: int, b: int) -> int:
    (sa, va), (sb, vb) = decode(a, FP32), decode(b, FP32)
    negative = sa != sb
    specials = [x for x in (va, vb) if isinstance(x, Special)]
    if any(x.kind == "nan" for x in specials) or (specials and 0 in (va, vb)):
        return NAN32
    if specials:
        return inf(negative, FP32)
    return encode(va * vb, negative, FP32)


def ref_add(a: int, b: int) -> int:
    (sa, va), (sb, vb) = decode(a, FP32), decode(b, FP32)
    specials = [x for x in (va, vb) if isinstance(x, Special)]
    if any(x.kind == "nan" for x in specials):
        return NAN32
    if len(specials) == 2 and specials[0].negative != specials[1].negative:
        return NAN32
    if specials:
        return inf(specials[0].negative, FP32)
    total = (-va if sa else va) + (-vb if sb else vb)
    if total == 0:  # an exact zero sum is +0 unless both operands are -0
        return encode(Fraction(0), sa and sb, FP32)
    return encode(abs(total), total < 0, FP32)


def ref_to_half(a: int, fmt: NumberFormat) -> int:
    layout = fmt.float_layout
    negative, value = decode(a, FP32)
    if isinstance(value, Special):
        return nan(layout) if value.kind == "nan" else inf(negative, layout)
    return encode(value, negative, layout)


def ref_widen(g: int, fmt: NumberFormat) -> int:
    negative, value = decode(g, fmt.float_layout)
    if isinstance(value, Special):
        return NAN32 if value.kind == "nan" else inf(negative, FP32)
    return encode(value, negative, FP32)  # exact


def reference(w: int, v: int, g: int, m: int, hyper: StepHyper, k: int,
              fmt: NumberFormat) -> tuple[int, int, int]:
    """The element contract, one rounded operation per line, from Fractions."""
    grad = ref_mul(ref_widen(g, fmt), encode(Fraction(1, 2**k), False, FP32))
    grad = ref_add(grad, ref_mul(hyper.weight_decay, w))
    grad = ref_add(grad, ref_mul(0 if m else hyper.decay, w))
    v = ref_add(ref_mul(hyper.momentum, v), grad)
    w = ref_add(w, ref_mul(hyper.lr, v) ^ 0x8000_0000)
    return w, v, ref_to_half(w, fmt)


# Hand-computed cases.


def test_one_pruned_and_one_kept_weight_by_hand() -> None:
    # grad 2.0 at S = 2: g = 1; wd = 0: g + 0 = 1; pruned: g + 0.5 * 1 = 1.5, v' = 0.9 * 0 + 1.5
    # = 1.5, w' = 1 - 0.5 * 1.5 = 0.25. Kept: g = 1, v' = 1, w' = 0.5.
    hyper = StepHyper.of(lr=0.5, momentum=0.9, decay=0.5)
    w, v, copy = update_elements([f32(1.0)] * 2, [0, 0], [half(2.0, FP16)] * 2, [0, 1], hyper,
                                 1, FP16)
    assert w.tolist() == [f32(0.25), f32(0.5)]
    assert v.tolist() == [f32(1.5), f32(1.0)]
    assert copy.tolist() == [0x3400, 0x3800]


def test_weight_decay_and_rounding_by_hand() -> None:
    # w = 1 + 2^-23, wd = 2^-24, grad +0, kept, mu = 0, lr = 1: g = wd * w = 2^-24 + 2^-47
    # (exact), v' = +0 + g = g, w' = w - g = 1 + 2^-24 - 2^-47: just below the midpoint of 1
    # and 1 + 2^-23, so 1.
    w = 0x3F80_0001
    hyper = StepHyper(lr=f32(1.0), weight_decay=0x3380_0000)
    out_w, out_v, _ = update_elements([w], [f32(7.0)], [0], [1], hyper, 0, FP16)
    assert out_v.tolist() == [0x3380_0001]
    assert out_w.tolist() == [f32(1.0)]


def test_signed_zeros_by_hand() -> None:
    hyper = StepHyper(lr=f32(1.0), momentum=0, weight_decay=0, decay=0)
    # +0 weight, -0 gradient: g = -0 * 2^-k = -0, then -0 + (0 * +0) = +0; everything +0.
    w, v, copy = update_elements([0], [0], [0x8000], [0], hyper, 3, FP16)
    assert (w.tolist(), v.tolist(), copy.tolist()) == ([0], [0], [0])
    # -0 weight: wd * w = -0, g = -0 + -0 = -0, the SR-STE term -0, v' = (0 * -0) + -0 = -0,
    # lr * v' = -0, w' = -0 - (-0) = -0 + +0 = +0.
    w, v, copy = update_elements([0x8000_0000], [0x8000_0000], [0x8000], [1], hyper, 3, FP16)
    assert (w.tolist(), v.tolist(), copy.tolist()) == ([0], [0x8000_0000], [0])


def test_a_kept_infinite_weight_becomes_nan() -> None:
    # The kept weights' SR-STE term is (+0) * w: NaN for w = Inf, and the contract keeps it.
    hyper = StepHyper.of(lr=0.1)
    w, v, copy = update_elements([0x7F80_0000], [0], [0], [1], hyper, 0, BF16)
    assert (w.tolist(), v.tolist(), copy.tolist()) == ([NAN32], [NAN32], [0x7FC0])


@pytest.mark.parametrize(("w", "fmt", "copy"), [
    (65519.0, FP16, 0x7BFF), (65520.0, FP16, 0x7C00), (-65520.0, FP16, 0xFC00),
    (2.0**-25, FP16, 0x0000), (3 * 2.0**-26, FP16, 0x0001), (2.0**-24, FP16, 0x0001),
    (1 + 2.0**-8, BF16, 0x3F80), (1 + 3 * 2.0**-8, BF16, 0x3F82), (3.4028234663852886e38, BF16,
                                                                   0x7F80),
])
def test_the_half_copy_rounds_to_nearest_even_and_overflows_to_inf(w, fmt, copy) -> None:
    _, _, out = update_elements([f32(w)], [0], [0], [1], StepHyper(lr=0), 0, fmt)
    assert out.tolist() == [copy]


def test_unscaling_underflows_to_nearest_even() -> None:
    hyper = StepHyper(lr=f32(1.0))  # v' = g, w' = -g for w = +0
    grads = [half(1.0, FP16), 0x0001, 0x0003, 0x8001]  # 1, 2^-24, 3 * 2^-24, -2^-24
    _, v, _ = update_elements([0] * 4, [0] * 4, grads, [1] * 4, hyper, MAX_SCALE_LOG2, FP16)
    # 2^-126; 2^-150 is the tie between 0 and 2^-149 (even: 0); 3 * 2^-150 = 1.5 * 2^-149
    # rounds to 2 * 2^-149; -2^-150 to -0, which adding wd * w = +0 makes +0.
    assert v.tolist() == [0x0080_0000, 0x0000_0000, 0x0000_0002, 0x0000_0000]
    _, v, _ = update_elements([0], [0], [0x0001], [1], hyper, MAX_SCALE_LOG2, BF16)
    assert v.tolist() == [0]  # 2^-133 * 2^-126 is far below FP32's subnormals


def test_inv_scale_is_an_exact_power_of_two() -> None:
    assert inv_scale(0) == f32(1.0)
    assert inv_scale(16) == f32(2.0**-16)
    assert inv_scale(MAX_SCALE_LOG2) == 0x0080_0000


# The reference, on random elements.


def random_fp32(rng: np.random.Generator, n: int) -> np.ndarray:
    values = (rng.standard_normal(n) * 2.0 ** rng.integers(-140, 120, n)).astype(np.float32)
    bits = values.view(np.uint32).copy()
    pick = rng.integers(0, 8, n)
    bits[pick == 0] = rng.integers(0, 1 << 32, int((pick == 0).sum()), dtype=np.uint32)
    bits[pick == 1] &= 0x807F_FFFF  # subnormals and zeros
    return bits


@pytest.mark.parametrize("fmt", [FP16, BF16])
def test_elements_match_the_fraction_reference(fmt: NumberFormat) -> None:
    seed = 61 + (fmt is BF16)
    rng = np.random.default_rng(seed)
    for trial in range(12):
        n = 150
        w, v = random_fp32(rng, n), random_fp32(rng, n)
        g = rng.integers(0, 1 << 16, n, dtype=np.uint16)
        m = rng.integers(0, 2, n)
        if trial % 3 == 0:
            hyper = StepHyper(**{k: int(x) for k, x in zip(
                ("lr", "momentum", "weight_decay", "decay"), random_fp32(rng, 4), strict=True)})
        else:
            hyper = StepHyper.of(lr=float(rng.uniform(0, 1)), momentum=float(rng.uniform(0, 1)),
                                 weight_decay=float(rng.uniform(0, 1e-3)), decay=2e-4)
        k = int(rng.integers(0, MAX_SCALE_LOG2 + 1))
        got = update_elements(w, v, g, m, hyper, k, fmt)
        for i in range(n):
            want = reference(int(w[i]), int(v[i]), int(g[i]), int(m[i]), hyper, k, fmt)
            have = tuple(int(x[i]) for x in got)
            assert have == want, (
                f"seed {seed}, trial {trial}, element {i}: w {int(w[i]):#x} v {int(v[i]):#x} "
                f"g {int(g[i]):#x} m {m[i]} k {k} {hyper}: {have} != reference {want}")


# The skip and scale rules.


@pytest.mark.parametrize(("fmt", "bad", "good"), [
    (FP16, [0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF], [0x7BFF, 0xFBFF, 0x0001, 0x8000]),
    (BF16, [0x7F80, 0xFF80, 0x7FC0, 0x7F81], [0x7F7F, 0xFF7F, 0x0001, 0x8000]),
])
def test_any_inf_or_nan_gradient_overflows(fmt, bad, good) -> None:
    assert not found_overflow(good, fmt)
    assert not found_overflow([], fmt)
    for pattern in bad:
        assert found_overflow([*good, pattern], fmt)


def test_a_skipped_step_halves_the_scale_and_writes_nothing() -> None:
    config = WeightUpdateConfig(lanes=2, init_scale_log2=5)
    w, v = [f32(1.0), f32(-2.0)], [f32(0.5), 0]
    result = weight_update_step(config, ScaleState(scale_log2=5, clean=7), w, v,
                                [half(3.0, FP16), 0x7E00], [1, 0], StepHyper.of(lr=0.1))
    assert result.skipped and result.copies is None
    assert result.state == ScaleState(scale_log2=4, clean=0)
    assert result.weights.tolist() == w and result.momentum.tolist() == v


def test_the_scale_grows_after_growth_interval_clean_steps_and_stays_in_bounds() -> None:
    config = WeightUpdateConfig(init_scale_log2=1, min_scale_log2=0, max_scale_log2=2,
                                growth_interval=3)
    state = ScaleState.initial(config)
    trace = []
    for skipped in [True, True, False, False, False, False, False, False, False, False, False,
                    True]:
        state = next_scale(config, state, skipped)
        trace.append((state.scale_log2, state.clean))
    assert trace == [(0, 0), (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1),
                     (2, 2), (2, 0), (1, 0)]


def test_an_empty_step_is_a_clean_step() -> None:
    config = WeightUpdateConfig(growth_interval=1, init_scale_log2=3)
    result = weight_update_step(config, ScaleState.initial(config), [], [], [], [],
                                StepHyper(lr=0))
    assert not result.skipped and result.state == ScaleState(scale_log2=4)
    assert result.copies.size == 0


def test_the_scale_rule_is_pytorchs_amp_update_within_the_bounds() -> None:
    config = WeightUpdateConfig(init_scale_log2=16, min_scale_log2=0, max_scale_log2=40,
                                growth_interval=4)
    rng = np.random.default_rng(3)
    state = ScaleState.initial(config)
    scale, tracker = torch.tensor([2.0**16]), torch.tensor([0], dtype=torch.int32)
    for step in range(300):
        skipped = bool(rng.random() < 0.15)
        state = next_scale(config, state, skipped)
        torch._amp_update_scale_(scale, tracker, torch.tensor([float(skipped)]), 2.0, 0.5, 4)
        assert (2.0**state.scale_log2, state.clean) == (scale.item(), tracker.item()), step


def test_a_clean_step_matches_update_elements() -> None:
    config = WeightUpdateConfig(dtype=BF16, init_scale_log2=8)
    rng = np.random.default_rng(9)
    w, v = random_fp32(rng, 40), random_fp32(rng, 40)
    g = rng.integers(0, 0x7F00, 40, dtype=np.uint16)
    m = rng.integers(0, 2, 40)
    hyper = StepHyper.of(lr=0.01, momentum=0.9, weight_decay=5e-5, decay=2e-4)
    result = weight_update_step(config, ScaleState.initial(config), w, v, g, m, hyper)
    expected = update_elements(w, v, g, m, hyper, 8, BF16)
    assert not result.skipped and result.state == ScaleState(scale_log2=8, clean=1)
    for have, want in zip((result.weights, result.momentum, result.copies), expected,
                          strict=True):
        assert have.tolist() == want.tolist()


# Hyper-parameters and configuration.


def test_step_hyper_holds_fp32_patterns() -> None:
    hyper = StepHyper.of(lr=0.1, momentum=0.9, weight_decay=1e-4, decay=2e-4)
    assert hyper.lr == f32(0.1) and hyper.decay == f32(2e-4)
    assert StepHyper(lr=np.uint32(5)).lr == 5
    for bad in (-1, 1 << 32, 1.5, "1"):
        with pytest.raises(ValueError, match=re.escape(f"lr must be an FP32 bit pattern, an "
                                                       f"integer from 0 to 2^32 - 1, not {bad!r}")):
            StepHyper(lr=bad)


def test_config_defaults_follow_amp() -> None:
    config = WeightUpdateConfig()
    assert (config.init_scale_log2, config.growth_interval) == (16, 2000)
    assert (config.min_scale_log2, config.max_scale_log2) == (0, 24)
    assert config.replace(dtype="bf16").dtype is BF16


@pytest.mark.parametrize(("changes", "message"), [
    ({"lanes": 0}, "lanes must be an integer from 1 to 64, not 0"),
    ({"lanes": True}, "lanes must be an integer from 1 to 64, not True"),
    ({"dtype": "int8"}, "dtype must be fp16 or bf16, not int8"),
    ({"dtype": "fp8"}, "unknown number format 'fp8'"),
    ({"min_scale_log2": -1}, "0 <= min_scale_log2 <= init_scale_log2 <= max_scale_log2 <= "
                             "126, not -1, 16, 24"),
    ({"init_scale_log2": 30}, "max_scale_log2 <= 126, not 0, 30, 24"),
    ({"max_scale_log2": 127, "init_scale_log2": 1}, "not 0, 1, 127"),
    ({"growth_interval": 0}, "growth_interval must be an integer from 1 to 1048576, not 0"),
    ({"max_count": 0}, "max_count must be an integer from 1 to 1099511627775, not 0"),
    ({"multiplier_stages": 4}, "multiplier_stages must be 1, 2 or 3, not 4"),
    ({"adder_stages": 0}, "adder_stages must be 1, 2, 3 or 4, not 0"),
])
def test_config_rejects_bad_values(changes, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        WeightUpdateConfig(**changes)
