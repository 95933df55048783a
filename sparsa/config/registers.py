"""Register maps of AXI4-Lite control interfaces: one description for the RTL, the host and
the datasheet.

A :class:`RegisterMap` lists 32-bit registers at word-aligned byte offsets. The register file
of :mod:`sparsa.hw.common.axi_lite` is elaborated from it, testbenches and drivers address
registers by name through it, and :meth:`RegisterMap.markdown` writes the datasheet table, so
an offset is written once.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from sparsa.config.checks import is_int

__all__ = ["COUNTER_BASE", "REGISTER_BYTES", "Access", "BitField", "Register", "RegisterMap",
           "system_registers"]

REGISTER_BYTES = 4  # every register is one 32-bit AXI4-Lite word
COUNTER_BASE = 0x40
"""Offset of a system's first 64-bit performance counter."""


class Access(Enum):
    """How the host and the hardware share a register.

    ``RW``: the host writes it (byte strobes honoured) and reads it back; the hardware reads it
    (and, for a register with ``strobe``, sees a one-cycle strobe on every write). ``RO``: the
    hardware drives it, the host reads it; a host write is refused (SLVERR). ``W1C``: bits the
    hardware sets (one-cycle set pulses) and the host clears by writing ones (interrupt
    status).
    """

    RW = "rw"
    RO = "ro"
    W1C = "w1c"


@dataclass(frozen=True)
class BitField:
    """Bits ``lsb`` to ``lsb + width - 1`` of a register, documented."""

    name: str
    lsb: int
    width: int
    doc: str

    def __post_init__(self) -> None:
        if not is_int(self.lsb) or not is_int(self.width) or not (
            self.lsb >= 0 and self.width >= 1 and self.lsb + self.width <= 32
        ):
            raise ValueError(
                f"field {self.name!r} must lie in bits 0 to 31, not lsb = {self.lsb!r}, "
                f"width = {self.width!r}"
            )

    @property
    def mask(self) -> int:
        """The field's bits in the register."""
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    """One 32-bit register.

    Parameters
    ----------
    name : str
        A Python identifier (it names the register file's ports).
    offset : int
        Byte offset, a multiple of 4.
    access : Access
    doc : str
        What it holds, for the datasheet.
    fields : tuple of BitField
        Named bit fields (none: the register is one 32-bit value).
    reset : int
        Value after reset (RW registers).
    strobe : bool
        RW only: the hardware sees a one-cycle strobe after each write (a command register).

    Only the bits of the fields are implemented when a register has fields: the others read
    as zero and ignore writes.
    """

    name: str
    offset: int
    access: Access
    doc: str
    fields: tuple[BitField, ...] = ()
    reset: int = 0
    strobe: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"a register name must be an identifier, not {self.name!r}")
        if not is_int(self.offset) or self.offset < 0 or self.offset % REGISTER_BYTES:
            raise ValueError(
                f"register {self.name}: offset must be a non-negative multiple of "
                f"{REGISTER_BYTES}, not {self.offset!r}"
            )
        if not isinstance(self.access, Access):
            raise ValueError(f"register {self.name}: access must be an Access, not {self.access!r}")
        if not is_int(self.reset) or not 0 <= self.reset < 1 << 32:
            raise ValueError(f"register {self.name}: reset must fit 32 bits, not {self.reset!r}")
        used = 0
        for f in self.fields:
            if used & f.mask:
                raise ValueError(f"register {self.name}: field {f.name} overlaps another")
            used |= f.mask
        if self.strobe and self.access is not Access.RW:
            raise ValueError(f"register {self.name}: only an RW register has a strobe")
        if self.reset & ~self.mask:
            raise ValueError(f"register {self.name}: reset {self.reset:#x} sets bits outside "
                             f"its fields")

    @property
    def width(self) -> int:
        """Implemented bits: up to the highest field bit, or 32 without fields."""
        return max((f.lsb + f.width for f in self.fields), default=32)

    @property
    def mask(self) -> int:
        """The implemented bits."""
        return sum(f.mask for f in self.fields) if self.fields else (1 << 32) - 1

    def field(self, name: str) -> BitField:
        """The bit field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.fields) or "none"
        raise KeyError(f"register {self.name} has no field {name!r} (fields: {known})")


@dataclass(frozen=True)
class RegisterMap:
    """The registers of one control interface, at distinct offsets under distinct names."""

    registers: tuple[Register, ...]

    def __post_init__(self) -> None:
        if not self.registers or not all(isinstance(r, Register) for r in self.registers):
            raise ValueError("a register map needs at least one Register")
        names: set[str] = set()
        offsets: dict[int, str] = {}
        for r in self.registers:
            if r.name in names:
                raise ValueError(f"register name {r.name} appears twice")
            if r.offset in offsets:
                raise ValueError(
                    f"registers {offsets[r.offset]} and {r.name} share offset {r.offset:#x}"
                )
            names.add(r.name)
            offsets[r.offset] = r.name

    def __getitem__(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        known = ", ".join(r.name for r in self.registers)
        raise KeyError(f"no register {name!r}; registers: {known}")

    def __iter__(self) -> Iterator[Register]:
        return iter(self.registers)

    @property
    def addr_width(self) -> int:
        """Bits of the byte address that decode the map (at least 4 KiB, one AXI page)."""
        top = max(r.offset for r in self.registers) + REGISTER_BYTES
        return max(12, (top - 1).bit_length())

    def data(self) -> list[dict[str, object]]:
        """The registers as data (a sidecar's ``registers``): name, offset, access, reset,
        description and fields."""
        return [
            {"name": r.name, "offset": r.offset, "access": r.access.value, "reset": r.reset,
             "doc": r.doc,
             "fields": [{"name": f.name, "lsb": f.lsb, "width": f.width, "doc": f.doc}
                        for f in r.fields]}
            for r in self.registers
        ]

    def markdown(self) -> str:
        """The datasheet table: offset, name, access, reset value, fields and description."""
        lines = [
            "| offset | register | access | reset | bits | description |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted(self.registers, key=lambda r: r.offset):
            lines.append(
                f"| `{r.offset:#05x}` | `{r.name}` | {r.access.value.upper()} | "
                f"`{r.reset:#x}` | 31:0 | {r.doc} |"
            )
            for f in r.fields:
                bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
                lines.append(f"| | | | | {bits} | `{f.name}`: {f.doc} |")
        return "\n".join(lines) + "\n"


def system_registers(job: str, error_fields: tuple[BitField, ...],
                     settings: tuple[Register, ...], counters: dict[str, str]) -> RegisterMap:
    """The register map of a system that runs one ``job`` (a program, a run) per start.

    ``control`` (start, interrupt enable), ``status`` (busy, done, error), ``irq_status`` and
    ``error`` (``error_fields``) at 0x00 to 0x0C; the system's own ``settings`` from 0x10; each
    of ``counters`` (name: description) as two registers ``<name>_lo`` and ``<name>_hi`` from
    :data:`COUNTER_BASE`.
    """
    fixed = [
        Register("control", 0x00, Access.RW, "Control.", (
            BitField("start", 0, 1, f"Write 1 to start a {job} (ignored while busy)."),
            BitField("irq_enable", 1, 1, "Raise the interrupt line when done."),
        ), strobe=True),
        Register("status", 0x04, Access.RO, "Status.", (
            BitField("busy", 0, 1, f"A {job} is running."),
            BitField("done", 1, 1, f"The last {job} has finished (cleared by a start)."),
            BitField("error", 2, 1, f"The last {job} stopped on an error."),
        )),
        Register("irq_status", 0x08, Access.W1C, "Interrupt status (write 1 to clear).", (
            BitField("done", 0, 1, f"A {job} has finished."),
        )),
        Register("error", 0x0C, Access.RO, f"Why the last {job} stopped.", error_fields),
    ]
    words = []
    for i, (name, doc) in enumerate(counters.items()):
        offset = COUNTER_BASE + 2 * REGISTER_BYTES * i
        words.append(Register(f"{name}_lo", offset, Access.RO, f"{doc} Bits 31:0."))
        words.append(Register(f"{name}_hi", offset + REGISTER_BYTES, Access.RO,
                              f"{doc} Bits 63:32."))
    return RegisterMap((*fixed, *settings, *words))
