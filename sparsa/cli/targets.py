"""``sparsa targets``: list the built-in targets."""

import argparse

from sparsa.cli.options import subcommand

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``targets``."""
    subcommand(commands, "targets", _targets, "list the built-in targets")


def _targets(args: argparse.Namespace) -> int:
    """List the built-in targets (sim/targets/*.toml)."""
    from sparsa.sim.network.target import list_targets, load_target

    for name in list_targets():
        target = load_target(name)
        dram = target.dram
        print(f"{name:14} {target.clock_hz / 1e6:7.0f} MHz  {dram.kind} "
              f"{dram.channels} x {dram.channel_bytes_per_s / 1e9:.3g} GB/s "
              f"= {dram.peak_bytes_per_s / 1e9:.4g} GB/s  {target.description}")
    return 0
