"""Stall settings of a batch of jobs: idle input streams and output back-pressure (pure Python)."""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STALL_LEVELS", "Stalls", "random_stalls"]

STALL_LEVELS = (0.0, 0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Stalls:
    """Per-cycle probabilities of an idle source, per input stream, and of output back-pressure.

    Attributes
    ----------
    idle : mapping of str to float
        Input stream name to the probability that its source idles a cycle before a beat.
    busy : float
        Probability that the output sink is not ready in a cycle.
    """

    idle: Mapping[str, float] = field(default_factory=dict)
    busy: float = 0.0

    @property
    def none(self) -> bool:
        """True when nothing stalls, i.e. the cycle count of each job is checkable."""
        return not (any(self.idle.values()) or self.busy)

    def describe(self) -> str:
        """Short text for failure reports."""
        idle = " ".join(f"{name}={p}" for name, p in self.idle.items())
        return f"stalls {idle} out busy={self.busy}" if not self.none else "no stalls"

    def to_json(self) -> dict[str, Any]:
        """Plain-data form (for replay files)."""
        return {"idle": dict(self.idle), "busy": self.busy}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Stalls":
        """Inverse of :meth:`to_json`."""
        return cls(idle=dict(data["idle"]), busy=data["busy"])


def random_stalls(
    rng: random.Random, sources: Sequence[str], levels: Sequence[float] = STALL_LEVELS
) -> Stalls:
    """Draw a stall setting (not all zero): one level per source, in order, then the sink's."""
    stalls = Stalls()
    while stalls.none:
        idle = {name: rng.choice(levels) for name in sources}
        stalls = Stalls(idle=idle, busy=rng.choice(levels))
    return stalls
