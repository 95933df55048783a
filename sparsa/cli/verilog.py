"""``sparsa verilog BLOCK``: write a block's Verilog, sidecar and waivers, and lint it."""

import argparse
import sys
from pathlib import Path
from typing import Any

from sparsa.cli.blocks import SYSTEMS, Block, add_block_commands
from sparsa.cli.options import command_group, fail, output_dir, progress

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``verilog`` and one subcommand per block of :data:`~sparsa.cli.blocks.BLOCKS` and
    per system of :data:`~sparsa.cli.blocks.SYSTEMS`."""
    blocks = command_group(commands, "verilog", "generate Verilog of a hardware block", "BLOCK")
    add_block_commands(blocks, _verilog, describe=_describe, options=_add_out)
    add_block_commands(blocks, _verilog, describe=_describe, options=_add_out, table=SYSTEMS)


def _describe(block: Block) -> str:
    top = block.top
    return (f"Write {top}.v, {top}.json (config, ports, tool versions), {top}.md (the datasheet: "
            f"clock, reset, handshake, ports, field formats, enumerations, timing) and {top}.vlt "
            f"(Verilator waivers) into DIR, then lint {top}.v with Verilator (exit status 1 if "
            f"it warns).{block.note}")


def _add_out(parser: argparse.ArgumentParser, block: Block) -> None:
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                        help="output folder (created if missing)")


def _verilog(block: Block, config: Any, args: argparse.Namespace) -> int:
    try:
        component = block.build(config)
    except ValueError as error:
        return fail(str(error))
    progress(f"generating Verilog of {block.title} for {config} ...")
    return _export(component, block, config, args.out)


def _export(component: object, block: Block, config: object, out: Path) -> int:
    """Write the Verilog, its sidecar, datasheet and waivers, lint it; exit status 1 on lint
    warnings."""
    from sparsa.hw.export import export_verilog, lint_verilog

    verilog_path, json_path = export_verilog(component, name=block.top, out_dir=out,
                                             config=config, datasheet=block.datasheet_of(config))
    progress(f"linting {verilog_path} with Verilator ...")
    warnings = lint_verilog(verilog_path)
    print(verilog_path)
    print(json_path)
    print(verilog_path.with_suffix(".md"))
    for warning in warnings:
        print(warning, file=sys.stderr)
    if warnings:
        progress(f"{len(warnings)} lint warning(s) in {verilog_path}")
        return 1
    return 0
