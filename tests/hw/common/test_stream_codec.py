"""Tests of :mod:`sparsa.hw.common.stream_codec`: leaves of an enumeration shape."""

import pytest
from amaranth import signed
from amaranth.lib import data
from amaranth.lib import enum as hw_enum

from sparsa.config.sat import BdwpPass, Dataflow, SatArrayConfig, SoreConfig
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.hw.sat import sat_array, sore


class Mode(hw_enum.Enum, shape=2):
    IDLE = 0
    RUN = 1
    HALT = 3


class Level(hw_enum.Enum, shape=signed(2)):
    LOW = -2
    HIGH = 1


LAYOUT = data.StructLayout(
    {
        "modes": data.ArrayLayout(Mode, 2),
        "level": Level,
        "direction": BdwpPass,
    }
)


def test_enum_leaves_pack_members_or_codes_like_const_and_unpack_to_members():
    pack, unpack = packer(LAYOUT), unpacker(LAYOUT)
    value = {"modes": [Mode.HALT, Mode.RUN], "level": Level.LOW, "direction": BdwpPass.BP}
    bits = pack(value)
    assert bits == LAYOUT.const(value).as_value().value
    assert unpack(bits) == value
    assert unpack(bits)["level"] is Level.LOW and unpack(bits)["direction"] is BdwpPass.BP
    assert pack({"modes": [3, 1], "level": -2, "direction": 1}) == bits  # the integer codes


def test_an_enum_leaf_keeps_a_code_that_is_no_members_value():
    unpack = unpacker(LAYOUT)
    assert unpack(2)["modes"] == [2, Mode.IDLE]  # 2 is not a Mode: sent on purpose, or a bug
    assert unpack(packer(LAYOUT)({"modes": [0, 0], "level": -1, "direction": 0}))["level"] == -1
    with pytest.raises(ValueError, match="does not fit"):
        packer(LAYOUT)({"modes": [4, 0], "level": 0, "direction": 0})


def test_block_payloads_decode_their_codes_to_members():
    cmd = sat_array.cmd_layout(SatArrayConfig(rows=2, cols=2, max_reduction=8))
    beat = {"dataflow": Dataflow.WS, "pattern": 1, "length_m1": 3, "rows_m1": 1}
    assert unpacker(cmd)(packer(cmd)(beat))["dataflow"] is Dataflow.WS
    out = sore.out_layout(SoreConfig(lanes=2, m=2))
    lanes = [[{"value": -1, "index": 1}]] * 2
    beat = {"lanes": lanes, "direction": BdwpPass.BP, "last": 1, "error": 0}
    assert unpacker(out)(packer(out)(beat)) == beat
