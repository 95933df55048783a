"""Compare the engine's responses with the golden model and its cycles with the cycle model.

Pure Python (no cocotb): :func:`check_response` and :func:`check_order` return a list of
problems (empty when all is well) so that a run can carry on and report every mismatch.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hw.topk_config import TopKConfig
from models.topk import topk

from .codec import DoutBeat
from .stimulus import Request, Stalls

__all__ = ["Summary", "Timeline", "check_order", "check_response", "expected_pairs"]

MAX_REPORTED = 10


@dataclass
class Timeline:
    """Rising-edge numbers of one request's transfers (filled in as they happen)."""

    cmd_edge: int | None = None
    din_edges: list[int] = field(default_factory=list)
    dout: list[DoutBeat] = field(default_factory=list)

    @property
    def measured_cycles(self) -> int:
        """Edges from the cmd transfer to the final dout transfer."""
        assert self.cmd_edge is not None and self.dout
        return self.dout[-1].edge - self.cmd_edge

    def describe(self) -> str:
        """Transfer edges relative to the cmd transfer, for failure reports."""
        if self.cmd_edge is None:
            return "cmd never transferred"
        rel = [e - self.cmd_edge for e in self.din_edges]
        dout = [b.edge - self.cmd_edge for b in self.dout]
        din = f"{rel[0]}..{rel[-1]}" if rel else "none"
        return f"edges after cmd: din {din} ({len(rel)} beats), dout {dout}"


def expected_pairs(config: TopKConfig, request: Request) -> list[tuple[int, int]]:
    """The golden (index, value) pairs of a valid request, indices ascending."""
    indices, kept = topk(list(request.values), request.k, width=config.width, signed=config.signed)
    return list(zip(indices.tolist(), kept.tolist(), strict=True))


def check_response(config: TopKConfig, request: Request, beats: list[DoutBeat]) -> list[str]:
    """Problems with the dout beats answering ``request`` (the last one has ``last`` set)."""
    lanes = config.lanes
    if request.is_error(config):
        beat = beats[0]
        if len(beats) != 1 or not beat.error or beat.count != 0 or not beat.last:
            return [f"error request must get one beat error=1 count=0 last=1, got {len(beats)}"]
        return []
    problems = []
    want_beats = max(1, -(-request.k // lanes))
    if len(beats) != want_beats:
        problems.append(f"expected {want_beats} dout beats, got {len(beats)}")
    if any(b.error for b in beats):
        problems.append("error flag set on a valid request")
    for i, beat in enumerate(beats[:-1]):
        if beat.count != lanes:
            problems.append(f"beat {i} is not the last but has count={beat.count} != P={lanes}")
    if not 0 <= beats[-1].count <= lanes:
        problems.append(f"last beat count={beats[-1].count} outside 0..{lanes}")
    got = [pair for b in beats for pair in zip(b.index[: b.count], b.value[: b.count], strict=True)]
    want = expected_pairs(config, request)
    if got != want:
        problems.append(f"kept pairs differ:\n    expected {want}\n    got      {got}")
    return problems


def check_order(previous: Timeline | None, current: Timeline) -> list[str]:
    """Problems with the one-request-at-a-time handshake order between two requests."""
    if previous is None or current.cmd_edge is None:
        return []
    problems = []
    if previous.dout and current.cmd_edge <= previous.dout[-1].edge:
        problems.append("cmd accepted before the previous response had finished")
    if previous.din_edges and current.cmd_edge <= previous.din_edges[-1]:
        problems.append("cmd accepted before all din beats of the previous request")
    return problems


@dataclass
class Summary:
    """Counts and the first failures of one run, written as JSON for the pytest side."""

    label: str
    seed: int
    requests: int = 0
    error_requests: int = 0
    k_zero_requests: int = 0
    stalled_requests: int = 0
    mismatches: int = 0
    cycle_checks: int = 0
    cycle_mismatches: int = 0
    cycles: int = 0
    patterns: Counter[str] = field(default_factory=Counter)
    cycle_model_error: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No mismatch of any kind and the cycle model was available."""
        return not (self.mismatches or self.cycle_mismatches or self.cycle_model_error)

    def count(self, config: TopKConfig, request: Request, stalls: Stalls) -> None:
        """Account for one completed request."""
        self.requests += 1
        self.error_requests += request.is_error(config)
        self.k_zero_requests += request.k == 0 and not request.is_error(config)
        self.stalled_requests += not stalls.none
        self.patterns[request.pattern] += 1

    def fail(self, text: str) -> None:
        """Keep the text of one of the first :data:`MAX_REPORTED` failures."""
        if len(self.failures) < MAX_REPORTED:
            self.failures.append(text)

    def line(self) -> str:
        """One-line summary."""
        return (
            f"{self.label} seed={self.seed}: {self.requests} requests "
            f"({self.error_requests} errors, {self.k_zero_requests} with k=0, "
            f"{self.stalled_requests} stalled), {self.mismatches} mismatches, "
            f"{self.cycle_checks} cycle checks ({self.cycle_mismatches} mismatches), "
            f"{self.cycles} cycles"
        )

    def as_json(self) -> dict[str, Any]:
        """Plain-data form of the summary."""
        return {
            "line": self.line(),
            "ok": self.ok,
            "label": self.label,
            "seed": self.seed,
            "requests": self.requests,
            "error_requests": self.error_requests,
            "k_zero_requests": self.k_zero_requests,
            "stalled_requests": self.stalled_requests,
            "mismatches": self.mismatches,
            "cycle_checks": self.cycle_checks,
            "cycle_mismatches": self.cycle_mismatches,
            "cycles": self.cycles,
            "patterns": dict(self.patterns),
            "cycle_model_error": self.cycle_model_error,
            "failures": self.failures,
        }
