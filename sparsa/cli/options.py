"""What every command shares: the parser whose errors are one line, value types, progress
printing, the failure exit, and the flags several commands spell the same way."""

import argparse
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from sparsa.files import check_writable_place

__all__ = [
    "MAX_SEED",
    "USAGE_ERROR",
    "Parser",
    "ProgressBar",
    "add_json_file",
    "add_json_print",
    "add_seed",
    "command_group",
    "fail",
    "integer",
    "output_dir",
    "output_file",
    "path",
    "positive_float",
    "positive_integer",
    "progress",
    "seed",
    "subcommand",
    "write_json",
]

USAGE_ERROR = 2
"""Exit status of a bad command line or a bad parameter."""


def fail(message: str) -> int:
    """Print ``sparsa: error: message`` on stderr, on one line (the lines of a longer message
    joined); return the exit status of a bad input."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"sparsa: error: {line}", file=sys.stderr)
    return USAGE_ERROR


def progress(message: str) -> None:
    """Print a progress line on stderr."""
    print(f"sparsa: {message}", file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.exit(fail(f"{message} (see '{self.prog} --help')"))


def integer(text: str) -> int:
    """An integer in Python syntax: decimal, or with a 0x, 0o or 0b prefix."""
    return int(text, 0)


def path(text: str) -> Path:
    """A file or folder path; not empty (an empty one would name the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("must name a path, not ''")
    return Path(text)


def _writable_place(target: Path) -> None:
    """:func:`sparsa.files.check_writable_place`, as an argparse type error."""
    try:
        check_writable_place(target)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def output_file(text: str) -> Path:
    """A file to write (checked when the command line is read, before any work): not a folder,
    writable where it exists, under a writable folder (missing folders are made)."""
    target = path(text)
    if target.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; name a file")
    if target.exists() and not os.access(target, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    _writable_place(target)
    return target


def output_dir(text: str) -> Path:
    """A folder to write into (checked when the command line is read, before any work): a
    folder where it exists, under a writable folder (missing folders are made)."""
    target = path(text)
    if target.exists() and not target.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; name a folder")
    if target.is_dir():
        if not os.access(target, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    else:
        _writable_place(target)
    return target


MAX_SEED = 2**63 - 1
"""Largest seed (PyTorch's and numpy's generators take any from 0 up to it)."""


def seed(text: str) -> int:
    """An :func:`integer` from 0 to :data:`MAX_SEED`."""
    value = integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**63 - 1, not {text}")
    return value


def positive_integer(text: str) -> int:
    """An :func:`integer` of at least 1."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def command_group(commands: argparse._SubParsersAction, name: str, help: str,
                  what: str) -> argparse._SubParsersAction:
    """Add the command ``name``, whose subcommand (required) names a ``what`` (``"BLOCK"``);
    return where its subcommands go."""
    group = commands.add_parser(name, help=help)
    return group.add_subparsers(dest=what.lower(), required=True, metavar=what)


def subcommand(subcommands: argparse._SubParsersAction, name: str,
               handler: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` that runs ``handler``, whose docstring is the description
    of its ``--help``; return its parser."""
    description = inspect.cleandoc(handler.__doc__ or "")
    parser = subcommands.add_parser(name, help=help, description=description)
    parser.set_defaults(handler=handler)
    return parser


def add_json_print(parser: argparse.ArgumentParser, what: str = "the results") -> None:
    """``--json``: print the result as JSON on stdout instead of a table."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_json_file(parser: argparse.ArgumentParser) -> None:
    """``--json FILE``: also write the result as JSON (see :func:`write_json`)."""
    parser.add_argument("--json", type=output_file, metavar="FILE",
                        help="also write the result as JSON")


def add_seed(parser: argparse.ArgumentParser, default: int, of: str) -> None:
    """``--seed S``: the seed ``of`` something, shown with its default in the help."""
    parser.add_argument("--seed", type=seed, default=default, metavar="S",
                        help=f"seed of {of} (default: %(default)s)")


def write_json(path: Path, payload: object) -> None:
    """Write ``payload`` as JSON to ``path``, never leaving a half-written file."""
    from sparsa.files import write_atomically

    write_atomically({path: json.dumps(payload, indent=2) + "\n"})


class ProgressBar:
    """A progress callback ``(done, total)`` on stderr.

    On a terminal it redraws one line (``\\r``); elsewhere (a log, a pipe) it prints a line at
    every tenth of the way and at the end.

    Parameters
    ----------
    label : str
        What is counted, e.g. ``"verify topk: cases"``.
    stream : file, optional
        Where to print (stderr by default).
    """

    WIDTH = 30

    def __init__(self, label: str, stream: object = None) -> None:
        self._label = label
        self._stream = sys.stderr if stream is None else stream
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._open = False  # a redrawn line not yet ended
        self._next = 0.0  # fraction at which the next plain line is due

    def __call__(self, done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total > 0 else 1.0
        text = f"sparsa: {self._label} {done}/{total}"
        if self._tty:
            filled = round(self.WIDTH * fraction)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self._write(f"\r{text} [{bar}] {fraction:4.0%}")
            self._open = True
            if fraction >= 1.0:
                self.close()
        elif fraction >= self._next:
            self._write(f"{text} ({fraction:.0%})\n")
            self._next = (int(fraction * 10) + 1) / 10

    def close(self) -> None:
        """End a redrawn line (call once the work is over, done or not)."""
        if self._open:
            self._write("\n")
            self._open = False

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

