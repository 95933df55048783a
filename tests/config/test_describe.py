"""Configurations described for a reader: values, not Python reprs."""

from sparsa.config.describe import describe
from sparsa.config.presets import DEFAULT_TOPK, SAT_SYSTEM_CONFIGS


def test_enumerations_patterns_and_nested_configs_read_as_values() -> None:
    assert describe(DEFAULT_TOPK) == ("TopKConfig(lanes=8, comparators=16, capacity=1024, "
                                      "width=16, signed=True, pivot=lfsr, seed=44257)")
    system = describe(SAT_SYSTEM_CONFIGS["r4c4-fp16-w64"])
    assert system.startswith("SatSystemConfig(array=SatArrayConfig(rows=4, cols=4, "
                             "patterns=(2:4, 2:8), dtype=fp16, ")
    assert "<" not in system and "NMPattern" not in system
    assert describe((1,)) == "(1,)" and describe(()) == "()"
