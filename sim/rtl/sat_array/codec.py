"""Pack and unpack the stream payloads of SAT's PE array and SORE with the RTL's own Amaranth
layouts."""

from dataclasses import dataclass

from sparsa.config.sat import SatArrayConfig, SoreConfig
from sparsa.hw.sat import sat_array, sore
from sparsa.sim.rtl.topk.codec import LayoutCodec

__all__ = ["OutBeat", "SatArrayCodec", "SoreBeat", "SoreCodec"]


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
    structures of :class:`sparsa.dataflow.sat_tiles.Tile`) to bits, ``out`` bits to :class:`OutBeat`."""

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


@dataclass(frozen=True)
class SoreBeat:
    """One decoded SORE ``out`` beat: per lane its M - 1 (value, index) entries."""

    lanes: tuple[tuple[tuple[int, int], ...], ...]
    direction: int
    last: bool
    error: bool
    edge: int

    def describe(self) -> str:
        """Short text for failure reports."""
        return (f"direction={self.direction} last={int(self.last)} error={int(self.error)} "
                f"edge={self.edge}")


class SoreCodec(LayoutCodec):
    """Payload codec of one SORE configuration: ``cmd`` and ``weights`` beats to bits, ``out``
    bits to :class:`SoreBeat`."""

    def __init__(self, config: SoreConfig) -> None:
        layouts = {
            "cmd": sore.cmd_layout(config),
            "weights": sore.weights_layout(config),
            "out": sore.out_layout(config),
        }
        super().__init__(layouts, "out")

    def out(self, bits: int, edge: int) -> SoreBeat:
        """Decode the bits of an ``out`` beat transferred at ``edge``."""
        view = self.unpack(bits)
        lanes = tuple(tuple((e["value"], e["index"]) for e in lane) for lane in view["lanes"])
        return SoreBeat(lanes, view["direction"], bool(view["last"]), bool(view["error"]), edge)
