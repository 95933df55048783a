"""SpAtten's quick-select top-k engine (work in progress: layouts first)."""

from amaranth import signed, unsigned
from amaranth.lib import data

from hw.topk_config import TopKConfig


def value_shape(config: TopKConfig) -> object:
    """Amaranth shape of one value."""
    return signed(config.width) if config.signed else unsigned(config.width)


def cmd_layout(config: TopKConfig) -> data.StructLayout:
    """Payload of the ``cmd`` stream: one beat per request."""
    return data.StructLayout({"n": config.count_width, "k": config.count_width})


def din_layout(config: TopKConfig) -> data.ArrayLayout:
    """Payload of the ``din`` stream: P values per beat, lane i is value ``beat * P + i``."""
    return data.ArrayLayout(value_shape(config), config.lanes)


def dout_layout(config: TopKConfig) -> data.StructLayout:
    """Payload of the ``dout`` stream: up to P kept (index, value) pairs per beat."""
    return data.StructLayout({
        "index": data.ArrayLayout(config.index_width, config.lanes),
        "value": data.ArrayLayout(value_shape(config), config.lanes),
        "count": range(config.lanes + 1),
        "last": 1,
        "error": 1,
    })
