"""Tests of :mod:`sparsa.config.topk`: validation messages and derived properties."""

import dataclasses
import re

import pytest

from sparsa.config.lfsr import LFSR_WIDTH
from sparsa.config.topk import MAX_LANES, MAX_WIDTH, PivotMode, TopKConfig

LARGEST_16_BIT = (1 << LFSR_WIDTH) - 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        *(
            ({name: value}, f"{name} must be a power of two from 1 to {MAX_LANES}, not {value!r}")
            for name in ("lanes", "comparators")
            for value in (0, -4, 3, 12, 2 * MAX_LANES, 8.0, "8")
        ),
        *(
            ({"capacity": value}, f"capacity must be an integer from 1 to {LARGEST_16_BIT}, "
             f"not {value!r}")
            for value in (0, -1, LARGEST_16_BIT + 1, 10.0)
        ),
        ({"width": 1}, f"width of signed values must be from 2 to {MAX_WIDTH} bits, not 1"),
        ({"width": MAX_WIDTH + 1},
         f"width of signed values must be from 2 to {MAX_WIDTH} bits, not {MAX_WIDTH + 1}"),
        ({"width": 0, "signed": False},
         f"width of unsigned values must be from 1 to {MAX_WIDTH} bits, not 0"),
        ({"width": "16", "signed": False},
         f"width of unsigned values must be from 1 to {MAX_WIDTH} bits, not '16'"),
        ({"pivot": "lfsr"}, "pivot must be one of ['middle', 'lfsr'], not 'lfsr'"),
        ({"pivot": None}, "pivot must be one of ['middle', 'lfsr'], not None"),
        *(
            ({"seed": value}, f"seed must be an integer from 1 to {LARGEST_16_BIT}, not {value!r}")
            for value in (0, -1, LARGEST_16_BIT + 1, 1.5)
        ),
    ],
)
def test_invalid_parameter_is_named_with_its_value(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TopKConfig(**changes)


@pytest.mark.parametrize("lanes", [1 << i for i in range(7)])
def test_every_power_of_two_up_to_the_maximum_is_accepted(lanes: int) -> None:
    config = TopKConfig(lanes=lanes, comparators=lanes)
    assert (config.lanes, config.comparators) == (lanes, lanes)


def test_extreme_valid_values() -> None:
    TopKConfig(capacity=1, width=1, signed=False, seed=1)
    TopKConfig(capacity=LARGEST_16_BIT, width=MAX_WIDTH, seed=LARGEST_16_BIT)
    TopKConfig(width=2, signed=True, pivot=PivotMode.MIDDLE)


def test_config_is_frozen_and_keyword_only() -> None:
    config = TopKConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lanes = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        TopKConfig(8)  # type: ignore[misc]


def test_replace_returns_a_validated_copy() -> None:
    config = TopKConfig()
    assert config.replace(lanes=4) == TopKConfig(lanes=4)
    assert config.lanes == TopKConfig().lanes
    with pytest.raises(ValueError, match="lanes must be a power of two"):
        config.replace(lanes=5)


@pytest.mark.parametrize(
    ("capacity", "count_width", "index_width"),
    [(1, 2, 1), (2, 2, 1), (3, 3, 2), (4, 3, 2), (1000, 10, 10), (1024, 11, 10), (1025, 11, 11),
     (LARGEST_16_BIT, 17, 16)],
)
def test_count_and_index_widths(capacity: int, count_width: int, index_width: int) -> None:
    config = TopKConfig(capacity=capacity)
    assert config.count_width == count_width
    assert config.index_width == index_width
    # n and k up to capacity + 1 (one past the contract) fit, with no bit to spare; every
    # index fits.
    assert capacity + 1 < 1 << config.count_width
    assert capacity + 1 >= 1 << (config.count_width - 1)
    assert capacity - 1 < 1 << config.index_width


@pytest.mark.parametrize(
    ("width", "signed", "value_range"),
    [(1, False, (0, 1)), (8, False, (0, 255)), (2, True, (-2, 1)), (16, True, (-32768, 32767)),
     (32, True, (-(1 << 31), (1 << 31) - 1)), (32, False, (0, (1 << 32) - 1))],
)
def test_value_range(width: int, signed: bool, value_range: tuple[int, int]) -> None:
    assert TopKConfig(width=width, signed=signed).value_range == value_range


@pytest.mark.parametrize(("lanes", "comparators"), [(1, 1), (8, 16), (16, 8), (64, 1)])
def test_row_lanes_is_the_wider_port(lanes: int, comparators: int) -> None:
    config = TopKConfig(lanes=lanes, comparators=comparators)
    assert config.row_lanes == max(lanes, comparators)
