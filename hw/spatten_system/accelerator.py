"""SpattenAccelerator: SpAtten's attention core as a system, with its fetcher, its pruning
top-k engine, AXI4 memory and AXI4-Lite control.

What a run does is in :mod:`sparsa.config.spatten_system`; this module is how the hardware does
it.

* **Control** (``s_axil_*``): the register file of
  :data:`~sparsa.config.spatten_system.SPATTEN_SYSTEM_REGISTERS`; ``irq`` is high while
  ``irq_status.done`` and ``control.irq_enable`` are.
* **Memory**: four AXI4 read ports, one per plane (``m_axi_q_*``, ``m_axi_k_msb_*``,
  ``m_axi_k_lsb_*``, ``m_axi_v_*``; the Q port also reads the descriptors), each an
  :class:`~sparsa.hw.common.axi.AxiReader` that keeps up to ``axi.max_reads`` row reads in
  flight, and one write port (``m_axi_aw*``, ``m_axi_w*``, ``m_axi_b*``) for the output records
  and the kept lists. Each
  plane's rows stream into the core as they arrive (:mod:`sparsa.hw.spatten_system.fetch`), so a
  port stalls only its own plane.
* **Controller**, per layer: reads and checks the descriptor, then issues one command per alive
  head (the core's command, the Q row, a K job) into queues, as far as they have room, so the
  next heads' Q and K rows are fetched while the core works on the previous ones (the core
  overlaps three commands). The K generator turns each K job into request beats of E places;
  the core's ``lsb_req`` and ``v_req`` beats go to their ports' requesters with the head of
  the command they belong to (the front's command for K LSB, taken when the core takes its
  ``q`` beat; the values unit's, the oldest unanswered command, for V).
* **Answers**: each ``out`` beat is written as an output record (one write transfer) and its
  head importance kept; the ``keys`` beats of the layer's last head, whose token importance is
  the sum over the layer's heads, go into the importance memory.
* **Pruning**, once every answer of the layer is written: the top-k engine selects
  ``token_keep`` of the n cumulative importances, each the importance memory's value plus the
  token's cumulative importance from the layers before (saturating; the two memories are read
  row by row in step, fed by a :class:`~sparsa.hw.common.feeders.RowFeeder`); each kept place's
  token is copied into the other bank of the list memory and its cumulative importance (the
  value the engine answers with) into the other bank of the cumulative memory; then
  ``head_keep`` of the alive heads' importance, whose heads form the next head list; then both
  lists are written to DRAM and the banks swap.

The list memory (two banks of max_tokens 16-bit tokens), the importance memory and the
cumulative memory (two banks of the core's rows of E importances) are
:class:`amaranth.lib.memory.Memory` with synchronous read ports (block RAM).
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from sparsa.config.attention_core import RejectReason
from sparsa.config.spatten_system import (
    COUNTERS,
    DESCRIPTOR_BITS,
    DESCRIPTOR_FIELDS,
    LIST_ENTRY_BITS,
    PLANES,
    SPATTEN_SYSTEM_REGISTERS,
    Fault,
    SpattenSystemConfig,
)
from sparsa.hw.attention.attention_core import AttentionCore
from sparsa.hw.attention.control import CommandDecoder
from sparsa.hw.attention.layouts import cmd_layout
from sparsa.hw.common.axi import AxiReader, AxiWriter, axi_read_members, axi_write_members
from sparsa.hw.common.axi_lite import AxiLiteRegisters, axil_slave_members
from sparsa.hw.common.component import ConfigComponent, forward_ports
from sparsa.hw.common.feeders import RowFeeder, run_layout
from sparsa.hw.common.streams import StreamFIFO
from sparsa.hw.spatten_system.datasheet import interface_json
from sparsa.hw.spatten_system.fetch import (
    RowReader,
    RowRequester,
    requester_layout,
    row_request_layout,
)
from sparsa.hw.topk.topk import TopKEngine

__all__ = ["WRITE_PREFIX", "SpattenAccelerator", "read_prefix"]

WRITE_PREFIX = "m_axi"
"""Prefix of the write port."""


def read_prefix(plane: str) -> str:
    """Prefix of the read port of ``plane``."""
    return f"m_axi_{plane}"


def _check(config: object) -> None:
    if not isinstance(config, SpattenSystemConfig):
        raise TypeError(f"config must be a SpattenSystemConfig, not {type(config).__name__}")


class SpattenAccelerator(ConfigComponent):
    """The SpAtten accelerator system (see the module docstring).

    Parameters
    ----------
    config : SpattenSystemConfig

    Members
    -------
    s_axil_* :
        AXI4-Lite control slave.
    m_axi_<plane>_* :
        AXI4 read masters, one per plane of :data:`~sparsa.config.spatten_system.PLANES`.
    m_axi_aw*, m_axi_w*, m_axi_b* :
        AXI4 write master.
    irq : Out(1)
        Interrupt: a run has finished and interrupts are enabled.
    """

    _check_config = staticmethod(_check)

    @property
    def interfaces(self) -> dict[str, object]:
        """The register map and the descriptor format, for the Verilog sidecar."""
        return interface_json(self.config)

    def _members(self) -> dict[str, wiring.Member]:
        axi = self.config.axi
        members = dict(axil_slave_members(SPATTEN_SYSTEM_REGISTERS.addr_width))
        for plane in PLANES:
            members.update(axi_read_members(axi, read_prefix(plane)))
        members.update(axi_write_members(axi, WRITE_PREFIX))
        members["irq"] = Out(1)
        return members

    def elaborate(self, platform: object) -> Module:
        cfg = self.config
        core_cfg, axi = cfg.core, cfg.axi
        att = core_cfg.attention
        E, NT, HQ = core_cfg.lanes, core_cfg.max_tokens, core_cfg.heads
        W, word_bytes = axi.data_width, axi.word_bytes
        m = Module()

        # ---- submodules and their ports --------------------------------------------------------
        m.submodules.regs = regs = AxiLiteRegisters(SPATTEN_SYSTEM_REGISTERS)
        m.submodules.core = core = AttentionCore(core_cfg)
        m.submodules.pruner = pruner = TopKEngine(cfg.pruning_topk)
        m.submodules.writer = writer = AxiWriter(axi)
        readers, fetch = {}, {}
        for plane in PLANES:
            readers[plane] = m.submodules[f"reader_{plane}"] = AxiReader(axi)
            lanes = 1 if plane == "q" else E
            fetch[plane] = m.submodules[f"fetch_{plane}"] = RowReader(axi, lanes,
                                                                      cfg.row_bits(plane))
        forward_ports(m, self, regs, axil_slave_members(SPATTEN_SYSTEM_REGISTERS.addr_width))
        forward_ports(m, self, writer, axi_write_members(axi, WRITE_PREFIX))
        for p in PLANES:
            forward_ports(m, self, readers[p], axi_read_members(axi),
                          axi_read_members(axi, read_prefix(p)))

        def reg(name):
            return getattr(regs, name)

        for plane in ("k_msb", "k_lsb", "v"):
            wiring.connect(m, fetch[plane].reader_cmd, readers[plane].cmd)
            wiring.connect(m, readers[plane].data, fetch[plane].reader_data)
        for plane, port in (("k_msb", core.k_msb), ("k_lsb", core.k_lsb), ("v", core.v)):
            m.d.comb += [port.valid.eq(fetch[plane].beat.valid),
                         port.payload.eq(fetch[plane].beat.payload.rows),
                         fetch[plane].beat.ready.eq(port.ready)]
        m.d.comb += [core.q.valid.eq(fetch["q"].beat.valid),
                     core.q.payload.eq(fetch["q"].beat.payload.rows),
                     fetch["q"].beat.ready.eq(core.q.ready)]

        # ---- memories ----------------------------------------------------------------------
        m.submodules.lists = lists = Memory(shape=unsigned(LIST_ENTRY_BITS), depth=2 * NT,
                                            init=[])
        lists_w = lists.write_port()
        list_k, list_lsb, list_v = lists.read_port(), lists.read_port(), lists.read_port()
        list_old, list_out = lists.read_port(), lists.read_port()
        imp_bits = att.token_importance_bits
        m.submodules.importance = importance = Memory(shape=unsigned(E * imp_bits),
                                                      depth=core_cfg.rows, init=[])
        imp_w, imp_r = importance.write_port(), importance.read_port()
        # Cumulative importance of the alive tokens, in list order (token i at lane i mod E of
        # row i div E), two banks of `rows` rows like the lists.
        rows = core_cfg.rows
        m.submodules.cumulative = cumulative = Memory(shape=unsigned(E * imp_bits),
                                                      depth=2 * rows, init=[])
        cum_w, cum_r = cumulative.write_port(granularity=imp_bits), cumulative.read_port()
        head_w = max(1, (HQ - 1).bit_length())
        heads_cur = Array(Signal(head_w, name=f"head_cur{i}") for i in range(HQ))
        heads_next = Array(Signal(head_w, name=f"head_next{i}") for i in range(HQ))
        head_imp = Array(Signal(att.head_importance_bits, name=f"head_imp{i}")
                         for i in range(HQ))

        # ---- run state -------------------------------------------------------------------------
        running, done, failed = Signal(), Signal(), Signal()
        fault_code, fault_layer = Signal(4), Signal(16)
        dram_fault = Signal()
        layer = Signal(16)
        n = Signal(range(NT + 1))
        alive = Signal(range(HQ + 1))
        bank = Signal(range(2 * NT))  # offset of the alive list
        identity = Signal()  # first layer: token j is alive as j
        table = Signal(axi.addr_width)
        desc = Signal(DESCRIPTOR_BITS)

        def field(name):
            lsb, width = DESCRIPTOR_FIELDS[name]
            return desc[lsb:lsb + width]

        def addr(name):
            return field(name)[:axi.addr_width]

        start = Signal()
        finish = Signal()
        m.d.comb += [
            start.eq(reg("control_written") & reg("control")[0] & ~running),
            reg("status").eq(Cat(running, done, failed)),
            reg("error").eq(Cat(fault_code, Const(0, 4), fault_layer)),
            reg("irq_status_set").eq(finish),
            self.irq.eq(reg("irq_status")[0] & reg("control")[1]),
        ]

        # ---- queues between the controller and the fetchers -------------------------------------
        m.submodules.cmd_queue = cmd_queue = StreamFIFO(cmd_layout(core_cfg), 2)
        m.submodules.q_queue = q_queue = StreamFIFO(row_request_layout(axi), 2)
        m.submodules.k_jobs = k_jobs = StreamFIFO(unsigned(head_w), 2)
        m.submodules.front_heads = front_heads = StreamFIFO(unsigned(head_w), cfg.head_queue)
        answer_layout = data.StructLayout({"head": head_w, "place": range(HQ)})
        m.submodules.answers = answers = StreamFIFO(answer_layout, cfg.head_queue)
        wiring.connect(m, cmd_queue.o_stream, core.cmd)

        # The Q port reads a layer's descriptor, then its Q rows.
        desc_cmd = Signal()
        m.d.comb += [
            readers["q"].cmd.valid.eq(Mux(desc_cmd, 1, fetch["q"].reader_cmd.valid)),
            readers["q"].cmd.payload.addr.eq(Mux(desc_cmd, table + layer * (DESCRIPTOR_BITS // 8),
                                                 fetch["q"].reader_cmd.payload.addr)),
            readers["q"].cmd.payload.words.eq(Mux(desc_cmd, cfg.descriptor_words,
                                                  fetch["q"].reader_cmd.payload.words)),
            fetch["q"].reader_cmd.ready.eq(~desc_cmd & readers["q"].cmd.ready),
            fetch["q"].reader_data.payload.eq(readers["q"].data.payload),
        ]
        wiring.connect(m, q_queue.o_stream, fetch["q"].req)

        # K jobs -> request beats of E places -> K MSB row requests.
        index_w = core_cfg.topk.index_width
        k_req = stream.Signature(requester_layout(E, index_w, head_w)).create()
        k_active = Signal()
        k_head = Signal(head_w)
        k_first = Signal(range(NT + E))
        m.d.comb += [k_req.valid.eq(k_active), k_req.payload.head.eq(k_head),
                     k_req.payload.count.eq(Mux(n - k_first >= E, E, n - k_first)),
                     k_jobs.o_stream.ready.eq(~k_active)]
        for i in range(E):
            m.d.comb += k_req.payload.index[i].eq(k_first + i)
        with m.If(k_req.valid & k_req.ready):
            m.d.sync += k_first.eq(k_first + E)
            with m.If(k_first + E >= n):
                m.d.sync += k_active.eq(0)
        with m.If(k_jobs.o_stream.valid & k_jobs.o_stream.ready):
            m.d.sync += [k_active.eq(1), k_head.eq(k_jobs.o_stream.payload), k_first.eq(0)]

        # The core's requests, with their command's head.
        front_head = Signal(head_w)
        m.d.comb += front_heads.o_stream.ready.eq(core.q.valid & core.q.ready)
        with m.If(front_heads.o_stream.ready):
            m.d.sync += front_head.eq(front_heads.o_stream.payload)
        lsb_req = stream.Signature(requester_layout(E, index_w, head_w)).create()
        v_req = stream.Signature(requester_layout(E, index_w, head_w)).create()
        m.d.comb += [
            lsb_req.valid.eq(core.lsb_req.valid),
            lsb_req.payload.index.eq(core.lsb_req.payload.index),
            lsb_req.payload.count.eq(core.lsb_req.payload.count),
            lsb_req.payload.head.eq(front_head),
            core.lsb_req.ready.eq(lsb_req.ready),
            v_req.valid.eq(core.v_req.valid & answers.o_stream.valid),
            v_req.payload.index.eq(core.v_req.payload.index),
            v_req.payload.count.eq(core.v_req.payload.count),
            v_req.payload.head.eq(answers.o_stream.payload.head),
            core.v_req.ready.eq(v_req.ready & answers.o_stream.valid),
        ]
        for plane, req, port in (("k_msb", k_req, list_k), ("k_lsb", lsb_req, list_lsb),
                                 ("v", v_req, list_v)):
            RowRequester(m, req, fetch[plane].req, port, bank=bank, identity=identity,
                         base=addr(f"{plane}_addr"), stride=cfg.row_words(plane) * word_bytes,
                         max_tokens=NT, name=f"req_{plane}")

        # ---- answers: output records, head importance, token importance ------------------------
        out_words = cfg.output_words
        record = Signal(out_words * W)
        record_head = Signal(head_w)
        record_word = Signal(range(out_words))
        rec_cmd, rec_data = Signal(), Signal()  # the record's write command / words pending
        outs = Signal(range(HQ + 1))
        commands_done, requants_done = Signal(), Signal()
        out_beat = core.out.payload
        m.d.comb += [
            core.out.ready.eq(~rec_cmd & ~rec_data & answers.o_stream.valid),
            answers.o_stream.ready.eq(core.out.valid & core.out.ready),
            commands_done.eq(answers.o_stream.ready),
            requants_done.eq(answers.o_stream.ready & out_beat.requant),
        ]
        meta = Cat(out_beat.requant, Const(0, 31), out_beat.head_importance)
        with m.If(answers.o_stream.ready):
            m.d.sync += [
                record.eq(Cat(out_beat.out.as_value(),
                              Const(0, (out_words - 1) * W - cfg.output_bits), meta)),
                record_head.eq(answers.o_stream.payload.head),
                head_imp[answers.o_stream.payload.place].eq(out_beat.head_importance),
                rec_cmd.eq(1), outs.eq(outs + 1),
            ]
        keys_cmd = Signal(range(HQ + 1))
        key_beat = Signal(range(core_cfg.rows))
        keys = core.keys
        m.d.comb += [
            keys.ready.eq(1),
            imp_w.addr.eq(key_beat),
            imp_w.data.eq(keys.payload.importance.as_value()),
            imp_w.en.eq(keys.valid & (keys_cmd == alive - 1)),
        ]
        with m.If(keys.valid):
            m.d.sync += key_beat.eq(Mux(keys.payload.last, 0, key_beat + 1))
            with m.If(keys.payload.last):
                m.d.sync += keys_cmd.eq(keys_cmd + 1)

        # ---- the writer: output records, then the kept lists -------------------------------------
        writes = Signal(range(2 * HQ + 3))  # write transfers awaiting their answer
        listing = Signal()  # the writer serves the kept lists
        list_cmd = Signal(2)  # list transfers still to command: 2 (tokens, heads), 1, 0
        pack_word = Signal(W)
        pack_slot = Signal(range(W // LIST_ENTRY_BITS))
        pack_full = Signal()
        entry_valid, entry_last = Signal(), Signal()
        entry = Signal(LIST_ENTRY_BITS)
        def list_words(entries):  # cfg.list_words in hardware (W is a power of two)
            return (entries * LIST_ENTRY_BITS + W - 1) >> (W.bit_length() - 1)

        token_words = Signal(range(cfg.list_words(NT) + 1))
        m.d.comb += token_words.eq(list_words(field("token_keep")))
        cmd_fire = writer.cmd.valid & writer.cmd.ready
        m.d.comb += [
            writer.cmd.valid.eq(Mux(listing, list_cmd != 0, rec_cmd)),
            writer.data.valid.eq(Mux(listing, pack_full, rec_data)),
            writer.done.ready.eq(1),
        ]
        with m.If(listing):
            m.d.comb += [
                writer.cmd.payload.addr.eq(Mux(list_cmd == 2, addr("kept_addr"),
                                               addr("kept_addr") + token_words * word_bytes)),
                writer.cmd.payload.words.eq(Mux(list_cmd == 2, token_words,
                                                list_words(field("head_keep")))),
                writer.data.payload.eq(pack_word),
            ]
            with m.If(cmd_fire):
                m.d.sync += list_cmd.eq(list_cmd - 1)
        with m.Else():
            m.d.comb += [
                writer.cmd.payload.addr.eq(addr("out_addr")
                                           + record_head * (out_words * word_bytes)),
                writer.cmd.payload.words.eq(out_words),
                writer.data.payload.eq(Array(record.word_select(i, W)
                                             for i in range(out_words))[record_word]),
            ]
            with m.If(cmd_fire):
                m.d.sync += [rec_cmd.eq(0), rec_data.eq(1), record_word.eq(0)]
            with m.If(writer.data.valid & writer.data.ready):
                m.d.sync += record_word.eq(record_word + 1)
                with m.If(record_word == out_words - 1):
                    m.d.sync += rec_data.eq(0)
        m.d.sync += writes.eq(writes + cmd_fire - writer.done.valid)
        with m.If(writer.done.valid & writer.done.payload.error):
            m.d.sync += dram_fault.eq(1)
        # The packer of list entries into words.
        with m.If(pack_full & writer.data.ready):
            m.d.sync += pack_full.eq(0)
        with m.If(entry_valid & ~pack_full):
            slots = W // LIST_ENTRY_BITS
            with m.Switch(pack_slot):
                with m.Case(0):
                    m.d.sync += pack_word.eq(entry)
                for i in range(1, slots):
                    with m.Case(i):
                        m.d.sync += pack_word.word_select(i, LIST_ENTRY_BITS).eq(entry)
            with m.If(entry_last | (pack_slot == slots - 1)):
                m.d.sync += [pack_full.eq(1), pack_slot.eq(0)]
            with m.Else():
                m.d.sync += pack_slot.eq(pack_slot + 1)

        # ---- pruning: the feeds of the top-k engine and its answers ------------------------------
        imp_feed = RowFeeder(m, imp_r, core_cfg.rows, 1, "imp_feed")
        side = bank != 0  # the alive list's bank: its cumulative importance's too
        m.d.comb += [cum_r.addr.eq(Mux(side, rows, 0) + imp_r.addr), cum_r.en.eq(imp_r.en)]
        list_feed = RowFeeder(m, list_out, 2 * NT, 1, "list_feed")
        imp_run = Signal(run_layout(core_cfg.rows))
        list_run = Signal(run_layout(2 * NT))
        m.d.comb += [imp_feed.done.r_en.eq(1), list_feed.done.r_en.eq(1)]
        head_beat = Signal(range(-(-HQ // E) + 1))
        feeding_heads = Signal()
        with m.If(feeding_heads):
            m.d.comb += pruner.din.valid.eq(1)
            for i in range(E):
                place = head_beat * E + i
                m.d.comb += pruner.din.payload[i].eq(Mux(place < HQ, head_imp[place], 0))
        with m.Else():
            m.d.comb += [pruner.din.valid.eq(imp_feed.valid), imp_feed.ready.eq(pruner.din.ready)]
            for i in range(E):
                total = (imp_feed.data.word_select(i, imp_bits)
                         + Mux(identity, 0, cum_r.data.word_select(i, imp_bits)))
                m.d.comb += pruner.din.payload[i].eq(
                    Mux(total[imp_bits], (1 << imp_bits) - 1, total[:imp_bits]))
        with m.If(feeding_heads & pruner.din.ready):
            m.d.sync += head_beat.eq(head_beat + 1)
            with m.If((head_beat + 1) * E >= alive):
                m.d.sync += feeding_heads.eq(0)
        # Answers, one kept place per cycle: a token's list entry is read, then written.
        kept_lane = Signal(range(E))
        kept_out = Signal(range(NT))
        pruning_heads = Signal()
        answer = pruner.dout.payload
        kept_place = Array(answer.index[i] for i in range(E))[kept_lane]
        copy_valid, copy_place = Signal(), Signal(range(NT))
        copy_to = Signal(range(NT))
        lane_last = kept_lane + 1 >= answer.count
        take_lane = pruner.dout.valid & (answer.count != 0)
        m.d.comb += [
            pruner.dout.ready.eq(pruner.dout.valid & (lane_last | (answer.count == 0))),
            list_old.addr.eq(bank + kept_place),
            list_old.en.eq(1),
            lists_w.addr.eq(NT - bank + copy_to),
            lists_w.data.eq(Mux(identity, copy_place, list_old.data)),
            lists_w.en.eq(copy_valid),
            cum_w.addr.eq(Mux(side, 0, rows) + (kept_out >> (E.bit_length() - 1))),
            cum_w.data.eq(Cat(Array(answer.value[i] for i in range(E))[kept_lane][:imp_bits]
                              for _ in range(E))),
        ]
        for i in range(E):
            m.d.comb += cum_w.en[i].eq(take_lane & ~pruning_heads
                                       & (kept_out[:E.bit_length() - 1] == i))
        m.d.sync += copy_valid.eq(0)
        with m.If(take_lane):
            m.d.sync += [kept_lane.eq(Mux(lane_last, 0, kept_lane + 1)), kept_out.eq(kept_out + 1)]
            with m.If(pruning_heads):
                m.d.sync += heads_next[kept_out].eq(heads_cur[kept_place])
            with m.Else():
                m.d.sync += [copy_valid.eq(1), copy_place.eq(kept_place),
                             copy_to.eq(kept_out)]

        # ---- counters --------------------------------------------------------------------------
        reads_now = sum((readers[p].data.valid & readers[p].data.ready) for p in PLANES)
        increments = {
            "cycles": running,
            "commands": commands_done,
            "requants": requants_done,
            "prune": Signal(name="pruning"),
            "bytes_read": reads_now * word_bytes,
            "bytes_written": (writer.data.valid & writer.data.ready) * word_bytes,
        }
        assert set(increments) == set(COUNTERS)
        for name, increment in increments.items():
            count = Signal(64, name=f"count_{name}")
            with m.If(start):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(count + increment)
            m.d.comb += [reg(f"{name}_lo").eq(count[:32]), reg(f"{name}_hi").eq(count[32:])]
        pruning = increments["prune"]

        # ---- the controller --------------------------------------------------------------------
        place = Signal(range(HQ + 1))
        q_data = readers["q"].data
        desc_words = Signal(range(cfg.descriptor_words + 1))
        with m.If(Cat(fetch[plane].error for plane in PLANES).any()):
            m.d.sync += dram_fault.eq(1)

        def fault(code: Fault) -> list:
            return [fault_code.eq(code), fault_layer.eq(layer), failed.eq(1)]

        # A descriptor is good when its fields reach the layer's commands whole and the core's
        # own command decoder accepts them, its addresses fit and its keep counts can be kept.
        cmd = cmd_queue.i_stream.payload
        m.submodules.checker = checker = CommandDecoder(core_cfg)
        m.d.comb += checker.i_stream.payload.eq(cmd)
        command_fields = ("v_keep", "msb_bits", "threshold", "score_shift")
        whole = Cat(*(field(name) == getattr(cmd, name) for name in command_fields)).all()
        addresses_ok = Cat(*(field(f"{name}_addr")[axi.addr_width:] == 0
                             for name in (*PLANES, "out", "kept"))).all()
        descriptor_ok = (whole & (checker.o_stream.payload.reject == RejectReason.NONE)
                         & addresses_ok
                         & (field("token_keep") >= 1) & (field("token_keep") <= n)
                         & (field("head_keep") >= 1) & (field("head_keep") <= alive))
        table_full = Cat(reg("table_lo"), reg("table_hi"))
        start_ok = ((reg("tokens") >= 1) & (reg("tokens") <= NT) & (reg("heads") >= 1)
                    & (reg("heads") <= HQ) & (reg("layers") >= 1)
                    & (table_full[axi.addr_width:] == 0))
        issue_room = (cmd_queue.i_stream.ready & q_queue.i_stream.ready & k_jobs.i_stream.ready
                      & front_heads.i_stream.ready & answers.i_stream.ready)
        issue = Signal()
        head = heads_cur[place]
        m.d.comb += [
            cmd_queue.i_stream.valid.eq(issue), q_queue.i_stream.valid.eq(issue),
            k_jobs.i_stream.valid.eq(issue), front_heads.i_stream.valid.eq(issue),
            answers.i_stream.valid.eq(issue),
            cmd.n.eq(n), cmd.v_keep.eq(field("v_keep")), cmd.msb_bits.eq(field("msb_bits")),
            cmd.threshold.eq(field("threshold")), cmd.score_shift.eq(field("score_shift")),
            cmd.head.eq(head), cmd.clear_tokens.eq(place == 0), cmd.clear_head.eq(1),
            q_queue.i_stream.payload.addr.eq(addr("q_addr")
                                             + head * (cfg.row_words("q") * word_bytes)),
            q_queue.i_stream.payload.close.eq(1),
            k_jobs.i_stream.payload.eq(head), front_heads.i_stream.payload.eq(head),
            answers.i_stream.payload.head.eq(head), answers.i_stream.payload.place.eq(place),
            q_data.ready.eq(Mux(desc_cmd | (desc_words != 0), 1,
                                fetch["q"].reader_data.ready)),
            fetch["q"].reader_data.valid.eq(q_data.valid & ~desc_cmd & (desc_words == 0)),
        ]
        with m.FSM(name="control"):
            with m.State("IDLE"), m.If(start):
                m.d.sync += [running.eq(1), done.eq(0), failed.eq(0), layer.eq(0),
                             fault_code.eq(Fault.NONE), fault_layer.eq(0), dram_fault.eq(0),
                             n.eq(reg("tokens")), alive.eq(reg("heads")), bank.eq(0),
                             identity.eq(1), table.eq(table_full)]
                m.d.sync += [heads_cur[i].eq(i) for i in range(HQ)]
                with m.If(start_ok):
                    m.next = "DESC"
                with m.Else():
                    m.d.sync += [*fault(Fault.START), fault_layer.eq(0)]
                    m.next = "FINISH"
            with m.State("DESC"):
                m.d.comb += desc_cmd.eq(1)
                with m.If(readers["q"].cmd.ready):
                    m.d.sync += desc_words.eq(cfg.descriptor_words)
                    m.next = "DESC_WAIT"
            with m.State("DESC_WAIT"), m.If(q_data.valid):
                m.d.sync += [desc.eq(Cat(desc[W:], q_data.payload.data)),
                             desc_words.eq(desc_words - 1)]
                with m.If(q_data.payload.error):
                    m.d.sync += dram_fault.eq(1)
                with m.If(desc_words == 1):
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [place.eq(0), outs.eq(0), keys_cmd.eq(0)]
                with m.If(dram_fault):
                    m.d.sync += fault(Fault.DRAM)
                    m.next = "FINISH"
                with m.Elif(~descriptor_ok):
                    m.d.sync += fault(Fault.DESCRIPTOR)
                    m.next = "FINISH"
                with m.Else():
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += issue.eq(issue_room)
                with m.If(issue_room):
                    m.d.sync += place.eq(place + 1)
                    with m.If(place + 1 == alive):
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                drained = ((outs == alive) & (keys_cmd == alive) & ~rec_cmd & ~rec_data
                           & (writes == 0))
                with m.If(drained):
                    with m.If(dram_fault):
                        m.d.sync += fault(Fault.DRAM)
                        m.next = "FINISH"
                    with m.Else():
                        m.next = "TOKENS"
            with m.State("TOKENS"):
                m.d.comb += [pruning.eq(1), pruner.cmd.valid.eq(1), pruner.cmd.payload.n.eq(n),
                             pruner.cmd.payload.k.eq(field("token_keep")),
                             imp_run.base.eq(0), imp_run.flag.eq(0),
                             imp_run.count.eq((n + E - 1) >> (E.bit_length() - 1)),
                             imp_feed.runs.w_data.eq(imp_run),
                             imp_feed.runs.w_en.eq(pruner.cmd.ready)]
                with m.If(pruner.cmd.ready):
                    m.d.sync += [kept_out.eq(0), kept_lane.eq(0)]
                    m.next = "TOKEN_ANSWER"
            with m.State("TOKEN_ANSWER"):
                m.d.comb += pruning.eq(1)
                with m.If(pruner.dout.valid & pruner.dout.ready & answer.last):
                    m.next = "HEADS"
            with m.State("HEADS"):
                m.d.comb += [pruning.eq(1), pruner.cmd.valid.eq(~copy_valid & imp_feed.idle),
                             pruner.cmd.payload.n.eq(alive),
                             pruner.cmd.payload.k.eq(field("head_keep"))]
                with m.If(pruner.cmd.valid & pruner.cmd.ready):
                    m.d.sync += [kept_out.eq(0), kept_lane.eq(0), head_beat.eq(0),
                                 feeding_heads.eq(1), pruning_heads.eq(1)]
                    m.next = "HEAD_ANSWER"
            with m.State("HEAD_ANSWER"):
                m.d.comb += pruning.eq(1)
                with m.If(pruner.dout.valid & pruner.dout.ready & answer.last):
                    m.d.sync += [pruning_heads.eq(0), listing.eq(1), list_cmd.eq(2)]
                    m.next = "LIST_TOKENS"
            with m.State("LIST_TOKENS"):
                m.d.comb += [pruning.eq(1),
                             list_run.base.eq(NT - bank),
                             list_run.count.eq(field("token_keep")), list_run.flag.eq(0),
                             list_feed.runs.w_data.eq(list_run),
                             list_feed.runs.w_en.eq(1)]
                m.next = "LIST_TOKEN_WORDS"
            with m.State("LIST_TOKEN_WORDS"):
                m.d.comb += [pruning.eq(1), entry_valid.eq(list_feed.valid),
                             entry.eq(list_feed.data), entry_last.eq(list_feed.last),
                             list_feed.ready.eq(~pack_full)]
                with m.If(list_feed.valid & list_feed.ready & list_feed.last):
                    m.d.sync += kept_out.eq(0)
                    m.next = "LIST_HEAD_WORDS"
            with m.State("LIST_HEAD_WORDS"):
                last_head = kept_out + 1 == field("head_keep")
                m.d.comb += [pruning.eq(1), entry_valid.eq(1), entry.eq(heads_next[kept_out]),
                             entry_last.eq(last_head)]
                with m.If(~pack_full):
                    m.d.sync += kept_out.eq(kept_out + 1)
                    with m.If(last_head):
                        m.next = "LIST_WAIT"
            with m.State("LIST_WAIT"):
                m.d.comb += pruning.eq(1)
                with m.If(~pack_full & list_feed.idle & (list_cmd == 0) & (writes == 0)):
                    m.d.sync += [listing.eq(0), layer.eq(layer + 1), n.eq(field("token_keep")),
                                 alive.eq(field("head_keep")), bank.eq(NT - bank),
                                 identity.eq(0)]
                    m.d.sync += [heads_cur[i].eq(heads_next[i]) for i in range(HQ)]
                    with m.If(dram_fault):
                        m.d.sync += fault(Fault.DRAM)
                        m.next = "FINISH"
                    with m.Elif(layer + 1 == reg("layers")):
                        m.next = "FINISH"
                    with m.Else():
                        m.next = "DESC"
            with m.State("FINISH"):
                m.d.sync += [running.eq(0), done.eq(1)]
                m.d.comb += finish.eq(1)
                m.next = "IDLE"
        return m
