"""Bit-exact golden functions of SAT's datapath: the N:M weight generator and the GEMMs.

Number formats (:class:`sparsa.config.formats.NumberFormat`): operands are W-bit two's-complement
integers (INT8 or INT16). A product is exact in 2W bits; the array accumulates in
``SatArrayConfig.acc_width`` = 2W + ceil(log2(max_reduction)) bits, which holds any sum of
``max_reduction`` products, and it rejects a tile with more (it does not clamp or wrap); a
longer reduction is split into tiles whose partial sums the output buffer adds
(:mod:`sparsa.dataflow.sat_tiles`), so these GEMM-level functions are exact integers of any length
and nothing saturates.

Floating point (FP16, BF16): operands are bit patterns (:mod:`sparsa.models.golden.floats`).
A product is rounded once into FP32; a PE's sum starts from +0 and adds the products in the
order its compressed entries reach it (an entry a pruned position never produces is never
multiplied, so a pruned weight cannot turn an Inf activation into a NaN). An output-stationary
PE whose adder has L = ``SatArrayConfig.add_latency`` > 1 register stages keeps L interleaved
sums and combines them at the end (``lanes``,
:func:`sparsa.models.golden.floats.fp32_interleaved`); a weight-stationary chain adds in row
order whatever L. A reduction longer than one tile is summed in consecutive partial sums of
``chunk`` entries (the tiles'), which the output buffer adds in order; unlike the integers, the
result depends on that order.

Compressed N:M format: a weight row with K = G * M dense positions becomes G * N (value, index)
pairs; entry t belongs to group t // N and its index (0 to M - 1) selects the position inside the
group. The generator keeps, in every group, the N entries of largest magnitude, ties going to the
lowest index, and lists them in increasing index order, so a group always yields exactly N
entries (zeros included when it has fewer than N non-zeros).
"""

from collections.abc import Sequence

import numpy as np
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern, SatArrayConfig, as_dataflow
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.models.golden.floats import fp32_add, fp32_interleaved, fp_product
from sparsa.models.golden.nm_sparsity import compress, nm_mask
from sparsa.models.golden.nm_sparsity import decompress as nm_decompress

__all__ = [
    "check_operands",
    "compressed_matmul",
    "decompress",
    "gemm_bp",
    "gemm_ff",
    "gemm_wu",
    "is_rejected",
    "magnitudes",
    "nm_generate",
    "sore_tile",
    "tile_answer",
    "tile_beats",
]


def check_operands(t: torch.Tensor, dtype: NumberFormat, name: str) -> torch.Tensor:
    """Return ``t`` as int64 after checking every element fits ``dtype`` (its integer range, or
the bit patterns of a floating-point format).

    Raises
    ------
    ValueError
        Naming ``name``, the first offending value and the allowed range.
    """
    t = torch.as_tensor(t)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers, got dtype {t.dtype}")
    t = t.to(torch.int64)
    lo, hi = dtype.stored_range
    what = "bit patterns" if dtype.is_float else "range"
    bad = ((t < lo) | (t > hi)).nonzero()
    if bad.numel():
        pos = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{name}{list(pos)} = {int(t[pos])} is outside the {dtype.value} {what} {lo}..{hi}"
        )
    return t


def magnitudes(weights: torch.Tensor, dtype: NumberFormat) -> torch.Tensor:
    """The magnitudes the SORE compares, as int64: ``|w|`` of an integer format; the bit
    pattern with its sign bit masked of a floating-point one (IEEE orders finite and infinite
    magnitudes like these integers; a NaN's is above Inf's, see :mod:`sparsa.hw.sat.sore`)."""
    w = torch.as_tensor(weights).to(torch.int64)
    if dtype.is_float:
        return w & ((1 << (dtype.width - 1)) - 1)
    return w.abs()


def nm_generate(
    weights: torch.Tensor, pattern: NMPattern, dtype: NumberFormat = NumberFormat.INT16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compress a dense weight matrix to N:M along its rows, as the SORE does.

    Parameters
    ----------
    weights : 2-D integer tensor
        Dense weights, ``rows x K`` with K a multiple of M; groups are M consecutive entries of a
        row. Integers, or the bit patterns of a floating-point ``dtype``.
    pattern : NMPattern
    dtype : NumberFormat
        How to read the weights: any integer format compares ``|w|`` (the default; the result
        does not depend on which), a floating-point one the patterns' magnitudes
        (:func:`magnitudes`). A pruned float entry is left out, never zeroed: a group always
        yields N entries of its own.

    Returns
    -------
    values, indices : torch.Tensor
        int64 tensors of shape ``rows x (K / M * N)``: the kept values and their in-group indices
        (increasing within each group).
    """
    w = torch.as_tensor(weights).to(torch.int64)
    if w.dim() == 2 and w.shape[1] % pattern.m:
        raise ValueError(f"the reduction length {w.shape[1]} is not a multiple of "
                         f"M = {pattern.m} ({pattern})")
    keep = nm_mask(magnitudes(w, dtype), pattern)
    _, indices = compress(keep.to(torch.int64), pattern)
    rows = w.shape[0]
    groups = w.reshape(rows, -1, pattern.m)
    values = groups.gather(2, indices.reshape(rows, -1, pattern.n)).reshape(rows, -1)
    return values, indices


def decompress(
    values: torch.Tensor, indices: torch.Tensor, pattern: NMPattern
) -> torch.Tensor:
    """Dense ``rows x K`` matrix of compressed N:M rows (inverse of :func:`nm_generate`)."""
    v = torch.as_tensor(values).to(torch.int64)
    if v.dim() != 2 or v.shape[1] % pattern.n:
        raise ValueError(f"values must be a matrix with a multiple of N = {pattern.n} columns, "
                         f"got shape {tuple(v.shape)}")
    return nm_decompress(v, torch.as_tensor(indices), pattern, v.shape[1] // pattern.n * pattern.m)


def _positions(indices: torch.Tensor, pattern: NMPattern | None, shape: tuple[int, int]
               ) -> torch.Tensor:
    """The dense reduction position of each compressed entry of a ``rows x entries`` A: entry t
    of a row lies in group t // N at its in-group index (dense: position t)."""
    rows, entries = shape
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    positions = (torch.arange(entries) // n * m).expand(rows, entries)
    return positions if pattern is None else positions + indices


def _float_matmul(
    values: torch.Tensor,
    positions: torch.Tensor,
    b: torch.Tensor,
    dtype: NumberFormat,
    chunk: int | None,
    lanes: int,
) -> torch.Tensor:
    """``compressed_matmul`` in floating point: per output, the FP32 sum of the entries'
    products (entry t of row r times ``b[positions[r, t]]``) in ``lanes`` interleaved sums
    from +0, in partial sums of ``chunk`` entries added in order."""
    rows, entries = values.shape
    picked = b[positions].numpy()  # rows x entries x cols
    products = fp_product(values.numpy()[:, :, None], picked, dtype)
    step = entries if chunk is None else chunk
    total = np.zeros((rows, b.shape[1]), dtype=np.uint32)  # +0: also the sum of no entries
    for t0 in range(0, entries, max(step, 1)):
        total = fp32_add(total, fp32_interleaved(products[:, t0 : t0 + step], lanes, axis=1))
    return torch.from_numpy(total.astype(np.int64))


def compressed_matmul(
    values: torch.Tensor,
    indices: torch.Tensor,
    b: torch.Tensor,
    pattern: NMPattern | None,
    config: SatArrayConfig,
    *,
    chunk: int | None = None,
    lanes: int = 1,
) -> torch.Tensor:
    """``A x B`` with A given compressed (or dense when ``pattern`` is None), as the array does.

    Parameters
    ----------
    values, indices : 2-D integer tensors
        A as ``rows x T`` compressed entries (``indices`` is ignored when dense: T = K).
    b : 2-D integer tensor
        ``K x cols`` dense operand, K = T / N * M.
    pattern : NMPattern or None
    config : SatArrayConfig
        Number format and accumulator width.
    chunk : int, optional
        Floating point only: entries per partial sum (the module docstring); None, one sum.
        Integer results are exact whatever the split.
    lanes : int
        Floating point only: interleaved sums per partial sum (the module docstring; the
        array's are :func:`sparsa.dataflow.sat_tiles.tile_lanes`); 1, one sum in entry order.

    Returns
    -------
    torch.Tensor
        ``rows x cols`` int64: the exact integer result, or the FP32 bit patterns.
    """
    dtype = config.dtype
    v = check_operands(values, dtype, "A")
    bb = check_operands(b, dtype, "B")
    a = v if pattern is None else decompress(v, torch.as_tensor(indices), pattern)
    if a.shape[1] != bb.shape[0]:
        raise ValueError(
            f"A covers a reduction of {a.shape[1]} but B has {bb.shape[0]} rows"
        )
    if dtype.is_float:
        positions = _positions(torch.as_tensor(indices), pattern, tuple(v.shape))
        return _float_matmul(v, positions, bb, dtype, chunk, lanes)
    return a @ bb


def is_rejected(
    config: SatArrayConfig, *, dataflow: Dataflow, pattern: int, length: int, rows: int
) -> bool:
    """Whether the array rejects the command (and check that its fields fit the command beat).

    Parameters
    ----------
    config : SatArrayConfig
    dataflow : Dataflow
        The command's dataflow (a member or its integer code).
    pattern : int
        Code of the command's pattern field (:func:`sparsa.hw.sat.sat_array.runtime_patterns` gives
        the known ones; other codes are rejected).
    length : int
        OS: compressed entries per row (T); WS: output columns (B). At least 1.
    rows : int
        OS: accumulator rows emitted; WS: weight rows loaded. 1 to R.

    Raises
    ------
    ValueError
        If a field does not fit the command beat.
    """
    patterns = runtime_patterns(config)
    dataflow = as_dataflow(dataflow)
    if not 1 <= length <= 1 << config.max_reduction.bit_length():
        raise ValueError(
            f"length must be from 1 to {1 << config.max_reduction.bit_length()}, not {length!r}"
        )
    if not 1 <= rows <= config.rows:
        raise ValueError(f"rows must be from 1 to {config.rows}, not {rows!r}")
    if not 0 <= pattern < len(patterns):
        return True  # an unknown pattern code
    p = patterns[pattern]
    n = 1 if p is None else p.n
    if dataflow is Dataflow.OS and length > config.max_reduction:
        return True  # more products than the accumulators hold
    return (rows if dataflow is Dataflow.WS else length) % n != 0


def tile_beats(
    config: SatArrayConfig, *, dataflow: Dataflow, pattern: int, length: int, rows: int
) -> tuple[int, int, int]:
    """The ``weights``, ``acts`` and ``out`` beats of a command the array accepts: OS
    (length, length / N, rows); WS (rows, length, length). The arguments are those of
    :func:`is_rejected`.

    Raises
    ------
    ValueError
        If the array rejects the command or a field does not fit the command beat.
    """
    if is_rejected(config, dataflow=dataflow, pattern=pattern, length=length, rows=rows):
        raise ValueError(
            f"the array rejects the command (dataflow {as_dataflow(dataflow).name}, pattern "
            f"{pattern}, length {length}, rows {rows})"
        )
    p = runtime_patterns(config)[pattern]
    if as_dataflow(dataflow) is Dataflow.OS:
        return length, length // (1 if p is None else p.n), rows
    return rows, length, length


def tile_answer(
    config: SatArrayConfig,
    dataflow: Dataflow,
    pattern: int,
    length: int,
    rows: int,
    weights: Sequence[Sequence[dict[str, int]]],
    acts: Sequence[Sequence[Sequence[int]]],
) -> list[list[int]]:
    """The C values of each ``out`` beat of one array command, from its operand beats, as
    :mod:`sparsa.hw.sat.sat_array` computes them.

    OS: beat r is row r of (weights lane r) x (activation lanes 0..C-1). WS: beat j holds, for
    each column c, (weights lane c, the loaded rows) x (activation groups of output column j).
    Each entry multiplies the activation its group's lane holds at its index, masked to the
    pattern's M (the array reads no more bits; dense ignores it), so any beats have an answer,
    well-formed compressed rows or not. A lane with zero weights sums to zero for integers; in
    floating point a zero times an Inf activation is a NaN, as in the PE.

    Parameters
    ----------
    config : SatArrayConfig
    dataflow, pattern, length, rows : int
        The command's fields (as counts, not minus one), as for :func:`is_rejected`.
    weights, acts : sequences of beats
        The command's operand beats (the structures of
        :func:`sparsa.hw.sat.sat_array.weights_layout` and ``acts_layout``), as many as
        :func:`tile_beats` says.

    Returns
    -------
    list of list of int
        The answer's beats: exact integers (within the accumulators), or FP32 bit patterns.

    Raises
    ------
    ValueError
        If the array rejects the command, or the beats are too few or too many.
    """
    dataflow = as_dataflow(dataflow)
    n_w, n_a, _ = tile_beats(config, dataflow=dataflow, pattern=pattern, length=length,
                             rows=rows)
    if (len(weights), len(acts)) != (n_w, n_a):
        raise ValueError(f"the command takes {n_w} weights and {n_a} acts beats, not "
                         f"{len(weights)} and {len(acts)}")
    p = runtime_patterns(config)[pattern]
    n, m = (1, 1) if p is None else (p.n, p.m)
    if dataflow is Dataflow.OS:
        lanes, k = range(rows), length // n * m
        b = [[acts[t // m][c][t % m] for c in range(config.cols)] for t in range(k)]
    else:
        lanes, k = range(config.cols), rows // n * m
        b = [[acts[j][t // m][t % m] for j in range(length)] for t in range(k)]
    values = check_operands(
        torch.tensor([[beat[lane]["value"] for beat in weights] for lane in lanes]),
        config.dtype, "weights")
    index = torch.tensor([[beat[lane]["index"] for beat in weights] for lane in lanes])
    bb = check_operands(torch.tensor(b, dtype=torch.int64), config.dtype, "acts")
    positions = _positions(index & (m - 1), p, tuple(values.shape))
    if config.dtype.is_float:
        lanes = config.add_latency if dataflow is Dataflow.OS else 1  # the PE's interleave
        y = _float_matmul(values, positions, bb, config.dtype, None, lanes)
    else:
        y = (values[:, :, None] * bb[positions]).sum(dim=1)
    return y.tolist() if dataflow is Dataflow.OS else y.T.tolist()


def gemm_ff(
    w: torch.Tensor,
    x: torch.Tensor,
    pattern: NMPattern | None,
    config: SatArrayConfig,
    *,
    chunk: int | None = None,
    lanes: int = 1,
) -> torch.Tensor:
    """FF: ``Y = (W o Mf) X`` with Mf grouped along the reduction (columns of W); ``chunk`` and
    ``lanes`` as in :func:`compressed_matmul`."""
    w = check_operands(w, config.dtype, "W")
    if pattern is None:
        return compressed_matmul(w, w, x, None, config, chunk=chunk, lanes=lanes)
    values, indices = nm_generate(w, pattern, config.dtype)
    return compressed_matmul(values, indices, x, pattern, config, chunk=chunk, lanes=lanes)


def gemm_bp(
    w: torch.Tensor,
    dy: torch.Tensor,
    pattern: NMPattern | None,
    config: SatArrayConfig,
    *,
    chunk: int | None = None,
    lanes: int = 1,
) -> torch.Tensor:
    """BP: ``dX = (W o Mb)^T dY`` with Mb grouped along the output channels (rows of W)."""
    wt = check_operands(w, config.dtype, "W").T.contiguous()
    return gemm_ff(wt, dy, pattern, config, chunk=chunk, lanes=lanes)


def gemm_wu(
    dy: torch.Tensor,
    x: torch.Tensor,
    config: SatArrayConfig,
    *,
    chunk: int | None = None,
    lanes: int = 1,
) -> torch.Tensor:
    """WU: ``dW = dY X^T`` (dense)."""
    xt = check_operands(x, config.dtype, "X").T.contiguous()
    return compressed_matmul(dy, dy, xt, None, config, chunk=chunk, lanes=lanes)


def sore_tile(
    tile: torch.Tensor, n: int, direction: BdwpPass | str,
    dtype: NumberFormat = NumberFormat.INT16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One copy of a dense tile compressed to N:M, lane by lane, as the SORE produces it.

    Parameters
    ----------
    tile : 2-D integer tensor
        ``M x L`` dense weights (M output channels x L reduction positions), M one of
        :data:`sparsa.config.sat.SUPPORTED_M` and L a multiple of M.
    n : int
        Survivors per group, 1 to M - 1.
    direction : BdwpPass or str
        The pass of the copy (a member, its integer code or its name; the RTL harness passes
        the name until it uses the enum). ``BdwpPass.FF``: groups of M consecutive reduction
        positions; group g of row i is lane i * (L / M) + g. ``BdwpPass.BP``: groups along the
        output channels; column l is lane l.
    dtype : NumberFormat
        The weights' format (:func:`nm_generate`).

    Returns
    -------
    values, indices : torch.Tensor
        int64 tensors of shape ``L x N``: per lane, the kept values and their in-group indices
        (increasing), by :func:`nm_generate`.
    """
    t = torch.as_tensor(tile)
    if t.dim() != 2:
        raise ValueError(f"tile must be a matrix, got shape {tuple(t.shape)}")
    m, lanes = t.shape
    pattern = NMPattern(n, m)
    if lanes % m:
        raise ValueError(f"the tile's {lanes} columns are not a multiple of M = {m}")
    if _as_pass(direction) is BdwpPass.FF:
        values, indices = nm_generate(t, pattern, dtype)
    else:
        values, indices = nm_generate(t.T, pattern, dtype)
    return values.reshape(lanes, n), indices.reshape(lanes, n)


def _as_pass(direction: object) -> BdwpPass:
    """``direction`` (a :class:`BdwpPass` member or its integer code) as the member."""
    if not isinstance(direction, bool):
        try:
            return BdwpPass(direction)
        except (TypeError, ValueError):
            pass
    raise ValueError(f"direction must be BdwpPass.FF or BdwpPass.BP, not {direction!r}")
