"""Parameters of an AXI4 memory port: widths, burst length and reads in flight.

One :class:`AxiConfig` elaborates the AXI4 read and write engines of :mod:`sparsa.hw.common.axi`,
sizes the DRAM image the dataflow compiler lays out (word size, alignment) and gives the
network simulator its burst length. The protocol facts the engines follow are constants here,
once: a burst never crosses a 4 KiB boundary (AXI4, ARM IHI 0022, section A3.4.1) and has at
most 256 beats (INCR bursts of AXI4).
"""

from dataclasses import dataclass, replace

from sparsa.config.checks import is_int, is_pow2

__all__ = ["AXI_BOUNDARY", "AXI_MAX_BURST", "AxiConfig", "AxiResp"]

AXI_BOUNDARY = 4096  # bytes: no burst may cross a multiple of this address
AXI_MAX_BURST = 256  # beats of an AXI4 INCR burst


class AxiResp:
    """The codes of the ``RRESP`` and ``BRESP`` fields."""

    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


@dataclass(frozen=True, kw_only=True)
class AxiConfig:
    """An AXI4 master port of full-width INCR bursts.

    Parameters
    ----------
    data_width : int
        Bits of ``RDATA`` and ``WDATA``: a power of two from 32 to 1024 (512 is the DDR4
        interface of the VCU1525's memory controllers).
    addr_width : int
        Bits of ``ARADDR`` and ``AWADDR``, 16 to 64.
    id_width : int
        Bits of the ID fields, 1 to 16 (the engines send ID 0 and expect in-order answers).
    max_burst : int
        Most beats of one burst, a power of two from 1 to 256. A transfer is cut into bursts of
        this many beats, and at every 4 KiB boundary.
    max_reads : int
        Read bursts in flight (issued, last beat not yet received), 1 to 64: what hides the
        memory's latency.
    max_writes : int
        Write bursts whose response has not arrived, 1 to 64.
    """

    data_width: int = 512
    addr_width: int = 40
    id_width: int = 4
    max_burst: int = 64
    max_reads: int = 8
    max_writes: int = 8

    def __post_init__(self) -> None:
        if not is_int(self.data_width) or not (
            is_pow2(self.data_width) and 32 <= self.data_width <= 1024
        ):
            raise ValueError(
                f"data_width must be a power of two from 32 to 1024, not {self.data_width!r}"
            )
        _check_range("addr_width", self.addr_width, 16, 64)
        _check_range("id_width", self.id_width, 1, 16)
        if not is_int(self.max_burst) or not (
            is_pow2(self.max_burst) and self.max_burst <= AXI_MAX_BURST
        ):
            raise ValueError(
                f"max_burst must be a power of two from 1 to {AXI_MAX_BURST}, "
                f"not {self.max_burst!r}"
            )
        _check_range("max_reads", self.max_reads, 1, 64)
        _check_range("max_writes", self.max_writes, 1, 64)
        if self.burst_bytes > AXI_BOUNDARY:
            raise ValueError(
                f"a burst of max_burst = {self.max_burst} beats of {self.word_bytes} bytes "
                f"crosses the {AXI_BOUNDARY}-byte boundary; at most "
                f"{AXI_BOUNDARY // self.word_bytes} beats at data_width = {self.data_width}"
            )

    def replace(self, **changes: object) -> "AxiConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    @property
    def word_bytes(self) -> int:
        """Bytes of one data beat (the DRAM image's word and alignment)."""
        return self.data_width // 8

    @property
    def burst_bytes(self) -> int:
        """Bytes of a full burst."""
        return self.max_burst * self.word_bytes

    @property
    def size_code(self) -> int:
        """The ``ARSIZE``/``AWSIZE`` code of a full-width beat: log2 of its bytes."""
        return self.word_bytes.bit_length() - 1

    def bursts(self, addr: int, words: int) -> list[tuple[int, int]]:
        """The bursts (address, beats) a transfer of ``words`` words from ``addr`` is cut into,
        as the engines cut it: at most ``max_burst`` beats, never across a 4 KiB boundary.

        Raises
        ------
        ValueError
            If ``addr`` is not word-aligned or ``words`` is below 1.
        """
        if not is_int(addr) or addr < 0 or addr % self.word_bytes:
            raise ValueError(
                f"addr must be a multiple of the word, {self.word_bytes} bytes, not {addr!r}"
            )
        if not is_int(words) or words < 1:
            raise ValueError(f"words must be a positive integer, not {words!r}")
        out = []
        while words:
            room = (AXI_BOUNDARY - addr % AXI_BOUNDARY) // self.word_bytes
            beats = min(words, self.max_burst, room)
            out.append((addr, beats))
            addr += beats * self.word_bytes
            words -= beats
        return out


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if not is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
