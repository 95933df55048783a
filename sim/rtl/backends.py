"""The two simulators the RTL harness runs on, behind one small interface.

A testbench written against :class:`Backend` runs unchanged on ``amaranth.sim`` (the Amaranth
design, in Python) and on Verilator through cocotb (the exported Verilog). Each cycle it writes
the inputs, :meth:`Backend.settle` lets the combinational logic settle, it reads the outputs,
and :meth:`Backend.tick` moves past the next rising edge. Ports are named as in the Amaranth
signature and in the Verilog (``cmd`` with fields ``valid``, ``ready``, ``payload``), and every
value is a plain integer (a payload is its packed bits), so both backends see the same numbers.
"""

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["PERIOD_NS", "RESET_CYCLES", "AmaranthBackend", "Backend", "CocotbBackend"]

PERIOD_NS = 10  # clock period of both simulations
RESET_CYCLES = 4  # cycles reset is held high before a run


class Backend(ABC):
    """One simulator, seen as a clocked set of named ports."""

    name: str

    @abstractmethod
    def set(self, port: str, field: str, value: int) -> None:
        """Drive input ``port.field`` (``field`` is ``valid``, ``ready`` or ``payload``)."""

    @abstractmethod
    def get(self, port: str, field: str) -> int:
        """The settled value of ``port.field`` in this cycle (after :meth:`settle`)."""

    @abstractmethod
    async def settle(self) -> None:
        """Let the combinational logic settle after this cycle's writes."""

    @abstractmethod
    async def tick(self) -> None:
        """Move past the next rising edge; inputs may be written again afterwards."""

    @abstractmethod
    def width(self, port: str) -> int:
        """Bits of ``port``'s payload."""


class AmaranthBackend(Backend):
    """``amaranth.sim``: the ports are the component's stream members.

    Parameters
    ----------
    ctx : amaranth.sim testbench context
    dut : wiring.Component
        Its stream members are reached by name.
    """

    name = "amaranth"

    def __init__(self, ctx: Any, dut: Any) -> None:
        self._ctx = ctx
        self._dut = dut
        self._signals: dict[tuple[str, str], Any] = {}

    def _signal(self, port: str, field: str) -> Any:
        key = (port, field)
        if key not in self._signals:
            value = getattr(getattr(self._dut, port), field)
            self._signals[key] = value.as_value() if field == "payload" else value
        return self._signals[key]

    def set(self, port: str, field: str, value: int) -> None:
        self._ctx.set(self._signal(port, field), value)

    def get(self, port: str, field: str) -> int:
        return int(self._ctx.get(self._signal(port, field)))

    async def settle(self) -> None:
        # A testbench's reads in amaranth.sim already see settled combinational values.
        return None

    async def tick(self) -> None:
        await self._ctx.tick()

    def width(self, port: str) -> int:
        return len(self._signal(port, "payload"))


class CocotbBackend(Backend):
    """cocotb on the exported Verilog: ports are ``<port>__<field>`` handles of the toplevel.

    Writes made after a rising edge take effect in that cycle; :meth:`settle` waits for the
    read-only phase, where every value has settled and nothing may be written.
    """

    name = "verilator"

    def __init__(self, dut: Any) -> None:
        from cocotb.triggers import ReadOnly, RisingEdge

        self._dut = dut
        self._handles: dict[tuple[str, str], Any] = {}
        self._driven: dict[tuple[str, str], int] = {}
        self._read_only = ReadOnly
        self._edge = RisingEdge(dut.clk)

    def _handle(self, port: str, field: str) -> Any:
        key = (port, field)
        if key not in self._handles:
            self._handles[key] = getattr(self._dut, f"{port}__{field}")
        return self._handles[key]

    def set(self, port: str, field: str, value: int) -> None:
        # Only this testbench drives the inputs: an unchanged value need not be written again
        # (a write costs more than the rest of a cycle's Python work).
        key = (port, field)
        if self._driven.get(key) != value:
            self._driven[key] = value
            self._handle(port, field).value = value

    def get(self, port: str, field: str) -> int:
        return int(self._handle(port, field).value)

    async def settle(self) -> None:
        await self._read_only()

    async def tick(self) -> None:
        await self._edge

    def width(self, port: str) -> int:
        return len(self._handle(port, "payload"))

    async def reset(self) -> None:
        """Start the clock and hold reset for :data:`RESET_CYCLES` cycles."""
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles

        Clock(self._dut.clk, PERIOD_NS, unit="ns").start()
        self._dut.rst.value = 1
        await ClockCycles(self._dut.clk, RESET_CYCLES)
        self._dut.rst.value = 0
        await self._edge
