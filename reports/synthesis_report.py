"""The report's synthesis section: resources, utilisation and logic depth of the blocks and the
system on UltraScale+ (Yosys ``synth_xilinx``), and routed timing on an ECP5 (nextpnr), from the
synthesis cache when a design is unchanged."""

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sparsa.config.describe import describe
from sparsa.config.presets import (
    BLOCK_DEFAULTS,
    SAT_ARRAY_CONFIGS,
    SAT_TARGET,
    SYSTEM_DEFAULTS,
)
from sparsa.hw.export import export_verilog
from sparsa.hw.sat.sat_array import SatArray
from sparsa.hw.sat.sore import Sore
from sparsa.hw.sat.weight_update import WeightUpdate
from sparsa.hw.sat_system.accelerator import SatAccelerator
from sparsa.hw.synthesis import SynthToolError, find_yosys, route_ecp5, synthesize
from sparsa.hw.topk.topk import TopKEngine
from sparsa.reports.system_report import REPORT_SYSTEM
from sparsa.sim.network.target import load_target

__all__ = ["synthesis_section"]

# name (the command line's word; its Verilog top is the same with underscores), component
_COMPONENTS = {"sat-array": SatArray, "sore": Sore, "topk": TopKEngine,
               "weight-update": WeightUpdate, "sat-accelerator": SatAccelerator}


def _designs(quick: bool) -> list[tuple[str, str, Any, bool]]:
    """(name, label, configuration, whether to route it on the ECP5) of each design."""
    defaults = {**BLOCK_DEFAULTS, **SYSTEM_DEFAULTS}
    small = defaults["sat-array"].replace(rows=2, cols=2)
    designs = [("sat-array", f"2 x 2 {small.dtype.value.upper()}", small, True)]
    if quick:
        return designs
    return [
        *designs,
        ("sat-array", "8 x 8 INT8 (r8c8-int8)", SAT_ARRAY_CONFIGS["r8c8-int8"], False),
        ("sat-array", "4 x 4 FP16, 3-stage adders (r4c4-fp16-a3)",
         SAT_ARRAY_CONFIGS["r4c4-fp16-a3"], False),
        ("sore", "default", defaults["sore"], True),
        ("topk", "default", defaults["topk"], False),
        ("weight-update", "default", defaults["weight-update"], False),
        ("sat-accelerator", "4 x 4 INT8, 128-bit AXI (r4c4-int8-w128)", REPORT_SYSTEM, False),
    ]


def synthesis_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Synthesise the designs (the 2 x 2 SAT array only when ``quick``), write
    ``synthesis.json`` and return the section; without Yosys the section says so."""
    target = load_target(SAT_TARGET)
    try:
        version = find_yosys()
    except SynthToolError as error:
        return f"## Synthesis and timing\n\nNot run: {error}.\n"
    rows: list[dict[str, Any]] = []
    for name, label, config, route in _designs(quick):
        top = name.replace("-", "_")
        say(f"synthesising {top} ({label}) with Yosys, or reading it from the cache")
        with tempfile.TemporaryDirectory() as tmp:
            verilog, _ = export_verilog(_COMPONENTS[name](config), name=top, out_dir=Path(tmp),
                                        config=config)
            result = synthesize(verilog, top)
            routed = route_ecp5(verilog, top) if route else None
        rows.append({"block": name, "label": label, "config": describe(config),
                     **result.to_dict(), "shares": result.resources.shares(target.resources),
                     "ecp5": None if routed is None else asdict(routed)})
    (stage / "synthesis.json").write_text(json.dumps(
        {"yosys": version, "target": target.name, "designs": rows}, indent=2) + "\n")
    return _markdown(rows, version, target.name)


def _markdown(rows: list[dict[str, Any]], version: str, target: str) -> str:
    resources = ["| design | LUT | FF | DSP48E2 | BRAM (RAMB36) | logic depth | synthesis |",
                 "|---|---|---|---|---|---|---|"]
    for row in rows:
        r, s = row["resources"], row["shares"]
        depth = "" if row["depth"] is None else _depth(row["depth"])
        took = "cached" if row["cached"] else f"{row['seconds']} s"
        resources.append(
            f"| `{row['block']}` {row['label']} | {r['lut']:,} ({s['lut']:.2%}) | "
            f"{r['ff']:,} ({s['ff']:.2%}) | {r['dsp']:,} ({s['dsp']:.2%}) | "
            f"{r['bram36']:g} ({s['bram36']:.2%}) | {depth} | {took} |")
    routed = ["| design | Fmax | critical path | cells | logic + routing |",
              "|---|---|---|---|---|"]
    for row in rows:
        e = row["ecp5"]
        if e is not None:
            routed.append(f"| `{row['block']}` {row['label']} | {e['fmax_mhz']} MHz | "
                          f"`{e['path_from']}` -> `{e['path_to']}` | {e['path_cells']} | "
                          f"{e['path_logic_ns']} + {e['path_routing_ns']} ns |")
    return f"""## Synthesis and timing

Out of context with {version}: `synth_xilinx -family xcup -flatten -noiopad` (UltraScale+),
cells counted as Vivado's utilisation report counts them, each as a share of the {target}
target's device (`synthesis.json` has every cell count). The logic depth is the longest
register-to-register path in logic levels (LUT, carry, MUXF and DSP cells; the Fmax proxy where
no open place and route exists), with its ends. Each design is synthesised once: later reports
read it from `build/synth/` while its Verilog is unchanged (`sparsa synth BLOCK` prints the
same figures).

{chr(10).join(resources)}

Placed and routed on a Lattice LFE5U-85F (Yosys `synth_ecp5`, `nextpnr-ecp5`, seed 1): a
routed Fmax from an open flow, for designs that fit it (`sparsa synth BLOCK --ecp5`).

{chr(10).join(routed)}
"""


def _depth(depth: dict[str, Any]) -> str:
    return (f"{depth['levels']} ({depth['luts']} LUT, {depth['carries']} carry, "
            f"{depth['muxes']} MUXF, {depth['dsps']} DSP): `{depth['start']}` -> "
            f"`{depth['end']}`" + (f"; {depth['loops_cut']} cell-level loops cut"
                                   if depth["loops_cut"] else ""))

