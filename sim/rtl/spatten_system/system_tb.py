"""cocotb bench of the SpAtten accelerator: runs jobs (a DRAM image and the registers' values)
one after another on one simulator (run by :func:`sparsa.sim.rtl.spatten_system.run.run_jobs`).

Per job the bench writes the image into :class:`~sparsa.sim.rtl.axi.dram.Dram` (one memory
behind the four read ports and the write port), programs the registers through
``cocotbext-axi``'s AXI4-Lite master, starts the run, waits for ``irq``, reads every register
back, clears the interrupt and returns the memory the image covered. While a job runs, it counts
the cycles from the start write's response to ``irq`` and the R and W beats on every port.
"""

import base64
from typing import Any

import cocotb
from cocotbext.axi import AxiLiteMaster

from sparsa.config.spatten_system import PLANES, SPATTEN_SYSTEM_REGISTERS
from sparsa.hw.spatten_system.accelerator import WRITE_PREFIX, read_prefix
from sparsa.sim.rtl.axi.dram import Dram
from sparsa.sim.rtl.axi.host import Beats, bring_up, read_back, run_each, start_and_wait
from sparsa.sim.rtl.benches import bench_params

CYCLE_LIMIT = 2_000_000


async def _run_job(dut: Any, host: AxiLiteMaster, dram: Dram, beats: Beats,
                   job: dict[str, Any]) -> dict[str, Any]:
    regs = SPATTEN_SYSTEM_REGISTERS
    image = base64.b64decode(job["image"])
    dram.write(0, image + bytes(dram.size - len(image)))
    for name in ("layers", "tokens", "heads"):
        await host.write_dword(regs[name].offset, job[name])
    await host.write_dword(regs["table_lo"].offset, job["table"] & 0xFFFFFFFF)
    await host.write_dword(regs["table_hi"].offset, job["table"] >> 32)
    beats.restart()
    beats.on = True
    if not await start_and_wait(dut, host, regs, limit=CYCLE_LIMIT):
        seen = {name: await host.read_dword(regs[name].offset)  # for the report
                for name in ("status", "error", "commands_lo", "bytes_read_lo")}
        return {"hung": True, "cycles": beats.cycles, "registers": seen}
    beats.on = False
    values, irq_after_clear = await read_back(dut, host, regs)
    return {"hung": False, "registers": values, "cycles": beats.cycles,
            "beats": dict(beats.beats), "irq_after_clear": irq_after_clear,
            "memory": base64.b64encode(dram.read(0, len(image))).decode()}


@cocotb.test()
async def system_bench(dut: Any) -> None:
    """Run every job of the parameters and write their results."""
    p = bench_params()
    host = await bring_up(dut)
    dram = Dram(dut, size=p["memory_bytes"], latency=p["latency"], stall=p["stall"],
                seed=p["seed"], prefix=WRITE_PREFIX,
                read_prefixes=tuple(read_prefix(plane) for plane in PLANES))
    channels = {plane: f"{read_prefix(plane)}_r" for plane in PLANES}
    beats = Beats(dut, {**channels, "wr": f"{WRITE_PREFIX}_w"})
    cocotb.start_soon(beats.run())
    await run_each(p["jobs"], lambda job: _run_job(dut, host, dram, beats, job))
