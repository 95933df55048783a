"""AxiConfig: validation and the burst cutting every engine and model follows."""

import pytest

from sparsa.config.axi import AXI_BOUNDARY, AxiConfig


def test_bursts_stop_at_the_length_limit_and_at_each_4k_boundary() -> None:
    c = AxiConfig(data_width=64, max_burst=16)
    assert c.bursts(0, 16) == [(0, 16)]
    assert c.bursts(0, 33) == [(0, 16), (128, 16), (256, 1)]
    # 2 words before a page end: a burst of 2, then full bursts from the page start.
    assert c.bursts(AXI_BOUNDARY - 16, 20) == [(AXI_BOUNDARY - 16, 2), (AXI_BOUNDARY, 16),
                                               (AXI_BOUNDARY + 128, 2)]


@pytest.mark.parametrize("seed", range(5))
def test_bursts_cover_the_transfer_exactly(seed: int) -> None:
    import random

    rng = random.Random(seed)
    c = AxiConfig(data_width=512, max_burst=64)
    addr, words = rng.randrange(0, 1 << 20, 64), rng.randint(1, 5000)
    bursts = c.bursts(addr, words)
    assert sum(b for _, b in bursts) == words
    for (a, b), nxt in zip(bursts, [*bursts[1:], None], strict=True):
        assert 1 <= b <= 64 and a // AXI_BOUNDARY == (a + b * 64 - 1) // AXI_BOUNDARY
        assert nxt is None or nxt[0] == a + b * 64


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data_width": 48}, "data_width must be a power of two"),
        ({"max_burst": 3}, "max_burst must be a power of two"),
        ({"max_burst": 128}, "crosses the 4096-byte boundary"),
        ({"max_reads": 0}, "max_reads must be an integer from 1 to 64"),
        ({"addr_width": 8}, "addr_width must be an integer from 16 to 64"),
    ],
)
def test_bad_configs_name_the_value(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AxiConfig(**changes)


def test_a_transfer_must_be_word_aligned() -> None:
    with pytest.raises(ValueError, match="multiple of the word, 64 bytes, not 32"):
        AxiConfig().bursts(32, 1)
