"""The one RTL harness: a block's seeded plan, run on either backend, checked by one scoreboard.

A block under test is described once by a :class:`Block`: how to elaborate it, its streams,
its seeded plan of cases (:meth:`Block.plan`: directed corner cases, then random batches, half
of them with idle sources and back-pressure), and :meth:`Block.run_batch`, which queues a
batch's beats on the stream :class:`~sparsa.sim.rtl.streams.Source` objects, collects the
answers from the :class:`~sparsa.sim.rtl.streams.Sink` objects and compares every answer with
the golden model and, where nothing stalls, its cycles with the cycle model. The same code runs
on ``amaranth.sim`` (:func:`run_amaranth`) and on Verilator (:mod:`sparsa.sim.rtl.cocotb_entry`
through :mod:`sparsa.sim.rtl.verify`); a run's :class:`Scoreboard` also holds a digest of every
output beat and its cycle, so the two backends can be shown to agree beat for beat.
"""

import dataclasses
import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from amaranth.lib import wiring

from sparsa.sim.rtl.backends import PERIOD_NS, AmaranthBackend, Backend
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.runner import RtlTarget
from sparsa.sim.rtl.stalls import Stalls
from sparsa.sim.rtl.streams import Beat, HarnessTimeoutError, Sink, Source, StreamRunner

__all__ = [
    "ENTRY_MODULE",
    "MAX_REPORTED",
    "Answers",
    "Batch",
    "Bench",
    "Block",
    "Scoreboard",
    "first_cases",
    "run_amaranth",
    "run_plan",
    "seeded_batches",
]

MAX_REPORTED = 10  # failure texts kept per run
ENTRY_MODULE = "sparsa.sim.rtl.cocotb_entry"  # the cocotb module that runs any block


@dataclass(frozen=True)
class Batch:
    """Cases run back to back under one stall setting.

    Attributes
    ----------
    cases : tuple
        The block's own case objects (requests, GEMMs, commands).
    stalls : Stalls
        Idle probability per input stream and the output back-pressure.
    seed : int
        Seed of the batch's idle cycles, back-pressure and junk payloads.
    """

    cases: tuple[Any, ...]
    stalls: Stalls
    seed: int

    def to_json(self, **cases: Any) -> dict[str, Any]:
        """JSON form: the seed, the stalls, then the block's own ``cases`` fields."""
        return {"seed": self.seed, "stalls": self.stalls.to_json(), **cases}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], cases: Iterable[Any], **fields: Any) -> "Batch":
        """Inverse of :meth:`to_json`, given the ``cases`` the block read from its fields (and
        the other ``fields`` of a subclass)."""
        stalls = Stalls.from_json(data["stalls"])
        return cls(cases=tuple(cases), stalls=stalls, seed=int(data["seed"]), **fields)


def seeded_batches(plan: Iterable[Any], seed: int, *, stalls: bool = True) -> list[Batch]:
    """The harness's batches of a stimulus plan, whose batches have ``cases`` and ``stalls``:
    batch i is seeded ``seed + i``, and every stall is dropped when ``stalls`` is false."""
    return [
        Batch(cases=tuple(b.cases), stalls=b.stalls if stalls else Stalls(), seed=seed + i)
        for i, b in enumerate(plan)
    ]


@dataclass
class Scoreboard:
    """What one or more runs of a block found.

    Attributes
    ----------
    block : str
        The block's name (its CLI word).
    cases : int
        Cases answered.
    mismatches : int
        Cases whose answer differed from the golden model (or that hung).
    cycle_checks, cycle_mismatches : int
        Cases whose cycles were compared with the cycle model, and how many differed.
    cycles : int
        Clock cycles simulated.
    counts : dict of str to int
        What the cases covered (rejected commands, stalled cases, value patterns, ...).
    failures : list of str
        The first :data:`MAX_REPORTED` failure texts.
    failed_batches : list
        JSON form of every batch with a failure (:meth:`Block.batch_to_json`), for replay.
    digest : str
        SHA-256 of every output beat's stream, cycle and payload, in order (chained per run).
    """

    block: str
    cases: int = 0
    mismatches: int = 0
    cycle_checks: int = 0
    cycle_mismatches: int = 0
    cycles: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    failed_batches: list[Any] = field(default_factory=list)
    digest: str = ""

    @property
    def ok(self) -> bool:
        """No answer and no cycle count differed."""
        return not (self.mismatches or self.cycle_mismatches)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the coverage count ``name``."""
        self.counts[name] = self.counts.get(name, 0) + amount

    def answer(self, problems: list[str], where: Callable[[], str]) -> None:
        """Account for one answered case and its ``problems`` (empty when it matched)."""
        self.cases += 1
        if problems:
            self.mismatches += 1
            self.fail(f"{where()}: " + "; ".join(problems))

    def check_cycles(self, measured: int | tuple[int, ...], predicted: int | tuple[int, ...],
                     where: Callable[[], str]) -> None:
        """Account for one case's measured cycles (or edges) against the cycle model's
        prediction."""
        self.cycle_checks += 1
        if measured != predicted:
            self.cycle_mismatches += 1
            self.fail(f"{where()}: {measured} cycles measured, cycle model {predicted}")

    def fail(self, text: str) -> None:
        """Keep one failure text (the first :data:`MAX_REPORTED`)."""
        if len(self.failures) < MAX_REPORTED:
            self.failures.append(text)

    def merge(self, other: "Scoreboard") -> None:
        """Add another run's counts (its digest is chained after this one's)."""
        for name in ("cases", "mismatches", "cycle_checks", "cycle_mismatches", "cycles"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name, amount in other.counts.items():
            self.count(name, amount)
        for text in other.failures:
            self.fail(text)
        self.failed_batches += other.failed_batches
        self.digest = hashlib.sha256(f"{self.digest}{other.digest}".encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Scoreboard":
        """Inverse of :meth:`as_json`."""
        return cls(**data)


class Bench:
    """What :meth:`Block.run_batch` works with: streams, runner, scoreboard, cycle model state.

    Attributes
    ----------
    config : dataclass
        The block's configuration.
    runner : StreamRunner
        Steps the streams; ``runner.cycle`` is the current cycle.
    sources : dict of str to Source
    sinks : dict of str to Sink
    scoreboard : Scoreboard
    state : object
        The block's per-run state (:meth:`Block.new_state`: e.g. a stateful cycle model).
    """

    def __init__(
        self,
        block: "Block",
        config: Any,
        backend: Backend,
        scoreboard: Scoreboard,
        seed: int,
    ) -> None:
        self.config = config
        self.scoreboard = scoreboard
        self.sources = {port: Source(port) for port in block.sources}
        self.sinks = {port: Sink(port) for port in block.sinks}
        self.runner = StreamRunner(backend, self.sources.values(), self.sinks.values(), seed=seed)
        self.state = block.new_state(config)
        self._hash = hashlib.sha256()
        # Each output beat goes into the digest only: a block decodes the beats it checks
        # (:class:`Answers`), so the sinks keep no list that would grow with the run.
        for port, sink in self.sinks.items():
            sink.on_beat = self._recorder(port)

    def _recorder(self, port: str) -> Callable[[Beat], None]:
        def record(beat: Beat) -> None:
            self._hash.update(f"{port}:{beat.cycle}:{beat.payload};".encode())

        return record

    @property
    def digest(self) -> str:
        """SHA-256 of the output beats so far."""
        return self._hash.hexdigest()

    def set_stalls(self, stalls: Stalls, seed: int) -> None:
        """Apply a batch's stall setting and reseed the stall generator."""
        self.runner.rng.seed(seed)
        for port, source in self.sources.items():
            source.idle = stalls.idle.get(port, 0.0)
        for sink in self.sinks.values():
            sink.busy = stalls.busy

    def on_inputs(self, record: Callable[[str, Beat], None]) -> None:
        """Call ``record(port, beat)`` for every beat that crosses an input stream."""
        for port, source in self.sources.items():
            source.on_transfer = functools.partial(record, port)

    def timelines(self, cases: int) -> list[Timeline]:
        """One :class:`~sparsa.sim.rtl.records.Timeline` per case of a batch (the tag of the
        case's beats is its number), filled in as its input beats cross."""
        timelines = [Timeline() for _ in range(cases)]
        self.on_inputs(lambda port, beat: timelines[beat.tag].record(port, beat.cycle))
        return timelines

    @property
    def inputs_pending(self) -> bool:
        """Some input beat is still queued or being presented."""
        return any(source.pending for source in self.sources.values())

    async def drain(self, *, max_cycles: int, what: str) -> None:
        """Run until every queued input beat has crossed (a hang after ``max_cycles``)."""
        await self.runner.run_until(lambda: not self.inputs_pending, max_cycles=max_cycles,
                                    what=what)


class Answers:
    """A sink's beats during one batch, decoded once each and cut into answers at ``last``.

    Parameters
    ----------
    sink : Sink
        Its beats still reach the sink's former ``on_beat`` too.
    decode : callable
        ``decode(payload, cycle)`` is the decoded beat, which has a ``last`` flag.
    """

    def __init__(self, sink: Sink, decode: Callable[[int, int], Any]) -> None:
        self.beats: list[Any] = []  # this batch's beats, decoded
        self.ends: list[int] = []  # index past each answer's last beat
        self._sink, self._keep, self._decode = sink, sink.on_beat, decode
        sink.on_beat = self._take

    def _take(self, beat: Beat) -> None:
        self._keep(beat)
        self.beats.append(self._decode(beat.payload, beat.cycle))
        if self.beats[-1].last:
            self.ends.append(len(self.beats))

    async def wait(
        self, runner: StreamRunner, number: int, *, max_cycles: int, what: str
    ) -> list[Any]:
        """Run until answer ``number`` (the batch's first is 0) is complete; its beats."""
        await runner.run_until(lambda: len(self.ends) > number, max_cycles=max_cycles, what=what)
        return self.beats[self.ends[number - 1] if number else 0 : self.ends[number]]

    def close(self, scoreboard: Scoreboard, where: str, answer: str = "answer") -> None:
        """Give the sink its ``on_beat`` back; any beat after the batch's last complete
        ``answer`` is a mismatch."""
        self._sink.on_beat = self._keep
        stray = len(self.beats) - self.ends[-1]
        if stray:
            scoreboard.mismatches += 1
            scoreboard.fail(f"{where}: {stray} {self._sink.port} beats after the batch's last "
                            f"{answer}")


class Block(ABC):
    """One block under test, described once for both backends.

    Attributes
    ----------
    name : str
        The block's name everywhere (CLI word, e.g. ``"attention-core"``); its Verilog file
        and top module are :attr:`toplevel`.
    config_type : type
        Its configuration dataclass.
    sources, sinks : tuple of str
        Its input and output stream ports.
    """

    name: str
    config_type: type
    sources: tuple[str, ...]
    sinks: tuple[str, ...]

    @property
    def toplevel(self) -> str:
        """Verilog file and top module name: the block's name with ``_`` for ``-``
        (``attention_core``)."""
        return self.name.replace("-", "_")

    @property
    def target(self) -> RtlTarget:
        """How the Verilator runner builds this block (one build per configuration)."""
        return RtlTarget(toplevel=self.toplevel, factory=self.elaborate)

    def check_config(self, config: Any) -> None:
        """Raise ``TypeError`` unless ``config`` is this block's configuration."""
        if not isinstance(config, self.config_type):
            raise TypeError(
                f"{self.name} takes a {self.config_type.__name__}, not {type(config).__name__}"
            )

    @abstractmethod
    def elaborate(self, config: Any) -> wiring.Component:
        """The component under test."""

    @abstractmethod
    def plan(self, config: Any, seed: int, count: int, *, stalls: bool) -> list[Batch]:
        """The seeded plan of about ``count`` cases (with or without stalled batches)."""

    @abstractmethod
    async def run_batch(self, bench: Bench, batch: Batch) -> None:
        """Drive ``batch``, check every answer and (without stalls) every case's cycles."""

    @abstractmethod
    def batch_to_json(self, batch: Batch) -> Any:
        """JSON form of a batch (for replay files)."""

    @abstractmethod
    def batch_from_json(self, config: Any, data: Any) -> Batch:
        """Inverse of :meth:`batch_to_json`."""

    def new_state(self, config: Any) -> Any:
        """State a run carries from batch to batch (a stateful cycle model); none by default."""
        return None


def first_cases(batches: list[Batch], count: int) -> list[Batch]:
    """The plan cut after its first ``count`` cases (the batch it cuts keeps its settings)."""
    cut: list[Batch] = []
    for batch in batches:
        if count <= 0:
            break
        cut.append(dataclasses.replace(batch, cases=batch.cases[:count]))
        count -= len(cut[-1].cases)
    return cut


async def run_plan(
    block: Block,
    config: Any,
    backend: Backend,
    batches: list[Batch],
    *,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> Scoreboard:
    """Run ``batches`` in order on one freshly reset block and score them.

    A batch that hangs (:class:`~sparsa.sim.rtl.streams.HarnessTimeoutError`) counts as a
    mismatch and ends the run, since the block's state is then unknown.

    Parameters
    ----------
    progress : callable, optional
        Called with the number of cases of each finished batch.
    """
    scoreboard = Scoreboard(block=block.name)
    bench = Bench(block, config, backend, scoreboard, seed)
    bench.runner.idle()
    for batch in batches:
        bench.set_stalls(batch.stalls, batch.seed)
        failures_before = scoreboard.mismatches + scoreboard.cycle_mismatches
        try:
            await block.run_batch(bench, batch)
        except HarnessTimeoutError as error:
            scoreboard.mismatches += 1
            scoreboard.fail(f"{block.name} ({batch.stalls.describe()}): {error}")
            scoreboard.failed_batches.append(block.batch_to_json(batch))
            break
        if scoreboard.mismatches + scoreboard.cycle_mismatches > failures_before:
            scoreboard.failed_batches.append(block.batch_to_json(batch))
        if not batch.stalls.none:
            scoreboard.count("stalled cases", len(batch.cases))
        if progress is not None:
            progress(len(batch.cases))
    scoreboard.cycles = bench.runner.cycle
    scoreboard.digest = bench.digest
    return scoreboard


def run_amaranth(block: Block, config: Any, batches: list[Batch], *, seed: int) -> Scoreboard:
    """Run ``batches`` on the Amaranth design in ``amaranth.sim``."""
    from amaranth.sim import Simulator

    dut = block.elaborate(config)
    result: list[Scoreboard] = []

    async def testbench(ctx: Any) -> None:
        result.append(await run_plan(block, config, AmaranthBackend(ctx, dut), batches, seed=seed))

    sim = Simulator(dut)
    sim.add_clock(PERIOD_NS * 1e-9)
    sim.add_testbench(testbench)
    sim.run()
    return result[0]
