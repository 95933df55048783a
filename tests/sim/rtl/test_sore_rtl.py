"""SAT's SORE's generated Verilog against the golden N:M generator and the cycle model.

One test per configuration of :data:`sparsa.config.presets.SORE_CONFIGS`: the harness builds
(or reuses) the Verilator simulator and runs :data:`COMMANDS` seeded commands (every N with
FF, BP and both copies, every tile style at the smallest and largest N, every kind of rejected
command, then random batches, every other one with idle sources and back-pressure) through
the same code as ``sparsa verify sore``. Override with ``SPARSA_RTL_COMMANDS`` and
``SPARSA_RTL_SEED``; a failure leaves its replay file in ``build/verify/`` (``sparsa verify
sore --replay FILE`` reruns it).
"""

import os
from pathlib import Path

import pytest

from sparsa.config.presets import SORE_CONFIGS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.verify import load_replay, verify

COMMANDS = 300
MIN_GROUPS = 500  # per configuration: over 2,000 in all


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(SORE_CONFIGS))
def test_sore_rtl(name: str) -> None:
    config = SORE_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    commands = int(os.environ.get("SPARSA_RTL_COMMANDS", COMMANDS))
    result = verify("sore", config, cases=commands, seed=seed, backend="verilator",
                    replay_out=Path("build/verify") / f"sore-{name}-replay.json")
    print(result.line())
    _check(result)
    scoreboard = result.scoreboard
    counts = scoreboard.counts
    assert scoreboard.cases >= commands and counts["rejected commands"] > 0
    assert counts["stalled cases"] > 0 and scoreboard.cycle_checks >= commands // 3
    assert {f"N={n}" for n in range(1, config.m)} <= set(counts)
    assert {"copies FF", "copies BP", "copies FF+BP"} <= set(counts)
    if commands >= COMMANDS:
        assert counts["groups checked"] >= MIN_GROUPS


@pytest.mark.rtl
def test_both_backends_take_the_same_cycles() -> None:
    # One plan, stalls included, on amaranth.sim and on Verilator: the same beats at the
    # same cycles (the digest covers every output beat's payload and cycle).
    config, seed = SORE_CONFIGS["l12m4-int16"], 5
    runs = [verify("sore", config, cases=150, seed=seed, backend=b)
            for b in ("amaranth", "verilator")]
    for result in runs:
        _check(result)
    amaranth, verilator = (r.scoreboard for r in runs)
    assert amaranth.counts["stalled cases"] > 0 and amaranth.counts["rejected commands"] > 0
    assert (amaranth.cases, amaranth.cycles, amaranth.digest) == (
        verilator.cases, verilator.cycles, verilator.digest)


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
