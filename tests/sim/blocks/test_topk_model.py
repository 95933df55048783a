"""The top-k cycle model, the LFSR it replays, and the parallelism sweep."""

import math

import pytest

from sparsa.config.lfsr import LFSR_WIDTH, lfsr_next, lfsr_pick
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.models.golden.topk import quickselect
from sparsa.sim.blocks.topk import ROUND_OVERHEAD, TopKCycleModel
from sparsa.sim.studies.topk_bench import format_table, sweep


def test_lfsr_is_maximal_length():
    state, seen = 1, set()
    for _ in range((1 << LFSR_WIDTH) - 1):
        seen.add(state)
        state = lfsr_next(state)
    assert state == 1
    assert len(seen) == (1 << LFSR_WIDTH) - 1


def test_lfsr_rejects_lockup_state_and_picks_in_range():
    with pytest.raises(ValueError, match=r"LFSR state must be in 1..65535, not 0"):
        lfsr_next(0)
    assert all(0 <= lfsr_pick(s, 37) < 37 for s in range(1, 1 << LFSR_WIDTH, 97))


def test_error_and_empty_requests_cost_load_plus_response():
    cfg = TopKConfig(lanes=8, comparators=4, capacity=64, width=8, signed=False)
    model = TopKCycleModel(cfg)
    assert model.request([], 0).total == 2
    assert model.request([1] * 65, 3).total == math.ceil(65 / 8) + 2  # n > capacity
    assert model.request([1, 2, 3], 4).total == 1 + 2  # k > n
    assert model.request([5] * 20, 0).total == 3 + 2
    assert model.lfsr_state == cfg.seed  # no quick-select round ran


def test_rounds_follow_quickselect_and_step_the_lfsr():
    cfg = TopKConfig(lanes=4, comparators=4, capacity=64, width=8, signed=True)
    values = [(-1) ** i * (i * 37 % 101) for i in range(64)]
    model = TopKCycleModel(cfg)
    cycles = model.request(values, 20)
    state, sizes = cfg.seed, []

    def pick(m):
        nonlocal state
        pos = lfsr_pick(state, m)
        state = lfsr_next(state)
        return pos

    sizes = quickselect(values, 20, pick).round_sizes
    assert cycles.rounds == len(sizes)
    assert cycles.select == sum(math.ceil(m / 4) + ROUND_OVERHEAD for m in sizes)
    assert cycles.load == 16
    assert model.lfsr_state == state


def test_middle_pivot_on_sorted_input_takes_logarithmic_rounds():
    cfg = TopKConfig(lanes=8, comparators=8, capacity=1024, pivot=PivotMode.MIDDLE)
    cycles = TopKCycleModel(cfg).request(list(range(1024)), 1)
    # The candidates halve every round: 1024, 511, 255, ..., 3, 1.
    assert cycles.rounds == 10
    assert cycles.elements == 1024 + sum((1 << j) - 1 for j in range(1, 10))
    assert cycles.output == 1023 // 8 + 4  # the only kept element is in the last beat


def test_sweep_scales_with_comparators_and_validates():
    points = sweep(trials=4, seed=3, sizes=(256,), k_fractions=(0.5,), comparators=(1, 4, 16))
    selects = [p.select_mean for p in points]
    assert selects[0] > selects[1] > selects[2]
    assert [p.rounds_mean for p in points] == [points[0].rounds_mean] * 3  # same pivots
    assert "| 256 | 128 | 16 |" in format_table(points)
    with pytest.raises(ValueError, match=r"trials must be an integer >= 2, not 1"):
        sweep(trials=1, seed=0)
    with pytest.raises(ValueError, match=r"k fractions must lie in \(0, 1\], not 0"):
        sweep(trials=2, seed=0, k_fractions=(0,))
