"""The SAT system's programs planned from a GEMM's shape, as the network simulator costs
them, one program or (a GEMM too long for the instruction memory) the programs of its parts."""

import itertools

import pytest
import torch

from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern
from sparsa.dataflow.sat_parts import compile_gemm_parts, compile_generated_gemm_parts
from sparsa.dataflow.sat_program import compile_gemm
from sparsa.dataflow.sat_schedule import GemmOp
from sparsa.models.golden.sat import nm_generate
from sparsa.sim.blocks.sat_system import program_timing
from sparsa.sim.network.sat_system_gemm import gemm_program, system_gemm
from sparsa.sim.rtl.sat_array.gemms import random_operands


@pytest.mark.parametrize("name", ["r4c4-int8-w64", "r4c4-int8-w128", "r8c8-int8-w128-sore8"])
def test_a_program_planned_from_the_shape_is_the_compiled_one(name) -> None:
    """The program planned from the shape (plan_shape, emit_layer) is, word for word, the
    one compile_gemm gives random operands of the shape: tiles, residency, grouped loads,
    tokens and addresses."""
    config = SAT_SYSTEM_CONFIGS[name]
    gen = torch.Generator().manual_seed(11)
    shapes = ((16, 9, 64), (5, 5, 16), (32, 48, 20), (9, 24, 5), (24, 16, 40))
    compared = 0
    for (m, k, n), pattern, dataflow in itertools.product(
            shapes, [None, *config.array.patterns], Dataflow):
        if k % (1 if pattern is None else pattern.m) or (
                dataflow is Dataflow.WS and pattern is not None
                and config.array.rows < pattern.n):
            continue
        a = random_operands(gen, (m, k), config.array.dtype)
        b = random_operands(gen, (k, n), config.array.dtype)
        values, indices = (a, torch.zeros_like(a)) if pattern is None else nm_generate(
            a, pattern, config.array.dtype)
        try:
            compiled = compile_gemm(config, values, indices, b, pattern, dataflow)
        except ValueError as error:  # too long for the instruction memory: so is the plan
            assert "program_depth" in str(error), error
            continue
        op = GemmOp("x", "FF", m, k, n, pattern)
        program = gemm_program(config, op, dataflow, base=compiled.program_addr)
        assert program == list(compiled.program), (m, k, n, pattern, dataflow)
        compared += 1
    assert compared >= 12, compared


@pytest.mark.parametrize("name", ["r4c4-int8-w64", "r4c4-fp16-w64"])
def test_a_gemm_longer_than_the_instruction_memory_costs_its_parts_programs(name) -> None:
    """A GEMM too long for one program is costed as the programs compile_gemm_parts gives it:
    each part's program planned from its shape is the compiled one word for word, and the
    GEMM's cycles, bytes and array-busy cycles are the sum of the compiled parts' (each part's
    image on a 4 KiB boundary, so parts of one shape time alike), at both latencies."""
    config = SAT_SYSTEM_CONFIGS[name]
    gen = torch.Generator().manual_seed(12)
    cases = (((4, 2048, 4), None, Dataflow.OS), ((12, 768, 6), NMPattern(2, 4), Dataflow.WS),
             ((40, 64, 40), NMPattern(2, 8), Dataflow.OS), ((16, 256, 48), None, Dataflow.WS))
    for (m, k, n), pattern, dataflow in cases:
        a = random_operands(gen, (m, k), config.array.dtype)
        b = random_operands(gen, (k, n), config.array.dtype)
        values, indices = (a, torch.zeros_like(a)) if pattern is None else nm_generate(
            a, pattern, config.array.dtype)
        compiled = compile_gemm_parts(config, values, indices, b, pattern, dataflow)
        assert len(compiled.parts) > 1
        per_m = 1 if pattern is None else pattern.m // pattern.n
        for part, program in zip(compiled.parts, compiled.programs, strict=True):
            op = GemmOp("x", "FF", part.rows, part.entries * per_m, part.cols, pattern)
            assert gemm_program(config, op, dataflow, base=program.program_addr) == list(
                program.program), (m, k, n, part)
        for latency in (3, 40):
            runs = [program_timing(config, list(p.program), program_addr=p.program_addr,
                                   read_latency=latency) for p in compiled.programs]
            got = system_gemm(config, GemmOp("x", "FF", m, k, n, pattern), dataflow,
                              read_latency=latency)
            assert got.parts == len(compiled.parts)
            assert got.instructions == sum(p.program_len for p in compiled.programs)
            for field in ("cycles", "array_busy", "bytes_read", "bytes_written"):
                assert getattr(got.timing, field) == sum(getattr(r, field) for r in runs), (
                    m, k, n, latency, field)


@pytest.mark.parametrize("name", ["r4c4-int8-w64-sore4", "r8c8-int8-w128-sore8"])
def test_a_program_that_generates_its_weights_planned_from_the_shape_is_the_compiled_one(
        name) -> None:
    """With pre-generation off, the program planned from the shape GENERATEs A as
    compile_generated_gemm's does, word for word, FF and BP copies, both dataflows; a GEMM
    too long for the instruction memory is costed as compile_generated_gemm_parts' parts."""
    config = SAT_SYSTEM_CONFIGS[name]
    pattern = next(p for p in config.array.patterns if p.m == config.sore_m)
    gen = torch.Generator().manual_seed(13)
    compared = parted = 0
    for (c_out, k, n), direction, dataflow in itertools.product(
            ((16, 32, 9), (9, 16, 24), (12, 64, 40), (8, 512, 4)), BdwpPass, Dataflow):
        if dataflow is Dataflow.WS and config.array.rows < pattern.n:
            continue
        w = random_operands(gen, (c_out, k), config.array.dtype)
        rows, reduction = (c_out, k) if direction is BdwpPass.FF else (k, c_out)
        if reduction % pattern.m:
            continue
        b = random_operands(gen, (reduction, n), config.array.dtype)
        op = GemmOp("x", direction.name, rows, reduction, n, pattern)
        try:
            compiled = compile_generated_gemm_parts(config, w, b, pattern, dataflow, direction)
        except ValueError as error:  # GENERATEs past half the weight buffer: so is the plan
            assert "more than half the weight buffer" in str(error), error
            with pytest.raises(ValueError, match="more than half the weight buffer"):
                system_gemm(config, op, dataflow, read_latency=40, generate=direction)
            continue
        per_m = pattern.m // pattern.n
        for part, program in zip(compiled.parts, compiled.programs, strict=True):
            part_op = GemmOp("x", direction.name, part.rows, part.entries * per_m, part.cols,
                             pattern)
            assert gemm_program(config, part_op, dataflow, base=program.program_addr,
                                generate=direction) == list(program.program), (op, part)
        runs = [program_timing(config, list(p.program), program_addr=p.program_addr,
                               read_latency=40) for p in compiled.programs]
        got = system_gemm(config, op, dataflow, read_latency=40, generate=direction)
        assert got.parts == len(compiled.parts)
        for field in ("cycles", "array_busy", "sore_busy", "bytes_read", "bytes_written"):
            assert getattr(got.timing, field) == sum(getattr(r, field) for r in runs), (
                op, field)
        assert got.timing.sore_busy > 0
        compared += 1
        parted += len(compiled.parts) > 1
    assert compared >= 8 and (parted > 0 or config.program_depth > 256), (compared, parted)
