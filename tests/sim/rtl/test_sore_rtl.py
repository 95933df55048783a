"""A replay file of ``sparsa verify sore`` reruns the SORE's failing batches.

The Verilator runs of the SORE's configurations are in ``test_rtl_blocks.py``.
"""

from pathlib import Path

import pytest

from sparsa.config.presets import SORE_CONFIGS
from sparsa.sim.rtl.verify import load_replay, verify


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


def test_a_replay_file_reruns_the_failing_batch(tmp_path: Path) -> None:
    # A deliberately wrong cycle model makes every unstalled batch fail; the replay file then
    # holds those batches and runs them again (amaranth.sim, no Verilator needed).
    from sparsa.sim.blocks.sore import last_beat_cycles
    from sparsa.sim.rtl.sore import block as sore_block

    def wrong(config, commands):
        return [cycles + 1 for cycles in last_beat_cycles(config, commands)]

    config = SORE_CONFIGS["l6m2-int8"]
    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sore_block, "last_beat_cycles", wrong, raising=True)
        result = verify("sore", config, cases=60, seed=3, backend="amaranth", replay_out=replay)
        assert not result.ok and result.scoreboard.mismatches == 0
        assert result.scoreboard.cycle_mismatches == result.scoreboard.cycle_checks > 0
        assert result.replay == str(replay)
        block, replayed_config, seed, batches = load_replay(replay)
        assert (block.name, replayed_config, seed) == ("sore", config, 3)
        assert batches and all(b.stalls.none for b in batches)
        again = verify("sore", None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == result.scoreboard.cycle_mismatches
    fixed = verify("sore", None, cases=1, seed=0, backend="amaranth", replay=replay)
    _check(fixed)
    assert fixed.scoreboard.cases == sum(len(b.cases) for b in batches)
