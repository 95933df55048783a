"""A replay file of ``sparsa verify topk`` reruns the top-k engine's failing batches.

The Verilator runs of the engine's configurations are in ``test_rtl_blocks.py``.
"""

from pathlib import Path

import pytest

from sparsa.config.presets import TOPK_CONFIGS
from sparsa.sim.rtl.verify import load_replay, verify


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


def test_a_replay_file_reruns_the_failing_batch(tmp_path: Path) -> None:
    # A deliberately wrong cycle model makes every unstalled batch fail; the replay file then
    # holds those batches and runs them again (amaranth.sim, no Verilator needed).
    from sparsa.sim.rtl.topk import block as topk_block

    class Wrong(topk_block.TopKCycleModel):
        def request(self, values, k):
            cycles = super().request(values, k)
            return type(cycles)(**{**vars(cycles), "select": cycles.select + 1})

    config = TOPK_CONFIGS["p8w8u-c1-middle-n64"]
    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(topk_block, "TopKCycleModel", Wrong)
        result = verify("topk", config, cases=30, seed=3, backend="amaranth", replay_out=replay)
        assert not result.ok and result.scoreboard.cycle_mismatches > 0
        assert result.replay == str(replay)
        block, replayed_config, seed, batches = load_replay(replay)
        assert (block.name, replayed_config, seed) == ("topk", config, 3)
        assert batches and all(b.stalls.none for b in batches)
        again = verify("topk", None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == result.scoreboard.cycle_mismatches
    fixed = verify("topk", None, cases=1, seed=0, backend="amaranth", replay=replay)
    _check(fixed)
