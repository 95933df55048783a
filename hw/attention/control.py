"""The attention core's command decoder and the controllers of its three units.

:class:`CommandDecoder` checks a command and derives the query's settings from it
(combinational). Three controllers, each running one query at a time, sequence the stages of
:mod:`sparsa.hw.attention.stages` through their control interfaces, so that three consecutive
queries are in flight at once (the phases are listed in
:mod:`sparsa.hw.attention.attention_core`):

* :class:`FrontControl`: the query, Q x K into a bank of the score buffer, the sum of the
  softmax terms, the requant decision and the refetch; it hands the scored query on;
* :class:`NormalizeControl`: the normalize pass of a scored query into a local-V top-k engine
  and the ``keys`` output; it queues the query for the values unit;
* :class:`ValuesControl`: the V rows that the query's top-k engine kept, prob x V and the
  ``out`` beat.
"""

from amaranth import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import LSB_BITS
from sparsa.config.attention_core import KeyPlanes, RejectReason
from sparsa.hw.attention.layouts import (
    SCORE_BANKS,
    CoreBlock,
    cmd_layout,
    decoded_layout,
    queued_layout,
    scored_layout,
    settings_layout,
)
from sparsa.hw.attention.stages import (
    KeyControl,
    OutputControl,
    PassControl,
    QueryControl,
    QuerySettings,
    RequestControl,
    ScoreControl,
    SumControl,
    ValueControl,
)
from sparsa.hw.topk.topk import cmd_layout as topk_cmd_layout

__all__ = ["CommandDecoder", "FrontControl", "NormalizeControl", "ValuesControl"]


class CommandDecoder(CoreBlock):
    """A command to the query's settings and the reason it is rejected, if any
    (:class:`~sparsa.config.attention_core.RejectReason`: the first check that fails, in the
    order of its members). Combinational; the output stream moves with the input.

    Members
    -------
    i_stream : In(stream.Signature(cmd_layout(config)))
    o_stream : Out(stream.Signature(decoded_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(cmd_layout(cfg))),
            "o_stream": Out(stream.Signature(decoded_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        att, E = cfg.attention, cfg.lanes
        cmd, out = self.i_stream.payload, self.o_stream.payload
        settings = out.settings
        m.d.comb += [
            self.o_stream.valid.eq(self.i_stream.valid),
            self.i_stream.ready.eq(self.o_stream.ready),
            settings.n.eq(cmd.n),
            settings.v_keep.eq(cmd.v_keep),
            settings.beats.eq((cmd.n + E - 1) >> (E.bit_length() - 1)),
            settings.msb_bits.eq(cmd.msb_bits),
            settings.sign.eq(1 << (cmd.msb_bits + (LSB_BITS - 1))),
            settings.mask.eq((1 << (cmd.msb_bits + LSB_BITS)) - 1),
            settings.threshold.eq(cmd.threshold),
            settings.shift.eq(cmd.score_shift),
            settings.head.eq(cmd.head),
            settings.clear_tokens.eq(cmd.clear_tokens),
            settings.clear_head.eq(cmd.clear_head),
            settings.out_shift.eq(cmd.msb_bits + (att.prob_bits + LSB_BITS + 1 - att.out_bits)),
        ]
        b_ok = Cat(*(cmd.msb_bits == b for b in cfg.msb_settings)).any()
        shift_ok = Cat(
            *(
                (cmd.msb_bits == b) & (cmd.score_shift <= cfg.qk_acc_width(b))
                for b in cfg.msb_settings
            )
        ).any()
        checks = [
            ((cmd.n == 0) | (cmd.n > cfg.max_tokens), RejectReason.TOKENS),
            (~b_ok, RejectReason.MSB_BITS),
            (~shift_ok, RejectReason.SCORE_SHIFT),
            (cmd.threshold > (1 << att.prob_bits), RejectReason.THRESHOLD),
            (cmd.v_keep > cmd.n, RejectReason.V_KEEP),
        ]
        if cfg.heads < 1 << len(cmd.head):
            checks.append((cmd.head >= cfg.heads, RejectReason.HEAD))
        for i, (bad, reason) in enumerate(checks):
            with (m.If if i == 0 else m.Elif)(bad):
                m.d.comb += out.reject.eq(reason)
        return m


def _registered(m: Module, o: stream.Interface) -> Value:
    """A registered output stream: its valid drops after a transfer; returns the condition on
    which a new beat may be loaded (nothing offered, or the beat leaving this cycle)."""
    with m.If(o.ready):
        m.d.sync += o.valid.eq(0)
    return ~o.valid | o.ready


def _pass_reject(m: Module, source: stream.Interface, sink: stream.Interface,
                 room: Value) -> None:
    """Hand a rejected command on at once: ``source``'s beat is taken when the registered
    ``sink`` has ``room`` (:func:`_registered`), and ``sink`` offers a beat with only
    ``reject`` set."""
    m.d.comb += source.ready.eq(room)
    with m.If(source.valid & room):
        m.d.sync += [sink.valid.eq(1), sink.payload.eq(0), sink.payload.reject.eq(1)]


def _next(value: Value, count: int) -> Value:
    """``value`` + 1 modulo ``count``: the next of ``count`` units taken in turn."""
    return Mux(value == count - 1, 0, value + 1)


def _bit(bits: Value, index: Value) -> Value:
    """Bit ``index`` of ``bits`` (a multiplexer)."""
    return Array(bits[i] for i in range(len(bits)))[index]


class FrontControl(CoreBlock):
    """Runs the front of the core, one query at a time: the query, the keys, the sum, the
    decision, the refetch of the LSB planes (once at most) and the sum again.

    A good command is taken when the bank of the score buffer the front is at is free: its
    settings go into that bank's settings (``bank_settings``) and the bank is held until the
    normalize unit releases it (``release``). The scored query is handed on (``scored``,
    registered) from the decision, with the sum of its terms and its requant flag, and the
    front moves to the other bank. A rejected command is handed on at once, holding no bank.

    Members
    -------
    cmd : In(stream.Signature(decoded_layout(config)))
    bank_settings : Out(settings_layout(config)).array(SCORE_BANKS)
        The settings of the query in each bank.
    bank : Out(range(SCORE_BANKS))
        The bank the front works on.
    active : Out(1)
        The front runs a query (in ``bank``).
    release : In(1)
        The normalize unit is done with bank ``release_bank``.
    release_bank : In(range(SCORE_BANKS))
    query : Out(QueryControl())
    keys : Out(KeyControl())
    scores : Out(ScoreControl())
        The score buffer's bank ``bank``.
    lsb_requests : Out(RequestControl())
    exp_sum : Out(SumControl())
    total : In(exp_sum_width)
        The sum of the terms.
    scored : Out(stream.Signature(scored_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "cmd": In(stream.Signature(decoded_layout(cfg))),
            "bank_settings": Out(settings_layout(cfg)).array(SCORE_BANKS),
            "bank": Out(range(SCORE_BANKS)),
            "active": Out(1),
            "release": In(1),
            "release_bank": In(range(SCORE_BANKS)),
            "query": Out(QueryControl()),
            "keys": Out(KeyControl()),
            "scores": Out(ScoreControl()),
            "lsb_requests": Out(RequestControl()),
            "exp_sum": Out(SumControl()),
            "total": In(cfg.attention.exp_sum_width),
            "scored": Out(stream.Signature(scored_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cmd, keys, scores, exp_sum = self.cmd.payload, self.keys, self.scores, self.exp_sum
        scored = self.scored
        busy = Signal(SCORE_BANKS)
        requant = Signal()
        room = _registered(m, scored)
        for b in range(SCORE_BANKS):
            with m.If(self.release & (self.release_bank == b)):
                m.d.sync += busy[b].eq(0)

        def restart_keys() -> None:
            m.d.comb += [keys.start.eq(1), scores.start_write.eq(1)]

        def start_sum() -> None:
            m.d.comb += [scores.start_read.eq(1), exp_sum.start.eq(1)]

        def hand_on() -> None:
            m.d.sync += [
                scored.valid.eq(1),
                scored.payload.reject.eq(0),
                scored.payload.bank.eq(self.bank),
                scored.payload.requant.eq(requant),
                scored.payload.total.eq(self.total),
                self.bank.eq(_next(self.bank, SCORE_BANKS)),
            ]

        with m.FSM(name="front") as fsm:
            with m.State("IDLE"):
                rejected = self.cmd.payload.reject != RejectReason.NONE
                free = ~_bit(busy, self.bank)
                with m.If(rejected):
                    _pass_reject(m, self.cmd, scored, room)
                with m.Else():
                    m.d.comb += self.cmd.ready.eq(free)
                    with m.If(self.cmd.valid & free):
                        for b, settings in enumerate(self.bank_settings):
                            with m.If(self.bank == b):
                                m.d.sync += [settings.eq(cmd.settings), busy[b].eq(1)]
                        m.d.sync += requant.eq(0)
                        restart_keys()
                        m.next = "QUERY"

            with m.State("QUERY"):
                m.d.comb += self.query.load.eq(1)
                with m.If(self.query.taken):
                    m.next = "KEYS"

            with m.State("KEYS"):
                m.d.comb += [keys.load.eq(1), keys.planes.eq(KeyPlanes.MSB)]
                with m.If(scores.written):
                    start_sum()
                    m.next = "SUM"

            with m.State("SUM"):
                m.d.comb += scores.read.eq(1)
                with m.If(exp_sum.done):
                    m.next = "DECIDE"

            with m.State("DECIDE"):
                with m.If(~requant & exp_sum.flat):
                    m.d.sync += requant.eq(1)
                    restart_keys()
                    m.d.comb += self.lsb_requests.start.eq(1)
                    m.next = "REFETCH"
                with m.Elif(room):
                    hand_on()
                    m.next = "IDLE"
                with m.Else():
                    m.next = "HAND_ON"

            with m.State("REFETCH"):
                m.d.comb += [
                    keys.load.eq(1),
                    keys.planes.eq(KeyPlanes.FULL),
                    self.lsb_requests.run.eq(1),
                ]
                with m.If(scores.written):
                    start_sum()
                    m.next = "SUM"

            with m.State("HAND_ON"), m.If(room):
                hand_on()
                m.next = "IDLE"
        m.d.comb += self.active.eq(~fsm.ongoing("IDLE"))
        return m


class NormalizeControl(CoreBlock):
    """Runs the normalize unit, one query at a time, in the order the front hands them on.

    A scored query is taken when the local-V top-k engine whose turn it is (``engine``; the
    engines take the queries in turn) is free (``engine_free``: idle, its last answer consumed)
    and the values unit's queue has room: the engine is sent its command (registered), the
    query is queued for the values unit (``queued``, registered, with the bank's settings),
    and the normalize pass reads the bank (``scores``) through the exp unit and the divider,
    whose sum is ``total``; the pass ends once its beats have left the probability register
    and the ``keys`` FIFO is empty, when the bank is released. A rejected command is queued
    as it comes.

    Members
    -------
    scored : In(stream.Signature(scored_layout(config)))
    bank : Out(range(SCORE_BANKS))
        The bank the pass reads: the incoming query's while a query is taken, else the
        running query's.
    settings : In(settings_layout(config))
        The settings of bank ``bank``.
    active : Out(1)
        A normalize pass runs (on ``bank``).
    release : Out(1)
        The bank is done with.
    total : Out(exp_sum_width)
        The sum of the running query's terms.
    engine : Out(range(config.topk_engines))
        The top-k engine of the running query.
    engine_free : In(config.topk_engines)
    topk_cmd : Out(stream.Signature(topk.cmd_layout(config.topk)))
        To engine ``engine``.
    scores : Out(ScoreControl())
    probs : Out(PassControl())
    keys_pending : In(1)
        A ``keys`` beat is waiting to leave the core.
    queued : Out(stream.Signature(queued_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "scored": In(stream.Signature(scored_layout(cfg))),
            "bank": Out(range(SCORE_BANKS)),
            "settings": In(settings_layout(cfg)),
            "active": Out(1),
            "release": Out(1),
            "total": Out(cfg.attention.exp_sum_width),
            "engine": Out(range(cfg.topk_engines)),
            "engine_free": In(cfg.topk_engines),
            "topk_cmd": Out(stream.Signature(topk_cmd_layout(cfg.topk))),
            "scores": Out(ScoreControl()),
            "probs": Out(PassControl()),
            "keys_pending": In(1),
            "queued": Out(stream.Signature(queued_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        scored, queued, topk_cmd = self.scored.payload, self.queued, self.topk_cmd
        settings = self.settings  # while a query is taken: the incoming query's bank's
        running = Signal(range(SCORE_BANKS))
        room = _registered(m, queued)
        _registered(m, topk_cmd)
        with m.FSM(name="normalize") as fsm:
            with m.State("IDLE"):
                m.d.comb += self.bank.eq(scored.bank)
                free = _bit(self.engine_free, self.engine)
                with m.If(scored.reject):
                    _pass_reject(m, self.scored, queued, room)
                with m.Else():
                    m.d.comb += self.scored.ready.eq(room & free)
                    with m.If(self.scored.valid & room & free):
                        m.d.sync += [
                            running.eq(scored.bank),
                            self.total.eq(scored.total),
                            queued.valid.eq(1),
                            queued.payload.reject.eq(0),
                            queued.payload.settings.eq(settings),
                            queued.payload.engine.eq(self.engine),
                            queued.payload.requant.eq(scored.requant),
                            topk_cmd.valid.eq(1),
                            topk_cmd.payload.n.eq(settings.n),
                            topk_cmd.payload.k.eq(settings.v_keep),
                        ]
                        m.d.comb += [self.scores.start_read.eq(1), self.probs.start.eq(1)]
                        m.next = "NORMALIZE"

            with m.State("NORMALIZE"):
                m.d.comb += [self.bank.eq(running), self.scores.read.eq(1)]
                with m.If(self.probs.done & ~self.keys_pending):
                    m.d.comb += self.release.eq(1)
                    m.d.sync += self.engine.eq(_next(self.engine, cfg.topk_engines))
                    m.next = "IDLE"
        m.d.comb += self.active.eq(fsm.ongoing("NORMALIZE"))
        return m


class ValuesControl(CoreBlock):
    """Runs the values unit, one query at a time, in the order the normalize unit queues them.

    It takes a queued query when idle: a rejected one is answered at once (``output``'s
    ``reject``); otherwise it holds the settings (``settings``), clears the prob x V
    accumulators and restarts the count of V requests (``values``), waits until the query's
    top-k engine (``engine``) has its whole answer in its FIFO (``answer_ready``) and the
    normalize unit has released the query (``normalized``: its ``keys`` beats have left, so they
    all precede the ``out`` beat), then takes
    the answer (``take``) until the values are done, and sends the answer: the rounding, the
    result and the ``out`` beat. ``requant`` is the query's refetch flag.

    Members
    -------
    queued : In(stream.Signature(queued_layout(config)))
    settings : Out(QuerySettings(config))
    engine : Out(range(config.topk_engines))
    answer_ready : In(config.topk_engines)
    normalized : In(1)
        The normalize unit is done with the held query.
    taken : Out(1)
        A good query is taken.
    take : Out(1)
        The answer FIFO of ``engine`` feeds the V requests (up to the answer's last beat: the
        engine's next answer may follow it into the FIFO).
    values : Out(ValueControl(config))
    pv_clear : Out(1)
        Clears the prob x V accumulators.
    pv_beats : In(range(config.rows + 1))
        Beats in the prob x V accumulators.
    output : Out(OutputControl())
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "queued": In(stream.Signature(queued_layout(cfg))),
            "settings": Out(QuerySettings(cfg)),
            "engine": Out(range(cfg.topk_engines)),
            "answer_ready": In(cfg.topk_engines),
            "normalized": In(1),
            "taken": Out(1),
            "take": Out(1),
            "values": Out(ValueControl(cfg)),
            "pv_clear": Out(1),
            "pv_beats": In(range(cfg.rows + 1)),
            "output": Out(OutputControl()),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        queued, output = self.queued.payload, self.output
        requant = Signal()
        m.d.comb += output.requant.eq(requant)
        with m.FSM(name="values"):
            with m.State("IDLE"):
                m.d.comb += self.queued.ready.eq(1)
                with m.If(self.queued.valid):
                    with m.If(queued.reject):
                        m.next = "ERROR"
                    with m.Else():
                        m.d.sync += [
                            getattr(self.settings, name).eq(queued.settings[name])
                            for name, _ in settings_layout(cfg)
                        ]
                        m.d.sync += [self.engine.eq(queued.engine), requant.eq(queued.requant)]
                        m.d.comb += [
                            self.values.start.eq(1),
                            self.pv_clear.eq(1),
                            self.taken.eq(1),
                        ]
                        m.next = "WAIT"

            ready = _bit(self.answer_ready, self.engine) & self.normalized
            with m.State("WAIT"), m.If(ready):
                m.next = "VALUES"

            with m.State("VALUES"):
                m.d.comb += self.take.eq(~self.values.answered)
                values_done = self.values.answered & (self.pv_beats == self.values.issued)
                with m.If(values_done):
                    m.next = "OUTPUT"

            with m.State("OUTPUT"):
                m.d.comb += output.round.eq(1)
                m.next = "RESULT"

            with m.State("RESULT"):
                m.d.comb += output.answer.eq(1)
                m.next = "RESPOND"

            with m.State("ERROR"):
                m.d.comb += output.reject.eq(1)
                m.next = "RESPOND"

            with m.State("RESPOND"), m.If(output.sent):
                m.next = "IDLE"
        return m
