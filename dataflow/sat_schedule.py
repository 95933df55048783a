"""Training GEMMs of a network, mapped onto SAT's PE array: tiles, cycles and operand traffic.

For every Conv2d/Linear layer (:func:`sparsa.models.zoo.cnn.layer_gemms`) training runs three GEMMs
(``sparsa.models.golden.sat`` states them): FF ``Y = (W o Mf) X`` and BP ``dX = (W o Mb)^T dY`` are
N:M sparse for BDWP layers, WU ``dW = dY X^T`` is dense; the first layer needs no BP. Each GEMM is
``A (rows x K) x B (K x cols)`` with A the (possibly compressed) weight operand.

:func:`plan_gemm` cuts a GEMM into the array's tiles exactly as :mod:`sparsa.dataflow.sat_tiles`
does (output-stationary: blocks of R rows x C columns over a reduction chunk; weight-stationary:
blocks of C rows x R compressed entries over a chunk of the columns), in the same order, and
sums their cycles with the RTL-validated model :mod:`sparsa.sim.blocks.sat_array`, in closed form
over all tiles (no loop per tile): the distance between consecutive tiles of a run depends on the
two tiles only (:func:`sparsa.sim.blocks.sat_array.increment`), and a tile's shape depends only on
which of its indices (repetition, row block, column block or entry block, chunk) is the last of its
level, so the sum over all pairs of tiles is a sum over a few classes of pairs times their
counts. Rows of more entries than the array's accumulators allow (``max_reduction``) and column
streams longer than the command's length field are cut into chunks whose partial sums the
output buffer adds up (the tiling layer's job, as for weight-stationary tiles).

Operand traffic follows the loop order: with A resident, each block of A rows is loaded once and
B is streamed once per block of A rows (once in all if the whole of B fits the B buffer); with B
resident the roles swap. Outputs are written once, in the operand format.

Bytes follow the array's number format (``array.dtype``): every value, of A, B or the output, takes
its operand width (8 bits for int8, 16 for int16, fp16 and bf16; a floating-point output is its FP32
accumulator rounded to the operand format), and a compressed weight adds its ceil(log2 M)-bit index
whatever the format. The tiles and their cycles do not depend on the format.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from math import ceil, prod

from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig, as_dataflow
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.sim.blocks.sat_array import ArrayTimeline, increment

__all__ = ["PHASES", "GemmOp", "GemmPlan", "plan_gemm", "training_gemms"]

PHASES = ("FF", "BP", "WU")


@dataclass(frozen=True)
class GemmOp:
    """One training GEMM: ``A (rows x reduction) x B (reduction x cols)``.

    ``pattern`` is the N:M pattern of A along the reduction (None when dense); ``count`` is how
    many identical GEMMs run (a grouped convolution runs one per group).
    """

    layer: str
    phase: str
    rows: int
    reduction: int
    cols: int
    pattern: NMPattern | None
    count: int = 1

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates (what a dense array would do)."""
        return self.count * self.rows * self.reduction * self.cols

    @property
    def entries(self) -> int:
        """Compressed entries per row of A: the reduction times N / M (all of it when dense)."""
        if self.pattern is None:
            return self.reduction
        return self.reduction // self.pattern.m * self.pattern.n


def training_gemms(layers: list, *, first_bp: bool = False) -> list[GemmOp]:
    """The FF, BP and WU GEMMs of one training iteration, in execution order.

    Parameters
    ----------
    layers : list of sparsa.models.zoo.cnn.LayerGemm
        In forward order. A layer whose ``pattern`` is set runs FF and BP N:M sparse.
    first_bp : bool
        Whether the first layer's BP runs (its input gradient is not needed; default False).
    """
    ops = [
        GemmOp(layer.name, "FF", layer.ff.m, layer.ff.k, layer.ff.n, layer.pattern, layer.groups)
        for layer in layers
    ]
    for i, layer in enumerate(reversed(layers)):
        if i < len(layers) - 1 or first_bp:
            ops.append(
                GemmOp(
                    layer.name,
                    "BP",
                    layer.bp.m,
                    layer.bp.k,
                    layer.bp.n,
                    layer.pattern,
                    layer.groups,
                )
            )
        ops.append(GemmOp(layer.name, "WU", layer.wu.m, layer.wu.k, layer.wu.n, None, layer.groups))
    return ops


@dataclass(frozen=True)
class GemmPlan:
    """A GEMM's tiles on the array and the operand bytes its loop order moves.

    Attributes
    ----------
    op : GemmOp
    dataflow : Dataflow
    a_resident : bool
        Loop order: A blocks stay on chip while B streams (else the reverse).
    tiles : int
        Array commands, all repetitions included.
    cycles : int
        Array cycles of all tiles run back to back on an idle array
        (:func:`sparsa.sim.blocks.sat_array.sequence_cycles`, interleaved if the array is).
    first, last : dict
        The first and the last tile command (keyword arguments of
        :func:`sparsa.sim.blocks.sat_array.tile_cycles`).
    span : int
        Sum of :func:`sparsa.sim.blocks.sat_array.increment` over consecutive tiles (what
        :meth:`sparsa.sim.blocks.sat_array.ArrayTimeline.issue_run` takes).
    a_reads : int
        Times A is read from DRAM (per repetition of the GEMM).
    a_bytes, b_bytes, out_bytes : int
        Bytes of A (values and indices), B and the output moved between DRAM and chip.
    a_fed_bits, b_fed_bits : int
        Bits of A and B read from the on-chip buffers into the array's edges, all tiles.
    """

    op: GemmOp
    dataflow: Dataflow
    a_resident: bool
    tiles: int
    cycles: int
    first: dict[str, int]
    last: dict[str, int]
    span: int
    a_reads: int
    a_bytes: int
    b_bytes: int
    out_bytes: int
    a_fed_bits: int
    b_fed_bits: int

    @property
    def bytes(self) -> int:
        return self.a_bytes + self.b_bytes + self.out_bytes


def _run_span(
    sizes: tuple[int, ...],
    tile_of: Callable[[tuple[bool, ...]], dict[str, int]],
    increment: Callable[[dict[str, int], dict[str, int]], int],
) -> int:
    """Sum of ``increment(tile k - 1, tile k)`` over the consecutive tiles of a row-major nest of
    loops of ``sizes`` (outermost first), where ``tile_of(flags)`` gives the tile whose index at
    each level is the last of the level (flag True) or not."""
    total = 0
    depth = len(sizes)
    for level, n in enumerate(sizes):  # pairs where this level's index steps up by one
        if n < 2:
            continue
        inner_prev = (True,) * (depth - level - 1)  # the deeper indices wrap to zero
        inner_cur = tuple(size == 1 for size in sizes[level + 1 :])
        for outer in itertools.product((False, True), repeat=level):
            count = prod(1 if last else size - 1 for last, size in zip(outer, sizes, strict=False))
            for cur_last, ways in ((True, 1), (False, n - 2)):
                if count * ways:
                    prev = tile_of((*outer, False, *inner_prev))
                    cur = tile_of((*outer, cur_last, *inner_cur))
                    total += count * ways * increment(prev, cur)
    return total


def plan_gemm(
    op: GemmOp,
    array: SatArrayConfig,
    *,
    dataflow: Dataflow,
    a_resident: bool,
    b_buffer_bytes: int,
    a_buffer_bytes: int,
    a_dense_in_dram: bool = False,
) -> GemmPlan:
    """Tile ``op`` onto ``array`` with ``dataflow`` and count its cycles and operand bytes.

    Parameters
    ----------
    op : GemmOp
    array : SatArrayConfig
        Its patterns must include ``op.pattern``; its ``interleave`` decides whether the tiles
        overlap.
    dataflow : Dataflow
        A member or its integer code; the plan carries the member.
    a_resident : bool
        Loop order (see the module docstring).
    a_buffer_bytes, b_buffer_bytes : int
        On-chip capacity for the resident operand's whole matrix (when it fits, the streamed
        operand is read only once).
    a_dense_in_dram : bool
        A sparse A is read from DRAM dense and compressed on the way in (by the SORE), so its
        traffic is the dense matrix; otherwise it is read compressed (values and indices).
    """
    dataflow = as_dataflow(dataflow)
    R, C, w = array.rows, array.cols, array.dtype.width
    p = op.pattern
    if p is not None and p not in array.patterns:
        raise ValueError(
            f"{op.layer} {op.phase}: pattern {p} is not supported by the array "
            f"(it has {[str(q) for q in array.patterns]} and dense)"
        )
    n, m = (1, 1) if p is None else (p.n, p.m)
    if op.reduction % m:
        raise ValueError(
            f"{op.layer} {op.phase}: reduction {op.reduction} is not a multiple of M = {m}"
        )
    entries = op.entries
    code = runtime_patterns(array).index(p)

    def tile(df: Dataflow, length: int, rows: int) -> dict[str, int]:
        return {"dataflow": df, "pattern": code, "length": length, "rows": rows}

    if dataflow is Dataflow.OS:
        # Reduction chunks of at most max_reduction entries (whole groups) partition a row.
        chunk = array.max_reduction // n * n
        sizes = (op.count, ceil(op.rows / R), ceil(op.cols / C), ceil(entries / chunk))
        last_rows, last_len = op.rows - (sizes[1] - 1) * R, entries - (sizes[3] - 1) * chunk

        def tile_of(flags: tuple[bool, ...]) -> dict[str, int]:
            return tile(Dataflow.OS, last_len if flags[3] else chunk, last_rows if flags[1] else R)

        a_passes = sizes[2]  # a block of A rows is fed once per block of columns
    else:
        slots = R // n * n
        if slots == 0:
            raise ValueError(
                f"a weight-stationary tile needs at least N = {n} rows, the array has {R}"
            )
        # Entry blocks of ``slots`` partition a row's entries, column chunks the columns.
        length_cap = 1 << array.max_reduction.bit_length()  # longest command
        sizes = (op.count, ceil(op.rows / C), ceil(entries / slots), ceil(op.cols / length_cap))
        last_rows = entries - (sizes[2] - 1) * slots
        last_len = op.cols - (sizes[3] - 1) * length_cap

        def tile_of(flags: tuple[bool, ...]) -> dict[str, int]:
            return tile(
                Dataflow.WS, last_len if flags[3] else length_cap, last_rows if flags[2] else slots
            )

        a_passes = sizes[3]  # the stationary entries are reloaded for each column chunk
    tiles = prod(sizes)
    first, last = tile_of(tuple(size == 1 for size in sizes)), tile_of((True,) * len(sizes))
    span = _run_span(
        sizes,
        tile_of,
        lambda a, b: increment(array, dataflow, a["length"], a["rows"], b["length"], b["rows"]),
    )
    cycles = ArrayTimeline(array).issue_run(first, last, span=span, tiles=tiles)
    if p is None or a_dense_in_dram:
        a_bytes = ceil(op.rows * op.reduction * w / 8)
    else:
        a_bytes = ceil(op.rows * entries * (w + p.index_width) / 8)
    b_bytes = ceil(op.reduction * op.cols * w / 8)
    a_blocks = ceil(op.rows / (R if dataflow is Dataflow.OS else C))
    b_blocks = ceil(op.cols / C) if dataflow is Dataflow.OS else 1
    if a_resident:
        b_reads = 1 if b_bytes <= b_buffer_bytes else a_blocks
        a_reads = 1
    else:
        a_reads = 1 if a_bytes <= a_buffer_bytes else b_blocks
        b_reads = 1
    out_bytes = ceil(op.rows * op.cols * w / 8)
    a_fed = op.rows * entries * a_passes * (w + (0 if p is None else p.index_width))
    b_fed = op.reduction * op.cols * a_blocks * w  # B is fed once per block of A rows
    return GemmPlan(
        op,
        dataflow,
        a_resident,
        tiles,
        cycles,
        first,
        last,
        span,
        a_reads,
        a_bytes * a_reads * op.count,
        b_bytes * b_reads * op.count,
        out_bytes * op.count,
        a_fed * op.count,
        b_fed * op.count,
    )
