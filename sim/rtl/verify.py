"""``sparsa verify``: N seeded cases of a block on amaranth.sim or Verilator, in parallel.

The block's plan (:meth:`~sparsa.sim.rtl.harness.Block.plan`) is cut into chunks of whole
batches; each chunk runs on a freshly reset block in its own process (on Verilator, a launch of
the one simulator built for the configuration), and the chunks' scoreboards are merged. Any
batch with a mismatch is written to a replay file, which :func:`verify` (``replay=``) and
:func:`load_replay` read back.
"""

import contextlib
import json
import math
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparsa.config.checks import is_int
from sparsa.config.presets import VERIFY_BACKENDS as BACKENDS
from sparsa.files import write_atomically
from sparsa.hw.export import config_json
from sparsa.sim.rtl.blocks import BLOCKS
from sparsa.sim.rtl.configs import config_from_json, config_to_json
from sparsa.sim.rtl.harness import ENTRY_MODULE, Batch, Block, Scoreboard, run_amaranth

__all__ = ["BACKENDS", "BLOCKS", "CHUNK_CASES", "VerifyResult", "load_replay", "verify"]

# About this many cases per simulator launch (the unit of progress and of sharding); a launch
# costs about 5 s of imports before its first cycle.
CHUNK_CASES = 1000


@dataclass
class VerifyResult:
    """What ``sparsa verify`` found.

    Attributes
    ----------
    block, backend : str
    config : dict
        The configuration, as in the Verilog sidecar.
    seed, jobs : int
    scoreboard : Scoreboard
        Merged over every chunk.
    wall_s : float
        Wall-clock seconds, the Verilator build included.
    replay : str or None
        The replay file written for the failing batches, if any.
    """

    block: str
    config: dict[str, Any]
    backend: str
    seed: int
    jobs: int
    scoreboard: Scoreboard
    wall_s: float
    replay: str | None = None

    @property
    def ok(self) -> bool:
        """No mismatch of answers or cycles."""
        return self.scoreboard.ok

    def line(self) -> str:
        """The one summary line."""
        s = self.scoreboard
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"{self.block} on {self.backend}: {s.cases} cases (seed {self.seed}), "
            f"{s.mismatches} mismatches, {s.cycle_checks} cycle checks "
            f"({s.cycle_mismatches} mismatches), {s.cycles} cycles, {self.wall_s:.1f} s "
            f"with {self.jobs} job{'s' * (self.jobs != 1)}: {verdict}"
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON of ``--json``."""
        s = self.scoreboard
        return {
            "block": self.block,
            "config": self.config,
            "backend": self.backend,
            "seed": self.seed,
            "cases": s.cases,
            "mismatches": s.mismatches,
            "cycle_checks": s.cycle_checks,
            "cycle_mismatches": s.cycle_mismatches,
            "cycles": s.cycles,
            "wall_s": round(self.wall_s, 3),
            "jobs": self.jobs,
            "ok": self.ok,
            "counts": s.counts,
            "failures": s.failures,
            "digest": s.digest,
            "replay": self.replay,
        }


def _block(name: str) -> Block:
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}; the blocks are {', '.join(BLOCKS)}")
    return BLOCKS[name]


def load_replay(path: Path) -> tuple[Block, Any, int, list[Batch]]:
    """Read a replay file: its block, configuration, seed and batches.

    Raises
    ------
    ValueError
        If the file is not a replay file.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        block = _block(data["block"])
        config = config_from_json(data["config"])
        batches = [block.batch_from_json(config, b) for b in data["batches"]]
        return block, config, int(data["seed"]), batches
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a replay file of sparsa verify: {error}") from error


def _chunks(batches: list[Batch], jobs: int) -> list[list[Batch]]:
    cases = sum(len(b.cases) for b in batches)
    count = min(len(batches), max(jobs, math.ceil(cases / CHUNK_CASES)))
    chunks: list[list[Batch]] = [[] for _ in range(count)]
    size = math.ceil(len(batches) / count)
    for i, batch in enumerate(batches):
        chunks[i // size].append(batch)
    return [c for c in chunks if c]


def _run_amaranth_chunk(name: str, config_text: str, seed: int, batches: Any) -> dict[str, Any]:
    block = BLOCKS[name]
    config = config_from_json(config_text)
    plan = [block.batch_from_json(config, b) for b in batches]
    return run_amaranth(block, config, plan, seed=seed).as_json()


def _run_verilator_chunk(
    name: str, config_text: str, seed: int, batches: Any, build_dir: str, directory: str,
    number: int,
) -> dict[str, Any]:
    from sparsa.sim.rtl.runner import RtlBuild, RtlTestError, launch

    block = BLOCKS[name]
    # verify() built the simulator in build_dir before starting the chunks.
    rtl = RtlBuild(target=block.target, config=config_from_json(config_text),
                   directory=Path(build_dir))
    run_dir = Path(directory) / f"chunk-{number}"
    run_dir.mkdir(parents=True, exist_ok=True)
    plan, summary = run_dir / "batches.json", run_dir / "scoreboard.json"
    plan.write_text(json.dumps(batches))
    summary.unlink(missing_ok=True)
    env = {"BLOCK": name, "CONFIG": config_text, "SEED": str(seed), "BATCHES": str(plan),
           "SUMMARY": str(summary)}
    log = launch(rtl, test_module=ENTRY_MODULE, env={f"SPARSA_RTL_{k}": v for k, v in env.items()},
                 run_dir=run_dir, seed=seed)
    if not summary.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RtlTestError(f"{name} chunk {number}: the simulation ended without a scoreboard "
                           f"(log {log}):\n{tail}")
    return json.loads(summary.read_text())


def verify(
    block: str,
    config: Any,
    *,
    cases: int,
    seed: int,
    backend: str = "verilator",
    jobs: int = 1,
    stalls: bool = True,
    replay_out: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    replay: Path | None = None,
) -> VerifyResult:
    """Run ``cases`` seeded cases of ``block`` and compare them with golden and cycle models.

    Parameters
    ----------
    block : str
        One of :data:`BLOCKS` (``"topk"``, ``"attention-core"``, ``"sat-array"``, ``"sore"``).
    config : dataclass
        The block's configuration (ignored with ``replay``, which carries its own).
    cases : int
        Cases wanted (the directed corner cases are always run, so a few more may run).
    seed : int
        Seed of the plan and of every stall.
    backend : str
        ``"amaranth"`` or ``"verilator"``.
    jobs : int
        Processes the chunks are spread over (one Verilator build serves them all).
    stalls : bool
        Whether half of the random batches run with idle sources and back-pressure.
    replay_out : Path, optional
        Where failing batches are written (nothing is written when all pass).
    progress : callable, optional
        Called with (cases done, cases planned) as chunks finish.
    replay : Path, optional
        Run the batches of this replay file instead of a seeded plan.

    Raises
    ------
    ValueError
        For a bad argument or a configuration the block rejects, naming it.
    sparsa.sim.rtl.runner.RtlToolError
        When Verilator, ``make`` or ``g++`` is missing (Verilator backend).
    """
    started = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; the backends are {', '.join(BACKENDS)}")
    if not is_int(jobs) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, not {jobs!r}")
    if replay is not None:
        the_block, config, seed, batches = load_replay(replay)
    else:
        if not is_int(cases) or cases < 1:
            raise ValueError(f"cases must be a positive integer, not {cases!r}")
        the_block = _block(block)
        try:
            the_block.check_config(config)
        except TypeError as error:
            raise ValueError(str(error)) from error
        batches = the_block.plan(config, seed, cases, stalls=stalls)
    name, config_text = the_block.name, config_to_json(config)
    chunks = [[the_block.batch_to_json(b) for b in chunk] for chunk in _chunks(batches, jobs)]
    planned = sum(len(b.cases) for b in batches)
    if backend == "verilator":
        from sparsa.sim.rtl.runner import build

        rtl = build(the_block.target, config)
        directory = Path(tempfile.mkdtemp(prefix=f"verify-{seed}-", dir=rtl.directory))
        calls = [(_run_verilator_chunk, name, config_text, seed, c, str(rtl.directory),
                  str(directory), i) for i, c in enumerate(chunks)]
    else:
        calls = [(_run_amaranth_chunk, name, config_text, seed, c) for c in chunks]
    total, done = Scoreboard(block=name), 0
    workers = min(jobs, len(calls))
    with contextlib.ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            parts = (f.result() for f in [pool.submit(*call) for call in calls])
        else:  # in this process, one chunk after the other
            parts = (call[0](*call[1:]) for call in calls)
        for part in map(Scoreboard.from_json, parts):
            total.merge(part)
            done += part.cases
            if progress is not None:
                progress(done, planned)
    written = None
    if total.failed_batches and replay_out is not None:
        replay_out = Path(replay_out)
        replay_out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"block": name, "config": config_text, "seed": seed,
                           "batches": total.failed_batches}, indent=1)
        write_atomically({replay_out: text})
        written = str(replay_out)
    return VerifyResult(
        block=name,
        config=config_json(config),
        backend=backend,
        seed=seed,
        jobs=workers,
        scoreboard=total,
        wall_s=time.perf_counter() - started,
        replay=written,
    )

