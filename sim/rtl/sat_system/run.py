"""Running programs on the Verilated SAT accelerator (the Python side of
:mod:`sparsa.sim.rtl.sat_system.system_tb`)."""

import base64
from dataclasses import dataclass
from typing import Any

from sparsa.config.sat_system import SatSystemConfig
from sparsa.hw.sat_system.accelerator import SatAccelerator
from sparsa.sim.rtl.axi.dram import MIN_LATENCY
from sparsa.sim.rtl.benches import SystemRun, run_bench, unhung
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["SYSTEM_TARGET", "Job", "JobResult", "run_jobs"]

SYSTEM_TARGET = RtlTarget(toplevel="sat_accelerator", factory=SatAccelerator)
BENCH_MODULE = "sparsa.sim.rtl.sat_system.system_tb"


@dataclass(frozen=True)
class Job:
    """One program run: the DRAM image (from address 0), the program, the regions to read back.

    Attributes
    ----------
    image : bytes
    program_addr, program_len : int
    regions : tuple of (int, int)
        (address, bytes) of each DRAM region returned after the run.
    """

    image: bytes
    program_addr: int
    program_len: int
    regions: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class JobResult(SystemRun):
    """What the bench saw of one job (:class:`~sparsa.sim.rtl.benches.SystemRun`), and:

    Attributes
    ----------
    read_bytes, written_bytes : int
        AXI4 read and write beats seen, in bytes.
    regions : tuple of bytes
        The job's DRAM regions after the run.
    """

    read_bytes: int
    written_bytes: int
    regions: tuple[bytes, ...]


def run_jobs(config: SatSystemConfig, jobs: list[Job], *, memory_bytes: int,
             latency: int = MIN_LATENCY,
             stall: float = 0.0, seed: int = 1) -> list[JobResult]:
    """Run ``jobs`` one after another on one simulator of ``config``.

    Raises
    ------
    RtlTestError
        If a job hangs (its ``irq`` never rises), naming it.
    """
    params: dict[str, Any] = {
        "memory_bytes": memory_bytes, "latency": latency, "stall": stall, "seed": seed,
        "jobs": [{"image": base64.b64encode(j.image).decode(), "program_addr": j.program_addr,
                  "program_len": j.program_len, "regions": [list(r) for r in j.regions]}
                 for j in jobs],
    }
    summary = run_bench(SYSTEM_TARGET, config, BENCH_MODULE, params, seed=seed)
    results = []
    for r in unhung(summary, seed=seed):
        results.append(JobResult(
            registers=r["registers"], cycles=r["cycles"], read_bytes=r["read_bytes"],
            written_bytes=r["written_bytes"],
            regions=tuple(base64.b64decode(x) for x in r["regions"]),
            irq_after_clear=r["irq_after_clear"]))
    return results
