"""AXI4 memory engines: a read engine and a write engine of INCR bursts.

The ports are flat and named as Xilinx tools and ``cocotbext-axi`` expect them
(``m_axi_araddr``, ``m_axi_rvalid``, ...), so Vivado's IP packager infers the interface and a
testbench finds it by prefix. Both engines take a transfer as one command beat (a word-aligned
byte address and a count of words of ``data_width`` bits), cut it into bursts exactly as
:meth:`sparsa.config.axi.AxiConfig.bursts` does (at most ``max_burst`` beats, never across a 4 KiB
boundary), send ID 0 with full-width beats (``ARSIZE``/``AWSIZE`` = log2 of the word's bytes,
``ARBURST``/``AWBURST`` = INCR) and rely on AXI's in-order answers for one ID.

* :class:`AxiReader` issues a burst's address as soon as fewer than ``max_reads`` bursts are in
  flight, so reads overlap the memory's latency; the words leave on ``data`` in order, ``last``
  on the final word of each command, ``error`` on any word whose ``RRESP`` was not OKAY. A
  stalled ``data`` stalls ``RREADY`` (nothing is buffered).
* :class:`AxiWriter` issues a burst's address while fewer than ``max_writes`` bursts await
  their response; the words of ``data`` follow on W in command order (``WLAST`` on each
  burst's final word, every byte strobe set); once every burst of a command has its response
  the command's beat leaves on ``done``, ``error`` set when any ``BRESP`` was not OKAY.

Neither engine checks an address: a transfer past the end of the memory is the memory's
error (a DECERR or SLVERR answer), which the engines report; the controller that issues the
commands bounds them.
"""

from amaranth import Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from sparsa.config.axi import AXI_BOUNDARY, AxiConfig, AxiResp
from sparsa.hw.common.component import ConfigComponent

__all__ = [
    "AxiReader",
    "AxiWriter",
    "axi_read_members",
    "axi_write_members",
    "transfer_layout",
]


def transfer_layout(config: AxiConfig) -> data.StructLayout:
    """One transfer: a word-aligned byte address and a count of words (at least 1)."""
    return data.StructLayout({"addr": config.addr_width, "words": _words_width(config)})


def _words_width(config: AxiConfig) -> int:
    """Bits of a word count: enough for every word of the address space."""
    return config.addr_width - config.size_code + 1


def _prefixed(prefix: str, members: dict[str, wiring.Member]) -> dict[str, wiring.Member]:
    return {f"{prefix}_{name}": member for name, member in members.items()}


def axi_read_members(config: AxiConfig, prefix: str = "m_axi") -> dict[str, wiring.Member]:
    """The AR and R channel ports of an AXI4 master, named ``<prefix>_ar*`` and ``<prefix>_r*``
    (flip the directions for a slave)."""
    return _prefixed(prefix, {
        "arid": Out(config.id_width),
        "araddr": Out(config.addr_width),
        "arlen": Out(8),
        "arsize": Out(3),
        "arburst": Out(2),
        "arvalid": Out(1),
        "arready": In(1),
        "rid": In(config.id_width),
        "rdata": In(config.data_width),
        "rresp": In(2),
        "rlast": In(1),
        "rvalid": In(1),
        "rready": Out(1),
    })


def axi_write_members(config: AxiConfig, prefix: str = "m_axi") -> dict[str, wiring.Member]:
    """The AW, W and B channel ports of an AXI4 master, named ``<prefix>_aw*``, ``<prefix>_w*``
    and ``<prefix>_b*``."""
    return _prefixed(prefix, {
        "awid": Out(config.id_width),
        "awaddr": Out(config.addr_width),
        "awlen": Out(8),
        "awsize": Out(3),
        "awburst": Out(2),
        "awvalid": Out(1),
        "awready": In(1),
        "wdata": Out(config.data_width),
        "wstrb": Out(config.word_bytes),
        "wlast": Out(1),
        "wvalid": Out(1),
        "wready": In(1),
        "bid": In(config.id_width),
        "bresp": In(2),
        "bvalid": In(1),
        "bready": Out(1),
    })


_INCR = 1  # the ARBURST/AWBURST code of an incrementing burst


def _check_axi_config(config: object) -> None:
    if not isinstance(config, AxiConfig):
        raise TypeError(f"config must be an AxiConfig, not {type(config).__name__}")


class _BurstCutter:
    """The address side both engines share: holds one command and cuts it into bursts.

    ``beats`` is the length of the burst that goes next, ``final`` whether it ends the
    command; :meth:`drive` puts the burst on an address channel and takes it on the handshake.
    The next command is taken on the handshake of the previous one's final burst, so
    one-burst commands go out one per cycle.
    """

    def __init__(self, m: Module, config: AxiConfig, cmd: stream.Interface, name: str) -> None:
        self._m = m
        self._config = config
        self._cmd = cmd
        self.busy = Signal(name=f"{name}_busy")
        self.addr = Signal(config.addr_width, name=f"{name}_addr")
        self.left = Signal(_words_width(config), name=f"{name}_left")
        self.beats = Signal(range(config.max_burst + 1), name=f"{name}_beats")
        self.final = Signal(name=f"{name}_final")
        boundary_words = AXI_BOUNDARY // config.word_bytes
        in_page = self.addr[config.size_code : AXI_BOUNDARY.bit_length() - 1]
        room = Signal(range(boundary_words + 1), name=f"{name}_room")
        m.d.comb += room.eq(boundary_words - in_page)
        limit = Signal.like(room, name=f"{name}_limit")
        m.d.comb += [
            limit.eq(Mux(room < config.max_burst, room, config.max_burst)),
            self.beats.eq(Mux(self.left < limit, self.left, limit)),
            self.final.eq(self.left <= limit),
        ]

    def drive(self, engine: wiring.Component, channel: str, valid: Value) -> Signal:
        """Drive the address channel ``channel`` (``"ar"`` or ``"aw"``) of ``engine`` with the
        next burst, valid when ``valid``; return the handshake, on which the burst is taken."""
        cfg, m = self._config, self._m
        fire = Signal(name=f"{channel}_fire")

        def port(name: str) -> Signal:
            return getattr(engine, f"m_axi_{channel}{name}")

        m.d.comb += [
            port("id").eq(0),
            port("addr").eq(self.addr),
            port("len").eq(self.beats - 1),
            port("size").eq(cfg.size_code),
            port("burst").eq(_INCR),
            port("valid").eq(self.busy & valid),
            fire.eq(port("valid") & port("ready")),
        ]
        with m.If(fire):
            self._advance()
        cmd = self._cmd
        m.d.comb += cmd.ready.eq(~self.busy | (fire & self.final))
        with m.If(cmd.valid & cmd.ready):
            m.d.sync += [
                self.busy.eq(1),
                self.addr.eq(cmd.payload.addr),
                self.left.eq(cmd.payload.words),
            ]
        return fire

    def _advance(self) -> None:
        """Take the burst: move the address past it and end the command after its last."""
        m = self._m
        m.d.sync += [
            self.addr.eq(self.addr + (self.beats << self._config.size_code)),
            self.left.eq(self.left - self.beats),
        ]
        with m.If(self.final):
            m.d.sync += self.busy.eq(0)


class AxiReader(ConfigComponent):
    """AXI4 read engine (see the module docstring).

    Parameters
    ----------
    config : AxiConfig

    Members
    -------
    cmd : In(stream.Signature(transfer_layout(config)))
        One beat per transfer.
    data : Out(stream.Signature(StructLayout({"data": data_width, "last": 1, "error": 1})))
        The words read, in order.
    m_axi_ar*, m_axi_r* :
        The AXI4 read channels (:func:`axi_read_members`).
    """

    _check_config = staticmethod(_check_axi_config)

    def _members(self) -> dict[str, wiring.Member]:
        cfg = self.config
        word = data.StructLayout({"data": cfg.data_width, "last": 1, "error": 1})
        return {
            "cmd": In(stream.Signature(transfer_layout(cfg))),
            "data": Out(stream.Signature(word)),
            **axi_read_members(cfg),
        }

    def elaborate(self, platform: object) -> Module:
        cfg = self.config
        m = Module()
        cutter = _BurstCutter(m, cfg, self.cmd, "rd")
        # One flag per burst in flight: whether it ends its command.
        m.submodules.finals = finals = SyncFIFO(width=1, depth=cfg.max_reads)
        fire = cutter.drive(self, "ar", finals.w_rdy)
        m.d.comb += [finals.w_data.eq(cutter.final), finals.w_en.eq(fire)]
        m.d.comb += [
            self.data.valid.eq(self.m_axi_rvalid),
            self.data.payload.data.eq(self.m_axi_rdata),
            self.data.payload.last.eq(self.m_axi_rlast & finals.r_data),
            self.data.payload.error.eq(self.m_axi_rresp != AxiResp.OKAY),
            self.m_axi_rready.eq(self.data.ready),
            finals.r_en.eq(self.m_axi_rvalid & self.m_axi_rready & self.m_axi_rlast),
        ]
        return m


class AxiWriter(ConfigComponent):
    """AXI4 write engine (see the module docstring), elaborated from an :class:`AxiConfig`.

    Its ``cmd`` stream takes one :func:`transfer_layout` beat per transfer and its ``data``
    stream the words to write (``data_width`` bits each), the transfers' words in command order;
    ``done`` gives one beat per transfer (``error``: a burst was refused) once the memory has
    answered all its bursts. The AXI4 write channels are ``m_axi_aw*``, ``m_axi_w*`` and
    ``m_axi_b*`` (:func:`axi_write_members`).
    """

    _check_config = staticmethod(_check_axi_config)

    def _members(self) -> dict[str, wiring.Member]:
        cfg = self.config
        return {
            "cmd": In(stream.Signature(transfer_layout(cfg))),
            "data": In(stream.Signature(cfg.data_width)),
            "done": Out(stream.Signature(data.StructLayout({"error": 1}))),
            **axi_write_members(cfg),
        }

    def elaborate(self, platform: object) -> Module:
        cfg = self.config
        m = Module()
        cutter = _BurstCutter(m, cfg, self.cmd, "wr")
        # Per burst whose address has gone: its length for W, whether it ends its command for B.
        m.submodules.lengths = lengths = SyncFIFO(width=8, depth=cfg.max_writes)
        m.submodules.finals = finals = SyncFIFO(width=1, depth=cfg.max_writes)
        aw_fire = cutter.drive(self, "aw", lengths.w_rdy & finals.w_rdy)
        m.d.comb += [
            lengths.w_data.eq(cutter.beats - 1),
            lengths.w_en.eq(aw_fire),
            finals.w_data.eq(cutter.final),
            finals.w_en.eq(aw_fire),
        ]

        sent = Signal(8)  # words of the current burst already on W
        w_fire = Signal()
        m.d.comb += [
            self.m_axi_wdata.eq(self.data.payload),
            self.m_axi_wstrb.eq((1 << cfg.word_bytes) - 1),
            self.m_axi_wlast.eq(sent == lengths.r_data),
            self.m_axi_wvalid.eq(self.data.valid & lengths.r_rdy),
            self.data.ready.eq(self.m_axi_wready & lengths.r_rdy),
            w_fire.eq(self.m_axi_wvalid & self.m_axi_wready),
            lengths.r_en.eq(w_fire & self.m_axi_wlast),
        ]
        with m.If(w_fire):
            m.d.sync += sent.eq(Mux(self.m_axi_wlast, 0, sent + 1))

        failed = Signal()  # an earlier burst of the command was refused
        bad = self.m_axi_bresp != AxiResp.OKAY
        m.d.comb += [
            self.done.valid.eq(self.m_axi_bvalid & finals.r_rdy & finals.r_data),
            self.done.payload.error.eq(failed | bad),
            self.m_axi_bready.eq(finals.r_rdy & (~finals.r_data | self.done.ready)),
            finals.r_en.eq(self.m_axi_bvalid & self.m_axi_bready),
        ]
        with m.If(finals.r_en):
            m.d.sync += failed.eq(Mux(finals.r_data, 0, failed | bad))
        return m
