"""DRAM model: burst rounding, channel interleaving, transfer time and double-buffered overlap."""

import dataclasses
import json

import numpy as np
import pytest

from sparsa.sim.network.dram import (
    DIRECTIONS,
    TENSOR_CLASSES,
    DramTraffic,
    overlap,
    transfer_cycles,
    transfer_seconds,
)
from sparsa.sim.network.target import DramSpec, load_target

SPEC = DramSpec(kind="test", channels=4, channel_bytes_per_s=10e9, burst_bytes=64,
                efficiency=1.0, read_pj_per_bit=1.0, write_pj_per_bit=1.0)


def test_each_transfer_is_rounded_up_to_whole_bursts():
    traffic = DramTraffic(SPEC)
    traffic.add("weights", "read", np.array([1, 64, 65, 0, 200]))
    assert traffic.bursts() == 1 + 1 + 2 + 0 + 4
    assert traffic.bytes() == 8 * 64
    assert traffic.requested_bytes() == 330
    traffic.add("weights", "read", 1, transfers=3)
    assert traffic.bursts() == 11
    assert traffic.requested_bytes() == 333
    traffic.add("weights", "read", [])
    traffic.add("weights", "read", 100, transfers=0)
    assert traffic.bursts() == 11


def test_interleaving_is_burst_round_robin_continuing_across_adds():
    traffic = DramTraffic(SPEC)
    traffic.add("activations", "read", 5 * 64)  # bursts on channels 0 1 2 3 0
    assert traffic.by_channel() == [128, 64, 64, 64]
    traffic.add("outputs", "write", 3 * 64)  # channels 1 2 3
    assert traffic.by_channel() == [128, 128, 128, 128]
    assert [traffic.bytes("outputs", channel=c) for c in range(4)] == [0, 64, 64, 64]
    traffic.add("weights", "read", 64 * 7, channel=2)  # pinned: the round-robin stays put
    assert traffic.by_channel() == [128, 128, 576, 128]
    traffic.add("weights", "read", 64)  # channel 0 is next
    assert traffic.bytes("weights", channel=0) == 64


def test_padding_is_charged_to_the_channel_of_the_last_burst():
    traffic = DramTraffic(SPEC)
    traffic.add("k_msb", "read", np.array([65, 10]))  # bursts: ch0 ch1 | ch2
    assert [traffic.bytes(channel=c) for c in range(4)] == [64, 64, 64, 0]
    assert [traffic.requested_bytes(channel=c) for c in range(4)] == [64, 1, 10, 0]
    pinned = DramTraffic(SPEC)
    pinned.add("k_lsb", "write", 100, channel=3, transfers=2)
    assert pinned.bytes(channel=3) == 256
    assert pinned.requested_bytes(channel=3) == 200


def _loop_of_scalar_adds(spec, sizes, transfers, **kwargs):
    traffic = DramTraffic(spec)
    for _ in range(transfers):
        for size in sizes:
            traffic.add("gradients", "write", int(size), **kwargs)
    return traffic


@pytest.mark.parametrize("channels", [1, 3, 4, 16])
@pytest.mark.parametrize("transfers", [1, 2, 5, 12])
def test_vectorised_add_equals_a_loop_of_scalar_adds(channels, transfers):
    rng = np.random.default_rng(channels * 100 + transfers)
    spec = dataclasses.replace(SPEC, channels=channels, burst_bytes=32)
    for _ in range(5):
        sizes = rng.integers(0, 300, size=int(rng.integers(1, 40)))
        start = int(rng.integers(0, 100))  # move the round-robin somewhere first
        vector = DramTraffic(spec)
        vector.add("weights", "read", start)
        vector.add("gradients", "write", sizes, transfers=transfers)
        loop = DramTraffic(spec)
        loop.add("weights", "read", start)
        for _ in range(transfers):
            for size in sizes:
                loop.add("gradients", "write", int(size))
        for channel in range(channels):
            for query in ("bursts", "bytes", "requested_bytes"):
                assert (getattr(vector, query)("gradients", "write", channel)
                        == getattr(loop, query)("gradients", "write", channel))
        assert vector.to_dict() == loop.to_dict()


def test_vectorised_add_on_a_pinned_channel_equals_a_loop():
    rng = np.random.default_rng(7)
    sizes = rng.integers(0, 1000, size=(10, 3))  # any shape: a sequence of 30 transfers
    vector = DramTraffic(SPEC)
    vector.add("indices", "read", sizes, channel=1, transfers=4)
    loop = _loop_of_scalar_adds(SPEC, sizes.ravel(), 4, channel=1)
    assert vector.to_dict()["by_channel"] == [0, loop.bytes("gradients"), 0, 0]
    assert vector.requested_bytes() == loop.requested_bytes() == 4 * int(sizes.sum())


def test_large_vectorised_add_is_exact():
    sizes = np.arange(100_000, dtype=np.int64)
    traffic = DramTraffic(SPEC)
    traffic.add("activations", "read", sizes, transfers=3)
    bursts = 3 * int(((sizes + 63) // 64).sum())
    assert traffic.bursts() == bursts
    assert traffic.requested_bytes() == 3 * int(sizes.sum())
    assert sum(traffic.by_channel()) == traffic.bytes() == 64 * bursts
    assert max(traffic.by_channel()) - min(traffic.by_channel()) <= 64


def test_queries_summaries_and_json():
    traffic = DramTraffic(SPEC)
    traffic.add("weights", "read", 100)
    traffic.add("weights", "write", 64)
    traffic.add("v_msb", "read", 1)
    by_class = traffic.by_class()
    assert list(by_class) == list(TENSOR_CLASSES)
    assert by_class["weights"] == {"read": 128, "write": 64}
    assert by_class["v_msb"] == {"read": 64, "write": 0}
    assert traffic.bytes(direction="read") == 192
    assert traffic.bytes("weights") == 192
    assert sum(traffic.by_channel()) == traffic.bytes() == 256
    summary = json.loads(json.dumps(traffic.to_dict()))
    assert summary["bytes"] == 256 and summary["requested_bytes"] == 165
    assert summary["requested_by_class"]["weights"] == {"read": 100, "write": 64}


def test_merge_adds_counts_and_moves_the_round_robin_on():
    first, second = DramTraffic(SPEC), DramTraffic(SPEC)
    first.add("weights", "read", 3 * 64)
    second.add("outputs", "write", 2 * 64 + 1)
    first.merge(second)
    assert first.bytes() == 6 * 64
    assert first.requested_bytes() == 5 * 64 + 1
    assert first.by_class()["outputs"] == {"read": 0, "write": 3 * 64}
    first.add("q", "read", 64)  # 3 + 3 bursts so far: channel 2
    assert first.bytes("q", channel=2) == 64
    with pytest.raises(ValueError, match="cannot merge traffic counted for 8 channels"):
        first.merge(DramTraffic(dataclasses.replace(SPEC, channels=8)))


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("keys", "read", 1), {}, "tensor_class must be one of"),
    (("weights", "load", 1), {}, "direction must be one of"),
    (("weights", "read", -1), {}, "nbytes must be non-negative"),
    (("weights", "read", 1.5), {}, "nbytes must be a non-negative integer"),
    (("weights", "read", np.array([1.0])), {}, "nbytes must be a non-negative integer"),
    (("weights", "read", True), {}, "nbytes must be a non-negative integer"),
    (("weights", "read", 1), {"channel": 4}, "channel must be None or an integer from 0 to 3"),
    (("weights", "read", 1), {"channel": -1}, "channel must be None or an integer from 0 to 3"),
    (("weights", "read", 1), {"transfers": -2}, "transfers must be a non-negative integer"),
])
def test_add_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DramTraffic(SPEC).add(*args, **kwargs)


def test_queries_reject_bad_filters():
    traffic = DramTraffic(SPEC)
    with pytest.raises(ValueError, match="direction must be one of"):
        traffic.bytes(direction="both")
    with pytest.raises(ValueError, match="channel must be None or an integer from 0 to 3"):
        traffic.requested_bytes(channel=9)
    assert DIRECTIONS == ("read", "write")


def test_transfer_time_uses_the_sustained_bandwidth_of_the_channels_used():
    spec = load_target("vcu1525").dram  # 4 x 19.2 GB/s, efficiency 0.9
    assert transfer_seconds(spec, 69_120_000) == pytest.approx(69.12e6 / (76.8e9 * 0.9))
    assert transfer_seconds(spec, 17_280_000, channels_used=1) == pytest.approx(1e-3)
    assert transfer_seconds(spec, 0) == 0.0
    # 17.28 MB on one channel at 0.9 x 19.2 GB/s is 1 ms, 200,000 cycles at 200 MHz.
    assert transfer_cycles(spec, 17_280_000, 200e6, channels_used=1) == 200_000
    assert transfer_cycles(spec, 17_280_001, 200e6, channels_used=1) == 200_001
    with pytest.raises(ValueError, match="channels_used must be None or an integer from 1 to 4"):
        transfer_seconds(spec, 1, channels_used=5)
    with pytest.raises(ValueError, match="nbytes must be a non-negative integer"):
        transfer_cycles(spec, -1, 1e9)
    with pytest.raises(ValueError, match="clock_hz must be a positive number"):
        transfer_cycles(spec, 1, 0)


def test_transfer_cycles_are_exact_for_whole_cycles():
    spec = dataclasses.replace(load_target("spatten-asic").dram, efficiency=1.0)
    # 512 GB/s at 1 GHz: 512 B per cycle.
    assert transfer_cycles(spec, 512, 1e9) == 1
    assert transfer_cycles(spec, 513, 1e9) == 2
    assert transfer_cycles(spec, 512 * 10**9, 1e9) == 10**9
    assert transfer_cycles(spec, 0, 1e9) == 0
    assert transfer_cycles(spec, np.int64(1024), np.float64(1e9)) == 2
    assert transfer_seconds(spec, np.int64(512)) == 1e-9


def _cycle_by_cycle(c, t):
    """Double buffering simulated one cycle at a time: one transfer engine loading the steps in
    order into two buffers, one compute unit; a buffer frees when its step's compute ends."""
    n = len(c)
    loaded, done = [False] * n, [False] * n
    next_t = next_c = 0
    t_cur = c_cur = None
    t_left = c_left = 0
    now = 0
    while True:
        changed = True
        while changed:  # start and finish whatever can at this cycle (zero-length work too)
            changed = False
            if t_cur is None and next_t < n and (next_t < 2 or done[next_t - 2]):
                t_cur, t_left, next_t, changed = next_t, t[next_t], next_t + 1, True
            if t_cur is not None and t_left == 0:
                loaded[t_cur], t_cur, changed = True, None, True
            if c_cur is None and next_c < n and loaded[next_c]:
                c_cur, c_left, next_c, changed = next_c, c[next_c], next_c + 1, True
            if c_cur is not None and c_left == 0:
                done[c_cur], c_cur, changed = True, None, True
        if all(done):
            return now
        now += 1
        t_left -= t_cur is not None
        c_left -= c_cur is not None


def test_overlap_equals_a_cycle_by_cycle_simulation():
    rng = np.random.default_rng(2021)
    for _ in range(300):
        n = int(rng.integers(1, 9))
        c = rng.integers(0, 8, size=n)
        t = rng.integers(0, 8, size=n)
        total, stall = overlap(c, t)
        assert total == _cycle_by_cycle(list(c), list(t)), (c, t)
        assert stall == total - int(c.sum()) >= 0


def test_overlap_closed_form_on_small_cases():
    assert overlap([], []) == (0, 0)
    assert overlap([5], [3]) == (8, 3)  # nothing to hide the only transfer behind
    assert overlap([3, 1, 4], [2, 5, 1]) == (2 + 5 + 1 + 4, 4)
    assert overlap([10] * 4, [2] * 4) == (42, 2)  # compute-bound: only the first load shows
    assert overlap([1] * 4, [6] * 4) == (25, 21)  # transfer-bound


@pytest.mark.parametrize(("c", "t", "message"), [
    ([1, 2], [1], "same length"),
    ([1.5], [1], "compute_cycles must be a 1-D array of integers"),
    ([[1]], [[1]], "compute_cycles must be a 1-D array of integers"),
    ([1], [-1], "transfer_cycles must be non-negative"),
])
def test_overlap_rejects_bad_input(c, t, message):
    with pytest.raises(ValueError, match=message):
        overlap(c, t)
