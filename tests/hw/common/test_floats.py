# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of :mod:`sparsa.hw.common.floats` against :mod:`sparsa.models.golden.floats`.

Each unit streams one operation a cycle, back to back (with a bubble every 13th cycle to check
that ``in_valid`` travels alongside), through one simulation per unit and format: seeded random
bit patterns (NaNs, Infs and subnormals among them) and adversarial lists (the IEEE special
cases, ties, massive cancellation, every exponent difference, BF16 products around FP32's
underflow and overflow). Every output is compared with the golden, bit for bit, and must come
exactly ``latency`` cycles after its operands.
"""

import re

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from sparsa.config.formats import FP32, FloatLayout, NumberFormat
from sparsa.hw.common.floats import (
    FloatMultiplier,
    Fp32Adder,
    Fp32Multiplier,
    Fp32ToHalf,
    fp32_sum,
)
from sparsa.models.golden import floats as golden

FP16, BF16 = NumberFormat.FP16, NumberFormat.BF16
Format = NumberFormat | FloatLayout
BUBBLE = 13  # every BUBBLE-th cycle carries no operation


def simulate(
    dut: wiring.Component, operands: dict[str, np.ndarray], output: str
) -> list[int | None]:
    """Stream ``operands[port][i]`` into ``dut`` in cycle i (every BUBBLE-th cycle invalid);
    return the results of port ``output`` (None for the bubbles), checking that each comes
    exactly ``dut.latency`` cycles later and that ``out_valid`` is ``in_valid`` of that cycle."""
    n = len(next(iter(operands.values())))
    valid = [i % BUBBLE != BUBBLE - 1 for i in range(n)]
    results: list[int | None] = []

    async def bench(ctx) -> None:
        for cycle in range(n + dut.latency):
            ctx.set(dut.in_valid, cycle < n and valid[cycle])
            for port, values in operands.items():
                ctx.set(getattr(dut, port), int(values[min(cycle, n - 1)]))
            if cycle >= dut.latency:
                expected_valid = valid[cycle - dut.latency]
                assert ctx.get(dut.out_valid) == expected_valid, f"out_valid at cycle {cycle}"
                results.append(ctx.get(getattr(dut, output)) if expected_valid else None)
            else:
                assert not ctx.get(dut.out_valid), f"out_valid at cycle {cycle}"
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results


def check(results: list[int | None], expected: np.ndarray, a, b, seed: int, what: str) -> None:
    """Every non-bubble result equals the golden's."""
    for i, (got, want) in enumerate(zip(results, expected.tolist(), strict=True)):
        if got is not None and got != want:
            raise AssertionError(
                f"seed {seed}, {what} #{i}: {int(a[i]):#x}, {int(b[i]):#x} -> {got:#010x}, "
                f"golden {want:#010x}"
            )


def pairs(values: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of ``values``, as two arrays."""
    a, b = np.meshgrid(values, values)
    return a.ravel(), b.ravel()


def patterns(rng: np.random.Generator, exponents: np.ndarray, fmt: Format) -> np.ndarray:
    """Bit patterns of ``fmt`` (a NumberFormat or FP32) with these biased exponents, random
    signs and fractions."""
    layout = FP32 if fmt == FP32 else fmt.float_layout
    f = layout.fraction_bits
    signs = rng.integers(0, 2, exponents.shape).astype(np.uint64) << (layout.width - 1)
    fractions = rng.integers(0, 1 << f, exponents.shape).astype(np.uint64)
    bits = signs | (exponents.astype(np.uint64) << f) | fractions
    return bits.astype(np.uint16 if layout.width == 16 else np.uint32)


def exponent_pairs(
    rng: np.random.Generator, fmt: Format, n: int, first: tuple[int, int], sums: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of random patterns of ``fmt``: the first's biased exponent in the range
    ``first``, the two exponents' sum in the range ``sums`` (as far as the format allows)."""
    layout = FP32 if fmt == FP32 else fmt.float_layout
    ea = rng.integers(*first, n)
    eb = np.clip(rng.integers(*sums, n) - ea, 0, layout.max_exponent - 1)
    return patterns(rng, ea, fmt), patterns(rng, eb, fmt)


# Multiplier

HALF_SPECIALS = {
    # +-0, subnormals, the smallest normal, 1, 1.5, the largest finite, Inf, quiet, signalling
    # and negative NaNs.
    FP16: [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0200, 0x0400, 0x3C00, 0xBC00, 0x3E00,
           0x3C01, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF],
    BF16: [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0040, 0x0080, 0x3F80, 0xBF80, 0x3FC0,
           0x3F81, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFFF],
}


def multiplier_vectors(fmt: NumberFormat, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = [pairs(HALF_SPECIALS[fmt])]
    n = 4000
    groups.append(tuple(rng.integers(0, 1 << 16, (2, n), dtype=np.uint16)))
    if fmt is BF16:
        # Products in and around FP32's subnormal range (biased exponent sums 96 to 130, the
        # product below 2^(sum - 253)) and around 2^128 (sums 375 to 386).
        groups.append(exponent_pairs(rng, fmt, n, (1, 127), (96, 131)))
        groups.append(exponent_pairs(rng, fmt, n, (127, 255), (375, 387)))
    else:
        groups.append(exponent_pairs(rng, fmt, n, (0, 3), (0, 33)))  # subnormal operands
    return np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups])


@pytest.mark.parametrize("fmt", [FP16, BF16])
def test_multiplier_matches_the_golden(fmt: NumberFormat) -> None:
    seed = 31 + (fmt is BF16)
    a, b = multiplier_vectors(fmt, seed)
    results = simulate(FloatMultiplier(fmt), {"a": a, "b": b}, "p")
    check(results, golden.fp_product(a, b, fmt), a, b, seed, f"{fmt.value} product")


# Adder

FP32_SPECIALS = [
    0x0000_0000, 0x8000_0000, 0x0000_0001, 0x8000_0001, 0x007F_FFFF, 0x807F_FFFF, 0x0080_0000,
    0x8080_0000, 0x0080_0001, 0x3F80_0000, 0xBF80_0000, 0x3F80_0001, 0xBF80_0001, 0x3380_0000,
    0x3400_0000, 0x3FFF_FFFF, 0x4000_0000, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x7300_0000, 0x7F80_0000,
    0xFF80_0000, 0x7FC0_0000, 0x7F80_0001, 0xFFFF_FFFF, 0x3480_8000,
]  # 0x3FFFFFFF + 0x34808000 = 2 + 2^-23 + 2^-30 rounds up only by its sticky bit


def adder_vectors(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = [pairs(FP32_SPECIALS)]
    groups.append(tuple(rng.integers(0, 1 << 32, (2, n), dtype=np.uint32)))
    # Massive cancellation: b close to -a (or to a) in its low bits.
    a = rng.integers(0, 1 << 32, n, dtype=np.uint32)
    flip = rng.integers(0, 1 << rng.integers(1, 24, n), dtype=np.uint32)
    groups.append((a, a ^ flip ^ (rng.integers(0, 2, n, dtype=np.uint32) << 31)))
    # Every exponent difference 0 to 40, fractions random or zero (exact ties half an ulp away).
    ea = rng.integers(41, 254, n)
    a = patterns(rng, ea, FP32)
    b = patterns(rng, ea - rng.integers(0, 41, n), FP32)
    b[: n // 2] &= 0xFF80_0000
    groups.append((a, b))
    # Sums that carry into the next binade with bits shifted out of the sticky bit (x's
    # fraction near all ones, y of the same sign 1 to 30 binades below).
    ea = rng.integers(31, 254, n)
    a = patterns(rng, ea, FP32) | 0x007F_0000
    b = (patterns(rng, ea - rng.integers(1, 31, n), FP32) & 0x7FFF_FFFF) | (a & 0x8000_0000)
    groups.append((a, b))
    # The subnormal range and its edge, and the overflow edge.
    groups.append(exponent_pairs(rng, FP32, n, (0, 3), (0, 5)))
    groups.append(exponent_pairs(rng, FP32, n, (250, 255), (500, 509)))
    return np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups])


@pytest.mark.parametrize(("stages", "n"), [(3, 3000), (1, 1000), (2, 1000), (4, 1000)])
def test_adder_matches_the_golden(stages: int, n: int) -> None:
    seed = 40 + stages
    a, b = adder_vectors(seed, n)
    results = simulate(Fp32Adder(stages), {"a": a, "b": b}, "s")
    check(results, golden.fp32_add(a, b), a, b, seed, f"{stages}-stage sum")


class _EnabledSum(wiring.Component):
    """:func:`fp32_sum` of ``stages`` stages with a load enable and flags; its last register
    stage is ``s``, loading with the others."""

    a: In(32)
    b: In(32)
    flags: In(2)
    en: In(1)
    s: Out(32)
    flags_out: Out(2)

    def __init__(self, stages: int) -> None:
        self.stages = stages
        super().__init__()

    def elaborate(self, platform: object) -> Module:
        m = Module()
        total, flags = fp32_sum(m, self.a, self.b, stages=self.stages, enable=self.en,
                                flags=self.flags)
        with m.If(self.en):
            m.d.sync += [self.s.eq(total), self.flags_out.eq(flags)]
        return m


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
def test_an_enabled_sum_advances_only_when_enabled(stages: int) -> None:
    # The PE array's adder: operands and flags enter on loading cycles only (random holds in
    # between) and leave ``stages`` loading cycles later.
    seed = 60 + stages
    rng = np.random.default_rng(seed)
    a, b = adder_vectors(seed, 200)
    expected = golden.fp32_add(a, b)
    loads = rng.random(4 * len(a)) < 0.6
    dut = _EnabledSum(stages)

    async def bench(ctx) -> None:
        sent = 0
        for load in loads:
            if sent >= len(a) + stages:
                break
            i = min(sent, len(a) - 1)
            ctx.set(dut.a, int(a[i]))
            ctx.set(dut.b, int(b[i]))
            ctx.set(dut.flags, i % 4)
            ctx.set(dut.en, int(load))
            await ctx.tick()
            if load:
                sent += 1
                done = sent - stages  # the operation whose result is now in s
                if 0 <= done < len(a):
                    assert ctx.get(dut.s) == expected[done], f"seed {seed}: operation {done}"
                    assert ctx.get(dut.flags_out) == done % 4

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    with pytest.raises(ValueError, match="stages must be 1, 2, 3 or 4, not 0"):
        fp32_sum(Module(), Signal(32), Signal(32), stages=0)


# Interfaces


def test_latencies() -> None:
    assert FloatMultiplier.LATENCY == 2
    assert FloatMultiplier(FP16).latency == FloatMultiplier(BF16).latency == 2
    assert Fp32Adder().latency == Fp32Adder().stages == 3
    assert [Fp32Adder(k).latency for k in (1, 2, 3, 4)] == [1, 2, 3, 4]


@pytest.mark.parametrize("fmt", [FP16, BF16])
def test_multiplier_exports_verilog_with_one_small_multiply(fmt: NumberFormat) -> None:
    text = verilog.convert(FloatMultiplier(fmt), name=f"float_multiplier_{fmt.value}")
    products = re.findall(r"assign .* = (.*) \* \(\* src.*\*\) (.*);", text)
    f = fmt.float_layout.fraction_bits
    # One multiply of the two significands: the leading bit and the fraction of each operand.
    assert products == [(f"{{ \\$1 , a[{f - 1}:0] }}", f"{{ \\$2 , b[{f - 1}:0] }}")], products


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
def test_adder_exports_verilog(stages: int) -> None:
    assert "module fp32_adder" in verilog.convert(Fp32Adder(stages), name="fp32_adder")


@pytest.mark.parametrize("fmt", [NumberFormat.INT8, NumberFormat.INT16, "fp16", None])
def test_multiplier_rejects_other_formats(fmt: object) -> None:
    name = fmt.value if isinstance(fmt, NumberFormat) else repr(fmt)
    message = f"FloatMultiplier takes NumberFormat.FP16 or NumberFormat.BF16, not {re.escape(name)}"
    with pytest.raises(ValueError, match=message + "$"):
        FloatMultiplier(fmt)


@pytest.mark.parametrize("stages", [0, 5, True, 3.0, "3"])
def test_adder_rejects_other_stage_counts(stages: object) -> None:
    message = f"stages must be 1, 2, 3 or 4, not {re.escape(repr(stages))}$"
    with pytest.raises(ValueError, match=message):
        Fp32Adder(stages)


# The weight-update engine's units: FP32 multiplier and FP32 -> FP16/BF16 rounding.


def fp32_multiplier_vectors(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = [pairs(FP32_SPECIALS)]
    groups.append(tuple(rng.integers(0, 1 << 32, (2, n), dtype=np.uint32)))
    # Products around FP32's subnormal range (biased exponent sums 70 to 130, subnormal
    # operands among them) and around its overflow (sums 375 to 385).
    groups.append(exponent_pairs(rng, FP32, n, (0, 127), (70, 131)))
    groups.append(exponent_pairs(rng, FP32, n, (127, 255), (375, 386)))
    # Ties and near-ties: significands with few set bits, whose products end in 100...0.
    ea = rng.integers(1, 254, n)
    a = patterns(rng, ea, FP32) & 0xFFF0_0000
    b = patterns(rng, np.clip(254 - ea + rng.integers(-40, 40, n), 1, 254), FP32) & 0xFFFF_F001
    groups.append((a, b))
    return np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups])


@pytest.mark.parametrize(("stages", "n"), [(3, 2000), (1, 700), (2, 700)])
def test_fp32_multiplier_matches_the_golden(stages: int, n: int) -> None:
    seed = 50 + stages
    a, b = fp32_multiplier_vectors(seed, n)
    dut = Fp32Multiplier(stages)
    assert dut.latency == dut.stages == stages
    results = simulate(dut, {"a": a, "b": b}, "p")
    check(results, golden.fp32_mul(a, b), a, b, seed, f"{stages}-stage FP32 product")


@pytest.mark.parametrize("fmt", [FP16, BF16])
def test_fp32_to_half_matches_the_golden(fmt: NumberFormat) -> None:
    seed = 60 + (fmt is BF16)
    rng = np.random.default_rng(seed)
    n = 3000
    # Random patterns, FP32_SPECIALS, exponents around the format's range (FP16: 90 to 150)
    # and its ties (only the half bit set below the kept fraction).
    low, high = (90, 150) if fmt is FP16 else (0, 255)
    near = patterns(rng, rng.integers(low, high, n), FP32)
    drop = FP32.fraction_bits - fmt.float_layout.fraction_bits
    ties = (near & ~np.uint32((1 << drop) - 1)) | np.uint32(1 << (drop - 1))
    a = np.concatenate([np.array(FP32_SPECIALS, dtype=np.uint32),
                        rng.integers(0, 1 << 32, n, dtype=np.uint32), near, ties])
    dut = Fp32ToHalf(fmt)
    assert dut.latency == Fp32ToHalf.LATENCY == 1 and dut.fmt is fmt
    results = simulate(dut, {"a": a}, "h")
    check(results, golden.fp32_to_half(a, fmt), a, a, seed, f"{fmt.value} rounding")


def test_new_units_export_verilog_and_reject_bad_parameters() -> None:
    assert "module fp32_multiplier" in verilog.convert(Fp32Multiplier(), name="fp32_multiplier")
    assert "module fp32_to_half" in verilog.convert(Fp32ToHalf(BF16), name="fp32_to_half")
    for stages in (0, 4, True, "3"):
        with pytest.raises(ValueError, match=f"stages must be 1, 2 or 3, not "
                                             f"{re.escape(repr(stages))}$"):
            Fp32Multiplier(stages)
    with pytest.raises(ValueError, match=r"NumberFormat.BF16, not int8$"):
        Fp32ToHalf(NumberFormat.INT8)
