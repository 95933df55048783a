"""``sparsa report``: generate Verilog, run the benchmarks and write the report."""

import argparse
from pathlib import Path

from sparsa.cli.options import progress, subcommand

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``report``."""
    report = subcommand(commands, "report", _report,
                        "generate Verilog, run the benchmark and write the report (the main job)")
    report.add_argument("--out", type=Path, default=Path("build/report"), metavar="DIR",
                        help="output folder (default: %(default)s)")
    report.add_argument("--quick", action="store_true",
                        help="a smaller run, for a quick look")


def _report(args: argparse.Namespace) -> int:
    """Generate the top-k Verilog, run the benchmark and write the report."""
    from sparsa.reports.main_report import build_report

    print(build_report(args.out, quick=args.quick, progress=progress))
    return 0
