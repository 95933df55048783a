"""``sparsa verify BLOCK``: many seeded cases of a block's RTL against its golden and cycle
models (the harness is :mod:`sparsa.sim.rtl.verify`)."""

import argparse
from pathlib import Path
from typing import Any

from sparsa.cli.blocks import Block, add_block_commands
from sparsa.cli.options import (
    ProgressBar,
    add_json_file,
    add_seed,
    command_group,
    fail,
    output_file,
    positive_integer,
    progress,
    write_json,
)
from sparsa.config.presets import (
    RTL_TEST_CONFIGS,
    VERIFY_BACKEND,
    VERIFY_BACKENDS,
    VERIFY_CASES,
    VERIFY_JOBS,
    VERIFY_SEED,
)

__all__ = ["add"]

OWN_OPTIONS = ("--seed",)
"""Options of the command that a block's configuration flag may also have (that flag then takes
its alternate option: the top-k engine's LFSR seed is ``--lfsr-seed`` here)."""


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``verify`` and one subcommand per block of :data:`~sparsa.cli.blocks.BLOCKS`."""
    blocks = command_group(commands, "verify", "check a block's RTL against its golden and "
                           "cycle models, case by case", "BLOCK")
    add_block_commands(blocks, _verify, describe=_describe, options=_add_options,
                       reserved=OWN_OPTIONS)


def _describe(block: Block) -> str:
    return (f"Run seeded cases of {block.title} ({block.top}) on amaranth.sim or its generated "
            "Verilog on Verilator, check every answer against the bit-exact golden model and "
            "every cycle count against the cycle model, and print one summary line. Exit "
            "status 1 on any mismatch (the failing cases go to a replay file), 2 for bad input "
            "or a missing Verilator.")


def _add_options(parser: argparse.ArgumentParser, block: Block) -> None:
    count = {"type": positive_integer, "metavar": "N"}
    parser.add_argument("--cases", default=VERIFY_CASES, **count,
                        help="cases to run; the directed corner cases always run, so a few "
                        "more may (default: %(default)s)")
    parser.add_argument("--preset", choices=list(RTL_TEST_CONFIGS[block.name]), metavar="NAME",
                        help="one of the block's named RTL test configurations instead of the "
                        "configuration flags: " + ", ".join(RTL_TEST_CONFIGS[block.name]))
    add_seed(parser, VERIFY_SEED, "the case plan and the stalls")
    parser.add_argument("--backend", choices=VERIFY_BACKENDS, default=VERIFY_BACKEND,
                        help="amaranth.sim, or the Verilog on Verilator (default: %(default)s)")
    parser.add_argument("--jobs", default=VERIFY_JOBS, **{**count, "metavar": "J"},
                        help="processes the cases are spread over (default: %(default)s)")
    parser.add_argument("--no-stalls", action="store_true", help="no idle sources or "
                        "back-pressure (by default half of the random batches have them)")
    add_json_file(parser)
    replay = {"type": Path, "metavar": "FILE"}
    parser.add_argument("--replay", **replay, help="rerun the cases of a replay file (its "
                        "configuration and seed included) instead of a seeded plan")
    parser.add_argument("--replay-out", **{**replay, "type": output_file},
                        default=Path("build/verify") / f"{block.name}-replay.json",
                        help="where failing cases are written (default: %(default)s)")


def _verify(block: Block, config: Any, args: argparse.Namespace) -> int:
    # Imported here: the harness pulls in Amaranth and cocotb, and `--help` should stay quick.
    from sparsa.sim.rtl.runner import RtlToolError
    from sparsa.sim.rtl.verify import verify

    if args.preset is not None:
        config = RTL_TEST_CONFIGS[block.name][args.preset]
    bar = ProgressBar(f"verify {block.name}: cases")
    try:
        result = verify(block.name, config, cases=args.cases, seed=args.seed,
                        backend=args.backend, jobs=args.jobs, stalls=not args.no_stalls,
                        replay_out=args.replay_out, progress=bar, replay=args.replay)
    except (ValueError, RtlToolError) as error:
        return fail(str(error))
    finally:
        bar.close()
    print(result.line())
    summary = result.as_json()
    if args.json:
        write_json(args.json, summary)
    if result.ok:
        return 0
    replay = summary.get("replay")
    if replay:
        progress(f"mismatches: the failing cases are in {replay} (rerun them with "
                 f"'sparsa verify {block.name} --replay {replay}')")
    else:
        progress("mismatches (no replay file was written)")
    return 1
