"""Seeded plans for SAT's PE array: directed GEMMs and rejected commands, then random batches.

Pure Python (no simulator), so a plan is unit-tested on its own. A job is a
:class:`~sparsa.sim.rtl.sat_array.gemms.Gemm` (its tiles, one array command each) or a
:class:`Reject` (one bad command, which must answer one error beat and consume no operand
beat); every reject is followed by a GEMM. A case is one command (:class:`Command`), the unit
the array answers and the cycle model times. A plan is a list of :class:`SatBatch`, each
running whole jobs back to back under one stall setting.
"""

import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile
from sparsa.hw.sat.sat_array import cmd_layout, runtime_patterns
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
    "REASONS",
    "SOURCES",
    "Command",
    "Job",
    "Reject",
    "SatBatch",
    "command_fields",
    "commands",
    "job_from_json",
    "job_to_json",
    "make_plan",
    "rejects",
]

SOURCES = ("cmd", "weights", "acts")  # the array's input streams, in the order of their stalls
BATCH_TILES = 24  # tiles of a random batch (its rejects come on top)
REJECT_RATE = 0.08
SMALL_K_GROUPS = 3  # random sparse GEMMs reduce over at most this many groups of M, mostly
REASONS = (
    "OS entries not whole groups of N",
    "WS rows not whole groups of N",
    "OS entries above max_reduction",
    "unknown pattern code",
)


@dataclass(frozen=True)
class Reject:
    """A command the array must reject (one error beat, no operand beat consumed).

    Attributes
    ----------
    dataflow : Dataflow
    pattern, length, rows : int
        The command (``length`` and ``rows`` as counts).
    reason : str
        Why it is bad: one of :data:`REASONS`.
    """

    dataflow: Dataflow
    pattern: int
    length: int
    rows: int
    reason: str

    @property
    def cmd(self) -> dict[str, Any]:
        """The command beat."""
        return {"dataflow": self.dataflow, "pattern": self.pattern,
                "length_m1": self.length - 1, "rows_m1": self.rows - 1}

    def describe(self) -> str:
        """Short text for reports."""
        cmd = {**self.cmd, "dataflow": self.dataflow.name}
        return f"reject ({self.reason}) cmd={cmd}"


Job = Gemm | Reject


@dataclass(frozen=True, eq=False)
class Command:
    """One case: tile ``tile`` of a GEMM, or a rejected command (``tile`` 0).

    Attributes
    ----------
    job : Gemm or Reject
    tile : int
        Index of the tile in ``job.tiles``.
    """

    job: Job
    tile: int

    @property
    def is_reject(self) -> bool:
        """Whether the array must reject this command."""
        return isinstance(self.job, Reject)

    @property
    def the_tile(self) -> Tile:
        """The GEMM tile (not for a reject)."""
        assert isinstance(self.job, Gemm)
        return self.job.tiles[self.tile]

    @property
    def cmd(self) -> dict[str, Any]:
        """The command beat."""
        return self.job.cmd if isinstance(self.job, Reject) else self.the_tile.cmd

    @property
    def beats(self) -> dict[str, list[Any]]:
        """The operand beats it must consume, per operand stream (none for a reject)."""
        if isinstance(self.job, Reject):
            return {"weights": [], "acts": []}
        tile = self.the_tile
        return {"weights": tile.weights, "acts": tile.acts}

    @property
    def ends_job(self) -> bool:
        """Whether it is its job's last command."""
        return isinstance(self.job, Reject) or self.tile == len(self.job.tiles) - 1

    def describe(self) -> str:
        """Short text for reports."""
        if isinstance(self.job, Reject):
            return self.job.describe()
        tiles = len(self.job.tiles)
        tile = self.the_tile
        return (f"{self.job.spec.describe()}, tile {self.tile + 1}/{tiles} cmd={tile.cmd} "
                f"at Y[{tile.row0}][{tile.col0}]")


def command_fields(cmd: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`sparsa.sim.blocks.sat_array.tile_cycles` for a command
    beat."""
    return {
        "dataflow": Dataflow(cmd["dataflow"]),
        "pattern": cmd["pattern"],
        "length": cmd["length_m1"] + 1,
        "rows": cmd["rows_m1"] + 1,
    }


def commands(jobs: Iterable[Job]) -> tuple[Command, ...]:
    """The commands of ``jobs``, in the order the array runs them."""
    return tuple(
        Command(job, i)
        for job in jobs
        for i in range(1 if isinstance(job, Reject) else len(job.tiles))
    )


@dataclass(frozen=True)
class SatBatch:
    """Jobs run back to back under one stall setting."""

    jobs: tuple[Job, ...]
    stalls: Stalls

    @property
    def cases(self) -> tuple[Command, ...]:
        """Its commands (the harness's cases)."""
        return commands(self.jobs)

    @property
    def tiles(self) -> int:
        """Tiles of the batch's GEMMs (rejects not counted)."""
        return sum(len(j.tiles) for j in self.jobs if isinstance(j, Gemm))


def job_to_json(job: Job) -> dict[str, Any]:
    """Plain-data form of a job (for replay files)."""
    if isinstance(job, Gemm):
        return {"gemm": job.spec.to_json()}
    return {"reject": {"dataflow": job.dataflow.name, "pattern": job.pattern,
                       "length": job.length, "rows": job.rows, "reason": job.reason}}


def job_from_json(config: SatArrayConfig, data: dict[str, Any]) -> Job:
    """Inverse of :func:`job_to_json` (a GEMM's operands, tiles and golden result are drawn
    again from its seed)."""
    if "gemm" in data:
        return make_gemm(config, GemmSpec(**data["gemm"]))
    fields = dict(data["reject"])
    return Reject(**{**fields, "dataflow": Dataflow[fields["dataflow"]]})


def rejects(config: SatArrayConfig) -> list[Reject]:
    """Every kind of bad command.

    For each pattern with N > 1, OS entry counts and WS row counts that are not multiples of N;
    OS entry counts above ``max_reduction`` (one more, and the largest the field holds); every
    pattern code the field can carry but the array does not have, on both dataflows.
    """
    bad = []
    for code, p in enumerate(runtime_patterns(config)):
        if p is None or p.n == 1:
            continue
        for length in (1, p.n + 1):
            bad.append(Reject(Dataflow.OS, code, length, 1, REASONS[0]))
        for rows in sorted({1, p.n + 1} & set(range(1, config.rows + 1))):
            bad.append(Reject(Dataflow.WS, code, 2, rows, REASONS[1]))
    for length in (config.max_reduction + 1, 1 << config.max_reduction.bit_length()):
        bad.append(Reject(Dataflow.OS, 0, length, config.rows, REASONS[2]))
    codes = 1 << cmd_layout(config)["pattern"].width
    for code in range(len(runtime_patterns(config)), codes):
        for dataflow in Dataflow:
            bad.append(Reject(dataflow, code, 1, 1, REASONS[3]))
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
        stalled and unstalled batches each go round every combination."""
        queue = self.queues[stalled]
        if not queue:
            queue.extend(self.rng.sample(self.combos, len(self.combos)))
        kind, pattern, dataflow = queue.popleft()
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
        """Every (kind, pattern, dataflow) once on sizes with edge tiles on both array axes and
        on the reduction, kind after kind with a reject between the kinds; the accumulators'
        extremes (all minimum or maximum values over the longest reduction a tile holds:
        ``max_reduction`` entries in OS, R weight rows in WS); one-entry, one-group and
        exact-fit tiles; every kind of reject, each followed by a GEMM."""
        cfg = self.config
        R, C = cfg.rows, cfg.cols
        bad = rejects(cfg)
        jobs: list[Job] = []
        for kind, pattern, dataflow in self.combos:
            if jobs and kind != jobs[-1].spec.kind:
                jobs.append(bad[self.rng.randrange(len(bad))])
            m = self._m(pattern)
            k = R + 1 if m == 1 else 2 * m
            rows = (R if dataflow == "OS" else C) + 1
            jobs.append(self.gemm(kind, pattern, dataflow, rows, k, C + 1))
        for pattern in (DENSE, self.patterns[1]):
            m = self._m(pattern)
            n = 1 if pattern == DENSE else NMPattern.parse(pattern).n
            for dataflow, groups in (("OS", cfg.max_reduction // m), ("WS", R // n)):
                k = groups * m
                jobs.append(self.gemm("FF", pattern, dataflow, R, k, C, "corner"))
                jobs.append(self.gemm("BP", pattern, dataflow, C, k, 2, "corner"))
        for dataflow in DATAFLOWS:
            jobs.append(self.gemm("WU", DENSE, dataflow, 1, 1, 1))  # one entry, one column
            jobs.append(self.gemm("FF", DENSE, dataflow, R if dataflow == "OS" else C, R, C))
            for pattern in self.patterns[1:]:  # one group: a single entry when N = 1
                jobs.append(self.gemm("FF", pattern, dataflow, 1, self._m(pattern), 1))
        for reject in bad:
            jobs += [reject, self.random_gemm(stalled=False)]
        return jobs

    def random_reject(self) -> Reject:
        return self.rng.choice(rejects(self.config))


def make_plan(config: SatArrayConfig, seed: int, count: int) -> list[SatBatch]:
    """Build a seeded plan of at least ``count`` commands for ``config``.

    The first batch holds the directed jobs (:meth:`_Planner.directed`) and runs without
    stalls. Random batches of about :data:`BATCH_TILES` tiles follow until there are ``count``
    commands in all, every other one with random idle cycles on cmd, weights and acts and
    back-pressure on out (the others run without stalls: their cycles are checked against the
    cycle model). Their GEMMs go round every (kind, pattern, dataflow) combination, stalled and
    unstalled apart, with random sizes (edge tiles on both array axes and on the reduction) and
    value styles; about :data:`REJECT_RATE` of their jobs are rejects, each followed by a GEMM.
    """
    planner = _Planner(config, random.Random(seed))
    rng = planner.rng
    batches = [SatBatch(jobs=tuple(planner.directed()), stalls=Stalls())]
    total = len(batches[0].cases)
    while total < count:
        stalled = len(batches) % 2 == 1
        jobs: list[Job] = []
        while sum(len(j.tiles) for j in jobs if isinstance(j, Gemm)) < BATCH_TILES:
            if rng.random() < REJECT_RATE:
                jobs.append(planner.random_reject())
            jobs.append(planner.random_gemm(stalled))
        stalls = random_stalls(rng, SOURCES) if stalled else Stalls()
        batches.append(SatBatch(jobs=tuple(jobs), stalls=stalls))
        total += len(batches[-1].cases)
    return batches
