"""Running DRAM images on the Verilated SpAtten accelerator (the Python side of
:mod:`sparsa.sim.rtl.spatten_system.system_tb`)."""

import base64
from dataclasses import dataclass
from typing import Any

from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.dataflow.spatten_program import RunImage
from sparsa.hw.spatten_system.accelerator import SpattenAccelerator
from sparsa.sim.rtl.axi.dram import MIN_LATENCY
from sparsa.sim.rtl.benches import run_bench
from sparsa.sim.rtl.runner import RtlTarget, RtlTestError

__all__ = ["SYSTEM_TARGET", "RunResult", "run_images"]

SYSTEM_TARGET = RtlTarget(toplevel="spatten_accelerator", factory=SpattenAccelerator)
BENCH_MODULE = "sparsa.sim.rtl.spatten_system.system_tb"


@dataclass(frozen=True)
class RunResult:
    """What the bench saw of one run.

    Attributes
    ----------
    registers : dict
        Every register, read after ``irq`` rose.
    cycles : int
        Cycles from the start write's response to ``irq``.
    beats : dict
        AXI R beats per read port (by plane) and W beats (``wr``).
    writes : tuple of int
        Cycles (from the start) of the write port's address handshakes: each output record's,
        and each layer's two lists'.
    memory : bytes
        The DRAM the image covered, after the run.
    irq_after_clear : int
    """

    registers: dict[str, int]
    cycles: int
    beats: dict[str, int]
    writes: tuple[int, ...]
    memory: bytes
    irq_after_clear: int

    def counter(self, name: str) -> int:
        """The 64-bit performance counter ``name``."""
        return self.registers[f"{name}_lo"] | self.registers[f"{name}_hi"] << 32


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
    results = []
    for k, r in enumerate(summary["results"]):
        if r["hung"]:
            raise RtlTestError(f"run {k} hung: no irq after {r['cycles']} cycles (seed {seed}); "
                               f"registers then: {r['registers']}")
        results.append(RunResult(registers=r["registers"], cycles=r["cycles"], beats=r["beats"],
                                 writes=tuple(r["writes"]),
                                 memory=base64.b64decode(r["memory"]),
                                 irq_after_clear=r["irq_after_clear"]))
    return results
