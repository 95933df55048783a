"""The host side of a system's cocotb bench: clock and reset, the AXI4-Lite master, a start
waited to its interrupt, the registers read back with the interrupt cleared, and the jobs of a
launch run one after another."""

from collections.abc import Awaitable, Callable
from typing import Any

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from sparsa.config.registers import RegisterMap
from sparsa.sim.rtl.backends import PERIOD_NS, RESET_CYCLES
from sparsa.sim.rtl.benches import write_summary

__all__ = ["Beats", "bring_up", "read_back", "reset", "run_each", "start_and_wait"]


class Beats:
    """Counts the cycles and each named channel's handshakes (``<prefix>valid`` and
    ``<prefix>ready`` both high) while ``on``; :meth:`restart` clears them.

    Parameters
    ----------
    dut : cocotb handle
    channels : dict of str to str
        Name to port prefix, e.g. ``{"r": "m_axi_r"}``.
    """

    def __init__(self, dut: Any, channels: dict[str, str]) -> None:
        self.dut, self.channels, self.on = dut, channels, False
        self.restart()

    def restart(self) -> None:
        """Zero the counts."""
        self.cycles = 0
        self.beats = dict.fromkeys(self.channels, 0)

    async def run(self) -> None:
        """Count, forever (start it with ``cocotb.start_soon``)."""
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if self.on:
                self.cycles += 1
                for name, prefix in self.channels.items():
                    self.beats[name] += (int(getattr(d, f"{prefix}valid").value)
                                         & int(getattr(d, f"{prefix}ready").value))


async def reset(dut: Any) -> None:
    """Start the clock and hold ``rst`` for the reset cycles."""
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, RESET_CYCLES)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def bring_up(dut: Any) -> AxiLiteMaster:
    """Reset the system and return its ``s_axil`` master."""
    await reset(dut)
    return AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)


async def run_each(jobs: list[dict[str, Any]],
                   run: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
    """Run ``jobs`` in turn (each result holds ``hung``; the first hung one ends the launch) and
    write their results as the bench's summary."""
    results = []
    for job in jobs:
        results.append(await run(job))
        if results[-1]["hung"]:
            break
    write_summary({"results": results})


async def start_and_wait(dut: Any, host: AxiLiteMaster, registers: RegisterMap, *,
                         limit: int) -> bool:
    """Start with the interrupt enabled and wait for ``irq``; False if it has not risen after
    ``limit`` cycles."""
    await host.write_dword(registers["control"].offset, 0b11)  # start, interrupt enabled
    waited = 0
    while not int(dut.irq.value):
        await RisingEdge(dut.clk)
        waited += 1
        if waited > limit:
            return False
    return True


async def read_back(dut: Any, host: AxiLiteMaster,
                    registers: RegisterMap) -> tuple[dict[str, int], int]:
    """Every register's value, then ``irq`` after clearing ``irq_status``."""
    values = {r.name: await host.read_dword(r.offset) for r in registers}
    await host.write_dword(registers["irq_status"].offset, 1)
    return values, int(dut.irq.value)
