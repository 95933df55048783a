# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the whole top-k engine: golden results, cycles, errors, stalls.

The bulk of the checking runs on the generated Verilog in ``tests/rtl``; these fast runs catch
regressions without a Verilator build.
"""

import pytest

from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.hw.topk.topk import TopKEngine
from sparsa.models.golden.topk import topk
from sparsa.sim.blocks.topk import TopKCycleModel
from sparsa.sim.rtl.topk.check import Response, response_problems, run_check, run_requests
from sparsa.sim.rtl.topk.stimulus import make_plan

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


def test_check_counts_cases_and_records_a_wrong_answer():
    config, seed = CONFIGS["p4c8-middle"], 41
    check = run_check(config, requests=12, seed=seed)
    assert check.ok, "\n".join(check.failures)
    assert (check.cases, check.cycle_checks) == (24, 12), f"seed={seed}: {check}"
    assert check.counts["stalled"] == 12 and "rejected" in check.counts, f"seed={seed}: {check}"
    values = [3, 9, 1, 9]
    right = Response(indices=[1, 3], values=[9, 9], error=False, beats=1, cycles=0)
    assert response_problems(config, values, 2, right) == []
    wrong = Response(indices=[0, 1], values=[3, 9], error=False, beats=1, cycles=0)
    assert response_problems(config, values, 2, wrong)[0].startswith("top-k differs")
    assert response_problems(config, values, 5, right)[0].startswith("expected one empty error")


def test_check_rejects_a_bad_request_count():
    with pytest.raises(ValueError, match="requests must be a positive integer, not -1"):
        run_check(CONFIGS["p1c1-lfsr"], requests=-1, seed=1)


def test_engine_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be a TopKConfig, not dict"):
        TopKEngine({"lanes": 8})
