"""Fast checks of the weight-update engine's harness parts (no simulator): configurations,
plans, the scoreboard, the codec and the replay form of a batch."""

import itertools

import pytest

from sparsa.config import presets
from sparsa.config.formats import FP32, NumberFormat
from sparsa.config.presets import WEIGHT_UPDATE_CONFIGS
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.sat.weight_update import cmd_layout, data_layout, grads_layout, status_layout
from sparsa.models.golden.weight_update import (
    ScaleState,
    StepHyper,
    found_overflow,
    next_scale,
    update_elements,
)
from sparsa.sim.blocks.weight_update import step_cycles
from sparsa.sim.rtl.weight_update import scoreboard
from sparsa.sim.rtl.weight_update.block import WeightUpdateBlock
from sparsa.sim.rtl.weight_update.codec import OUTPUTS, LanesBeat, StatusBeat, WeightUpdateCodec
from sparsa.sim.rtl.weight_update.stimulus import (
    MASK_STYLES,
    VALUE_STYLES,
    WeightStep,
    make_plan,
    overflow_values,
)

SMALL = WeightUpdateConfig(lanes=2, init_scale_log2=1, max_scale_log2=2, growth_interval=2,
                           multiplier_stages=1, adder_stages=1)
BLOCK = WeightUpdateBlock()
ONE, NAN, INF = 0x3F80_0000, 0x7FC0_0000, 0x7F80_0000


def test_configs_cover_the_required_space() -> None:
    configs = list(WEIGHT_UPDATE_CONFIGS.values())
    assert {c.dtype for c in configs} == {NumberFormat.FP16, NumberFormat.BF16}
    assert len({c.lanes for c in configs}) == len(configs)
    assert any(c.lanes & (c.lanes - 1) for c in configs)  # not a power of two
    assert {(c.multiplier_stages, c.adder_stages) for c in configs} >= {(1, 1), (3, 3)}
    assert max(c.adder_stages for c in configs) == 4
    assert all(c.growth_interval <= 4 for c in configs)
    assert all(c.max_scale_log2 - c.min_scale_log2 <= 4 for c in configs)  # both bounds met
    assert min(c.min_scale_log2 for c in configs) == 0
    assert max(c.max_scale_log2 for c in configs) == FP32.bias - 1
    for name, config in WEIGHT_UPDATE_CONFIGS.items():  # the name spells out the fields
        assert presets._weight_update(name, max_count=config.max_count) == config
    with pytest.raises(ValueError, match="not a weight-update configuration name: 'l4-fp8'"):
        presets._weight_update("l4-fp8")


def _trace(config: WeightUpdateConfig, steps: list[WeightStep]) -> list[tuple[ScaleState, bool]]:
    """The golden scale state before each step and whether it is skipped."""
    state, trace = ScaleState.initial(config), []
    for step in steps:
        skipped = step.overflows(config)
        trace.append((state, skipped))
        state = next_scale(config, state, skipped)
    return trace


@pytest.mark.parametrize("name", list(WEIGHT_UPDATE_CONFIGS))
def test_plan_covers_the_requirements(name: str) -> None:
    config = WEIGHT_UPDATE_CONFIGS[name]
    L = config.lanes
    plan = make_plan(config, seed=5, count=200)
    steps = [s for b in plan for s in b.cases]
    assert len(steps) >= 200
    for s in steps:  # whole beats, values in range
        n = s.beats(config) * L
        assert s.count <= config.max_count and (n - L < s.count <= n or s.count == n == 0)
        assert len(s.weights) == len(s.momentum) == len(s.grads) == len(s.masks) == n
        assert all(0 <= v < 1 << 32 for v in s.weights + s.momentum)
        assert all(0 <= g < 1 << 16 for g in s.grads) and set(s.masks) <= {0, 1}
    directed = list(plan[0].cases)
    trace = _trace(config, directed)
    clean = [s for s, (_, skipped) in zip(directed, trace, strict=True) if not skipped]
    skipped = [s for s, (_, skip) in zip(directed, trace, strict=True) if skip]
    assert {1, L + 1, 3 * L} <= {s.count for s in clean} and 0 in {s.count for s in clean}
    # Every overflow value alone skips a step, at the first, the last and a middle element.
    for value in overflow_values(config):
        alone = [s for s in skipped if [g for g in s.grads[: s.count]
                                        if found_overflow([g], config.dtype)] == [value]]
        places = {s.grads.index(value) for s in alone}
        assert places >= ({0, 2 * L - 2, 2 * L - 1} if L > 1 else {0, 1}), value
    # Inf or NaN in the padding lanes of a clean step.
    assert any(found_overflow(s.grads[s.count:], config.dtype) for s in clean)
    # Both bounds: a skip at the minimum and a growth at the maximum, each holding the scale.
    states = [state for state, _ in trace]
    assert any(skip and st.scale_log2 == config.min_scale_log2 for st, skip in trace)
    assert any(not skip and st.scale_log2 == config.max_scale_log2
               and st.clean + 1 == config.growth_interval for st, skip in trace)
    assert any(st.scale_log2 < config.init_scale_log2 for st in states)
    # Special values among the weights and momenta of clean steps.
    values = {v for s in clean for v in (s.weights + s.momentum)[: s.count] if s.count}
    assert {0, 1 << 31, INF, INF | 1 << 31, NAN, 0x7F80_0001, 1} <= values
    assert any(v & 0x7F80_0000 == 0 and v & 0x7F_FFFF for v in values)  # subnormals
    assert {m for s in clean if s.count for m in set(s.masks)} == {0, 1}
    assert any(s.count and set(s.masks) == {0} for s in clean)
    assert any(s.count and set(s.masks) == {1} for s in clean)
    assert {s.style.split(", ")[1].removesuffix(" values") for s in clean if s.count} >= set(
        VALUE_STYLES)
    assert {s.style.split(", ")[2].removesuffix(" masks") for s in clean} >= set(MASK_STYLES)
    if config.max_count <= 16 * L:
        assert config.max_count in {s.count for s in directed}
    # The directed batch runs without stalls, then the random ones alternate, stalled first,
    # with overflowing and empty steps among them.
    assert [b.stalls.none for b in plan] == [True] + [i % 2 == 1 for i in range(len(plan) - 1)]
    rest = [s for b in plan[1:] for s in b.cases]
    assert any(s.overflows(config) for s in rest) and any(s.count == 0 for s in rest)


def test_codec_matches_the_layouts() -> None:
    config = WeightUpdateConfig(lanes=2, dtype=NumberFormat.BF16, growth_interval=5)
    codec = WeightUpdateCodec(config)
    hyper = StepHyper(lr=1, momentum=2, weight_decay=3, decay=0xFFFF_FFFF)
    fields = {"count": 7, "lr": 1, "momentum": 2, "weight_decay": 3, "decay": 0xFFFF_FFFF}
    assert codec.cmd(7, hyper) == cmd_layout(config).const(fields).as_bits()
    assert codec.grads([0x7F80, 1]) == grads_layout(config).const([0x7F80, 1]).as_bits()
    lanes = [{"weight": ONE, "momentum": NAN, "grad": 0x8000, "mask": 1},
             {"weight": 0, "momentum": 1, "grad": 0xFFFF, "mask": 0}]
    assert codec.data([ONE, 0], [NAN, 1], [0x8000, 0xFFFF], [1, 0]) == data_layout(
        config).const(lanes).as_bits()
    bits = status_layout(config).const({"skipped": 1, "scale_log2": 23, "clean": 4}).as_bits()
    assert codec.status(bits, 9) == StatusBeat(True, 23, 4, 9)
    assert codec.lanes("weights", NAN << 32 | ONE, 3) == LanesBeat((ONE, NAN), 3)
    assert codec.lanes("copies", 0x7F80 << 16 | 0x3F80, 4) == LanesBeat((0x3F80, 0x7F80), 4)


def _step(count: int, grads: tuple[int, ...], masks: tuple[int, ...] = (1, 0)) -> WeightStep:
    n = len(grads)
    return WeightStep(count=count, hyper=StepHyper.of(lr=0.5, momentum=0.5, decay=0.25),
                      weights=(ONE, 0xC000_0000)[:n], momentum=(ONE, 0)[:n], grads=grads,
                      masks=masks[:n], style="test")


def _beats(expected, config=SMALL) -> dict[str, list[LanesBeat]]:
    return {port: [LanesBeat(tuple(expected.outputs[port][i:i + config.lanes]), 20 + i)
                   for i in range(0, len(expected.outputs[port]), config.lanes)]
            for port in OUTPUTS}


def test_expected_step_is_the_golden_contract() -> None:
    # Scale 2^1: the FP16 gradients 2.0 (0x4000) unscale to 1.0; the padding lane's NaN
    # gradient is not checked, but its lane is computed.
    state = ScaleState(scale_log2=1, clean=1)
    step = _step(1, (0x4000, 0x7E00))
    expected = scoreboard.expected_step(SMALL, state, step)
    assert not expected.skipped and expected.before == state
    assert expected.state == ScaleState(scale_log2=2)  # the second clean step: growth
    w, v, h = update_elements(step.weights, step.momentum, step.grads, step.masks, step.hyper,
                              1, SMALL.dtype)
    assert expected.outputs == {"weights": tuple(int(x) for x in w),
                                "momentum": tuple(int(x) for x in v),
                                "copies": tuple(int(x) for x in h)}
    # 1 - 0.5 * (0.5 * 1 + 1) = 0.25; the pruned lane decays too (its gradient is NaN).
    assert expected.outputs["weights"][0] == 0x3E80_0000
    assert expected.outputs["copies"][0] == 0x3400
    assert expected.outputs["weights"][1] & 0x7FFF_FFFF > 0x7F80_0000
    skipped = scoreboard.expected_step(SMALL, state, _step(2, (0x4000, 0xFC00)))
    assert skipped.skipped and skipped.outputs is None
    assert skipped.state == ScaleState(scale_log2=0)
    empty = scoreboard.expected_step(SMALL, state, _step(0, ()))
    assert not empty.skipped and empty.outputs is None and empty.state.scale_log2 == 2


def test_scoreboard_catches_wrong_answers() -> None:
    step = _step(2, (0x4000, 0xBC00))
    expected = scoreboard.expected_step(SMALL, ScaleState.initial(SMALL), step)
    good = _beats(expected)
    status = StatusBeat(False, 1, 1, 10)
    assert scoreboard.check_status(expected, status) == []
    assert scoreboard.check_outputs(SMALL, step, expected, good) == []
    assert scoreboard.check_status(expected, StatusBeat(True, 0, 0, 10))[0].startswith(
        "status skipped=1 scale_log2=0 clean=0 edge=10, golden skipped=0 scale_log2=1 clean=1")
    wrong = dict(good)
    flipped = expected.outputs["weights"][1] ^ 1
    wrong["weights"] = [LanesBeat((expected.outputs["weights"][0], flipped), 20)]
    problems = scoreboard.check_outputs(SMALL, step, expected, wrong)
    assert len(problems) == 1 and problems[0].startswith("weights: 1 elements differ: [1] ")
    assert f"got {flipped:#010x}" in problems[0] and "g=0xbc00 m=0" in problems[0]
    missing = {**good, "copies": []}
    problems = scoreboard.check_outputs(SMALL, step, expected, missing)
    assert problems == ["0 copies beats, expected 1"]
    skipped_step = _step(1, (0x7C00, 0))
    skipped = scoreboard.expected_step(SMALL, ScaleState.initial(SMALL), skipped_step)
    assert scoreboard.check_outputs(SMALL, skipped_step, skipped, {p: [] for p in OUTPUTS}) == []
    assert scoreboard.check_outputs(SMALL, skipped_step, skipped, good) == [
        f"1 {port} beats, expected 0" for port in OUTPUTS]


def _edges(cmd: int, grads: list[int], data: list[int], status: int, out: list[int]
           ) -> scoreboard.StepEdges:
    edges = scoreboard.StepEdges(cmd=cmd, status=status, outputs=dict.fromkeys(OUTPUTS, out))
    edges.inputs = {"grads": grads, "data": data}
    return edges


def test_transfers_and_cycles() -> None:
    config = SMALL
    step = _step(2, (0x4000, 0x3C00))
    expected = scoreboard.expected_step(config, ScaleState.initial(config), step)
    cycles = step_cycles(config, count=2, skipped=False)
    # One beat per pass: grads at edge 1, status and data at B + 2 = 3, the outputs T later.
    good = _edges(10, [11], [13], 10 + cycles.status, [10 + cycles.last_output])
    assert scoreboard.check_transfers(config, step, expected, good, None) == []
    assert scoreboard.check_cycles(config, step, expected, good, 0, 0) == []
    assert scoreboard.check_cycles(config, step, expected, good, 5, 4) == [
        "cmd at edge 5 of the batch, cycle model 4"]
    late = _edges(10, [11], [13], 10 + cycles.status, [11 + cycles.last_output])
    assert scoreboard.check_cycles(config, step, expected, late, 0, 0) == [
        f"last {port} beat {cycles.last_output + 1} edges after cmd, cycle model "
        f"{cycles.last_output}" for port in OUTPUTS]
    edges = _edges(10, [11, 12], [13], 14, [20])
    problems = scoreboard.check_transfers(config, step, expected, edges, None)
    assert problems == ["2 grads beats consumed, expected 1"]
    assert "a data beat crossed before the check pass ended" in scoreboard.check_transfers(
        config, step, expected, _edges(10, [11], [11], 13, [20]), None)
    assert "0 data beats consumed, expected 1" in scoreboard.check_transfers(
        config, step, expected, _edges(10, [11], [], 13, [20]), None)
    follower = _edges(15, [16], [17], 18, [25])
    assert scoreboard.check_transfers(config, step, expected, follower, good)[0].startswith(
        "the cmd beat crossed")
    skipped_step = _step(1, (0xFC00, 0))
    skipped = scoreboard.expected_step(config, ScaleState.initial(config), skipped_step)
    edges = _edges(10, [11], [12], 13, [])
    problems = scoreboard.check_transfers(config, skipped_step, skipped, edges, None)
    assert problems == ["1 data beats consumed, expected 0"]
    edges = _edges(10, [11], [], 13, [])
    assert scoreboard.check_cycles(config, skipped_step, skipped, edges, 0, 0) == []


def test_a_batch_round_trips_through_json() -> None:
    config = WEIGHT_UPDATE_CONFIGS["l3-bf16-m1a1-g2-s123-124-126"]
    for batch in BLOCK.plan(config, 8, 40, stalls=True)[:2]:
        assert BLOCK.batch_from_json(config, BLOCK.batch_to_json(batch)) == batch


def test_the_block_is_registered_under_its_one_name() -> None:
    from sparsa.sim.rtl.blocks import BLOCKS

    assert BLOCKS["weight-update"] is not None and BLOCK.toplevel == "weight_update"
    assert BLOCK.sources == ("cmd", "grads", "data")
    assert set(BLOCK.sinks) == {"weights", "momentum", "copies", "status"}
    assert list(itertools.islice(iter(BLOCKS), 5))[-1] == "weight-update"
