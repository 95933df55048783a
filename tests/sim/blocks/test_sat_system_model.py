"""The system's cycle model with a memory that stalls: the expected time of each handshake."""

import pytest

from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.sim.blocks.sat_system import program_timing, read_rows, write_rows
from sparsa.sim.rtl.sat_system.cases import gemm_cases

CONFIG = SAT_SYSTEM_CONFIGS["r4c4-int8-w64"]


def test_a_read_and_a_write_take_the_expected_handshakes() -> None:
    axi = CONFIG.axi
    # 8 words of 64 bits as 8 rows of 64 bits: address in cycle 1, the first beat read_latency
    # later, one beat a cycle, each row the cycle after its word.
    assert read_rows(axi, 0, 0, 8, 8, 64, 5) == 1 + 5 + 7 + 1
    # Each handshake takes 1 / (1 - stall) cycles on average: 2 at stall 0.5.
    assert read_rows(axi, 0, 0, 8, 8, 64, 5, stall=0.5) == 2 + 5 + 1 + 7 * 2 + 1
    assert write_rows(axi, 0, 8, 8, 64, 0, stall=0.5) > write_rows(axi, 0, 8, 8, 64, 0)
    with pytest.raises(ValueError, match=r"stall must be a probability in \[0, 1\), not 1"):
        read_rows(axi, 0, 0, 8, 8, 64, 5, stall=1)


def test_stalls_lengthen_every_program_and_none_changes_nothing() -> None:
    for case in gemm_cases(CONFIG, seed=2)[:6]:
        args = (CONFIG, list(case.program))
        kwargs = {"program_addr": case.job.program_addr, "read_latency": 10}
        exact = program_timing(*args, **kwargs)
        assert program_timing(*args, **kwargs, stall=0.0) == exact
        assert isinstance(exact.cycles, int)
        slower = [program_timing(*args, **kwargs, stall=s).cycles for s in (0.1, 0.3, 0.5)]
        assert exact.cycles < slower[0] < slower[1] < slower[2], case.name
