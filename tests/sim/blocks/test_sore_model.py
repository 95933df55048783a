"""Tests of the SORE cycle model (:mod:`sparsa.sim.blocks.sore`); ``tests/hw/sat/test_sore.py``
checks it against the RTL."""

from itertools import pairwise

import pytest

from sparsa.config.sat import SoreConfig
from sparsa.sim.blocks.sore import REJECT_CYCLES, command_cycles, last_beat_cycles, stream_cycles

CONFIG = SoreConfig()  # M = 8


@pytest.mark.parametrize(("copies", "cycles"), [(1, 17), (2, 17), (3, 25)])
def test_one_command_loads_reduces_each_copy_and_transfers(copies, cycles):
    assert command_cycles(CONFIG, n=2, copies=copies) == cycles  # M + c M + 1
    small = SoreConfig(lanes=4, m=2)
    assert command_cycles(small, n=1, copies=copies) == (1 + copies.bit_count()) * 2 + 1


@pytest.mark.parametrize(("n", "copies"), [(0, 1), (8, 3), (15, 2), (3, 0)])
def test_rejected_commands_take_three_cycles(n, copies):
    assert command_cycles(CONFIG, n=n, copies=copies) == REJECT_CYCLES == 3


def test_the_first_command_of_a_sequence_runs_alone():
    for n, copies in [(1, 1), (7, 3), (0, 3)]:
        assert last_beat_cycles(CONFIG, [(n, copies), (2, 3)])[0] == command_cycles(
            CONFIG, n=n, copies=copies)
    assert last_beat_cycles(CONFIG, []) == []


@pytest.mark.parametrize("copies", [1, 2, 3])
def test_back_to_back_commands_finish_one_every_c_m_cycles(copies):
    ends = last_beat_cycles(CONFIG, [(3, copies)] * 6)
    c = copies.bit_count()
    assert [b - a for a, b in pairwise(ends)] == [c * CONFIG.m] * 5


def test_rejected_commands_between_good_ones():
    M = CONFIG.m
    ends = last_beat_cycles(CONFIG, [(2, 3), (0, 1), (2, 1), (1, 0), (0, 0)])
    # The reject waits for the reducer and answers one cycle after its last beat; the next good
    # command was taken by the loader at the reject's handoff and needs its M rows.
    assert ends[0] == 3 * M + 1
    assert ends[1] == ends[0] + 1
    assert ends[2] == (ends[1] - 2) + M + M + 1
    assert ends[3] == ends[2] + 1 and ends[4] == ends[3] + 1


def test_a_slow_reducer_hides_the_loading():
    # After a both-copies command, the next tile is already loaded when the reducer frees up.
    M = CONFIG.m
    ends = last_beat_cycles(CONFIG, [(2, 3), (2, 1)])
    assert ends[1] - ends[0] == M


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": -1, "copies": 1}, "n must be an integer from 0 to 15 .*not -1"),
    ({"n": 16, "copies": 1}, "n must be an integer from 0 to 15 .*not 16"),
    ({"n": True, "copies": 1}, "n must be an integer from 0 to 15 .*not True"),
    ({"n": 2, "copies": 4}, r"copies must be an integer from 0 to 3 \(1 = FF, 2 = BP, 3 = both\), "
                            "not 4"),
    ({"n": 2, "copies": 1.0}, "copies must be an integer from 0 to 3 .*not 1.0"),
])
def test_fields_the_command_cannot_hold_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        command_cycles(CONFIG, **kwargs)
    with pytest.raises(ValueError, match=message):
        last_beat_cycles(CONFIG, [(kwargs["n"], kwargs["copies"])])


@pytest.mark.parametrize(("m", "n", "copies"), [(2, 1, 1), (4, 2, 3), (8, 2, 2), (16, 15, 3)])
def test_stream_cycles_is_the_closed_form_of_back_to_back_commands(m, n, copies):
    config = SoreConfig(lanes=16, m=m)
    for count in (1, 2, 7):
        assert stream_cycles(config, n=n, copies=copies, count=count) == last_beat_cycles(
            config, [(n, copies)] * count)[-1]
    with pytest.raises(ValueError, match="rejected by the SORE"):
        stream_cycles(config, n=0, copies=1, count=3)
