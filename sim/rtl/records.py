"""What a run records, for any component: per-job transfer timelines, and the framing check of
an answer's beats.

Pure Python (no cocotb). A job is one command and its answer (a top-k request, an array tile);
its :class:`Timeline` holds the rising-edge numbers of its command, of its operand beats on
each input stream, and its decoded output beats (anything with ``edge`` and ``last``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timeline", "check_framing"]


@dataclass
class Timeline:
    """Rising-edge numbers of one job's transfers (filled in as they happen)."""

    cmd_edge: int | None = None
    inputs: dict[str, list[int]] = field(default_factory=dict)
    out: list[Any] = field(default_factory=list)

    def record(self, stream: str, edge: int) -> None:
        """Note a transfer on ``stream`` (``"cmd"`` or an operand stream) at ``edge``."""
        if stream == "cmd":
            self.cmd_edge = edge
        else:
            self.inputs.setdefault(stream, []).append(edge)

    @property
    def measured_cycles(self) -> int:
        """Edges from the cmd transfer to the final output transfer."""
        assert self.cmd_edge is not None and self.out
        return self.out[-1].edge - self.cmd_edge

    def describe(self) -> str:
        """Transfer edges relative to the cmd transfer, for failure reports."""
        if self.cmd_edge is None:
            return "cmd never transferred"
        parts = []
        for stream, edges in self.inputs.items():
            rel = [e - self.cmd_edge for e in edges]
            parts.append(f"{stream} {rel[0]}..{rel[-1]} ({len(rel)} beats)")
        out = [b.edge - self.cmd_edge for b in self.out]
        return f"edges after cmd: {', '.join(parts) or 'no operand beats'}, out {out}"


def check_framing(beats: Sequence[Any], expected: int) -> list[str]:
    """Problems with the framing of the ``out`` beats answering a good command: not
    ``expected`` of them, an ``error`` flag set, ``last`` set before the final one."""
    problems = []
    if len(beats) != expected:
        problems.append(f"expected {expected} out beats, got {len(beats)}")
    if any(b.error for b in beats):
        problems.append("error flag set on a good command")
    if any(b.last for b in beats[:-1]):
        problems.append("last set before the final beat")
    return problems
