"""N:M weight masks and the compressed (values, indices) format: the float reference of BDWP.

Conventions, shared by the golden models, the simulator and the RTL:

* **GEMM view of a weight.** A Linear weight is already the ``Cout x K`` matrix of its GEMM
  (K = Cin). A Conv2d weight ``(Cout, Cin, kh, kw)`` is viewed as ``W.reshape(Cout, Cin*kh*kw)``:
  the im2col reduction order is **(cin, kh, kw) with kw fastest**, so the K index of tap
  ``(c, i, j)`` is ``(c*kh + i)*kw + j`` (see :func:`gemm_matrix`).
* **Forward mask** (:func:`forward_mask`): groups of M consecutive weights along K, the reduction
  dimension of the forward GEMM ``Y = W A``.
* **Backward mask** (:func:`backward_mask`): groups of M consecutive output channels along Cout for
  each K position, the reduction dimension of the input-gradient GEMM ``E_in = W^T E_out``;
  computed from the dense weights.
* **Selection.** In every group the N weights of largest magnitude survive; equal magnitudes go
  to the lowest index (a stable sort on ``-|w|``, never ``torch.topk``'s unspecified order).
  ``+0.0`` and ``-0.0`` are equal; a NaN magnitude ranks below every number. Integer weights are
  compared exactly (in int64, so ``|-128|`` of an int8 is 128).
* **Short tail.** A reduction length that is not a multiple of M raises :class:`ValueError`
  unless ``pad=True``; then the last ``L % M`` weights form a short final group that keeps
  ``min(N, L % M)`` of them (as if zero-magnitude padding that never survives filled the group).
"""

import torch

from sparsa.config.sat import NMPattern

__all__ = [
    "backward_mask",
    "compress",
    "decompress",
    "forward_mask",
    "gemm_matrix",
    "is_nm_sparse",
    "nm_mask",
]


def _check_pattern(pattern: object) -> NMPattern:
    if not isinstance(pattern, NMPattern):
        raise ValueError(f"pattern must be an NMPattern (for example NMPattern(2, 8)), "
                         f"not {pattern!r}")
    return pattern


def _check_matrix(matrix: object, what: str = "matrix") -> torch.Tensor:
    if not isinstance(matrix, torch.Tensor) or matrix.dim() != 2:
        shape = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__
        raise ValueError(f"{what} must be a 2-D tensor, not {shape}")
    if matrix.dtype == torch.bool or matrix.dtype.is_complex:
        raise ValueError(f"{what} must hold real numbers, not dtype {matrix.dtype}")
    return matrix


def _check_length(length: int, pattern: NMPattern, pad: bool, layer: str) -> None:
    if length % pattern.m and not pad:
        raise ValueError(
            f"reduction length {length} of {layer} is not a multiple of M = {pattern.m} "
            f"({pattern} pattern); pass pad=True to treat the last {length % pattern.m} "
            f"weights as a short final group"
        )


def _magnitudes(matrix: torch.Tensor) -> torch.Tensor:
    """|matrix| as a tensor on which ``-`` is exact: int64 for integers, the float dtype else."""
    if matrix.dtype.is_floating_point:
        return matrix.detach().abs()
    return matrix.detach().to(torch.int64).abs()


def _keep_top(mag: torch.Tensor, n: int) -> torch.Tensor:
    """Boolean mask of the n largest entries of every row-group along the last dim, ties to the
    lowest index: a stable ascending sort of ``-|w|`` puts equal magnitudes in index order."""
    order = torch.sort(-mag, dim=-1, stable=True).indices
    keep = torch.zeros(mag.shape, dtype=torch.bool, device=mag.device)
    return keep.scatter_(-1, order[..., :n], True)


def _nm_mask(matrix: torch.Tensor, pattern: NMPattern, pad: bool, layer: str) -> torch.Tensor:
    rows, length = matrix.shape
    _check_length(length, pattern, pad, layer)
    mag = _magnitudes(matrix)
    full = length - length % pattern.m
    body = _keep_top(mag[:, :full].reshape(rows, full // pattern.m, pattern.m), pattern.n)
    tail = _keep_top(mag[:, full:], min(pattern.n, length - full))
    return torch.cat([body.reshape(rows, full), tail], dim=1)


def nm_mask(matrix: torch.Tensor, pattern: NMPattern, *, pad: bool = False) -> torch.Tensor:
    """N:M mask of a 2-D matrix with groups of M consecutive entries along dim 1.

    Parameters
    ----------
    matrix : torch.Tensor
        ``rows x L`` real (float or integer) matrix; only magnitudes matter.
    pattern : NMPattern
        Keep ``pattern.n`` of every ``pattern.m``.
    pad : bool
        Allow ``L % M != 0``: the tail forms a short final group (see the module docstring).

    Returns
    -------
    torch.Tensor
        Boolean mask of ``matrix``'s shape: True for the N largest magnitudes of every group,
        ties to the lowest index.

    Raises
    ------
    ValueError
        If ``matrix`` is not a real 2-D tensor, or L is not a multiple of M and ``pad`` is False.
    """
    pattern = _check_pattern(pattern)
    matrix = _check_matrix(matrix)
    return _nm_mask(matrix, pattern, pad, f"a matrix of shape {tuple(matrix.shape)}")


def gemm_matrix(weight: torch.Tensor) -> torch.Tensor:
    """The ``Cout x K`` GEMM view of a Linear (2-D) or Conv2d (4-D) weight.

    K runs over (cin, kh, kw) with kw fastest: ``weight.reshape(Cout, Cin*kh*kw)``, a view.

    Raises
    ------
    ValueError
        If ``weight`` is neither 2-D nor 4-D.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() not in (2, 4):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must be a 2-D (Linear) or 4-D (Conv2d) tensor, not {shape}")
    return weight.reshape(weight.shape[0], -1)


def forward_mask(weight: torch.Tensor, pattern: NMPattern, *, pad: bool = False) -> torch.Tensor:
    """Forward (FF) N:M mask of a Linear or Conv2d weight: groups of M along K = Cin*kh*kw.

    Parameters
    ----------
    weight : torch.Tensor
        ``(Cout, Cin)`` or ``(Cout, Cin, kh, kw)`` dense weight.
    pattern : NMPattern
        The N:M pattern.
    pad : bool
        Allow K % M != 0 (short final group per row).

    Returns
    -------
    torch.Tensor
        Boolean mask of ``weight``'s shape.

    Raises
    ------
    ValueError
        If the weight is not 2-D or 4-D, or K is not a multiple of M and ``pad`` is False; the
        message names K, M and the weight shape.
    """
    pattern = _check_pattern(pattern)
    matrix = _check_matrix(gemm_matrix(weight), "weight")
    layer = f"the forward GEMM (K = Cin*kh*kw) of a weight of shape {tuple(weight.shape)}"
    return _nm_mask(matrix, pattern, pad, layer).reshape(weight.shape)


def backward_mask(weight: torch.Tensor, pattern: NMPattern, *, pad: bool = False) -> torch.Tensor:
    """Backward (BP) N:M mask of a Linear or Conv2d weight: groups of M along Cout.

    For every K position (cin, kh, kw), the output channels are split into groups of M
    consecutive channels and the N largest magnitudes of each group survive, so the columns of
    ``W^T`` (the reduction dimension of ``E_in = W^T E_out``) are N:M sparse.

    Parameters, return value and errors are those of :func:`forward_mask` with Cout in place of
    K: ``pad`` allows Cout % M != 0 (a short final group per K position), and the error for a
    Cout that is not a multiple of M names Cout, M and the weight shape.
    """
    pattern = _check_pattern(pattern)
    matrix = _check_matrix(gemm_matrix(weight), "weight")
    layer = f"the backward GEMM (Cout) of a weight of shape {tuple(weight.shape)}"
    return _nm_mask(matrix.t(), pattern, pad, layer).t().reshape(weight.shape)


def _nonzeros_per_group(matrix: torch.Tensor, pattern: NMPattern, pad: bool) -> torch.Tensor:
    rows, length = matrix.shape
    _check_length(length, pattern, pad, f"a matrix of shape {tuple(matrix.shape)}")
    groups = -(-length // pattern.m)
    nonzero = torch.zeros(rows, groups * pattern.m, dtype=torch.int64, device=matrix.device)
    nonzero[:, :length] = (matrix != 0).to(torch.int64)
    return nonzero.reshape(rows, groups, pattern.m).sum(-1)


def is_nm_sparse(matrix: torch.Tensor, pattern: NMPattern, *, pad: bool = False) -> bool:
    """True if every group of M consecutive entries along dim 1 holds at most N non-zeros.

    ``pad=True`` allows a length that is not a multiple of M (the tail is a short group).

    Raises
    ------
    ValueError
        If ``matrix`` is not a real 2-D tensor, or its length is not a multiple of M and ``pad``
        is False.
    """
    pattern = _check_pattern(pattern)
    matrix = _check_matrix(matrix)
    return bool((_nonzeros_per_group(matrix, pattern, pad) <= pattern.n).all())


def compress(matrix: torch.Tensor, pattern: NMPattern) -> tuple[torch.Tensor, torch.Tensor]:
    """Compress an N:M sparse matrix (groups along dim 1) to values and in-group indices.

    Every group of M emits exactly N entries, listed in increasing index order: its non-zeros,
    and if it has fewer than N, the lowest-indexed zero positions (value 0) to make up N. This
    is the selection :func:`nm_mask` makes on the sparse matrix, so for any dense ``w``,
    ``compress(w * nm_mask(w, p), p)`` lists exactly the positions that ``nm_mask(w, p)`` keeps.

    Parameters
    ----------
    matrix : torch.Tensor
        ``rows x cols`` N:M sparse matrix, ``cols`` a multiple of M (pad a short tail with zero
        columns first).
    pattern : NMPattern
        The N:M pattern.

    Returns
    -------
    values, indices : torch.Tensor
        ``rows x (cols/M)*N`` each: the kept values (``matrix``'s dtype) and their int64 indices
        within their group, 0 to M-1 (``pattern.index_width`` bits).

    Raises
    ------
    ValueError
        If ``matrix`` is not a real 2-D tensor, ``cols`` is not a multiple of M, or a group holds
        more than N non-zeros (the message names the first such row and group).
    """
    pattern = _check_pattern(pattern)
    matrix = _check_matrix(matrix)
    rows, cols = matrix.shape
    counts = _nonzeros_per_group(matrix, pattern, pad=False)
    bad = (counts > pattern.n).nonzero()
    if bad.numel():
        row, group = (int(v) for v in bad[0])
        raise ValueError(
            f"matrix is not {pattern} sparse: row {row}, group {group} (columns "
            f"{group * pattern.m}..{group * pattern.m + pattern.m - 1}) holds "
            f"{int(counts[row, group])} non-zeros, at most {pattern.n} allowed"
        )
    keep = _nm_mask(matrix, pattern, False, f"a matrix of shape {(rows, cols)}")
    width = cols // pattern.m * pattern.n
    positions = torch.arange(cols, device=matrix.device) % pattern.m
    values = matrix[keep].reshape(rows, width)
    indices = positions.expand(rows, cols)[keep].reshape(rows, width)
    return values, indices


def decompress(
    values: torch.Tensor, indices: torch.Tensor, pattern: NMPattern, cols: int
) -> torch.Tensor:
    """Rebuild the ``rows x cols`` matrix from :func:`compress`'s values and indices.

    Parameters
    ----------
    values, indices : torch.Tensor
        ``rows x (cols/M)*N`` each; the indices of every group of N entries strictly increase and
        lie in 0..M-1.
    pattern : NMPattern
        The N:M pattern.
    cols : int
        Columns of the dense matrix, a positive multiple of M.

    Returns
    -------
    torch.Tensor
        Dense matrix of ``values``' dtype, zero outside the listed positions.

    Raises
    ------
    ValueError
        If a shape, ``cols`` or an index does not fit the rules above.
    """
    pattern = _check_pattern(pattern)
    values = _check_matrix(values, "values")
    if isinstance(cols, bool) or not isinstance(cols, int) or cols <= 0 or cols % pattern.m:
        raise ValueError(f"cols must be a positive multiple of M = {pattern.m}, not {cols!r}")
    rows, groups = values.shape[0], cols // pattern.m
    shape = (rows, groups * pattern.n)
    if tuple(values.shape) != shape:
        raise ValueError(f"values must have shape {shape} for {cols} columns of a {pattern} "
                         f"matrix, not {tuple(values.shape)}")
    if not isinstance(indices, torch.Tensor) or tuple(indices.shape) != shape or (
        indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool
    ):
        got = (f"{indices.dtype} of shape {tuple(indices.shape)}"
               if isinstance(indices, torch.Tensor) else type(indices).__name__)
        raise ValueError(f"indices must be an integer tensor of shape {shape}, not {got}")
    idx = indices.to(torch.int64).reshape(rows, groups, pattern.n)
    if ((idx < 0) | (idx >= pattern.m)).any():
        raise ValueError(f"indices must lie in 0..{pattern.m - 1}, got "
                         f"{int(idx.min())}..{int(idx.max())}")
    if (idx[..., 1:] <= idx[..., :-1]).any():
        raise ValueError("the indices of every group must strictly increase")
    dense = torch.zeros(rows, groups, pattern.m, dtype=values.dtype, device=values.device)
    dense.scatter_(-1, idx, values.reshape(rows, groups, pattern.n))
    return dense.reshape(rows, cols)
