"""Pack and unpack stream payloads with the RTL's own Amaranth layouts.

:func:`sparsa.hw.common.stream_codec.packer` and :func:`sparsa.hw.common.stream_codec.unpacker`
(re-exported here) do the bit work; :class:`LayoutCodec` and :class:`TopKCodec` bind them to a
component's streams.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amaranth.lib import data

from sparsa.config.topk import TopKConfig
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.hw.topk.topk import cmd_layout, din_layout, dout_layout

__all__ = ["DoutBeat", "LayoutCodec", "TopKCodec", "packer", "unpacker"]


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
