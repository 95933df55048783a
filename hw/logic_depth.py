"""Logic depth of a synthesised UltraScale+ netlist: the longest register-to-register path in
logic levels, the Fmax proxy where no open place and route exists.

The netlist is the BLIF that Yosys ``write_blif -param`` writes after ``synth_xilinx`` (one
``.subckt`` per primitive, ``.names`` buffers between nets); which of a primitive's ports are
outputs comes from the primitives' library (``ports``, from Yosys's ``cells_sim.v`` and
``cells_xtra.v``), never from a list typed here.

A path starts at a register's output (FD*, LD*, SRL*, block RAM, URAM, a DSP48E2 whose product or
output register is on) and ends at a register's input. A level is what Vivado's timing report
counts as one: a LUT (LUT1 to LUT6, and the asynchronous read of a LUT-RAM, through its address
pins), a MUXF7/F8/F9, a CARRY4/CARRY8 cell, or an unregistered DSP48E2. An INV is absorbed
into its LUT (no level). Clock buffers are not traversed. Paths from or to the top's ports are
left out: out of context, their timing depends on what surrounds the design.

The graph is of cells, a carry cell split into one node per bit (bit i depends on the carry in
and on bits 0 to i), so it is coarser than the logic: a LUT whose function ignores an input it
is wired to, or a cell with several independent outputs, can close a loop that the logic does
not have. Such a loop's closing edge is cut (the search goes on without it) and counted in
:attr:`LogicPath.loops_cut`; the depth is then a lower bound on the structural one.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogicPath", "cell_outputs", "longest_path"]

_SEQUENTIAL = re.compile(r"^(FD|LD|SRL|RAMB|URAM|FIFO)")
_DSP_REGISTERS = ("MREG", "PREG")  # with either on, P leaves a register
_LUT_RAM_ADDRESS = re.compile(r"^(A\d*|ADDR[A-H]?|DPRA\d*)$")  # a LUT-RAM's read address
_KINDS = (("LUT", "luts"), ("RAM", "luts"), ("MUXF", "muxes"), ("CARRY", "carries"),
          ("DSP48E2", "dsps"))
_BIT = re.compile(r"^(.*?)(\[\d+\])?$")


@dataclass(frozen=True)
class LogicPath:
    """The longest register-to-register path of a netlist.

    Attributes
    ----------
    levels : int
        Logic levels on the path: ``luts + muxes + carries + dsps``.
    luts, muxes, carries, dsps : int
        The path's LUTs (LUT-RAM reads included), MUXF7/F8/F9, CARRY4/CARRY8 cells and
        unregistered DSP48E2s.
    start, end : str
        The registers it runs between, each named by the net its output drives.
    longest_carry_chain : int
        Carry cells in the netlist's longest chain (CO into CI), on the path or not.
    loops_cut : int
        Cell-level loops the search cut (module docstring); 0 when there were none.
    """

    levels: int
    luts: int
    muxes: int
    carries: int
    dsps: int
    start: str
    end: str
    longest_carry_chain: int
    loops_cut: int = 0


@dataclass
class _Cell:
    kind: str  # what a level through it counts as ("" for none)
    inputs: dict[str, list[str]]  # port name -> nets
    outputs: dict[str, list[str]]
    params: dict[str, str]

    def sequential(self, kind_of: str) -> bool:
        if _SEQUENTIAL.match(kind_of):
            return True
        if kind_of == "DSP48E2":
            return any(int(self.params.get(p, "0") or "0", 2) for p in _DSP_REGISTERS)
        return False


def cell_outputs(ports_json: Mapping[str, object], types: Iterable[str]) -> dict[str, frozenset]:
    """The output port names of each of ``types``, from Yosys's ``write_json`` of the primitives'
    library (``ports_json``, the parsed file).

    Raises
    ------
    ValueError
        If a type is not in the library.
    """
    modules = ports_json["modules"]
    found = {}
    for name in types:
        if name not in modules:
            raise ValueError(f"primitive {name!r} is not in the Xilinx cell library")
        ports = modules[name]["ports"]
        found[name] = frozenset(p for p, v in ports.items() if v["direction"] == "output")
    return found


def _parse(blif: Path) -> tuple[list[tuple[str, dict[str, str], dict[str, str]]],
                                 dict[str, str]]:
    """The ``.subckt`` cells (type, pin -> net, parameters) and the buffers (net -> its
    source) of a BLIF written by Yosys."""
    cells: list[tuple[str, dict[str, str], dict[str, str]]] = []
    aliases: dict[str, str] = {}
    names: list[str] | None = None
    with open(blif, encoding="utf-8") as lines:
        for line in lines:
            words = line.split()
            if not words:
                continue
            if words[0] == ".subckt":
                pins = dict(w.split("=", 1) for w in words[2:])
                cells.append((words[1], pins, {}))
                names = None
            elif words[0] == ".param" and cells:
                cells[-1][2][words[1]] = words[2] if len(words) > 2 else ""
            elif words[0] == ".names":
                names = words[1:]
            elif names is not None and len(names) == 2 and words == ["1", "1"]:
                aliases[names[1]] = names[0]  # a buffer
                names = None
            else:
                names = None
    return cells, aliases


def longest_path(blif: Path | str, ports_json: Mapping[str, object]) -> LogicPath:
    """The longest register-to-register path of the netlist in ``blif`` (module docstring).

    Parameters
    ----------
    blif : path
        Yosys ``write_blif -param`` of a flattened ``synth_xilinx`` netlist.
    ports_json : mapping
        Yosys ``write_json`` of the Xilinx primitives' library (their port directions).

    Raises
    ------
    ValueError
        If the netlist has no register-to-register path.
    """
    raw, aliases = _parse(Path(blif))
    outputs = cell_outputs(ports_json, {t for t, _, _ in raw})

    def source(net: str) -> str:
        seen = 0
        while net in aliases:
            net, seen = aliases[net], seen + 1
            if seen > len(aliases):
                raise ValueError(f"the netlist's buffers loop at {net!r}")
        return net

    cells: list[tuple[str, _Cell]] = []
    driver: dict[str, int] = {}  # net -> index of the cell driving it
    for type_, pins, params in raw:
        kind = next((k for prefix, k in _KINDS if type_.startswith(prefix)), "")
        bits = [(*_BIT.match(pin).groups(), source(net)) for pin, net in pins.items()]
        # A carry cell is one node per bit: O[i] and CO[i] depend on the carry in and on bits
        # 0 to i only (one cell node would make false loops through the chain's other bits).
        slices = [None] if not type_.startswith("CARRY") else sorted(
            {int(index[1:-1]) for port, index, _ in bits if index and port in ("O", "CO")})
        for upto in slices:
            cell = _Cell(kind, {}, {}, params)
            for port, index, net in bits:
                position = int(index[1:-1]) if index else 0
                if port in outputs[type_]:
                    if upto is None or position == upto:
                        cell.outputs.setdefault(port, []).append(net)
                elif upto is None or position <= upto or not index:
                    cell.inputs.setdefault(port, []).append(net)
            for nets in cell.outputs.values():
                for net in nets:
                    driver[net] = len(cells)
            cells.append((type_, cell))

    def through(type_: str, cell: _Cell) -> list[str]:
        """The inputs a combinational path crosses ``cell`` from."""
        if type_.startswith("BUFG"):
            return []
        if type_.startswith("RAM"):  # LUT-RAM: only the read address is combinational
            return [n for p, ns in cell.inputs.items() if _LUT_RAM_ADDRESS.match(p) for n in ns]
        return [n for ns in cell.inputs.values() for n in ns]

    sequential = [cell.sequential(type_) for type_, cell in cells]
    lut_ram = [type_.startswith("RAM") and not seq
               for (type_, _), seq in zip(cells, sequential, strict=True)]
    # depth[i]: the deepest path into cell i's outputs, as (levels, counts, start).
    depth: dict[int, tuple[int, dict[str, int], str] | None] = {}

    def arrival(net: str) -> tuple[int, dict[str, int], str] | None:
        """The deepest register-started path reaching ``net`` (None: from a port or constant)."""
        i = driver.get(net)
        if i is None:
            return None
        if sequential[i]:
            return 0, {}, net
        return depth[i]

    # Iterative depth-first evaluation in topological order (the netlist may be deep).
    state = [0] * len(cells)  # 0 new, 1 open, 2 done
    cut: set[tuple[int, str]] = set()  # (node, input net) edges that close a loop
    for root in range(len(cells)):
        if state[root] or sequential[root]:
            continue
        stack = [root]
        while stack:
            i = stack[-1]
            type_, cell = cells[i]
            if state[i] == 0:
                state[i] = 1
                for net in through(type_, cell):
                    j = driver.get(net)
                    if j is not None and not sequential[j]:
                        if state[j] == 1:  # a loop: cut this edge, count it
                            cut.add((i, net))
                        elif state[j] == 0:
                            stack.append(j)
                continue
            stack.pop()
            if state[i] == 2:
                continue
            state[i] = 2
            arrivals = [a for a in (arrival(n) for n in through(type_, cell) if (i, n) not in cut)
                        if a is not None]
            if lut_ram[i]:  # its contents are a register too
                arrivals.append((0, {}, next(n for ns in cell.outputs.values() for n in ns)))
            best = max(arrivals, key=lambda a: a[0], default=None)
            if best is not None and cell.kind:
                counts = dict(best[1])
                counts[cell.kind] = counts.get(cell.kind, 0) + 1
                best = (best[0] + 1, counts, best[2])
            depth[i] = best

    worst: tuple[int, dict[str, int], str, str] | None = None
    for i, (_, cell) in enumerate(cells):
        if not (sequential[i] or lut_ram[i]):
            continue
        name = next(n for ns in cell.outputs.values() for n in ns)
        ends = [n for p, ns in cell.inputs.items()
                if sequential[i] or not _LUT_RAM_ADDRESS.match(p) for n in ns]  # written pins
        for net in ends:
            found = arrival(net)
            if found is not None and (worst is None or found[0] > worst[0]):
                worst = (found[0], found[1], found[2], name)
    if worst is None:
        raise ValueError(f"{blif} has no register-to-register path")
    levels, counts, start, end = worst
    return LogicPath(levels=levels, luts=counts.get("luts", 0), muxes=counts.get("muxes", 0),
                     carries=counts.get("carries", 0), dsps=counts.get("dsps", 0),
                     start=start, end=end, longest_carry_chain=_carry_chain(cells, driver),
                     loops_cut=len(cut))


def _carry_chain(cells: list[tuple[str, _Cell]], driver: Mapping[str, int]) -> int:
    """Cells in the longest chain of carry cells (a cell's CI driven by another's CO)."""
    length: dict[int, int] = {}
    for start, (type_, _) in enumerate(cells):
        if not type_.startswith("CARRY") or start in length:
            continue
        chain, i = [], start
        while i is not None and i not in length:
            chain.append(i)
            ci = cells[i][1].inputs.get("CI", [])
            j = driver.get(ci[0]) if ci else None
            i = j if j is not None and cells[j][0].startswith("CARRY") else None
        below = length.get(i, 0) if i is not None else 0
        for k in reversed(chain):
            below += 1
            length[k] = below
    return max(length.values(), default=0)


