"""A wrong answer of the PE array is a mismatch (amaranth.sim).

Replay files are tested in ``test_replays.py``; the Verilator runs of the array's
configurations are in ``test_rtl_blocks.py``.
"""


import pytest

from sparsa.config.presets import SAT_ARRAY_CONFIGS


def test_a_wrong_answer_is_a_mismatch() -> None:
    # A per-tile golden model off by one: every tile's answer is a mismatch (the GEMM check
    # reassembles the RTL's own outputs against the GEMM-level golden, which still agrees).
    from sparsa.sim.rtl.harness import run_amaranth
    from sparsa.sim.rtl.sat_array import scoreboard
    from sparsa.sim.rtl.sat_array.block import SatArrayBlock

    right = scoreboard.compressed_matmul
    config, block = SAT_ARRAY_CONFIGS["r5c3-int8"], SatArrayBlock()
    batch = block.plan(config, 7, 1, stalls=False)[0]
    batch = type(batch)(cases=batch.cases[:12], stalls=batch.stalls, seed=batch.seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoreboard, "compressed_matmul", lambda *a, **k: right(*a, **k) + 1)
        result = run_amaranth(block, config, [batch], seed=7)
    tiles = result.counts["tiles"]
    assert tiles > 0 and result.mismatches == tiles and result.cycle_mismatches == 0
    assert "values differ" in result.failures[0]
