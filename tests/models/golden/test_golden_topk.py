"""Tests of the bit-exact golden functions in :mod:`sparsa.models.golden.topk` against brute-force
Python.

Every random case is drawn from ``random.Random(seed)``; a failure message names the seed.
"""

import itertools
import random
import re
from collections.abc import Callable

import pytest
import torch

from sparsa.models.golden.topk import check_values, quickselect, topk, zero_eliminate

SEEDS = range(300)


def value_range(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def random_case(rng: random.Random) -> tuple[list[int], int, int, bool]:
    """Values (often with many ties), k from 0 to n, width and signedness."""
    signed = rng.random() < 0.5
    width = rng.randint(2 if signed else 1, 32)
    lo, hi = value_range(width, signed)
    n = rng.randint(1, 80)
    if rng.random() < 0.5:
        # Few distinct values: ties at the k-th value are the rule, not the exception.
        pool = [rng.randint(lo, hi) for _ in range(rng.randint(1, 4))] + [lo, hi]
        values = [rng.choice(pool) for _ in range(n)]
    else:
        values = [rng.randint(lo, hi) for _ in range(n)]
    k = rng.choice([0, n, rng.randint(0, n)])
    return values, k, width, signed


def reference_topk(values: list[int], k: int) -> tuple[list[int], list[int]]:
    """The k largest, ties to the earliest index, in index order: by exhaustive ranking."""
    ranked = sorted(range(len(values)), key=lambda i: (-values[i], i))
    indices = sorted(ranked[:k])
    return indices, [values[i] for i in indices]


@pytest.mark.parametrize("seed", SEEDS)
def test_topk_matches_brute_force(seed: int) -> None:
    values, k, width, signed = random_case(random.Random(seed))
    indices, kept = topk(values, k, width=width, signed=signed)
    expected = reference_topk(values, k)
    assert (indices.tolist(), kept.tolist()) == expected, f"seed={seed}"
    assert indices.dtype == kept.dtype == torch.int64, f"seed={seed}"


def test_topk_accepts_tensors_of_any_integer_dtype() -> None:
    values = [5, -3, 5, 7, -128, 127, 0]
    for dtype in (torch.int8, torch.int16, torch.int32, torch.int64):
        indices, kept = topk(torch.tensor(values, dtype=dtype), 3, width=8, signed=True)
        assert (indices.tolist(), kept.tolist()) == reference_topk(values, 3), dtype


@pytest.mark.parametrize(
    ("width", "signed"),
    [(1, False), (2, False), (16, False), (32, False), (2, True), (16, True), (32, True)],
)
def test_topk_at_the_extremes_of_the_range(width: int, signed: bool) -> None:
    lo, hi = value_range(width, signed)
    values = [lo, hi, lo, hi, hi, lo, (lo + hi) // 2]
    for k in range(len(values) + 1):
        indices, kept = topk(values, k, width=width, signed=signed)
        assert (indices.tolist(), kept.tolist()) == reference_topk(values, k), (width, signed, k)
    # All equal: the earliest k win.
    for v in (lo, hi):
        indices, kept = topk([v] * 5, 3, width=width, signed=signed)
        assert (indices.tolist(), kept.tolist()) == ([0, 1, 2], [v] * 3)


def test_topk_k_zero_and_k_n() -> None:
    values = [3, 1, 2]
    indices, kept = topk(values, 0, width=4, signed=False)
    assert indices.tolist() == [] and kept.tolist() == []
    indices, kept = topk(values, 3, width=4, signed=False)
    assert indices.tolist() == [0, 1, 2] and kept.tolist() == values


@pytest.mark.parametrize(
    ("values", "k", "width", "signed", "message"),
    [
        ([1, 2, 3], 4, 4, False, "k must be an integer from 0 to n = 3, not 4"),
        ([1, 2, 3], -1, 4, False, "k must be an integer from 0 to n = 3, not -1"),
        ([1, 2, 3], 1.0, 4, False, "k must be an integer from 0 to n = 3, not 1.0"),
        (torch.zeros(0, dtype=torch.int64), 0, 4, False,
         "values must hold at least one element (n >= 1), got n = 0"),
        ([1, 8, 3], 1, 4, True, "value 8 at index 1 is outside the 4-bit signed range -8..7"),
        ([1, 2, -9], 1, 4, True, "value -9 at index 2 is outside the 4-bit signed range -8..7"),
        ([-1, 2], 1, 4, False, "value -1 at index 0 is outside the 4-bit unsigned range 0..15"),
        ([0, 16], 1, 4, False, "value 16 at index 1 is outside the 4-bit unsigned range 0..15"),
        ([0, 1 << 32], 1, 32, False,
         f"value {1 << 32} at index 1 is outside the 32-bit unsigned range 0..{(1 << 32) - 1}"),
        ([[1, 2]], 1, 4, False, "values must be one-dimensional, got shape (1, 2)"),
        ([1.5, 2.0], 1, 4, False, "values must be integers, got dtype torch.float32"),
        ([1, 2], 1, 1, True, "width must be at least 2, not 1"),
        ([1, 2], 1, 0, False, "width must be at least 1, not 0"),
    ],
)
def test_topk_rejects_bad_input_naming_it(
    values: object, k: object, width: int, signed: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        topk(values, k, width=width, signed=signed)  # type: ignore[arg-type]


def test_check_values_returns_int64() -> None:
    t = check_values([0, 255], width=8, signed=False)
    assert t.dtype == torch.int64 and t.tolist() == [0, 255]


@pytest.mark.parametrize("seed", range(100))
def test_zero_eliminate_is_a_stable_compaction(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 40)
    items = [rng.randint(-100, 100) for _ in range(n)]
    keep = [rng.random() < rng.random() for _ in range(n)]
    out = zero_eliminate(items, keep)
    assert out.tolist() == [x for x, f in zip(items, keep, strict=True) if f], f"seed={seed}"


def test_zero_eliminate_moves_whole_rows() -> None:
    pairs = torch.tensor([[0, 10], [1, 11], [2, 12], [3, 13]])
    out = zero_eliminate(pairs, [False, True, False, True])
    assert out.tolist() == [[1, 11], [3, 13]]
    assert zero_eliminate(pairs, [False] * 4).shape == (0, 2)


@pytest.mark.parametrize(
    ("items", "keep", "message"),
    [
        ([1, 2, 3], [True, False],
         "keep must be one flag per lane: items have shape (3,), keep has shape (2,)"),
        ([1, 2], [[True, False]],
         "keep must be one flag per lane: items have shape (2,), keep has shape (1, 2)"),
    ],
)
def test_zero_eliminate_rejects_mismatched_flags(items: list, keep: list, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        zero_eliminate(items, keep)


def recording(pivot: Callable[[int], int], calls: list[int]) -> Callable[[int], int]:
    """Wrap ``pivot`` to record the candidate count m of every call."""

    def choose(m: int) -> int:
        calls.append(m)
        return pivot(m)

    return choose


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pivot_kind", ["middle", "random"])
def test_quickselect_finds_the_kth_value_and_its_kept_copies(seed: int, pivot_kind: str) -> None:
    rng = random.Random(seed)
    values, k, _, _ = random_case(rng)
    k = max(k, 1)
    pivot_rng = random.Random(seed + 1)
    pivot = (lambda m: m // 2) if pivot_kind == "middle" else (lambda m: pivot_rng.randrange(m))
    calls: list[int] = []
    result = quickselect(values, k, recording(pivot, calls))
    where = f"seed={seed} pivot={pivot_kind}"

    kth = sorted(values, reverse=True)[k - 1]
    greater = sum(v > kth for v in values)
    assert result.kth == kth, where
    assert result.keep_equal == k - greater, where
    assert 1 <= result.keep_equal <= values.count(kth), where
    # One pivot call per round, each over the round's candidates; the candidates shrink.
    assert list(result.round_sizes) == calls, where
    assert result.round_sizes[0] == len(values), where
    assert all(a > b for a, b in itertools.pairwise(calls)), where
    # The final pass of the RTL keeps what topk keeps: every value above the k-th and the
    # earliest keep_equal copies of it.
    equal = [i for i, v in enumerate(values) if v == kth]
    kept = sorted([i for i, v in enumerate(values) if v > kth] + equal[: result.keep_equal])
    assert kept == reference_topk(values, k)[0], where


def test_quickselect_single_round_when_the_pivot_is_the_answer() -> None:
    result = quickselect([4, 9, 1, 7], 2, lambda m: 3)
    assert (result.kth, result.keep_equal, result.round_sizes) == (7, 1, (4,))


@pytest.mark.parametrize(
    ("values", "k", "pivot", "message"),
    [
        ([1, 2, 3], 0, lambda m: 0, "quick-select needs k from 1 to n = 3, not 0"),
        ([1, 2, 3], 4, lambda m: 0, "quick-select needs k from 1 to n = 3, not 4"),
        ([1, 2, 3], 1, lambda m: m, "pivot position 3 outside 0..2"),
        ([1, 2, 3], 1, lambda m: -1, "pivot position -1 outside 0..2"),
    ],
)
def test_quickselect_rejects_bad_input(
    values: list[int], k: int, pivot: Callable[[int], int], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        quickselect(values, k, pivot)
