"""Benches beyond the stream harness: a cocotb module that drives a design's bus ports itself
(AXI memory, AXI4-Lite registers), run with JSON parameters and read back as a JSON summary.

:func:`run_bench` (the pytest or CLI side) builds the design once per configuration
(:func:`sparsa.sim.rtl.runner.build`), writes the parameters, launches the bench module and
returns what the bench wrote with :func:`write_summary`; the bench module reads its parameters
with :func:`bench_params`. A bench reports its checks in the summary (``failures``, a list of
texts) instead of raising, so that one launch can run many cases and report them all.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparsa.files import write_atomically
from sparsa.sim.rtl.runner import RtlTarget, RtlTestError, build, launch

__all__ = ["SystemRun", "bench_params", "run_bench", "unhung", "write_summary"]

_PARAMS = "SPARSA_BENCH_PARAMS"
_SUMMARY = "SPARSA_BENCH_SUMMARY"


def run_bench(
    target: RtlTarget, config: Any, module: str, params: dict[str, Any], *, seed: int
) -> dict[str, Any]:
    """Run cocotb bench ``module`` once on ``target`` built from ``config``.

    Parameters
    ----------
    params : dict
        JSON-ready parameters for the bench (:func:`bench_params` returns them).
    seed : int
        cocotb's seed (the bench seeds its own generators from ``params``).

    Returns
    -------
    dict
        The bench's summary.

    Raises
    ------
    RtlTestError
        If the bench wrote no summary (it crashed or hung); the message holds the log's tail.
    """
    rtl = build(target, config)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=rtl.directory) as tmp:
        run_dir = Path(tmp)
        params_file, summary = run_dir / "params.json", run_dir / "summary.json"
        params_file.write_text(json.dumps(params))
        env = {_PARAMS: str(params_file), _SUMMARY: str(summary)}
        log = launch(rtl, test_module=module, env=env, run_dir=run_dir, seed=seed)
        if not summary.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise RtlTestError(f"bench {module} wrote no summary; end of its log:\n{tail}")
        return json.loads(summary.read_text())


def bench_params() -> dict[str, Any]:
    """The parameters :func:`run_bench` passed (inside the simulator)."""
    return json.loads(Path(os.environ[_PARAMS]).read_text())


def write_summary(summary: dict[str, Any]) -> None:
    """Hand ``summary`` back to :func:`run_bench` (inside the simulator)."""
    write_atomically({Path(os.environ[_SUMMARY]): json.dumps(summary)})


@dataclass(frozen=True)
class SystemRun:
    """What a system's bench saw of one start (a program, a run).

    Attributes
    ----------
    registers : dict
        Every register, read after ``irq`` rose.
    cycles : int
        Cycles from the start write's response to ``irq``.
    irq_after_clear : int
        ``irq`` after the bench cleared ``irq_status``.
    """

    registers: dict[str, int]
    cycles: int
    irq_after_clear: int

    def counter(self, name: str) -> int:
        """The 64-bit performance counter ``name``."""
        return self.registers[f"{name}_lo"] | self.registers[f"{name}_hi"] << 32


def unhung(summary: dict[str, Any], *, seed: int) -> list[dict[str, Any]]:
    """The results of a system bench's summary.

    Raises
    ------
    RtlTestError
        If a job hung (its ``irq`` never rose), naming it and the registers it left.
    """
    for i, r in enumerate(summary["results"]):
        if r["hung"]:
            raise RtlTestError(f"job {i} hung: no irq after {r['cycles']} cycles (seed {seed}); "
                               f"registers then: {r['registers']}")
    return summary["results"]
