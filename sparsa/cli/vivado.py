"""``sparsa vivado BLOCK``: the Verilog of a block or system top and a Vivado build for it."""

import argparse
from typing import Any

from sparsa.cli.blocks import SYSTEMS, Block, add_block_commands
from sparsa.cli.options import command_group, fail, output_dir, positive_float, progress
from sparsa.config.presets import SAT_TARGET

__all__ = ["add"]

DESCRIPTION = (
    "Write {top}.v and its sidecar, build.tcl (a Vivado batch build out of context: synthesis, "
    "optimisation, placement, routing, utilisation and timing reports, the routed checkpoint) "
    "and {top}.xdc (the clock) into DIR. Run `vivado -mode batch -source build.tcl` there."
)


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``vivado`` and one subcommand per block and system."""
    blocks = command_group(commands, "vivado", "write a Vivado build of a hardware block",
                           "BLOCK")
    add_block_commands(blocks, _vivado, describe=_describe, options=_add_options)
    add_block_commands(blocks, _vivado, describe=_describe, options=_add_options, table=SYSTEMS)


def _describe(block: Block) -> str:
    return DESCRIPTION.format(top=block.top)


def _add_options(parser: argparse.ArgumentParser, block: Block) -> None:
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                        help="output folder (created if missing)")
    parser.add_argument("--target", default=SAT_TARGET, metavar="NAME",
                        help="the FPGA target whose part and clock the build uses "
                        "(default: %(default)s)")
    parser.add_argument("--clock-mhz", type=positive_float, metavar="F",
                        help="the clock constraint instead of the target's clock")


def _vivado(block: Block, config: Any, args: argparse.Namespace) -> int:
    from sparsa.hw.export import export_verilog
    from sparsa.hw.vivado import PARTS, write_vivado_build
    from sparsa.sim.network.target import load_target

    try:
        if args.target not in PARTS:
            raise ValueError(f"target {args.target!r} has no Vivado part; FPGA targets: "
                             f"{', '.join(sorted(PARTS))}")
        clock_hz = (load_target(args.target).clock_hz if args.clock_mhz is None
                    else args.clock_mhz * 1e6)
        component = block.build(config)
    except ValueError as error:
        return fail(str(error))
    progress(f"exporting {block.title} ...")
    verilog, sidecar = export_verilog(component, name=block.top, out_dir=args.out, config=config)
    for path in (verilog, sidecar, *write_vivado_build(args.out, block.top, target=args.target,
                                                       clock_hz=clock_hz)):
        print(path)
    return 0
