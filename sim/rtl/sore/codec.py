"""The SORE's stream payloads as plain integers, packed and unpacked with the RTL's own layouts
(:func:`sparsa.hw.sat.sore.cmd_layout`, ``weights_layout``, ``out_layout``)."""

from dataclasses import dataclass

from sparsa.config.sat import BdwpPass, SoreConfig
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.hw.sat.sore import cmd_layout, out_layout, weights_layout

__all__ = ["SoreBeat", "SoreCodec"]


@dataclass(frozen=True)
class SoreBeat:
    """One decoded ``out`` beat and the cycle it crossed in.

    Attributes
    ----------
    lanes : tuple
        Per lane, its M - 1 (value, index) entries.
    direction : BdwpPass or int
        The pass the copy serves (an int only for a code that is no member).
    last, error : bool
    cycle : int
    """

    lanes: tuple[tuple[tuple[int, int], ...], ...]
    direction: BdwpPass | int
    last: bool
    error: bool
    cycle: int

    def describe(self) -> str:
        """Short text for failure reports."""
        direction = getattr(self.direction, "name", self.direction)
        return (f"direction={direction} last={int(self.last)} error={int(self.error)} "
                f"cycle={self.cycle}")


class SoreCodec:
    """Payload codec of one SORE configuration."""

    def __init__(self, config: SoreConfig) -> None:
        self._cmd = packer(cmd_layout(config))
        self._weights = packer(weights_layout(config))
        self._out = unpacker(out_layout(config))

    def cmd(self, n: int, copies: int) -> int:
        """Bits of a ``cmd`` beat."""
        return self._cmd({"n": n, "copies": copies})

    def weights(self, row: tuple[int, ...]) -> int:
        """Bits of a ``weights`` beat (one tile row)."""
        return self._weights(list(row))

    def out(self, bits: int, cycle: int) -> SoreBeat:
        """Decode the bits of an ``out`` beat that crossed in ``cycle``."""
        view = self._out(bits)
        lanes = tuple(tuple((e["value"], e["index"]) for e in lane) for lane in view["lanes"])
        return SoreBeat(lanes, view["direction"], bool(view["last"]), bool(view["error"]), cycle)
