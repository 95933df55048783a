"""SAT's PE array's generated Verilog against the golden GEMMs and the cycle model.

One test per configuration of :data:`configs.SAT_ARRAY_CONFIGS` (two with interleave mapping,
one without); each builds (or reuses) the Verilator simulator and runs a seeded plan of at least
:data:`TILES` GEMM tiles in one launch: FF, BP and WU GEMMs on every pattern and dense, both
dataflows, back to back in mixed order, edge tiles, extreme values and all-zero groups, junk
activation lanes, rejected commands, stalls and back-pressure (see
:func:`sat_stimulus.make_plan`); in the batches without stalls every command's edges are checked
against the cycle model's timeline (see :mod:`tb_sat_array`), and the count of these cycle
checks is printed. Override with ``SPARSA_RTL_TILES`` and ``SPARSA_RTL_SEED``.

Run: ``.venv/bin/python -m pytest tests/rtl -m rtl -s -k sat_array``. Builds and logs go to
``build/rtl/sat_array-<hash>/``. A failure report ends with the failing job as JSON; replay it
without stalls with::

    from sparsa.config.presets import SAT_ARRAY_CONFIGS
    from sparsa.sim.rtl.runner import build, run
    from sparsa.sim.rtl.targets import SAT_ARRAY

    job = {"gemm": {"kind": "FF", "pattern": "2:4", "dataflow": "OS", "rows": 9, "k": 8,
                    "cols": 9, "style": "mixed", "seed": 1234}}
    rtl = build(SAT_ARRAY, SAT_ARRAY_CONFIGS["r8c8-int8"])
    run(rtl, label="replay", seed=0, count=0, replay=[job])
"""

import os
import time

import pytest

from sparsa.config.presets import SAT_ARRAY_CONFIGS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.runner import build, run
from sparsa.sim.rtl.targets import SAT_ARRAY

TILES = 400
MIN_CYCLE_CHECKS = 100  # per configuration: over 200 in all


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_sat_array_rtl(name: str) -> None:
    config = SAT_ARRAY_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    tiles = int(os.environ.get("SPARSA_RTL_TILES", TILES))
    print(f"{name}: {config}, seed={seed}, tiles={tiles}")
    started = time.perf_counter()
    rtl = build(SAT_ARRAY, config)
    built = time.perf_counter()
    summary = run(rtl, label=name, seed=seed, count=tiles)
    done = time.perf_counter()
    print(f"{summary['line']}; build {built - started:.1f} s, simulation {done - built:.1f} s")
    assert summary["tiles"] >= tiles and summary["rejects"] > 0
    assert summary["cycle_checks"] >= min(MIN_CYCLE_CHECKS, tiles // 4)
