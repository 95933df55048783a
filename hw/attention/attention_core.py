"""SpAtten's attention core: one (head, query) at a time, with streams on every edge.

For one query of one head the core computes, bit for bit, what
:func:`sparsa.models.golden.attention.attend_one_query` computes with the golden configuration
``config.golden(b)`` of the command's MSB setting b: Q x K scores of the MSB-only keys, their
softmax and the requant decision; if the distribution is flat, the LSB planes of the keys and
a recompute; then local V pruning by a top-k engine, prob x V over the kept rows only, and the
token and head importance. The core itself issues the read requests of the K LSB planes (only
when it requantizes) and of exactly the V rows that local V pruning keeps, so the DRAM traffic
is decided by the hardware.

Streams (E = ``config.lanes`` rows per beat, D = ``config.dim``, n keys):

* ``cmd`` in, one beat per query (:func:`cmd_layout`): n, v_keep, msb_bits b, threshold,
  score_shift, head and the two clear bits.
* ``q`` in, one beat: the D elements of Q, each a (b + 4)-bit signed value in the low bits of
  its lane (the core sign-extends those bits, so the lane's higher bits are don't-care).
* ``k_msb`` in, ceil(n / E) beats: E rows of the K MSB plane (b-bit signed values in the low
  bits of each lane); row j of the query is lane j mod E of beat j // E, lanes past n are
  don't-care. The core keeps them in its K buffer for a recompute.
* ``lsb_req`` out (:func:`request_layout`): E row indices and a count per beat; rows 0 to
  n - 1 in order, E per beat, when the core requantizes; nothing otherwise.
* ``k_lsb`` in: one beat per ``lsb_req`` beat, in order: E rows of the 4-bit LSB plane.
* ``v_req`` out: the rows kept by local V pruning, increasing, up to E per beat (the count
  says how many lanes are valid); none when v_keep is 0.
* ``v`` in: one beat per ``v_req`` beat, in order: lane r holds the V row of index lane r of
  the request ((b + 4)-bit values in the low bits of each lane; lanes past the count are
  don't-care).
* ``keys`` out (:func:`keys_layout`), ceil(n / E) beats: per key, its final probability (when
  ``config.emit_probs``) and its updated token importance; ``count`` valid lanes, ``last`` on
  the query's final beat.
* ``out`` out (:func:`out_layout`), one beat per command: the attention output vector, the
  requant flag and the updated head importance of the command's head; or ``error`` set.

A command with n outside 1..max_tokens, b not in ``config.msb_settings``, threshold above
2**P, v_keep above n, score_shift above 2(b + 4) + log2(D) or a head without an accumulator is
rejected: it consumes no other beat and is answered by one ``out`` beat with ``error`` set (all
other fields zero); nothing else changes.

Importance. Token importance lives in an on-chip memory of max_tokens saturating accumulators
(``token_importance_bits``), entry j for the query's key j; a command with ``clear_tokens`` set
starts them afresh (the query's accumulators become its probabilities), otherwise its
probabilities are added (:func:`sparsa.models.golden.attention.token_importance_update` on entries 0 to
n - 1). Head importance lives in ``config.heads`` saturating accumulators
(``head_importance_bits``), the command's ``head`` selecting one; ``clear_head`` restarts it
(:func:`sparsa.models.golden.attention.head_importance_update`). Both start at zero after
configuration; reset clears the head accumulators (registers) but not the token memory.

Micro-architecture (one query at a time; :mod:`sparsa.sim.blocks.attention_core` counts its cycles):

Every input beat goes into registers (Q and V lanes through their sign extension) or a memory
before any arithmetic uses it, and every output except ``lsb_req`` and ``out`` leaves through a
FIFO, so no pipeline waits combinationally on an output's ready.

1. *Q*: one ``q`` beat, sign-extended, into registers.
2. *Keys*: each ``k_msb`` beat is written into the K buffer, whose read port (transparent for
   that write) gives it back the next cycle to the bit-width converter
   (:class:`sparsa.hw.attention.bit_converter.BitConverter`, LSBs zero) and the Q x K array
   (:class:`sparsa.hw.attention.dot_product.ScoreArray`, E scores per cycle); scores go into the score buffer
   and a running maximum.
3. *Sum*: the score buffer is read at E per cycle into the exp unit
   (:class:`sparsa.hw.attention.softmax.ExpUnit`); the terms are summed.
4. *Decide*: the requant decision from the sum alone (:func:`sparsa.hw.attention.softmax.requant_needed`). If
   the maximum probability is below the threshold (and not yet recomputed), *refetch*: the
   core requests the LSB planes of all n keys, E rows per request beat, and runs each arriving
   ``k_lsb`` beat (registered) with the K buffer's MSB rows through the converter and the Q x K
   array again; then *sum* again (no second decision).
5. *Normalize*: the score buffer is read again through the exp unit and the divider
   (:class:`sparsa.hw.attention.divider.ProbDivider`); each beat of E probabilities goes, at the same time,
   to the local-V top-k engine (:class:`sparsa.hw.topk.topk.TopKEngine`, k = v_keep, sent its command at
   the query's start) and, with the token importance read-modified-written, to the ``keys``
   FIFO; the pass holds while either is not ready.
6. *Values*: each top-k answer beat with kept rows becomes one entry of the ``v_req`` FIFO
   (its indices) and one of a FIFO of probabilities; each ``v`` beat is registered with the
   probability FIFO's head and multiplied in the prob x V array
   (:class:`sparsa.hw.attention.dot_product.ProbValueArray`). The top-k answer is accepted while both FIFOs
   have room.
7. *Output*: the accumulators are shifted by the run-time out_shift = P + b + 5 - out_bits,
   rounded and saturated (one stage), then the head importance is updated and the ``out``
   beat registered (one stage).

Streams follow the :mod:`amaranth.lib.stream` rules: a transfer happens on a cycle where both
valid and ready are high; an output's valid never waits for its ready and, once high, stays
high with a stable payload until the transfer. Any input may stall and any output may be
back-pressured at any time. The K and V row streams (``k_lsb``, ``v``) are answers of a memory
to the core's requests: their beats must come in request order, each after its request.
"""

from amaranth import Array, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import LSB_BITS
from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.hw.attention.bit_converter import (
    BitConverter,
    full_rows_layout,
    lsb_rows_layout,
    msb_rows_layout,
)
from sparsa.hw.attention.divider import ProbDivider
from sparsa.hw.attention.dot_product import ProbValueArray, ScoreArray, score_shift_width
from sparsa.hw.attention.softmax import ExpUnit, requant_needed
from sparsa.hw.common.fixed_point import round_shift, saturate, sign_extend, tree_sum
from sparsa.hw.topk.topk import TopKEngine

__all__ = [
    "KEYS_FIFO_DEPTH",
    "V_FIFO_DEPTH",
    "AttentionCore",
    "cmd_layout",
    "keys_layout",
    "out_layout",
    "q_layout",
    "request_layout",
]

V_FIFO_DEPTH = 4
"""Entries of the FIFOs of V requests and of the probabilities waiting for their V rows."""
KEYS_FIFO_DEPTH = 2
"""Entries of the FIFO between the probability register and the ``keys`` output."""


def _count_width(config: AttentionCoreConfig) -> int:
    return config.topk.count_width


def cmd_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """One beat per query. Every field can hold out-of-range values (which are rejected)."""
    return data.StructLayout(
        {
            "n": _count_width(config),
            "v_keep": _count_width(config),
            "msb_bits": 4,
            "threshold": config.attention.prob_width,
            "score_shift": score_shift_width(config),
            "head": max(1, (config.heads - 1).bit_length()),
            "clear_tokens": 1,
            "clear_head": 1,
        }
    )


def q_layout(config: AttentionCoreConfig) -> data.ArrayLayout:
    """The query: D lanes of T = ``attention.total_bits`` bits (the setting's low bits used)."""
    return data.ArrayLayout(signed(config.attention.total_bits), config.dim)


def request_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A read request: E row indices, the first ``count`` of them valid."""
    return data.StructLayout(
        {
            "index": data.ArrayLayout(config.topk.index_width, config.lanes),
            "count": range(config.lanes + 1),
        }
    )


def keys_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """E keys' probabilities (when ``emit_probs``) and updated token importance."""
    att = config.attention
    fields: dict[str, object] = {}
    if config.emit_probs:
        fields["prob"] = data.ArrayLayout(att.prob_width, config.lanes)
    fields.update(
        {
            "importance": data.ArrayLayout(att.token_importance_bits, config.lanes),
            "count": range(config.lanes + 1),
            "last": 1,
        }
    )
    return data.StructLayout(fields)


def out_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """The answer to one command."""
    att = config.attention
    return data.StructLayout(
        {
            "out": data.ArrayLayout(signed(att.out_bits), config.dim),
            "requant": 1,
            "head_importance": att.head_importance_bits,
            "error": 1,
        }
    )


class AttentionCore(wiring.Component):
    """SpAtten's attention core (see the module docstring for the streams, the command checks,
    the importance accumulators and the micro-architecture).

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    cmd : In(stream.Signature(cmd_layout(config)))
    q : In(stream.Signature(q_layout(config)))
    k_msb : In(stream.Signature(msb_rows_layout(config)))
    lsb_req : Out(stream.Signature(request_layout(config)))
    k_lsb : In(stream.Signature(lsb_rows_layout(config)))
    v_req : Out(stream.Signature(request_layout(config)))
    v : In(stream.Signature(full_rows_layout(config)))
    keys : Out(stream.Signature(keys_layout(config)))
    out : Out(stream.Signature(out_layout(config)))
    """

    def __init__(self, config: AttentionCoreConfig) -> None:
        check_core_config(config)
        self._config = config
        super().__init__(
            {
                "cmd": In(stream.Signature(cmd_layout(config))),
                "q": In(stream.Signature(q_layout(config))),
                "k_msb": In(stream.Signature(msb_rows_layout(config))),
                "lsb_req": Out(stream.Signature(request_layout(config))),
                "k_lsb": In(stream.Signature(lsb_rows_layout(config))),
                "v_req": Out(stream.Signature(request_layout(config))),
                "v": In(stream.Signature(full_rows_layout(config))),
                "keys": Out(stream.Signature(keys_layout(config))),
                "out": Out(stream.Signature(out_layout(config))),
            }
        )

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self._config
        att = cfg.attention
        E, D, P = cfg.lanes, cfg.dim, att.prob_bits
        log2_e = E.bit_length() - 1
        settings = cfg.msb_settings
        count = range(E + 1)
        count_bits = E.bit_length()
        rows = range(cfg.rows + 1)
        tib, hib = att.token_importance_bits, att.head_importance_bits
        lanes, elements = range(E), range(D)

        # ---- sub-blocks and storage ------------------------------------------------------------
        tag_layout = data.StructLayout({"row": rows, "count": count})
        prob_group = data.StructLayout(
            {"probs": data.ArrayLayout(att.prob_width, E), "count": count}
        )
        m.submodules.converter = conv = BitConverter(cfg)
        m.submodules.qk_array = qk = ScoreArray(cfg)
        m.submodules.exp_unit = exp = ExpUnit(cfg, tag_width=tag_layout.size)
        m.submodules.divider = div = ProbDivider(cfg, tag_width=tag_layout.size)
        m.submodules.topk = topk = TopKEngine(cfg.topk)
        m.submodules.pv_array = pv = ProbValueArray(cfg)
        m.submodules.v_fifo = v_fifo = SyncFIFO(width=prob_group.size, depth=V_FIFO_DEPTH)
        m.submodules.v_req_fifo = req_fifo = SyncFIFO(
            width=request_layout(cfg).size, depth=V_FIFO_DEPTH
        )
        m.submodules.keys_fifo = keys_fifo = SyncFIFO(
            width=keys_layout(cfg).size, depth=KEYS_FIFO_DEPTH
        )
        k_buffer = Memory(shape=msb_rows_layout(cfg), depth=cfg.rows, init=[])
        score_buffer = Memory(
            shape=data.ArrayLayout(signed(att.score_bits), E), depth=cfg.rows, init=[]
        )
        importance = Memory(shape=data.ArrayLayout(tib, E), depth=cfg.rows, init=[])
        m.submodules.k_buffer = k_buffer
        m.submodules.score_buffer = score_buffer
        m.submodules.token_importance = importance
        k_wr = k_buffer.write_port()
        k_rd = k_buffer.read_port(transparent_for=(k_wr,))
        s_wr, s_rd = score_buffer.write_port(), score_buffer.read_port()
        imp_wr, imp_rd = importance.write_port(), importance.read_port()

        # ---- the query's settings ---------------------------------------------------------------
        cmd = self.cmd.payload
        n = Signal(_count_width(cfg))
        beats = Signal(rows)  # ceil(n / E)
        msb_bits = Signal(4)
        total_sign = Signal(att.total_bits)  # 2**(T - 1) and 2**T - 1 with T = b + 4: the Q and
        total_mask = Signal(att.total_bits)  # V lanes' sign extension
        threshold = Signal(att.prob_width)
        shift = Signal(score_shift_width(cfg))
        head = Signal(len(cmd.head))
        clear_tokens = Signal()
        clear_head = Signal()
        out_shift = Signal(range(P + att.total_bits + 2))
        requant = Signal()

        def lanes_of_row(row: Value) -> Value:
            """Valid lanes (keys) of buffer row ``row``: min(E, n - row * E)."""
            left = n - (row << log2_e)
            return Mux(left > E, E, left)[:count_bits]

        def extend(lane: Value) -> Value:
            """A Q or V lane's low b + 4 bits, sign-extended."""
            return sign_extend(lane, total_sign, total_mask)

        # ---- Q x K: key beats (registered) through the converter into the array, scores into
        # the buffer and the running maximum. A k_msb beat is written into the K buffer, whose
        # transparent read port gives it back the next cycle; during a refetch the read port
        # gives the MSB row of the k_lsb beat, which is registered meanwhile.
        fed = Signal(rows)  # key beats taken in this pass
        written = Signal(rows)  # score rows written in this pass
        max_score = Signal(signed(att.score_bits))
        key_valid = Signal()
        key_count = Signal(count)
        key_fire = Signal()
        lsb_row = Signal(lsb_rows_layout(cfg))
        query = [Signal(signed(att.total_bits), name=f"query_{d}") for d in elements]
        m.d.sync += [
            key_valid.eq(key_fire),
            key_count.eq(lanes_of_row(fed)),
            lsb_row.eq(self.k_lsb.payload),
        ]
        with m.If(key_fire):
            m.d.sync += fed.eq(fed + 1)
        m.d.comb += [
            k_wr.addr.eq(fed),
            k_wr.data.eq(self.k_msb.payload),
            k_rd.addr.eq(fed),
            conv.lsb_valid.eq(requant),
            conv.msb_bits.eq(msb_bits),
            qk.valid.eq(key_valid),
            qk.count.eq(key_count),
            qk.shift.eq(shift),
            s_wr.addr.eq(written),
            s_wr.en.eq(qk.out_valid),
        ]
        for r in lanes:
            m.d.comb += s_wr.data[r].eq(qk.scores[r])
            for d in elements:
                m.d.comb += [
                    conv.msb[r][d].eq(k_rd.data[r][d]),
                    conv.lsb[r][d].eq(lsb_row[r][d]),
                    qk.keys[r][d].eq(conv.full[r][d]),
                ]
        m.d.comb += [qk.query[d].eq(query[d]) for d in elements]
        low = -(1 << (att.score_bits - 1))
        beat_max = Mux(qk.out_count > 0, qk.scores[0], low)
        for r in range(1, E):
            beat_max = Mux((r < qk.out_count) & (qk.scores[r] > beat_max), qk.scores[r], beat_max)
        with m.If(qk.out_valid):
            m.d.sync += [
                written.eq(written + 1),
                max_score.eq(Mux(beat_max > max_score, beat_max, max_score)),
            ]

        # ---- score passes (sum, normalize): buffer -> exp unit [-> divider] -------------------
        adv = Signal()  # the pass pipeline advances
        in_pass = Signal()
        read_row = Signal(rows)
        summed = Signal(rows)
        total = Signal(att.exp_sum_width)
        s0_valid = Signal()
        s0_tag = Signal(tag_layout)
        issue = in_pass & (read_row != beats)
        m.d.comb += [
            s_rd.addr.eq(read_row),
            s_rd.en.eq(adv),
            exp.en.eq(adv),
            exp.valid.eq(s0_valid),
            exp.max.eq(max_score),
            exp.tag.eq(s0_tag),
            div.en.eq(adv),
            div.total.eq(total),
            div.tag.eq(exp.out_tag),
        ]
        for r in lanes:
            m.d.comb += [exp.scores[r].eq(s_rd.data[r]), div.terms[r].eq(exp.terms[r])]
        with m.If(adv):
            m.d.sync += [
                s0_valid.eq(issue),
                s0_tag.row.eq(read_row),
                s0_tag.count.eq(lanes_of_row(read_row)),
            ]
            with m.If(issue):
                m.d.sync += read_row.eq(read_row + 1)
        exp_tag = data.View(tag_layout, exp.out_tag)
        term_sum = tree_sum([Mux(r < exp_tag.count, exp.terms[r], 0) for r in lanes])

        # ---- normalize: R (probabilities) forks to the top-k engine and to the keys FIFO, with
        # the token importance read (when R loads) and written back (when the FIFO takes it).
        r_valid = Signal()
        r_probs = [Signal(att.prob_width, name=f"r_prob_{r}") for r in lanes]
        r_tag = Signal(tag_layout)
        din_done = Signal()  # the top-k engine took R's beat
        key_done = Signal()  # the keys FIFO took R's beat
        left_r = Signal(rows)  # beats that left R
        din_fire = topk.din.valid & topk.din.ready
        k_take = r_valid & ~key_done & keys_fifo.w_rdy
        r_leave = r_valid & (din_done | din_fire) & (key_done | k_take)
        key_beat = data.View(keys_layout(cfg), keys_fifo.w_data)
        m.d.comb += [
            topk.din.valid.eq(r_valid & ~din_done),
            imp_rd.addr.eq(data.View(tag_layout, div.out_tag).row),
            imp_rd.en.eq(adv),
            imp_wr.addr.eq(r_tag.row),
            imp_wr.en.eq(k_take),
            keys_fifo.w_en.eq(k_take),
            key_beat.importance.eq(imp_wr.data),
            key_beat.count.eq(r_tag.count),
            key_beat.last.eq(r_tag.row == beats - 1),
            self.keys.valid.eq(keys_fifo.r_rdy),
            self.keys.payload.eq(keys_fifo.r_data),
            keys_fifo.r_en.eq(self.keys.ready),
        ]
        with m.If(adv):
            m.d.sync += [r_valid.eq(div.out_valid), r_tag.eq(div.out_tag)]
            m.d.sync += [r_probs[r].eq(div.probs[r]) for r in lanes]
        with m.If(r_leave):
            m.d.sync += [din_done.eq(0), key_done.eq(0), left_r.eq(left_r + 1)]
        with m.Else():
            m.d.sync += [din_done.eq(din_done | din_fire), key_done.eq(key_done | k_take)]
        top = (1 << tib) - 1
        for r in lanes:
            old = imp_rd.data[r]
            updated = Mux(clear_tokens, 0, old) + r_probs[r]
            m.d.comb += [
                topk.din.payload[r].eq(r_probs[r]),
                imp_wr.data[r].eq(Mux(r < r_tag.count, Mux(updated > top, top, updated), old)),
            ]
            if cfg.emit_probs:
                m.d.comb += key_beat.prob[r].eq(r_probs[r])

        # ---- values: top-k answer -> v_req FIFO + probability FIFO; v beats (registered) with
        # the probability FIFO's head -> prob x V.
        requested = Signal(rows)  # LSB request beats of the refetch
        issued = Signal(rows)  # V request beats
        returned = Signal(rows)
        answered = Signal()  # the top-k engine's last answer beat was taken
        dout = topk.dout.payload
        m.d.comb += topk.dout.ready.eq(req_fifo.w_rdy & v_fifo.w_rdy)
        dout_fire = topk.dout.valid & topk.dout.ready
        wanted = dout_fire & (dout.count != 0)
        group_in = data.View(prob_group, v_fifo.w_data)
        request = data.View(request_layout(cfg), req_fifo.w_data)
        m.d.comb += [
            group_in.probs.eq(dout.value),
            group_in.count.eq(dout.count),
            v_fifo.w_en.eq(wanted),
            request.index.eq(dout.index),
            request.count.eq(dout.count),
            req_fifo.w_en.eq(wanted),
            self.v_req.valid.eq(req_fifo.r_rdy),
            self.v_req.payload.eq(req_fifo.r_data),
            req_fifo.r_en.eq(self.v_req.ready),
        ]
        with m.If(wanted):
            m.d.sync += issued.eq(issued + 1)
        with m.If(dout_fire & dout.last):
            m.d.sync += answered.eq(1)
        v_fire = self.v.valid & self.v.ready
        v_valid = Signal()
        v_group = Signal(prob_group)
        m.d.sync += [v_valid.eq(v_fire), v_group.eq(v_fifo.r_data)]
        m.d.comb += [
            self.v.ready.eq(v_fifo.r_rdy),
            v_fifo.r_en.eq(v_fire),
            pv.valid.eq(v_valid),
            pv.count.eq(v_group.count),
        ]
        for r in lanes:
            m.d.comb += pv.probs[r].eq(v_group.probs[r])
            for d in elements:
                v_lane = Signal(signed(att.total_bits), name=f"v_{r}_{d}")
                m.d.sync += v_lane.eq(extend(self.v.payload[r][d]))
                m.d.comb += pv.values[r][d].eq(v_lane)
        with m.If(v_fire):
            m.d.sync += returned.eq(returned + 1)
        values_done = answered & (returned == issued) & ~v_valid & ~pv.busy

        # ---- output ------------------------------------------------------------------------------
        out_vec = [Signal(signed(att.out_bits), name=f"out_{d}") for d in elements]
        head_acc = Array(Signal(hib, name=f"head_importance_{h}") for h in range(cfg.heads))
        magnitude = tree_sum([abs(x) for x in out_vec])
        head_sum = Mux(clear_head, 0, head_acc[head]) + magnitude
        head_new = Mux(head_sum > (1 << hib) - 1, (1 << hib) - 1, head_sum)

        # ---- command checks ----------------------------------------------------------------------
        b_ok = Cat(*(cmd.msb_bits == b for b in settings)).any()
        shift_ok = Cat(
            *((cmd.msb_bits == b) & (cmd.score_shift <= cfg.qk_acc_width(b)) for b in settings)
        ).any()
        bad = (
            (cmd.n == 0)
            | (cmd.n > cfg.max_tokens)
            | ~b_ok
            | ~shift_ok
            | (cmd.threshold > (1 << P))
            | (cmd.v_keep > cmd.n)
        )
        if cfg.heads < 1 << len(cmd.head):
            bad = bad | (cmd.head >= cfg.heads)

        with m.If(topk.cmd.ready):
            m.d.sync += topk.cmd.valid.eq(0)

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += [self.cmd.ready.eq(1), adv.eq(1)]
                with m.If(self.cmd.valid):
                    with m.If(bad):
                        m.next = "ERROR"
                    with m.Else():
                        m.d.sync += [
                            n.eq(cmd.n),
                            beats.eq((cmd.n + E - 1) >> log2_e),
                            msb_bits.eq(cmd.msb_bits),
                            total_sign.eq(1 << (cmd.msb_bits + (LSB_BITS - 1))),
                            total_mask.eq((1 << (cmd.msb_bits + LSB_BITS)) - 1),
                            threshold.eq(cmd.threshold),
                            shift.eq(cmd.score_shift),
                            head.eq(cmd.head),
                            clear_tokens.eq(cmd.clear_tokens),
                            clear_head.eq(cmd.clear_head),
                            out_shift.eq(cmd.msb_bits + (P + LSB_BITS + 1 - att.out_bits)),
                            requant.eq(0),
                            topk.cmd.valid.eq(1),
                            topk.cmd.payload.n.eq(cmd.n),
                            topk.cmd.payload.k.eq(cmd.v_keep),
                            fed.eq(0),
                            written.eq(0),
                            max_score.eq(low),
                            issued.eq(0),
                            returned.eq(0),
                            answered.eq(0),
                        ]
                        m.next = "QUERY"

            with m.State("QUERY"):
                m.d.comb += [self.q.ready.eq(1), adv.eq(1), pv.clear.eq(1)]
                with m.If(self.q.valid):
                    m.d.sync += [query[d].eq(extend(self.q.payload[d])) for d in elements]
                    m.next = "KEYS"

            with m.State("KEYS"):
                m.d.comb += [
                    adv.eq(1),
                    self.k_msb.ready.eq(fed != beats),
                    key_fire.eq(self.k_msb.valid & self.k_msb.ready),
                    k_wr.en.eq(key_fire),
                ]
                with m.If(written == beats):
                    m.d.sync += [read_row.eq(0), summed.eq(0), total.eq(0)]
                    m.next = "SUM"

            with m.State("SUM"):
                m.d.comb += [adv.eq(1), in_pass.eq(1)]
                with m.If(exp.out_valid):
                    m.d.sync += [total.eq(total + term_sum), summed.eq(summed + 1)]
                with m.If(summed == beats):
                    m.next = "DECIDE"

            with m.State("DECIDE"):
                m.d.comb += adv.eq(1)
                with m.If(~requant & requant_needed(cfg, total, threshold)):
                    m.d.sync += [
                        requant.eq(1),
                        fed.eq(0),
                        written.eq(0),
                        requested.eq(0),
                        max_score.eq(low),
                    ]
                    m.next = "REFETCH"
                with m.Else():
                    m.d.sync += [read_row.eq(0), left_r.eq(0)]
                    m.next = "NORMALIZE"

            with m.State("REFETCH"):
                m.d.comb += [
                    adv.eq(1),
                    self.k_lsb.ready.eq(fed != beats),
                    key_fire.eq(self.k_lsb.valid & self.k_lsb.ready),
                ]
                # LSB requests: rows 0..n-1, E per beat.
                with m.If(~self.lsb_req.valid | self.lsb_req.ready):
                    with m.If(requested != beats):
                        m.d.sync += [
                            self.lsb_req.valid.eq(1),
                            self.lsb_req.payload.count.eq(lanes_of_row(requested)),
                            requested.eq(requested + 1),
                        ]
                        m.d.sync += [
                            self.lsb_req.payload.index[r].eq((requested << log2_e) + r)
                            for r in lanes
                        ]
                    with m.Else():
                        m.d.sync += self.lsb_req.valid.eq(0)
                with m.If(written == beats):
                    m.d.sync += [read_row.eq(0), summed.eq(0), total.eq(0)]
                    m.next = "SUM"

            with m.State("NORMALIZE"):
                m.d.comb += [
                    adv.eq(~r_valid | r_leave),
                    in_pass.eq(1),
                    div.valid.eq(exp.out_valid),
                ]
                with m.If((left_r == beats) & ~keys_fifo.r_rdy):
                    m.next = "VALUES"

            with m.State("VALUES"):
                m.d.comb += adv.eq(1)
                with m.If(values_done):
                    m.next = "OUTPUT"

            with m.State("OUTPUT"):
                m.d.comb += adv.eq(1)
                m.d.sync += [
                    out_vec[d].eq(saturate(round_shift(pv.acc[d], out_shift), att.out_bits))
                    for d in elements
                ]
                m.next = "RESULT"

            with m.State("RESULT"):
                m.d.comb += adv.eq(1)
                m.d.sync += [
                    self.out.valid.eq(1),
                    self.out.payload.requant.eq(requant),
                    self.out.payload.head_importance.eq(head_new),
                    self.out.payload.error.eq(0),
                    head_acc[head].eq(head_new),
                ]
                m.d.sync += [self.out.payload.out[d].eq(out_vec[d]) for d in elements]
                m.next = "RESPOND"

            with m.State("ERROR"):
                m.d.comb += adv.eq(1)
                m.d.sync += [
                    self.out.valid.eq(1),
                    self.out.payload.eq(0),
                    self.out.payload.error.eq(1),
                ]
                m.next = "RESPOND"

            with m.State("RESPOND"):
                m.d.comb += adv.eq(1)
                with m.If(self.out.ready):
                    m.d.sync += self.out.valid.eq(0)
                    m.next = "IDLE"
        return m
