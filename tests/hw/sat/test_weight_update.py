# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the weight-update engine (:mod:`sparsa.hw.sat.weight_update`).

Sequences of steps (seeded random and adversarial values: NaN, Inf, subnormal and zero weights,
momenta and hyper-parameters, half-precision gradients with Inf and NaN in skipped steps and in
the padding lanes of clean ones, empty steps, a loss scale driven to both bounds) run through
the RTL with random stalls on the three inputs and random back-pressure on the four outputs, or
with none. Every output beat is compared bit for bit with
:mod:`sparsa.models.golden.weight_update` (padding lanes included), every status beat with the
golden scale rule, the stream rules are checked on every output (valid held with a stable
payload until the transfer), and in the unstalled runs every step's command, status and last
output transfer at exactly the edges :mod:`sparsa.sim.blocks.weight_update` predicts. The seed
is in every failure message.
"""

import random
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from sparsa.config.formats import NumberFormat
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.sat.weight_update import WeightUpdate, pipeline_latency
from sparsa.models.golden.weight_update import (
    ScaleState,
    StepHyper,
    found_overflow,
    next_scale,
    update_elements,
)
from sparsa.sim.blocks.weight_update import beats, step_cycles

FP16, BF16 = NumberFormat.FP16, NumberFormat.BF16
SPECIAL32 = [0x0000_0000, 0x8000_0000, 0x0000_0001, 0x807F_FFFF, 0x0080_0000, 0x3F80_0000,
             0xBF80_0000, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000,
             0x7F80_0001, 0x4780_0000, 0x477F_F000, 0x3380_0000]
# 0x477FF000 = 65520: the FP16 copy's overflow threshold.


@dataclass(frozen=True)
class Step:
    """One step's command and data, padded to whole beats."""

    count: int
    hyper: StepHyper
    weights: np.ndarray
    momentum: np.ndarray
    grads: np.ndarray
    masks: np.ndarray


def _fp32_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """FP32 patterns: mostly ordinary numbers, some random patterns and special values."""
    kind = rng.integers(0, 10, n)
    normal = (rng.standard_normal(n) * 2.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    out = normal.view(np.uint32).copy()
    out[kind == 0] = rng.integers(0, 1 << 32, int((kind == 0).sum()), dtype=np.uint32)
    out[kind == 1] = rng.choice(SPECIAL32, int((kind == 1).sum()))
    return out


def _grads(rng: np.random.Generator, fmt: NumberFormat, n: int, overflow: bool) -> np.ndarray:
    """Finite half-precision gradient patterns (zeros and subnormals among them), with one or
    more Inf or NaN when ``overflow``."""
    layout = fmt.float_layout
    inf = layout.max_exponent << layout.fraction_bits
    g = rng.integers(0, 1 << 16, n, dtype=np.uint32)
    finite = (g & ((1 << 15) - 1)) < inf
    g = np.where(finite, g, g & ~(np.uint32(1) << layout.fraction_bits))  # lower the exponent
    small = rng.integers(0, 6, n) == 0
    g[small] &= 0x8000 | ((1 << layout.fraction_bits) - 1)  # zeros and subnormals
    if overflow and n:
        hits = rng.choice(n, size=int(rng.integers(1, min(n, 3) + 1)), replace=False)
        g[hits] = rng.choice([inf, inf | 0x8000, inf | 1, 0xFFFF], hits.size)
    return g.astype(np.uint16)


def _hyper(rng: np.random.Generator) -> StepHyper:
    if rng.integers(0, 6) == 0:
        return StepHyper(**{k: int(rng.choice(SPECIAL32)) for k in
                            ("lr", "momentum", "weight_decay", "decay")})
    return StepHyper.of(lr=float(rng.uniform(1e-4, 0.5)), momentum=float(rng.uniform(0, 1)),
                        weight_decay=float(rng.choice([0.0, 1e-4, 5e-5])),
                        decay=float(rng.choice([0.0, 2e-4, 0.5])))


def draw_step(rng: np.random.Generator, config: WeightUpdateConfig, count: int,
              overflow: bool) -> Step:
    """A step of ``count`` elements; when the count is not a whole number of beats, the
    padding lanes hold random values, Inf and NaN gradients among them."""
    n = beats(config, count) * config.lanes
    grads = _grads(rng, config.dtype, n, False)
    grads[:count] = _grads(rng, config.dtype, count, overflow)
    if n > count and rng.integers(0, 2):
        grads[count:] = _grads(rng, config.dtype, n - count, True)
    return Step(count, _hyper(rng), _fp32_values(rng, n), _fp32_values(rng, n), grads,
                rng.integers(0, 2, n).astype(np.uint8))


@dataclass(frozen=True)
class Expected:
    skipped: bool
    state: ScaleState
    outputs: tuple[np.ndarray, np.ndarray, np.ndarray] | None


def expect(config: WeightUpdateConfig, steps: list[Step]) -> list[Expected]:
    """The golden answer of each step, the scale state carried from step to step."""
    state = ScaleState.initial(config)
    answers = []
    for s in steps:
        skipped = found_overflow(s.grads[: s.count], config.dtype)
        outputs = None
        if not skipped and s.count:
            outputs = update_elements(s.weights, s.momentum, s.grads, s.masks, s.hyper,
                                      state.scale_log2, config.dtype)
        state = next_scale(config, state, skipped)
        answers.append(Expected(skipped, state, outputs))
    return answers


def simulate(config: WeightUpdateConfig, steps: list[Step], seed: int, stall: float,
             ) -> dict[str, list[tuple[int, list[int] | int]]]:
    """Run ``steps`` through the RTL; each input is idle and each output not ready with
    probability ``stall`` on any cycle. Returns, per stream, (edge, payload) of every transfer
    (edges counted from 1, the first clock edge), after checking the stream rules."""
    dut = WeightUpdate(config)
    answers = expect(config, steps)
    rng = random.Random(seed)
    limit = 200 + sum(4 * beats(config, s.count) + 3 * pipeline_latency(config)
                      for s in steps) * (1 + int(8 * stall))
    log: dict[str, list] = {k: [] for k in ("cmd", "grads", "data", "weights", "momentum",
                                            "copies", "status")}
    L = config.lanes

    def idle() -> bool:
        return rng.random() < stall

    def source(stream, payloads, name: str):
        async def bench(ctx) -> None:
            await put(ctx, stream, payloads, name)
        return bench

    async def put(ctx, stream, payloads, name: str) -> None:
        edge = 0
        for payload in payloads:
            while idle():
                ctx.set(stream.valid, 0)
                await ctx.tick()
                edge += 1
            ctx.set(stream.valid, 1)
            ctx.set(stream.payload, payload)
            while True:
                _, _, ready = await ctx.tick().sample(stream.ready)
                edge += 1
                assert edge < limit, f"seed {seed}: {name} stuck at edge {edge}"
                if ready:
                    log[name].append((edge, payload))
                    break
        ctx.set(stream.valid, 0)

    def commands():
        for s in steps:
            yield {"count": s.count, "lr": s.hyper.lr, "momentum": s.hyper.momentum,
                   "weight_decay": s.hyper.weight_decay, "decay": s.hyper.decay}

    def grads_beats():
        for s in steps:
            for b in range(beats(config, s.count)):
                yield [int(x) for x in s.grads[b * L:(b + 1) * L]]

    def data_beats():
        for s, a in zip(steps, answers, strict=True):
            if a.outputs is None:
                continue
            for b in range(beats(config, s.count)):
                yield [{"weight": int(s.weights[k]), "momentum": int(s.momentum[k]),
                        "grad": int(s.grads[k]), "mask": int(s.masks[k])}
                       for k in range(b * L, (b + 1) * L)]

    expected_beats = sum(beats(config, s.count) for s, a in zip(steps, answers, strict=True)
                         if a.outputs is not None)

    def sink(stream, name: str, total: int):
        async def bench(ctx) -> None:
            edge, held = 0, None
            while len(log[name]) < total:
                ctx.set(stream.ready, not idle())
                _, _, valid, ready, payload = await ctx.tick().sample(
                    stream.valid, stream.ready, stream.payload)
                edge += 1
                assert edge < limit, f"seed {seed}: {name} got {len(log[name])} of {total}"
                value = payload.as_value().value if hasattr(payload, "as_value") else payload
                if held is not None:
                    assert valid and value == held, (
                        f"seed {seed}: {name} dropped or changed a waiting beat at edge {edge}")
                if valid and ready:
                    log[name].append((edge, payload if name == "status" else list(payload)))
                held = value if valid and not ready else None
            ctx.set(stream.ready, 0)
        return bench

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source(dut.cmd, commands(), "cmd"))
    sim.add_testbench(source(dut.grads, grads_beats(), "grads"))
    sim.add_testbench(source(dut.data, data_beats(), "data"))
    for name in ("weights", "momentum", "copies"):
        sim.add_testbench(sink(getattr(dut, name), name, expected_beats))
    sim.add_testbench(sink(dut.status, "status", len(steps)))
    sim.run()
    return log


def check(config: WeightUpdateConfig, steps: list[Step], seed: int, stall: float) -> None:
    """Simulate and compare every beat with the golden (and, unstalled, every edge with the
    cycle model)."""
    log = simulate(config, steps, seed, stall)
    answers = expect(config, steps)
    L = config.lanes
    outputs = {"weights": 0, "momentum": 1, "copies": 2}
    cursor = 0
    edge = log["cmd"][0][0]
    for k, (s, a) in enumerate(zip(steps, answers, strict=True)):
        where = f"seed {seed}, step {k} (count {s.count})"
        status = log["status"][k][1]
        got = (bool(status.skipped), int(status.scale_log2), int(status.clean))
        want = (a.skipped, a.state.scale_log2, a.state.clean)
        assert got == want, f"{where}: status {got}, golden {want}"
        b = beats(config, s.count)
        if a.outputs is not None:
            for name, index in outputs.items():
                beats_got = [p for _, p in log[name][cursor:cursor + b]]
                flat = np.array([int(x) for p in beats_got for x in p], dtype=np.uint64)
                bad = np.nonzero(flat != a.outputs[index].astype(np.uint64))[0]
                if bad.size:
                    i = int(bad[0])
                    raise AssertionError(
                        f"{where}: {name}[{i}] (lane {i % L}) = {int(flat[i]):#x}, golden "
                        f"{int(a.outputs[index][i]):#x}; inputs w {int(s.weights[i]):#x} v "
                        f"{int(s.momentum[i]):#x} g {int(s.grads[i]):#x} m {s.masks[i]}, "
                        f"{s.hyper}, {len(bad)} wrong")
        if stall == 0:
            cycles = step_cycles(config, count=s.count, skipped=a.skipped)
            assert log["cmd"][k][0] == edge, f"{where}: command at edge {log['cmd'][k][0]}"
            assert log["status"][k][0] == edge + cycles.status, f"{where}: status edge"
            if a.outputs is not None:
                ends = {log[name][cursor + b - 1][0] for name in outputs}
                assert ends == {edge + cycles.last_output}, (
                    f"{where}: last outputs at {ends}, model {edge + cycles.last_output}")
            edge += cycles.period
        if a.outputs is not None:
            cursor += b
    for name in outputs:
        assert len(log[name]) == cursor, f"seed {seed}: {name} has extra beats"


def sequence(config: WeightUpdateConfig, seed: int, length: int, max_count: int) -> list[Step]:
    """Seeded steps: counts from 0 to ``max_count`` (whole and partial beats), about one in
    four overflowing."""
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(length):
        count = int(rng.choice([0, 1, config.lanes, int(rng.integers(1, max_count + 1))],
                               p=[0.08, 0.12, 0.1, 0.7]))
        steps.append(draw_step(rng, config, count, bool(rng.random() < 0.25)))
    return steps


CASES = {
    # name: config, steps, largest count
    "l4-fp16": (WeightUpdateConfig(lanes=4, init_scale_log2=2, min_scale_log2=0,
                                   max_scale_log2=4, growth_interval=2), 30, 23),
    "l3-bf16-fast": (WeightUpdateConfig(lanes=3, dtype=BF16, init_scale_log2=124,
                                        max_scale_log2=126, growth_interval=3,
                                        multiplier_stages=1, adder_stages=1), 24, 17),
    "l1-fp16-deep": (WeightUpdateConfig(lanes=1, growth_interval=1, init_scale_log2=23,
                                        adder_stages=4, multiplier_stages=2), 16, 6),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_engine_matches_golden_and_cycle_model(name: str, stall: float) -> None:
    config, length, max_count = CASES[name]
    seed = 700 + list(CASES).index(name) * 10 + int(stall * 10)
    steps = sequence(config, seed, length, max_count)
    answers = expect(config, steps)
    assert any(a.skipped for a in answers) and sum(a.outputs is not None for a in answers) > 4
    check(config, steps, seed, stall)


def test_the_scale_reaches_both_bounds() -> None:
    # Three skips from 2^1 floor at 2^0; then clean steps grow it to 2^2 and hold it there.
    config = WeightUpdateConfig(lanes=2, init_scale_log2=1, max_scale_log2=2, growth_interval=2)
    rng = np.random.default_rng(5)
    steps = [draw_step(rng, config, 3, overflow=True) for _ in range(3)]
    steps += [draw_step(rng, config, int(rng.integers(0, 5)), overflow=False) for _ in range(7)]
    answers = expect(config, steps)
    assert [a.state.scale_log2 for a in answers] == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    check(config, steps, 5, 0.0)


def test_heavy_back_pressure_changes_no_value() -> None:
    # Idle inputs and outputs ready only 40% of the time.
    config = WeightUpdateConfig(lanes=2, growth_interval=2)
    steps = sequence(config, 11, 12, 9)
    check(config, steps, 11, 0.6)


@pytest.mark.parametrize("dtype", [FP16, BF16])
def test_exports_verilog(dtype: NumberFormat) -> None:
    text = verilog.convert(WeightUpdate(WeightUpdateConfig(lanes=2, dtype=dtype)),
                           name="weight_update")
    assert "module weight_update" in text
    for port in ("cmd__valid", "grads__payload", "data__ready", "weights__valid",
                 "momentum__payload", "copies__payload", "status__payload"):
        assert port in text, port


def test_latency_and_rejected_configs() -> None:
    assert WeightUpdate(WeightUpdateConfig()).latency == pipeline_latency(WeightUpdateConfig())
    assert pipeline_latency(WeightUpdateConfig()) == 2 * 3 + 4 * 3 + 1
    with pytest.raises(TypeError, match="config must be a WeightUpdateConfig, not dict"):
        WeightUpdate({})
