"""Compile one GEMM into a program of the SAT accelerator system and its DRAM image.

:func:`compile_gemm` cuts ``Y = A B`` into array tiles
(:func:`sparsa.dataflow.sat_tiles.plan_tiles`, the tiles of one output block kept together),
lays out in DRAM, from a word-aligned ``base``,
the program, each tile's weights and activation rows and one output region per output block, and
emits per tile

* LOAD A: its ``weights`` beats into half i % 2 of the weight buffer;
* LOAD B: its ``acts`` beats into half i % 2 of the activation buffer;
* GEMM: from those halves into half k % 2 of the output buffer for output block k, writing for
  the block's first tile and adding for the others;

after the last tile of a block a STORE of its rows to the block's region, and END last.

Tokens (:mod:`sparsa.config.sat_system`) let loads, GEMMs and stores overlap over the halves:
LOAD B of tile i pushes to GEMM i, which pops it; GEMM i pushes to LOAD when tile i + 2 exists,
and LOAD A of tile i + 2 pops it before it overwrites the half; the last GEMM of block k pushes
to STORE k, which pops it and, when block k + 2 exists, pushes back to the first GEMM of block
k + 2, which pops it before it overwrites the output half. Every token pushed is popped, and
each pop's push comes earlier in the program
(:func:`sparsa.models.golden.sat_system.token_problems`).

Tiles are at most half a buffer: the compiler plans them with the array's ``max_reduction``
lowered, if need be, so that an OS tile's entries and groups and a WS tile's columns fit a half
(:attr:`CompiledGemm.chunk` is then the reduction chunk of the floating-point partial sums).
"""

from dataclasses import dataclass

import torch

from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig, as_dataflow
from sparsa.config.sat_system import (
    INSTRUCTION_BITS,
    Opcode,
    SatSystemConfig,
    StoreMode,
    encode,
)
from sparsa.dataflow.sat_tiles import Tile, plan_tiles, tile_entries
from sparsa.hw.common.stream_codec import packer
from sparsa.hw.sat.sat_array import acts_layout, weights_layout
from sparsa.models.golden.sat import check_operands, tile_beats
from sparsa.models.golden.sat_system import (
    check_store_mode,
    pack_transfer,
    row_bits,
    transfer_bytes,
    unpack_transfer,
)

__all__ = ["CompiledGemm", "OutputBlock", "compile_gemm", "planning_array"]


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
class CompiledGemm:
    """A compiled GEMM: its DRAM image, program, tiles and output blocks.

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
    """

    config: SatSystemConfig
    base: int
    image: bytes
    program_addr: int
    program: tuple[int, ...]
    tiles: tuple[Tile, ...]
    blocks: tuple[OutputBlock, ...]
    shape: tuple[int, int]
    store_mode: StoreMode
    shift: int
    chunk: int

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

    def read_output(self, dram: bytes) -> torch.Tensor:
        """Y as the program's STOREs left it in ``dram``: int64 values (two's complement of the
        stored width) for an integer array, bit patterns (FP32 for RAW, FP16 or BF16) for a
        floating-point one."""
        cols, bits = self.config.array.cols, self.config.store_bits(self.store_mode)
        signed = not self.config.array.dtype.is_float
        y = torch.zeros(self.shape, dtype=torch.int64)
        for block in self.blocks:
            size = transfer_bytes(self.config, block.rows, cols * bits)
            rows = unpack_transfer(bytes(dram[block.addr : block.addr + size]), cols * bits,
                                   block.rows)
            values = [[row >> (c * bits) & ((1 << bits) - 1) for c in range(cols)]
                      for row in rows]
            beats = torch.tensor(values, dtype=torch.int64)
            if signed:
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


def _check_reduction(config: SatSystemConfig, entries: int) -> None:
    dtype = config.array.dtype
    if dtype.is_float:
        return
    low, _ = dtype.range
    bound = entries * low * low
    if bound >= 1 << (config.out_width - 1):
        raise ValueError(
            f"a reduction of {entries} {dtype.value} products may reach {bound}, which "
            f"overflows the {config.out_width}-bit output entries (at most "
            f"{(1 << (config.out_width - 1)) - 1})"
        )


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
) -> CompiledGemm:
    """Compile ``Y = A B`` (see the module docstring).

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

    Raises
    ------
    ValueError
        For a base that is not word-aligned, an operand outside the array's format, a store
        mode or shift the format cannot take, an integer reduction that could overflow
        ``out_width``, a config whose buffers cannot hold one tile, a program longer than
        ``program_depth`` or an image past ``dram_bytes``.
    """
    arr, wb = config.array, config.axi.word_bytes
    dataflow = as_dataflow(dataflow)
    if not isinstance(base, int) or base < 0 or base % wb:
        raise ValueError(f"base must be a word-aligned ({wb}-byte) address, not {base!r}")
    check_store_mode(config, store_mode, shift)
    store_mode = StoreMode(store_mode)
    values = check_operands(values, arr.dtype, "A")
    b = check_operands(b, arr.dtype, "B")
    _check_reduction(config, values.shape[1])
    planning = planning_array(config, pattern, dataflow)
    tiles = _blocks_together(plan_tiles(planning, values, indices, b, pattern, dataflow))
    halves = (config.a_rows // 2, config.b_rows // 2, config.out_rows // 2)
    beats = []
    for tile in tiles:
        counts = tile_beats(arr, dataflow=dataflow, pattern=tile.pattern, length=tile.length,
                            rows=tile.rows)
        if any(c > h for c, h in zip(counts, halves, strict=True)):
            raise ValueError(
                f"a config whose buffers cannot hold one tile: a {dataflow.name} tile needs "
                f"{counts[0]} A, {counts[1]} B and {counts[2]} output rows, half of each buffer "
                f"holds {halves[0]}, {halves[1]} and {halves[2]}"
            )
        beats.append(counts)

    firsts = [i == 0 or (t.row0, t.col0) != (tiles[i - 1].row0, tiles[i - 1].col0)
              for i, t in enumerate(tiles)]
    lasts = [*firsts[1:], True]
    n_blocks = sum(firsts)
    program_len = 3 * len(tiles) + n_blocks + 1
    if program_len > config.program_depth:
        raise ValueError(f"the program needs {program_len} instructions, more than "
                         f"program_depth = {config.program_depth}")

    a_bits, b_bits = row_bits(config, "a"), row_bits(config, "b")
    store_bits = row_bits(config, "store", store_mode)
    pack_w, pack_a = packer(weights_layout(arr)), packer(acts_layout(arr))
    image: dict[int, bytes] = {}
    cursor = base + transfer_bytes(config, program_len, INSTRUCTION_BITS)

    def place(data: bytes) -> int:
        nonlocal cursor
        addr, cursor = cursor, cursor + len(data)
        image[addr] = data
        return addr

    program: list[int] = []
    blocks: list[OutputBlock] = []
    k = -1
    for i, (tile, (_, _, n_out)) in enumerate(zip(tiles, beats, strict=True)):
        k += firsts[i]
        a_row, b_row = i % 2 * halves[0], i % 2 * halves[1]
        out_row = k % 2 * halves[2]
        w_addr = place(pack_transfer(config, [pack_w(w) for w in tile.weights], a_bits))
        a_addr = place(pack_transfer(config, [pack_a(a) for a in tile.acts], b_bits))
        program += [
            encode(Opcode.LOAD, buffer=0, row=a_row, rows=len(tile.weights), addr=w_addr,
                   pop_next=int(i >= 2)),
            encode(Opcode.LOAD, buffer=1, row=b_row, rows=len(tile.acts), addr=a_addr,
                   push_next=1),
            encode(Opcode.GEMM, dataflow=int(dataflow), accumulate=int(not firsts[i]),
                   pattern=tile.pattern, length=tile.length, rows=tile.rows, a_row=a_row,
                   b_row=b_row, out_row=out_row, pop_prev=1, push_prev=int(i + 2 < len(tiles)),
                   pop_next=int(firsts[i] and k >= 2), push_next=int(lasts[i])),
        ]
        if lasts[i]:
            addr = place(bytes(transfer_bytes(config, n_out, store_bits)))
            blocks.append(OutputBlock(dataflow, tile.row0, tile.col0, tile.out_rows,
                                      tile.out_cols, addr, n_out))
            program.append(encode(Opcode.STORE, mode=int(store_mode), shift=shift, row=out_row,
                                  rows=n_out, addr=addr, pop_prev=1,
                                  push_prev=int(k + 2 < n_blocks)))
    program.append(encode(Opcode.END))
    if cursor > config.dram_bytes:
        raise ValueError(f"the image reaches byte {cursor}, past dram_bytes = "
                         f"{config.dram_bytes}")
    image[base] = pack_transfer(config, program, INSTRUCTION_BITS)
    data = bytearray(cursor - base)
    for addr, chunk in image.items():
        data[addr - base : addr - base + len(chunk)] = chunk
    return CompiledGemm(
        config=config, base=base, image=bytes(data), program_addr=base,
        program=tuple(program), tiles=tuple(tiles), blocks=tuple(blocks),
        shape=(values.shape[0], b.shape[1]), store_mode=store_mode, shift=shift,
        chunk=tile_entries(planning, pattern, dataflow),
    )
