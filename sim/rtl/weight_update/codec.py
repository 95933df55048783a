# amaranth: UnusedElaboratable=no
"""The weight-update engine's stream payloads as plain integers, packed and unpacked with the
RTL's own layouts (:func:`sparsa.hw.sat.weight_update.cmd_layout`, ``grads_layout``,
``data_layout``, ``status_layout``, and the payload shapes of the component's ``weights``,
``momentum`` and ``copies`` streams)."""

from collections.abc import Sequence
from dataclasses import dataclass

from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.hw.sat.weight_update import (
    WeightUpdate,
    cmd_layout,
    data_layout,
    grads_layout,
    status_layout,
)
from sparsa.models.golden.weight_update import StepHyper

__all__ = ["OUTPUTS", "LanesBeat", "StatusBeat", "WeightUpdateCodec"]

OUTPUTS = ("weights", "momentum", "copies")  # the per-beat outputs, one beat per data beat


@dataclass(frozen=True)
class LanesBeat:
    """One decoded ``weights``, ``momentum`` or ``copies`` beat and its edge.

    Attributes
    ----------
    values : tuple of int
        Per lane, its FP32 (weights, momentum) or half-precision (copies) pattern.
    edge : int
    """

    values: tuple[int, ...]
    edge: int


@dataclass(frozen=True)
class StatusBeat:
    """One decoded ``status`` beat and its edge."""

    skipped: bool
    scale_log2: int
    clean: int
    edge: int

    def describe(self) -> str:
        """Short text for failure reports."""
        return (f"skipped={int(self.skipped)} scale_log2={self.scale_log2} clean={self.clean} "
                f"edge={self.edge}")


class WeightUpdateCodec:
    """Payload codec of one weight-update configuration."""

    def __init__(self, config: WeightUpdateConfig) -> None:
        self._cmd = packer(cmd_layout(config))
        self._grads = packer(grads_layout(config))
        self._data = packer(data_layout(config))
        self._status = unpacker(status_layout(config))
        engine = WeightUpdate(config)  # its output payload shapes, never elaborated
        self._lanes = {port: unpacker(getattr(engine, port).payload.shape()) for port in OUTPUTS}

    def cmd(self, count: int, hyper: StepHyper) -> int:
        """Bits of a ``cmd`` beat."""
        return self._cmd({"count": count, "lr": hyper.lr, "momentum": hyper.momentum,
                          "weight_decay": hyper.weight_decay, "decay": hyper.decay})

    def grads(self, grads: Sequence[int]) -> int:
        """Bits of a ``grads`` beat (one gradient pattern per lane)."""
        return self._grads(list(grads))

    def data(self, weights: Sequence[int], momentum: Sequence[int], grads: Sequence[int],
             masks: Sequence[int]) -> int:
        """Bits of a ``data`` beat (per lane a weight, its momentum, gradient and mask bit)."""
        return self._data([{"weight": w, "momentum": v, "grad": g, "mask": m}
                           for w, v, g, m in zip(weights, momentum, grads, masks, strict=True)])

    def lanes(self, port: str, bits: int, edge: int) -> LanesBeat:
        """Decode the bits of a beat of output ``port`` (one of :data:`OUTPUTS`)."""
        return LanesBeat(tuple(self._lanes[port](bits)), edge)

    def status(self, bits: int, edge: int) -> StatusBeat:
        """Decode the bits of a ``status`` beat."""
        view = self._status(bits)
        return StatusBeat(bool(view["skipped"]), view["scale_log2"], view["clean"], edge)
