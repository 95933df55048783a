"""DRAM model: traffic accounting with burst rounding and channel interleaving, transfer time,
and double-buffered overlap of transfers with compute.

Traffic (:class:`DramTraffic`) is counted per tensor class (:data:`TENSOR_CLASSES`), direction
(read or write) and channel:

* **Bursts.** Every transfer starts burst-aligned and moves whole bursts of
  ``spec.burst_bytes``: a transfer of n bytes moves ceil(n / burst) bursts. ``bytes`` count the
  bursts moved, ``requested_bytes`` the bytes asked for; the difference (padding) sits in each
  transfer's last burst.
* **Interleaving.** A transfer given no channel is spread over all channels at burst
  granularity, round-robin: the transfers without a channel are laid out back to back in one
  interleaved address space in the order they are added, so the k-th such burst of a
  :class:`DramTraffic` goes to channel k mod C (C = ``spec.channels``), whatever transfer it
  belongs to. This is exact for tensors stored contiguously with the channel chosen by the
  address bits just above the burst offset (SpAtten's 32-byte interleaving, spatten.md §2.4). A
  transfer given a channel puts all its bursts there and does not move the round-robin.

Tensor classes (:data:`TENSOR_CLASSES`): ``weights`` (dense weights in the operand format; in
mixed-precision training the half-precision copy), ``compressed_weights`` and ``indices`` (the
values and the N:M indices of compressed weights), ``activations``, ``gradients`` (errors and
weight gradients), ``master_weights`` and ``momentum`` (the FP32 master weights and optimizer
state of mixed-precision training), ``masks`` (one N:M mask bit per weight), ``program`` (the
SAT system's instructions, which it fetches from DRAM), and SpAtten's
``k_msb``, ``k_lsb``, ``v_msb``, ``v_lsb``, ``q`` and ``outputs``.

Time: :func:`transfer_seconds` and :func:`transfer_cycles` divide bytes by the sustained
bandwidth of the channels used (peak x ``spec.efficiency``). :func:`overlap` gives the cycles of a
double-buffered sequence of steps.
"""

import math
from fractions import Fraction
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt

from sparsa.sim.network.target import DramSpec

__all__ = [
    "DIRECTIONS",
    "TENSOR_CLASSES",
    "DramTraffic",
    "overlap",
    "transfer_cycles",
    "transfer_seconds",
]

TENSOR_CLASSES = (
    "weights",
    "compressed_weights",
    "indices",
    "activations",
    "gradients",
    "master_weights",
    "momentum",
    "masks",
    "program",
    "k_msb",
    "k_lsb",
    "v_msb",
    "v_lsb",
    "q",
    "outputs",
)
DIRECTIONS = ("read", "write")


def _is_count(x: object) -> bool:
    """True for a non-negative integer (numpy integers included) that is not a ``bool``."""
    return isinstance(x, Integral) and not isinstance(x, bool) and x >= 0


def _sizes(nbytes: "int | npt.ArrayLike") -> np.ndarray:
    """Transfer sizes as a flat int64 array, checked to be non-negative integers."""
    sizes = np.asarray(nbytes)
    if sizes.size == 0:  # an empty list is float64 to numpy
        return np.zeros(0, dtype=np.int64)
    if sizes.dtype == np.bool_ or not np.issubdtype(sizes.dtype, np.integer):
        raise ValueError(f"nbytes must be a non-negative integer or an array of them, "
                         f"not {nbytes!r}")
    sizes = sizes.astype(np.int64, copy=False).ravel()
    if (sizes < 0).any():
        raise ValueError(f"nbytes must be non-negative, not {sizes[sizes < 0][0]}")
    return sizes


class DramTraffic:
    """Bytes moved to and from DRAM, by tensor class, direction and channel.

    Parameters
    ----------
    spec : DramSpec
        The DRAM: its channel count and burst size set the accounting (see the module
        docstring for the burst and interleaving rules).
    """

    def __init__(self, spec: DramSpec) -> None:
        if not isinstance(spec, DramSpec):
            raise ValueError(f"spec must be a DramSpec, not {spec!r}")
        self._spec = spec
        shape = (len(TENSOR_CLASSES), len(DIRECTIONS), spec.channels)
        self._bursts = np.zeros(shape, dtype=np.int64)
        self._padding = np.zeros(shape, dtype=np.int64)  # burst bytes beyond the request
        self._cursor = 0  # channel of the next interleaved burst

    @property
    def spec(self) -> DramSpec:
        """The DRAM this traffic is counted for."""
        return self._spec

    def add(self, tensor_class: str, direction: str, nbytes: "int | npt.ArrayLike", *,
            channel: int | None = None, transfers: int = 1) -> None:
        """Count transfers.

        Parameters
        ----------
        tensor_class : str
            One of :data:`TENSOR_CLASSES`.
        direction : str
            ``"read"`` or ``"write"``.
        nbytes : int or array of int
            Size of each transfer in bytes (any shape; an array is a sequence of transfers, in
            order, counted without a Python loop).
        channel : int, optional
            Channel all the bursts go to; None (default) interleaves them over all channels.
        transfers : int
            How many times the whole sequence ``nbytes`` is transferred (default 1).
        """
        cls = self._index(tensor_class, TENSOR_CLASSES, "tensor_class")
        dirn = self._index(direction, DIRECTIONS, "direction")
        sizes = _sizes(nbytes)
        if not _is_count(transfers):
            raise ValueError(f"transfers must be a non-negative integer, not {transfers!r}")
        C, B = self._spec.channels, self._spec.burst_bytes
        bursts = (sizes + B - 1) // B
        padding = bursts * B - sizes
        total = int(bursts.sum()) * transfers
        if channel is not None:
            if not _is_count(channel) or channel >= C:
                raise ValueError(f"channel must be None or an integer from 0 to {C - 1}, "
                                 f"not {channel!r}")
            self._bursts[cls, dirn, channel] += total
            self._padding[cls, dirn, channel] += int(padding.sum()) * transfers
            return
        # Bursts cursor, cursor + 1, ... in round-robin: every channel gets total // C, and the
        # total % C channels from the cursor on get one more.
        extra = (np.arange(C) - self._cursor) % C < total % C
        self._bursts[cls, dirn] += total // C + extra
        # Each transfer's padding sits in its last burst, number ends[i] + r * per_pass of
        # pass r (counted from the cursor); r * per_pass mod C cycles through `period` values.
        padded = padding > 0
        if padded.any():
            ends = (self._cursor + np.cumsum(bursts) - 1)[padded]
            per_pass = int(bursts.sum()) % C
            period = C // math.gcd(per_pass, C)
            for r in range(min(transfers, period)):
                times = transfers // period + (r < transfers % period)
                np.add.at(self._padding[cls, dirn], (ends + r * per_pass) % C,
                          padding[padded] * times)
        self._cursor = (self._cursor + total) % C

    @staticmethod
    def _index(value: str, allowed: tuple[str, ...], name: str) -> int:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        return allowed.index(value)

    def _select(self, counts: np.ndarray, tensor_class: str | None, direction: str | None,
                channel: int | None) -> int:
        """Sum of ``counts`` over the entries matching the filters (None = all)."""
        index: list[int | slice] = [slice(None)] * 3
        if tensor_class is not None:
            index[0] = self._index(tensor_class, TENSOR_CLASSES, "tensor_class")
        if direction is not None:
            index[1] = self._index(direction, DIRECTIONS, "direction")
        if channel is not None:
            C = self._spec.channels
            if not _is_count(channel) or channel >= C:
                raise ValueError(f"channel must be None or an integer from 0 to {C - 1}, "
                                 f"not {channel!r}")
            index[2] = channel
        return int(counts[tuple(index)].sum())

    def bursts(self, tensor_class: str | None = None, direction: str | None = None,
               channel: int | None = None) -> int:
        """Bursts moved, over the entries matching the filters (None = all)."""
        return self._select(self._bursts, tensor_class, direction, channel)

    def bytes(self, tensor_class: str | None = None, direction: str | None = None,
              channel: int | None = None) -> int:
        """Bytes moved (whole bursts), over the entries matching the filters (None = all)."""
        return self.bursts(tensor_class, direction, channel) * self._spec.burst_bytes

    def requested_bytes(self, tensor_class: str | None = None, direction: str | None = None,
                        channel: int | None = None) -> int:
        """Bytes asked for (before burst rounding), over the entries matching the filters;
        a transfer's padding is charged to the channel of its last burst."""
        return (self.bytes(tensor_class, direction, channel)
                - self._select(self._padding, tensor_class, direction, channel))

    def by_class(self) -> dict[str, dict[str, int]]:
        """Bytes moved per tensor class (every class of :data:`TENSOR_CLASSES`) and direction."""
        return {c: {d: self.bytes(c, d) for d in DIRECTIONS} for c in TENSOR_CLASSES}

    def by_channel(self) -> list[int]:
        """Bytes moved per channel, reads and writes of every class together."""
        return [int(b) * self._spec.burst_bytes for b in self._bursts.sum(axis=(0, 1))]

    def merge(self, other: "DramTraffic") -> None:
        """Add ``other``'s counts to these (in place).

        Each record's interleaving keeps the channels it was counted on; the round-robin cursor
        moves on as if ``other``'s interleaved bursts had been added here.
        """
        if not isinstance(other, DramTraffic):
            raise ValueError(f"other must be a DramTraffic, not {other!r}")
        mine, theirs = self._spec, other._spec
        if (mine.channels, mine.burst_bytes) != (theirs.channels, theirs.burst_bytes):
            raise ValueError(f"cannot merge traffic counted for {theirs.channels} channels of "
                             f"{theirs.burst_bytes}-byte bursts into traffic counted for "
                             f"{mine.channels} channels of {mine.burst_bytes}-byte bursts")
        self._bursts += other._bursts
        self._padding += other._padding
        self._cursor = (self._cursor + other._cursor) % mine.channels

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary: the DRAM, totals, bytes per class and direction, per channel."""
        return {
            "dram": self._spec.kind,
            "channels": self._spec.channels,
            "burst_bytes": self._spec.burst_bytes,
            "bytes": self.bytes(),
            "requested_bytes": self.requested_bytes(),
            "read_bytes": self.bytes(direction="read"),
            "write_bytes": self.bytes(direction="write"),
            "by_class": self.by_class(),
            "requested_by_class": {c: {d: self.requested_bytes(c, d) for d in DIRECTIONS}
                                   for c in TENSOR_CLASSES},
            "by_channel": self.by_channel(),
        }


def _sustained(spec: DramSpec, channels_used: int | None) -> Fraction:
    """Sustained bytes per second of ``channels_used`` channels (all when None), exactly."""
    used = spec.channels if channels_used is None else channels_used
    if not _is_count(used) or not 1 <= used <= spec.channels:
        raise ValueError(f"channels_used must be None or an integer from 1 to {spec.channels}, "
                         f"not {channels_used!r}")
    return used * Fraction(spec.channel_bytes_per_s) * Fraction(spec.efficiency)


def transfer_seconds(spec: DramSpec, nbytes: int, *, channels_used: int | None = None) -> float:
    """Seconds to move ``nbytes`` at the sustained bandwidth.

    Parameters
    ----------
    spec : DramSpec
    nbytes : int
        Bytes moved (count whole bursts, :meth:`DramTraffic.bytes`, for burst-rounded time).
    channels_used : int, optional
        Channels the bytes are spread over (default: all).

    Returns
    -------
    float
        nbytes / (channels_used x ``channel_bytes_per_s`` x ``efficiency``).
    """
    if not _is_count(nbytes):
        raise ValueError(f"nbytes must be a non-negative integer, not {nbytes!r}")
    return float(int(nbytes) / _sustained(spec, channels_used))


def transfer_cycles(spec: DramSpec, nbytes: int, clock_hz: float, *,
                    channels_used: int | None = None) -> int:
    """Accelerator cycles to move ``nbytes``: :func:`transfer_seconds` x clock, rounded up.

    The product is computed exactly (in rationals of the float inputs), so a transfer that
    takes a whole number of cycles is not rounded up by float error.
    """
    if not _is_count(nbytes):
        raise ValueError(f"nbytes must be a non-negative integer, not {nbytes!r}")
    if not isinstance(clock_hz, Real) or isinstance(clock_hz, bool) \
            or not math.isfinite(clock_hz) or clock_hz <= 0:
        raise ValueError(f"clock_hz must be a positive number, not {clock_hz!r}")
    return math.ceil(int(nbytes) * Fraction(float(clock_hz)) / _sustained(spec, channels_used))


def _cycle_array(values: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 1 and array.size == 0:  # an empty list is float64 to numpy
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integers, not {values!r}")
    if (array < 0).any():
        raise ValueError(f"{name} must be non-negative, not {array[array < 0][0]}")
    return array.astype(np.int64, copy=False)


def overlap(compute_cycles: npt.ArrayLike, transfer_cycles: npt.ArrayLike) -> tuple[int, int]:
    """Cycles of a double-buffered sequence of steps, and the cycles spent waiting for DRAM.

    Step i needs its data (``transfer_cycles[i]``) in one of two buffers before its compute
    (``compute_cycles[i]``) starts; one transfer engine moves the data of the steps in order,
    and the transfer of step i + 1 may start once that of step i is done and its buffer is free,
    i.e. once step i - 1's compute is done. With S_i the cycle step i's compute starts:

    * S_0 = t_0: the first transfer is not hidden;
    * the transfer of step i + 1 starts at max(end of transfer i, end of compute i - 1) = S_i,
      with the compute of step i, so S_(i+1) = S_i + max(c_i, t_(i+1));
    * total = S_(n-1) + c_(n-1) = t_0 + sum over i < n - 1 of max(c_i, t_(i+1)) + c_(n-1).

    A step's transfer should hold everything it moves (loads for it, and stores it overlaps).

    Parameters
    ----------
    compute_cycles, transfer_cycles : 1-D arrays of non-negative int, same length
        Per step.

    Returns
    -------
    (int, int)
        The total cycles, and the stall cycles: total - sum(compute_cycles). Both 0 for no
        steps.
    """
    c = _cycle_array(compute_cycles, "compute_cycles")
    t = _cycle_array(transfer_cycles, "transfer_cycles")
    if len(c) != len(t):
        raise ValueError(f"compute_cycles and transfer_cycles must have the same length, not "
                         f"{len(c)} and {len(t)}")
    if len(c) == 0:
        return 0, 0
    total = int(t[0]) + int(np.maximum(c[:-1], t[1:]).sum()) + int(c[-1])
    return total, total - int(c.sum())
