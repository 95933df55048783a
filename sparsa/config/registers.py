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

__all__ = ["REGISTER_BYTES", "Access", "BitField", "Register", "RegisterMap"]

REGISTER_BYTES = 4  # every register is one 32-bit AXI4-Lite word


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
