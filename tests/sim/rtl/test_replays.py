"""A replay file of ``sparsa verify BLOCK`` reruns the block's failing batches, for every block
with a cycle model the harness compares (amaranth.sim, no Verilator needed).

Each case breaks the block's cycle model by one cycle, so that every unstalled case fails; the
replay file then holds those batches and runs them again. The Verilator runs of the blocks'
configurations are in ``test_rtl_blocks.py``.
"""

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from sparsa.config.presets import (
    SAT_ARRAY_CONFIGS,
    SORE_CONFIGS,
    TOPK_CONFIGS,
    WEIGHT_UPDATE_CONFIGS,
)
from sparsa.sim.rtl.verify import load_replay, verify


def _late_topk(patch: pytest.MonkeyPatch) -> None:
    from sparsa.sim.rtl.topk import block

    class Late(block.TopKCycleModel):
        def request(self, values, k):
            cycles = super().request(values, k)
            return type(cycles)(**{**vars(cycles), "select": cycles.select + 1})

    patch.setattr(block, "TopKCycleModel", Late)


def _late_sore(patch: pytest.MonkeyPatch) -> None:
    from sparsa.sim.rtl.sore import block

    right = block.last_beat_cycles
    patch.setattr(block, "last_beat_cycles",
                  lambda config, commands: [c + 1 for c in right(config, commands)])


def _late_sat_array(patch: pytest.MonkeyPatch) -> None:
    from sparsa.sim.rtl.sat_array import block

    right = block.sequence_timeline
    patch.setattr(block, "sequence_timeline", lambda config, tiles: [
        dataclasses.replace(t, end_edge=t.end_edge + 1) for t in right(config, tiles)
    ])


def _late_weight_update(patch: pytest.MonkeyPatch) -> None:
    from sparsa.sim.rtl.weight_update import scoreboard

    right = scoreboard.step_cycles

    def late(config, *, count, skipped):
        edges = right(config, count=count, skipped=skipped)
        return dataclasses.replace(edges, status=edges.status + 1)

    patch.setattr(scoreboard, "step_cycles", late)


# Block name: (configuration, cases, how to break its cycle model, which count the cycle
# mismatches must equal: every cycle check, every case, or (None) just more than none).
CASES: dict[str, tuple[object, int, Callable[[pytest.MonkeyPatch], None], str | None]] = {
    "topk": (TOPK_CONFIGS["p8w8u-c1-middle-n64"], 30, _late_topk, None),
    "sore": (SORE_CONFIGS["l6m2-int8"], 60, _late_sore, "cycle_checks"),
    "sat-array": (SAT_ARRAY_CONFIGS["r5c3-int8"], 1, _late_sat_array, "cases"),
    "weight-update": (WEIGHT_UPDATE_CONFIGS["l3-bf16-m1a1-g2-s123-124-126"], 90,
                      _late_weight_update, "cycle_checks"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_replay_file_reruns_the_failing_batches(name: str, tmp_path: Path) -> None:
    config, cases, late, every = CASES[name]
    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        late(patch)
        result = verify(name, config, cases=cases, seed=3, backend="amaranth",
                        replay_out=replay)
        board = result.scoreboard
        assert not result.ok and board.mismatches == 0, board.failures[:2]
        assert board.cycle_mismatches > 0
        assert every is None or board.cycle_mismatches == getattr(board, every)
        assert result.replay == str(replay)
        block, replayed_config, seed, batches = load_replay(replay)
        assert (block.name, replayed_config, seed) == (name, config, 3)
        assert batches and all(b.stalls.none for b in batches)
        again = verify(name, None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == board.cycle_mismatches
    fixed = verify(name, None, cases=1, seed=0, backend="amaranth", replay=replay)
    assert fixed.ok, fixed.line() + "\n" + "\n".join(fixed.scoreboard.failures)
    assert fixed.scoreboard.cases == sum(len(b.cases) for b in batches)
