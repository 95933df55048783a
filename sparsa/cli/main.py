"""The ``sparsa`` command line: thin argparse subcommands over hw, sim and reports.

Subcommands (one module of :mod:`sparsa.cli` each)::

    sparsa verilog {topk,sat-array,sore,attention-core} [BLOCK FLAGS] --out DIR
    sparsa verify {topk,sat-array,sore,attention-core} [BLOCK FLAGS] [--cases N] [--seed S]
                  [--backend {amaranth,verilator}] [--jobs J] [--no-stalls] [--json FILE]
                  [--replay FILE] [--replay-out FILE]
        BLOCK FLAGS (sparsa.cli.blocks; the defaults are sparsa.config.presets.BLOCK_DEFAULTS):
        topk            [--lanes P] [--comparators C] [--capacity N] [--width W]
                        [--signed | --no-signed] [--pivot {middle,lfsr}] [--seed S]
                        (--lfsr-seed S in verify, whose --seed is the plan's)
        sat-array       [--rows R] [--cols C] [--patterns 2:4,2:8]
                        [--dtype int8|int16|fp16|bf16] [--max-reduction K] [--no-interleave]
                        [--add-latency L]
        sore            [--lanes L] [--m M] [--dtype int8|int16]
        attention-core  [--dim D] [--multipliers M] [--msb-bits B] [--max-tokens N]
                        [--comparators C] [--topk-engines T] [--heads H]
    sparsa bench topk [--json] [--trials T] [--seed S]
    sparsa bench sat [--json] [--seed S]
    sparsa bench sat-training [--json] [--target T] [--batch B]
    sparsa simulate sat --model M [--pattern dense|N:M] [--target T] [--batch B]
                        [--no-interleave] [--no-pregen] [--no-offline-schedule] [--json FILE]
    sparsa verilog sat-accelerator [SYSTEM FLAGS] --out DIR
    sparsa synth {BLOCK,sat-accelerator} [FLAGS] [--target T] [--out DIR] [--ecp5] [--json FILE]
    sparsa vivado {BLOCK,sat-accelerator} [FLAGS] --out DIR [--target T] [--clock-mhz F]
    sparsa run sat [SYSTEM FLAGS] --model M [--pattern dense|N:M] [--layers N] [--batch B]
                   [--latency L] [--target T] [--seed S] [--json FILE]
        SYSTEM FLAGS: [--rows R] [--cols C] [--patterns 2:4,2:8] [--dtype D]
                      [--max-reduction K] [--out-width W] [--a-rows N] [--b-rows N]
                      [--out-rows N] [--program-depth N] [--data-width BITS] [--addr-width BITS]
                      [--max-burst BEATS] [--max-reads N] [--max-writes N] [--dram-bytes BYTES]
    sparsa simulate spatten --model gpt2-small|gpt2-medium|bert-base|bert-large [--target T]
                            [--core rtl|paper]
                            [--trace FILE | --run [POLICY]] [--json FILE]
    sparsa trace spatten --model M [POLICY] [--prompt-len L] [--steps S] [--seed S] --out FILE
        POLICY: [--token-keep R|R0,R1] [--head-keep R|R0,R1] [--v-keep R] [--msb-bits B]
                [--threshold T] [--quantize-v]
    sparsa targets
    sparsa baseline --workload W [--batch B] [--seq-len L] [--warmup N] [--repeats N]
                    [--threads T] [--device DEV] [--json]
    sparsa report [--out DIR] [--quick] [--force]

A bad parameter exits with status 2 and a one-line ``sparsa: error: ...`` message on stderr;
SIGINT and SIGTERM end a command with one line and the status a shell gives a killed process
(130, 143).
"""

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sparsa.cli import (
    baseline,
    bench,
    report,
    run,
    simulate,
    synth,
    targets,
    trace,
    verify,
    verilog,
    vivado,
)
from sparsa.cli.options import Parser

__all__ = ["INTERRUPTED", "TERMINATED", "build_parser", "main"]

INTERRUPTED = 128 + signal.SIGINT
"""Exit status after SIGINT (Ctrl-C), as a shell reports a process it killed."""
TERMINATED = 128 + signal.SIGTERM
"""Exit status after SIGTERM."""


class _Terminated(BaseException):
    """SIGTERM, raised where the command is so that its clean-up runs (a BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` takes it for an error)."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _stop_children() -> None:
    """Send SIGTERM to this process's descendants (a simulator or a synthesis tool it started),
    so that none is left running without its parent (Linux: found through /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sparsa`` command."""
    parser = Parser(
        prog="sparsa",
        description="Hardware co-design suite for sparse deep-learning accelerators.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (verilog, verify, synth, vivado, bench, simulate, run, trace, targets,
                    baseline, report):
        command.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sparsa`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the work found a problem (lint warnings, a
        verification mismatch), 2 for a bad command line, :data:`INTERRUPTED` after SIGINT and
        :data:`TERMINATED` after SIGTERM (one line on stderr; the command's temporary files
        removed, the processes it started stopped).
    """
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        _stop_children()
        print("sparsa: interrupted", file=sys.stderr)
        return INTERRUPTED
    except _Terminated:
        _stop_children()
        print("sparsa: terminated", file=sys.stderr)
        return TERMINATED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
