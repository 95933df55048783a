"""Pack and unpack stream payloads with the RTL's own Amaranth layouts.

:func:`packer` and :func:`unpacker` walk a layout once and return plain-Python functions, which
are what ``layout.const(value).as_bits()`` and ``layout.from_bits(bits)`` compute, about 30
times faster (a wide activation beat of the SAT array takes 0.7 ms with ``const``): nested
lists for array layouts, dicts for struct layouts, ints at the leaves.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Shape, ShapeCastable
from amaranth.lib import data

from hw.topk import cmd_layout, din_layout, dout_layout
from hw.topk_config import TopKConfig

__all__ = ["DoutBeat", "LayoutCodec", "TopKCodec", "packer", "unpacker"]


def _leaf_bounds(shape: ShapeCastable) -> tuple[int, int, bool]:
    cast = Shape.cast(shape)
    width = cast.width
    if cast.signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1, True
    return 0, (1 << width) - 1, False


def packer(shape: ShapeCastable) -> Callable[[Any], int]:
    """Return a function from a value of ``shape`` (nested lists/dicts of ints) to its bits.

    Leaves are checked against their width (a ``range`` shape accepts any value its bits hold,
    so that out-of-range command codes can be sent on purpose).
    """
    if isinstance(shape, data.Layout):
        fields = [(key, field.offset, packer(field.shape)) for key, field in shape]

        def pack_layout(value: Any) -> int:
            if len(value) != len(fields):
                raise ValueError(f"{shape!r} has {len(fields)} fields, got {len(value)} values")
            bits = 0
            for key, offset, pack in fields:
                bits |= pack(value[key]) << offset
            return bits

        return pack_layout
    lo, hi, _ = _leaf_bounds(shape)
    mask = (1 << Shape.cast(shape).width) - 1

    def pack_leaf(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"{value!r} does not fit {shape!r} ({lo}..{hi})")
        return value & mask

    return pack_leaf


def unpacker(shape: ShapeCastable) -> Callable[[int], Any]:
    """Return a function from bits to the value of ``shape`` (inverse of :func:`packer`)."""
    if isinstance(shape, data.ArrayLayout | data.StructLayout):
        fields = [(key, field.offset, unpacker(field.shape)) for key, field in shape]
        if isinstance(shape, data.ArrayLayout):
            return lambda bits: [unpack(bits >> offset) for _, offset, unpack in fields]
        return lambda bits: {key: unpack(bits >> offset) for key, offset, unpack in fields}
    if isinstance(shape, data.Layout):
        raise TypeError(f"unpacker handles array and struct layouts, not {shape!r}")
    width = Shape.cast(shape).width
    mask = (1 << width) - 1
    if _leaf_bounds(shape)[2]:
        sign = 1 << (width - 1)
        return lambda bits: ((bits & mask) ^ sign) - sign
    return lambda bits: bits & mask


class LayoutCodec:
    """Packers of a component's input streams and the unpacker of its output stream.

    Parameters
    ----------
    layouts : mapping of str to data.Layout
        Payload layout of every stream, by stream name.
    output : str
        The output stream (the others are inputs).
    """

    def __init__(self, layouts: Mapping[str, data.Layout], output: str) -> None:
        self._widths = {name: layout.size for name, layout in layouts.items()}
        self._pack = {name: packer(lay) for name, lay in layouts.items() if name != output}
        self._unpack = unpacker(layouts[output])

    @property
    def payload_widths(self) -> dict[str, int]:
        """Bits of each stream's payload port, by stream name."""
        return dict(self._widths)

    def pack(self, stream: str, value: Any) -> int:
        """Bits of one beat of an input stream."""
        return self._pack[stream](value)

    def unpack(self, bits: int) -> Any:
        """Value of one beat of the output stream."""
        return self._unpack(bits)


@dataclass(frozen=True)
class DoutBeat:
    """One decoded dout beat and the rising edge at which it was transferred."""

    index: tuple[int, ...]
    value: tuple[int, ...]
    count: int
    last: bool
    error: bool
    edge: int

    def describe(self) -> str:
        """Short text for failure reports (only the lanes below ``count``)."""
        pairs = list(zip(self.index[: self.count], self.value[: self.count], strict=True))
        return (
            f"count={self.count} last={int(self.last)} error={int(self.error)} "
            f"edge={self.edge} pairs={pairs}"
        )


class TopKCodec(LayoutCodec):
    """Payload codec of one configuration: ``cmd``/``din`` to bits, bits to :class:`DoutBeat`."""

    def __init__(self, config: TopKConfig) -> None:
        layouts = {
            "cmd": cmd_layout(config),
            "din": din_layout(config),
            "dout": dout_layout(config),
        }
        super().__init__(layouts, "dout")

    def cmd(self, n: int, k: int) -> int:
        """Bits of a cmd beat."""
        return self.pack("cmd", {"n": n, "k": k})

    def din(self, lanes: Sequence[int]) -> int:
        """Bits of a din beat (one value per lane)."""
        return self.pack("din", list(lanes))

    def dout(self, bits: int, edge: int) -> DoutBeat:
        """Decode the bits of a dout beat transferred at ``edge``."""
        view = self.unpack(bits)
        return DoutBeat(
            index=tuple(view["index"]),
            value=tuple(view["value"]),
            count=view["count"],
            last=bool(view["last"]),
            error=bool(view["error"]),
            edge=edge,
        )
