"""Command-line interface of sparsa (thin: one module per command, calling the packages below).

:mod:`~sparsa.cli.main` assembles the commands; :mod:`~sparsa.cli.options` holds what they share
and :mod:`~sparsa.cli.blocks` the one table of the hardware blocks' configuration flags.
"""

from sparsa.cli.main import main

__all__ = ["main"]
