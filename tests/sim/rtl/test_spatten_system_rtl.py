"""The SpAtten accelerator end to end on Verilator: several layers of GPT-2-shaped runs from a
DRAM image through the AXI4-Lite registers, with cascade token and head pruning; outputs,
requant decisions, head importance and kept lists against the golden model, traffic and counters
against the run, cycles against the cycle model and the trace simulator; faults.

Bounds: the cycle model, fed the run's data, within 1.5% of the measured cycles (measured from
-1.1% to -0.1% on two seeds with 256- and 128-bit ports, 4 and 2 lanes and 32 and 8 reads in
flight, at latencies 3 to 100); the trace simulator, from the run's public-format trace, within
6% (measured from -5.0% to +1.9% of the cycle model over 8 seeds at latencies 3 and 60): the
trace holds no scores or importance, so the quick-selects' cycles are estimates
(:mod:`sparsa.sim.network.spatten_system`)."""

import pytest

from sparsa.config.axi import AxiConfig
from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.sim.blocks.spatten_system import SpattenSystemCycleModel
from sparsa.sim.rtl.spatten_system.cases import compare, fault_cases, random_case
from sparsa.sim.rtl.spatten_system.run import run_images

pytestmark = pytest.mark.rtl

MODEL_BOUND = 0.015
TRACE_BOUND = 0.06


def _check(config, cases, *, latency, stall=0.0, seed=1):
    results = run_images(config, [c.image for c in cases], latency=latency, stall=stall,
                         seed=seed)
    model = SpattenSystemCycleModel(config)
    rows = [compare(config, c, r, model=model, latency=latency)
            for c, r in zip(cases, results, strict=True)]
    failures = [f for row in rows for f in row.failures]
    assert not failures, f"seed {seed}: " + "; ".join(failures[:6])
    # The counter runs from the start to done, the bench from the register write to the
    # interrupt: the same few cycles apart on every run.
    assert len({r.rtl - r.counted for r in rows}) == 1, [(r.rtl, r.counted) for r in rows]
    return rows


@pytest.mark.parametrize("latency", [3, 60])
def test_layers_equal_the_golden_model_and_the_cycles_the_models(latency) -> None:
    config = SpattenSystemConfig()
    cases = [random_case(config, layers=3, tokens=64, heads=8, seed=s) for s in (1, 2)]
    cases.append(random_case(config, layers=4, tokens=50, heads=5, seed=3))
    cases += fault_cases(config, seed=4)
    cases.append(random_case(config, layers=2, tokens=9, heads=1, seed=5))  # still usable
    rows = _check(config, cases, latency=latency)
    timed = rows[:3]
    for row in timed:
        assert abs(row.model / row.rtl - 1) < MODEL_BOUND, row
        assert abs(row.trace / row.rtl - 1) < TRACE_BOUND, row
    assert sum(r.requants for r in timed) > 0
    assert any(r.requants < r.commands for r in timed)


def test_stalls_on_every_channel_change_no_result() -> None:
    config = SpattenSystemConfig()
    cases = [random_case(config, layers=3, tokens=33, heads=6, seed=s) for s in (6, 7)]
    _check(config, cases, latency=12, stall=0.3, seed=8)


@pytest.mark.slow
@pytest.mark.parametrize("changes", [
    {"axi": AxiConfig(data_width=128, max_burst=16, max_reads=32)},
    {"axi": AxiConfig(data_width=256, max_burst=16, max_reads=8)},
], ids=["w128", "reads8"])
def test_other_ports_keep_the_results_and_the_bounds(changes) -> None:
    config = SpattenSystemConfig(**changes)
    cases = [random_case(config, layers=3, tokens=64, heads=8, seed=s) for s in (1, 2)]
    for row in _check(config, cases, latency=40):
        assert abs(row.model / row.rtl - 1) < MODEL_BOUND, row
        assert abs(row.trace / row.rtl - 1) < TRACE_BOUND, row
