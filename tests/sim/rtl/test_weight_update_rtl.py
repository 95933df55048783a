"""A replay file of ``sparsa verify weight-update`` reruns the engine's failing batches, and a
wrong golden answer is a mismatch (amaranth.sim).

The Verilator runs of the engine's configurations are in ``test_rtl_blocks.py``.
"""

import dataclasses
from pathlib import Path

import pytest

from sparsa.config.presets import WEIGHT_UPDATE_CONFIGS
from sparsa.sim.rtl.verify import load_replay, verify

CONFIG = WEIGHT_UPDATE_CONFIGS["l3-bf16-m1a1-g2-s123-124-126"]


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


def test_a_replay_file_reruns_the_failing_batch(tmp_path: Path) -> None:
    # A deliberately wrong cycle model makes every unstalled step fail; the replay file then
    # holds those batches and runs them again.
    from sparsa.sim.blocks.weight_update import step_cycles
    from sparsa.sim.rtl.weight_update import scoreboard

    def wrong(config, *, count, skipped):
        right = step_cycles(config, count=count, skipped=skipped)
        return dataclasses.replace(right, status=right.status + 1)

    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoreboard, "step_cycles", wrong, raising=True)
        result = verify("weight-update", CONFIG, cases=90, seed=3, backend="amaranth",
                        replay_out=replay)
        assert not result.ok and result.scoreboard.mismatches == 0
        assert result.scoreboard.cycle_mismatches == result.scoreboard.cycle_checks > 0
        assert result.replay == str(replay)
        block, replayed_config, seed, batches = load_replay(replay)
        assert (block.name, replayed_config, seed) == ("weight-update", CONFIG, 3)
        assert batches and all(b.stalls.none for b in batches)
        again = verify("weight-update", None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == result.scoreboard.cycle_mismatches
    fixed = verify("weight-update", None, cases=1, seed=0, backend="amaranth", replay=replay)
    _check(fixed)
    assert fixed.scoreboard.cases == sum(len(b.cases) for b in batches)


def test_a_wrong_answer_is_a_mismatch() -> None:
    # A golden model whose first updated weight is off by one bit: every applied step is
    # reported, and the run goes on to the end.
    from sparsa.sim.rtl.weight_update import block

    right = block.expected_step

    def wrong(config, state, step):
        answer = right(config, state, step)
        outputs = answer.outputs
        if outputs is not None:
            outputs = {**outputs, "weights": (outputs["weights"][0] ^ 1, *outputs["weights"][1:])}
        return dataclasses.replace(answer, outputs=outputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(block, "expected_step", wrong, raising=True)
        result = verify("weight-update", CONFIG, cases=40, seed=4, backend="amaranth")
    s = result.scoreboard
    assert s.cases >= 40 and s.cycle_mismatches == 0
    assert s.mismatches == s.counts["applied steps"] > 0
    assert s.failures[0].startswith("weight-update step #0 ")
    assert "weights: 1 elements differ: [0]" in s.failures[0]
