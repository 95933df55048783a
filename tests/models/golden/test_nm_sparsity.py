"""Tests of the N:M masks and the compressed format in :mod:`sparsa.models.golden.nm_sparsity`.

Masks are compared with a brute-force Python ranking (key ``(-|w|, index)``); random cases are
drawn from ``torch.Generator`` seeds that every failure message names.
"""

import math

import pytest
import torch

from sparsa.config.sat import NMPattern
from sparsa.models.golden.nm_sparsity import (
    backward_mask,
    compress,
    decompress,
    forward_mask,
    gemm_matrix,
    is_nm_sparse,
    nm_mask,
)

PATTERNS = [NMPattern(n, m) for n, m in ((2, 4), (2, 8), (1, 4), (1, 8), (4, 8), (1, 2), (3, 16))]
SEEDS = range(4)


def reference_mask(matrix: torch.Tensor, pattern: NMPattern) -> torch.Tensor:
    """Row by row, group by group: the N largest magnitudes, ties to the lowest index; a short
    tail group keeps min(N, its length)."""
    keep = torch.zeros(matrix.shape, dtype=torch.bool)
    for r, row in enumerate(matrix.tolist()):
        for start in range(0, len(row), pattern.m):
            group = range(start, min(start + pattern.m, len(row)))
            ranked = sorted(group, key=lambda i, row=row: (-abs(row[i]), i))
            for i in ranked[:pattern.n]:
                keep[r, i] = True
    return keep


def random_weight(shape: tuple[int, ...], seed: int, ties: bool = False) -> torch.Tensor:
    """Normal weights, or (``ties``) integers in -2..2 so equal magnitudes abound."""
    gen = torch.Generator().manual_seed(seed)
    if ties:
        return torch.randint(-2, 3, shape, generator=gen).to(torch.float64)
    return torch.randn(shape, generator=gen, dtype=torch.float64)


def group_counts(mask2d: torch.Tensor, m: int) -> torch.Tensor:
    rows, cols = mask2d.shape
    return mask2d.reshape(rows, cols // m, m).sum(-1)


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_nm_mask_matches_brute_force(pattern: NMPattern, seed: int, ties: bool) -> None:
    matrix = random_weight((5, 4 * pattern.m), seed, ties)
    mask = nm_mask(matrix, pattern)
    assert mask.dtype == torch.bool, f"seed={seed}"
    assert torch.equal(mask, reference_mask(matrix, pattern)), f"seed={seed} {pattern}"
    assert torch.all(group_counts(mask, pattern.m) == pattern.n), f"seed={seed} {pattern}"


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_forward_mask_groups_along_k_in_cin_kh_kw_order(pattern: NMPattern, seed: int) -> None:
    weight = random_weight((2 * pattern.m, pattern.m, 3, 3), seed, ties=seed % 2 == 1)
    mask = forward_mask(weight, pattern)
    assert mask.shape == weight.shape, f"seed={seed}"
    # K index of tap (c, i, j) is (c*kh + i)*kw + j: the reshape order.
    matrix = torch.stack([torch.stack([weight[o, c, i, j] for c in range(pattern.m)
                                       for i in range(3) for j in range(3)])
                          for o in range(weight.shape[0])])
    assert torch.equal(gemm_matrix(weight), matrix), f"seed={seed}"
    assert torch.equal(gemm_matrix(mask), reference_mask(matrix, pattern)), f"seed={seed}"
    assert torch.all(group_counts(gemm_matrix(mask), pattern.m) <= pattern.n), f"seed={seed}"


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_backward_mask_groups_along_cout(pattern: NMPattern, seed: int) -> None:
    for shape in ((3 * pattern.m, 5), (2 * pattern.m, 3, 3, 3)):
        weight = random_weight(shape, seed, ties=seed % 2 == 1)
        mask = backward_mask(weight, pattern)
        columns = gemm_matrix(mask).t()  # one row per K position, Cout along it
        assert torch.equal(columns, reference_mask(gemm_matrix(weight).t(), pattern)), \
            f"seed={seed} shape={shape}"
        assert torch.all(group_counts(columns, pattern.m) == pattern.n), f"seed={seed}"
        assert is_nm_sparse(gemm_matrix(weight * mask).t(), pattern), f"seed={seed}"


def test_linear_forward_mask_is_nm_mask_of_the_weight() -> None:
    weight = random_weight((6, 16), seed=7)
    assert torch.equal(forward_mask(weight, NMPattern(2, 8)), nm_mask(weight, NMPattern(2, 8)))


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_all_equal_and_zero_groups_keep_the_lowest_indices(pattern: NMPattern) -> None:
    first_n = torch.arange(pattern.m) < pattern.n
    for row in (torch.full((pattern.m,), 0.5), torch.zeros(pattern.m),
                torch.tensor([(-1.0) ** i * 3 for i in range(pattern.m)])):
        assert torch.equal(nm_mask(row[None], pattern)[0], first_n), f"{row.tolist()}"


def test_tie_examples() -> None:
    cases = [
        ([1.0, 3.0, 3.0, 3.0], NMPattern(2, 4), [False, True, True, False]),
        ([0.0, -0.0, 0.0, 2.0], NMPattern(2, 4), [True, False, False, True]),
        ([-2.0, 2.0, 1.0, -2.0], NMPattern(1, 4), [True, False, False, False]),
        ([0.0, float("nan"), 0.0, -1.0], NMPattern(2, 4), [True, False, False, True]),
        ([5.0, 4.0, 4.0, 5.0, 0.0, 0.0, 0.0, 0.0], NMPattern(4, 8), [True] * 4 + [False] * 4),
    ]
    for row, pattern, expected in cases:
        assert nm_mask(torch.tensor([row]), pattern)[0].tolist() == expected, f"{row} {pattern}"


def test_integer_magnitudes_are_exact() -> None:
    # |-128| of an int8 is 128 (not -128); ties still go to the lowest index.
    row = torch.tensor([[-128, 127, 127, -127]], dtype=torch.int8)
    assert nm_mask(row, NMPattern(2, 4))[0].tolist() == [True, True, False, False]
    big = torch.tensor([[2**53 + 1, 2**53, 0, 0]], dtype=torch.int64)
    assert nm_mask(big, NMPattern(1, 4))[0].tolist() == [True, False, False, False]


@pytest.mark.parametrize("seed", SEEDS)
def test_pad_makes_a_short_final_group(seed: int) -> None:
    for pattern, length in ((NMPattern(2, 4), 10), (NMPattern(3, 8), 10), (NMPattern(2, 8), 5),
                            (NMPattern(1, 16), 3)):
        matrix = random_weight((4, length), seed, ties=seed % 2 == 1)
        mask = nm_mask(matrix, pattern, pad=True)
        assert torch.equal(mask, reference_mask(matrix, pattern)), f"seed={seed} {pattern}"
        tail = length % pattern.m
        assert torch.all(mask[:, length - tail:].sum(1) == min(pattern.n, tail)), f"seed={seed}"
        assert is_nm_sparse(matrix * mask, pattern, pad=True), f"seed={seed}"
    weight = random_weight((6, 3, 3, 3), seed)  # K = 27, Cout = 6: both need pad for M = 4
    assert torch.all(gemm_matrix(forward_mask(weight, NMPattern(2, 4), pad=True)).sum(1) == 14)
    assert torch.all(gemm_matrix(backward_mask(weight, NMPattern(2, 4), pad=True)).sum(0) == 4)


def test_length_not_a_multiple_of_m_names_length_m_and_shape() -> None:
    with pytest.raises(ValueError, match=r"reduction length 27 .* shape \(8, 3, 3, 3\) .* "
                                         r"multiple of M = 4 .*pad=True"):
        forward_mask(torch.ones(8, 3, 3, 3), NMPattern(2, 4))
    with pytest.raises(ValueError, match=r"reduction length 12 of the backward GEMM \(Cout\) "
                                         r"of a weight of shape \(12, 16\) .* M = 8"):
        backward_mask(torch.ones(12, 16), NMPattern(2, 8))
    with pytest.raises(ValueError, match=r"reduction length 6 of a matrix of shape \(2, 6\)"):
        nm_mask(torch.ones(2, 6), NMPattern(1, 4))
    with pytest.raises(ValueError, match=r"reduction length 6"):
        is_nm_sparse(torch.ones(2, 6), NMPattern(1, 4))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"pattern must be an NMPattern .* not '2:4'"):
        nm_mask(torch.ones(2, 4), "2:4")
    with pytest.raises(ValueError, match=r"matrix must be a 2-D tensor, not \(4,\)"):
        nm_mask(torch.ones(4), NMPattern(2, 4))
    with pytest.raises(ValueError, match=r"real numbers, not dtype torch.bool"):
        nm_mask(torch.ones(2, 4, dtype=torch.bool), NMPattern(2, 4))
    with pytest.raises(ValueError, match=r"4-D \(Conv2d\) tensor, not \(2, 4, 4\)"):
        forward_mask(torch.ones(2, 4, 4), NMPattern(2, 4))
    with pytest.raises(ValueError, match=r"not list"):
        backward_mask([[1.0] * 4] * 4, NMPattern(2, 4))


def test_is_nm_sparse() -> None:
    pattern = NMPattern(2, 4)
    assert is_nm_sparse(torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), pattern)
    assert not is_nm_sparse(torch.tensor([[1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]]), pattern)
    assert is_nm_sparse(torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.0, 5.0]]), pattern, pad=True)
    assert not is_nm_sparse(torch.tensor([[1.0, 0.0, 2.0, 0.0, 4.0, 5.0, 6.0]]), pattern, pad=True)


def random_sparse(rows: int, groups: int, pattern: NMPattern, seed: int) -> torch.Tensor:
    """An N:M sparse matrix whose groups hold 0..N non-zeros (some all-zero groups)."""
    gen = torch.Generator().manual_seed(seed)
    dense = torch.randn(rows, groups * pattern.m, generator=gen, dtype=torch.float64)
    survivors = torch.randint(0, pattern.n + 1, (rows, groups, 1), generator=gen)
    rank = torch.rand(rows, groups, pattern.m, generator=gen).argsort(-1).argsort(-1)
    return dense * (rank < survivors).reshape(rows, -1)


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_compress_round_trip(pattern: NMPattern, seed: int) -> None:
    matrix = random_sparse(6, 5, pattern, seed)
    values, indices = compress(matrix, pattern)
    assert values.shape == indices.shape == (6, 5 * pattern.n), f"seed={seed}"
    assert values.dtype == matrix.dtype and indices.dtype == torch.int64, f"seed={seed}"
    groups = indices.reshape(6, 5, pattern.n)
    assert torch.all(groups[..., 1:] > groups[..., :-1]), f"seed={seed}: indices not increasing"
    assert int(indices.min()) >= 0 and int(indices.max()) < pattern.m, f"seed={seed}"
    assert int(indices.max()).bit_length() <= pattern.index_width, f"seed={seed}"
    assert torch.equal(decompress(values, indices, pattern, 5 * pattern.m), matrix), \
        f"seed={seed} {pattern}"


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_compress_of_pruned_weights_lists_the_mask(pattern: NMPattern, seed: int) -> None:
    dense = random_weight((4, 3 * pattern.m), seed, ties=True)
    mask = nm_mask(dense, pattern)
    values, indices = compress(dense * mask, pattern)
    positions = torch.arange(3 * pattern.m).expand(4, -1) % pattern.m
    assert torch.equal(indices, positions[mask].reshape(4, -1)), f"seed={seed} {pattern}"
    assert torch.equal(values, dense[mask].reshape(4, -1)), f"seed={seed} {pattern}"


def test_compress_pads_short_groups_with_the_lowest_unused_indices() -> None:
    matrix = torch.tensor([[0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, -1.0, 0.0]])
    values, indices = compress(matrix, NMPattern(2, 4))
    assert indices.tolist() == [[0, 2, 0, 1, 1, 2]]
    assert values.tolist() == [[0.0, 5.0, 0.0, 0.0, 7.0, -1.0]]
    values, indices = compress(torch.tensor([[0.0, 0.0, 0.0, 3.0]] * 2, dtype=torch.int16),
                               NMPattern(3, 4))
    assert indices.tolist() == [[0, 1, 3]] * 2 and values.dtype == torch.int16


def test_compress_rejects_dense_groups_and_short_tails() -> None:
    matrix = torch.zeros(3, 8)
    matrix[2, 4:7] = 1.0
    with pytest.raises(ValueError, match=r"not 2:4 sparse: row 2, group 1 \(columns 4..7\) "
                                         r"holds 3 non-zeros, at most 2 allowed"):
        compress(matrix, NMPattern(2, 4))
    with pytest.raises(ValueError, match=r"reduction length 6 .* multiple of M = 4"):
        compress(torch.zeros(2, 6), NMPattern(2, 4))


def test_decompress_rejects_bad_input() -> None:
    pattern = NMPattern(2, 4)
    values, indices = torch.ones(2, 4), torch.tensor([[0, 1, 2, 3]] * 2)
    with pytest.raises(ValueError, match=r"cols must be a positive multiple of M = 4, not 6"):
        decompress(values, indices, pattern, 6)
    with pytest.raises(ValueError, match=r"values must have shape \(2, 6\) .* not \(2, 4\)"):
        decompress(values, indices, pattern, 12)
    with pytest.raises(ValueError, match=r"indices must be an integer tensor of shape \(2, 4\), "
                                         r"not torch.float32"):
        decompress(values, indices.float(), pattern, 8)
    with pytest.raises(ValueError, match=r"indices must lie in 0..3, got 0..4"):
        decompress(values, torch.tensor([[0, 1, 2, 4]] * 2), pattern, 8)
    with pytest.raises(ValueError, match=r"strictly increase"):
        decompress(values, torch.tensor([[1, 1, 2, 3]] * 2), pattern, 8)
    with pytest.raises(ValueError, match=r"strictly increase"):
        decompress(values, torch.tensor([[1, 0, 2, 3]] * 2), pattern, 8)


def test_compressed_size_matches_index_width() -> None:
    # (value bits + log2 M) * N per M weights: 2:8 with 16-bit values is 29.7% of dense.
    pattern = NMPattern(2, 8)
    values, indices = compress(torch.zeros(1, 64, dtype=torch.float16), pattern)
    bits = values.numel() * 16 + indices.numel() * pattern.index_width
    assert math.isclose(bits / (64 * 16), 0.296875)
