"""The named configurations: each test configuration's name spells out its fields."""

import pytest

from sparsa.config import presets
from sparsa.config.presets import ATTENTION_CONFIGS, SAT_ARRAY_CONFIGS, TOPK_CONFIGS


def test_names_spell_out_the_configurations():
    for name, c in TOPK_CONFIGS.items():
        sign = "s" if c.signed else "u"
        pivot = c.pivot.name.lower()
        assert name == f"p{c.lanes}w{c.width}{sign}-c{c.comparators}-{pivot}-n{c.capacity}"
    for name, c in SAT_ARRAY_CONFIGS.items():
        latency = f"-a{c.add_latency}" if c.add_latency > 1 else ""
        assert name == f"r{c.rows}c{c.cols}-{c.dtype.value}{latency}"
    for name, c in ATTENTION_CONFIGS.items():
        assert name == f"d{c.attention.dim}-m{c.multipliers}-n{c.attention.max_tokens}"
        assert c.attention.msb_bits == 8


@pytest.mark.parametrize(("build", "args"), [
    (presets._topk, ("p8w8x-c1-middle-n64",)),
    (presets._sat_array, ("r8c8-fp8", "2:4")),
    (presets._attention_core, ("d32-n64", (15, 18), {})),
])
def test_a_name_that_spells_nothing_is_rejected(build, args):
    with pytest.raises(ValueError, match=r"not an? .* configuration name: '"):
        build(*args)
