"""SpAtten's attention core: consecutive (head, query) items pipelined, streams on every edge.

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

Micro-architecture (:mod:`sparsa.sim.blocks.attention_core` counts its cycles). Three units,
each one (head, query) at a time, work on consecutive commands at once, as SpAtten pipelines
them (spatten.md 2.1), and the local-V top-k runs beside them on ``config.topk_engines``
engines that take the queries in turn:

* the *front* (:class:`~sparsa.hw.attention.control.FrontControl`): the query, Q x K into one of
  the :data:`~sparsa.hw.attention.layouts.SCORE_BANKS` banks of the score buffer, the sum of the
  softmax terms, the requant decision and the refetch; it hands the scored query on through a
  queue (``scored_fifo``) and goes on with the next command in the other bank;
* the *normalize unit* (:class:`~sparsa.hw.attention.control.NormalizeControl`): the normalize
  pass over the bank into the query's top-k engine and the ``keys`` output; it queues the query
  (``queued_fifo``) and releases the bank;
* the *values unit* (:class:`~sparsa.hw.attention.control.ValuesControl`): once its top-k
  engine's whole answer is in that engine's answer FIFO (so an engine never waits for it), the
  V requests of the kept rows, prob x V and the ``out`` beat.

Every block is a named submodule with stream ports, joined with
:func:`amaranth.lib.wiring.connect`::

    cmd -> decoder -> front -> scored_fifo -> normalize -> queued_fifo -> values
    q -> query (register) ................................................ Q to qk_array
    k_msb, k_lsb -> key_loader (K buffer) -> converter -> qk_array -> score_bank_{front's}
    lsb_requests -> lsb_req
    score_bank_{front's} -> sum_exp -> exp_sum                                (SUM)
    score_bank_{normalize's} -> normalize_exp -> divider -> prob_register      (NORMALIZE)
    prob_register -> prob_fork -+-> topk_{engine}.din
                                +-> importance -> keys_fifo -> keys
    topk_j.dout -> answers_j; answers_{values' engine} -> kept -> kept_fork
    kept_fork -+-> v_req_fifo -> v_req
               +-> prob_fifo -+
    v -------------------------+-> v_join -> v_register -> pv_array -> output -> out

Every input beat goes into registers (Q and V lanes through their sign extension) or a memory
before any arithmetic uses it, and every output except ``lsb_req`` and ``out`` leaves through a
FIFO, so no pipeline waits combinationally on an output's ready. Each bank of the score buffer
holds its query's settings from the front's taking of the command to the normalize unit's
release; the values unit holds its own copy. The phases of a query:

1. *Query* (front): one ``q`` beat, sign-extended, into registers
   (:class:`~.stages.QueryRegister`); the front takes a good command only when its bank is free.
2. *Keys* (front): each ``k_msb`` beat is written into the K buffer, whose read port
   (transparent for that write) gives it back the next cycle (:class:`~.stages.KeyLoader`) to
   the bit-width converter (:class:`~.bit_converter.BitConverter`, LSBs zero) and the Q x K
   array (:class:`~.dot_product.ScoreArray`, E scores per cycle); scores go into the front's
   bank and its running maximum (:class:`~.stages.ScoreBuffer`).
3. *Sum* (front): the bank is read at E per cycle into the front's exp unit
   (:class:`~.softmax.ExpUnit`); the terms are summed (:class:`~.stages.TermSum`).
4. *Decide* (front): the requant decision from the sum alone
   (:func:`~.softmax.requant_needed`). If the maximum probability is below the threshold (and
   not yet recomputed), *refetch*: the core requests the LSB planes of all n keys, E rows per
   request beat (:class:`~.stages.RowRequester`), and runs each arriving ``k_lsb`` beat
   (registered) with the K buffer's MSB rows through the converter and the Q x K array again;
   then *sum* again (no second decision). Else the scored query, with its sum, is handed on.
5. *Normalize* (normalize unit): it takes the scored query once the top-k engine whose turn it
   is is free (idle, its answer FIFO empty) and sends it its command (k = v_keep); the bank is
   read again through the normalize unit's exp unit and the divider
   (:class:`~.divider.ProbDivider`) into the probability register, which also reads the rows'
   token importance (:class:`~.stages.ProbabilityRegister`); each beat of E probabilities goes
   (an eager fork) to the engine (:class:`sparsa.hw.topk.topk.TopKEngine`) and, its token
   importance updated and written back (:class:`~.stages.ImportanceUpdate`), to the ``keys``
   FIFO; the pass holds while either has not taken the beat. The pass ends, and the bank is
   released, once the last ``keys`` beat has left.
6. *Values* (values unit): once the engine's answer is whole in its FIFO and the normalize unit
   has released the query, each answer beat with kept rows (:class:`~.stages.KeptRows`) becomes,
   in the same cycle (a lazy fork), one entry of the ``v_req`` FIFO (its indices) and one of a
   FIFO of probabilities; each ``v`` beat is joined with the probability FIFO's head, registered
   (:class:`~.stages.ValueRegister`) and multiplied in the prob x V array
   (:class:`~.dot_product.ProbValueArray`).
7. *Output* (values unit): the accumulators are shifted by the run-time out_shift = P + b + 5 -
   out_bits, rounded and saturated (one stage), then the head importance is updated and the
   ``out`` beat registered (one stage) (:class:`~.stages.OutputStage`).

A rejected command passes the two queues without touching a bank or an engine and is answered
in its turn. Every output stream carries the commands' beats in command order; a command's
``keys`` beats all leave before its ``out`` beat, but beats of the next commands (``keys``,
``lsb_req``) may come before it.

Streams follow the :mod:`amaranth.lib.stream` rules: a transfer happens on a cycle where both
valid and ready are high; an output's valid never waits for its ready and, once high, stays
high with a stable payload until the transfer. Any input may stall and any output may be
back-pressured at any time. The K and V row streams (``k_lsb``, ``v``) are answers of a memory
to the core's requests: their beats must come in request order, each after its request.
"""

from amaranth import Cat, Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect, flipped

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.attention.bit_converter import (
    BitConverter,
    full_rows_layout,
    lsb_rows_layout,
    msb_rows_layout,
)
from sparsa.hw.attention.control import (
    CommandDecoder,
    FrontControl,
    NormalizeControl,
    ValuesControl,
)
from sparsa.hw.attention.divider import ProbDivider
from sparsa.hw.attention.dot_product import ProbValueArray, ScoreArray
from sparsa.hw.attention.layouts import (
    SCORE_BANKS,
    CoreBlock,
    cmd_layout,
    keys_layout,
    out_layout,
    prob_rows_layout,
    q_layout,
    queued_layout,
    request_layout,
    row_tag_layout,
    scored_layout,
    settings_layout,
)
from sparsa.hw.attention.softmax import ExpUnit
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
from sparsa.hw.common.streams import (
    StreamFIFO,
    StreamFork,
    StreamJoin,
    connect_mapped,
    transfer,
)
from sparsa.hw.topk.topk import TopKEngine, dout_layout

__all__ = [
    "KEYS_FIFO_DEPTH",
    "QUEUED_FIFO_SLACK",
    "SCORED_FIFO_DEPTH",
    "V_FIFO_DEPTH",
    "AttentionCore",
    "answer_fifo_depth",
    "cmd_layout",
    "keys_layout",
    "out_layout",
    "q_layout",
    "request_layout",
]

V_FIFO_DEPTH = 16
"""Entries of the FIFOs of V requests and of the probabilities waiting for their V rows: the
V request beats the core keeps in flight, enough for a DRAM's latency (a system's V port
answers a beat of E rows in E times a row's words)."""
KEYS_FIFO_DEPTH = 2
"""Entries of the FIFO between the probability register and the ``keys`` output."""
SCORED_FIFO_DEPTH = 2
"""Entries of the queue of scored queries between the front and the normalize unit."""
QUEUED_FIFO_SLACK = 2
"""Entries of the queue between the normalize and the values unit beyond one per top-k
engine."""


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
        engines = cfg.topk_engines

        # ---- blocks ------------------------------------------------------------------------------
        m.submodules.decoder = decoder = CommandDecoder(cfg)
        m.submodules.front = front = FrontControl(cfg)
        m.submodules.scored_fifo = scored_fifo = StreamFIFO(scored_layout(cfg), SCORED_FIFO_DEPTH)
        m.submodules.normalize = normalize = NormalizeControl(cfg)
        m.submodules.queued_fifo = queued_fifo = StreamFIFO(
            queued_layout(cfg), engines + QUEUED_FIFO_SLACK
        )
        m.submodules.values = values = ValuesControl(cfg)
        m.submodules.query = query = QueryRegister(cfg)
        m.submodules.key_loader = key_loader = KeyLoader(cfg)
        m.submodules.converter = converter = BitConverter(cfg)
        m.submodules.qk_array = qk_array = ScoreArray(cfg)
        banks = [ScoreBuffer(cfg) for _ in range(SCORE_BANKS)]
        for b, bank in enumerate(banks):
            m.submodules[f"score_bank_{b}"] = bank
        m.submodules.lsb_requests = lsb_requests = RowRequester(cfg)
        m.submodules.sum_exp = sum_exp = ExpUnit(cfg, tag=tag)
        m.submodules.exp_sum = exp_sum = TermSum(cfg)
        m.submodules.normalize_exp = normalize_exp = ExpUnit(cfg, tag=tag)
        m.submodules.divider = divider = ProbDivider(cfg, tag=tag)
        m.submodules.prob_register = prob_register = ProbabilityRegister(cfg)
        m.submodules.prob_fork = prob_fork = StreamFork(prob_entry_layout(cfg), 2)
        topks = [TopKEngine(cfg.topk) for _ in range(engines)]
        answers = [
            StreamFIFO(dout_layout(cfg.topk), answer_fifo_depth(cfg), buffered=True)
            for _ in range(engines)
        ]
        for j, (topk, fifo) in enumerate(zip(topks, answers, strict=True)):
            m.submodules[f"topk_{j}"] = topk
            m.submodules[f"answers_{j}"] = fifo
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

        # ---- the three units and their queues ---------------------------------------------------
        connect(m, flipped(self.cmd), decoder.i_stream)
        connect(m, decoder.o_stream, front.cmd)
        connect(m, front.scored, scored_fifo.i_stream)
        connect(m, scored_fifo.o_stream, normalize.scored)
        connect(m, normalize.queued, queued_fifo.i_stream)
        connect(m, queued_fifo.o_stream, values.queued)
        m.d.comb += [
            front.release.eq(normalize.release),
            front.release_bank.eq(normalize.bank),
            normalize.keys_pending.eq(keys_fifo.o_stream.valid),
        ]
        front_settings = _bank_view(m, cfg, front.bank_settings, front.bank, "front_settings")
        normalize_settings = _bank_view(
            m, cfg, front.bank_settings, normalize.bank, "normalize_settings"
        )
        m.d.comb += normalize.settings.eq(normalize_settings)
        _drive_settings(m, front_settings, query, key_loader, lsb_requests, exp_sum)
        _drive_settings(m, normalize_settings, prob_register, importance)
        connect(m, values.settings, v_register.settings, output.settings)
        connect(m, front.query, query.control)
        connect(m, front.keys, key_loader.control)
        connect(m, front.lsb_requests, lsb_requests.control)
        connect(m, front.exp_sum, exp_sum.control)
        connect(m, normalize.probs, prob_register.control)
        connect(m, values.values, kept.control)
        connect(m, values.output, output.control)

        # ---- Q x K into the front's bank --------------------------------------------------------
        connect(m, flipped(self.q), query.i_stream)
        connect(m, flipped(self.k_msb), key_loader.msb)
        connect(m, flipped(self.k_lsb), key_loader.lsb)
        connect(m, key_loader.o_stream, converter.i_stream)
        connect(m, converter.o_stream, qk_array.i_stream)
        connect(m, lsb_requests.o_stream, flipped(self.lsb_req))

        # ---- the score banks: the front's sum pass and the normalize pass -----------------------
        for b, bank in enumerate(banks):
            _drive_settings(m, front.bank_settings[b], bank)
            at_front = front.bank == b
            at_normalize = normalize.bank == b
            m.d.comb += [
                bank.i_stream.payload.eq(qk_array.o_stream.payload),
                bank.i_stream.valid.eq(qk_array.o_stream.valid & at_front),
                bank.control.start_write.eq(front.scores.start_write & at_front),
                bank.control.start_read.eq(
                    (front.scores.start_read & at_front)
                    | (normalize.scores.start_read & at_normalize)
                ),
                bank.control.read.eq(
                    (front.scores.read & at_front) | (normalize.scores.read & at_normalize)
                ),
            ]
            with m.If(front.bank == b):
                m.d.comb += [
                    front.scores.written.eq(bank.control.written),
                    sum_exp.max.eq(bank.max),
                ]
            with m.If(normalize.bank == b):
                m.d.comb += normalize_exp.max.eq(bank.max)
        _route_banks(m, [bank.o_stream for bank in banks], front.bank, front.active,
                     sum_exp.i_stream)
        _route_banks(m, [bank.o_stream for bank in banks], normalize.bank, normalize.active,
                     normalize_exp.i_stream)
        connect(m, sum_exp.o_stream, exp_sum.i_stream)
        connect(m, normalize_exp.o_stream, divider.i_stream)
        connect(m, divider.o_stream, prob_register.i_stream)
        connect(m, prob_register.importance, token_importance.read_port())
        connect(m, prob_register.o_stream, prob_fork.i_stream)
        connect(m, prob_fork.o_streams[1], importance.i_stream)
        connect(m, importance.importance, token_importance.write_port())
        connect(m, importance.o_stream, keys_fifo.i_stream)
        connect(m, keys_fifo.o_stream, flipped(self.keys))

        # ---- the top-k engines, in turn, and their answers ---------------------------------------
        free, ready = [], []
        for j, (topk, fifo) in enumerate(zip(topks, answers, strict=True)):
            turn = normalize.engine == j
            m.d.comb += [
                topk.cmd.payload.eq(normalize.topk_cmd.payload),
                topk.cmd.valid.eq(normalize.topk_cmd.valid & turn),
                topk.din.payload.eq(prob_fork.o_streams[0].payload.probs),
                topk.din.valid.eq(prob_fork.o_streams[0].valid & turn),
            ]
            with m.If(turn):
                m.d.comb += [
                    normalize.topk_cmd.ready.eq(topk.cmd.ready),
                    prob_fork.o_streams[0].ready.eq(topk.din.ready),
                ]
            connect(m, topk.dout, fifo.i_stream)
            # A whole answer is in the FIFO from its last beat's arrival to its departure.
            whole = Signal(name=f"answer_ready_{j}")
            with m.If(transfer(fifo.i_stream) & fifo.i_stream.payload.last):
                m.d.sync += whole.eq(1)
            with m.If(transfer(fifo.o_stream) & fifo.o_stream.payload.last):
                m.d.sync += whole.eq(0)
            idle = topk.cmd.ready & (fifo.level == 0) & ~(normalize.topk_cmd.valid & turn)
            free.append(idle)
            ready.append(whole)
            taking = values.take & (values.engine == j)
            m.d.comb += fifo.o_stream.ready.eq(kept.i_stream.ready & taking)
            with m.If(taking):
                m.d.comb += [
                    kept.i_stream.payload.eq(fifo.o_stream.payload),
                    kept.i_stream.valid.eq(fifo.o_stream.valid),
                ]
        m.d.comb += [normalize.engine_free.eq(Cat(*free)), values.answer_ready.eq(Cat(*ready))]
        # Good queries the normalize unit has released less those the values unit has taken:
        # -1 while the values unit holds one that is still being normalized.
        released = Signal(range(-1, engines + QUEUED_FIFO_SLACK + 2))
        m.d.sync += released.eq(released + normalize.release - values.taken)
        m.d.comb += values.normalized.eq(released >= 0)

        # ---- values ------------------------------------------------------------------------------
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

        # ---- values held for a query or a pass -------------------------------------------------
        m.d.comb += [
            converter.msb_bits.eq(front_settings.msb_bits),
            qk_array.query.eq(query.query),
            qk_array.shift.eq(front_settings.shift),
            front.total.eq(exp_sum.total),
            divider.total.eq(normalize.total),
            pv_array.clear.eq(values.pv_clear),
            values.pv_beats.eq(pv_array.beats),
            output.acc.eq(pv_array.acc),
        ]
        return m


def answer_fifo_depth(config: AttentionCoreConfig) -> int:
    """Beats of each top-k engine's answer FIFO: the longest answer (every row kept, one beat
    per E of them) and one more, so that an engine never waits for the values unit."""
    return config.rows + 1


def _bank_view(m: Module, config: AttentionCoreConfig, banks: list, bank: Value,
               name: str) -> data.View:
    """The settings of bank ``bank`` of ``banks``."""
    view = Signal(settings_layout(config), name=name)
    with m.Switch(bank):
        for b, settings in enumerate(banks):
            with m.Case(b):
                m.d.comb += view.eq(settings)
    return view


def _drive_settings(m: Module, settings: data.View, *stages: wiring.Component) -> None:
    """Drive the ``settings`` port of each of ``stages`` from ``settings``."""
    for stage in stages:
        m.d.comb += [
            getattr(stage.settings, name).eq(settings[name]) for name, _ in settings.shape()
        ]


def _route_banks(m: Module, banks: list, bank: Value, active: Value,
                 sink: stream.Interface) -> None:
    """Stream ``banks[bank]`` into ``sink`` while ``active``."""
    for b, source in enumerate(banks):
        with m.If(active & (bank == b)):
            m.d.comb += [
                sink.payload.eq(source.payload),
                sink.valid.eq(source.valid),
                source.ready.eq(sink.ready),
            ]
