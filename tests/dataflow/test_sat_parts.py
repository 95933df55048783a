"""GEMMs run as several programs (:mod:`sparsa.dataflow.sat_parts`): the parts cover the GEMM
once on the tiling's boundaries, each part's program fits the instruction memory, and the parts'
programs, run by the system's golden model and assembled by the host, give the golden GEMM."""

import itertools

import numpy as np
import pytest
import torch

from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.config.sat import Dataflow, NMPattern
from sparsa.config.sat_system import Fault, StoreMode
from sparsa.dataflow.sat_parts import compile_gemm_parts, gemm_parts, part_units
from sparsa.dataflow.sat_program import plan_shape, reduction_limit
from sparsa.models.golden.floats import fp32_add
from sparsa.models.golden.sat import compressed_matmul, nm_generate
from sparsa.models.golden.sat_system import run_program
from sparsa.sim.rtl.sat_array.gemms import random_operands

INT8 = SAT_SYSTEM_CONFIGS["r4c4-int8-w64"]  # 256 instructions
FP16 = SAT_SYSTEM_CONFIGS["r4c4-fp16-w64"]
SHAPES = ((4, 2048, 4), (12, 768, 6), (9, 64, 40), (40, 64, 40), (6, 40, 7))


def _covers(parts, shape) -> None:
    """Each (row, entry, column) of ``shape`` is in exactly one part."""
    seen = np.zeros(shape, dtype=np.int64)
    for p in parts:
        seen[p.row0 : p.row0 + p.rows, p.t0 : p.t0 + p.entries, p.col0 : p.col0 + p.cols] += 1
    assert (seen == 1).all()


@pytest.mark.parametrize(("shape", "pattern", "dataflow"), list(itertools.product(
    SHAPES, [None, NMPattern(2, 4), NMPattern(2, 8)], Dataflow)))
def test_parts_cover_the_gemm_on_tile_boundaries_and_fit(shape, pattern, dataflow) -> None:
    rows, k, cols = shape
    entries = k if pattern is None else k // pattern.m * pattern.n
    whole = (rows, entries, cols)
    parts = gemm_parts(INT8, whole, pattern, dataflow)
    _covers(parts, whole)
    units = part_units(INT8, pattern, dataflow)
    for p in parts:
        for start, size, unit, end in zip((p.row0, p.t0, p.col0), p.shape, units, whole,
                                          strict=True):
            assert start % unit == 0 and (size % unit == 0 or start + size == end)
        assert plan_shape(INT8, p.shape, pattern, dataflow).instructions + 1 <= 256
    fits = plan_shape(INT8, whole, pattern, dataflow).instructions + 1 <= 256
    assert (len(parts) == 1) == fits, (shape, pattern, dataflow, len(parts))
    # rows and columns cut first: the reduction only where one output block cannot hold it
    block = tuple(min(s, u) for s, u in zip(whole, units, strict=True))
    one_block = plan_shape(INT8, (block[0], entries, block[2]), pattern, dataflow)
    assert all(p.entries == entries for p in parts) == (one_block.instructions + 1 <= 256)


def test_the_reduction_is_cut_where_it_could_overflow_the_outputs() -> None:
    """A program that fits the instruction memory but whose INT8 reduction could overflow the
    32-bit outputs runs as parts of at most reduction_limit entries each."""
    config = INT8.replace(program_depth=0xFFFF)
    limit = reduction_limit(config)
    assert limit == (2**31 - 1) // 128**2
    shape = (4, limit + 17, 4)
    parts = gemm_parts(config, shape, None, Dataflow.OS)
    _covers(parts, shape)
    assert len(parts) == 2 and all(p.entries <= limit for p in parts)
    assert reduction_limit(FP16) is None


def _golden_parts(config, values, indices, b, pattern, compiled) -> torch.Tensor:
    """The host's sum of each part's golden GEMM, parts of one block added in order (FP32 from
    +0 for a floating-point array)."""
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    y = torch.zeros((values.shape[0], b.shape[1]), dtype=torch.int64)
    for p, program in zip(compiled.parts, compiled.programs, strict=True):
        rows, ents = slice(p.row0, p.row0 + p.rows), slice(p.t0, p.t0 + p.entries)
        part = compressed_matmul(values[rows, ents], indices[rows, ents],
                                 b[p.t0 // n * m : (p.t0 + p.entries) // n * m,
                                   p.col0 : p.col0 + p.cols],
                                 pattern, config.array, chunk=program.chunk)
        where = (rows, slice(p.col0, p.col0 + p.cols))
        if config.array.dtype.is_float:
            y[where] = torch.from_numpy(fp32_add(y[where].numpy(), part.numpy())
                                        .astype(np.int64))
        else:
            y[where] += part
    return y


@pytest.mark.parametrize(("config", "shape", "pattern", "dataflow"), [
    (INT8, (4, 2048, 4), None, Dataflow.OS),  # the reduction cut
    (INT8, (12, 768, 6), NMPattern(2, 4), Dataflow.WS),
    (INT8, (40, 64, 40), NMPattern(2, 8), Dataflow.OS),  # rows or columns cut
    (FP16, (4, 2048, 4), None, Dataflow.OS),
    (FP16, (9, 64, 40), NMPattern(2, 4), Dataflow.WS),
], ids=lambda x: getattr(x, "name", None) if isinstance(x, Dataflow) else None)
def test_compiled_parts_give_the_golden_gemm(config, shape, pattern, dataflow) -> None:
    rows, k, cols = shape
    gen = torch.Generator().manual_seed(rows * k * cols)
    a = random_operands(gen, (rows, k), config.array.dtype)
    b = random_operands(gen, (k, cols), config.array.dtype)
    values, indices = (a, torch.zeros_like(a)) if pattern is None else nm_generate(
        a, pattern, config.array.dtype)
    compiled = compile_gemm_parts(config, values, indices, b, pattern, dataflow, base=0x40)
    assert len(compiled.parts) > 1
    dram = compiled.dram()
    for program in compiled.programs:  # one after another, each on what the last left
        run = run_program(config, bytes(dram), program.program_addr, program.program_len)
        assert run.fault == Fault.NONE
        dram = bytearray(run.dram)
    got = compiled.read_output([dram] * len(compiled.parts))
    assert torch.equal(got, _golden_parts(config, values, indices, b, pattern, compiled))
    if not config.array.dtype.is_float:  # integer sums are exact whatever the cut
        assert torch.equal(got, compressed_matmul(values, indices, b, pattern, config.array))
    if all(p.entries == values.shape[1] for p in compiled.parts):  # no partial sums to add
        assert torch.equal(got, compressed_matmul(values, indices, b, pattern, config.array,
                                                  chunk=compiled.programs[0].chunk))


def test_parts_refuse_what_they_cannot_run() -> None:
    values = torch.zeros((4, 2048), dtype=torch.int64)
    b = torch.zeros((2048, 4), dtype=torch.int64)
    with pytest.raises(ValueError, match="its store mode must be RAW, not INT8"):
        compile_gemm_parts(INT8, values, values, b, None, Dataflow.OS,
                           store_mode=StoreMode.INT8, shift=7)
    tiny = INT8.replace(program_depth=2)
    with pytest.raises(ValueError, match="a single tile of this GEMM does not fit "
                                         "program_depth = 2"):
        gemm_parts(tiny, (4, 2048, 4), None, Dataflow.OS)
