# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the whole top-k engine: golden results, cycles, errors, stalls.

The bulk of the checking runs on the generated Verilog in ``tests/rtl``; these fast runs catch
regressions without a Verilator build.
"""

import pytest
from rtl.stimulus import make_plan
from topk_pysim import run_requests

from hw.topk import TopKEngine
from hw.topk_config import PivotMode, TopKConfig
from models.topk import topk
from sim.topk import TopKCycleModel

CONFIGS = {
    "p4c8-middle": TopKConfig(
        lanes=4, comparators=8, capacity=37, width=5, signed=False, pivot=PivotMode.MIDDLE
    ),
    "p1c1-lfsr": TopKConfig(lanes=1, comparators=1, capacity=9, width=3, signed=True),
    "p8c2-lfsr": TopKConfig(lanes=8, comparators=2, capacity=50, width=8, signed=True, seed=7),
    "p2c16-cap1": TopKConfig(lanes=2, comparators=16, capacity=1, width=4, signed=False),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_engine_matches_golden_and_cycle_model(name):
    config = CONFIGS[name]
    seed = 1000 + list(CONFIGS).index(name)
    checked = 0
    for b, batch in enumerate(make_plan(config, seed, 60)):
        model = TopKCycleModel(config)  # each batch runs on a freshly reset engine
        requests = [(list(r.values), r.k) for r in batch.requests]
        stall_seed = None if batch.stalls.none else seed + b
        responses = run_requests(config, requests, stall_seed=stall_seed)
        for i, (req, resp) in enumerate(zip(batch.requests, responses, strict=True)):
            msg = f"seed={seed} batch={b} request={i} n={req.n} k={req.k} values={req.values}"
            predicted = model.request(list(req.values), req.k)
            if req.is_error(config):
                assert resp.error and resp.indices == [] and resp.beats == 1, msg
            else:
                idx, val = topk(list(req.values), req.k, width=config.width, signed=config.signed)
                assert not resp.error, msg
                assert resp.indices == idx.tolist(), msg
                assert resp.values == val.tolist(), msg
                assert resp.beats == max(1, -(-req.k // config.lanes)), msg
            if stall_seed is None:
                assert resp.cycles == predicted.total, f"{msg} predicted={predicted}"
                checked += 1
    assert checked > 0


def test_engine_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be a TopKConfig, not dict"):
        TopKEngine({"lanes": 8})
