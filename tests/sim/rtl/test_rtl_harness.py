"""Fast checks of the generic RTL harness (no simulator): configuration JSON, settings, layout
packing, stalls, batches and plans, timelines and answers, and the runner's toolchain check."""

import asyncio
import hashlib
import json
import random
from types import SimpleNamespace

import pytest
from amaranth import Shape
from amaranth.lib import data

from sparsa.config.formats import NumberFormat
from sparsa.config.presets import SAT_ARRAY_CONFIGS, TOPK_CONFIGS
from sparsa.config.sat import SoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.hw.sat.sat_array import acts_layout, cmd_layout, out_layout, weights_layout
from sparsa.sim.rtl import runner
from sparsa.sim.rtl.configs import (
    config_from_json,
    config_hash,
    config_to_json,
    default_seed,
)
from sparsa.sim.rtl.harness import Answers, Batch, Scoreboard, seeded_batches
from sparsa.sim.rtl.plans import alternating_plan, random_size
from sparsa.sim.rtl.records import Timeline, check_framing
from sparsa.sim.rtl.stalls import Stalls, random_stalls
from sparsa.sim.rtl.streams import Beat, Sink
from sparsa.sim.rtl.topk.codec import packer, unpacker

ALL_CONFIGS = [
    *TOPK_CONFIGS.values(),
    *SAT_ARRAY_CONFIGS.values(),
    SoreConfig(lanes=16, m=8, dtype=NumberFormat.INT16),
]


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_config_json_round_trip(config: object) -> None:
    assert config_from_json(config_to_json(config)) == config
    assert config_hash(config) == config_hash(config_from_json(config_to_json(config)))


def test_config_hash_covers_the_fields_only() -> None:
    # The hash of a configuration is that of its fields, as the build folders were first named.
    config = TOPK_CONFIGS["p8w8u-c1-middle-n64"]
    fields = json.loads(config_to_json(config))["fields"]
    assert fields["pivot"] == config.pivot.value
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    assert config_hash(config) == digest
    assert len({config_hash(c) for c in ALL_CONFIGS}) == len(ALL_CONFIGS)


def test_default_seed_is_stable() -> None:
    assert default_seed("r8c8-int8") == default_seed("r8c8-int8") != default_seed("r5c3-int8")


def _random_value(rng: random.Random, shape: object) -> object:
    if isinstance(shape, data.StructLayout):
        return {name: _random_value(rng, field.shape) for name, field in shape}
    if isinstance(shape, data.ArrayLayout):
        return [_random_value(rng, shape.elem_shape) for _ in range(shape.length)]
    if isinstance(shape, range):
        return rng.choice(shape)
    cast = Shape.cast(shape)
    if cast.signed:
        return rng.randint(-(1 << (cast.width - 1)), (1 << (cast.width - 1)) - 1)
    return rng.randint(0, (1 << cast.width) - 1)


@pytest.mark.parametrize("make", [cmd_layout, weights_layout, acts_layout, out_layout])
@pytest.mark.parametrize("name", list(SAT_ARRAY_CONFIGS))
def test_packing_matches_the_layouts(make, name: str) -> None:
    layout = make(SAT_ARRAY_CONFIGS[name])
    rng = random.Random(name)
    pack, unpack = packer(layout), unpacker(layout)
    for _ in range(20):
        value = _random_value(rng, layout)
        bits = layout.const(value).as_bits()
        assert pack(value) == bits
        assert unpack(bits) == value


def test_packing_checks_the_leaves() -> None:
    layout = data.StructLayout({"code": range(6), "v": data.ArrayLayout(8, 2)})
    pack = packer(layout)
    assert pack({"code": 7, "v": [1, 2]}) == 7 | 1 << 3 | 2 << 11  # a bad code, on purpose
    with pytest.raises(ValueError, match="does not fit"):
        pack({"code": 8, "v": [1, 2]})
    with pytest.raises(ValueError, match="has 2 fields, got 1"):
        pack({"code": 1})


def test_stalls() -> None:
    assert Stalls().none and Stalls().describe() == "no stalls"
    stalls = Stalls(idle={"cmd": 0.2, "din": 0.0}, busy=0.5)
    assert not stalls.none and stalls.describe() == "stalls cmd=0.2 din=0.0 out busy=0.5"
    rng = random.Random(1)
    drawn = [random_stalls(rng, ("cmd", "weights", "acts")) for _ in range(50)]
    assert not any(s.none for s in drawn)
    assert all(list(s.idle) == ["cmd", "weights", "acts"] for s in drawn)


def test_stalls_and_batches_round_trip_through_json() -> None:
    stalls = Stalls(idle={"cmd": 0.2, "din": 0.0}, busy=0.5)
    assert stalls.to_json() == {"idle": {"cmd": 0.2, "din": 0.0}, "busy": 0.5}
    assert Stalls.from_json(json.loads(json.dumps(stalls.to_json()))) == stalls
    batch = Batch(cases=(1, 2), stalls=stalls, seed=7)
    data = json.loads(json.dumps(batch.to_json(values=[1, 2])))
    assert list(data) == ["seed", "stalls", "values"]
    assert Batch.from_json(data, data["values"]) == batch


def test_seeded_batches() -> None:
    plan = [SimpleNamespace(cases=[1], stalls=Stalls()),
            SimpleNamespace(cases=[2, 3], stalls=Stalls(busy=0.5))]
    batches = seeded_batches(plan, 4)
    assert [(b.cases, b.seed, b.stalls) for b in batches] == [
        ((1,), 4, Stalls()), ((2, 3), 5, Stalls(busy=0.5))]
    assert [b.stalls for b in seeded_batches(plan, 4, stalls=False)] == [Stalls(), Stalls()]


@pytest.mark.parametrize("stalled_first", [False, True])
def test_alternating_plan(stalled_first: bool) -> None:
    rng = random.Random(3)
    plan = alternating_plan(["d"] * 5, 23, size=4, good=lambda: "g", bad=lambda: "b", bad_rate=0.0,
                            rng=rng, sources=("cmd",), stalled_first=stalled_first)
    assert [cases for cases, _ in plan[:2]] == [("d",) * 5, ("g",) * 4]
    assert [len(cases) for cases, _ in plan] == [5, 4, 4, 4, 4, 2]
    stalled = [not stalls.none for _, stalls in plan]
    assert stalled == [False, *[stalled_first, not stalled_first] * 2, stalled_first]
    assert all(list(stalls.idle) == ["cmd"] for _, stalls in plan[1:] if not stalls.none)
    # A bad case comes before a good one, so a batch may run one over its size.
    plan = alternating_plan([], 10, size=3, good=lambda: "g", bad=lambda: "b", bad_rate=0.5,
                            rng=rng, sources=("cmd",), stalled_first=stalled_first)
    for cases, _ in plan[1:]:
        assert cases[-1] == "g" and "bb" not in "".join(cases) and len(cases) <= 4
    assert sum(len(cases) for cases, _ in plan) >= 10 and "b" in "".join(plan[1][0] + plan[2][0])


def test_random_size() -> None:
    rng = random.Random(5)
    sizes = [random_size(rng, 40, 8, odds=(0.5, 0.7, 0.85), short=2) for _ in range(500)]
    assert set(sizes) <= set(range(1, 41)) and {1, 40} <= set(sizes)
    assert {random_size(rng, 1, 8, odds=(0.5, 0.7, 0.85), short=2) for _ in range(20)} == {1}


def test_check_framing() -> None:
    def beat(error: bool, last: bool) -> SimpleNamespace:
        return SimpleNamespace(error=error, last=last)

    assert check_framing([beat(False, False), beat(False, True)], 2) == []
    assert check_framing([beat(True, True), beat(False, True)], 3) == [
        "expected 3 out beats, got 2",
        "error flag set on a good command",
        "last set before the final beat",
    ]


def test_answers_are_cut_at_last_and_stray_beats_counted() -> None:
    class Done:
        async def run_until(self, done, *, max_cycles: int, what: str) -> None:
            assert done(), what

    sink = Sink("out")
    answers = Answers(sink, lambda payload, cycle: SimpleNamespace(
        payload=payload, cycle=cycle, last=bool(payload & 1)))
    for cycle, payload in enumerate([2, 3, 5, 4], start=1):
        sink.on_beat(Beat(payload, None, cycle))
    got = [asyncio.run(answers.wait(Done(), n, max_cycles=1, what="answer")) for n in (0, 1)]
    assert [[b.payload for b in answer] for answer in got] == [[2, 3], [5]]
    scoreboard = Scoreboard(block="x")
    answers.close(scoreboard, "x (no stalls)")
    assert sink.on_beat == sink.beats.append and [b.payload for b in sink.beats] == [2, 3, 5, 4]
    assert scoreboard.mismatches == 1
    assert scoreboard.failures == ["x (no stalls): 1 out beats after the batch's last answer"]


def test_timeline() -> None:
    class Beat:
        def __init__(self, edge: int) -> None:
            self.edge = edge

    timeline = Timeline()
    assert timeline.describe() == "cmd never transferred"
    for stream, edge in [("cmd", 10), ("weights", 11), ("acts", 12), ("weights", 13)]:
        timeline.record(stream, edge)
    timeline.out = [Beat(20), Beat(22)]
    assert timeline.measured_cycles == 12
    assert timeline.describe() == (
        "edges after cmd: weights 1..3 (2 beats), acts 2..2 (1 beats), out [10, 12]"
    )


def test_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_verilator() -> None:
        raise RuntimeError("not installed")

    monkeypatch.setattr(runner, "verilator_root", no_verilator)
    monkeypatch.setattr(runner.shutil, "which", lambda tool: None if tool == "g++" else tool)
    with pytest.raises(runner.RtlToolError, match=r"'verilator' Python package.*'g\+\+' on PATH"):
        runner.require_toolchain()
    with pytest.raises(runner.RtlToolError, match=r"g\+\+"):
        runner.build(runner.RtlTarget("x", lambda c: c), TopKConfig())
