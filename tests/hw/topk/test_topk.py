# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the whole top-k engine: golden results, cycles, errors, stalls.

The bulk of the checking runs on the generated Verilog (``tests/sim/rtl``, ``sparsa verify``);
these fast runs catch regressions without a Verilator build.
"""

import dataclasses

import pytest

from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.hw.topk.topk import TopKEngine
from sparsa.sim.rtl.harness import run_amaranth
from sparsa.sim.rtl.topk.block import TopKBlock
from sparsa.sim.rtl.topk.codec import DoutBeat
from sparsa.sim.rtl.topk.scoreboard import check_response
from sparsa.sim.rtl.topk.stimulus import Request

CONFIGS = {
    "p4c8-middle": TopKConfig(
        lanes=4, comparators=8, capacity=37, width=5, signed=False, pivot=PivotMode.MIDDLE
    ),
    "p1c1-lfsr": TopKConfig(lanes=1, comparators=1, capacity=9, width=3, signed=True),
    "p8c2-lfsr": TopKConfig(lanes=8, comparators=2, capacity=50, width=8, signed=True, seed=7),
    "p2c16-cap1": TopKConfig(lanes=2, comparators=16, capacity=1, width=4, signed=False),
}
BLOCK = TopKBlock()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_engine_matches_golden_and_cycle_model(name):
    config = CONFIGS[name]
    seed = 1000 + list(CONFIGS).index(name)
    plan = BLOCK.plan(config, seed, 120, stalls=True)
    scoreboard = run_amaranth(BLOCK, config, plan, seed=seed)
    assert scoreboard.ok, f"seed={seed}\n" + "\n".join(scoreboard.failures)
    assert scoreboard.cases == sum(len(b.cases) for b in plan)
    assert scoreboard.cycle_checks > 0 and scoreboard.counts["stalled cases"] > 0
    assert scoreboard.counts["error requests"] > 0


def test_a_wrong_answer_is_a_mismatch():
    config = CONFIGS["p4c8-middle"]
    request = Request(n=4, k=2, values=(3, 9, 1, 9), pattern="replay", junk=())
    right = [DoutBeat(index=(1, 3, 0, 0), value=(9, 9, 0, 0), count=2, last=True, error=False,
                      edge=5)]
    assert check_response(config, request, right) == []
    wrong = [dataclasses.replace(right[0], index=(0, 1, 0, 0), value=(3, 9, 0, 0))]
    assert check_response(config, request, wrong)[0].startswith("kept pairs differ")
    bad = Request(n=4, k=5, values=(3, 9, 1, 9), pattern="replay", junk=())
    assert check_response(config, bad, right)[0].startswith("error request must get")


def test_engine_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be a TopKConfig, not dict"):
        TopKEngine({"lanes": 8})
