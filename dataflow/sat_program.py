"""Compile one GEMM into a program of the SAT accelerator system and its DRAM image.

:func:`compile_gemm` cuts ``Y = A B`` into array tiles
(:func:`sparsa.dataflow.sat_tiles.plan_tiles`, the tiles of one output block kept together),
lays out in DRAM, from a word-aligned ``base``,
the program, the tiles' weights and activation rows and one output region per output block, and
emits per tile (streamed operands; resident ones below)

* LOAD A: its ``weights`` beats into half i % 2 of the weight buffer;
* LOAD B: its ``acts`` beats into half i % 2 of the activation buffer;
* GEMM: from those rows into half k % 2 of the output buffer for output block k, writing for
  the block's first tile and adding for the others;

after the last tile of a block a STORE of its rows to the block's region, and END last.

**Resident operands** (``resident``, the default). An operand whose distinct tiles (equal bytes
are one tile: OS reuses an A tile across the output blocks of its rows and a B tile across
those of its columns) all fit its whole buffer stays there: each distinct tile is loaded once,
by the first tile that uses it, into a region of its own in order of first use, and every GEMM
reads it from there. When one operand is resident and the other is not, the other is loaded
once per group of output blocks where it can be: B's tiles are shared by the blocks of one
column, A's by those of one row, so the tiles are ordered a column (or a row) of blocks at a
time, and when each group's distinct tiles of the operand fit half its buffer, group g loads
each of them once, at its first use, into half g % 2. Otherwise a streamed operand is loaded
by every tile into half i % 2. A tile whose operands are all loaded already has no LOAD.

Tokens (:mod:`sparsa.config.sat_system`) let loads, GEMMs and stores overlap over the halves:
a tile's last LOAD pushes to its GEMM, which pops it; while an operand streams, GEMM i pushes
to LOAD when tile i + 2 exists, and the first LOAD of tile i + 2 pops it before it overwrites
the half (resident regions are never overwritten, so without a streamed operand these tokens
go; for an operand loaded per group, the last GEMM of group g pushes to the first LOAD of
group g + 2); the last GEMM of block k pushes to STORE k, which pops it and, when block
k + 2 exists, pushes back to the first GEMM of block k + 2, which pops it before it overwrites
the output half. Every token pushed is popped, and each pop's push comes earlier in the program
(:func:`sparsa.models.golden.sat_system.token_problems`).

Tiles are at most half a buffer: the compiler plans them with the array's ``max_reduction``
lowered, if need be, so that an OS tile's entries and groups and a WS tile's columns fit a half
(:attr:`CompiledGemm.chunk` is then the reduction chunk of the floating-point partial sums).

**Weights generated on the fly.** :func:`compile_generated_gemm` takes the weights W dense, in
their natural orientation (``C_out x K``: row i is output channel i), and a system with a SORE
(``sore_lanes`` > 0) and a pattern whose M is ``sore_m``. It plans the same tiles as
:func:`compile_gemm` given A pre-generated (FF: A = ``nm_generate(W)``, groups of M along the
reduction; BP: A = ``nm_generate(W^T)``, groups of M output channels, for ``(W o Mb)^T``), and
replaces each tile's LOAD A by GENERATEs that build the same entries in the same A rows from the
dense tiles of W, laid out in DRAM as M rows of L = ``sore_lanes`` weights each, zero beyond W's
edges and beyond the tile's rows of A:

* FF: one GENERATE per block of M consecutive A rows (lanes) and per block of L dense positions
  of the tile's reduction (L / M x N entries, buffer rows); its tile is those M channels at
  those L positions. A tile whose positions are not a whole number of L also writes the rows
  past its entries (zero groups), which the GEMM does not read; they must fit the tile's half
  of the weight buffer.
* BP: one GENERATE per block of L consecutive A rows (lanes, positions of W) and per group of M
  output channels of W the tile reduces over (N entries); its tile is those M channels (rows of
  W) at those L positions.

A block of lanes that would reach past the array's max(R, C) lanes starts at max(R, C) minus its
span instead, overlapping the block before it with the same entries. Lanes past the tile's last
block keep what an earlier tile left there: the GEMM's answer in those lanes (OS: rows it does
not emit; WS: output columns past the block's) is never part of Y. The first GENERATE of a tile
takes the LOAD A's token (its ``pop_next``).
"""

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sparsa.config.sat import BdwpPass, Dataflow, NMPattern, SatArrayConfig, as_dataflow
from sparsa.config.sat_system import (
    INSTRUCTION_BITS,
    Opcode,
    SatSystemConfig,
    StoreMode,
    encode,
)
from sparsa.dataflow.sat_tiles import Tile, plan_tiles, tile_entries, tile_grid
from sparsa.hw.common.stream_codec import packer
from sparsa.hw.sat.sat_array import weights_layout
from sparsa.hw.sat.sore import weights_layout as tile_layout
from sparsa.models.golden.sat import check_operands, nm_generate, tile_beats
from sparsa.models.golden.sat_system import (
    check_store_mode,
    generate_extent,
    pack_compact,
    pack_transfer,
    row_bits,
    store_rows,
    transfer_bytes,
    unpack_compact,
    unpack_transfer,
)

__all__ = [
    "CompiledGemm",
    "CompiledProgram",
    "OutputBlock",
    "PlannedLayer",
    "ProgramImage",
    "StoreRule",
    "Stored",
    "check_base",
    "compile_gemm",
    "compile_generated_gemm",
    "emit_layer",
    "generated_operand",
    "pack_dense_tile",
    "plan_layer",
    "plan_shape",
    "planning_array",
    "read_blocks",
    "reduction_limit",
]


@dataclass(frozen=True)
class OutputBlock:
    """One output block of Y and where its STORE puts it.

    Attributes
    ----------
    dataflow : Dataflow
        OS: the stored rows are rows of the block; WS: its columns.
    row0, col0, out_rows, out_cols : int
        Position and size of the block in Y.
    addr : int
        DRAM address of its stored rows.
    rows : int
        Rows stored (the GEMMs' answer beats: OS, ``out_rows``; WS, ``out_cols``).
    """

    dataflow: Dataflow
    row0: int
    col0: int
    out_rows: int
    out_cols: int
    addr: int
    rows: int


@dataclass(frozen=True)
class CompiledProgram:
    """A program and its DRAM image.

    Attributes
    ----------
    config : SatSystemConfig
    base : int
        Address of the image's first byte.
    image : bytes
        DRAM from ``base``: the program, the operands and the (zeroed) output regions.
    program_addr : int
    program : tuple of int
        The instructions (``program_len`` is its length).
    """

    config: SatSystemConfig
    base: int
    image: bytes
    program_addr: int
    program: tuple[int, ...]

    @property
    def program_len(self) -> int:
        """Instructions in the program."""
        return len(self.program)

    def dram(self, size: int | None = None) -> bytearray:
        """DRAM of ``size`` bytes (default: up to the image's end), zero but for the image.

        Raises
        ------
        ValueError
            If ``size`` is below the image's end.
        """
        end = self.base + len(self.image)
        size = end if size is None else size
        if size < end:
            raise ValueError(f"the image ends at byte {end}; size {size!r} is too small")
        dram = bytearray(size)
        dram[self.base : end] = self.image
        return dram


@dataclass(frozen=True)
class CompiledGemm(CompiledProgram):
    """A compiled GEMM: its DRAM image and program (:class:`CompiledProgram`), tiles and output
    blocks.

    Attributes
    ----------
    tiles : tuple of Tile
        The tiles, in program order.
    blocks : tuple of OutputBlock
        The output blocks, in program order.
    shape : tuple of int
        Y's rows and columns.
    store_mode : StoreMode
    shift : int
    chunk : int
        Reduction entries per tile (the ``chunk`` of
        :func:`sparsa.models.golden.sat.compressed_matmul` that gives the same floating-point
        result).
    generated : BdwpPass or None
        The copy GENERATE builds A as (:func:`compile_generated_gemm`), None when LOAD brings A
        pre-generated. The tiles' ``weights`` are the pre-generated beats either way.
    """

    tiles: tuple[Tile, ...]
    blocks: tuple[OutputBlock, ...]
    shape: tuple[int, int]
    store_mode: StoreMode
    shift: int
    chunk: int
    generated: BdwpPass | None = None

    def read_output(self, dram: bytes) -> torch.Tensor:
        """Y as the program's STOREs left it in ``dram``: int64 values (two's complement of the
        stored width) for an integer array, bit patterns (FP32 for RAW, FP16 or BF16) for a
        floating-point one."""
        return read_blocks(self.config, self.blocks, self.shape, StoreRule(self.store_mode),
                           dram)


def read_blocks(config: SatSystemConfig, blocks: Sequence[OutputBlock], shape: tuple[int, int],
                rule: "StoreRule", dram: bytes) -> torch.Tensor:
    """The ``shape`` matrix the STOREs of ``blocks`` left in ``dram`` under ``rule`` (rows, or
    activation beats with its group): int64 values (two's complement of the stored width) for
    an integer array, bit patterns for a floating-point one."""
    cols, bits = config.array.cols, config.store_bits(rule.mode)
    y = torch.zeros(shape, dtype=torch.int64)
    for block in blocks:
        count, row_size = store_rows(config, rule.mode, rule.group, block.rows)
        size = transfer_bytes(config, count, row_size)
        rows = unpack_transfer(bytes(dram[block.addr : block.addr + size]), row_size, count)
        if rule.group:  # value c of row j g + s is in slot s of lane c of row j
            values = []
            for row in rows:
                lanes = unpack_compact(config, row, rule.group)
                values += [[lanes[c][s] for c in range(cols)] for s in range(rule.group)]
            values = values[: block.rows]
        else:
            values = [[row >> (c * bits) & ((1 << bits) - 1) for c in range(cols)]
                      for row in rows]
        beats = torch.tensor(values, dtype=torch.int64)
        if not config.array.dtype.is_float:
            beats = beats - (beats >> (bits - 1) << bits)
        if block.dataflow is Dataflow.OS:
            part = beats[: block.out_rows, : block.out_cols]
        else:
            part = beats[: block.out_cols, : block.out_rows].T
        y[block.row0 : block.row0 + block.out_rows,
          block.col0 : block.col0 + block.out_cols] = part
    return y


def planning_array(
    config: SatSystemConfig, pattern: NMPattern | None, dataflow: Dataflow
) -> SatArrayConfig:
    """The array config the compiler plans tiles with: ``config.array`` with ``max_reduction``
    lowered (not below the array's rows) so that an OS tile's entries fit half the weight
    buffer and its groups half the activation buffer, and a WS tile's columns half the
    activation and output buffers."""
    arr = config.array
    n = 1 if pattern is None else pattern.n
    if as_dataflow(dataflow) is Dataflow.OS:
        bound = min(config.a_rows // 2, n * (config.b_rows // 2))
    else:  # a WS tile's columns reach 2 ** max_reduction.bit_length()
        half = min(config.b_rows, config.out_rows) // 2
        bound = (1 << (half.bit_length() - 1)) - 1
    return arr.replace(max_reduction=max(arr.rows, min(arr.max_reduction, bound)))


def _blocks_together(tiles: list[Tile]) -> list[Tile]:
    """``tiles`` with those of each output block together, blocks in order of first tile,
    tiles of a block in their order (the order of the partial sums)."""
    order: dict[tuple[int, int], list[Tile]] = {}
    for tile in tiles:
        order.setdefault((tile.row0, tile.col0), []).append(tile)
    return [tile for group in order.values() for tile in group]


def reduction_limit(config: SatSystemConfig) -> int | None:
    """The most compressed entries an integer array's output entries can sum without overflow
    (every product at the format's extreme; ``out_width`` bits), None for a floating-point
    array."""
    dtype = config.array.dtype
    if dtype.is_float:
        return None
    low, _ = dtype.range
    return ((1 << (config.out_width - 1)) - 1) // (low * low)


def _check_reduction(config: SatSystemConfig, entries: int) -> None:
    limit = reduction_limit(config)
    if limit is not None and entries > limit:
        low, _ = config.array.dtype.range
        raise ValueError(
            f"a reduction of {entries} {config.array.dtype.value} products may reach "
            f"{entries * low * low}, which overflows the {config.out_width}-bit output entries "
            f"(at most {(1 << (config.out_width - 1)) - 1})"
        )


def pack_dense_tile(config: SatSystemConfig, tile: torch.Tensor) -> bytes:
    """The bytes of a GENERATE's dense tile as it lies in DRAM: M rows of L weights (row i is
    output channel i, weight l at bit ``l * W``, two's complement or bit patterns), whole words
    (:func:`sparsa.models.golden.sat_system.pack_transfer`).

    Parameters
    ----------
    config : SatSystemConfig
        A system with a SORE (M = ``sore_m``, L = ``sore_lanes``).
    tile : 2-D integer tensor
        ``M x L`` weights in the array's format.

    Raises
    ------
    ValueError
        On a system without a SORE, for a tile of another shape or a weight outside the format.
    """
    sore = config.sore
    if sore is None:
        raise ValueError("the system has no SORE (sore_lanes = 0) to GENERATE from dense tiles")
    t = check_operands(tile, config.array.dtype, "tile")
    if tuple(t.shape) != (sore.m, sore.lanes):
        raise ValueError(f"a dense tile is M x L = {sore.m} x {sore.lanes}, not "
                         f"{' x '.join(map(str, t.shape))}")
    pack = packer(tile_layout(sore))
    return pack_transfer(config, [pack(row) for row in t.tolist()], row_bits(config, "tile"))


@dataclass(frozen=True)
class Stored:
    """Where a chained LOAD reads: the rows a STORE of the layer before wrote for its output
    block number ``block`` (:func:`plan_layer`'s ``b_from``)."""

    block: int


# One instruction of a tile's loads before its address is known: opcode, fields, its data (or
# the stored block it reads).
_Step = tuple[Opcode, dict[str, int], bytes | Stored]


def _load_a(config: SatSystemConfig, tile: Tile, a_row: int) -> list[_Step]:
    """LOAD A of ``tile``'s pre-generated beats into the rows from ``a_row``."""
    pack = packer(weights_layout(config.array))
    data = pack_transfer(config, [pack(w) for w in tile.weights], row_bits(config, "a"))
    return [_load(0, a_row, len(tile.weights), data)]


def _resident(keys: list | None, rows: list[int], capacity: int) -> list[int] | None:
    """The buffer row of each tile's operand when its distinct tiles (``keys``: equal keys,
    the same rows; ``rows`` rows each) all fit ``capacity`` rows, one region per distinct tile
    in order of first use; None when they do not (or ``keys`` is None)."""
    if keys is None:
        return None
    region: dict[object, int] = {}
    end = 0
    for key, count in zip(keys, rows, strict=True):
        if key not in region:
            region[key], end = end, end + count
    if end > capacity:
        return None
    return [region[key] for key in keys]


def _lane_blocks(count: int, span: int, lanes: int) -> list[int]:
    """First lanes of the blocks of ``span`` lanes that cover lanes 0 to ``count`` - 1, a block
    that would pass ``lanes`` moved back to end there."""
    return [min(start, lanes - span) for start in range(0, count, span)]


def _generates(config: SatSystemConfig, tile: Tile, dense: torch.Tensor | None,
               pattern: NMPattern, direction: BdwpPass, a_row: int) -> list[_Step]:
    """The GENERATEs that write ``tile``'s A rows from ``a_row`` from ``dense``, the dense A
    (see the module docstring; None: zero tiles of the same length, a plan from the shape).

    Raises
    ------
    ValueError
        If they write more rows than half the weight buffer holds.
    """
    arr, m, n = config.array, pattern.m, pattern.n
    lanes = max(arr.rows, arr.cols)
    span, rows = generate_extent(config, direction, n)
    ff = direction is BdwpPass.FF
    positions = config.sore_lanes if ff else m  # dense positions of A per GENERATE
    entries = tile.length if tile.dataflow is Dataflow.OS else tile.rows
    g0, groups = tile.t0 // n, entries // n
    width = -(-groups * m // positions) * positions  # FF: whole blocks of L positions
    block = torch.zeros(lanes, width, dtype=torch.int64)  # zero past W's and the tile's edges
    if dense is not None:
        block[: tile.out_rows, : groups * m] = dense[tile.row0 : tile.row0 + tile.out_rows,
                                                     g0 * m : (g0 + groups) * m]
    steps = []
    for b in range(width // positions):
        for lane in _lane_blocks(tile.out_rows, span, lanes):
            part = block[lane : lane + span, b * positions : (b + 1) * positions]
            fields = {"copy": int(direction), "n": n, "lane": lane, "row": a_row + b * rows}
            # The tile's rows are channels: FF, the lanes' rows of A; BP, the groups' positions.
            tile_data = (pack_dense_tile(config, part if ff else part.T) if dense is not None
                         else bytes(transfer_bytes(config, m, row_bits(config, "tile"))))
            steps.append((Opcode.GENERATE, fields, tile_data))
    written = max(s[1]["row"] for s in steps) - a_row + rows
    half = config.a_rows // 2
    if written > half:
        raise ValueError(
            f"the GENERATEs of a tile of {entries} A rows write {written} rows (whole blocks of "
            f"L = {config.sore_lanes} positions), more than half the weight buffer holds, "
            f"{half}"
        )
    return steps


def compile_gemm(
    config: SatSystemConfig,
    values: torch.Tensor,
    indices: torch.Tensor,
    b: torch.Tensor,
    pattern: NMPattern | None,
    dataflow: Dataflow,
    *,
    store_mode: StoreMode = StoreMode.RAW,
    shift: int = 0,
    base: int = 0,
    resident: bool = True,
) -> CompiledGemm:
    """Compile ``Y = A B``, A pre-generated (see the module docstring).

    Parameters
    ----------
    config : SatSystemConfig
    values, indices, b, pattern, dataflow
        As for :func:`sparsa.dataflow.sat_tiles.plan_tiles`.
    store_mode : StoreMode
        How the STOREs write Y (one of ``config.store_modes()``).
    shift : int
        The STOREs' shift (INT8 and INT16 only).
    base : int
        Word-aligned DRAM address of the image.
    resident : bool
        Keep an operand resident when its distinct tiles fit its buffer (the module
        docstring); False streams both through the halves, every tile loading both.

    Raises
    ------
    ValueError
        For a base that is not word-aligned, an operand outside the array's format, a store
        mode or shift the format cannot take, an integer reduction that could overflow
        ``out_width``, a config whose buffers cannot hold one tile, a program longer than
        ``program_depth`` or an image past ``dram_bytes``.
    """
    return _compile(config, (values, indices, b), pattern, dataflow, store_mode=store_mode,
                    shift=shift, base=base, generate=None, resident=resident)


def compile_generated_gemm(
    config: SatSystemConfig,
    w: torch.Tensor,
    b: torch.Tensor,
    pattern: NMPattern,
    dataflow: Dataflow,
    direction: BdwpPass,
    *,
    store_mode: StoreMode = StoreMode.RAW,
    shift: int = 0,
    base: int = 0,
    resident: bool = True,
) -> CompiledGemm:
    """Compile a GEMM whose A GENERATE builds from the dense weights W (see the module
    docstring).

    FF: ``Y = (W o Mf) B``, B ``K x cols``, Y ``C_out x cols``. BP: ``Y = (W o Mb)^T B``, B
    (dY) ``C_out x cols``, Y ``K x cols``. The program gives the Y of :func:`compile_gemm` with A
    pre-generated: FF ``nm_generate(W, pattern)``, BP ``nm_generate(W^T, pattern)``
    (:func:`sparsa.models.golden.sat.gemm_ff` and ``gemm_bp`` with the chunk
    :attr:`CompiledGemm.chunk`).

    Parameters
    ----------
    config : SatSystemConfig
        A system with a SORE.
    w : 2-D integer tensor
        The dense weights, ``C_out x K`` for both passes (row i is output channel i), in the
        array's format.
    b : 2-D integer tensor
        The other operand, as above.
    pattern : NMPattern
        One of the array's patterns, with M = ``config.sore_m``.
    dataflow : Dataflow
    direction : BdwpPass
        ``BdwpPass.FF`` or ``BdwpPass.BP`` (or their codes): the copy GENERATE builds.
    store_mode, shift, base, resident
        As for :func:`compile_gemm` (A, generated per tile, is never resident).

    Raises
    ------
    ValueError
        As :func:`compile_gemm`, and for a system without a SORE, a pattern of another M (or
        dense), another ``direction``, a W that is no matrix or whose groups (FF: its K columns,
        BP: its C_out rows) are not whole groups of M, and an FF tile whose GENERATEs write past
        its half of the weight buffer.
    """
    dense = generated_operand(config, w, pattern, direction)
    values, indices = nm_generate(dense, pattern, config.array.dtype)
    return _compile(config, (values, indices, b), pattern, dataflow, store_mode=store_mode,
                    shift=shift, base=base, generate=(BdwpPass(direction), dense),
                    resident=resident)


def generated_operand(config: SatSystemConfig, w: torch.Tensor, pattern: NMPattern,
                      direction: BdwpPass) -> torch.Tensor:
    """The dense A whose ``direction`` copy GENERATE builds from the weights ``w`` (``C_out x
    K``): FF, W; BP, W transposed (:func:`compile_generated_gemm`).

    Raises
    ------
    ValueError
        As :func:`compile_generated_gemm`, for the system, the pattern, the direction and W.
    """
    _check_generate(config, pattern, direction)
    direction = BdwpPass(direction)
    w = check_operands(w, config.array.dtype, "W")
    if w.dim() != 2:
        raise ValueError(f"W must be a matrix (C_out x K), got shape {tuple(w.shape)}")
    dense = w if direction is BdwpPass.FF else w.T.contiguous()
    if dense.shape[1] % pattern.m:
        what = "K columns" if direction is BdwpPass.FF else "C_out rows"
        raise ValueError(f"W's {dense.shape[1]} {what} are not whole groups of M = "
                         f"{pattern.m} for the {direction.name} copy")
    return dense


def _check_generate(config: SatSystemConfig, pattern: NMPattern | None,
                    direction: object) -> None:
    """Check that ``config`` can GENERATE A's ``direction`` copy at ``pattern``."""
    if config.sore is None:
        raise ValueError("the system has no SORE (sore_lanes = 0) to GENERATE from dense tiles")
    if not isinstance(pattern, NMPattern) or pattern.m != config.sore_m:
        raise ValueError(f"GENERATE needs a pattern with M = sore_m = {config.sore_m}, not "
                         f"{pattern}")
    if direction not in (BdwpPass.FF, BdwpPass.BP) or isinstance(direction, bool):
        raise ValueError(f"direction must be BdwpPass.FF or BdwpPass.BP, not {direction!r}")


def _compile(
    config: SatSystemConfig,
    operands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    pattern: NMPattern | None,
    dataflow: Dataflow,
    *,
    store_mode: StoreMode,
    shift: int,
    base: int,
    generate: tuple[BdwpPass, torch.Tensor] | None,
    resident: bool,
) -> CompiledGemm:
    """:func:`compile_gemm` of the ``operands`` (values, indices, B), A brought by LOAD
    (``generate`` None) or built by GENERATE from the dense A of ``generate`` for its copy."""
    check_base(config, base)
    check_store_mode(config, store_mode, shift)
    layer = plan_layer(config, operands, pattern, dataflow, generate=generate,
                       resident=resident)
    image = ProgramImage(config, base, layer.instructions + 1)
    program, blocks = emit_layer(layer, image, store=StoreRule(StoreMode(store_mode), shift))
    program.append(encode(Opcode.END))
    return CompiledGemm(
        config=config, base=base, image=image.finish(program), program_addr=base,
        program=tuple(program), tiles=layer.tiles, blocks=tuple(blocks), shape=layer.shape,
        store_mode=StoreMode(store_mode), shift=shift, chunk=layer.chunk,
        generated=None if generate is None else generate[0],
    )


def check_base(config: SatSystemConfig, base: object) -> None:
    """Check that ``base`` is a word-aligned address.

    Raises
    ------
    ValueError
        If it is not.
    """
    wb = config.axi.word_bytes
    if not isinstance(base, int) or base < 0 or base % wb:
        raise ValueError(f"base must be a word-aligned ({wb}-byte) address, not {base!r}")


@dataclass(frozen=True)
class StoreRule:
    """How a layer's STOREs write its output blocks: ``mode``, ``shift``, ``relu`` and ``group``
    (0: rows; g > 0: activation beats for a next layer whose pattern has M = g)."""

    mode: StoreMode
    shift: int = 0
    relu: bool = False
    group: int = 0


@dataclass(frozen=True)
class PlannedLayer:
    """One GEMM planned into tiles and loads, before any address is known (:func:`plan_layer`).

    Attributes
    ----------
    config : SatSystemConfig
    dataflow : Dataflow
    tiles : tuple of Tile
        In program order (each output block's tiles together).
    beats : tuple of tuple of int
        Each tile's weight, activation and output rows (:func:`sparsa.models.golden.sat.
        tile_beats`).
    steps : tuple of list of _Step
        Each tile's loads (LOAD and GENERATE), their tokens not yet set.
    a_rows, b_rows : tuple of int
        The weight and activation buffer row each tile's GEMM reads from.
    pops, pushes : tuple of bool
        Whether each tile's first load waits for a GEMM's token (its half was read) and
        whether each tile's GEMM gives one (to the load two groups on).
    shape : tuple of int
        Y's rows and columns.
    chunk : int
        Reduction entries per tile (:attr:`CompiledGemm.chunk`).
    """

    config: SatSystemConfig
    dataflow: Dataflow
    tiles: tuple[Tile, ...]
    beats: tuple[tuple[int, int, int], ...]
    steps: tuple[list[_Step], ...]
    a_rows: tuple[int, ...]
    b_rows: tuple[int, ...]
    pops: tuple[bool, ...]
    pushes: tuple[bool, ...]
    shape: tuple[int, int]
    chunk: int

    @property
    def firsts(self) -> list[bool]:
        """Whether each tile is the first of its output block."""
        t = self.tiles
        return [i == 0 or (t[i].row0, t[i].col0) != (t[i - 1].row0, t[i - 1].col0)
                for i in range(len(t))]

    @property
    def blocks(self) -> tuple["OutputBlock", ...]:
        """The output blocks the layer stores, in order, at address -1 (:func:`emit_layer`
        places them; a chained LOAD names one by its number, :class:`Stored`)."""
        return tuple(OutputBlock(self.dataflow, t.row0, t.col0, t.out_rows, t.out_cols, -1,
                                 beats[2])
                     for t, first, beats in zip(self.tiles, self.firsts, self.beats, strict=True)
                     if first)

    @property
    def loads(self) -> tuple[int, int, int]:
        """Bytes its loads read into the A buffer (LOAD A or GENERATE) and into the B buffer,
        and how many of them write A (a chained LOAD of stored rows counts no bytes here)."""
        loaded, a_loads = [0, 0], 0
        for steps in self.steps:
            for opcode, fields, data in steps:
                buffer = 0 if opcode is Opcode.GENERATE else fields["buffer"]
                loaded[buffer] += 0 if isinstance(data, Stored) else len(data)
                a_loads += buffer == 0
        return loaded[0], loaded[1], a_loads

    @property
    def instructions(self) -> int:
        """Instructions of the layer: loads, GEMMs and a STORE per output block."""
        return sum(map(len, self.steps)) + len(self.tiles) + sum(self.firsts)


def plan_layer(
    config: SatSystemConfig,
    operands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    pattern: NMPattern | None,
    dataflow: Dataflow,
    *,
    generate: tuple[BdwpPass, torch.Tensor] | None,
    resident: bool,
    b_from: tuple["OutputBlock", ...] | None = None,
) -> PlannedLayer:
    """Plan the tiles and loads of ``Y = A B`` (see the module docstring).

    With ``b_from`` (the output blocks of the layer before, stored as activation beats with a
    group of this layer's M), B is not in the image: each tile's B rows are LOADs of the
    beats those STOREs wrote (``operands``' B gives only its shape).

    Raises
    ------
    ValueError
        As :func:`compile_gemm`.
    """
    values, indices, b = operands
    arr = config.array
    dataflow = as_dataflow(dataflow)
    values = check_operands(values, arr.dtype, "A")
    b = check_operands(b, arr.dtype, "B")
    _check_reduction(config, values.shape[1])
    planning = planning_array(config, pattern, dataflow)
    tiles = _blocks_together(plan_tiles(planning, values, indices, b, pattern, dataflow))
    beats = _tile_beats(config, tiles)
    half = config.a_rows // 2
    a_sides = []
    for i, tile in enumerate(tiles):
        a_row = i % 2 * half
        a_sides.append(_load_a(config, tile, a_row) if generate is None else _generates(
            config, tile, generate[1], pattern, generate[0], a_row))
    slots = 1 if pattern is None else pattern.m  # values per lane the tiles' beats use
    if b_from is None:  # compact rows: the slots past ``slots`` are not moved
        b_data = [pack_transfer(config, [_compact(config, a, slots) for a in t.acts],
                                config.compact_bits(slots)) for t in tiles]
        b_sides = [[_load(1, 0, len(t.acts), data, slots)]
                   for t, data in zip(tiles, b_data, strict=True)]
        b_keys: list[object] = list(b_data)
    else:
        b_sides = [_stored_loads(config, tile, tile.t0, pattern, b_from) for tile in tiles]
        b_keys = [tuple((s[2], s[1]["rows"]) for s in side) for side in b_sides]
    a_keys = [a_side[0][2] for a_side in a_sides] if generate is None else None
    return _arrange(config, dataflow, tiles, beats, (a_sides, b_sides),
                    (a_keys if resident else None, b_keys if resident else None),
                    shape=(values.shape[0], b.shape[1]),
                    chunk=tile_entries(planning, pattern, dataflow),
                    regroup_a=a_keys is not None)


def plan_shape(config: SatSystemConfig, shape: tuple[int, int, int],
               pattern: NMPattern | None, dataflow: Dataflow, *,
               generate: BdwpPass | None = None) -> PlannedLayer:
    """The plan :func:`plan_layer` makes for a GEMM of ``shape`` (A's rows, its compressed
    entries per row, B's columns) with resident operands, from the shape alone: the same tiles,
    loads, buffer rows and tokens, each load's data zero bytes of its length (an image laid out
    from it puts every chunk where the compiler would). Distinct tiles are told apart by
    position, as they are for random operands (the compiler tells them apart by their bytes:
    operands whose tiles repeat load fewer). A is pre-generated (LOAD), or, with ``generate``
    (the copy, FF or BP), built by GENERATEs as :func:`compile_generated_gemm` builds it.

    Raises
    ------
    ValueError
        As :func:`compile_gemm` (and :func:`compile_generated_gemm`, with ``generate``), for
        the shape.
    """
    dataflow = as_dataflow(dataflow)
    planning = planning_array(config, pattern, dataflow)
    tiles = _blocks_together(tile_grid(planning, shape, pattern, dataflow))
    _check_reduction(config, shape[1])
    beats = _tile_beats(config, tiles)
    half = config.a_rows // 2
    slots = 1 if pattern is None else pattern.m
    a_bits, b_bits = row_bits(config, "a"), config.compact_bits(slots)
    zeros: dict[tuple[int, int], bytes] = {}  # zero data of each length, made once

    def data(rows: int, bits: int) -> bytes:
        if (rows, bits) not in zeros:
            zeros[rows, bits] = bytes(transfer_bytes(config, rows, bits))
        return zeros[rows, bits]

    if generate is None:
        a_sides = [[_load(0, i % 2 * half, a, data(a, a_bits))]
                   for i, (a, _, _) in enumerate(beats)]
    else:
        _check_generate(config, pattern, generate)
        a_sides = [_generates(config, tile, None, pattern, BdwpPass(generate), i % 2 * half)
                   for i, tile in enumerate(tiles)]
    b_sides = [[_load(1, 0, b, data(b, b_bits), slots)] for _, b, _ in beats]
    # OS shares an A tile across a row of blocks and a B tile across a column; WS an A tile
    # across the column chunks of its rows and a B tile across the rows of its chunk
    a_keys = [(t.row0, t.t0) for t in tiles] if generate is None else None
    b_keys = [(t.col0, t.t0) for t in tiles]
    return _arrange(config, dataflow, tiles, beats, (a_sides, b_sides), (a_keys, b_keys),
                    shape=(shape[0], shape[2]), chunk=tile_entries(planning, pattern, dataflow),
                    regroup_a=a_keys is not None)


def _tile_beats(config: SatSystemConfig, tiles: list[Tile]) -> list[tuple[int, int, int]]:
    """Each tile's weight, activation and output rows, checked against half of each buffer."""
    halves = (config.a_rows // 2, config.b_rows // 2, config.out_rows // 2)
    known: dict[tuple, tuple[int, int, int]] = {}  # by command: a GEMM has few kinds of tile
    beats = []
    for tile in tiles:
        command = (tile.dataflow, tile.pattern, tile.length, tile.rows)
        if command not in known:
            counts = tile_beats(config.array, dataflow=tile.dataflow, pattern=tile.pattern,
                                length=tile.length, rows=tile.rows)
            if any(c > h for c, h in zip(counts, halves, strict=True)):
                raise ValueError(
                    f"a config whose buffers cannot hold one tile: a {tile.dataflow.name} tile "
                    f"needs {counts[0]} A, {counts[1]} B and {counts[2]} output rows, half of "
                    f"each buffer holds {halves[0]}, {halves[1]} and {halves[2]}"
                )
            known[command] = counts
        beats.append(known[command])
    return beats


def _load(buffer: int, row: int, rows: int, data: bytes | Stored, slots: int = 0) -> _Step:
    """A LOAD of ``rows`` rows into ``buffer`` (0 A, 1 B) from ``row`` (B: compact rows of
    ``slots`` values per lane, 0 for whole beats)."""
    return (Opcode.LOAD, {"buffer": buffer, "slots": slots, "row": row, "rows": rows}, data)


def _arrange(config: SatSystemConfig, dataflow: Dataflow, tiles: list[Tile],
             beats: list[tuple[int, int, int]], sides: tuple[list, list],
             keys: tuple[list | None, list | None], *, shape: tuple[int, int], chunk: int,
             regroup_a: bool) -> PlannedLayer:
    """The loads, buffer rows and tokens of ``tiles`` (each one's A and B ``sides``, the steps
    that bring its operands, and the ``keys`` that tell its distinct operand tiles apart, None
    for an operand that may not stay resident): residency and grouped loads as the module
    docstring says (``regroup_a``: whether A may be loaded per row group)."""
    # An operand whose distinct tiles all fit its buffer stays resident: each distinct tile
    # (by its key) is loaded once, into a region of its own, and reused by every tile that
    # has it; otherwise every tile loads it into half i % 2, unless the other operand is
    # resident and the tiles regroup (see _regroup).
    a_sides, b_sides = sides
    a_keys, b_keys = keys
    halves = (config.a_rows // 2, config.b_rows // 2)
    n = len(tiles)
    a_counts, b_counts = [x[0] for x in beats], [x[1] for x in beats]
    a_place = _resident(a_keys, a_counts, config.a_rows)
    b_place = _resident(b_keys, b_counts, config.b_rows)
    grouped, regroup = None, None
    if a_place is not None and b_place is None:  # B once per column block, A resident
        grouped, regroup = 1, _regroup(tiles, b_keys, b_counts, halves[1], lambda t: t.col0)
    elif b_place is not None and a_place is None and regroup_a:
        grouped, regroup = 0, _regroup(tiles, a_keys, a_counts, halves[0], lambda t: t.row0)
    group = list(range(n))  # each tile its own group (streamed), unless regrouped
    if regroup is not None:
        order, group, places = regroup
        tiles, beats = [tiles[i] for i in order], [beats[i] for i in order]
        a_sides, b_sides = [a_sides[i] for i in order], [b_sides[i] for i in order]
        a_keys = None if a_keys is None else [a_keys[i] for i in order]
        b_keys = None if b_keys is None else [b_keys[i] for i in order]
        a_counts, b_counts = [a_counts[i] for i in order], [b_counts[i] for i in order]
        if grouped == 1:
            a_place, b_place = _resident(a_keys, a_counts, config.a_rows), places
        else:
            a_place, b_place = places, _resident(b_keys, b_counts, config.b_rows)
    else:
        grouped = None
    a_rows = [i % 2 * halves[0] if a_place is None else a_place[i] for i in range(n)]
    b_rows = [i % 2 * halves[1] if b_place is None else b_place[i] for i in range(n)]
    streamed = a_place is None or b_place is None or grouped is not None
    firsts_of_group = [i == 0 or group[i] != group[i - 1] for i in range(n)]
    lasts_of_group = [*firsts_of_group[1:], True]
    ids = list(dict.fromkeys(group))
    rank = {g: k for k, g in enumerate(ids)}
    # A group's first load waits for the last GEMM of the group two before (the same half).
    pops = [streamed and firsts_of_group[i] and rank[group[i]] >= 2 for i in range(n)]
    pushes = [streamed and lasts_of_group[i] and rank[group[i]] + 2 < len(ids)
              for i in range(n)]

    loaded: set[tuple[int, object]] = set()  # (buffer, key) of the tiles loaded already
    steps: list[list[_Step]] = []
    for i, a_side in enumerate(a_sides):
        tile_steps = []
        if a_place is None:
            tile_steps += a_side
        else:
            a_key = (0, a_keys[i], group[i] if grouped == 0 else 0)
            if a_key not in loaded:  # the LOAD A already packed, into its region
                loaded.add(a_key)
                (opcode, fields, data), = a_side
                tile_steps.append((opcode, {**fields, "row": a_rows[i]}, data))
        b_key = None if b_keys is None else (1, b_keys[i], group[i] if grouped == 1 else 0)
        if b_place is None or b_key not in loaded:
            loaded.add(b_key)
            tile_steps += [(op, {**f, "row": b_rows[i] + f["row"]}, data)
                           for op, f, data in b_sides[i]]
        steps.append(tile_steps)
    return PlannedLayer(
        config=config, dataflow=dataflow, tiles=tuple(tiles), beats=tuple(beats),
        steps=tuple(steps), a_rows=tuple(a_rows), b_rows=tuple(b_rows), pops=tuple(pops),
        pushes=tuple(pushes), shape=shape, chunk=chunk,
    )


def _regroup(tiles: list[Tile], keys: list, counts: list[int], half: int,
             group_of: Callable[[Tile], int]) -> tuple[list[int], list[int], list[int]] | None:
    """A streamed operand loaded once per group of output blocks: the tiles reordered so that
    the blocks sharing ``group_of`` (a B tile is shared by the blocks of one column, an A tile
    by those of one row) run together, each group's distinct tiles (``keys``, ``counts`` rows
    each) in regions of half ``g % 2`` of the buffer. Returns the order, each tile's group and
    buffer row, or None when a group's tiles do not fit half the buffer."""
    order = sorted(range(len(tiles)), key=lambda i: (group_of(tiles[i]), tiles[i].row0,
                                                     tiles[i].col0, i))
    group = [group_of(tiles[i]) for i in order]
    rows, regions, end, rank = [], {}, 0, -1
    for k, i in enumerate(order):
        if k == 0 or group[k] != group[k - 1]:
            regions, end, rank = {}, 0, rank + 1
        if keys[i] not in regions:
            regions[keys[i]], end = end, end + counts[i]
            if end > half:
                return None
        rows.append(rank % 2 * half + regions[keys[i]])
    return order, group, rows


def _compact(config: SatSystemConfig, beat: list[list[int]], slots: int) -> int:
    """An ``acts`` beat's first ``slots`` values of each lane as a compact row (the rest of
    each lane, past the pattern's M, is what a LOAD with ``slots`` writes: zero)."""
    mask = (1 << config.array.dtype.width) - 1
    return pack_compact(config, [[v & mask for v in values] for values in beat], slots)


def _stored_loads(config: SatSystemConfig, tile: Tile, t0: int, pattern: NMPattern | None,
                  b_from: tuple["OutputBlock", ...]) -> list[_Step]:
    """The LOADs of an OS tile's activation beats (groups from ``t0`` / N) from the beats the
    layer before stored: one LOAD per block of its output, ``row`` relative to the tile's
    first B row."""
    arr = config.array
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    if tile.dataflow is not Dataflow.OS or any(blk.dataflow is not Dataflow.OS
                                               for blk in b_from):
        raise ValueError("a chained layer and the layer before it must be output-stationary "
                         "(its stored rows are rows of Y, the next layer's reduction)")
    if arr.rows % m:
        raise ValueError(f"a chained layer's groups of M = {m} must tile the layer before's "
                         f"output blocks of R = {arr.rows} rows (R a multiple of M)")
    where = {(blk.row0, blk.col0): k for k, blk in enumerate(b_from)}
    group, end = t0 // n, (t0 + len(tile.weights)) // n
    loads = []
    while group < end:
        k = where.get((group * m, tile.col0))
        if k is None:
            raise ValueError(
                f"a chained tile's reduction starts at position {group * m}, inside an output "
                f"block of the layer before (blocks of R = {arr.rows} rows); its tiles' "
                f"reductions must be whole blocks")
        take = min(end - group, -(-b_from[k].rows // m))
        loads.append(_load(1, group - t0 // n, take, Stored(k), m))
        group += take
    return loads


class ProgramImage:
    """The DRAM image of a program being laid out: the program's words from ``base``, then
    each placed chunk in order."""

    def __init__(self, config: SatSystemConfig, base: int, program_len: int) -> None:
        if program_len > config.program_depth:
            raise ValueError(f"the program needs {program_len} instructions, more than "
                             f"program_depth = {config.program_depth}")
        self.config, self.base = config, base
        self.cursor = base + transfer_bytes(config, program_len, INSTRUCTION_BITS)
        self.chunks: dict[int, bytes] = {}

    def place(self, data: bytes) -> int:
        """Put ``data`` at the next free address and return it."""
        addr, self.cursor = self.cursor, self.cursor + len(data)
        self.chunks[addr] = data
        return addr

    def finish(self, program: list[int]) -> bytes:
        """The image, with ``program`` at ``base``.

        Raises
        ------
        ValueError
            If it reaches past ``dram_bytes``.
        """
        if self.cursor > self.config.dram_bytes:
            raise ValueError(f"the image reaches byte {self.cursor}, past dram_bytes = "
                             f"{self.config.dram_bytes}")
        data = bytearray(self.cursor - self.base)
        chunks = {**self.chunks, self.base: pack_transfer(self.config, program,
                                                          INSTRUCTION_BITS)}
        for addr, chunk in chunks.items():
            data[addr - self.base : addr - self.base + len(chunk)] = chunk
        return bytes(data)


def emit_layer(layer: PlannedLayer, image: ProgramImage, *, store: StoreRule,
               after_sync: bool = False, before_sync: bool = False,
               b_from: tuple["OutputBlock", ...] = ()) -> tuple[list[int], list["OutputBlock"]]:
    """The instructions of ``layer`` (without END) and its output blocks, placing its data and
    output regions in ``image``. ``after_sync``: its first load pops the token of a SYNC
    before it; ``before_sync``: its last STORE pushes a token to a SYNC after it; ``b_from``:
    the blocks its :class:`Stored` loads read."""
    config, tiles = layer.config, layer.tiles
    firsts, shapes = layer.firsts, layer.blocks
    lasts = [*firsts[1:], True]
    n_blocks = len(shapes)
    out_half = config.out_rows // 2
    program: list[int] = []
    blocks: list[OutputBlock] = []
    k = -1
    for i, tile in enumerate(tiles):
        k += firsts[i]
        out_row = k % 2 * out_half
        tile_steps = layer.steps[i]
        for j, (opcode, fields, data) in enumerate(tile_steps):
            addr = b_from[data.block].addr if isinstance(data, Stored) else image.place(data)
            first_pop = after_sync and i == 0 and j == 0
            program.append(encode(opcode, **fields, addr=addr,
                                  pop_next=int((j == 0 and layer.pops[i]) or first_pop),
                                  push_next=int(j == len(tile_steps) - 1)))
        program.append(
            encode(Opcode.GEMM, dataflow=int(layer.dataflow), accumulate=int(not firsts[i]),
                   pattern=tile.pattern, length=tile.length, rows=tile.rows,
                   a_row=layer.a_rows[i], b_row=layer.b_rows[i], out_row=out_row,
                   pop_prev=int(bool(tile_steps)),
                   push_prev=int(layer.pushes[i]),
                   pop_next=int(firsts[i] and k >= 2), push_next=int(lasts[i])))
        if lasts[i]:
            n_out = layer.beats[i][2]
            store_count, store_bits = store_rows(config, store.mode, store.group, n_out)
            addr = image.place(bytes(transfer_bytes(config, store_count, store_bits)))
            blocks.append(dataclasses.replace(shapes[k], addr=addr))
            program.append(encode(
                Opcode.STORE, mode=int(store.mode), shift=store.shift, relu=int(store.relu),
                group=store.group, row=out_row, rows=n_out, addr=addr, pop_prev=1,
                push_prev=int(k + 2 < n_blocks or (before_sync and k == n_blocks - 1))))
    return program, blocks
