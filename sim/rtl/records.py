"""What a run records, for any component: per-job transfer timelines and the run's summary.

Pure Python (no cocotb). A job is one command and its answer (a top-k request, an array tile);
its :class:`Timeline` holds the rising-edge numbers of its command, of its operand beats on
each input stream, and its decoded output beats (anything with ``edge`` and ``last``).
"""

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["MAX_REPORTED", "RunSummary", "Timeline", "check_operands"]

MAX_REPORTED = 10


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


def check_operands(timeline: Timeline, beats: dict[str, int]) -> list[str]:
    """Problems with a finished job's operand transfers: exactly its own beats (``beats``:
    count per stream, zero for a rejected command) must be consumed after its command and by
    the end of its answer."""
    assert timeline.cmd_edge is not None and timeline.out
    problems = []
    end = timeline.out[-1].edge
    for stream, want in beats.items():
        edges = timeline.inputs.get(stream, [])
        if any(not timeline.cmd_edge < e <= end for e in edges):
            problems.append(f"{stream} beats transferred outside the command's span")
        if len(edges) != want:
            problems.append(f"{len(edges)} {stream} beats consumed, expected {want}")
    return problems


@dataclass
class RunSummary:
    """Counts and the first failures of one run, written as JSON for the pytest side.

    Subclasses add their own counters and :meth:`counts_text`.
    """

    label: str
    seed: int
    mismatches: int = 0
    cycle_checks: int = 0
    cycle_mismatches: int = 0
    cycles: int = 0
    cycle_model_error: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No mismatch of any kind and the cycle model was available."""
        return not (self.mismatches or self.cycle_mismatches or self.cycle_model_error)

    def fail(self, text: str) -> None:
        """Keep the text of one of the first :data:`MAX_REPORTED` failures."""
        if len(self.failures) < MAX_REPORTED:
            self.failures.append(text)

    def counts_text(self) -> str:
        """What the run covered, for :meth:`line`."""
        raise NotImplementedError

    def line(self) -> str:
        """One-line summary."""
        return (
            f"{self.label} seed={self.seed}: {self.counts_text()}, {self.mismatches} mismatches, "
            f"{self.cycle_checks} cycle checks ({self.cycle_mismatches} mismatches), "
            f"{self.cycles} cycles"
        )

    def as_json(self) -> dict[str, Any]:
        """Plain-data form of the summary, with :meth:`line` and :attr:`ok`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        plain = {k: dict(v) if isinstance(v, Counter) else v for k, v in values.items()}
        return {"line": self.line(), "ok": self.ok, **plain}
