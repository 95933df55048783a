"""Fast checks of the generic RTL harness (no simulator): configuration JSON, settings, layout
packing, stalls, timelines and the runner's toolchain check."""

import hashlib
import json
import random

import pytest
from amaranth import Shape
from amaranth.lib import data

from sparsa.config.presets import SAT_ARRAY_CONFIGS, TOPK_CONFIGS
from sparsa.config.sat import IntFormat, SoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.hw.sat.sat_array import acts_layout, cmd_layout, out_layout, weights_layout
from sparsa.sim.rtl import runner
from sparsa.sim.rtl.configs import (
    config_from_json,
    config_hash,
    config_to_json,
    default_seed,
)
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.stalls import Stalls, random_stalls
from sparsa.sim.rtl.topk.codec import packer, unpacker

ALL_CONFIGS = [
    *TOPK_CONFIGS.values(),
    *SAT_ARRAY_CONFIGS.values(),
    SoreConfig(lanes=16, m=8, dtype=IntFormat.INT16),
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
