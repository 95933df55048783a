"""Cycle model of SAT's sparse online reduction engine (:class:`sparsa.hw.sat.sore.Sore`).

With commands and weights valid whenever the engine wants them and the output always ready, a
command asking for c copies (c = 1 or 2) takes, alone, from the clock edge that transfers its
command to the one that transfers its last output beat:

* M + c M + 1 cycles: M cycles to load the tile's M rows (the tile is handed to the reducer with
  its last row), M reduction steps per copy (the last one registers the copy's beat), and the
  transfer of the last beat;
* a rejected command: 3 cycles (handed to the reducer, its error beat registered, transferred).

Back to back, the loader takes a command at the edge where it hands the previous one to the
reducer, and a command is handed over once loaded and once the reducer finishes the previous
one. With H the edge of command k's handoff, C its command transfer, F the reducer's last step
and T the transfer of its last beat:

* C(0) = 0 and C(k) = H(k - 1);
* H(k) = max(C(k) + M, F(k - 1)) for a good command, max(C(k) + 1, F(k - 1)) for a rejected one
  (F(-1) = 0);
* F(k) = H(k) + c M for a good command, H(k) + 1 for a rejected one; T(k) = F(k) + 1.

So a stream of c-copy commands finishes one every max(M, c M) = c M cycles.
"""

from collections.abc import Iterable

from sparsa.config.checks import is_int
from sparsa.config.sat import BdwpPass, SoreConfig
from sparsa.hw.sat.sore import cmd_layout

__all__ = ["REJECT_CYCLES", "command_cycles", "last_beat_cycles", "stream_cycles"]

REJECT_CYCLES = 3


def _copies(config: SoreConfig, n: int, copies: int) -> int:
    """Copies the RTL produces for the command (0 when it rejects it), after range checks."""
    n_max = (1 << cmd_layout(config).members["n"].width) - 1
    if not is_int(n) or not 0 <= n <= n_max:
        raise ValueError(f"n must be an integer from 0 to {n_max} (the cmd field), not {n!r}")
    if not is_int(copies) or not 0 <= copies <= 3:
        raise ValueError(f"copies must be an integer from 0 to 3 (1 = FF, 2 = BP, 3 = both), "
                         f"not {copies!r}")
    if not 1 <= n < config.m:
        return 0
    return sum(copies >> p & 1 for p in BdwpPass)


def command_cycles(config: SoreConfig, *, n: int, copies: int) -> int:
    """Cycles of one command on an idle engine, exactly as the RTL takes them (see the module
    docstring).

    Parameters
    ----------
    config : SoreConfig
    n : int
        The command's N field (0 to the field's maximum; outside 1..M - 1 it is rejected).
    copies : int
        The copies mask, 0 to 3 (bit ``1 << p`` asks for the copy of
        :class:`sparsa.config.sat.BdwpPass` p; 0 is rejected).
    """
    c = _copies(config, n, copies)
    return REJECT_CYCLES if c == 0 else (1 + c) * config.m + 1


def last_beat_cycles(config: SoreConfig, commands: Iterable[tuple[int, int]]) -> list[int]:
    """Edge, counted from the one that transfers the first command, that transfers each
    command's last output beat when the commands run back to back (see the module docstring).

    Parameters
    ----------
    config : SoreConfig
    commands : iterable of (n, copies)
        The commands in order, fields as in :func:`command_cycles`.
    """
    M = config.m
    result = []
    start = finish = 0  # C(k) and F(k - 1)
    for n, copies in commands:
        c = _copies(config, n, copies)
        handoff = max(start + (M if c else 1), finish)
        finish = handoff + (c * M if c else 1)
        result.append(finish + 1)
        start = handoff
    return result


def stream_cycles(config: SoreConfig, *, n: int, copies: int, count: int) -> int:
    """Edge of the last beat of ``count`` identical good commands run back to back.

    In steady state the double-buffered tile loads overlap the reductions, so each command
    adds ``copies * M`` cycles after the first tile's M load cycles: M + count * c * M + 1
    (equal to the last entry of :func:`last_beat_cycles`, without a loop over commands).
    """
    c = _copies(config, n, copies)
    if not c:
        raise ValueError(f"stream_cycles needs good commands; N = {n} with copies = {copies} "
                         f"is rejected by the SORE")
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count!r}")
    return config.m + count * c * config.m + 1
