"""SpAtten studies (:mod:`sparsa.sim.studies.spatten_study`): the Fig. 20-style breakdown and the
top-k sweep."""

import math
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest

from sparsa.dataflow.spatten_workloads import SUMMARIZATION, public_traces
from sparsa.models.algorithms.spatten_trace import read_trace
from sparsa.sim.network.spatten import simulate
from sparsa.sim.network.target import load_target
from sparsa.sim.studies.spatten_study import (
    PAPER_FIG19A_GOPS,
    PAPER_FIG20_FACTORS,
    PAPER_FIG20_TOTAL,
    SWEEP_COMPARATORS,
    format_breakdown,
    format_sweep,
    speedup_breakdown,
    topk_sweep,
)

PRUNED, _ = public_traces("gpt2-small")  # the copy shipped as package data
ASIC = load_target("spatten-asic")


@pytest.fixture(scope="module")
def trace():
    return read_trace(PRUNED)


@pytest.fixture(scope="module")
def steps(trace):
    return speedup_breakdown(trace, ASIC, baseline=("software", 0.25))


def test_breakdown_factors_multiply_to_the_total(steps):
    assert steps[0].step == "software" and steps[0].dram_bytes is None
    assert len(steps) == 8
    product = math.prod(s.factor for s in steps)
    assert product == pytest.approx(steps[-1].cumulative, rel=1e-12)
    assert steps[-1].cumulative == pytest.approx(0.25 / steps[-1].seconds, rel=1e-12)


def test_breakdown_ends_at_the_trace_and_starts_at_dense_fp32(trace, steps):
    result = simulate(trace, ASIC)
    assert steps[-1].seconds == result.seconds
    assert steps[-1].dram_bytes == result.dram_bytes
    assert steps[1].dram_bytes == result.fp32_bytes  # the chain's dense FP32 stage
    # DRAM bytes never grow as techniques are added; only the serial top-k costs time.
    moved = [s.dram_bytes for s in steps[1:]]
    assert all(a >= b for a, b in pairwise(moved))
    serial, parallel = steps[4], steps[5]
    assert serial.dram_bytes == parallel.dram_bytes and serial.seconds > parallel.seconds


def test_static_quantization_needs_a_representable_width(trace):
    wide = replace(trace, key_bits=np.full(len(trace), 10))
    with pytest.raises(ValueError, match="10 \\+ 4 LSB bits = 14"):
        speedup_breakdown(wide, ASIC)
    with pytest.raises(ValueError, match="positive"):
        speedup_breakdown(trace, ASIC, baseline=("x", 0.0))


def test_topk_sweep_is_monotone_and_matches_the_default_engine(trace):
    points = topk_sweep(trace, ASIC)
    assert [p.comparators for p in points] == list(SWEEP_COMPARATORS)
    assert points[0].speedup == 1.0
    assert all(a.topk_cycles >= b.topk_cycles for a, b in pairwise(points))
    default = simulate(trace, ASIC)  # 16 comparators on spatten-asic
    assert next(p for p in points if p.comparators == 16).seconds == default.seconds
    table = format_sweep(points)
    assert table.count("\n") == len(points) + 2


def test_breakdown_table(steps):
    table = format_breakdown(steps)
    assert "| software |" in table and "+ progressive quantization" in table


def test_summarization_breakdown_has_no_progressive_step(trace):
    n = len(trace)  # the GPT-2 trace without refetch runs as summarization (all K and V fit)
    static = replace(trace, requant_threshold=np.full(n, -1.0), requant_bits=np.full(n, -1),
                     requant=np.zeros(n, dtype=bool))
    steps = speedup_breakdown(static, ASIC, mode=SUMMARIZATION)
    assert [s.step for s in steps][-2:] == ["+ parallel top-k", "+ static quantization"]
    assert steps[-1].seconds == simulate(static, ASIC, mode=SUMMARIZATION).seconds
    sweep = topk_sweep(static, ASIC, comparators=(16,), mode=SUMMARIZATION)
    assert sweep[0].seconds == steps[-1].seconds


def test_paper_figures_name_the_breakdown_steps_and_the_sweep(steps):
    names = {s.step for s in steps}
    assert set(PAPER_FIG20_FACTORS) <= names
    assert tuple(PAPER_FIG19A_GOPS) == SWEEP_COMPARATORS
    # 22.1x from the datapath, 209x with everything (the paper's Fig. 20, quoted)
    assert abs(PAPER_FIG20_TOTAL - 209 / 22.1) < 1e-12 and round(PAPER_FIG20_TOTAL, 2) == 9.46
