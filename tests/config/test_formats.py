"""Tests of SAT's number formats (:mod:`sparsa.config.formats`)."""

import numpy as np
import pytest

from sparsa.config.formats import FP32, NumberFormat, as_format


def test_widths_bytes_and_accumulators() -> None:
    table = {f.value: (f.width, f.bytes, f.is_float, f.accumulator) for f in NumberFormat}
    assert table == {
        "int8": (8, 1, False, "int32"),
        "int16": (16, 2, False, "int32"),
        "fp16": (16, 2, True, "fp32"),
        "bf16": (16, 2, True, "fp32"),
    }


def test_float_layouts_are_ieee_binary16_bfloat16_and_binary32() -> None:
    fp16, bf16 = NumberFormat.FP16.float_layout, NumberFormat.BF16.float_layout
    assert (fp16.exponent_bits, fp16.fraction_bits, fp16.bias, fp16.width) == (5, 10, 15, 16)
    assert (bf16.exponent_bits, bf16.fraction_bits, bf16.bias, bf16.width) == (8, 7, 127, 16)
    assert (FP32.bias, FP32.max_exponent, FP32.width) == (127, 255, 32)
    # numpy's float16 agrees on the layout: 1.0 is bias << fraction bits, Inf the max exponent.
    assert np.float16(1.0).view(np.uint16) == fp16.bias << fp16.fraction_bits
    assert np.float16(np.inf).view(np.uint16) == fp16.max_exponent << fp16.fraction_bits
    # bfloat16 is the upper half of a binary32.
    assert np.float32(1.0).view(np.uint32) >> 16 == bf16.bias << bf16.fraction_bits


def test_integer_ranges_and_what_floats_do_not_have() -> None:
    assert NumberFormat.INT8.range == (-128, 127)
    assert NumberFormat.INT16.range == (-32768, 32767)
    with pytest.raises(ValueError, match="fp16 is a floating-point format; it has no integer"):
        _ = NumberFormat.FP16.range
    with pytest.raises(ValueError, match="int8 is an integer format; it has no exponent"):
        _ = NumberFormat.INT8.float_layout


def test_as_format_names_the_bad_value() -> None:
    assert as_format("bf16") is NumberFormat.BF16
    assert as_format(NumberFormat.INT8) is NumberFormat.INT8
    with pytest.raises(ValueError, match=r"unknown number format 'fp8'; allowed: int8, int16, "
                                         r"fp16, bf16"):
        as_format("fp8")


def test_stored_ranges_are_values_or_bit_patterns() -> None:
    assert NumberFormat.INT8.stored_range == (-128, 127)
    assert NumberFormat.FP16.stored_range == NumberFormat.BF16.stored_range == (0, 65535)
