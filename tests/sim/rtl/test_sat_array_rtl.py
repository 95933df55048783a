"""A replay file of ``sparsa verify sat-array`` reruns the PE array's failing batches, and a
wrong answer is a mismatch (amaranth.sim).

The Verilator runs of the array's configurations are in ``test_rtl_blocks.py``.
"""

from pathlib import Path

import pytest

from sparsa.config.presets import SAT_ARRAY_CONFIGS
from sparsa.sim.rtl.verify import load_replay, verify


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


def test_a_replay_file_reruns_the_failing_batch(tmp_path: Path) -> None:
    # A deliberately wrong cycle model makes every unstalled batch fail; the replay file then
    # holds those batches and runs them again (amaranth.sim, no Verilator needed).
    from sparsa.sim.blocks.sat_array import TileTiming
    from sparsa.sim.rtl.sat_array import block as sat_block

    right = sat_block.sequence_timeline

    def wrong(config, tiles):
        return [TileTiming(t.cmd_edge, t.end_edge + 1) for t in right(config, tiles)]

    config = SAT_ARRAY_CONFIGS["r5c3-int8"]
    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sat_block, "sequence_timeline", wrong)
        result = verify("sat-array", config, cases=1, seed=3, backend="amaranth",
                        replay_out=replay)
        assert not result.ok and result.scoreboard.mismatches == 0
        assert result.scoreboard.cycle_mismatches == result.scoreboard.cases
        assert "answer ended at edge" in result.scoreboard.failures[0]
        assert result.replay == str(replay)
        block, replayed_config, seed, batches = load_replay(replay)
        assert (block.name, replayed_config, seed) == ("sat-array", config, 3)
        assert batches and all(b.stalls.none for b in batches)
        again = verify("sat-array", None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == result.scoreboard.cycle_mismatches
    fixed = verify("sat-array", None, cases=1, seed=0, backend="amaranth", replay=replay)
    _check(fixed)
    assert fixed.scoreboard.cases == result.scoreboard.cases


def test_a_wrong_answer_is_a_mismatch() -> None:
    # A per-tile golden model off by one: every tile's answer is a mismatch (the GEMM check
    # reassembles the RTL's own outputs against the GEMM-level golden, which still agrees).
    from sparsa.sim.rtl.harness import run_amaranth
    from sparsa.sim.rtl.sat_array import scoreboard
    from sparsa.sim.rtl.sat_array.block import SatArrayBlock

    right = scoreboard.compressed_matmul
    config, block = SAT_ARRAY_CONFIGS["r5c3-int8"], SatArrayBlock()
    batch = block.plan(config, 7, 1, stalls=False)[0]
    batch = type(batch)(cases=batch.cases[:12], stalls=batch.stalls, seed=batch.seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoreboard, "compressed_matmul", lambda *a: right(*a) + 1)
        result = run_amaranth(block, config, [batch], seed=7)
    tiles = result.counts["tiles"]
    assert tiles > 0 and result.mismatches == tiles and result.cycle_mismatches == 0
    assert "values differ" in result.failures[0]
