"""The logic depth of a netlist: levels, register boundaries, LUT-RAM reads, DSP registers, carry
chains, buffers and the errors."""

from pathlib import Path

import pytest

from sparsa.hw.logic_depth import cell_outputs, longest_path

# The primitives' port directions, as Yosys writes the library (the subset these netlists use).
PORTS = {"modules": {
    name: {"ports": {p: {"direction": d} for p, d in ports.items()}}
    for name, ports in {
        "FDRE": {"C": "input", "CE": "input", "D": "input", "R": "input", "Q": "output"},
        "LUT2": {"I0": "input", "I1": "input", "O": "output"},
        "MUXF7": {"I0": "input", "I1": "input", "S": "input", "O": "output"},
        "CARRY4": {"CI": "input", "CYINIT": "input", "DI": "input", "S": "input",
                   "O": "output", "CO": "output"},
        "DSP48E2": {"A": "input", "B": "input", "P": "output"},
        "RAM64M": {"ADDRA": "input", "DIA": "input", "WE": "input", "WCLK": "input",
                   "DOA": "output"},
        "BUFG": {"I": "input", "O": "output"},
    }.items()
}}


def _depth(tmp_path: Path, body: str):
    path = tmp_path / "net.blif"
    path.write_text(f".model top\n.inputs clk x\n.outputs y\n{body}\n.end\n")
    return longest_path(path, PORTS)


def _ff(d: str, q: str) -> str:
    return f".subckt FDRE C=clk CE=$true D={d} Q={q} R=$false\n.param INIT 0\n"


def test_levels_count_between_registers_and_name_them(tmp_path: Path) -> None:
    # a -> LUT -> MUXF7 -> LUT -> b (3 levels); a short path x (a port) -> LUT -> c is left out.
    body = (_ff("x", "a") + ".subckt LUT2 I0=a I1=a O=n1\n.subckt MUXF7 I0=n1 I1=a S=a O=n2\n"
            ".names n2 n3\n1 1\n"  # a buffer: no level
            ".subckt LUT2 I0=n3 I1=x O=n4\n" + _ff("n4", "b") + _ff("b", "y"))
    d = _depth(tmp_path, body)
    assert (d.levels, d.luts, d.muxes, d.carries, d.dsps) == (3, 2, 1, 0, 0)
    assert (d.start, d.end) == ("a", "b")


def test_a_registered_dsp_ends_and_starts_paths_an_unregistered_one_is_a_level(
        tmp_path: Path) -> None:
    comb = _ff("x", "a") + ".subckt DSP48E2 A=a B=a P=p\n.param PREG 0\n" + _ff("p", "b")
    assert _depth(tmp_path, comb).dsps == 1
    registered = (_ff("x", "a") + ".subckt LUT2 I0=a I1=a O=n\n"
                  ".subckt DSP48E2 A=n B=n P=p\n.param PREG 1\n"
                  ".subckt LUT2 I0=p I1=p O=m\n.subckt LUT2 I0=m I1=m O=k\n" + _ff("k", "b"))
    d = _depth(tmp_path, registered)
    assert (d.levels, d.dsps, d.start, d.end) == (2, 0, "p", "b")


def test_a_lut_ram_is_read_through_its_address_and_written_at_its_data(tmp_path: Path) -> None:
    # a -> LUT -> address -> read (a LUT level) -> b: 2 levels; a -> LUT -> DIA ends at the RAM.
    body = (_ff("x", "a") + ".subckt LUT2 I0=a I1=a O=addr\n"
            ".subckt RAM64M ADDRA=addr DIA=addr WE=a WCLK=clk DOA=q\n" + _ff("q", "b"))
    d = _depth(tmp_path, body)
    assert (d.levels, d.luts, d.start, d.end) == (2, 2, "a", "b")


def test_carry_chains_are_measured_along_ci(tmp_path: Path) -> None:
    chain = "".join(
        f".subckt CARRY4 CI={'a' if i == 0 else f'co{i - 1}'} CYINIT=$false DI[0]=a S[0]=a "
        f"O[0]=o{i} CO[3]=co{i}\n" for i in range(5)
    )
    d = _depth(tmp_path, _ff("x", "a") + chain + _ff("co4", "b"))
    assert (d.levels, d.carries, d.longest_carry_chain) == (5, 5, 5)
    # Bit 0's sum through a LUT into bit 2's input is no loop: a bit depends on bits 0 to i.
    folded = (_ff("x", "a") + ".subckt CARRY4 CI=a CYINIT=$false S[0]=a DI[2]=f O[0]=s0 "
              "CO[3]=c3\n.subckt LUT2 I0=s0 I1=a O=f\n" + _ff("c3", "b"))
    d = _depth(tmp_path, folded)
    assert (d.levels, d.luts, d.carries) == (3, 1, 2)  # a, bit 0, the LUT, bit 3


def test_loops_are_cut_and_no_paths_are_errors(tmp_path: Path) -> None:
    loop = (_ff("x", "a") + ".subckt LUT2 I0=a I1=m O=n\n.subckt LUT2 I0=n I1=a O=m\n"
            + _ff("m", "b"))
    d = _depth(tmp_path, loop)  # the loop's closing edge is cut and counted
    assert d.loops_cut == 1 and (d.start, d.end) == ("a", "b") and d.levels >= 1
    with pytest.raises(ValueError, match="no register-to-register path"):
        _depth(tmp_path, ".subckt LUT2 I0=x I1=x O=y\n")
    with pytest.raises(ValueError, match="'XORCY' is not in the Xilinx cell library"):
        cell_outputs(PORTS, ["XORCY"])
    # a clock buffer is not a path
    clocked = ".subckt BUFG I=clk O=gclk\n" + _ff("x", "a").replace("C=clk", "C=gclk")
    with pytest.raises(ValueError, match="no register-to-register path"):
        _depth(tmp_path, clocked + ".subckt LUT2 I0=a I1=a O=y\n")
