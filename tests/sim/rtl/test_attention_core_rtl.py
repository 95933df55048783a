"""The attention core's generated Verilog against the golden model and the cycle model.

One test per configuration of :data:`attention_configs.ATTENTION_CONFIGS`; each builds (or
reuses) the Verilator simulator and runs about :data:`QUERIES` seeded commands in one launch,
at least :data:`MIN_GOOD` of them (head, query) cases the core must accept: peaked and flat
distributions (both requant paths), ties, extremes, every MSB setting, rejected commands,
stalls on every input and back-pressure on every output (see
:func:`sparsa.sim.rtl.attention_core.stimulus.make_plan`). Every answer, every requested K LSB and V row and, in
batches without stalls, every command's cycles are checked. Override with
``SPARSA_RTL_QUERIES`` and ``SPARSA_RTL_SEED``.

Run: ``.venv/bin/python -m pytest tests/rtl -m rtl -s -k attention``. Builds and logs go to
``build/rtl/attention_core-<hash>/``. A failure report ends with the failing command as JSON;
replay it without stalls with::

    from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.sim.rtl.attention_core.configs import ATTENTION_CORE
    from sparsa.sim.rtl.runner import build, run

    spec = {...}  # the "replay:" JSON of the report
    rtl = build(ATTENTION_CORE, ATTENTION_CONFIGS["d32-m64-n64"])
    run(rtl, label="replay", seed=0, count=0, replay=[spec])

(replaying a command alone starts it with importance accumulators at zero).
"""

import os
import time

import pytest

from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.sim.rtl.attention_core.configs import ATTENTION_CORE
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.runner import build, run

QUERIES = 290  # per configuration, rejected commands included
MIN_GOOD = 250  # (head, query) cases per configuration: 1,000 in all
MIN_CYCLE_CHECKS = 50  # per configuration: over 200 in all


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(ATTENTION_CONFIGS))
def test_attention_core_rtl(name: str) -> None:
    config = ATTENTION_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    queries = int(os.environ.get("SPARSA_RTL_QUERIES", QUERIES))
    print(f"{name}: {config}, seed={seed}, queries={queries}")
    started = time.perf_counter()
    rtl = build(ATTENTION_CORE, config)
    built = time.perf_counter()
    summary = run(rtl, label=name, seed=seed, count=queries)
    done = time.perf_counter()
    print(f"{summary['line']}; build {built - started:.1f} s, simulation {done - built:.1f} s")
    good = summary["queries"] - summary["rejects"]
    assert summary["queries"] >= queries and summary["rejects"] > 0
    assert good >= min(MIN_GOOD, queries * 4 // 5)
    assert 0 < summary["requants"] < good, "both requant paths must occur"
    assert summary["cycle_checks"] >= min(MIN_CYCLE_CHECKS, queries // 4)
