"""Seeded request plans for the top-k engine: directed corner cases, then random batches.

Pure Python (no cocotb), so the plan itself is unit-tested without a simulator.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from sparsa.config.topk import TopKConfig
from sparsa.sim.rtl.plans import alternating_plan, random_size
from sparsa.sim.rtl.stalls import Stalls

__all__ = [
    "PATTERNS",
    "SOURCES",
    "Batch",
    "Request",
    "make_plan",
    "make_values",
    "replay_from_json",
    "replay_to_json",
]

PATTERNS = ("uniform", "ties", "equal", "ascending", "descending", "extremes")
SOURCES = ("cmd", "din")  # the engine's input streams, in the order their sources are made
BATCH_SIZE = 20
ERROR_RATE = 0.06


@dataclass(frozen=True)
class Request:
    """One top-k request as the testbench drives it.

    Attributes
    ----------
    n, k : int
        The cmd fields; ``len(values) == n``.
    values : tuple of int
        The n input values, in the configuration's number format.
    pattern : str
        Which of :data:`PATTERNS` produced the values (reported on failure).
    junk : tuple of int
        Values for the lanes of the last din beat past n (don't-care for the engine).
    """

    n: int
    k: int
    values: tuple[int, ...]
    pattern: str
    junk: tuple[int, ...]

    def is_error(self, config: TopKConfig) -> bool:
        """Whether the engine must answer with a single error beat."""
        return self.n == 0 or self.n > config.capacity or self.k > self.n

    def din_beats(self, config: TopKConfig) -> list[list[int]]:
        """The ceil(n / P) din beats, P values each (the last one padded with ``junk``)."""
        lanes = config.lanes
        padded = self.values + self.junk
        return [list(padded[i : i + lanes]) for i in range(0, len(padded), lanes)]


@dataclass(frozen=True)
class Batch:
    """Requests run back to back under one stall setting."""

    requests: tuple[Request, ...]
    stalls: Stalls

    @property
    def cases(self) -> tuple[Request, ...]:
        """Its requests (the harness's cases)."""
        return self.requests


def make_values(rng: random.Random, pattern: str, n: int, lo: int, hi: int) -> list[int]:
    """Draw n values in ``lo..hi`` following ``pattern`` (one of :data:`PATTERNS`)."""
    if pattern == "uniform":
        return [rng.randint(lo, hi) for _ in range(n)]
    if pattern == "ties":
        alphabet = [rng.randint(lo, hi) for _ in range(rng.randint(2, 4))]
        return [rng.choice(alphabet) for _ in range(n)]
    if pattern == "equal":
        return [rng.randint(lo, hi)] * n
    if pattern == "ascending":
        return sorted(rng.randint(lo, hi) for _ in range(n))
    if pattern == "descending":
        return sorted((rng.randint(lo, hi) for _ in range(n)), reverse=True)
    if pattern == "extremes":
        return [rng.choice((lo, hi)) for _ in range(n)]
    raise ValueError(f"unknown value pattern {pattern!r}; expected one of {PATTERNS}")


class _Planner:
    def __init__(self, config: TopKConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.max_count = (1 << config.count_width) - 1

    def request(self, n: int, k: int, pattern: str | None = None) -> Request:
        lo, hi = self.config.value_range
        pattern = pattern or self.rng.choice(PATTERNS)
        pad = -n % self.config.lanes
        return Request(
            n=n,
            k=k,
            values=tuple(make_values(self.rng, pattern, n, lo, hi)),
            pattern=pattern,
            junk=tuple(self.rng.randint(lo, hi) for _ in range(pad)),
        )

    def random_n(self) -> int:
        cap, lanes = self.config.capacity, self.config.lanes
        return random_size(self.rng, cap, lanes, odds=(0.5, 0.7, 0.85), short=2)

    def random_k(self, n: int) -> int:
        rng, kind = self.rng, self.rng.random()
        if kind < 0.1:
            return 0
        if kind < 0.2:
            return 1
        if kind < 0.3:
            return n
        if kind < 0.35:
            return max(0, n - 1)
        if kind < 0.5:
            return rng.randint(0, min(n, self.config.lanes))
        return rng.randint(0, n)

    def error_request(self) -> Request:
        cap, rng = self.config.capacity, self.rng
        kind = rng.randrange(3)
        if kind == 0:
            return self.request(0, rng.choice((0, 1, self.max_count)))
        if kind == 1:
            n = rng.choice((cap + 1, rng.randint(cap + 1, self.max_count), self.max_count))
            return self.request(n, rng.randint(0, n))
        n = rng.randint(1, cap)
        return self.request(n, rng.randint(n + 1, self.max_count))

    def random_good(self) -> Request:
        n = self.random_n()
        return self.request(n, self.random_k(n))

    def directed(self) -> list[Request]:
        cap, lanes, comps = self.config.capacity, self.config.lanes, self.config.comparators
        sizes = [(1, 0), (1, 1), (cap, 0), (cap, 1), (cap, cap), (cap, cap // 2), (cap, cap - 1)]
        for edge in sorted({lanes, comps, lanes + 1, comps + 1, 2 * comps}):
            if edge <= cap:
                sizes += [(edge, 1), (edge, edge), (edge, self.rng.randint(0, edge))]
        reqs = [self.request(n, k) for n, k in sizes]
        reqs += [self.request(cap, self.rng.randint(1, cap), p) for p in PATTERNS]
        reqs += [self.request(self.rng.randint(1, cap), 1, p) for p in PATTERNS]
        errors = [(0, 0), (0, 1), (cap + 1, 1), (self.max_count, 0), (1, 2), (cap, cap + 1)]
        for n, k in errors:
            reqs += [self.request(n, k), self.random_good()]
        return reqs


def make_plan(config: TopKConfig, seed: int, count: int) -> list[Batch]:
    """Build a seeded plan of about ``count`` requests for ``config``.

    The first batch holds directed corner cases (n = 1 and n = capacity, k = 0, 1, n, sizes
    at the lane and comparator boundaries, every value pattern, each kind of error request
    followed by a good one) and runs without stalls. The random batches that follow alternate
    between no stalls (their cycle counts are checked against the cycle model) and random
    idle cycles on cmd and din and back-pressure on dout. About ``ERROR_RATE`` of the random
    requests are errors (n = 0, n > capacity, or k > n), each followed by a good request.

    Parameters
    ----------
    config : TopKConfig
        The engine under test.
    seed : int
        Seed of the plan's own random generator.
    count : int
        Requests wanted in total (at least the directed ones are always produced).
    """
    planner = _Planner(config, random.Random(seed))
    plan = alternating_plan(planner.directed(), count, size=BATCH_SIZE, good=planner.random_good,
                            bad=planner.error_request, bad_rate=ERROR_RATE, rng=planner.rng,
                            sources=SOURCES, stalled_first=False)
    return [Batch(requests=requests, stalls=stalls) for requests, stalls in plan]


def replay_to_json(requests: Sequence[Request]) -> list[list]:
    """JSON form of requests to replay: ``[n, k, values]`` each."""
    return [[r.n, r.k, list(r.values)] for r in requests]


def replay_from_json(config: TopKConfig, data: list[list]) -> tuple[Request, ...]:
    """Inverse of :func:`replay_to_json` (pattern ``"replay"``, zero junk lanes)."""
    return tuple(
        Request(n=n, k=k, values=tuple(v), pattern="replay", junk=(0,) * (-n % config.lanes))
        for n, k, v in data
    )
