"""Tests of the weight-update engine's cycle model (:mod:`sparsa.sim.blocks.weight_update`);
``tests/hw/sat/test_weight_update.py`` checks it against the RTL."""

import pytest

from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.sat.weight_update import pipeline_latency
from sparsa.sim.blocks.weight_update import StepCycles, beats, step_cycles

CONFIG = WeightUpdateConfig(lanes=8)  # T = 2 * 3 + 4 * 3 + 1 = 19


def test_a_pass_takes_one_beat_per_lanes_elements() -> None:
    assert [beats(CONFIG, n) for n in (0, 1, 8, 9, 16, 17)] == [0, 1, 1, 2, 2, 3]


@pytest.mark.parametrize("count", [1, 8, 100, 4096])
def test_an_applied_step_reads_the_gradients_then_the_data(count: int) -> None:
    b = -(-count // 8)
    assert pipeline_latency(CONFIG) == 19
    assert step_cycles(CONFIG, count=count, skipped=False) == StepCycles(
        status=b + 2, last_output=2 * b + 20, period=2 * b + 21)


@pytest.mark.parametrize("count", [0, 1, 100])
def test_a_skipped_or_empty_step_ends_with_its_status(count: int) -> None:
    b = -(-count // 8)
    for skipped in (True, False) if count == 0 else (True,):
        assert step_cycles(CONFIG, count=count, skipped=skipped) == StepCycles(
            status=b + 2, last_output=None, period=b + 2)


def test_the_pipeline_depth_follows_the_unit_stages() -> None:
    fast = CONFIG.replace(multiplier_stages=1, adder_stages=1)
    assert pipeline_latency(fast) == 2 + 4 + 1
    assert step_cycles(fast, count=16, skipped=False).period == 2 * 2 + 7 + 2


def test_two_passes_cost_one_pass_of_beats_more_than_one() -> None:
    # The second read of the gradients: 2B + T + 2 against B + T + 1 for a single pass.
    b, t = 1000, pipeline_latency(CONFIG)
    assert step_cycles(CONFIG, count=8 * b, skipped=False).period - (b + t + 1) == b + 1


@pytest.mark.parametrize("count", [-1, CONFIG.max_count + 1, 2.0, True])
def test_counts_the_command_cannot_hold_are_errors(count: object) -> None:
    with pytest.raises(ValueError, match=f"count must be an integer from 0 to "
                                         f"{CONFIG.max_count}, not {count!r}"):
        step_cycles(CONFIG, count=count, skipped=False)
