"""Tests of :mod:`sparsa.config.sat`: the stream codes as :mod:`amaranth.lib.enum` shapes."""

import json

import pytest
from amaranth import Shape, Signal, unsigned
from amaranth.lib import enum as hw_enum

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import BdwpPass, Dataflow, SatArrayConfig, SoreConfig, as_dataflow


@pytest.mark.parametrize(
    ("enum", "members"),
    [(Dataflow, {"OS": 0, "WS": 1}), (BdwpPass, {"FF": 0, "BP": 1})],
)
def test_codes_are_one_bit_int_enums_with_the_hardware_values(enum, members):
    assert {m.name: m.value for m in enum} == members
    assert isinstance(enum, hw_enum.EnumType) and issubclass(enum, hw_enum.IntEnum)
    assert Shape.cast(enum) == unsigned(1)  # an explicit shape, not inferred from the values
    # IntEnum: the members are their integer codes (what the Verilog, the replay files and the
    # copies mask arithmetic see), and JSON writes them as such.
    assert all(m == m.value and hash(m) == hash(m.value) for m in enum)
    assert json.loads(json.dumps(list(enum))) == list(members.values())
    # As a shape, a signal of the enum is a plain 1-bit value.
    assert len(Signal(enum)) == 1


def test_bdwp_pass_has_no_weight_update_member():
    """WU is dense: no block makes an N:M copy for it, so the hardware never names it."""
    assert "WU" not in BdwpPass.__members__
    assert sum(1 << p for p in BdwpPass) == 3  # the SORE's copies mask: both copies


def test_as_dataflow_takes_a_member_or_its_code():
    for dataflow in Dataflow:
        assert as_dataflow(dataflow) is dataflow
        assert as_dataflow(dataflow.value) is dataflow
    for bad in (2, -1, "OS", None):
        message = rf"dataflow must be OS \(0\) or WS \(1\), not {bad!r}"
        with pytest.raises(ValueError, match=message):
            as_dataflow(bad)


def test_configs_take_a_format_or_its_name_and_reject_others():
    assert SoreConfig(lanes=8, m=8, dtype="bf16").dtype is NumberFormat.BF16
    array = SatArrayConfig(dtype="fp16")
    assert array.dtype is NumberFormat.FP16 and array.acc_width == 32  # an FP32 accumulator
    assert SatArrayConfig(dtype="int8", max_reduction=64).acc_width == 16 + 6
    for make in (lambda: SoreConfig(dtype="int4"), lambda: SatArrayConfig(dtype=8)):
        with pytest.raises(ValueError, match=r"unknown number format .*; allowed: int8, int16"):
            make()
