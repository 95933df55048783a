"""Seeded plans for SAT's PE array: directed GEMMs and rejected commands, then random batches.

Pure Python (no cocotb), so a plan is unit-tested without a simulator. A plan is a list of
:class:`SatBatch`; a batch runs its jobs back to back under one stall setting, a job being a
:class:`sat_gemms.Gemm` (its tiles, one command each) or a :class:`Reject` (one bad command,
which must consume no operand beat). Every reject is followed by a GEMM.
"""

import random
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from sparsa.config.sat import SatArrayConfig
from sparsa.hw.sat.sat_array import OS, WS, cmd_layout, runtime_patterns
from sparsa.sim.rtl.sat_array.gemms import (
    DATAFLOWS,
    DENSE,
    KINDS,
    STYLES,
    Gemm,
    GemmSpec,
    make_gemm,
    pattern_names,
)
from sparsa.sim.rtl.stalls import Stalls, random_stalls

__all__ = [
    "SOURCES",
    "Job",
    "Reject",
    "SatBatch",
    "job_from_json",
    "job_to_json",
    "make_plan",
    "rejects",
]

SOURCES = ("cmd", "weights", "acts")  # the array's input streams, in driver order
BATCH_TILES = 24
REJECT_RATE = 0.08
SMALL_K_GROUPS = 3  # random GEMMs reduce over at most this many groups of M, mostly


@dataclass(frozen=True)
class Reject:
    """A command the array must reject (one error beat, no operand beat consumed).

    Attributes
    ----------
    dataflow, pattern, length, rows : int
        The command (``length`` and ``rows`` as counts).
    reason : str
        Why it is bad (for reports).
    """

    dataflow: int
    pattern: int
    length: int
    rows: int
    reason: str

    @property
    def cmd(self) -> dict[str, int]:
        """The command beat."""
        return {"dataflow": self.dataflow, "pattern": self.pattern,
                "length_m1": self.length - 1, "rows_m1": self.rows - 1}

    def describe(self) -> str:
        """Short text for reports."""
        return f"reject ({self.reason}) cmd={self.cmd}"


Job = Gemm | Reject


@dataclass(frozen=True)
class SatBatch:
    """Jobs run back to back under one stall setting."""

    jobs: tuple[Job, ...]
    stalls: Stalls

    @property
    def tiles(self) -> int:
        """Tiles of the batch's GEMMs (rejects not counted)."""
        return sum(len(j.tiles) for j in self.jobs if isinstance(j, Gemm))


def job_to_json(job: Job) -> dict[str, object]:
    """Plain-data form of a job (for replays)."""
    if isinstance(job, Gemm):
        return {"gemm": job.spec.to_json()}
    return {"reject": asdict(job)}


def job_from_json(config: SatArrayConfig, data: dict) -> Job:
    """Inverse of :func:`job_to_json`."""
    if "gemm" in data:
        return make_gemm(config, GemmSpec(**data["gemm"]))
    return Reject(**data["reject"])


def rejects(config: SatArrayConfig) -> list[Reject]:
    """Every kind of bad command: for each pattern with N > 1 an OS entry count and a WS row
    count that are not multiples of N; each pattern code the field can carry but the array
    does not have, on both dataflows."""
    bad = []
    for code, p in enumerate(runtime_patterns(config)):
        if p is None or p.n == 1:
            continue
        for length in (1, p.n + 1):
            bad.append(Reject(OS, code, length, 1, f"OS length {length} with {p}"))
        for rows in sorted({1, p.n + 1} & set(range(1, config.rows + 1))):
            bad.append(Reject(WS, code, 2, rows, f"WS rows {rows} with {p}"))
    codes = 1 << cmd_layout(config)["pattern"].width
    for code in range(len(runtime_patterns(config)), codes):
        for dataflow in (OS, WS):
            bad.append(Reject(dataflow, code, 1, 1, f"pattern code {code}"))
    return bad


class _Planner:
    def __init__(self, config: SatArrayConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.patterns = pattern_names(config)
        self.combos = [(kind, p, df) for kind in KINDS for p in self.patterns for df in DATAFLOWS
                       if kind != "WU" or p == DENSE]
        self.queues = {stalled: deque[tuple[str, str, str]]() for stalled in (False, True)}
        self.styles = self._cycle(STYLES)
        self.stalled_gemms = 0

    def _cycle(self, items: tuple[str, ...]) -> Iterator[str]:
        while True:
            yield from self.rng.sample(items, len(items))

    def gemm(self, kind: str, pattern: str, dataflow: str, rows: int, k: int, cols: int,
             style: str | None = None) -> Gemm:
        spec = GemmSpec(kind=kind, pattern=pattern, dataflow=dataflow, rows=rows, k=k,
                        cols=cols, style=style or next(self.styles),
                        seed=self.rng.getrandbits(32))
        return make_gemm(self.config, spec)

    def _m(self, pattern: str) -> int:
        return 1 if pattern == DENSE else int(pattern.split(":")[1])

    def random_gemm(self, stalled: bool) -> Gemm:
        """The next (kind, pattern, dataflow) of a shuffled round over all of them, so that
        stalled and unstalled batches each cover every combination."""
        queue = self.queues[stalled]
        if not queue:
            queue.extend(self.rng.sample(self.combos, len(self.combos)))
        kind, pattern, dataflow = queue.popleft()
        self.stalled_gemms += stalled
        cfg, rng, m = self.config, self.rng, self._m(pattern)
        groups = cfg.max_reduction // m
        if m == 1:
            k = rng.randint(1, min(groups, 24)) if rng.random() < 0.9 else groups
        else:
            k = m * (rng.randint(1, min(groups, SMALL_K_GROUPS)) if rng.random() < 0.9
                     else groups)
        lanes = max(cfg.rows, cfg.cols)
        rows = rng.randint(1, 2 * lanes + 1)
        cols = rng.randint(1, 2 * cfg.cols + 1 if dataflow == "OS" else 10)
        return self.gemm(kind, pattern, dataflow, rows, k, cols)

    def directed(self) -> list[Job]:
        """Every combination once on sizes with edge tiles, the accumulator corners, one-entry
        tiles, exact-fit tiles; every kind of reject, each followed by a GEMM."""
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        jobs: list[Job] = []
        for kind, pattern, dataflow in self.combos:
            m = self._m(pattern)
            k = R + 1 if m == 1 else 2 * m
            rows = (R if dataflow == "OS" else C) + 1
            jobs.append(self.gemm(kind, pattern, dataflow, rows, k, C + 1))
        sparse = self.patterns[1]
        for pattern in (DENSE, sparse):
            m = self._m(pattern)
            for dataflow in DATAFLOWS:
                jobs.append(self.gemm("FF", pattern, dataflow, R, cfg.max_reduction // m * m, C,
                                      "corner"))
                jobs.append(self.gemm("BP", pattern, dataflow, C, cfg.max_reduction // m * m, 2,
                                      "corner"))
        for dataflow in DATAFLOWS:
            jobs.append(self.gemm("WU", DENSE, dataflow, 1, 1, 1))  # one entry, one column
            jobs.append(self.gemm("FF", DENSE, dataflow, R if dataflow == "OS" else C, R, C))
            for pattern in self.patterns[1:]:  # one group: a single entry when N = 1
                jobs.append(self.gemm("FF", pattern, dataflow, 1, self._m(pattern), 1))
        for reject in rejects(cfg):
            jobs += [reject, self.random_gemm(stalled=False)]
        return jobs

    def random_reject(self) -> Reject:
        return self.rng.choice(rejects(self.config))


def make_plan(config: SatArrayConfig, seed: int, tiles: int) -> list[SatBatch]:
    """Build a seeded plan of at least ``tiles`` GEMM tiles for ``config``.

    The first batch holds the directed jobs (:meth:`_Planner.directed`) and runs without
    stalls. Random batches of about :data:`BATCH_TILES` tiles follow until there are ``tiles``
    in all, half of them stalled, and every combination ran stalled at least once: one in three
    runs without stalls (its cycles are checked against the cycle model), the others with
    random idle cycles on cmd, weights and acts and back-pressure on out. Their GEMMs go round
    every (kind, pattern, dataflow) combination with random sizes (edge tiles on both array
    axes and on the reduction) and value styles; about :data:`REJECT_RATE` of their jobs are
    rejects, each followed by a GEMM.
    """
    planner = _Planner(config, random.Random(seed))
    rng = planner.rng
    batches = [SatBatch(jobs=tuple(planner.directed()), stalls=Stalls())]
    total, stalled_tiles = batches[0].tiles, 0
    while (total < tiles or stalled_tiles < tiles // 2
           or planner.stalled_gemms < len(planner.combos)):
        stalled = len(batches) % 3 != 0
        jobs: list[Job] = []
        while sum(len(j.tiles) for j in jobs if isinstance(j, Gemm)) < BATCH_TILES:
            if rng.random() < REJECT_RATE:
                jobs.append(planner.random_reject())
            jobs.append(planner.random_gemm(stalled))
        stalls = random_stalls(rng, SOURCES) if stalled else Stalls()
        batches.append(SatBatch(jobs=tuple(jobs), stalls=stalls))
        total += batches[-1].tiles
        stalled_tiles += batches[-1].tiles if stalled else 0
    return batches
