"""Running DRAM images on the Verilated SpAtten accelerator (the Python side of
:mod:`sparsa.sim.rtl.spatten_system.system_tb`)."""

import base64
from dataclasses import dataclass
from typing import Any

from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.dataflow.spatten_program import RunImage
from sparsa.hw.spatten_system.accelerator import SpattenAccelerator
from sparsa.sim.rtl.axi.dram import MIN_LATENCY
from sparsa.sim.rtl.benches import SystemRun, run_bench, unhung
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["SYSTEM_TARGET", "RunResult", "run_images"]

SYSTEM_TARGET = RtlTarget(toplevel="spatten_accelerator", factory=SpattenAccelerator)
BENCH_MODULE = "sparsa.sim.rtl.spatten_system.system_tb"


@dataclass(frozen=True)
class RunResult(SystemRun):
    """What the bench saw of one run (:class:`~sparsa.sim.rtl.benches.SystemRun`), and:

    Attributes
    ----------
    beats : dict
        AXI R beats per read port (by plane) and W beats (``wr``).
    memory : bytes
        The DRAM the image covered, after the run.
    """

    beats: dict[str, int]
    memory: bytes


def run_images(config: SpattenSystemConfig, images: list[RunImage], *,
               latency: int = MIN_LATENCY, stall: float = 0.0, seed: int = 1) -> list[RunResult]:
    """Run ``images`` one after another on one simulator of ``config``.

    Raises
    ------
    RtlTestError
        If a run hangs (its ``irq`` never rises), naming it.
    """
    size = max(len(i.image) for i in images)
    params: dict[str, Any] = {
        "memory_bytes": size + 4096, "latency": latency, "stall": stall, "seed": seed,
        "jobs": [{"image": base64.b64encode(i.image).decode(), "table": i.table,
                  "layers": i.layers, "tokens": i.tokens, "heads": i.heads} for i in images],
    }
    summary = run_bench(SYSTEM_TARGET, config, BENCH_MODULE, params, seed=seed)
    return [RunResult(registers=r["registers"], cycles=r["cycles"], beats=r["beats"],
                      memory=base64.b64decode(r["memory"]), irq_after_clear=r["irq_after_clear"])
            for r in unhung(summary, seed=seed)]
