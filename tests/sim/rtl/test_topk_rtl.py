"""The top-k engine's generated Verilog against the golden model and the cycle model.

One test per configuration of :data:`sparsa.config.presets.TOPK_CONFIGS`: the harness builds
(or reuses) the Verilator simulator and runs :data:`REQUESTS` seeded requests (directed corner
cases, then random batches, half of them stalled) through the same code as ``sparsa verify
topk``. Override with ``SPARSA_RTL_REQUESTS`` and ``SPARSA_RTL_SEED``; a failure leaves its
replay file in ``build/verify/`` (``sparsa verify topk --replay FILE`` reruns it).
"""

import os
from pathlib import Path

import pytest

from sparsa.config.presets import TOPK_CONFIGS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.verify import load_replay, verify

REQUESTS = 600


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(TOPK_CONFIGS))
def test_topk_engine_rtl(name: str) -> None:
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    requests = int(os.environ.get("SPARSA_RTL_REQUESTS", REQUESTS))
    result = verify("topk", TOPK_CONFIGS[name], cases=requests, seed=seed, backend="verilator",
                    replay_out=Path("build/verify") / f"topk-{name}-replay.json")
    print(result.line())
    _check(result)
    assert result.scoreboard.cases >= requests and result.scoreboard.cycle_checks > requests // 3
    assert result.scoreboard.counts["stalled cases"] > 0


@pytest.mark.rtl
def test_both_backends_take_the_same_cycles() -> None:
    # One plan, stalls included, on amaranth.sim and on Verilator: the same beats at the
    # same cycles (the digest covers every output beat's payload and cycle).
    config, seed = TOPK_CONFIGS["p8w8u-c1-middle-n64"], 5
    runs = [verify("topk", config, cases=150, seed=seed, backend=b) for b in ("amaranth",
                                                                             "verilator")]
    for result in runs:
        _check(result)
    amaranth, verilator = (r.scoreboard for r in runs)
    assert amaranth.counts["stalled cases"] > 0
    assert (amaranth.cases, amaranth.cycles, amaranth.digest) == (
        verilator.cases, verilator.cycles, verilator.digest)


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
