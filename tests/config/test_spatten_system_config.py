"""Tests of :mod:`sparsa.config.spatten_system`: the configuration's checks and sizes, the
descriptor's encoding, the register map."""

import itertools

import pytest

from sparsa.config.axi import AxiConfig
from sparsa.config.spatten_system import (
    COUNTERS,
    DESCRIPTOR_BITS,
    DESCRIPTOR_FIELDS,
    SPATTEN_SYSTEM_REGISTERS,
    SpattenSystemConfig,
    encode_descriptor,
)


def test_the_default_rows_fill_whole_words() -> None:
    cfg = SpattenSystemConfig()
    assert cfg.core.dim == 32 and cfg.axi.data_width == 256
    # q and v: 32 x 12 bits; k_msb: 32 x 8; k_lsb: 32 x 4.
    assert {p: cfg.row_words(p) for p in ("q", "k_msb", "k_lsb", "v")} == {
        "q": 2, "k_msb": 1, "k_lsb": 1, "v": 2}
    assert cfg.output_words == 2 + 1  # 384 output bits, then the status word
    assert cfg.descriptor_words == DESCRIPTOR_BITS // 256
    assert cfg.list_words(16) == 1 and cfg.list_words(17) == 2
    assert cfg.pruning_topk.capacity == max(cfg.core.max_tokens, cfg.core.heads)
    assert cfg.pruning_topk.width == cfg.importance_bits


@pytest.mark.parametrize(("changes", "message"), [
    ({"head_queue": 1}, "head_queue must be an integer from 2 to 64, not 1"),
    ({"axi": AxiConfig(data_width=32)}, "axi.data_width must be from 64 to 512"),
    ({"axi": AxiConfig(data_width=1024, max_burst=4)}, "not 1024"),
    ({"core": "core"}, "core must be an AttentionCoreConfig"),
])
def test_bad_configurations_are_refused_naming_the_field(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        SpattenSystemConfig(**changes)


def test_a_descriptor_places_each_field_at_its_bits() -> None:
    word = encode_descriptor(kept_addr=0x1000, token_keep=48, msb_bits=6)
    lsb, width = DESCRIPTOR_FIELDS["token_keep"]
    assert word >> lsb & ((1 << width) - 1) == 48
    assert word >> DESCRIPTOR_FIELDS["kept_addr"][0] & 0xFFFF == 0x1000
    assert word >> DESCRIPTOR_FIELDS["msb_bits"][0] & 0xF == 6
    assert word < 1 << DESCRIPTOR_BITS
    ends = sorted((lsb, lsb + width) for lsb, width in DESCRIPTOR_FIELDS.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))  # no overlap


@pytest.mark.parametrize(("fields", "message"), [
    ({"tokens": 3}, "a descriptor has no field 'tokens'"),
    ({"msb_bits": 16}, "msb_bits = 16 does not fit 4 bits"),
    ({"v_keep": -1}, "v_keep = -1 does not fit 16 bits"),
])
def test_bad_descriptor_fields_are_refused(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        encode_descriptor(**fields)


def test_every_counter_has_two_registers() -> None:
    names = {r.name for r in SPATTEN_SYSTEM_REGISTERS}
    for counter in COUNTERS:
        assert {f"{counter}_lo", f"{counter}_hi"} <= names
    assert SPATTEN_SYSTEM_REGISTERS["control"].strobe
