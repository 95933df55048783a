"""Tests of :mod:`sparsa.config.attention_core`: validation messages and derived properties."""

import pytest

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import MAX_HEADS, AttentionCoreConfig
from sparsa.config.topk import PivotMode, TopKConfig

SMALL = AttentionConfig(dim=32, msb_bits=8, max_tokens=100)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attention": "fp16"}, "attention must be an AttentionConfig, not 'fp16'"),
        (
            {"attention": AttentionConfig(msb_bits=12, prob_bits=8, out_bits=18)},
            r"out_bits = 18 is too wide for the 4\+4 setting: at most 17",
        ),
        *(
            (
                {"multipliers": value},
                f"multipliers must be D = 32 times a power of two from 1 to 64, not {value!r}",
            )
            for value in (0, 16, 48, 96, 32 * 128, 64.0, "64")
        ),
        *(
            ({"heads": value}, f"heads must be an integer from 1 to {MAX_HEADS}, not {value!r}")
            for value in (0, MAX_HEADS + 1, 2.0, True)
        ),
        ({"emit_probs": 1}, "emit_probs must be True or False, not 1"),
        ({"comparators": 3}, "comparators must be a power of two from 1 to 64, not 3"),
        ({"seed": 0}, "seed must be an integer from 1 to 65535, not 0"),
        ({"pivot": "lfsr"}, r"pivot must be one of \['middle', 'lfsr'\], not 'lfsr'"),
    ],
)
def test_config_rejects_bad_values(changes, message):
    base = {"attention": SMALL, "multipliers": 64}
    with pytest.raises(ValueError, match=message):
        AttentionCoreConfig(**{**base, **changes})


def test_default_is_spattens_datapath():
    config = AttentionCoreConfig()
    assert (config.dim, config.multipliers, config.lanes) == (64, 512, 8)
    assert config.attention.total_bits == 12
    assert config.max_tokens == 1024 and config.comparators == 16


def test_derived_properties():
    config = AttentionCoreConfig(
        attention=SMALL, multipliers=128, comparators=4, seed=7, pivot=PivotMode.MIDDLE
    )
    assert config.lanes == 4
    assert config.rows == 25
    assert config.msb_settings == (4, 6, 8)
    assert config.topk == TopKConfig(
        lanes=4, comparators=4, capacity=100, width=13, signed=False, pivot=PivotMode.MIDDLE, seed=7
    )
    assert config.golden(6) == SMALL.replace(msb_bits=6)
    assert config.qk_acc_width(4) == 2 * 8 + 5
    assert config.replace(heads=3).heads == 3
    with pytest.raises(ValueError, match=r"msb_bits must be one of \(4, 6, 8\), not 10"):
        config.golden(10)
