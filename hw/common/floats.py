"""Pipelined floating-point units of SAT's training PE: a half-precision multiplier with an FP32
product and an FP32 adder.

They implement, bit for bit, the contract of :mod:`sparsa.models.golden.floats`:

- :class:`FloatMultiplier`: the exact product of two FP16 or two BF16 operands rounded once to
  FP32 to nearest even. FP16 x FP16 is always exact and normal in FP32; BF16 x BF16 overflows
  to Inf at 2^128 and underflows gradually (round to nearest even into FP32's subnormals or to
  a signed zero, no flush to zero). The sign is the XOR of the operands' signs, 0 x Inf and any
  NaN operand give NaN.
- :class:`Fp32Adder`: FP32 + FP32 rounded to nearest even, subnormal inputs and results kept,
  overflow to Inf, x + (-x) = +0, -0 + -0 = -0, Inf + -Inf = NaN.
- :class:`Fp32Multiplier` (for the weight-update engine): FP32 x FP32, the exact product
  rounded once to nearest even, overflow to Inf, gradual underflow, specials as above.
- :class:`Fp32ToHalf` (for the weight-update engine): FP32 rounded to nearest even to FP16
  or BF16, overflow to Inf, gradual underflow, NaN the format's canonical quiet NaN.
- Every NaN result is the canonical quiet NaN ``0x7FC00000``.

:func:`float_product` builds the multiplier without registers, and :func:`fp32_sum` the
adder without its last register stage (the caller's accumulator or output register), with a
load enable, for the PE array's datapath, which advances only when all its streams do.

Values are raw bit patterns. The units are pipelines of a fixed latency (``latency``, in
cycles) that take one operation per cycle; ``in_valid`` travels alongside the data and comes
out as ``out_valid`` ``latency`` cycles later. There is no back-pressure and no enable: the
registers load every cycle.

The significand product is one plain ``*`` of the two ``fraction_bits + 1``-bit significands
(11 x 11 bits for FP16, 8 x 8 for BF16), which synthesis maps to one DSP48E2; subnormal
operands enter it with a zero leading bit and the product is normalised afterwards by a
leading-zero count.
"""

from collections.abc import Callable

from amaranth import Cat, Const, Module, Mux, ShapeLike, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.checks import is_int
from sparsa.config.formats import CANONICAL_NAN, FP32, FloatLayout, NumberFormat

__all__ = [
    "CANONICAL_NAN",
    "FloatMultiplier",
    "Fp32Adder",
    "Fp32Multiplier",
    "Fp32ToHalf",
    "float_product",
    "fp32_sum",
    "fp32_to_half",
]


_INF = FP32.max_exponent << FP32.fraction_bits  # +Inf, 0x7F800000
_SIG = FP32.fraction_bits + 1  # bits of an FP32 significand, the leading one included
_GRS = 3  # guard, round and sticky bits below an aligned significand in the adder

_Step = Callable[[Module, dict[str, Value]], dict[str, Value]]


def _leading_zeros(value: Value) -> Value:
    """Leading zeros of ``value`` (its width when it is zero), as a priority chain over its
    bit positions."""
    width = len(value)
    count: Value = Const(width, range(width + 1))
    for i in range(width):
        count = Mux(value[i], width - 1 - i, count)
    return count


def _wire(m: Module, value: Value | int, name: str, shape: ShapeLike | None = None) -> Signal:
    """A combinational signal named ``name`` carrying ``value``, of ``shape`` (by default the
    shape of ``value``; a narrower one keeps its low bits)."""
    value = Value.cast(value)
    signal = Signal(value.shape() if shape is None else shape, name=name)
    m.d.comb += signal.eq(value)
    return signal


def _pipeline(
    m: Module,
    steps: list[_Step],
    cuts: set[int],
    values: dict[str, Value],
    enable: Value | None = None,
) -> dict[str, Signal]:
    """Chain ``steps``, each mapping the named values of the one before to its own, with a
    register stage after the steps whose index is in ``cuts`` (wires after the others); the
    registers load every cycle, or in the cycles ``enable`` is set.

    A step's outputs are signals ``s<index>_<name>``; ``valid`` (of any width) is passed
    through every step.
    """
    for index, step in enumerate(steps):
        outputs = {}
        for name, value in {**step(m, values), "valid": values["valid"]}.items():
            value = Value.cast(value)
            signal = Signal(value.shape(), name=f"s{index}_{name}")
            if index not in cuts:
                m.d.comb += signal.eq(value)
            elif enable is None:
                m.d.sync += signal.eq(value)
            else:
                with m.If(enable):
                    m.d.sync += signal.eq(value)
            outputs[name] = signal
        values = outputs
    return values


def _fields(bits: Value, layout: FloatLayout) -> tuple[Value, Value, Value]:
    """Sign, biased exponent and fraction of the bit pattern ``bits`` of ``layout``."""
    f, e = layout.fraction_bits, layout.exponent_bits
    return bits[f + e], bits[f : f + e], bits[:f]


def _classify(exponent: Value, fraction: Value, layout: FloatLayout) -> tuple[Value, Value]:
    """Whether a value with these fields is a NaN, and whether it is an Inf."""
    special = exponent == layout.max_exponent
    return special & (fraction != 0), special & (fraction == 0)


def _significand(exponent: Value, fraction: Value) -> tuple[Value, Value]:
    """The significand (the leading bit, zero for a subnormal or zero, and the fraction) and
    the effective biased exponent (1 for a subnormal or zero, so significand x 2^(exponent -
    bias - fraction bits) is the value)."""
    normal = exponent != 0
    return Cat(fraction, normal), Mux(normal, exponent, 1)


def _pack(sign: Value, magnitude: Value | int) -> Value:
    """An FP32 bit pattern from its sign and its magnitude (the low 31 bits of ``magnitude``)."""
    return (sign << (FP32.width - 1)) | Value.cast(magnitude)[: FP32.width - 1]


def _multiply_step(layout: FloatLayout) -> _Step:
    """A multiplier's first step for operands of ``layout``: decode them and multiply their
    significands (one ``*``), with the product's sign and special cases."""

    def multiply(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        sa, ea, fa = _fields(v["a"], layout)
        sb, eb, fb = _fields(v["b"], layout)
        nan_a, inf_a = _classify(ea, fa, layout)
        nan_b, inf_b = _classify(eb, fb, layout)
        ma, xa = _significand(ea, fa)
        mb, xb = _significand(eb, fb)
        zero_a, zero_b = ma == 0, mb == 0
        return {
            "product": ma * mb,
            "exponents": xa + xb,
            "sign": sa ^ sb,
            "nan": nan_a | nan_b | (inf_a & zero_b) | (zero_a & inf_b),
            "inf": inf_a | inf_b,
        }

    return multiply


def _product_steps(fmt: NumberFormat) -> list[_Step]:
    """The multiplier's two steps for ``fmt``: decode and multiply the significands; normalise,
    round and pack."""
    layout = fmt.float_layout

    multiply = _multiply_step(layout)

    def round_(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        product = v["product"]
        width = len(product)  # 2 (fraction_bits + 1), at most _SIG
        lz = _wire(m, _leading_zeros(product), "product_lz")
        normalised = (product << lz)[:width]  # the leading one at width - 1 (unless zero)
        significand = Cat(Const(0, _SIG - width), normalised)  # as an FP32 significand, exact
        # The product is normalised x 2^(exponents - 2 bias - 2 fraction_bits - (width - 1 -
        # lz)): its FP32 biased exponent is exponents + offset - lz.
        offset = FP32.bias + 1 - 2 * layout.bias
        exponent = _wire(m, v["exponents"] + offset - lz, "product_exponent")
        # Its range over nonzero finite operands decides which of the rounding logic exists.
        lowest = 2 + offset - (width - 1)
        highest = 2 * (layout.max_exponent - 1) + offset
        effective, kept, increment = exponent, significand, Const(0, 1)
        if lowest < 1:
            # Gradual underflow: shift right by 1 - exponent, saturated at _SIG + 1 (beyond
            # which the value is below half the smallest subnormal anyway), round to nearest
            # even with the half bit and the sticky bits below it.
            shift = _wire(
                m,
                Mux(exponent < 1, Mux(exponent < -_SIG, _SIG + 1, 1 - exponent), 0),
                "underflow_shift",
                range(_SIG + 2),
            )
            wide = Cat(Const(0, _SIG + 1), significand) >> shift
            kept = wide[_SIG + 1 :]
            increment = wide[_SIG] & ((wide[:_SIG] != 0) | kept[0])
            effective = Mux(exponent < 1, 1, exponent)
        # (effective - 1) << 23 plus the significand: its leading one lifts the exponent field
        # to ``effective``, and a subnormal rounded up to 2^23 becomes the smallest normal.
        magnitude = ((effective - 1) << FP32.fraction_bits) + kept + increment
        inf = v["inf"]
        if highest >= FP32.max_exponent:
            inf = inf | (exponent >= FP32.max_exponent)
        return {
            "p": Mux(
                v["nan"],
                CANONICAL_NAN,
                _pack(v["sign"], Mux(inf, _INF, Mux(product == 0, 0, magnitude))),
            )
        }

    return [multiply, round_]


class _FloatUnit(wiring.Component):
    """A fixed pipeline of steps (:func:`_pipeline`): the operands in, the result out, ``valid``
    alongside, a register stage after each step in ``cuts``.

    Every unit has ``in_valid : In(1)`` (the operands are an operation; it travels alongside
    and the datapath ignores it) and ``out_valid : Out(1)`` (``in_valid`` of ``latency`` cycles
    before), besides its operands and its result.
    """

    def __init__(
        self,
        operands: dict[str, int],
        result: tuple[str, int],
        steps: list[_Step],
        cuts: set[int],
    ) -> None:
        self._operands, self._result = tuple(operands), result[0]
        self._steps, self._cuts = steps, cuts
        super().__init__({
            **{name: In(width) for name, width in operands.items()},
            "in_valid": In(1),
            result[0]: Out(result[1]),
            "out_valid": Out(1),
        })

    @property
    def latency(self) -> int:
        """Cycles from the operands to the result."""
        return len(self._cuts)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        inputs = {name: getattr(self, name) for name in self._operands}
        out = _pipeline(m, self._steps, self._cuts, {**inputs, "valid": self.in_valid})
        m.d.comb += [
            getattr(self, self._result).eq(out[self._result]),
            self.out_valid.eq(out["valid"]),
        ]
        return m


def _half_format(fmt: object, unit: str) -> NumberFormat:
    """``fmt`` if it is FP16 or BF16, else a ValueError naming ``unit`` and ``fmt``."""
    if not (isinstance(fmt, NumberFormat) and fmt.is_float):
        name = fmt.value if isinstance(fmt, NumberFormat) else repr(fmt)
        raise ValueError(f"{unit} takes NumberFormat.FP16 or NumberFormat.BF16, not {name}")
    return fmt


class FloatMultiplier(_FloatUnit):
    """Multiplies two FP16 or two BF16 operands into an FP32 product (module contract).

    Two register stages: the first decodes the operands and multiplies the significands, the
    second normalises the product, rounds it into FP32's subnormals (BF16 only) and packs it,
    with the special cases.

    Parameters
    ----------
    fmt : NumberFormat
        ``NumberFormat.FP16`` or ``NumberFormat.BF16``.

    Members
    -------
    a, b : In(16)
        The operands' bit patterns (``in_valid`` and ``out_valid``: :class:`_FloatUnit`).
    p : Out(32)
        Their FP32 product, ``LATENCY`` cycles later.

    Raises
    ------
    ValueError
        For an integer format.
    """

    LATENCY = 2  # cycles from a, b to p

    def __init__(self, fmt: NumberFormat) -> None:
        self._fmt = _half_format(fmt, "FloatMultiplier")
        super().__init__({"a": fmt.width, "b": fmt.width}, ("p", FP32.width),
                         _product_steps(fmt), {0, 1})

    @property
    def fmt(self) -> NumberFormat:
        """The operand format."""
        return self._fmt


# Fp32Adder's steps after which a register stage sits, for each number of stages.
_ADDER_CUTS = {1: {3}, 2: {1, 3}, 3: {0, 1, 3}, 4: {0, 1, 2, 3}}


class Fp32Adder(_FloatUnit):
    """Adds two FP32 values (module contract), one addition per cycle.

    Four steps: align (order the operands by magnitude, shift the smaller one's significand
    right with guard, round and sticky bits), add (or subtract, and count the leading zeros),
    normalise (one place right after a carry, or left by the leading zeros but not below the
    smallest exponent, so a subnormal result stays one), round (to nearest even, pack, overflow
    to Inf), with the special cases travelling alongside. ``stages`` register stages split them:
    1: all four; 2: align and add, then the rest; 3: align, add, then normalise and round; 4:
    one step each.

    Parameters
    ----------
    stages : int
        Latency in cycles, 1 to 4 (default 3).

    Members
    -------
    a, b : In(32)
        The operands' FP32 bit patterns (``in_valid`` and ``out_valid``: :class:`_FloatUnit`).
    s : Out(32)
        Their FP32 sum, ``stages`` cycles later.

    Raises
    ------
    ValueError
        For a ``stages`` that is not 1, 2, 3 or 4.
    """

    def __init__(self, stages: int = 3) -> None:
        if not is_int(stages) or stages not in _ADDER_CUTS:
            raise ValueError(f"stages must be 1, 2, 3 or 4, not {stages!r}")
        steps = [self._align, self._add, self._normalise, self._round]
        super().__init__({"a": FP32.width, "b": FP32.width}, ("s", FP32.width), steps,
                         _ADDER_CUTS[stages])

    @property
    def stages(self) -> int:
        """Register stages."""
        return self.latency

    @staticmethod
    def _align(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        magnitude = FP32.width - 1
        swap = _wire(m, v["b"][:magnitude] > v["a"][:magnitude], "swap")
        x = _wire(m, Mux(swap, v["b"], v["a"]), "x")  # the larger magnitude
        y = _wire(m, Mux(swap, v["a"], v["b"]), "y")
        sx, ex, fx = _fields(x, FP32)
        sy, ey, fy = _fields(y, FP32)
        nan_x, inf_x = _classify(ex, fx, FP32)
        nan_y, inf_y = _classify(ey, fy, FP32)
        mx, xx = _significand(ex, fx)
        my, xy = _significand(ey, fy)
        # Shift y's significand (with _GRS zero bits below) right by the exponent difference,
        # saturated where every bit has left; the bits shifted out OR into the sticky bit.
        width = _SIG + _GRS
        distance = _wire(m, (xx - xy)[: FP32.exponent_bits], "distance")
        shift = _wire(m, Mux(distance > width, width, distance), "align_shift")
        wide = Cat(Const(0, width + _GRS), my) >> shift
        return {
            "x": Cat(Const(0, _GRS), mx),
            "y": wide[width:] | (wide[:width] != 0),
            "subtract": sx ^ sy,
            "exponent": xx,
            "sign": sx,
            "zero_sign": sx & sy,
            "nan": nan_x | nan_y | (inf_x & inf_y & (sx ^ sy)),
            "inf": inf_x,
        }

    @staticmethod
    def _add(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        width = _SIG + _GRS
        total = _wire(m, Mux(v["subtract"], v["x"] - v["y"], v["x"] + v["y"])[: width + 1], "total")
        return {
            "total": total,
            "lz": _leading_zeros(total[:width]),
            **{k: v[k] for k in ("exponent", "sign", "zero_sign", "nan", "inf")},
        }

    @staticmethod
    def _normalise(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        width = _SIG + _GRS
        total, lz, exponent = v["total"], v["lz"], v["exponent"]
        carry = total[width]
        # Left by the leading zeros, but not below the effective exponent 1.
        shift = _wire(m, Mux(lz < exponent, lz, exponent - 1), "normalise_shift", lz.shape())
        return {
            "significand": Mux(
                carry, Cat(total[0] | total[1], total[2:]), (total[:width] << shift)[:width]
            ),
            "exponent": Mux(carry, exponent + 1, exponent - shift)[: FP32.exponent_bits + 1],
            "zero": total == 0,
            **{k: v[k] for k in ("sign", "zero_sign", "nan", "inf")},
        }

    @staticmethod
    def _round(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        significand, exponent = v["significand"], v["exponent"]
        kept = significand[_GRS:]
        guard, sticky = significand[_GRS - 1], significand[: _GRS - 1] != 0
        increment = guard & (sticky | kept[0])
        # As in the multiplier: the significand's leading one (or a round up to it) makes the
        # exponent field; a carry out of the significand lifts it by one.
        magnitude = _wire(
            m, ((exponent - 1) << FP32.fraction_bits) + kept + increment, "rounded", FP32.width
        )
        inf = v["inf"] | (magnitude >= _INF)
        return {
            "s": Mux(
                v["nan"],
                CANONICAL_NAN,
                Mux(
                    v["zero"],
                    _pack(v["zero_sign"], 0),
                    _pack(v["sign"], Mux(inf, _INF, magnitude)),
                ),
            )
        }



def float_product(m: Module, a: Value, b: Value, fmt: NumberFormat) -> Value:
    """The FP32 product of the ``fmt`` operands ``a`` and ``b`` as combinational logic in ``m``:
    :class:`FloatMultiplier`'s steps without its registers (same contract)."""
    return _pipeline(m, _product_steps(fmt), set(), {"a": a, "b": b, "valid": Const(1)})["p"]


def fp32_sum(
    m: Module,
    a: Value,
    b: Value,
    *,
    stages: int = 1,
    enable: Value | None = None,
    flags: Value | None = None,
) -> tuple[Value, Value]:
    """The FP32 sum of ``a`` and ``b`` in ``m``: :class:`Fp32Adder` of ``stages`` register
    stages (same contract) without its last register, which the caller provides (an
    accumulator, an output register), so that with ``stages`` = 1 it is combinational logic.

    Parameters
    ----------
    m : Module
    a, b : Value
        The operands' FP32 bit patterns.
    stages : int
        The adder's register stages, 1 to 4; ``stages`` - 1 of them are built here.
    enable : Value, optional
        The registers load in the cycles it is set (every cycle when omitted).
    flags : Value, optional
        Bits that travel alongside the operation (:func:`_pipeline`'s ``valid``).

    Returns
    -------
    sum, flags : Value
        The sum and ``flags`` of ``stages`` - 1 cycles (loading cycles) before.
    """
    if not is_int(stages) or stages not in _ADDER_CUTS:
        raise ValueError(f"stages must be 1, 2, 3 or 4, not {stages!r}")
    steps = [Fp32Adder._align, Fp32Adder._add, Fp32Adder._normalise, Fp32Adder._round]
    cuts = _ADDER_CUTS[stages] - {len(steps) - 1}
    values = {"a": a, "b": b, "valid": Const(0) if flags is None else flags}
    out = _pipeline(m, steps, cuts, values, enable)
    return out["s"], out["valid"]


def fp32_to_half(m: Module, a: Value, fmt: NumberFormat) -> Value:
    """``a`` (FP32) rounded to ``fmt`` (FP16 or BF16) as combinational logic in ``m``:
    :class:`Fp32ToHalf`'s step without its register (same contract)."""
    _half_format(fmt, "fp32_to_half")
    return _pipeline(m, [_narrow_step(fmt)], set(), {"a": a, "valid": Const(1)})["h"]


def _fp32_product_steps() -> list[_Step]:
    """:class:`Fp32Multiplier`'s three steps: decode and multiply the significands; normalise;
    round (into the subnormals too) and pack."""
    width = 2 * _SIG  # the significand product

    multiply = _multiply_step(FP32)

    def normalise(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        product = v["product"]
        lz = _wire(m, _leading_zeros(product), "fp32_product_lz")
        # The product is ma mb 2^(exponents - 2 bias - 2 fraction_bits); with its leading one
        # moved to bit width - 1 its FP32 biased exponent is exponents - bias + 1 - lz (from
        # -171 to 382: signed, 10 bits).
        return {
            "normalised": (product << lz)[:width],
            "exponent": (v["exponents"] - (FP32.bias - 1) - lz).as_signed(),
            **{k: v[k] for k in ("sign", "nan", "inf")},
        }

    def round_(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        normalised, exponent = v["normalised"], v["exponent"]
        # Below the normal range shift right by 1 - exponent, saturated at _SIG + 2 (beyond
        # which the value is below half the smallest subnormal); then keep _SIG bits, the half
        # bit below them and the sticky bits below that, and round to nearest even.
        shift = _wire(
            m,
            Mux(exponent < 1, Mux(exponent < -_SIG - 1, _SIG + 2, 1 - exponent), 0),
            "fp32_underflow_shift",
            range(_SIG + 3),
        )
        wide = Cat(Const(0, _SIG + 2), normalised) >> shift
        kept = wide[-_SIG:]
        half = wide[-_SIG - 1]
        increment = half & ((wide[: -_SIG - 1] != 0) | kept[0])
        effective = Mux(exponent < 1, 1, exponent)
        # As in the half-precision multiplier: the leading one lifts the exponent field to
        # ``effective``, a carry out of the significand by one more (up to Inf's pattern).
        magnitude = _wire(
            m,
            ((effective - 1) << FP32.fraction_bits) + kept + increment,
            "fp32_product_magnitude",
            range(1 << (FP32.exponent_bits + FP32.fraction_bits + 2)),
        )
        inf = v["inf"] | (exponent >= FP32.max_exponent) | (magnitude >= _INF)
        zero = normalised == 0
        return {
            "p": Mux(
                v["nan"],
                CANONICAL_NAN,
                _pack(v["sign"], Mux(inf, _INF, Mux(zero, 0, magnitude))),
            )
        }

    return [multiply, normalise, round_]


# Fp32Multiplier's steps after which a register stage sits, for each number of stages.
_MULTIPLIER_CUTS = {1: {2}, 2: {0, 2}, 3: {0, 1, 2}}


class Fp32Multiplier(_FloatUnit):
    """Multiplies two FP32 values (the contract of
    :func:`sparsa.models.golden.floats.fp32_mul`), one product per cycle.

    The exact product rounded once to nearest even: overflow to Inf, gradual underflow into
    the subnormals or to a signed zero, the sign the XOR of the operands' signs, 0 x Inf and
    any NaN operand the canonical NaN. Three steps: decode and multiply the 24-bit significands
    (one ``*``, a cascade of DSP48E2 slices), normalise by the leading-zero count (subnormal
    operands included), round and pack. ``stages`` register stages split them: 1: all three; 2:
    the multiply, then the rest; 3: one step each.

    Parameters
    ----------
    stages : int
        1, 2 or 3 register stages, the latency (default 3).

    Members
    -------
    a, b : In(32)
        As :class:`Fp32Adder`'s.
    p : Out(32)
        Their FP32 product, ``stages`` cycles later.

    Raises
    ------
    ValueError
        For a ``stages`` that is not 1, 2 or 3.
    """

    def __init__(self, stages: int = 3) -> None:
        if not is_int(stages) or stages not in _MULTIPLIER_CUTS:
            raise ValueError(f"stages must be 1, 2 or 3, not {stages!r}")
        super().__init__({"a": FP32.width, "b": FP32.width}, ("p", FP32.width),
                         _fp32_product_steps(), _MULTIPLIER_CUTS[stages])

    @property
    def stages(self) -> int:
        """Register stages."""
        return self.latency


def _narrow_step(fmt: NumberFormat) -> _Step:
    """:class:`Fp32ToHalf`'s one step for ``fmt``: align, round and pack."""
    layout = fmt.float_layout
    f = layout.fraction_bits
    drop = FP32.fraction_bits - f  # fraction bits dropped from a value in the normal range
    inf = layout.max_exponent << f
    nan = inf | (1 << (f - 1))

    def narrow(m: Module, v: dict[str, Value]) -> dict[str, Value]:
        sign, e, fraction = _fields(v["a"], FP32)
        is_nan, is_inf = _classify(e, fraction, FP32)
        significand, x = _significand(e, fraction)
        # The value's biased exponent in ``fmt`` (from 1 - 127 + bias to 254 - 127 + bias).
        exponent = _wire(m, (x - FP32.bias + layout.bias).as_signed(), "narrow_exponent")
        shift: Value = Const(drop, range(_SIG + 2))
        effective: Value = exponent
        if 1 - FP32.bias + layout.bias < 1:
            # Below the format's normal range: drop 1 - exponent more bits, saturated where
            # the value is below half the smallest subnormal.
            extra = 1 - exponent
            shift = _wire(
                m,
                Mux(exponent < 1, Mux(extra > _SIG + 1 - drop, _SIG + 1, drop + extra), drop),
                "narrow_shift",
                range(_SIG + 2),
            )
            effective = Mux(exponent < 1, 1, exponent)
        wide = Cat(Const(0, _SIG + 1), significand) >> shift
        kept = wide[_SIG + 1 :][: f + 1]
        half = wide[_SIG]
        increment = half & ((wide[:_SIG] != 0) | kept[0])
        magnitude = _wire(
            m,
            ((effective - 1) << f) + kept + increment,
            "narrow_magnitude",
            range(1 << (layout.exponent_bits + f + 2)),
        )
        overflow = is_inf | (exponent >= layout.max_exponent) | (magnitude >= inf)
        packed = Cat(Mux(overflow, inf, magnitude)[: layout.width - 1], sign)
        return {"h": Mux(is_nan, nan, packed)}

    return narrow


class Fp32ToHalf(_FloatUnit):
    """Rounds an FP32 value to FP16 or BF16 (the contract of
    :func:`sparsa.models.golden.floats.fp32_to_half`), one value per cycle.

    Round to nearest even, overflow to a signed Inf, gradual underflow into the format's
    subnormals or to a signed zero, every NaN the format's canonical quiet NaN. One register
    stage.

    Parameters
    ----------
    fmt : NumberFormat
        The format to round to, FP16 or BF16.

    Members
    -------
    a : In(32)
        The FP32 bit pattern.
    in_valid : In(1)
        ``a`` is an operation (travels alongside, ignored by the datapath).
    h : Out(16)
        ``a`` of ``LATENCY`` cycles before, rounded to ``fmt``.
    out_valid : Out(1)
        ``in_valid`` of ``LATENCY`` cycles before.

    Raises
    ------
    ValueError
        For an integer format.
    """

    LATENCY = 1  # cycles from a to h

    def __init__(self, fmt: NumberFormat) -> None:
        self._fmt = _half_format(fmt, "Fp32ToHalf")
        super().__init__({"a": FP32.width}, ("h", fmt.width), [_narrow_step(fmt)], {0})

    @property
    def fmt(self) -> NumberFormat:
        """The format rounded to."""
        return self._fmt
