"""``sparsa synth BLOCK``: synthesise a block or system top for UltraScale+ with Yosys and report
its resources against a target device."""

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sparsa.cli.blocks import SYSTEMS, Block, add_block_commands
from sparsa.cli.options import (
    add_json_file,
    command_group,
    fail,
    output_dir,
    output_file,
    progress,
    subcommand,
    write_json,
)
from sparsa.config.presets import SAT_TARGET

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``synth`` and one subcommand per block and system."""
    blocks = command_group(commands, "synth", "synthesise a hardware block for an FPGA and "
                           "report its resources", "BLOCK")
    add_block_commands(blocks, _synth, describe=_describe, options=_add_options)
    add_block_commands(blocks, _synth, describe=_describe, options=_add_options, table=SYSTEMS)
    fit = subcommand(blocks, "fit", _fit, "refit the resource model to a grid of syntheses")
    fit.add_argument("--out", type=output_file, metavar="FILE",
                     help="write the model there instead of the packaged "
                     "sparsa/sim/network/resource_model.json")


DESCRIPTION = (
    "Export {title} ({top}.v), synthesise it out of context with Yosys synth_xilinx -family "
    "xcup (UltraScale+) and print its LUT, FF, carry, DSP, block-RAM and URAM counts, each as a "
    "share of the target device, and the logic depth of the longest register-to-register path "
    "(LUT, carry, MUXF and DSP levels; the Fmax proxy). Results are cached under build/synth/ "
    "by the Verilog and the Yosys version. Needs Yosys with a working ABC on PATH (Debian: "
    "apt-get install yosys); exit status 2 without it."
)


def _describe(block: Block) -> str:
    return DESCRIPTION.format(title=block.title, top=block.top)


def _add_options(parser: argparse.ArgumentParser, block: Block) -> None:
    parser.add_argument("--target", default=SAT_TARGET, metavar="NAME|FILE",
                        help="the device whose capacity the shares are of: a built-in target "
                        "with a [resources] table or a target file (default: %(default)s)")
    parser.add_argument("--out", type=output_dir, metavar="DIR",
                        help="also keep the exported Verilog in DIR")
    parser.add_argument("--ecp5", action="store_true",
                        help="also place and route it on a Lattice LFE5U-85F (Yosys synth_ecp5, "
                        "nextpnr-ecp5) and print the routed Fmax and the critical path")
    add_json_file(parser)


def _synth(block: Block, config: Any, args: argparse.Namespace) -> int:
    from sparsa.hw.export import export_verilog
    from sparsa.hw.synthesis import SynthToolError, find_yosys, route_ecp5, synthesize
    from sparsa.sim.network.target import load_target

    try:
        target = load_target(args.target)
        capacity = target.resources
        missing = {"luts", "ffs", "dsps", "bram36", "uram"} - set(capacity)
        if missing:
            raise ValueError(f"target {target.name} has no {', '.join(sorted(missing))} in "
                             "its [resources] table")
        find_yosys()
        component = block.build(config)
    except (ValueError, SynthToolError) as error:
        return fail(str(error))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out if args.out is not None else Path(tmp)
        progress(f"exporting {block.title} ...")
        verilog, _ = export_verilog(component, name=block.top, out_dir=out, config=config)
        progress(f"synthesising {verilog.name} with Yosys synth_xilinx (UltraScale+) ...")
        try:
            result = synthesize(verilog, block.top)
            routed = None
            if args.ecp5:
                progress("placing and routing it on an LFE5U-85F with nextpnr-ecp5 ...")
                routed = route_ecp5(verilog, block.top)
        except SynthToolError as error:
            print(f"sparsa: {error}", file=sys.stderr)
            return 1
    shares = result.resources.shares(capacity)
    r = result.resources
    rows = [("LUT", r.lut, capacity["luts"], shares["lut"]),
            ("  of which LUT-RAM/SRL", r.lut_memory, None, None),
            ("FF", r.ff, capacity["ffs"], shares["ff"]),
            ("CARRY", r.carry, None, None),
            ("DSP48E2", r.dsp, capacity["dsps"], shares["dsp"]),
            ("BRAM (RAMB36 eq.)", r.bram36, capacity["bram36"], shares["bram36"]),
            ("URAM", r.uram, capacity["uram"], shares["uram"])]
    print(f"{block.top} on {target.name} ({result.yosys}; "
          f"{'cached' if result.cached else f'{result.seconds} s'})")
    for name, count, cap, share in rows:
        tail = "" if cap is None else f" of {cap:>9,} = {share:7.3%}"
        print(f"  {name:24s} {count:>9,}{tail}")
    d = result.depth
    if d is not None:
        print(f"  logic depth              {d.levels:>9} levels ({d.luts} LUT, {d.carries} carry, "
              f"{d.muxes} MUXF, {d.dsps} DSP): {d.start} -> {d.end}; longest carry chain "
              f"{d.longest_carry_chain}"
              + (f"; {d.loops_cut} cell-level loop(s) cut" if d.loops_cut else ""))
    if routed is not None:
        used = ", ".join(f"{k} {u:,} of {a:,}" for k, (u, a) in routed.utilisation.items())
        print(f"{block.top} routed on an LFE5U-85F: Fmax {routed.fmax_mhz} MHz "
              f"({'cached' if routed.cached else f'{routed.seconds} s'}); {used}")
        print(f"  critical path: {routed.path_from} -> {routed.path_to}, {routed.path_cells} "
              f"cells, {routed.path_logic_ns} ns logic + {routed.path_routing_ns} ns routing")
    if args.json is not None:
        write_json(args.json, {"block": block.name, "config": repr(config),
                               "target": target.name, **result.to_dict(), "shares": shares,
                               "ecp5": None if routed is None else asdict(routed)})
    return 0


def _fit(args: argparse.Namespace) -> int:
    """Synthesise every configuration of the resource model's grid
    (sparsa.config.presets.RESOURCE_FIT_GRID: small PE arrays, SOREs, top-k and weight-update
    engines, two systems) one at a time with Yosys synth_xilinx -family xcup, fit the model's
    coefficients by least squares and write them with their provenance (each point's
    configuration, resources and Verilog digest, the Yosys version, the date) to the
    packaged sparsa/sim/network/resource_model.json, replacing it atomically. Syntheses are cached
    under build/synth/, so a rerun after an RTL change synthesises only what changed (about
    13 minutes from scratch on two cores). Needs Yosys on PATH (Debian: apt-get install
    yosys); exit status 2 without it, 1 if a synthesis fails."""
    from sparsa.config.presets import RESOURCE_FIT_GRID
    from sparsa.hw.synthesis import SynthToolError, find_yosys
    from sparsa.sim.network.resource_fit import fit_model
    from sparsa.sim.network.resources import MODEL_FILE

    try:
        find_yosys()
    except SynthToolError as error:
        return fail(str(error))
    out = MODEL_FILE if args.out is None else args.out

    def report(done: int, total: int, line: str) -> None:
        progress(f"fit {done}/{total}: {line}")

    progress(f"synthesising the {len(RESOURCE_FIT_GRID)} configurations of the grid, "
             "one at a time ...")
    try:
        data = fit_model(RESOURCE_FIT_GRID, progress=report)
    except SynthToolError as error:
        print(f"sparsa: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        return fail(str(error))
    write_json(out, data)
    worst = {r: max(abs(p["predicted"][r] - p["resources"][r]) / max(p["resources"][r], 1)
                    for p in data["grid"]) for r in ("lut", "ff", "dsp")}
    print(f"wrote {out}: {len(data['grid'])} points, {data['yosys']}; largest error on the "
          "grid " + ", ".join(f"{r.upper()} {e:.1%}" for r, e in worst.items()))
    return 0
