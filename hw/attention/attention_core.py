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

A command with n outside 1..max_tokens, b not in ``config.msb_settings``, score_shift above
2(b + 4) + log2(D), threshold above 2**P, v_keep above n or a head without an accumulator is
rejected (:class:`~sparsa.config.attention_core.RejectReason`): it consumes no other beat and is
answered by one ``out`` beat with ``error`` ``REJECTED``
(:class:`~sparsa.config.attention_core.CommandStatus`, all other fields zero); nothing else
changes.

Importance. Token importance lives in an on-chip memory of max_tokens saturating accumulators
(``token_importance_bits``), entry j for the query's key j; a command with ``clear_tokens`` set
starts them afresh (the query's accumulators become its probabilities), otherwise its
probabilities are added (:func:`sparsa.models.golden.attention.token_importance_update` on
entries 0 to n - 1). Head importance lives in ``config.heads`` saturating accumulators
(``head_importance_bits``), the command's ``head`` selecting one; ``clear_head`` restarts it
(:func:`sparsa.models.golden.attention.head_importance_update`). Both start at zero after
configuration; reset clears the head accumulators (registers) but not the token memory.

Micro-architecture (one query at a time; :mod:`sparsa.sim.blocks.attention_core` counts its cycles).
Every block is a named submodule with stream ports, joined with
:func:`amaranth.lib.wiring.connect`::

    cmd -> decoder -> control ........ settings and control to every stage, topk_cmd -> topk
    q -> query (register) ................................................ Q to qk_array
    k_msb, k_lsb -> key_loader (K buffer) -> converter -> qk_array -> score_buffer
    lsb_requests -> lsb_req
    score_buffer -> exp_unit -> pass_select -+-> exp_sum                    (SUM)
                                             +-> divider -> prob_register  (NORMALIZE)
    prob_register -> prob_fork -+-> topk.din
                                +-> importance -> keys_fifo -> keys
    topk.dout -> kept -> kept_fork -+-> v_req_fifo -> v_req
                                    +-> prob_fifo -+
    v ---------------------------------------------+-> v_join -> v_register -> pv_array
    pv_array -> output -> out

Every input beat goes into registers (Q and V lanes through their sign extension) or a memory
before any arithmetic uses it, and every output except ``lsb_req`` and ``out`` leaves through a
FIFO, so no pipeline waits combinationally on an output's ready. The controller
(:class:`sparsa.hw.attention.control.Controller`) steps through the phases:

1. *Query*: one ``q`` beat, sign-extended, into registers (:class:`~.stages.QueryRegister`).
2. *Keys*: each ``k_msb`` beat is written into the K buffer, whose read port (transparent for
   that write) gives it back the next cycle (:class:`~.stages.KeyLoader`) to the bit-width
   converter (:class:`~.bit_converter.BitConverter`, LSBs zero) and the Q x K array
   (:class:`~.dot_product.ScoreArray`, E scores per cycle); scores go into the score buffer and
   a running maximum (:class:`~.stages.ScoreBuffer`).
3. *Sum*: the score buffer is read at E per cycle into the exp unit
   (:class:`~.softmax.ExpUnit`); the terms are summed (:class:`~.stages.TermSum`).
4. *Decide*: the requant decision from the sum alone
   (:func:`~.softmax.requant_needed`). If the maximum probability is below the threshold (and
   not yet recomputed), *refetch*: the core requests the LSB planes of all n keys, E rows per
   request beat (:class:`~.stages.RowRequester`), and runs each arriving ``k_lsb`` beat
   (registered) with the K buffer's MSB rows through the converter and the Q x K array again;
   then *sum* again (no second decision).
5. *Normalize*: the score buffer is read again through the exp unit and the divider
   (:class:`~.divider.ProbDivider`) into the probability register, which also reads the rows'
   token importance (:class:`~.stages.ProbabilityRegister`); each beat of E probabilities goes
   (an eager fork) to the local-V top-k engine (:class:`sparsa.hw.topk.topk.TopKEngine`,
   k = v_keep, sent its command at the query's start) and, its token importance updated and
   written back (:class:`~.stages.ImportanceUpdate`), to the ``keys`` FIFO; the pass holds
   while either has not taken the beat. The score buffer's read, the exp unit and the divider
   move together, only when the probability register can take a beat.
6. *Values*: each top-k answer beat with kept rows (:class:`~.stages.KeptRows`) becomes, in the
   same cycle (a lazy fork), one entry of the ``v_req`` FIFO (its indices) and one of a FIFO of
   probabilities; each ``v`` beat is joined with the probability FIFO's head, registered
   (:class:`~.stages.ValueRegister`) and multiplied in the prob x V array
   (:class:`~.dot_product.ProbValueArray`). The top-k answer is taken while both FIFOs have
   room.
7. *Output*: the accumulators are shifted by the run-time out_shift = P + b + 5 - out_bits,
   rounded and saturated (one stage), then the head importance is updated and the ``out``
   beat registered (one stage) (:class:`~.stages.OutputStage`).

Streams follow the :mod:`amaranth.lib.stream` rules: a transfer happens on a cycle where both
valid and ready are high; an output's valid never waits for its ready and, once high, stays
high with a stable payload until the transfer. Any input may stall and any output may be
back-pressured at any time. The K and V row streams (``k_lsb``, ``v``) are answers of a memory
to the core's requests: their beats must come in request order, each after its request.
"""

from amaranth import Module
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect, flipped

from sparsa.config.attention_core import ScorePass
from sparsa.hw.attention.bit_converter import (
    BitConverter,
    full_rows_layout,
    lsb_rows_layout,
    msb_rows_layout,
)
from sparsa.hw.attention.control import CommandDecoder, Controller
from sparsa.hw.attention.divider import ProbDivider
from sparsa.hw.attention.dot_product import ProbValueArray, ScoreArray
from sparsa.hw.attention.layouts import (
    CoreBlock,
    cmd_layout,
    keys_layout,
    out_layout,
    prob_rows_layout,
    q_layout,
    request_layout,
    row_tag_layout,
)
from sparsa.hw.attention.softmax import ExpUnit, exp_term_width, tagged_lanes
from sparsa.hw.attention.stages import (
    ImportanceUpdate,
    KeptRows,
    KeyLoader,
    OutputStage,
    ProbabilityRegister,
    QueryRegister,
    RowRequester,
    ScoreBuffer,
    TermSum,
    ValueRegister,
    kept_layout,
    prob_entry_layout,
)
from sparsa.hw.common.streams import StreamDemux, StreamFIFO, StreamFork, StreamJoin, connect_mapped
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


class AttentionCore(CoreBlock):
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

    def _members(self) -> dict:
        cfg = self.config
        return {
            "cmd": In(stream.Signature(cmd_layout(cfg))),
            "q": In(stream.Signature(q_layout(cfg))),
            "k_msb": In(stream.Signature(msb_rows_layout(cfg))),
            "lsb_req": Out(stream.Signature(request_layout(cfg))),
            "k_lsb": In(stream.Signature(lsb_rows_layout(cfg))),
            "v_req": Out(stream.Signature(request_layout(cfg))),
            "v": In(stream.Signature(full_rows_layout(cfg))),
            "keys": Out(stream.Signature(keys_layout(cfg))),
            "out": Out(stream.Signature(out_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        tag = row_tag_layout(cfg)
        terms = tagged_lanes("terms", exp_term_width(cfg), cfg.lanes, tag)

        # ---- blocks ------------------------------------------------------------------------------
        m.submodules.decoder = decoder = CommandDecoder(cfg)
        m.submodules.control = control = Controller(cfg)
        m.submodules.query = query = QueryRegister(cfg)
        m.submodules.key_loader = key_loader = KeyLoader(cfg)
        m.submodules.converter = converter = BitConverter(cfg)
        m.submodules.qk_array = qk_array = ScoreArray(cfg)
        m.submodules.score_buffer = score_buffer = ScoreBuffer(cfg)
        m.submodules.lsb_requests = lsb_requests = RowRequester(cfg)
        m.submodules.exp_unit = exp_unit = ExpUnit(cfg, tag=tag)
        m.submodules.pass_select = pass_select = StreamDemux(terms, 2, select=ScorePass)
        m.submodules.exp_sum = exp_sum = TermSum(cfg)
        m.submodules.divider = divider = ProbDivider(cfg, tag=tag)
        m.submodules.prob_register = prob_register = ProbabilityRegister(cfg)
        m.submodules.prob_fork = prob_fork = StreamFork(prob_entry_layout(cfg), 2)
        m.submodules.topk = topk = TopKEngine(cfg.topk)
        m.submodules.importance = importance = ImportanceUpdate(cfg)
        m.submodules.keys_fifo = keys_fifo = StreamFIFO(keys_layout(cfg), KEYS_FIFO_DEPTH)
        m.submodules.kept = kept = KeptRows(cfg)
        m.submodules.kept_fork = kept_fork = StreamFork(kept_layout(cfg), 2, lazy=True)
        m.submodules.v_req_fifo = v_req_fifo = StreamFIFO(request_layout(cfg), V_FIFO_DEPTH)
        m.submodules.prob_fifo = prob_fifo = StreamFIFO(prob_rows_layout(cfg), V_FIFO_DEPTH)
        m.submodules.v_join = v_join = StreamJoin(
            {"probs": prob_rows_layout(cfg), "values": full_rows_layout(cfg)}
        )
        m.submodules.v_register = v_register = ValueRegister(cfg)
        m.submodules.pv_array = pv_array = ProbValueArray(cfg)
        m.submodules.output = output = OutputStage(cfg)
        m.submodules.token_importance = token_importance = Memory(
            shape=data.ArrayLayout(cfg.attention.token_importance_bits, cfg.lanes),
            depth=cfg.rows,
            init=[],
        )

        # ---- command and control ---------------------------------------------------------------
        connect(m, flipped(self.cmd), decoder.i_stream)
        connect(m, decoder.o_stream, control.cmd)
        connect(
            m,
            control.settings,
            query.settings,
            key_loader.settings,
            score_buffer.settings,
            lsb_requests.settings,
            exp_sum.settings,
            prob_register.settings,
            importance.settings,
            v_register.settings,
            output.settings,
        )
        connect(m, control.query, query.control)
        connect(m, control.keys, key_loader.control)
        connect(m, control.scores, score_buffer.control)
        connect(m, control.lsb_requests, lsb_requests.control)
        connect(m, control.exp_sum, exp_sum.control)
        connect(m, control.probs, prob_register.control)
        connect(m, control.values, kept.control)
        connect(m, control.output, output.control)
        connect(m, control.topk_cmd, topk.cmd)

        # ---- Q x K -------------------------------------------------------------------------------
        connect(m, flipped(self.q), query.i_stream)
        connect(m, flipped(self.k_msb), key_loader.msb)
        connect(m, flipped(self.k_lsb), key_loader.lsb)
        connect(m, key_loader.o_stream, converter.i_stream)
        connect(m, converter.o_stream, qk_array.i_stream)
        connect(m, qk_array.o_stream, score_buffer.i_stream)
        connect(m, lsb_requests.o_stream, flipped(self.lsb_req))

        # ---- softmax: sum and normalize passes ---------------------------------------------------
        connect(m, score_buffer.o_stream, exp_unit.i_stream)
        connect(m, exp_unit.o_stream, pass_select.i_stream)
        connect(m, pass_select.o_streams[ScorePass.SUM], exp_sum.i_stream)
        connect(m, pass_select.o_streams[ScorePass.NORMALIZE], divider.i_stream)
        connect(m, divider.o_stream, prob_register.i_stream)
        connect(m, prob_register.importance, token_importance.read_port())
        connect(m, prob_register.o_stream, prob_fork.i_stream)
        connect_mapped(m, prob_fork.o_streams[0], topk.din, lambda beat: beat.probs)
        connect(m, prob_fork.o_streams[1], importance.i_stream)
        connect(m, importance.importance, token_importance.write_port())
        connect(m, importance.o_stream, keys_fifo.i_stream)
        connect(m, keys_fifo.o_stream, flipped(self.keys))

        # ---- values ------------------------------------------------------------------------------
        connect(m, topk.dout, kept.i_stream)
        connect(m, kept.o_stream, kept_fork.i_stream)
        connect_mapped(
            m,
            kept_fork.o_streams[0],
            v_req_fifo.i_stream,
            lambda beat: {"index": beat.index, "count": beat.count},
        )
        connect_mapped(
            m,
            kept_fork.o_streams[1],
            prob_fifo.i_stream,
            lambda beat: {"probs": beat.probs, "count": beat.count},
        )
        connect(m, v_req_fifo.o_stream, flipped(self.v_req))
        connect(m, prob_fifo.o_stream, v_join.i_probs)
        connect(m, flipped(self.v), v_join.i_values)
        connect(m, v_join.o_stream, v_register.i_stream)
        connect(m, v_register.o_stream, pv_array.i_stream)
        connect(m, output.o_stream, flipped(self.out))

        # ---- values held for a query or a pass, and status -------------------------------------
        m.d.comb += [
            converter.msb_bits.eq(control.settings.msb_bits),
            qk_array.query.eq(query.query),
            qk_array.shift.eq(control.settings.shift),
            exp_unit.max.eq(score_buffer.max),
            pass_select.select.eq(control.score_pass),
            divider.total.eq(exp_sum.total),
            control.keys_pending.eq(keys_fifo.o_stream.valid),
            pv_array.clear.eq(control.pv_clear),
            control.pv_beats.eq(pv_array.beats),
            output.acc.eq(pv_array.acc),
        ]
        return m
