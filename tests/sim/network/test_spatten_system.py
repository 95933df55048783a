"""Tests of :mod:`sparsa.sim.network.spatten_system`: a trace's prediction on the system against
the data-aware cycle model of the same run, and the traces the system cannot run."""

import dataclasses

import numpy as np
import pytest

from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.dataflow.spatten_program import random_run, run_trace
from sparsa.models.golden.spatten_system import run_layers
from sparsa.sim.blocks.spatten_system import FINISH_CYCLES, SpattenSystemCycleModel, run_cycles
from sparsa.sim.network.spatten_system import predict_system, trace_work

CONFIG = SpattenSystemConfig()


def _run(seed: int, tokens: int = 64, heads: int = 8):
    tensors, settings = random_run(CONFIG, layers=3, tokens=tokens, heads=heads, seed=seed)
    runs = run_layers(CONFIG, tensors, settings, tokens=tokens, heads=heads)
    return runs, settings


@pytest.mark.parametrize("latency", [3, 60])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_trace_predicts_the_data_aware_model_within_six_percent(seed, latency) -> None:
    runs, settings = _run(seed)
    model = SpattenSystemCycleModel(CONFIG)
    exact = run_cycles(CONFIG, [model.layer(r, s) for r, s in zip(runs, settings, strict=True)],
                       latency)
    predicted = predict_system(run_trace(CONFIG, runs, settings), CONFIG, latency=latency)
    # The trace has no scores: its quick-selects are estimated (the RTL test's bound).
    assert abs(predicted.cycles / exact - 1) < 0.06, (predicted.cycles, exact)
    assert len(predicted.runs) == 1 and len(predicted.runs[0]) == 3
    assert predicted.cycles == FINISH_CYCLES + sum(t.total for t in predicted.runs[0])


def test_the_layers_keep_what_the_trace_says() -> None:
    runs, settings = _run(3)
    work = trace_work(run_trace(CONFIG, runs, settings), CONFIG)[0]
    assert [w.token_keep for w in work] == [s.token_keep for s in settings]
    assert [w.head_keep for w in work] == [len(r.heads) for r in runs[1:]] + [len(runs[-1].heads)]
    assert [[c.requant for c in w.commands] for w in work] == [
        [a.requant for a in r.answers] for r in runs]


def _changed(trace, **columns):
    return dataclasses.replace(trace, **{k: np.asarray(v) for k, v in columns.items()})


def test_traces_the_system_cannot_run_are_refused() -> None:
    runs, settings = _run(4, tokens=16, heads=4)
    trace = run_trace(CONFIG, runs, settings)
    keys = trace.key_fetch.copy()
    keys[1] -= 1
    with pytest.raises(ValueError, match="layer 0: the system runs one key count per layer"):
        trace_work(_changed(trace, key_fetch=keys), CONFIG)
    small = CONFIG.replace(core=CONFIG.core.replace(heads=2))
    with pytest.raises(ValueError, match="do not fit the system's 64 tokens and 2 heads"):
        trace_work(trace, small)
