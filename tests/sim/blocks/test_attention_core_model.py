"""Tests of :mod:`sparsa.sim.blocks.attention_core`: stage sums, argument checks, the stateful
top-k part.

The model's equality with the RTL's cycles is checked where the RTL runs: in amaranth.sim
(``tests/hw/attention/test_attention_core.py``) and on Verilator (``tests/sim/rtl``, over 600
commands).
"""

import random

import pytest

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.topk import PivotMode
from sparsa.hw.attention.divider import divider_latency
from sparsa.hw.attention.dot_product import PV_LATENCY, QK_LATENCY
from sparsa.hw.attention.softmax import EXP_LATENCY
from sparsa.sim.blocks.attention_core import (
    DECIDE_CYCLES,
    LOAD_Q_CYCLES,
    MAX_MEMORY_LATENCY,
    OUTPUT_CYCLES,
    REJECT_CYCLES,
    AttentionCoreCycleModel,
    keys_cycles,
    normalize_cycles,
    query_cycles,
    refetch_cycles,
    sum_cycles,
    values_cycles,
)
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles

CONFIG = AttentionCoreConfig(
    attention=AttentionConfig(dim=32, msb_bits=8, max_tokens=100), multipliers=128, comparators=4
)
TOPK = TopKCycles(load=3, select=17, output=6, rounds=2, elements=12)


@pytest.mark.parametrize("n", [1, 4, 5, 99, 100])
def test_stages_grow_with_the_beats(n):
    beats = -(-n // CONFIG.lanes)
    assert keys_cycles(CONFIG, n) == beats + QK_LATENCY + 2
    assert sum_cycles(CONFIG, n) == beats + EXP_LATENCY + 2
    assert normalize_cycles(CONFIG, n) == beats + EXP_LATENCY + divider_latency(CONFIG) + 2
    for latency in range(1, MAX_MEMORY_LATENCY + 1):
        assert refetch_cycles(CONFIG, n, latency) == beats + latency + QK_LATENCY + 3


def test_values_stage():
    assert values_cycles(0) == 0
    assert values_cycles(7) == 1 + 1 + PV_LATENCY
    assert values_cycles(7, 2) == 1 + 2 + PV_LATENCY


@pytest.mark.parametrize("requant", [False, True])
def test_query_total_is_the_sum_of_its_stages(requant):
    n, keep = 37, 5
    cycles = query_cycles(CONFIG, n=n, v_keep=keep, requant=requant, topk=TOPK)
    stages = (
        LOAD_Q_CYCLES
        + keys_cycles(CONFIG, n)
        + sum_cycles(CONFIG, n)
        + DECIDE_CYCLES
        + normalize_cycles(CONFIG, n)
        + TOPK.select
        + TOPK.output
        + values_cycles(keep)
        + OUTPUT_CYCLES
    )
    extra = refetch_cycles(CONFIG, n) + sum_cycles(CONFIG, n) + DECIDE_CYCLES
    assert cycles.total == stages + (extra if requant else 0)
    assert (cycles.refetch > 0) == requant and (cycles.resum > 0) == requant


def test_model_feeds_the_topk_model_in_order():
    """The core model's top-k part is the engine model's, fed the same requests in order."""
    config = CONFIG.replace(pivot=PivotMode.LFSR, seed=0x1234)
    rng = random.Random(5)
    core, engine = AttentionCoreCycleModel(config), TopKCycleModel(config.topk)
    for case in range(30):
        n = rng.randint(1, config.max_tokens)
        probs = [rng.randint(0, 1 << config.attention.prob_bits) for _ in range(n)]
        keep, requant = rng.randint(0, n), rng.random() < 0.5
        predicted = core.query(probs, keep, requant)
        expected = engine.request(probs, keep)
        assert predicted.topk == expected, f"seed=5 case={case}"
        assert predicted == query_cycles(config, n=n, v_keep=keep, requant=requant, topk=expected)
    assert core.reject() == REJECT_CYCLES


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n must be an integer from 1 to 100, not 0"):
        keys_cycles(CONFIG, 0)
    with pytest.raises(ValueError, match="n must be an integer from 1 to 100, not 101"):
        sum_cycles(CONFIG, 101)
    with pytest.raises(
        ValueError, match=f"memory_latency must be an integer from 1 to {MAX_MEMORY_LATENCY}, not 0"
    ):
        refetch_cycles(CONFIG, 5, 0)
    with pytest.raises(ValueError, match="memory_latency must be an integer"):
        AttentionCoreCycleModel(CONFIG, memory_latency=MAX_MEMORY_LATENCY + 1)
    with pytest.raises(ValueError, match="v_keep must be a non-negative integer, not -1"):
        values_cycles(-1)
    with pytest.raises(ValueError, match="v_keep must be an integer from 0 to n = 4, not 5"):
        query_cycles(CONFIG, n=4, v_keep=5, requant=False, topk=TOPK)
    with pytest.raises(ValueError, match="requant must be True or False, not 1"):
        query_cycles(CONFIG, n=4, v_keep=1, requant=1, topk=TOPK)
    with pytest.raises(TypeError, match="config must be an AttentionCoreConfig, not dict"):
        AttentionCoreCycleModel({})
