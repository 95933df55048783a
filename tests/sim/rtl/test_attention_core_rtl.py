"""A replay file of ``sparsa verify attention-core`` reruns the attention core's failing batch.

The Verilator runs of the core's configurations are in ``test_rtl_blocks.py``.
"""

from dataclasses import replace
from pathlib import Path

import pytest

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.sim.rtl.verify import load_replay, verify

SMALL = AttentionCoreConfig(  # few keys: a quick amaranth.sim run
    attention=AttentionConfig(dim=32, msb_bits=8, prob_bits=10, max_tokens=20),
    multipliers=64,
    comparators=2,
    heads=3,
)


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


def test_a_replay_file_reruns_the_failing_batch(tmp_path: Path) -> None:
    # A cycle model deliberately wrong at memory latency 2 makes that directed batch fail; the
    # replay file then holds it alone and runs it again (amaranth.sim, no Verilator needed).
    from sparsa.sim.rtl.attention_core import block as core_block

    right = core_block.pipeline_timing

    def wrong(config, commands, memory_latency):
        timings = right(config, commands, memory_latency)
        late = memory_latency == 2
        return [replace(t, out=t.out + late) for t in timings]

    config, seed = SMALL, 3
    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_block, "pipeline_timing", wrong)
        result = verify("attention-core", config, cases=1, seed=seed, backend="amaranth",
                        stalls=False, replay_out=replay)
        s = result.scoreboard
        assert not result.ok and s.cycle_mismatches > 0 and not s.mismatches, f"seed={seed}"
        assert result.replay == str(replay)
        block, replayed_config, replayed_seed, batches = load_replay(replay)
        assert (block.name, replayed_config, replayed_seed) == ("attention-core", config, seed)
        assert [(b.memory_latency, b.stalls.none) for b in batches] == [(2, True)]
        again = verify("attention-core", None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == s.cycle_mismatches, f"seed={seed}"
    fixed = verify("attention-core", None, cases=1, seed=0, backend="amaranth", replay=replay)
    _check(fixed)
