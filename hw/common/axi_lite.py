"""An AXI4-Lite register file elaborated from a :class:`~sparsa.config.registers.RegisterMap`.

The slave's ports are flat, ``s_axil_awaddr`` to ``s_axil_rready`` (the names Vivado and
``cocotbext-axi`` expect). A write takes its address and its data in either order, one at a
time: each channel is accepted as soon as no write response waits, the write happens on the
cycle after both are held, and the response follows on that cycle's edge. Address bits 1:0
select a byte in the word and take no part in the decoding (the byte strobes say which bytes
a write changes). A read is answered
on the cycle after its address is accepted, and the next address waits until the answer is
taken. An offset that names no register, and a write to a read-only register, get SLVERR (a
refused write changes nothing; a refused read returns 0).

Per register (``name`` below), by :class:`~sparsa.config.registers.Access`:

* RW: ``name`` (out) holds the value; with ``strobe``, ``name_written`` (out) is high for the
  cycle after a write, whatever its byte strobes.
* RO: ``name`` (in) is what a read returns.
* W1C: ``name`` (out) holds the bits; ``name_set`` (in) sets bits on the cycles it is high,
  and a host write of ones clears them (a bit set and cleared on one cycle stays set).

Each port is as wide as the register's implemented bits (:attr:`Register.width
<sparsa.config.registers.Register.width>`); the bits above read as zero and ignore writes.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.axi import AxiResp
from sparsa.config.registers import Access, RegisterMap
from sparsa.hw.common.axi import _prefixed
from sparsa.hw.common.component import ConfigComponent

__all__ = ["AxiLiteRegisters", "axil_slave_members"]

_DATA = 32


def axil_slave_members(addr_width: int, prefix: str = "s_axil") -> dict[str, wiring.Member]:
    """The five channels of an AXI4-Lite slave with 32-bit data, ``<prefix>_awaddr`` and so on."""
    return _prefixed(prefix, {
        "awaddr": In(addr_width),
        "awprot": In(3),
        "awvalid": In(1),
        "awready": Out(1),
        "wdata": In(_DATA),
        "wstrb": In(_DATA // 8),
        "wvalid": In(1),
        "wready": Out(1),
        "bresp": Out(2),
        "bvalid": Out(1),
        "bready": In(1),
        "araddr": In(addr_width),
        "arprot": In(3),
        "arvalid": In(1),
        "arready": Out(1),
        "rdata": Out(_DATA),
        "rresp": Out(2),
        "rvalid": Out(1),
        "rready": In(1),
    })


def _check_map(config: object) -> None:
    if not isinstance(config, RegisterMap):
        raise TypeError(f"config must be a RegisterMap, not {type(config).__name__}")


class AxiLiteRegisters(ConfigComponent):
    """AXI4-Lite register file (see the module docstring).

    Parameters
    ----------
    config : RegisterMap

    Members
    -------
    s_axil_* :
        The AXI4-Lite slave (:func:`axil_slave_members`, ``config.addr_width`` address bits).
    <register>, <register>_written, <register>_set :
        Per register, by its access (the module docstring).
    """

    _check_config = staticmethod(_check_map)

    def _members(self) -> dict[str, wiring.Member]:
        members = axil_slave_members(self.config.addr_width)
        for r in self.config:
            if r.access is Access.RO:
                members[r.name] = In(r.width)
            else:
                members[r.name] = Out(r.width, init=r.reset)
            if r.strobe:
                members[f"{r.name}_written"] = Out(1)
            if r.access is Access.W1C:
                members[f"{r.name}_set"] = In(r.width)
        return members

    def elaborate(self, platform: object) -> Module:
        m = Module()
        regs = self.config
        p = "s_axil_"

        def port(name: str):
            return getattr(self, p + name)

        # ---- writes ----------------------------------------------------------------------------
        aw_held, w_held = Signal(), Signal()
        aw_addr = Signal(regs.addr_width)
        w_data, w_strb = Signal(_DATA), Signal(_DATA // 8)
        m.d.comb += [
            port("awready").eq(~aw_held & ~port("bvalid")),
            port("wready").eq(~w_held & ~port("bvalid")),
        ]
        with m.If(port("awvalid") & port("awready")):
            m.d.sync += [aw_held.eq(1), aw_addr.eq(port("awaddr"))]
        with m.If(port("wvalid") & port("wready")):
            m.d.sync += [w_held.eq(1), w_data.eq(port("wdata")), w_strb.eq(port("wstrb"))]
        with m.If(port("bvalid") & port("bready")):
            m.d.sync += port("bvalid").eq(0)
        write = Signal()
        m.d.comb += write.eq(aw_held & w_held)
        strobed = Cat(s.replicate(8) for s in w_strb)
        with m.If(write):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), port("bvalid").eq(1)]
            m.d.sync += port("bresp").eq(AxiResp.SLVERR)
        for r in regs:
            value = getattr(self, r.name)
            hit = write & (aw_addr[2:] == r.offset >> 2)
            written = (w_data & strobed)[: r.width]
            if r.access is Access.RW:
                with m.If(hit):
                    m.d.sync += [value.eq((value & ~strobed[: r.width]) | written),
                                 port("bresp").eq(AxiResp.OKAY)]
                if r.strobe:
                    m.d.sync += getattr(self, f"{r.name}_written").eq(hit)
            elif r.access is Access.W1C:
                cleared = Signal(r.width, name=f"{r.name}_cleared")
                m.d.comb += cleared.eq(0)
                with m.If(hit):
                    m.d.comb += cleared.eq(written)
                    m.d.sync += port("bresp").eq(AxiResp.OKAY)
                m.d.sync += value.eq((value & ~cleared) | getattr(self, f"{r.name}_set"))

        # ---- reads -----------------------------------------------------------------------------
        m.d.comb += port("arready").eq(~port("rvalid"))
        with m.If(port("rvalid") & port("rready")):
            m.d.sync += port("rvalid").eq(0)
        with m.If(port("arvalid") & port("arready")):
            m.d.sync += [port("rvalid").eq(1), port("rdata").eq(0),
                         port("rresp").eq(AxiResp.SLVERR)]
            with m.Switch(port("araddr")[2:]):
                for r in regs:
                    with m.Case(r.offset >> 2):
                        m.d.sync += [port("rdata").eq(getattr(self, r.name)),
                                     port("rresp").eq(AxiResp.OKAY)]
        return m
