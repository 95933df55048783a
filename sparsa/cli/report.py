"""``sparsa report``: generate Verilog, run the benchmarks and write the report."""

import argparse
from pathlib import Path

from sparsa.cli.options import fail, path, progress, subcommand

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``report``."""
    report = subcommand(commands, "report", _report,
                        "generate Verilog, run the benchmark and write the report (the main job)")
    report.add_argument("--out", type=path, default=Path("build/report"), metavar="DIR",
                        help="output folder: new, empty or a previous report, which is "
                        "replaced (default: %(default)s)")
    report.add_argument("--force", action="store_true",
                        help="replace --out even when it holds files and is not a previous "
                        "report")
    report.add_argument("--quick", action="store_true",
                        help="a smaller run, for a quick look")


def _report(args: argparse.Namespace) -> int:
    """Build every block's Verilog and run its checks, the benchmarks, the network simulations,
    the end-to-end system runs, synthesis and the software baselines, and write the report with
    its tables and figures (report.md in --out)."""
    from sparsa.reports.main_report import build_report, check_report_dir

    try:
        check_report_dir(args.out, force=args.force)
    except ValueError as error:
        return fail(str(error))
    print(build_report(args.out, quick=args.quick, progress=progress, force=args.force))
    return 0
