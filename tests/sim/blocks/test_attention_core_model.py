"""Tests of :mod:`sparsa.sim.blocks.attention_core`: stage sums, the pipeline's overlap and
pacing, argument checks, the stateful top-k part.

The model's equality with the RTL's cycles is checked where the RTL runs: in amaranth.sim
(``tests/hw/attention/test_attention_core.py``) and on Verilator (``tests/sim/rtl``, over 600
commands).
"""

import random
from itertools import pairwise

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
    RELEASE_CYCLES,
    AttentionCoreCycleModel,
    Command,
    answer_beats,
    front_cycles,
    keys_cycles,
    normalize_cycles,
    pipeline_timing,
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


def _command(n: int, keep: int, requant: bool = False, topk: TopKCycles = TOPK) -> Command:
    return Command(n=n, v_keep=keep, requant=requant, topk=topk)


@pytest.mark.parametrize("requant", [False, True])
@pytest.mark.parametrize("keep", [0, 5, 37])
def test_a_lone_query_takes_the_sum_of_its_stages(requant, keep):
    n = 37
    (timing,) = pipeline_timing(CONFIG, [_command(n, keep, requant)])
    front = (LOAD_Q_CYCLES + keys_cycles(CONFIG, n) + sum_cycles(CONFIG, n) + DECIDE_CYCLES
             + (refetch_cycles(CONFIG, n) + sum_cycles(CONFIG, n) + DECIDE_CYCLES
                if requant else 0))
    assert front_cycles(CONFIG, n, requant) == front == timing.front
    # The hand-on enters the queue and is taken two edges after its load; the answer's beats
    # are taken from one edge after it is whole.
    assert timing.out == (front + 2 + normalize_cycles(CONFIG, n) + TOPK.select + TOPK.output
                          + 1 + answer_beats(CONFIG, keep) + values_cycles(keep) + OUTPUT_CYCLES)
    assert timing.accepted == 0
    assert timing.normalize == normalize_cycles(CONFIG, n) + RELEASE_CYCLES
    assert answer_beats(CONFIG, keep) == max(1, -(-keep // CONFIG.lanes))


def test_back_to_back_queries_overlap_up_to_the_front():
    """Identical queries: one every front_cycles + 1 edges, the other units hidden."""
    n = 100
    timings = pipeline_timing(CONFIG, [_command(n, 20)] * 6)
    step = front_cycles(CONFIG, n, False) + 1
    assert [t.accepted for t in timings] == [k * step for k in range(6)]
    assert {b.out - a.out for a, b in pairwise(timings)} == {step}
    alone = pipeline_timing(CONFIG, [_command(n, 20)])[0].out
    assert timings[0].out == alone and timings[-1].out < 6 * alone


def test_a_slow_topk_paces_the_queries_by_its_engines():
    """With one engine, a query's normalize pass waits for the previous answer's last beat."""
    slow = TopKCycles(load=3, select=900, output=6, rounds=9, elements=300)
    n, keep = 40, 17
    one = CONFIG.replace(topk_engines=1)
    timings = pipeline_timing(one, [_command(n, keep, topk=slow)] * 4)
    period = normalize_cycles(one, n) + slow.select + slow.output + answer_beats(one, keep) + 2
    assert {b.out - a.out for a, b in pairwise(timings)} == {period}
    # Two engines take every other query: two queries per period.
    two = pipeline_timing(CONFIG, [_command(n, keep, topk=slow)] * 5)
    assert two[4].out - two[2].out == period


def test_a_rejected_command_passes_the_three_queues():
    (timing,) = pipeline_timing(CONFIG, [Command()])
    assert timing.out == 4 + REJECT_CYCLES
    timings = pipeline_timing(CONFIG, [Command()] * 3)
    assert [t.accepted for t in timings] == [0, 1, 2]
    assert [t.out for t in timings] == [6, 9, 12]  # one answer every REJECT_CYCLES + 1


def test_model_feeds_the_engines_in_turn():
    """The core model gives the good commands to its engines in turn, each engine's model fed
    its own requests in order (its pivot LFSR carries over); a rejected command changes none."""
    config = CONFIG.replace(pivot=PivotMode.LFSR, seed=0x1234, topk_engines=3)
    rng = random.Random(5)
    core = AttentionCoreCycleModel(config)
    engines = [TopKCycleModel(config.topk) for _ in range(3)]
    for case in range(30):
        n = rng.randint(1, config.max_tokens)
        probs = [rng.randint(0, 1 << config.attention.prob_bits) for _ in range(n)]
        keep, requant = rng.randint(0, n), rng.random() < 0.5
        command = core.command(probs, keep, requant)
        assert command == Command(n=n, v_keep=keep, requant=requant,
                                  topk=engines[case % 3].request(probs, keep)), f"seed=5 {case}"
        assert core.reject() == Command() and not Command().good


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
        pipeline_timing(CONFIG, [], memory_latency=MAX_MEMORY_LATENCY + 1)
    with pytest.raises(ValueError, match="v_keep must be a non-negative integer, not -1"):
        values_cycles(-1)
    model = AttentionCoreCycleModel(CONFIG)
    with pytest.raises(ValueError, match="v_keep must be an integer from 0 to n = 4, not 5"):
        model.command([1, 2, 3, 4], 5, False)
    with pytest.raises(ValueError, match="requant must be True or False, not 1"):
        model.command([1, 2, 3, 4], 1, 1)
    with pytest.raises(ValueError, match="n must be an integer from 1 to 100, not 0"):
        model.command([], 0, False)
    with pytest.raises(TypeError, match="config must be an AttentionCoreConfig, not dict"):
        AttentionCoreCycleModel({})
