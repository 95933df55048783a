"""SatAccelerator: SAT's PE array as a system, with buffers, a controller, AXI4 memory and
AXI4-Lite control.

What the program does and how the units synchronise is in :mod:`sparsa.config.sat_system`; this
module is how the hardware does it.

* **Control** (``s_axil_*``): the register file of
  :data:`sparsa.config.sat_system.SAT_SYSTEM_REGISTERS`; ``irq`` is high while
  ``irq_status.done`` and ``control.irq_enable`` are.
* **Memory** (``m_axi_*``): one AXI4 read engine, shared by the program fetch and the LOAD unit
  (they never overlap), and one write engine for the STORE unit
  (:mod:`sparsa.hw.common.axi`).
* **Controller**: on a start it checks the program's length and address, reads the program into
  the instruction memory (a gearbox cuts the words into instructions), then reads the
  instructions one by one (two cycles each), checks each and pushes it into its unit's queue
  (:data:`QUEUE_DEPTH` entries). After END, a fault or the end of the program it waits until
  every unit is idle, then sets ``status.done``.
* **LOAD**: one instruction at a time: once its tokens are there it starts a read of the
  transfer's words and a gearbox that cuts them into the buffer's rows, writes the rows, and
  pushes its token after the last one.
* **GEMM**: an instruction issues once its tokens are there and the array's command slot is
  free: its command goes to the array, the runs of A and B rows it reads go to two
  :class:`~sparsa.hw.common.feeders.RowFeeder` (which stream them into the array's
  ``weights`` and ``acts``, so the array interleaves consecutive tiles as it does alone), and
  its output rows to the drain. Its token to LOAD is pushed once both runs are read; its token
  to STORE once its last answer beat is in the output buffer. The drain adds each answer beat
  to (or writes it over) its output-buffer row in a read-modify-write of two cycles; the read
  sees a write to the same row in the cycle before (a transparent port).
* **STORE**: one instruction at a time: once its token is there it starts a write transfer,
  streams its output-buffer rows through the conversion of its mode and a gearbox into the
  write engine, and pushes its token when the memory has answered every burst.

Buffers are :class:`amaranth.lib.memory.Memory` with synchronous read ports, which Yosys maps to
block RAM.
"""

import functools

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import BdwpPass, Dataflow
from sparsa.config.sat_system import (
    COUNTERS,
    FIELDS,
    INSTRUCTION_BITS,
    SAT_SYSTEM_REGISTERS,
    Fault,
    Opcode,
    SatSystemConfig,
    StoreMode,
)
from sparsa.hw.common.axi import AxiReader, AxiWriter, axi_read_members, axi_write_members
from sparsa.hw.common.axi_lite import AxiLiteRegisters, axil_slave_members
from sparsa.hw.common.component import ConfigComponent, forward_ports
from sparsa.hw.common.feeders import RowFeeder, run_layout
from sparsa.hw.common.floats import fp32_sum, fp32_to_half
from sparsa.hw.common.gearbox import StreamPacker, StreamUnpacker
from sparsa.hw.sat.sat_array import (
    SatArray,
    acts_layout,
    cmd_layout,
    runtime_patterns,
    weights_layout,
)
from sparsa.hw.sat.sore import Sore
from sparsa.hw.sat_system.datasheet import interface_json

__all__ = ["QUEUE_DEPTH", "SatAccelerator"]

QUEUE_DEPTH = 4  # instructions each unit's queue holds
TOKEN_BITS = 8  # width of each token counter


def _check(config: object) -> None:
    if not isinstance(config, SatSystemConfig):
        raise TypeError(f"config must be a SatSystemConfig, not {type(config).__name__}")


def _field(inst, opcode: Opcode, name: str):
    lsb, width = FIELDS[opcode][name]
    return inst[lsb : lsb + width]


def _ceil_words(m: Module, count, row_bits: int, word_bits: int, name: str) -> Signal:
    """Words that ``count`` packed rows of ``row_bits`` fill (``word_bits`` a power of two)."""
    words = Signal(range((1 << 17) * row_bits // word_bits + 2), name=f"{name}_words")
    m.d.comb += words.eq((count * row_bits + word_bits - 1) >> (word_bits.bit_length() - 1))
    return words


class _Generator:
    """GENERATE's datapath (elaborated into ``m``): a gearbox that cuts the dense tile's words
    into SORE rows, the SORE, and the writes of its copy into the A buffer, one buffer row per
    cycle, only the copy's lanes enabled (:mod:`sparsa.config.sat_system` gives the order)."""

    def __init__(self, m: Module, config: SatSystemConfig, port) -> None:
        sore_cfg, arr = config.sore, config.array
        self._m, self._port, self._sore_cfg = m, port, sore_cfg
        M, L = sore_cfg.m, sore_cfg.lanes
        m.submodules.generate_unpack = self.unpack = StreamUnpacker(
            config.axi.data_width, L * arr.dtype.width, M)
        m.submodules.sore = self.sore = Sore(sore_cfg)
        m.d.comb += [
            self.sore.weights.valid.eq(self.unpack.o_stream.valid),
            self.sore.weights.payload.eq(self.unpack.o_stream.payload.data),
            self.unpack.o_stream.ready.eq(self.sore.weights.ready),
        ]
        self.pending = Signal(name="sore_cmd_pending")
        self.copy, self.n = Signal(), Signal(range(M))
        self.lane = Signal(range(max(arr.rows, arr.cols)))
        self.count = Signal(range(L + 1))
        self.ready = Signal()
        m.d.comb += [
            self.ready.eq(self.unpack.cmd.ready & ~self.pending),
            self.sore.cmd.valid.eq(self.pending),
            self.sore.cmd.payload.n.eq(self.n),
            self.sore.cmd.payload.copies.eq(Mux(self.copy, 1 << BdwpPass.BP, 1 << BdwpPass.FF)),
        ]
        with m.If(self.sore.cmd.valid & self.sore.cmd.ready):
            m.d.sync += self.pending.eq(0)
        self.t = Signal(range(L + 1), name="generate_t")
        self.group, self.j = Signal(range(L // M + 1)), Signal(range(M))

    def start(self, entry) -> None:
        """Take a GENERATE from the LOAD unit's queue (its transfer starts the same cycle)."""
        m, M = self._m, self._sore_cfg.m
        m.d.comb += [self.unpack.cmd.valid.eq(1), self.unpack.cmd.payload.eq(M)]
        m.d.sync += [self.pending.eq(1), self.copy.eq(entry.copy), self.n.eq(entry.n),
                     self.lane.eq(entry.lane), self.count.eq(entry.rows), self.t.eq(0),
                     self.group.eq(0), self.j.eq(0)]

    def write(self, row) -> Value:
        """Write buffer row ``row`` + t of the copy when it is there; return whether this is the
        last (then the copy is taken and the GENERATE is done)."""
        m, port = self._m, self._port
        M, L = self._sore_cfg.m, self._sore_cfg.lanes
        out = self.sore.out
        width = len(port.en)
        eb = len(port.data) // width

        def entry(e) -> Value:  # SORE entry -> the array's (value, index), index widened
            return Cat(e.value, e.index, Const(0, eb - len(e.value) - len(e.index)))

        lanes = out.payload.lanes
        ff = Cat(*(Array(Array(entry(lanes[i * (L // M) + g][j]) for j in range(M - 1))
                         for g in range(L // M))[self.group][self.j] for i in range(M)))
        bp = Cat(*(Array(entry(lanes[lane][j]) for j in range(M - 1))[self.t]
                   for lane in range(L)))
        data = Mux(self.copy, bp, ff)
        mask = Mux(self.copy, (1 << L) - 1, (1 << M) - 1)
        last = Signal(name="generate_last")
        m.d.comb += [
            last.eq(out.valid & (self.t + 1 == self.count)),
            port.addr.eq(row + self.t),
            port.data.eq((data << (self.lane * eb))[: len(port.data)]),
            port.en.eq(Mux(out.valid, (mask << self.lane)[:width], 0)),
            out.ready.eq(last),
        ]
        with m.If(out.valid):
            m.d.sync += [self.t.eq(self.t + 1),
                         self.j.eq(Mux(self.j + 1 == self.n, 0, self.j + 1)),
                         self.group.eq(Mux(self.j + 1 == self.n, self.group + 1, self.group))]
        return last


class SatAccelerator(ConfigComponent):
    """The SAT accelerator system (see the module docstring).

    Parameters
    ----------
    config : SatSystemConfig

    Members
    -------
    s_axil_* :
        AXI4-Lite control slave (:data:`~sparsa.config.sat_system.SAT_SYSTEM_REGISTERS`).
    m_axi_* :
        AXI4 master to DRAM.
    irq : Out(1)
        Interrupt: a program has finished and interrupts are enabled.
    """

    _check_config = staticmethod(_check)

    def _members(self) -> dict[str, wiring.Member]:
        cfg = self.config
        return {
            **axil_slave_members(SAT_SYSTEM_REGISTERS.addr_width),
            **axi_read_members(cfg.axi),
            **axi_write_members(cfg.axi),
            "irq": Out(1),
        }

    @property
    def interfaces(self) -> dict[str, object]:
        """The register map and the instruction set, for the Verilog sidecar."""
        return interface_json(self.config)

    def elaborate(self, platform: object) -> Module:
        cfg = self.config
        arr, axi = cfg.array, cfg.axi
        m = Module()
        R, C = arr.rows, arr.cols
        patterns = runtime_patterns(arr)
        wa_bits, wb_bits = weights_layout(arr).size, acts_layout(arr).size
        word_bits, word_bytes = axi.data_width, axi.word_bytes

        # ---- submodules and their ports --------------------------------------------------------
        m.submodules.regs = regs = AxiLiteRegisters(SAT_SYSTEM_REGISTERS)
        m.submodules.reader = reader = AxiReader(axi)
        m.submodules.writer = writer = AxiWriter(axi)
        m.submodules.array = array = SatArray(arr)
        for sub, members in ((regs, axil_slave_members(SAT_SYSTEM_REGISTERS.addr_width)),
                             (reader, axi_read_members(axi)), (writer, axi_write_members(axi))):
            forward_ports(m, self, sub, members)

        def reg(name):
            return getattr(regs, name)

        m.submodules.imem = imem = Memory(shape=unsigned(INSTRUCTION_BITS),
                                          depth=cfg.program_depth, init=[])
        m.submodules.abuf = abuf = Memory(shape=unsigned(wa_bits), depth=cfg.a_rows, init=[])
        m.submodules.bbuf = bbuf = Memory(shape=unsigned(wb_bits), depth=cfg.b_rows, init=[])
        out_row_bits = C * cfg.out_width
        m.submodules.obuf = obuf = Memory(shape=unsigned(out_row_bits), depth=cfg.out_rows,
                                          init=[])
        imem_w, imem_r = imem.write_port(), imem.read_port()
        entry_bits = weights_layout(arr).elem_shape.size
        abuf_w, abuf_r = abuf.write_port(granularity=entry_bits), abuf.read_port()
        bbuf_w, bbuf_r = bbuf.write_port(), bbuf.read_port()
        obuf_w = obuf.write_port()
        obuf_rmw = obuf.read_port(transparent_for=(obuf_w,))
        obuf_st = obuf.read_port()

        # ---- token counters: LOAD->GEMM, GEMM->LOAD, GEMM->STORE, STORE->GEMM ------------------
        tokens = {k: Signal(TOKEN_BITS, name=f"tok_{k}") for k in ("lg", "gl", "gs", "sg")}
        tok_push = {k: Signal(name=f"tok_{k}_push") for k in tokens}
        tok_pop = {k: Signal(name=f"tok_{k}_pop") for k in tokens}
        start = Signal()
        for k, count in tokens.items():
            with m.If(start):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(count + tok_push[k] - tok_pop[k])

        # ---- controller ------------------------------------------------------------------------
        running, done, failed = Signal(), Signal(), Signal()
        fault_code = Signal(4)
        fault_index = Signal(24)
        dram_fault = Signal()  # a unit saw an error answer from the memory
        dram_fault_index = Signal(16)
        m.d.comb += [
            start.eq(reg("control_written") & reg("control")[0] & ~running),
            reg("status").eq(Cat(running, done, failed)),
            reg("error").eq(Cat(fault_code, Const(0, 4), fault_index)),
            self.irq.eq(reg("irq_status")[0] & reg("control")[1]),
        ]
        finish = Signal()
        m.d.comb += reg("irq_status_set").eq(finish)
        program_len = reg("program_len")
        program_addr = Cat(reg("program_lo"), reg("program_hi"))[: axi.addr_width + 1]
        program_hi_ok = Cat(reg("program_lo"), reg("program_hi"))[axi.addr_width + 1 :] == 0
        program_words = _ceil_words(m, program_len[:17], INSTRUCTION_BITS, word_bits, "prog")

        def fault(code: Fault, index) -> list:
            return [fault_code.eq(code), fault_index.eq(index), failed.eq(1)]

        m.submodules.fetch_unpack = fetch_unpack = StreamUnpacker(word_bits, INSTRUCTION_BITS,
                                                                  cfg.program_depth)
        fetching = Signal()
        fetch_index = Signal(range(cfg.program_depth + 1))
        pc = Signal(16)
        # What each unit's queue holds of an instruction: its fields, checked and counted.
        words_w = axi.addr_width - axi.size_code + 1
        depth = max(cfg.a_rows, cfg.b_rows)
        sore = cfg.sore
        lanes = max(R, C)
        generate_fields = {} if sore is None else {
            "generate": 1, "copy": 1, "n": range(sore.m), "lane": range(lanes)}
        entries = {
            Opcode.LOAD: data.StructLayout({
                "buffer": 1, "slots": range(arr.max_m + 1), "row": range(depth),
                "rows": range(depth + 1),
                "addr": axi.addr_width, "words": words_w, "pop_next": 1, "push_next": 1,
                "index": 16, **generate_fields}),
            Opcode.GEMM: data.StructLayout({
                "dataflow": 1, "accumulate": 1, "pattern": range(len(patterns)),
                "length": range(1 << arr.max_reduction.bit_length() + 1), "rows": range(R + 1),
                "a_row": range(cfg.a_rows), "b_row": range(cfg.b_rows),
                "out_row": range(cfg.out_rows), "n_w": range(cfg.a_rows + 1),
                "n_a": range(cfg.b_rows + 1), "n_out": range(cfg.out_rows + 1),
                "sync": 1, "pop_prev": 1, "pop_next": 1, "push_prev": 1, "push_next": 1}),
            Opcode.STORE: data.StructLayout({
                "mode": 4, "group": 4, "relu": 1, "shift": 6, "row": range(cfg.out_rows),
                "rows": range(cfg.out_rows + 1), "addr": axi.addr_width, "words": words_w,
                "pop_prev": 1, "push_prev": 1, "index": 16}),
        }
        queues = {op: SyncFIFO(width=layout.size, depth=QUEUE_DEPTH)
                  for op, layout in entries.items()}
        # The LOAD unit runs LOAD and GENERATE: each instruction's entry, then its unit's queue.
        unit_of = {Opcode.LOAD: Opcode.LOAD, Opcode.GEMM: Opcode.GEMM, Opcode.STORE: Opcode.STORE,
                   Opcode.SYNC: Opcode.GEMM}
        if sore is not None:
            unit_of[Opcode.GENERATE] = Opcode.LOAD
        entry = {op: Signal(entries[unit], name=f"{op.name.lower()}_entry")
                 for op, unit in unit_of.items()}
        for op, q in queues.items():
            m.submodules[f"q_{op.name.lower()}"] = q
        units_idle = Signal()
        inst = imem_r.data
        opcode = inst[:4]
        check = Signal(4)  # the fault of the instruction being decoded (0: none)

        with m.FSM(name="ctrl"):
            with m.State("IDLE"), m.If(start):
                m.d.sync += [running.eq(1), done.eq(0), failed.eq(0), fault_code.eq(0),
                             fault_index.eq(0), pc.eq(0), dram_fault.eq(0)]
                m.next = "CHECK"
            with m.State("CHECK"):
                end = program_addr + (program_words << axi.size_code)
                with m.If((program_len == 0) | (program_len > cfg.program_depth)):
                    m.d.sync += fault(Fault.PROGRAM, 0)
                    m.next = "DRAIN"
                with m.Elif(~program_hi_ok | (program_addr[: axi.size_code] != 0)
                            | (end > cfg.dram_bytes)):
                    m.d.sync += fault(Fault.ADDRESS, 0)
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += [
                        reader.cmd.valid.eq(1),
                        reader.cmd.payload.addr.eq(program_addr),
                        reader.cmd.payload.words.eq(program_words),
                        fetch_unpack.cmd.valid.eq(1),
                        fetch_unpack.cmd.payload.eq(program_len),
                    ]
                    with m.If(reader.cmd.ready & fetch_unpack.cmd.ready):
                        m.d.sync += [fetching.eq(1), fetch_index.eq(0)]
                        m.next = "FETCH"
            with m.State("FETCH"), m.If(~fetching):
                with m.If(dram_fault):
                    m.d.sync += fault(Fault.DRAM, 0)
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += [imem_r.addr.eq(pc), imem_r.en.eq(1)]
                with m.If(dram_fault):
                    m.d.sync += fault(Fault.DRAM, dram_fault_index)
                    m.next = "DRAIN"
                with m.Elif(pc == program_len):
                    m.d.sync += fault(Fault.PROGRAM, pc)
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += imem_r.en.eq(0)
                with m.If(check != 0):
                    m.d.sync += fault(check, pc)
                    m.next = "DRAIN"
                with m.Elif(opcode == Opcode.END):
                    m.next = "DRAIN"
                with m.Else():
                    for op, unit in unit_of.items():
                        q = queues[unit]
                        with m.If(opcode == op):
                            m.d.comb += [q.w_data.eq(entry[op]), q.w_en.eq(q.w_rdy)]
                            with m.If(q.w_rdy):
                                m.d.sync += pc.eq(pc + 1)
                                m.next = "READ"
            with m.State("DRAIN"), m.If(units_idle):
                m.d.comb += finish.eq(1)
                m.d.sync += [running.eq(0), done.eq(1)]
                with m.If(dram_fault & ~failed):
                    m.d.sync += fault(Fault.DRAM, dram_fault_index)
                m.next = "IDLE"

        # The fetch: the reader's words into the gearbox, its rows into the instruction memory.
        m.d.comb += [
            imem_w.addr.eq(fetch_index),
            imem_w.data.eq(fetch_unpack.o_stream.payload.data),
            imem_w.en.eq(fetch_unpack.o_stream.valid),
            fetch_unpack.o_stream.ready.eq(1),
        ]
        with m.If(fetch_unpack.o_stream.valid):
            m.d.sync += fetch_index.eq(fetch_index + 1)
            with m.If(fetch_unpack.o_stream.payload.last):
                m.d.sync += fetching.eq(0)

        # ---- checks of the instruction in DECODE -----------------------------------------------
        tok = {n: _field(inst, Opcode.END, n) for n in ("pop_prev", "pop_next", "push_prev",
                                                         "push_next")}
        load = {n: _field(inst, Opcode.LOAD, n) for n in ("buffer", "slots", "row", "rows",
                                                           "addr")}
        gemm = {n: _field(inst, Opcode.GEMM, n) for n in FIELDS[Opcode.GEMM] if n != "opcode"}
        store = {n: _field(inst, Opcode.STORE, n) for n in ("mode", "group", "relu", "shift",
                                                             "row", "rows", "addr")}

        gen = {n: _field(inst, Opcode.GENERATE, n) for n in ("copy", "n", "lane", "row", "addr")}
        if sore is not None:
            # FF: L / M groups of N entries per channel; BP: N entries per position.
            gen_rows = Signal(range(sore.lanes + 1))
            gen_words = Signal(range(1 << (axi.addr_width - axi.size_code + 1)))
            m.d.comb += [
                gen_rows.eq(Mux(gen["copy"], gen["n"], gen["n"] * (sore.lanes // sore.m))),
                gen_words.eq(_ceil_words(m, Const(sore.m), sore.lanes * arr.dtype.width,
                                         word_bits, "gen")),
            ]

        def out_of_dram(addr, words):
            addr_ok = addr[axi.addr_width + 1 :] == 0
            low = addr[: axi.addr_width + 1]
            return ~addr_ok | (low[: axi.size_code] != 0) | (
                low + (words << axi.size_code) > cfg.dram_bytes)

        # A LOAD into B reads whole beats (slots 0, taken as max(M)) or compact rows of k slots.
        groups = cfg.store_groups()
        load_words = Signal(range(1 << (axi.addr_width - axi.size_code + 1)))
        load_slots = Signal(range(arr.max_m + 1))
        load_slots_bad = Signal()
        m.d.comb += [load_words.eq(_ceil_words(m, load["rows"], wa_bits, word_bits, "load_a")),
                     load_slots.eq(arr.max_m), load_slots_bad.eq(load["slots"] != 0)]
        with m.If(load["buffer"]), m.Switch(load["slots"]):
            for k in sorted({0, *groups}):
                bits = wb_bits if k == 0 else cfg.compact_bits(k)
                with m.Case(k):
                    m.d.comb += [load_slots_bad.eq(0),
                                 load_words.eq(_ceil_words(m, load["rows"], bits,
                                                           word_bits, f"load_b{k}"))]
                    if k:
                        m.d.comb += load_slots.eq(k)
        load_depth = Mux(load["buffer"], cfg.b_rows, cfg.a_rows)

        n_w, n_a, n_out = (Signal(25, name=n) for n in ("n_w", "n_a", "n_out"))
        gemm_bad = Signal()
        length_cap = 1 << arr.max_reduction.bit_length()  # what length_m1 can say
        ws = gemm["dataflow"] == Dataflow.WS
        m.d.comb += gemm_bad.eq(1)
        with m.Switch(gemm["pattern"]):
            for code, p in enumerate(patterns):
                n = 1 if p is None else p.n
                with m.Case(code):
                    count = Mux(ws, gemm["rows"], gemm["length"])
                    m.d.comb += [
                        gemm_bad.eq(
                            (gemm["length"] == 0) | (gemm["rows"] == 0) | (gemm["rows"] > R)
                            | (gemm["length"] > length_cap)
                            | (~ws & (gemm["length"] > arr.max_reduction))
                            | ((count % n != 0) if n > 1 else 0)
                        ),
                        n_a.eq(Mux(ws, gemm["length"], gemm["length"] // n)),
                    ]
        m.d.comb += [
            n_w.eq(Mux(ws, gemm["rows"], gemm["length"])),
            n_out.eq(Mux(ws, gemm["length"], gemm["rows"])),
        ]

        store_bits = {mode: cfg.store_bits(mode) for mode in cfg.store_modes()}
        store_words = Signal.like(load_words)
        store_mode_bad = Signal()
        m.d.comb += store_mode_bad.eq(1)
        with m.Switch(store["mode"]):
            for mode, bits in store_bits.items():
                with m.Case(mode):
                    shift_bad = (store["shift"] >= cfg.out_width) if mode in (
                        StoreMode.INT8, StoreMode.INT16) else (store["shift"] != 0)
                    group_bad = (store["group"] != 0) if mode != cfg.operand_mode else 0
                    m.d.comb += [
                        store_mode_bad.eq(shift_bad | group_bad),
                        store_words.eq(_ceil_words(m, store["rows"], C * bits, word_bits,
                                                   f"store_{mode.name.lower()}")),
                    ]
        # A STORE with a group writes ceil(rows / group) activation beats (every M, so every
        # group, is a power of two).
        with m.Switch(store["group"]):
            with m.Case(0):
                pass
            for g in cfg.store_groups():
                with m.Case(g):
                    beats = (store["rows"] + g - 1) >> (g.bit_length() - 1)
                    m.d.comb += store_words.eq(_ceil_words(m, beats, cfg.compact_bits(g),
                                                           word_bits, f"store_beats{g}"))
            with m.Default():
                m.d.comb += store_mode_bad.eq(1)

        with m.Switch(opcode):
            with m.Case(Opcode.END), m.If(Cat(*tok.values()).any()):
                m.d.comb += check.eq(Fault.TOKEN)
            with m.Case(Opcode.SYNC):
                pass
            with m.Case(Opcode.LOAD):
                with m.If(tok["pop_prev"] | tok["push_prev"]):
                    m.d.comb += check.eq(Fault.TOKEN)
                with m.Elif(load_slots_bad | (load["rows"] == 0)
                            | (load["row"] + load["rows"] > load_depth)):
                    m.d.comb += check.eq(Fault.BUFFER)
                with m.Elif(out_of_dram(load["addr"], load_words)):
                    m.d.comb += check.eq(Fault.ADDRESS)
            with m.Case(Opcode.GEMM):
                with m.If(gemm_bad):
                    m.d.comb += check.eq(Fault.GEMM)
                with m.Elif((gemm["a_row"] + n_w > cfg.a_rows)
                            | (gemm["b_row"] + n_a > cfg.b_rows)
                            | (gemm["out_row"] + n_out > cfg.out_rows)):
                    m.d.comb += check.eq(Fault.BUFFER)
            with m.Case(Opcode.STORE):
                with m.If(tok["pop_next"] | tok["push_next"]):
                    m.d.comb += check.eq(Fault.TOKEN)
                with m.Elif(store_mode_bad):
                    m.d.comb += check.eq(Fault.STORE_MODE)
                with m.Elif((store["rows"] == 0) | (store["row"] + store["rows"] > cfg.out_rows)):
                    m.d.comb += check.eq(Fault.BUFFER)
                with m.Elif(out_of_dram(store["addr"], store_words)):
                    m.d.comb += check.eq(Fault.ADDRESS)
            if sore is not None:
                with m.Case(Opcode.GENERATE):
                    with m.If(tok["pop_prev"] | tok["push_prev"]):
                        m.d.comb += check.eq(Fault.TOKEN)
                    with m.Elif((gen["n"] == 0) | (gen["n"] >= sore.m) | (gen["lane"] + Mux(
                            gen["copy"], sore.lanes, sore.m) > lanes)):
                        m.d.comb += check.eq(Fault.SORE)
                    with m.Elif(gen["row"] + gen_rows > cfg.a_rows):
                        m.d.comb += check.eq(Fault.BUFFER)
                    with m.Elif(out_of_dram(gen["addr"], gen_words)):
                        m.d.comb += check.eq(Fault.ADDRESS)
            with m.Default():
                m.d.comb += check.eq(Fault.OPCODE)

        decoded = {Opcode.LOAD: {**load, "slots": load_slots, "words": load_words,
                                 "generate": 0},
                   Opcode.GEMM: {**gemm, "n_w": n_w, "n_a": n_a, "n_out": n_out, "sync": 0},
                   Opcode.SYNC: {"sync": 1},
                   Opcode.STORE: {**store, "words": store_words}}
        if sore is not None:
            decoded[Opcode.GENERATE] = {**gen, "generate": 1, "buffer": 0, "rows": gen_rows,
                                        "words": gen_words}
        for op, e in entry.items():
            for name in e.shape().members:
                if name == "index":
                    m.d.comb += e.index.eq(pc)
                elif name in tok:
                    m.d.comb += getattr(e, name).eq(tok[name])
                elif name in decoded[op]:
                    m.d.comb += getattr(e, name).eq(decoded[op][name])

        # ---- LOAD unit -------------------------------------------------------------------------
        lq = queues[Opcode.LOAD]
        ld = entries[Opcode.LOAD](lq.r_data)
        m.submodules.unpack_a = unpack_a = StreamUnpacker(word_bits, wa_bits, cfg.a_rows)
        unpack_b = {}  # per slot count k, its compact rows' gearbox (max(M): whole beats)
        for k in groups:
            unpack_b[k] = StreamUnpacker(word_bits, cfg.compact_bits(k), cfg.b_rows)
            m.submodules[f"unpack_b{k}"] = unpack_b[k]
        # LOADs issue their reads back to back (the reader keeps max_reads bursts in flight),
        # each leaving a descriptor; the write side takes the descriptors in order and writes
        # each LOAD's rows as its words arrive. A GENERATE waits until every LOAD before it has
        # written its rows, and no LOAD issues until the GENERATE has written its own.
        desc = data.StructLayout({"buffer": 1, "slots": range(arr.max_m + 1), "row": 16,
                                  "rows": range(depth + 1), "push": 1, "index": 16})
        m.submodules.loads = loads = SyncFIFO(width=desc.size, depth=QUEUE_DEPTH)
        issued = desc(Signal(desc.size, name="load_issued"))
        head = desc(loads.r_data)
        l_buffer, l_row, l_push, l_at = Signal(), Signal(16), Signal(), Signal(16)
        l_slots = Signal(range(arr.max_m + 1))
        load_busy = Signal()
        writing = Signal()  # the write side writes a LOAD's rows
        l_gen = Signal()  # the LOAD unit runs a GENERATE
        if sore is not None:
            generator = _Generator(m, cfg, abuf_w)
        token_ok = ~ld.pop_next | (tokens["gl"] != 0)
        m.d.comb += [issued.buffer.eq(ld.buffer), issued.slots.eq(ld.slots),
                     issued.row.eq(ld.row), issued.rows.eq(ld.rows),
                     issued.push.eq(ld.push_next), issued.index.eq(ld.index),
                     loads.w_data.eq(issued)]
        # The issue side (l_gen: a GENERATE runs, and nothing issues until it is done): a LOAD
        # once its descriptor has room, a GENERATE once every LOAD before it is written.
        can_read = ~l_gen & lq.r_rdy & token_ok & reader.cmd.ready
        take_load, take_gen = can_read & loads.w_rdy, Const(0)
        if sore is not None:
            take_load &= ~ld.generate
            take_gen = can_read & ld.generate & generator.ready & ~loads.r_rdy & ~writing
        with m.If(take_load | take_gen):
            m.d.comb += [
                reader.cmd.valid.eq(1),
                reader.cmd.payload.addr.eq(ld.addr),
                reader.cmd.payload.words.eq(ld.words),
                loads.w_en.eq(take_load),
                lq.r_en.eq(1), tok_pop["gl"].eq(ld.pop_next),
            ]
        if sore is not None:
            with m.If(take_gen):
                m.d.sync += [l_gen.eq(1), l_row.eq(ld.row), l_push.eq(ld.push_next),
                             l_at.eq(ld.index)]
                generator.start(ld)
            with m.If(l_gen), m.If(generator.write(l_row)):
                m.d.comb += tok_push["lg"].eq(l_push)
                m.d.sync += l_gen.eq(0)
        with m.FSM(name="load_write"):
            with m.State("IDLE"):
                b_ready = Cat(*(u.cmd.ready & (head.slots == k)
                                for k, u in unpack_b.items())).any()
                with m.If(loads.r_rdy & Mux(head.buffer, b_ready, unpack_a.cmd.ready)):
                    m.d.comb += [loads.r_en.eq(1), unpack_a.cmd.valid.eq(~head.buffer),
                                 unpack_a.cmd.payload.eq(head.rows)]
                    for k, u in unpack_b.items():
                        m.d.comb += [u.cmd.valid.eq(head.buffer & (head.slots == k)),
                                     u.cmd.payload.eq(head.rows)]
                    m.d.sync += [l_buffer.eq(head.buffer), l_row.eq(head.row),
                                 l_slots.eq(head.slots), l_push.eq(head.push),
                                 l_at.eq(head.index)]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += writing.eq(1)
                # Each gearbox's rows into its buffer, a compact row's k values per lane into
                # the lane's first k slots of the beat.
                writers = [(unpack_a, abuf_w, l_buffer == 0, lambda row: row)]
                writers += [(u, bbuf_w, (l_buffer == 1) & (l_slots == k),
                             functools.partial(self._expand, k=k))
                            for k, u in unpack_b.items()]
                for unpack, port, selected, expand in writers:
                    m.d.comb += unpack.o_stream.ready.eq(1)
                    with m.If(selected):
                        m.d.comb += [
                            port.addr.eq(l_row),
                            port.data.eq(expand(unpack.o_stream.payload.data)),
                            port.en.eq(Mux(unpack.o_stream.valid, (1 << len(port.en)) - 1, 0)),
                        ]
                    with m.If(selected & unpack.o_stream.valid):
                        m.d.sync += l_row.eq(l_row + 1)
                        with m.If(unpack.o_stream.payload.last):
                            m.d.comb += tok_push["lg"].eq(l_push)
                            m.next = "IDLE"
        m.d.comb += load_busy.eq(writing | loads.r_rdy | l_gen)
        # The reader's words: to the program gearbox while fetching, else to the loaded buffer's.
        targets = [(unpack_a, ~l_gen & (l_buffer == 0))]
        targets += [(u, ~l_gen & (l_buffer == 1) & (l_slots == k)) for k, u in unpack_b.items()]
        if sore is not None:
            targets.append((generator.unpack, l_gen))
        for unpack, selected in targets:
            m.d.comb += unpack.i_stream.payload.eq(reader.data.payload.data)
            with m.If(~fetching & selected):
                m.d.comb += [unpack.i_stream.valid.eq(reader.data.valid),
                             reader.data.ready.eq(unpack.i_stream.ready)]
        m.d.comb += fetch_unpack.i_stream.payload.eq(reader.data.payload.data)
        with m.If(fetching):
            m.d.comb += [fetch_unpack.i_stream.valid.eq(reader.data.valid),
                         reader.data.ready.eq(fetch_unpack.i_stream.ready)]
        with m.If(reader.data.valid & reader.data.ready & reader.data.payload.error
                  & ~dram_fault):
            m.d.sync += [dram_fault.eq(1), dram_fault_index.eq(Mux(fetching, 0, l_at))]

        # ---- GEMM unit -------------------------------------------------------------------------
        gq = queues[Opcode.GEMM]
        g = entries[Opcode.GEMM](gq.r_data)
        feed_w = RowFeeder(m, abuf_r, cfg.a_rows, QUEUE_DEPTH, "feed_w")
        feed_a = RowFeeder(m, bbuf_r, cfg.b_rows, QUEUE_DEPTH, "feed_a")
        drain_layout = data.StructLayout({"row": range(cfg.out_rows), "count": 25,
                                          "accumulate": 1, "flag": 1})
        m.submodules.drains = drains = SyncFIFO(width=drain_layout.size, depth=QUEUE_DEPTH)
        # The command waits in cmd_pending until both row feeders have a run active: the array
        # then never holds its command while its first rows are still being read, which would
        # stop the whole array, the previous tile's drain included, for a cycle.
        # A feeder counts while it has a run active or once it has taken the command's run: a
        # run of one row is over the cycle after it is taken, and when the other feeder takes
        # its run later (still streaming the previous tile's) the two active flags are never
        # up together (the command would wait forever).
        cmd_pending = Signal()
        taken = {"w": Signal(name="cmd_w_taken"), "a": Signal(name="cmd_a_taken")}
        m.d.comb += array.cmd.valid.eq(cmd_pending & (feed_w.active | taken["w"])
                                       & (feed_a.active | taken["a"]))
        cmd_free = ~cmd_pending | (array.cmd.valid & array.cmd.ready)
        for key, feeder in (("w", feed_w), ("a", feed_a)):
            with m.If(array.cmd.valid & array.cmd.ready):
                m.d.sync += taken[key].eq(0)
            with m.Elif(cmd_pending & feeder.runs.r_en):
                m.d.sync += taken[key].eq(1)
        wait_load = g.pop_prev & (tokens["lg"] == 0)
        wait_store = g.pop_next & (tokens["sg"] == 0)
        issue = Signal()
        m.d.comb += issue.eq(gq.r_rdy & ~g.sync & ~wait_load & ~wait_store & cmd_free
                             & feed_w.runs.w_rdy & feed_a.runs.w_rdy & drains.w_rdy)
        # A SYNC takes its tokens once every GEMM before it has its last answer beat in the
        # output buffer (nothing of the unit's can then push a token in the same cycle).
        in_array = Signal(range(2 * QUEUE_DEPTH + 2))  # GEMMs issued, last beat not yet in
        s1_valid = Signal()
        gemm_idle = (~cmd_pending & feed_w.idle & feed_a.idle & ~feed_w.done.r_rdy
                     & ~feed_a.done.r_rdy & (in_array == 0) & ~s1_valid)
        sync = Signal()
        m.d.comb += sync.eq(gq.r_rdy & g.sync & ~wait_load & ~wait_store & gemm_idle)
        with m.If(array.cmd.valid & array.cmd.ready):
            m.d.sync += cmd_pending.eq(0)
        w_run, a_run, d_run = (Signal(run_layout(cfg.a_rows)), Signal(run_layout(cfg.b_rows)),
                               Signal(drain_layout))
        m.d.comb += [
            w_run.base.eq(g.a_row), w_run.count.eq(g.n_w), w_run.flag.eq(g.push_prev),
            a_run.base.eq(g.b_row), a_run.count.eq(g.n_a), a_run.flag.eq(g.push_prev),
            d_run.row.eq(g.out_row), d_run.count.eq(g.n_out),
            d_run.accumulate.eq(g.accumulate), d_run.flag.eq(g.push_next),
            feed_w.runs.w_data.eq(w_run), feed_a.runs.w_data.eq(a_run), drains.w_data.eq(d_run),
            feed_w.runs.w_en.eq(issue), feed_a.runs.w_en.eq(issue), drains.w_en.eq(issue),
            gq.r_en.eq(issue | sync),
            tok_pop["lg"].eq((issue | sync) & g.pop_prev),
            tok_pop["sg"].eq((issue | sync) & g.pop_next),
        ]
        command = Signal(cmd_layout(arr).size)
        fields = {"dataflow": g.dataflow, "pattern": g.pattern,
                  "length_m1": g.length - 1, "rows_m1": g.rows - 1}
        for name, value in fields.items():
            f = cmd_layout(arr)[name]
            m.d.comb += command[f.offset : f.offset + f.width].eq(value)
        with m.If(issue):
            m.d.sync += [cmd_pending.eq(1), array.cmd.payload.eq(command)]
        m.d.comb += [
            array.weights.valid.eq(feed_w.valid), array.weights.payload.eq(feed_w.data),
            feed_w.ready.eq(array.weights.ready),
            array.acts.valid.eq(feed_a.valid), array.acts.payload.eq(feed_a.data),
            feed_a.ready.eq(array.acts.ready),
        ]
        # Both runs of a GEMM read: its buffer halves are free (the token to LOAD).
        both = feed_w.done.r_rdy & feed_a.done.r_rdy
        m.d.comb += [feed_w.done.r_en.eq(both), feed_a.done.r_en.eq(both),
                     tok_push["gl"].eq(both & feed_w.done.r_data | sync & g.push_prev)]

        # The drain: answer beats into the output buffer (read-modify-write).
        d_head = drain_layout(drains.r_data)
        d_index = Signal(25)
        m.d.comb += array.out.ready.eq(drains.r_rdy)
        beat = array.out.valid & array.out.ready
        d_last = d_index + 1 == d_head.count
        m.d.comb += [obuf_rmw.addr.eq(d_head.row + d_index), obuf_rmw.en.eq(beat),
                     drains.r_en.eq(beat & d_last)]
        with m.If(beat):
            m.d.sync += d_index.eq(Mux(d_last, 0, d_index + 1))
        s1_acc, s1_push = Signal(), Signal()
        s1_row = Signal(range(cfg.out_rows))
        entry = signed(cfg.out_width) if not arr.dtype.is_float else unsigned(32)
        s1_new = [Signal(entry, name=f"s1_new{c}") for c in range(C)]
        m.d.sync += [s1_valid.eq(beat), s1_acc.eq(d_head.accumulate),
                     s1_push.eq(beat & d_last & d_head.flag),
                     s1_row.eq(d_head.row + d_index)]
        for c in range(C):
            m.d.sync += s1_new[c].eq(array.out.payload.value[c])
        sums = []
        for c in range(C):
            old = obuf_rmw.data[c * cfg.out_width : (c + 1) * cfg.out_width]
            if arr.dtype.is_float:
                total, _ = fp32_sum(m, old, s1_new[c])
            else:
                total = (old.as_signed() + s1_new[c])[: cfg.out_width]
            sums.append(Mux(s1_acc, total, s1_new[c])[: cfg.out_width])
        m.d.comb += [obuf_w.addr.eq(s1_row), obuf_w.data.eq(Cat(*sums)),
                     obuf_w.en.eq(s1_valid),
                     tok_push["gs"].eq(s1_push | sync & g.push_next)]
        m.d.sync += in_array.eq(in_array + issue - (beat & d_last))

        # ---- STORE unit ------------------------------------------------------------------------
        sq = queues[Opcode.STORE]
        st = entries[Opcode.STORE](sq.r_data)
        feed_s = RowFeeder(m, obuf_st, cfg.out_rows, 1, "feed_s")
        widths = sorted(set(store_bits.values()))
        packers = {}
        for bits in widths:
            packers[bits] = StreamPacker(word_bits, C * bits, cfg.out_rows)
            m.submodules[f"pack{bits}"] = packers[bits]
        s_mode, s_shift, s_push, s_at = Signal(4), Signal(6), Signal(), Signal(16)
        s_group, s_relu = Signal(4), Signal()
        s_run = Signal(run_layout(cfg.out_rows))
        store_busy = Signal()
        with m.FSM(name="store"):
            with m.State("IDLE"), m.If(sq.r_rdy & (~st.pop_prev | (tokens["gs"] != 0))
                      & writer.cmd.ready & feed_s.runs.w_rdy):
                m.d.comb += [
                    writer.cmd.valid.eq(1),
                    writer.cmd.payload.addr.eq(st.addr),
                    writer.cmd.payload.words.eq(st.words),
                    feed_s.runs.w_en.eq(1),
                    s_run.base.eq(st.row), s_run.count.eq(st.rows), s_run.flag.eq(0),
                    feed_s.runs.w_data.eq(s_run),
                    sq.r_en.eq(1),
                    tok_pop["gs"].eq(st.pop_prev),
                ]
                m.d.sync += [s_mode.eq(st.mode), s_shift.eq(st.shift), s_group.eq(st.group),
                             s_relu.eq(st.relu), s_push.eq(st.push_prev), s_at.eq(st.index)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [store_busy.eq(1), writer.done.ready.eq(1)]
                with m.If(writer.done.valid):
                    m.d.comb += tok_push["sg"].eq(s_push)
                    with m.If(writer.done.payload.error & ~dram_fault):
                        m.d.sync += [dram_fault.eq(1), dram_fault_index.eq(s_at)]
                    m.next = "IDLE"
        m.d.comb += feed_s.done.r_en.eq(feed_s.done.r_rdy)
        converted = self._convert(m, feed_s.data, s_shift, s_relu)

        def drive(packer: StreamPacker, selected: Value, sends: Value) -> None:
            """While ``selected``, ``packer`` takes the feeder's rows that ``sends`` (taking
            the others, held, at once) and its words go to the write engine."""
            with m.If(selected & store_busy):
                m.d.comb += [
                    packer.i_stream.valid.eq(feed_s.valid & sends),
                    feed_s.ready.eq(~sends | packer.i_stream.ready),
                    writer.data.valid.eq(packer.o_stream.valid),
                    writer.data.payload.eq(packer.o_stream.payload.data),
                    packer.o_stream.ready.eq(writer.data.ready),
                ]

        for bits, packer in packers.items():
            selected = Signal(name=f"pack{bits}_sel")
            row = Signal(C * bits, name=f"pack{bits}_row")
            m.d.comb += selected.eq(0)
            with m.Switch(s_mode):
                for mode, b in store_bits.items():
                    if b == bits:
                        with m.Case(mode):
                            m.d.comb += [selected.eq(s_group == 0), row.eq(converted[mode])]
            m.d.comb += [
                packer.i_stream.payload.data.eq(row),
                packer.i_stream.payload.last.eq(feed_s.last),
            ]
            drive(packer, selected, Const(1))

        # The corner turn (a STORE with a group g): rows of C operand values gather into a
        # compact activation row of g slots per lane, row s in slot s of each lane; the last row
        # of the group (or of the transfer) sends it, the slots after it zero.
        max_m, width = arr.max_m, arr.dtype.width
        own = converted[cfg.operand_mode]
        slot = Signal(range(max_m), name="turn_slot")
        held = [Signal(C * width, name=f"turn_row{k}") for k in range(max_m - 1)]
        sends = feed_s.last | (slot + 1 == s_group)
        for g in groups:  # one gearbox per group, of compact rows of g slots per lane
            beat_packer = StreamPacker(word_bits, cfg.compact_bits(g), cfg.out_rows)
            m.submodules[f"pack_group{g}"] = beat_packer
            lanes_out = []
            for c in range(lanes):
                for k in range(g):
                    value = Const(0, width)
                    if c < C:
                        this = own[c * width : (c + 1) * width]
                        kept = held[k][c * width : (c + 1) * width] if k < max_m - 1 else value
                        value = Mux(slot == k, this, Mux(slot > k, kept, 0))
                    lanes_out.append(value)
            m.d.comb += [beat_packer.i_stream.payload.data.eq(Cat(*lanes_out)),
                         beat_packer.i_stream.payload.last.eq(feed_s.last)]
            drive(beat_packer, s_group == g, sends)
        with m.If((s_group != 0) & store_busy & feed_s.valid & feed_s.ready):
            m.d.sync += slot.eq(Mux(sends, 0, slot + 1))
            with m.Switch(slot):
                for k in range(max_m - 1):
                    with m.Case(k):
                        m.d.sync += held[k].eq(own)

        # ---- idle, counters --------------------------------------------------------------------
        m.d.comb += units_idle.eq(
            ~Cat(*(q.r_rdy for q in queues.values())).any() & ~load_busy & ~store_busy
            & (in_array == 0) & feed_w.idle & feed_a.idle & feed_s.idle & ~cmd_pending
            & ~feed_w.done.r_rdy & ~feed_a.done.r_rdy & ~s1_valid & ~fetching
        )
        events = {
            "cycles": running,
            "array_busy": in_array != 0,
            "sore_busy": l_gen,
            "stall_dram_read": gq.r_rdy & wait_load & ~l_gen,
            "stall_dram_write": gq.r_rdy & wait_store,
            "stall_sore": gq.r_rdy & wait_load & l_gen,
            "stall_output": array.out.valid & ~array.out.ready,
        }
        amounts = {
            "bytes_read": Mux(self.m_axi_rvalid & self.m_axi_rready, word_bytes, 0),
            "bytes_written": Mux(self.m_axi_wvalid & self.m_axi_wready, word_bytes, 0),
        }
        for name in COUNTERS:
            counter = Signal(64, name=f"count_{name}")
            step = events[name] if name in events else amounts[name]
            with m.If(start):
                m.d.sync += counter.eq(0)
            with m.Elif(running):
                m.d.sync += counter.eq(counter + step)
            m.d.comb += [reg(f"{name}_lo").eq(counter[:32]), reg(f"{name}_hi").eq(counter[32:])]
        return m

    def _expand(self, row: Value, *, k: int) -> Value:
        """A compact activation row of ``k`` values per lane as an ``acts`` beat (each lane's
        values in its first ``k`` slots, the others zero)."""
        arr = self.config.array
        width, lanes = arr.dtype.width, max(arr.rows, arr.cols)
        return Cat(*(Cat(row[(lane * k) * width : (lane * k + k) * width],
                         Const(0, (arr.max_m - k) * width))
                     for lane in range(lanes)))

    def _convert(self, m: Module, row, shift, relu) -> dict[StoreMode, Value]:
        """An output-buffer row converted for STORE, per mode the array's format takes, its
        negative values zero where ``relu`` is set."""
        cfg = self.config
        C = cfg.array.cols
        out = self._convert_values(m, row, shift)
        for mode, value in out.items():
            bits, bound = cfg.store_bits(mode), cfg.relu_bound(mode)
            values = []
            for c in range(C):
                v = value[c * bits : (c + 1) * bits]
                negative = v[-1] & (1 if bound is None else v[:-1] <= bound)
                values.append(Mux(relu & negative, 0, v))
            out[mode] = Cat(*values)
        return out

    def _convert_values(self, m: Module, row, shift) -> dict[StoreMode, Value]:
        """An output-buffer row converted by each mode the array's format takes."""
        cfg = self.config
        C, width = cfg.array.cols, cfg.out_width
        entries = [row[c * width : (c + 1) * width] for c in range(C)]
        out: dict[StoreMode, Value] = {StoreMode.RAW: row}
        if cfg.array.dtype.is_float:
            for mode, fmt in ((StoreMode.FP16, NumberFormat.FP16),
                              (StoreMode.BF16, NumberFormat.BF16)):
                out[mode] = Cat(*(fp32_to_half(m, e, fmt) for e in entries))
            return out
        half_lsb = Signal(width + 1)  # 2 ** (shift - 1): rounds half up
        below = (shift - 1)[: len(shift)]
        m.d.comb += half_lsb.eq(Mux(shift == 0, 0, Const(1, width + 1) << below))
        for mode, bits in ((StoreMode.INT8, 8), (StoreMode.INT16, 16)):
            low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            values = []
            for c, e in enumerate(entries):
                rounded = Signal(signed(width + 1), name=f"conv{bits}_round{c}")
                m.d.comb += rounded.eq((e.as_signed() + half_lsb) >> shift)
                value = Signal(signed(bits), name=f"conv{bits}_{c}")
                m.d.comb += value.eq(Mux(rounded < low, low, Mux(rounded > high, high, rounded)))
                values.append(value)
            out[mode] = Cat(*values)
        return out
