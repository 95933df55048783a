"""cocotb bench of the SAT accelerator: runs jobs (a DRAM image and a program) one after another
on one simulator (run by :func:`sparsa.sim.rtl.sat_system.run.run_jobs`).

Per job the bench writes the image into :class:`~sparsa.sim.rtl.axi.dram.Dram`, programs the
registers through ``cocotbext-axi``'s AXI4-Lite master (program address and length, interrupt
enable), starts the program, waits for ``irq``, reads every register back, clears the interrupt
and reads the DRAM regions the job names. While a job runs, it counts the AXI4 read and write
beats it sees, and the cycles from the start write's response to ``irq``.
"""

import base64
from typing import Any

import cocotb
from cocotbext.axi import AxiLiteMaster

from sparsa.config.sat_system import SAT_SYSTEM_REGISTERS
from sparsa.sim.rtl.axi.dram import Dram
from sparsa.sim.rtl.axi.host import Beats, bring_up, read_back, run_each, start_and_wait
from sparsa.sim.rtl.benches import bench_params

CYCLE_LIMIT = 5_000_000


async def _run_job(dut: Any, host: AxiLiteMaster, dram: Dram, beats: Beats,
                   job: dict[str, Any]) -> dict[str, Any]:
    regs = SAT_SYSTEM_REGISTERS
    image = base64.b64decode(job["image"])
    dram.write(0, image + bytes(dram.size - len(image)))
    address = job["program_addr"]
    await host.write_dword(regs["program_lo"].offset, address & 0xFFFFFFFF)
    await host.write_dword(regs["program_hi"].offset, address >> 32)
    await host.write_dword(regs["program_len"].offset, job["program_len"])
    beats.restart()
    beats.on = True
    if not await start_and_wait(dut, host, regs, limit=CYCLE_LIMIT):
        seen = {name: await host.read_dword(regs[name].offset)  # for the report
                for name in ("status", "error", "bytes_read_lo", "bytes_written_lo")}
        return {"hung": True, "cycles": beats.cycles, "registers": seen}
    beats.on = False
    values, irq_after_clear = await read_back(dut, host, regs)
    regions = [base64.b64encode(dram.read(addr, size)).decode() for addr, size in job["regions"]]
    return {"hung": False, "registers": values, "cycles": beats.cycles,
            "read_bytes": beats.beats["r"] * dram.read_if.byte_lanes,
            "written_bytes": beats.beats["w"] * dram.read_if.byte_lanes,
            "irq_after_clear": irq_after_clear, "regions": regions}


@cocotb.test()
async def system_bench(dut: Any) -> None:
    """Run every job of the parameters and write their results."""
    p = bench_params()
    host = await bring_up(dut)
    dram = Dram(dut, size=p["memory_bytes"], latency=p["latency"], stall=p["stall"],
                seed=p["seed"])
    beats = Beats(dut, {"r": "m_axi_r", "w": "m_axi_w"})
    cocotb.start_soon(beats.run())
    await run_each(p["jobs"], lambda job: _run_job(dut, host, dram, beats, job))
