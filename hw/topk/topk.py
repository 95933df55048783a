"""SpAtten's quick-select top-k engine: stream layouts and the :class:`TopKEngine` component."""

from math import ceil

from amaranth import Array, Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sparsa.config.lfsr import LFSR_TAPS, LFSR_WIDTH
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.hw.topk.compaction import Packer, PrefixSum, ZeroEliminator
from sparsa.hw.topk.partition import PartitionStep

__all__ = ["TopKEngine", "cmd_layout", "din_layout", "dout_layout", "value_shape"]


def value_shape(config: TopKConfig) -> Shape:
    """Amaranth shape of one value."""
    return signed(config.width) if config.signed else unsigned(config.width)


def cmd_layout(config: TopKConfig) -> data.StructLayout:
    """Payload of the ``cmd`` stream: one beat per request."""
    return data.StructLayout({"n": config.count_width, "k": config.count_width})


def din_layout(config: TopKConfig) -> data.ArrayLayout:
    """Payload of the ``din`` stream: P values per beat, lane i is value ``beat * P + i``."""
    return data.ArrayLayout(value_shape(config), config.lanes)


def dout_layout(config: TopKConfig) -> data.StructLayout:
    """Payload of the ``dout`` stream: up to P kept (index, value) pairs per beat."""
    return data.StructLayout({
        "index": data.ArrayLayout(config.index_width, config.lanes),
        "value": data.ArrayLayout(value_shape(config), config.lanes),
        "count": range(config.lanes + 1),
        "last": 1,
        "error": 1,
    })


class TopKEngine(wiring.Component):
    """SpAtten's quick-select top-k engine with stream input and output.

    A request is one ``cmd`` beat carrying n and k, followed by ceil(n / P) ``din`` beats of P
    values (lanes past n in the last beat are ignored). The engine answers on ``dout`` with the k
    largest values and their indices in original index order, P per beat, ties at the k-th value
    going to the earliest index (exactly :func:`sparsa.models.golden.topk.topk`).

    Micro-architecture (one request at a time):

    1. *Load*: the values are written, one beat per cycle, into an input buffer of max(P, C)-value
       rows, which the final pass reads again.
    2. *Quick-select rounds* (SpAtten Algorithm 3): a pivot is read from the m candidates (at
       position m // 2, or ``(lfsr * m) >> 16``), then the candidates stream at C per cycle
       through the two comparator arrays of a :class:`sparsa.hw.topk.partition.PartitionStep`; the
       greater and the less ones are compacted by zero eliminators, packed into C-wide rows and
       written into the two partition FIFOs (in place: a round reads one FIFO and rewrites both),
       while the equal ones are counted. The control then recurses into the greater FIFO, the less
       FIFO (target -= #greater + #equal), or stops with the k-th value and the number of its equal
       copies to keep. A round takes ceil(m / C) + 4 cycles.
    3. *Final pass*: the input buffer is read at P values per cycle; an element is kept if it is
       greater than the k-th value, or equal to it and among the first ``keep_equal`` equal ones
       (a prefix sum over the equal flags plus a running count); kept (index, value) pairs are
       compacted by a zero eliminator and packed into P-wide output beats. The pass stops at the
       beat holding the k-th kept element.

    A request with n = 0, n > capacity or k > n violates the contract: its din beats are consumed
    and dropped and the response is a single beat with ``error`` set. A request with k = 0 gets a
    single empty beat. Every response's final beat has ``last`` set.

    Streams follow the :mod:`amaranth.lib.stream` rules: a transfer happens on a cycle where both
    valid and ready are high; ``dout.valid`` never waits for ``dout.ready`` and, once high, stays
    high with a stable payload until the transfer. :mod:`sparsa.sim.blocks.topk` predicts the cycles
    exactly.

    Parameters
    ----------
    config : TopKConfig

    Members
    -------
    cmd : In(stream.Signature(cmd_layout(config)))
    din : In(stream.Signature(din_layout(config)))
    dout : Out(stream.Signature(dout_layout(config)))
    """

    def __init__(self, config: TopKConfig) -> None:
        if not isinstance(config, TopKConfig):
            raise TypeError(f"config must be a TopKConfig, not {type(config).__name__}")
        self._config = config
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(config))),
            "din": In(stream.Signature(din_layout(config))),
            "dout": Out(stream.Signature(dout_layout(config))),
        })

    @property
    def config(self) -> TopKConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        P, C, R, W = cfg.lanes, cfg.comparators, cfg.row_lanes, cfg.width
        vshape = value_shape(cfg)
        count = unsigned(cfg.count_width)
        log2 = {x: x.bit_length() - 1 for x in (P, C, R)}

        # ---- storage -------------------------------------------------------------------------
        in_mem = Memory(shape=unsigned(R * W), depth=ceil(cfg.capacity / R), init=[])
        part_depth = ceil(cfg.capacity / C)
        gt_mem = Memory(shape=unsigned(C * W), depth=part_depth, init=[])
        lt_mem = Memory(shape=unsigned(C * W), depth=part_depth, init=[])
        m.submodules.in_buffer = in_mem
        m.submodules.gt_fifo = gt_mem
        m.submodules.lt_fifo = lt_mem
        in_wr = in_mem.write_port(granularity=W)
        in_rd = in_mem.read_port()
        gt_wr, gt_rd = gt_mem.write_port(), gt_mem.read_port()
        lt_wr, lt_rd = lt_mem.write_port(), lt_mem.read_port()

        def lanes_of(row: Value, k: int) -> list[Value]:
            return [row[i * W : (i + 1) * W] for i in range(k)]

        # ---- request registers ---------------------------------------------------------------
        n = Signal(count)
        k = Signal(count)
        beats = Signal(count)  # din beats announced by the request
        beat = Signal(count)  # din beats consumed so far
        n_beats = (self.cmd.payload.n + P - 1) >> log2[P]

        # ---- quick-select state --------------------------------------------------------------
        SRC_IN, SRC_GT, SRC_LT = 0, 1, 2
        src = Signal(2)
        cand = Signal(count)  # m: candidates of this round
        target = Signal(count)
        remaining = Signal(count)  # candidates not yet read this round
        row = Signal(count)  # next row to read this round
        pivot = Signal(vshape)
        pivot_lane = Signal(range(R))
        pivot_latch = Signal()
        n_eq = Signal(count)
        gt_written = Signal(count)  # candidates written into each partition FIFO this round
        lt_written = Signal(count)
        lfsr = Signal(LFSR_WIDTH, init=cfg.seed)
        kth = Signal(vshape)
        keep_equal = Signal(count)

        # s1: a row read was issued last cycle; s2: its partition is registered.
        s1_valid = Signal()
        s1_count = Signal(range(C + 1))
        s1_sub = Signal(range(max(R // C, 1)))
        m.submodules.partition = part = PartitionStep(comparators=C, value_shape=vshape)
        s2_valid = Signal()
        s2_gt = Signal(data.ArrayLayout(vshape, C))
        s2_lt = Signal(data.ArrayLayout(vshape, C))
        s2_gt_count = Signal(range(C + 1))
        s2_lt_count = Signal(range(C + 1))
        m.submodules.gt_packer = gt_pack = Packer(C, W)
        m.submodules.lt_packer = lt_pack = Packer(C, W)

        # ---- final pass state ----------------------------------------------------------------
        iw = cfg.index_width
        item_w = iw + W
        adv = Signal()  # the final pass advances (output register free or draining)
        f_beat = Signal(count)  # next input beat to read
        f1_valid = Signal()
        f1_beat = Signal(count)
        eq_seen = Signal(count)
        m.submodules.eq_prefix = eq_prefix = PrefixSum(P)
        m.submodules.out_eliminator = out_ze = ZeroEliminator(P, item_w)
        f2_valid = Signal()
        f2_count = Signal(range(P + 1))
        f2_items = Signal(data.ArrayLayout(item_w, P))
        received = Signal(count)  # kept items handed to the output packer
        m.submodules.out_packer = out_pack = Packer(P, item_w)

        m.d.comb += adv.eq(~self.dout.valid | self.dout.ready)

        # ---- source rows of a round ----------------------------------------------------------
        in_row = lanes_of(in_rd.data, R)
        src_rows = {
            SRC_IN: in_row,
            SRC_GT: lanes_of(gt_rd.data, C),
            SRC_LT: lanes_of(lt_rd.data, C),
        }
        # C candidates of the current read: a C-wide slice of the input row, or a FIFO row.
        in_slice = Array(Cat(*in_row[j * C : (j + 1) * C]) for j in range(R // C))[s1_sub]
        cand_row = Signal(C * W)
        with m.Switch(src):
            with m.Case(SRC_IN):
                m.d.comb += cand_row.eq(in_slice)
            with m.Case(SRC_GT):
                m.d.comb += cand_row.eq(gt_rd.data)
            with m.Default():
                m.d.comb += cand_row.eq(lt_rd.data)
        m.d.comb += [
            part.pivot.eq(pivot),
            part.values.eq(cand_row),
            part.valid_count.eq(Mux(s1_valid, s1_count, 0)),
        ]
        with m.If(pivot_latch), m.Switch(src):
            for s, lanes in src_rows.items():
                with m.Case(s):
                    lane_bits = len(lanes).bit_length() - 1
                    m.d.sync += pivot.eq(Array(lanes)[pivot_lane[:lane_bits]])

        # s1 -> s2 and the counters run every cycle of a round.
        m.d.sync += [
            s2_valid.eq(s1_valid),
            s2_gt.eq(part.greater),
            s2_lt.eq(part.less),
            s2_gt_count.eq(part.greater_count),
            s2_lt_count.eq(part.less_count),
        ]
        with m.If(s1_valid):
            m.d.sync += n_eq.eq(n_eq + part.equal_count)
        # Sizes of the partitions once this cycle's row is written (final in the decide cycle).
        n_gt = Signal(count)
        n_lt = Signal(count)
        for packer, s2_items, s2_count, wr, written, size in (
            (gt_pack, s2_gt, s2_gt_count, gt_wr, gt_written, n_gt),
            (lt_pack, s2_lt, s2_lt_count, lt_wr, lt_written, n_lt),
        ):
            m.d.comb += [
                packer.en.eq(1),
                packer.in_count.eq(Mux(s2_valid, s2_count, 0)),
                packer.in_items.eq(s2_items),
                wr.addr.eq(written >> log2[C]),  # every row but the flushed last one is full
                wr.data.eq(packer.out_items),
                wr.en.eq(packer.out_valid),
                size.eq(written + Mux(packer.out_valid, packer.out_count, 0)),
            ]
            m.d.sync += written.eq(size)

        # ---- pivot position and the next read address ----------------------------------------
        lfsr_pivot = cfg.pivot is PivotMode.LFSR
        pivot_pos = (lfsr * cand) >> LFSR_WIDTH if lfsr_pivot else cand >> 1
        lfsr_next = Mux(lfsr[0], (lfsr >> 1) ^ LFSR_TAPS, lfsr >> 1)

        # ---- final pass datapath ---------------------------------------------------------------
        if R > P:
            slices = Array(Cat(*in_row[j * P : (j + 1) * P]) for j in range(R // P))
            f_row = slices[f1_beat[: log2[R] - log2[P]]]
        else:
            f_row = Cat(*in_row)
        f_lanes = lanes_of(f_row, P)
        f_base = f1_beat << log2[P]
        for lane in range(P):
            value = f_lanes[lane].as_signed() if cfg.signed else f_lanes[lane]
            valid = f1_valid & (f_base + lane < n)
            is_eq = valid & (value == kth)
            m.d.comb += eq_prefix.flags[lane].eq(is_eq)
            # Equal to the k-th value: kept while fewer than keep_equal equal ones came before.
            keep_eq = is_eq & (eq_seen + eq_prefix.exclusive[lane] < keep_equal)
            keep = (valid & (value > kth)) | keep_eq
            m.d.comb += [
                out_ze.keep[lane].eq(keep),
                out_ze.items[lane].eq(Cat((f_base + lane)[:iw], f_lanes[lane])),
            ]
        in_flush = received + Mux(f2_valid, f2_count, 0) == k
        m.d.comb += [
            out_pack.en.eq(adv),
            out_pack.in_count.eq(Mux(f2_valid, f2_count, 0)),
            out_pack.in_items.eq(f2_items),
        ]
        if P > 1:  # a one-lane packer never holds items, so it has nothing to flush
            m.d.comb += out_pack.flush.eq(in_flush)
        out_last = in_flush & (out_pack.held == 0)

        # ---- read port defaults ---------------------------------------------------------------
        m.d.comb += [in_rd.en.eq(1), gt_rd.en.eq(1), lt_rd.en.eq(1)]

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    req_n, req_k = self.cmd.payload.n, self.cmd.payload.k
                    m.d.sync += [n.eq(req_n), k.eq(req_k), beats.eq(n_beats), beat.eq(0)]
                    bad = (req_n == 0) | (req_n > cfg.capacity) | (req_k > req_n)
                    with m.If(req_n == 0):
                        m.next = "ERROR"
                    with m.Elif(bad):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "LOAD"

            with m.State("LOAD"):
                m.d.comb += [
                    self.din.ready.eq(1),
                    in_wr.addr.eq(beat >> (log2[R] - log2[P])),
                    in_wr.data.eq(Cat(*([self.din.payload.as_value()] * (R // P)))),
                ]
                group = beat[: log2[R] - log2[P]] if R > P else 0
                with m.If(self.din.valid):
                    m.d.comb += in_wr.en.eq(Const((1 << P) - 1, R) << (group * P))
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(beat + 1 == beats):
                        with m.If(k == 0):
                            m.next = "EMPTY"
                        with m.Else():
                            m.d.sync += [src.eq(SRC_IN), cand.eq(n), target.eq(k)]
                            m.next = "PIVOT"

            with m.State("DRAIN"):
                m.d.comb += self.din.ready.eq(1)
                with m.If(self.din.valid):
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(beat + 1 == beats):
                        m.next = "ERROR"

            with m.State("PIVOT"):
                # Read the row holding the pivot; reset the round.
                m.d.comb += [
                    in_rd.addr.eq(pivot_pos >> log2[R]),
                    gt_rd.addr.eq(pivot_pos >> log2[C]),
                    lt_rd.addr.eq(pivot_pos >> log2[C]),
                ]
                m.d.sync += [
                    pivot_lane.eq(Mux(src == SRC_IN, pivot_pos[: log2[R]], pivot_pos[: log2[C]])
                                  if R > 1 else 0),
                    pivot_latch.eq(1),
                    remaining.eq(cand),
                    row.eq(0),
                    n_eq.eq(0),
                    gt_written.eq(0),
                    lt_written.eq(0),
                ]
                if lfsr_pivot:
                    m.d.sync += lfsr.eq(lfsr_next)
                m.next = "RUN"

            with m.State("RUN"):
                m.d.sync += pivot_latch.eq(0)
                m.d.comb += [
                    in_rd.addr.eq(row >> (log2[R] - log2[C])),
                    gt_rd.addr.eq(row),
                    lt_rd.addr.eq(row),
                ]
                issue = remaining != 0
                step = Mux(remaining > C, C, remaining)
                m.d.sync += [
                    s1_valid.eq(issue),
                    s1_count.eq(step),
                    s1_sub.eq(row[: log2[R] - log2[C]] if R > C else 0),
                ]
                with m.If(issue):
                    m.d.sync += [remaining.eq(remaining - step), row.eq(row + 1)]
                with m.Elif(~s1_valid & ~s2_valid):
                    # Pipeline empty: write the partial rows and decide the next round.
                    if C > 1:
                        m.d.comb += [gt_pack.flush.eq(1), lt_pack.flush.eq(1)]
                    with m.If(target <= n_gt):
                        m.d.sync += [src.eq(SRC_GT), cand.eq(n_gt)]
                        m.next = "PIVOT"
                    with m.Elif(target <= n_gt + n_eq):
                        m.d.sync += [
                            kth.eq(pivot),
                            keep_equal.eq(target - n_gt),
                            f_beat.eq(0),
                            f1_valid.eq(0),
                            f2_valid.eq(0),
                            eq_seen.eq(0),
                            received.eq(0),
                        ]
                        m.next = "FINAL"
                    with m.Else():
                        m.d.sync += [
                            src.eq(SRC_LT),
                            cand.eq(n_lt),
                            target.eq(target - n_gt - n_eq),
                        ]
                        m.next = "PIVOT"

            with m.State("FINAL"):
                m.d.comb += in_rd.en.eq(adv)
                m.d.comb += in_rd.addr.eq(f_beat >> (log2[R] - log2[P]))
                with m.If(adv):
                    issue = f_beat != beats
                    m.d.sync += [f1_valid.eq(issue), f1_beat.eq(f_beat)]
                    with m.If(issue):
                        m.d.sync += f_beat.eq(f_beat + 1)
                    m.d.sync += [
                        f2_valid.eq(f1_valid),
                        f2_count.eq(out_ze.count),
                        f2_items.eq(out_ze.out),
                        eq_seen.eq(eq_seen + eq_prefix.total),
                        received.eq(received + Mux(f2_valid, f2_count, 0)),
                    ]
                    with m.If(out_pack.out_valid):
                        items = out_pack.out_items
                        m.d.sync += [
                            self.dout.valid.eq(1),
                            self.dout.payload.count.eq(out_pack.out_count),
                            self.dout.payload.last.eq(out_last),
                            self.dout.payload.error.eq(0),
                        ]
                        for lane in range(P):
                            m.d.sync += [
                                self.dout.payload.index[lane].eq(items[lane][:iw]),
                                self.dout.payload.value[lane].eq(items[lane][iw:]),
                            ]
                        with m.If(out_last):
                            m.next = "RESPOND"
                    with m.Else():
                        m.d.sync += self.dout.valid.eq(0)

            # Single-beat answers: an empty one (k = 0) and the error one.
            for state, error in (("EMPTY", 0), ("ERROR", 1)):
                with m.State(state):
                    m.d.sync += [
                        self.dout.valid.eq(1),
                        self.dout.payload.count.eq(0),
                        self.dout.payload.last.eq(1),
                        self.dout.payload.error.eq(error),
                    ]
                    m.next = "RESPOND"

            # The response's last beat is in the output register; wait for its transfer.
            with m.State("RESPOND"), m.If(self.dout.ready):
                m.d.sync += self.dout.valid.eq(0)
                m.next = "IDLE"
        return m
