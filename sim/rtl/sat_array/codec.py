"""Pack and unpack the stream payloads of SAT's PE array with the RTL's own Amaranth layouts
(:func:`sparsa.hw.sat.sat_array.cmd_layout`, ``weights_layout``, ``acts_layout``,
``out_layout``)."""

from dataclasses import dataclass

from sparsa.config.sat import SatArrayConfig
from sparsa.hw.sat import sat_array
from sparsa.sim.rtl.topk.codec import LayoutCodec

__all__ = ["OutBeat", "SatArrayCodec"]


@dataclass(frozen=True)
class OutBeat:
    """One decoded ``out`` beat and the rising edge at which it was transferred."""

    value: tuple[int, ...]
    last: bool
    error: bool
    edge: int

    def describe(self) -> str:
        """Short text for failure reports."""
        return f"last={int(self.last)} error={int(self.error)} edge={self.edge} {list(self.value)}"


class SatArrayCodec(LayoutCodec):
    """Payload codec of one array configuration: ``cmd``, ``weights`` and ``acts`` beats (the
    structures of :class:`sparsa.dataflow.sat_tiles.Tile`) to bits, ``out`` bits to
    :class:`OutBeat`."""

    def __init__(self, config: SatArrayConfig) -> None:
        layouts = {
            "cmd": sat_array.cmd_layout(config),
            "weights": sat_array.weights_layout(config),
            "acts": sat_array.acts_layout(config),
            "out": sat_array.out_layout(config),
        }
        super().__init__(layouts, "out")

    def out(self, bits: int, edge: int) -> OutBeat:
        """Decode the bits of an ``out`` beat transferred at ``edge``."""
        view = self.unpack(bits)
        return OutBeat(tuple(view["value"]), bool(view["last"]), bool(view["error"]), edge)
