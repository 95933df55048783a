"""SAT's SORE's generated Verilog against the golden N:M generator and the cycle model.

One test per configuration of :data:`configs.SORE_CONFIGS`; each builds (or reuses) the
Verilator simulator and runs a seeded plan of at least :data:`COMMANDS` commands in one launch:
every N with FF, BP and both copies, tiles rich in ties, extremes and all-zero groups, rejected
commands, stalls and back-pressure (see :func:`sore_stimulus.make_plan`). Override with
``SPARSA_RTL_COMMANDS`` and ``SPARSA_RTL_SEED``.

Run: ``.venv/bin/python -m pytest tests/rtl -m rtl -s -k sore``. Builds and logs go to
``build/rtl/sore-<hash>/``. A failure report ends with the failing command as JSON; replay it
without stalls with ``run(build(SORE, SORE_CONFIGS[name]), label="replay", seed=0, count=0,
replay=[command])`` (see :mod:`runner` and :mod:`targets`).
"""

import os
import time

import pytest

from sparsa.config.presets import SORE_CONFIGS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.runner import build, run
from sparsa.sim.rtl.targets import SORE

COMMANDS = 300
MIN_GROUPS = 500  # per configuration: over 2,000 in all


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(SORE_CONFIGS))
def test_sore_rtl(name: str) -> None:
    config = SORE_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    commands = int(os.environ.get("SPARSA_RTL_COMMANDS", COMMANDS))
    print(f"{name}: {config}, seed={seed}, commands={commands}")
    started = time.perf_counter()
    rtl = build(SORE, config)
    built = time.perf_counter()
    summary = run(rtl, label=name, seed=seed, count=commands)
    done = time.perf_counter()
    print(f"{summary['line']}; build {built - started:.1f} s, simulation {done - built:.1f} s")
    assert summary["commands"] >= commands and summary["rejects"] > 0
    if commands >= COMMANDS:
        assert summary["groups"] >= MIN_GROUPS and summary["cycle_checks"] >= commands // 3
