"""Tiling of one GEMM onto SAT's PE array, and reassembly of the tiles' outputs.

A GEMM ``Y = A B`` has A given compressed (``values``/``indices``, ``rows x T``, N:M along its
rows, or dense with T = K) and B dense (``K x cols``). :func:`plan_tiles` cuts it into array
commands with their operand beats, for either dataflow:

* output-stationary: one tile per block of at most R rows of A and C columns of B and per
  chunk of at most ``max_reduction`` entries of the reduction (whole groups of N); the partial
  sums of the chunks are added when the tiles are reassembled;
* weight-stationary: one tile per block of at most C rows of A and R compressed entries (a whole
  number of N-entry groups) and per chunk of the columns of B as long as a command allows
  (``2 ** max_reduction.bit_length()``); the partial sums of the tiles that share an output
  block are added when the tiles are reassembled (the output buffer's job).

Tiles come in the order the array runs them: row blocks, then (OS) column blocks and reduction
chunks or (WS) entry blocks and column chunks.

Beats are plain Python structures that the Amaranth layouts of :mod:`sparsa.hw.sat.sat_array` accept
(``layout.const(beat)``). Lanes the tile does not use carry zero weights (at well-formed
compressed positions), and activation lanes past M carry ``filler`` values, which the array must
ignore.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig, as_dataflow
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.models.golden.floats import fp32_add

__all__ = ["Tile", "assemble", "plan_tiles", "tile_entries", "tile_grid", "tile_lanes"]


@dataclass(frozen=True)
class Tile:
    """One array command: the command fields, its operand beats and where its output goes.

    Attributes
    ----------
    dataflow : Dataflow
    pattern, length, rows : int
        The command (``length`` and ``rows`` as counts, not minus one).
    weights, acts : list
        Operand beats, in order.
    row0, col0 : int
        Position of the tile's output block in Y.
    out_rows, out_cols : int
        Size of the output block (its extent in Y's rows and columns).
    t0 : int
        The tile's first compressed entry of A's rows.
    """

    dataflow: Dataflow
    pattern: int
    length: int
    rows: int
    weights: list
    acts: list
    row0: int
    col0: int
    out_rows: int
    out_cols: int
    t0: int = 0

    @property
    def cmd(self) -> dict[str, int]:
        """The command beat (``dataflow`` a :class:`Dataflow` member)."""
        return {
            "dataflow": self.dataflow,
            "pattern": self.pattern,
            "length_m1": self.length - 1,
            "rows_m1": self.rows - 1,
        }


def _group(b: torch.Tensor, g: int, col: int, m: int, width: int, filler: Callable[[], int]):
    vals = [int(v) for v in b[g * m : (g + 1) * m, col]]
    return vals + [filler() for _ in range(width - m)]


def tile_entries(config: SatArrayConfig, pattern: NMPattern | None, dataflow: Dataflow) -> int:
    """Most reduction entries one tile sums: OS, ``max_reduction`` rounded down to whole groups
    of N; WS, the rows (R) rounded down likewise (the ``chunk`` of the golden GEMMs,
    :func:`sparsa.models.golden.sat.compressed_matmul`).

    Raises
    ------
    ValueError
        For a weight-stationary tile when the array has fewer than N rows.
    """
    n = 1 if pattern is None else pattern.n
    if as_dataflow(dataflow) is Dataflow.OS:
        return config.max_reduction // n * n  # whole groups, within the accumulators' bound
    if config.rows < n:
        raise ValueError(
            f"a weight-stationary tile needs at least N = {n} rows, the array has {config.rows}"
        )
    return config.rows // n * n


def tile_lanes(config: SatArrayConfig, dataflow: Dataflow) -> int:
    """Interleaved partial sums in which one tile's PE adds its products (the ``lanes`` of the
    golden GEMMs, :func:`sparsa.models.golden.sat.compressed_matmul`): OS, the adder's register
    stages ``add_latency``; WS, 1 (a chain adds in row order)."""
    return config.add_latency if as_dataflow(dataflow) is Dataflow.OS else 1


def plan_tiles(
    config: SatArrayConfig,
    values: torch.Tensor,
    indices: torch.Tensor,
    b: torch.Tensor,
    pattern: NMPattern | None,
    dataflow: Dataflow,
    *,
    filler: Callable[[], int] = lambda: 0,
) -> list[Tile]:
    """Cut ``A B`` into array tiles (see the module docstring).

    Parameters
    ----------
    config : SatArrayConfig
    values, indices : 2-D integer tensors
        A compressed (``indices`` is ignored when ``pattern`` is None).
    b : 2-D integer tensor
        B, ``K x cols`` with K = T / N * M.
    pattern : NMPattern or None
        One of ``config.patterns``, or None for dense.
    dataflow : Dataflow
        A member or its integer code; the tiles carry the member.
    filler : callable
        Gives the values of activation lanes past M (default zero).
    """
    dataflow = as_dataflow(dataflow)
    a_rows, t_len = values.shape
    k, cols = b.shape
    grid = tile_grid(config, (a_rows, t_len, cols), pattern, dataflow)
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    L, MM = max(config.rows, config.cols), config.max_m
    if t_len % n or t_len // n * m != k:
        raise ValueError(
            f"A has {t_len} entries per row, which with {pattern or 'dense'} "
            f"cover {t_len // n * m} positions, but B has {k} rows"
        )

    def zero(t: int) -> dict[str, int]:
        """An unused lane's entry t: a zero weight at a valid compressed position (index t mod
        N, so each group's indices increase and the lane reads as a well-formed row)."""
        return {"value": 0, "index": 0 if pattern is None else t % n}

    def entry(r: int, t: int) -> dict[str, int]:
        return {"value": int(values[r, t]), "index": 0 if pattern is None else int(indices[r, t])}

    tiles = []
    for tile in grid:
        r0, rr, t0 = tile.row0, tile.out_rows, tile.t0
        if dataflow is Dataflow.OS:
            c0, cc, tt = tile.col0, tile.out_cols, tile.length
            weights = [[entry(r0 + r, t) if r < rr else zero(t) for r in range(L)]
                       for t in range(t0, t0 + tt)]
            acts = [[_group(b, g, c0 + c, m, MM, filler) if c < cc else [0] * MM
                     for c in range(L)]
                    for g in range(t0 // n, (t0 + tt) // n)]
        else:
            j0, jj, tt = tile.col0, tile.length, tile.rows
            weights = [[entry(r0 + c, t0 + t) if c < rr else zero(t) for c in range(L)]
                       for t in range(tt)]
            acts = [[_group(b, t0 // n + g, j, m, MM, filler) if g < tt // n else [0] * MM
                     for g in range(L)]
                    for j in range(j0, j0 + jj)]
        tiles.append(dataclasses.replace(tile, weights=weights, acts=acts))
    return tiles


def tile_grid(config: SatArrayConfig, shape: tuple[int, int, int], pattern: NMPattern | None,
              dataflow: Dataflow) -> list[Tile]:
    """The tiles :func:`plan_tiles` cuts a GEMM of ``shape`` (A's rows, its compressed entries
    per row T, B's columns) into, in its order, without their beats (``weights`` and ``acts``
    empty): the tiling alone, which depends on the shape only.

    Raises
    ------
    ValueError
        For a pattern the array does not run.
    """
    dataflow = as_dataflow(dataflow)
    codes = runtime_patterns(config)
    if pattern not in codes:
        raise ValueError(
            f"pattern {pattern} is not supported by this array; "
            f"it has {[str(p) for p in config.patterns]} and dense"
        )
    code = codes.index(pattern)
    R, C = config.rows, config.cols
    a_rows, t_len, cols = shape
    chunk = tile_entries(config, pattern, dataflow)
    tiles = []
    if dataflow is Dataflow.OS:
        for r0 in range(0, a_rows, R):
            rr = min(R, a_rows - r0)
            for c0 in range(0, cols, C):
                cc = min(C, cols - c0)
                for t0 in range(0, t_len, chunk):
                    tt = min(chunk, t_len - t0)
                    tiles.append(Tile(Dataflow.OS, code, tt, rr, [], [], r0, c0, rr, cc, t0))
    else:
        length_cap = 1 << config.max_reduction.bit_length()  # longest command
        for r0 in range(0, a_rows, C):
            rr = min(C, a_rows - r0)
            for t0 in range(0, t_len, chunk):
                tt = min(chunk, t_len - t0)
                for j0 in range(0, cols, length_cap):
                    jj = min(length_cap, cols - j0)
                    tiles.append(Tile(Dataflow.WS, code, jj, tt, [], [], r0, j0, rr, jj, t0))
    return tiles


def assemble(
    tiles: list[Tile],
    outputs: list[list[list[int]]],
    shape: tuple[int, int],
    dtype: NumberFormat,
) -> torch.Tensor:
    """Y from each tile's output beats (``outputs[i]`` = the C-value beats of ``tiles[i]``).

    Output-stationary beats are rows of the block; weight-stationary beats are its columns; the
    partial sums of tiles sharing a block are added in tile order, as integers or (a
    floating-point ``dtype``) as FP32 bit patterns from +0, as the output buffer would.
    """
    y = torch.zeros(shape, dtype=torch.int64)
    for tile, beats in zip(tiles, outputs, strict=True):
        block = torch.tensor(beats, dtype=torch.int64)
        if tile.dataflow == Dataflow.OS:
            part = block[: tile.out_rows, : tile.out_cols]
        else:
            part = block[: tile.out_cols, : tile.out_rows].T
        where = (slice(tile.row0, tile.row0 + tile.out_rows),
                 slice(tile.col0, tile.col0 + tile.out_cols))
        if dtype.is_float:
            y[where] = torch.from_numpy(fp32_add(y[where].numpy(), part.numpy()).astype(np.int64))
        else:
            y[where] += part
    return y
