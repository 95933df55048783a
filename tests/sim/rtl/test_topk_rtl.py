"""The top-k engine's generated Verilog against the golden model and the cycle model.

One test per configuration of :data:`configs.TOPK_CONFIGS`; each builds (or reuses) the
Verilator simulator and runs about :data:`REQUESTS` seeded requests in one launch. Override
with the environment variables ``SPARSA_RTL_REQUESTS`` and ``SPARSA_RTL_SEED`` (the seed is
printed, and on failure reported with every failing request).

Run: ``.venv/bin/python -m pytest tests/rtl -m rtl -s`` (``-s`` shows the per-configuration
summaries). Builds and logs go to ``build/rtl/<config>-<hash>/`` (``runs/<label>-<seed>/sim.log``
and ``summary.json`` for each launch). To replay chosen requests without stalls, e.g. a failing
one reported with its n, k and values::

    from sparsa.config.presets import TOPK_CONFIGS
    from sparsa.sim.rtl.runner import build, run
    from sparsa.sim.rtl.topk.stimulus import Request, replay_to_json
    from sparsa.sim.rtl.targets import TOPK

    request = Request(n=5, k=2, values=(3, -1, 3, 7, 0), pattern="replay", junk=())
    rtl = build(TOPK, TOPK_CONFIGS["p8w16s-c8-lfsr-n100"])
    run(rtl, label="replay", seed=0, count=0, replay=replay_to_json([request]))
"""

import os
import time

import pytest

from sparsa.config.presets import TOPK_CONFIGS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.runner import build, run
from sparsa.sim.rtl.targets import TOPK

REQUESTS = 600


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(TOPK_CONFIGS))
def test_topk_engine_rtl(name: str) -> None:
    config = TOPK_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    requests = int(os.environ.get("SPARSA_RTL_REQUESTS", REQUESTS))
    print(f"{name}: {config}, seed={seed}, requests={requests}")
    started = time.perf_counter()
    rtl = build(TOPK, config)
    built = time.perf_counter()
    summary = run(rtl, label=name, seed=seed, count=requests)
    done = time.perf_counter()
    print(f"{summary['line']}; build {built - started:.1f} s, simulation {done - built:.1f} s")
    assert summary["cycle_checks"] > 0
