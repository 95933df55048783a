"""Bit-exact golden functions of the top-k engine and its zero eliminator.

These are what the RTL computes, value for value:

* :func:`topk` keeps the k largest of n integers of width W; ties at the k-th value go to the
  earliest index; the result is (index, value) pairs in original index order.
* :func:`zero_eliminate` is the stable compaction of kept lanes.
* :func:`quickselect` is the round-by-round control of SpAtten's Algorithm 3 on the same data
  order as the RTL's partition FIFOs (stable partitions), with a pluggable pivot choice. The cycle
  model replays it to predict the RTL's cycles.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["QuickSelectResult", "check_values", "quickselect", "topk", "zero_eliminate"]


def _as_tensor(values: Sequence[int] | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(values)
    if t.numel() == 0 and not isinstance(values, torch.Tensor):
        t = t.to(torch.int64)  # an empty list carries no dtype
    if t.dim() != 1:
        raise ValueError(f"values must be one-dimensional, got shape {tuple(t.shape)}")
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"values must be integers, got dtype {t.dtype}")
    return t.to(torch.int64)


def check_values(values: Sequence[int] | torch.Tensor, *, width: int, signed: bool) -> torch.Tensor:
    """Return ``values`` as an int64 tensor after checking they fit in ``width`` bits.

    Raises
    ------
    ValueError
        If a value lies outside the range of a ``width``-bit (signed or unsigned) integer; the
        message names the first offending value, its index and the allowed range.
    """
    t = _as_tensor(values)
    if width < 1 or (signed and width < 2):
        raise ValueError(f"width must be at least {2 if signed else 1}, not {width!r}")
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    bad = ((t < lo) | (t > hi)).nonzero()
    if bad.numel():
        i = int(bad[0])
        kind = "signed" if signed else "unsigned"
        raise ValueError(
            f"value {int(t[i])} at index {i} is outside the {width}-bit {kind} range {lo}..{hi}"
        )
    return t


def topk(
    values: Sequence[int] | torch.Tensor, k: int, *, width: int, signed: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the k largest of n integers, ties to the earliest index, in original order.

    Parameters
    ----------
    values : sequence of int or 1-D integer tensor
        The n >= 1 inputs, each representable in ``width`` bits.
    k : int
        How many to keep, 0 to n.
    width, signed : int, bool
        Number format of the values.

    Returns
    -------
    indices, kept : torch.Tensor
        int64 tensors of length k: the kept positions in increasing order and their values.
    """
    t = check_values(values, width=width, signed=signed)
    n = t.numel()
    if n == 0:
        raise ValueError("values must hold at least one element (n >= 1), got n = 0")
    if not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"k must be an integer from 0 to n = {n}, not {k!r}")
    # A stable descending sort keeps equal values in index order, so the first k of it take
    # the earliest-index ties.
    order = torch.sort(t, descending=True, stable=True).indices[:k]
    indices = torch.sort(order).values
    return indices, t[indices]


def zero_eliminate(
    items: Sequence[int] | torch.Tensor, keep: Sequence[bool] | torch.Tensor
) -> torch.Tensor:
    """Stable compaction: the items whose ``keep`` flag is set, moved to the front in order.

    Parameters
    ----------
    items : 1-D tensor or sequence
        One item per lane.
    keep : 1-D bool tensor or sequence
        Keep flag per lane, same length as ``items``.

    Returns
    -------
    torch.Tensor
        The kept items (length ``keep.sum()``), in lane order.
    """
    it = torch.as_tensor(items)
    kp = torch.as_tensor(keep, dtype=torch.bool)
    if it.shape[:1] != kp.shape or kp.dim() != 1:
        raise ValueError(
            f"keep must be one flag per lane: items have shape {tuple(it.shape)}, "
            f"keep has shape {tuple(kp.shape)}"
        )
    return it[kp]


@dataclass(frozen=True)
class QuickSelectResult:
    """Outcome of :func:`quickselect`.

    Attributes
    ----------
    kth : int
        The k-th largest value.
    keep_equal : int
        How many elements equal to ``kth`` the final pass keeps (the earliest ones).
    round_sizes : tuple of int
        Candidates streamed through the comparator arrays in each round.
    """

    kth: int
    keep_equal: int
    round_sizes: tuple[int, ...]


def quickselect(
    values: Sequence[int] | torch.Tensor, k: int, pivot: Callable[[int], int]
) -> QuickSelectResult:
    """Run SpAtten's Algorithm 3 round by round, as the RTL does.

    Each round takes a pivot among the m candidates, splits them into those greater and those
    less than it (stable, as the RTL's FIFOs keep arrival order) and counts the equal ones; the
    target rank then either lies among the greater (recurse there), among the equal (stop), or
    among the less (recurse there with the target reduced by #greater + #equal).

    Parameters
    ----------
    values : 1-D integer tensor or sequence
        The n >= 1 candidates in input order.
    k : int
        Target rank, 1 to n (k = 0 needs no selection and is rejected).
    pivot : callable
        ``pivot(m)`` returns the position (0 to m - 1) of the pivot among the m candidates of the
        round; it is called once per round, in order.
    """
    t = _as_tensor(values)
    n = t.numel()
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"quick-select needs k from 1 to n = {n}, not {k!r}")
    sizes = []
    target = k
    while True:
        m = t.numel()
        sizes.append(m)
        pos = pivot(m)
        if not 0 <= pos < m:
            raise ValueError(f"pivot position {pos!r} outside 0..{m - 1}")
        p = t[pos]
        greater = t[t > p]
        n_eq = int((t == p).sum())
        if target <= greater.numel():
            t = greater
        elif target <= greater.numel() + n_eq:
            return QuickSelectResult(int(p), target - greater.numel(), tuple(sizes))
        else:
            target -= greater.numel() + n_eq
            t = t[t < p]
