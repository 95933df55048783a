"""Register maps: validation, lookup and the datasheet table."""

import pytest

from sparsa.config.registers import Access, BitField, Register, RegisterMap


def _map() -> RegisterMap:
    return RegisterMap((
        Register("control", 0x0, Access.RW, "Control.", (BitField("start", 0, 1, "Go."),
                                                         BitField("irq_en", 1, 1, "IRQ."))),
        Register("cycles", 0x8, Access.RO, "Cycles."),
    ))


def test_lookup_and_datasheet() -> None:
    regs = _map()
    assert regs["cycles"].offset == 8 and regs["control"].field("irq_en").mask == 2
    text = regs.markdown()
    assert "| `0x008` | `cycles` | RO |" in text and "`start`: Go." in text
    assert regs.addr_width == 12
    with pytest.raises(KeyError, match="no register 'nope'; registers: control, cycles"):
        regs["nope"]


@pytest.mark.parametrize(
    ("registers", "message"),
    [
        ((Register("a", 0, Access.RW, ""), Register("b", 0, Access.RW, "")), "share offset"),
        ((Register("a", 0, Access.RW, ""), Register("a", 4, Access.RW, "")), "appears twice"),
    ],
)
def test_clashes_are_refused(registers, message) -> None:
    with pytest.raises(ValueError, match=message):
        RegisterMap(registers)


def test_bad_registers_name_the_value() -> None:
    with pytest.raises(ValueError, match="offset must be a non-negative multiple of 4, not 6"):
        Register("a", 6, Access.RW, "")
    with pytest.raises(ValueError, match="overlaps"):
        Register("a", 0, Access.RW, "", (BitField("x", 0, 4, ""), BitField("y", 3, 1, "")))
    with pytest.raises(ValueError, match="must lie in bits 0 to 31"):
        BitField("x", 30, 4, "")
