"""The SAT system's programs planned from a GEMM's shape, as the network simulator costs
them."""

import itertools

import pytest
import torch

from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.config.sat import Dataflow
from sparsa.dataflow.sat_program import compile_gemm
from sparsa.dataflow.sat_schedule import GemmOp
from sparsa.models.golden.sat import nm_generate
from sparsa.sim.network.sat_system_gemm import gemm_program
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
