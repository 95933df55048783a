"""A wrong golden answer of the weight-update engine is a mismatch (amaranth.sim).

Replay files are tested in ``test_replays.py``; the Verilator runs of the engine's
configurations are in ``test_rtl_blocks.py``.
"""

import dataclasses

import pytest

from sparsa.config.presets import WEIGHT_UPDATE_CONFIGS
from sparsa.sim.rtl.verify import verify

CONFIG = WEIGHT_UPDATE_CONFIGS["l3-bf16-m1a1-g2-s123-124-126"]


def test_a_wrong_answer_is_a_mismatch() -> None:
    # A golden model whose first updated weight is off by one bit: every applied step is
    # reported, and the run goes on to the end.
    from sparsa.sim.rtl.weight_update import block

    right = block.expected_step

    def wrong(config, state, step):
        answer = right(config, state, step)
        outputs = answer.outputs
        if outputs is not None:
            outputs = {**outputs, "weights": (outputs["weights"][0] ^ 1, *outputs["weights"][1:])}
        return dataclasses.replace(answer, outputs=outputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(block, "expected_step", wrong, raising=True)
        result = verify("weight-update", CONFIG, cases=40, seed=4, backend="amaranth")
    s = result.scoreboard
    assert s.cases >= 40 and s.cycle_mismatches == 0
    assert s.mismatches == s.counts["applied steps"] > 0
    assert s.failures[0].startswith("weight-update step #0 ")
    assert "weights: 1 elements differ: [0]" in s.failures[0]
