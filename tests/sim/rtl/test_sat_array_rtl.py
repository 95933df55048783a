"""SAT's PE array's generated Verilog against the golden GEMMs and the cycle model.

One test per configuration of :data:`sparsa.config.presets.SAT_ARRAY_CONFIGS` (two with
interleave mapping, one without): the harness builds (or reuses) the Verilator simulator and
runs :data:`CASES` seeded commands through the same code as ``sparsa verify sat-array``: FF, BP
and WU GEMMs on every pattern and dense, both dataflows, back to back in mixed order, edge
tiles, the accumulators' extremes and all-zero groups, junk activation lanes, every kind of
rejected command, stalls and back-pressure (:mod:`sparsa.sim.rtl.sat_array.stimulus`); in the
batches without stalls every command's edges are checked against the cycle model's timeline
(:mod:`sparsa.sim.rtl.sat_array.block`). Override with ``SPARSA_RTL_CASES`` and
``SPARSA_RTL_SEED``; a failure leaves its replay file in ``build/verify/`` (``sparsa verify
sat-array --replay FILE`` reruns it).
"""

import os
from pathlib import Path

import pytest

from sparsa.config.presets import SAT_ARRAY_CONFIGS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.sat_array.gemms import pattern_names
from sparsa.sim.rtl.sat_array.stimulus import rejects
from sparsa.sim.rtl.verify import load_replay, verify

CASES = 450  # commands: at least 400 GEMM tiles and their rejects
MIN_TILES = 400
MIN_CYCLE_CHECKS = 100  # per configuration


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_sat_array_rtl(name: str) -> None:
    config = SAT_ARRAY_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    cases = int(os.environ.get("SPARSA_RTL_CASES", CASES))
    result = verify("sat-array", config, cases=cases, seed=seed, backend="verilator",
                    replay_out=Path("build/verify") / f"sat-array-{name}-replay.json")
    print(result.line())
    _check(result)
    counts = result.scoreboard.counts
    assert result.scoreboard.cases >= cases
    assert counts["tiles"] >= min(MIN_TILES, cases * 8 // 10) and counts["stalled cases"] > 0
    assert result.scoreboard.cycle_checks >= min(MIN_CYCLE_CHECKS, cases // 4)
    assert {f"reject: {r.reason}" for r in rejects(config)} <= set(counts)
    combos = [k for k in counts if k.startswith("gemm ")]
    assert len(combos) == 2 * (2 * len(pattern_names(config)) + 1)  # FF, BP: all; WU: dense
    assert (counts.get("overlapped commands", 0) > 0) == config.interleave


@pytest.mark.rtl
def test_both_backends_take_the_same_cycles() -> None:
    # One plan, stalls included, on amaranth.sim and on Verilator: the same beats at the
    # same cycles (the digest covers every output beat's payload and cycle).
    config, seed = SAT_ARRAY_CONFIGS["r5c3-int8"], 5
    runs = [verify("sat-array", config, cases=170, seed=seed, backend=b)
            for b in ("amaranth", "verilator")]
    for result in runs:
        _check(result)
    amaranth, verilator = (r.scoreboard for r in runs)
    assert amaranth.counts["stalled cases"] > 0
    assert (amaranth.cases, amaranth.cycles, amaranth.digest) == (
        verilator.cases, verilator.cycles, verilator.digest)


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
