"""Tests of :mod:`sparsa.sim.blocks.spatten_system` and of the core model's operand hook: the
hook leaves the core's own timing alone when the operands are early, a late operand delays
exactly its phase, and the system model's time follows the memory's latency and row sizes.

The model against the RTL's measured cycles is checked in
``tests/sim/rtl/test_spatten_system_rtl.py``."""

import random

import pytest

from sparsa.config.axi import AxiConfig
from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.dataflow.spatten_program import random_run
from sparsa.hw.attention.dot_product import PV_LATENCY, QK_LATENCY
from sparsa.models.golden.spatten_system import run_layers
from sparsa.sim.blocks.attention_core import (
    DECIDE_CYCLES,
    OUTPUT_CYCLES,
    AttentionCoreCycleModel,
    pipeline_timing,
    sum_cycles,
)
from sparsa.sim.blocks.spatten_system import SpattenSystemCycleModel, layer_timing, run_cycles

CONFIG = SpattenSystemConfig()


class _Early:
    """Operands offered before the core wants them; ``late`` delays one command's phase."""

    def __init__(self, late: tuple[str, int, int] | None = None) -> None:
        self.late = late

    def _at(self, phase: str, i: int) -> int:
        if self.late is not None and self.late[:2] == (phase, i):
            return self.late[2]
        return -10**9

    def keys(self, i: int, start: int) -> int:
        return self._at("keys", i)

    def lsb(self, i: int, start: int) -> int:
        return self._at("lsb", i)

    def values(self, i: int, start: int) -> int:
        return self._at("values", i)

    def answer(self, i: int, ready: int) -> int:
        return max(ready, self._at("answer", i))


def _commands(seed: int, count: int = 12):
    rng = random.Random(seed)
    model = AttentionCoreCycleModel(CONFIG.core)
    commands = []
    for _ in range(count):
        n = rng.randint(1, CONFIG.core.max_tokens)
        probs = [rng.randrange(1 << 12) for _ in range(n)]
        commands.append(model.command(probs, rng.randint(0, n), rng.random() < 0.4))
    return commands


@pytest.mark.parametrize("seed", range(4))
def test_early_operands_leave_the_core_timing_as_it_is(seed) -> None:
    commands = _commands(seed)
    assert pipeline_timing(CONFIG.core, commands, 1, _Early()) == pipeline_timing(
        CONFIG.core, commands, 1)


def test_a_late_phase_delays_its_command_by_what_it_is_late() -> None:
    commands = [c for c in _commands(7) if c.v_keep and not c.requant][:3]
    base = pipeline_timing(CONFIG.core, commands, 1)
    late_keys = pipeline_timing(CONFIG.core, commands, 1, _Early(("keys", 0, 500)))
    # The keys end QK_LATENCY + 2 after the last K beat, then the sum and the decision.
    assert late_keys[0].front == (500 + QK_LATENCY + 2 + sum_cycles(CONFIG.core, commands[0].n)
                                  + DECIDE_CYCLES)
    assert late_keys[0].front > base[0].front
    values = pipeline_timing(CONFIG.core, commands, 1, _Early(("values", 1, 900)))
    assert values[1].out == 900 + PV_LATENCY + OUTPUT_CYCLES
    answer = pipeline_timing(CONFIG.core, commands, 1, _Early(("answer", 2, 5000)))
    assert answer[2].out == 5000 and answer[:2] == base[:2]


def _layers(config: SpattenSystemConfig, seed: int):
    tensors, settings = random_run(config, layers=3, tokens=48, heads=6, seed=seed)
    runs = run_layers(config, tensors, settings, tokens=48, heads=6)
    model = SpattenSystemCycleModel(config)
    return [model.layer(r, s) for r, s in zip(runs, settings, strict=True)]


def test_the_run_takes_longer_with_a_slower_memory_and_wider_rows() -> None:
    layers = _layers(CONFIG, 5)
    cycles = [run_cycles(CONFIG, layers, latency) for latency in (3, 30, 100)]
    assert cycles == sorted(cycles) and cycles[0] < cycles[-1]
    narrow = CONFIG.replace(axi=AxiConfig(data_width=64, max_burst=16, max_reads=32))
    assert run_cycles(narrow, _layers(narrow, 5), 3) > run_cycles(CONFIG, layers, 3)
    few = CONFIG.replace(axi=AxiConfig(data_width=256, max_burst=16, max_reads=4))
    assert run_cycles(few, _layers(few, 5), 60) > run_cycles(CONFIG, layers, 60)


def test_a_layer_is_the_sum_of_its_phases() -> None:
    layer = _layers(CONFIG, 6)[0]
    timing = layer_timing(CONFIG, layer, 12)
    assert timing.total == (timing.descriptor + timing.heads + timing.drain + timing.pruning
                            + timing.lists)
    assert timing.pruning >= layer.tokens.select + layer.heads.select
    assert timing.lists >= layer.token_keep + layer.head_keep
