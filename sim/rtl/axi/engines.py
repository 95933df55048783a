"""Checking the AXI4 engines and the AXI4-Lite register file on Verilator (pure Python side).

:func:`transfer_plan` draws the transfers a bench runs (directed corner cases first: one
word, a full burst, one word more, a 4 KiB boundary crossed or met exactly; then random
ones), :func:`run_engine` runs the bench of :mod:`sparsa.sim.rtl.axi.engines_tb` on one engine
and returns its summary.
"""

import random
from typing import Any

from sparsa.config.axi import AXI_BOUNDARY, AxiConfig
from sparsa.config.registers import RegisterMap
from sparsa.hw.common.axi import AxiReader, AxiWriter
from sparsa.hw.common.axi_lite import AxiLiteRegisters
from sparsa.sim.rtl.axi.dram import MIN_LATENCY
from sparsa.sim.rtl.benches import run_bench
from sparsa.sim.rtl.configs import config_to_json
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["ENGINES", "MEMORY_BYTES", "run_engine", "transfer_plan"]

BENCH_MODULE = "sparsa.sim.rtl.axi.engines_tb"
MEMORY_BYTES = 1 << 18  # the bench's DRAM: 64 pages of 4 KiB
ENGINES = {
    "reader": RtlTarget(toplevel="axi_reader", factory=AxiReader),
    "writer": RtlTarget(toplevel="axi_writer", factory=AxiWriter),
    "registers": RtlTarget(toplevel="axil_registers", factory=AxiLiteRegisters),
}


def transfer_plan(config: AxiConfig, seed: int, count: int) -> list[tuple[int, int]]:
    """``count`` transfers (byte address, words) in :data:`MEMORY_BYTES`, disjoint, corner
    cases first, in a seeded random order of addresses."""
    rng = random.Random(seed)
    w = config.word_bytes
    page_words = AXI_BOUNDARY // w
    sizes = [1, config.max_burst, config.max_burst + 1, 3 * config.max_burst + 2,
             page_words + 1]
    starts = [0, AXI_BOUNDARY - w, AXI_BOUNDARY - config.max_burst * w // 2, w]
    directed = [(starts[i % len(starts)], s) for i, s in enumerate(sizes)]
    wanted = directed + [
        (rng.randrange(0, MEMORY_BYTES // 4, w), rng.choice([1, 2, rng.randint(1, 4 * page_words)]))
        for _ in range(max(0, count - len(directed)))
    ]
    plan, cursor = [], 0
    for offset, words in wanted[:count]:  # lay them out one after another, disjoint
        addr = cursor + offset % AXI_BOUNDARY
        if addr + words * w > MEMORY_BYTES:
            break
        plan.append((addr, words))
        cursor = (addr + words * w + AXI_BOUNDARY - 1) // AXI_BOUNDARY * AXI_BOUNDARY
    return plan


def run_engine(
    kind: str,
    config: AxiConfig | RegisterMap,
    *,
    seed: int,
    count: int = 24,
    latency: int = MIN_LATENCY,
    stall: float = 0.0,
) -> dict[str, Any]:
    """Run the bench of engine ``kind`` (a key of :data:`ENGINES`) and return its summary
    (``failures``: texts of what differed; the rest: counts the bench observed).

    Parameters
    ----------
    count : int
        Transfers (engines) or register accesses (register file).
    latency : int
        The DRAM's read latency in cycles (:class:`~sparsa.sim.rtl.axi.dram.Dram`).
    stall : float
        Probability of an idle cycle on every channel, command and data stream of the bench.
    """
    if kind not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {kind!r}")
    params: dict[str, Any] = {
        "kind": kind,
        "config": config_to_json(config),
        "seed": seed,
        "count": count,
        "latency": latency,
        "stall": stall,
        "memory_bytes": MEMORY_BYTES,
    }
    if isinstance(config, AxiConfig):
        params["transfers"] = transfer_plan(config, seed, count)
    return run_bench(ENGINES[kind], config, BENCH_MODULE, params, seed=seed)
