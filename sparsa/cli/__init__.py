"""Command-line interface of sparsa (thin: one module per command, calling the packages below)."""

from sparsa.cli.main import main

__all__ = ["main"]
