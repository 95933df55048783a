"""What a run records, for any component: per-job transfer timelines and the run's summary.

Pure Python (no cocotb). A job is one command and its answer (a top-k request, an array tile);
its :class:`Timeline` holds the rising-edge numbers of its command, of its operand beats on
each input stream, and its decoded output beats (anything with ``edge`` and ``last``).
"""

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timeline"]

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
