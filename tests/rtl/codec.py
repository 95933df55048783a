"""Pack and unpack the engine's stream payloads with the RTL's own Amaranth layouts."""

from collections.abc import Sequence
from dataclasses import dataclass

from hw.topk import cmd_layout, din_layout, dout_layout
from hw.topk_config import TopKConfig

__all__ = ["DoutBeat", "TopKCodec"]


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


class TopKCodec:
    """Payload codec of one configuration: ``cmd``/``din`` to bits, bits to :class:`DoutBeat`."""

    def __init__(self, config: TopKConfig) -> None:
        self._cmd = cmd_layout(config)
        self._din = din_layout(config)
        self._dout = dout_layout(config)

    @property
    def payload_widths(self) -> dict[str, int]:
        """Bits of each stream's payload port, by stream name."""
        return {"cmd": self._cmd.size, "din": self._din.size, "dout": self._dout.size}

    def cmd(self, n: int, k: int) -> int:
        """Bits of a cmd beat."""
        return self._cmd.const({"n": n, "k": k}).as_bits()

    def din(self, lanes: Sequence[int]) -> int:
        """Bits of a din beat (one value per lane)."""
        return self._din.const(list(lanes)).as_bits()

    def dout(self, bits: int, edge: int) -> DoutBeat:
        """Decode the bits of a dout beat transferred at ``edge``."""
        view = self._dout.from_bits(bits)
        return DoutBeat(
            index=tuple(view.index),
            value=tuple(view.value),
            count=int(view.count),
            last=bool(view.last),
            error=bool(view.error),
            edge=edge,
        )
