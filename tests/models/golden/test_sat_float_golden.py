"""Tests of SAT's floating-point golden GEMMs (:mod:`sparsa.models.golden.sat` with FP16 and
BF16 operands): PE order, chunked partial sums, pruned positions, operand checks."""

import numpy as np
import pytest
import torch

from sparsa.config.formats import CANONICAL_NAN, FP32, NumberFormat
from sparsa.config.sat import NMPattern, SatArrayConfig
from sparsa.models.golden.floats import fp32_add, fp_product, from_bits, to_bits
from sparsa.models.golden.sat import compressed_matmul, gemm_ff, nm_generate

FP16 = NumberFormat.FP16
CONFIG = SatArrayConfig(rows=4, cols=4, patterns=(NMPattern(2, 4),), dtype=FP16)
ONE, INF = 0x3C00, 0x7C00


def _bits(values, fmt=FP16) -> torch.Tensor:
    return torch.from_numpy(to_bits(np.asarray(values, dtype=np.float64), fmt).astype(np.int64))


def _value(bits: int) -> float:
    return float(from_bits(np.uint32(bits), FP32))


def test_a_dense_row_sums_its_products_in_entry_order_from_plus_zero() -> None:
    seed = 3
    rng = np.random.default_rng(seed)
    w, x = _bits(rng.standard_normal((2, 12))), _bits(rng.standard_normal((12, 3)))
    got = gemm_ff(w, x, None, CONFIG)
    for i in range(2):
        for j in range(3):
            acc = np.uint32(0)
            for t in range(12):
                acc = fp32_add(acc, fp_product(int(w[i, t]), int(x[t, j]), FP16))
            assert int(got[i, j]) == int(acc), f"seed={seed} Y[{i}][{j}]"


def test_chunks_are_summed_apart_then_added_in_order() -> None:
    # Products 1, 2^24, 1, 1. One sum: 1 + 2^24 rounds to 2^24 (a tie, to even), and so does
    # each later + 1. Chunks of two: 2^24 and 2, whose sum 2^24 + 2 is exact.
    w = _bits([[1.0, 4096.0, 1.0, 1.0]])
    x = _bits([[1.0], [4096.0], [1.0], [1.0]])
    assert _value(int(gemm_ff(w, x, None, CONFIG)[0, 0])) == 2.0**24
    assert _value(int(gemm_ff(w, x, None, CONFIG, chunk=1)[0, 0])) == 2.0**24
    assert _value(int(gemm_ff(w, x, None, CONFIG, chunk=2)[0, 0])) == 2.0**24 + 2
    # Integers are exact whatever the split.
    ints = SatArrayConfig(rows=4, cols=4, patterns=(NMPattern(2, 4),), max_reduction=64)
    a, b = torch.tensor([[3, -7, 100, 5]]), torch.tensor([[2], [9], [-1], [4]])
    assert gemm_ff(a, b, None, ints, chunk=1).tolist() == gemm_ff(a, b, None, ints).tolist()


def test_interleaved_lanes_in_each_chunk() -> None:
    # Products 2^24, 1, 1, 1 in two lanes: 2^24 + 1 = 2^24 and 1 + 1 = 2, then 2^24 + 2.
    w = _bits([[4096.0, 1.0, 1.0, 1.0]])
    x = _bits([[4096.0], [1.0], [1.0], [1.0]])
    config = CONFIG.replace(add_latency=2)
    assert _value(int(gemm_ff(w, x, None, config, lanes=2)[0, 0])) == 2.0**24 + 2
    # Chunks of two, each in two lanes: (2^24 + 1) = 2^24, then + (1 + 1).
    assert _value(int(gemm_ff(w, x, None, config, chunk=2, lanes=2)[0, 0])) == 2.0**24 + 2
    assert _value(int(gemm_ff(w, x, None, config, chunk=3, lanes=2)[0, 0])) == 2.0**24
    # Integers are exact whatever the lanes.
    ints = SatArrayConfig(rows=4, cols=4, patterns=(NMPattern(2, 4),), max_reduction=64)
    a, b = torch.tensor([[3, -7, 100, 5]]), torch.tensor([[2], [9], [-1], [4]])
    assert gemm_ff(a, b, None, ints, lanes=3).tolist() == gemm_ff(a, b, None, ints).tolist()


def test_a_pruned_position_is_never_multiplied() -> None:
    # Row [0, 1, 2, 0] keeps 1 and 2 (2:4); the Inf activations face the pruned zeros.
    w = _bits([[0.0, 1.0, 2.0, 0.0]])
    x = torch.tensor([[INF], [ONE], [ONE], [INF]])
    sparse = gemm_ff(w, x, NMPattern(2, 4), CONFIG)
    assert _value(int(sparse[0, 0])) == 3.0
    dense = gemm_ff(w, x, None, CONFIG)  # dense: 0 x Inf is a NaN
    assert int(dense[0, 0]) == CANONICAL_NAN


def test_float_weights_are_compressed_by_magnitude_bits_with_their_signs() -> None:
    w = torch.tensor([[0x8000 | ONE, 0x0001, ONE, 0x8000]])  # -1, tiny, 1, -0
    values, indices = nm_generate(w, NMPattern(2, 4), FP16)
    assert values.tolist() == [[0x8000 | ONE, ONE]] and indices.tolist() == [[0, 2]]
    y = compressed_matmul(values, indices, _bits([[1.0], [5.0], [3.0], [7.0]]),
                          NMPattern(2, 4), CONFIG)
    assert _value(int(y[0, 0])) == 2.0


def test_operands_must_be_bit_patterns_of_the_format() -> None:
    with pytest.raises(ValueError, match=r"W\[0, 1\] = 65536 is outside the fp16 bit patterns "
                                         r"0\.\.65535"):
        gemm_ff(torch.tensor([[0, 65536]]), torch.zeros((2, 1), dtype=torch.int64), None, CONFIG)
    with pytest.raises(ValueError, match=r"W\[0, 0\] = -1 is outside the fp16 bit patterns"):
        gemm_ff(torch.tensor([[-1]]), torch.zeros((1, 1), dtype=torch.int64), None, CONFIG)
