"""The attention core's stages between its arithmetic blocks, and their control interfaces.

Each stage is a component with stream ports for the data it moves and, for the controller of
its unit (:mod:`sparsa.hw.attention.control`), a ``settings`` port (:class:`QuerySettings`,
the settings of the query the stage works on) and a ``control`` port of its own signature
(start a pass, enable, report completion). The signatures' members are named from the
controller's side: ``Out`` is what the controller drives.

:mod:`sparsa.hw.attention.attention_core` joins them, and says which cycle does what.
"""

from amaranth import Array, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from sparsa.config.attention_core import AttentionCoreConfig, CommandStatus, KeyPlanes
from sparsa.hw.attention.bit_converter import (
    full_rows_layout,
    key_planes_layout,
    lsb_rows_layout,
    msb_rows_layout,
)
from sparsa.hw.attention.dot_product import score_rows_layout, value_rows_layout
from sparsa.hw.attention.layouts import (
    CoreBlock,
    keys_layout,
    out_layout,
    prob_rows_layout,
    q_layout,
    request_layout,
    row_tag_layout,
    settings_layout,
)
from sparsa.hw.attention.softmax import exp_term_width, requant_needed, tagged_lanes
from sparsa.hw.common.fixed_point import round_shift, saturate, sign_extend, tree_sum
from sparsa.hw.common.registers import beat_counter
from sparsa.hw.common.streams import RegisterSlice, connect_mapped, transfer
from sparsa.hw.topk.topk import dout_layout

__all__ = [
    "ImportanceUpdate",
    "KeptRows",
    "KeyControl",
    "KeyLoader",
    "OutputControl",
    "OutputStage",
    "PassControl",
    "ProbabilityRegister",
    "QueryControl",
    "QueryRegister",
    "QuerySettings",
    "RequestControl",
    "RowRequester",
    "ScoreBuffer",
    "ScoreControl",
    "SumControl",
    "TermSum",
    "ValueControl",
    "ValueRegister",
    "kept_layout",
    "prob_entry_layout",
]


# ---- control interfaces (members from the controller's side) ----------------------------------


class QuerySettings(wiring.Signature):
    """The settings of the query a stage works on, one member per field of
    :func:`~sparsa.hw.attention.layouts.settings_layout`, held while the stage's unit runs the
    query."""

    def __init__(self, config: AttentionCoreConfig) -> None:
        super().__init__({name: Out(field.shape) for name, field in settings_layout(config)})


class QueryControl(wiring.Signature):
    """``load``: the register takes the ``q`` beat; ``taken``: the beat came this cycle."""

    def __init__(self) -> None:
        super().__init__({"load": Out(1), "taken": In(1)})


class KeyControl(wiring.Signature):
    """``start``: restart at row 0; ``load``: take key beats of ``planes`` (``MSB`` from
    ``k_msb``, ``FULL`` from ``k_lsb`` with the buffered MSB rows), up to the query's beats."""

    def __init__(self) -> None:
        super().__init__({"start": Out(1), "load": Out(1), "planes": Out(KeyPlanes)})


class ScoreControl(wiring.Signature):
    """``start_write``: the next scores go to row 0, and the maximum restarts; ``start_read``:
    the next pass reads from row 0; ``read``: read a row each cycle the pass moves, up to the
    query's beats; ``written``: every row of the query is written."""

    def __init__(self) -> None:
        super().__init__(
            {"start_write": Out(1), "start_read": Out(1), "read": Out(1), "written": In(1)}
        )


class RequestControl(wiring.Signature):
    """``start``: restart at row 0; ``run``: offer the requests."""

    def __init__(self) -> None:
        super().__init__({"start": Out(1), "run": Out(1)})


class PassControl(wiring.Signature):
    """``start``: restart the count of beats; ``done``: the query's beats have passed."""

    def __init__(self) -> None:
        super().__init__({"start": Out(1), "done": In(1)})


class SumControl(wiring.Signature):
    """:class:`PassControl`, and ``flat``: the summed distribution asks for a recompute
    (:func:`~sparsa.hw.attention.softmax.requant_needed`)."""

    def __init__(self) -> None:
        super().__init__({"start": Out(1), "done": In(1), "flat": In(1)})


class ValueControl(wiring.Signature):
    """``start``: restart the count; ``issued``: V request beats sent since; ``answered``: the
    top-k engine's last answer beat came."""

    def __init__(self, config: AttentionCoreConfig) -> None:
        super().__init__({"start": Out(1), "issued": In(range(config.rows + 1)), "answered": In(1)})


class OutputControl(wiring.Signature):
    """``round``: load the rounded output vector; ``answer``: offer it (with ``requant`` and the
    updated head importance); ``reject``: offer an error beat; ``sent``: the beat left."""

    def __init__(self) -> None:
        super().__init__(
            {
                "round": Out(1),
                "answer": Out(1),
                "reject": Out(1),
                "requant": Out(1),
                "sent": In(1),
            }
        )


# ---- helpers and layouts ------------------------------------------------------------------------


def _lanes_of_row(config: AttentionCoreConfig, n: Value, row: Value) -> Value:
    """Valid lanes (keys) of buffer row ``row`` of a query of n keys: min(E, n - row * E)."""
    E = config.lanes
    left = n - (row << (E.bit_length() - 1))
    return Mux(left > E, E, left)[: E.bit_length()]


def _extend_rows(rows: Value, settings: wiring.PureInterface, width: int) -> Value:
    """Every lane of ``rows`` (nested arrays), its setting's low bits sign-extended to
    ``width`` bits, in the same order."""
    layout = rows.shape()
    if isinstance(layout, data.ArrayLayout):
        return Cat(*(_extend_rows(rows[i], settings, width) for i in range(layout.length)))
    return sign_extend(rows, settings.sign, settings.mask)[:width]


def prob_entry_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A beat of E probabilities with its row tag and the row's token importance so far."""
    att = config.attention
    return data.StructLayout(
        {
            "probs": data.ArrayLayout(att.prob_width, config.lanes),
            "tag": row_tag_layout(config),
            "importance": data.ArrayLayout(att.token_importance_bits, config.lanes),
        }
    )


def kept_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """The rows a top-k answer beat keeps: their indices and probabilities, ``count`` valid."""
    return data.StructLayout(
        {
            "index": data.ArrayLayout(config.topk.index_width, config.lanes),
            "probs": data.ArrayLayout(config.attention.prob_width, config.lanes),
            "count": range(config.lanes + 1),
        }
    )


def _importance_port(config: AttentionCoreConfig, port: type) -> wiring.Signature:
    shape = data.ArrayLayout(config.attention.token_importance_bits, config.lanes)
    return port.Signature(addr_width=ceil_log2(config.rows), shape=shape)


# ---- stages -------------------------------------------------------------------------------------


class QueryRegister(CoreBlock):
    """Holds the query: takes the ``q`` beat while ``control.load`` is high and keeps its lanes
    sign-extended from the setting's T = b + 4 bits.

    Members
    -------
    i_stream : In(stream.Signature(q_layout(config)))
    control : In(QueryControl())
    settings : In(QuerySettings(config))
    query : Out(data.ArrayLayout(signed(T), D))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(q_layout(cfg))),
            "control": In(QueryControl()),
            "settings": In(QuerySettings(cfg)),
            "query": Out(data.ArrayLayout(signed(cfg.attention.total_bits), cfg.dim)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        taken = transfer(self.i_stream)
        m.d.comb += [self.i_stream.ready.eq(self.control.load), self.control.taken.eq(taken)]
        with m.If(taken):
            m.d.sync += self.query.eq(
                _extend_rows(self.i_stream.payload, self.settings, self.config.attention.total_bits)
            )
        return m


class KeyLoader(CoreBlock):
    """Key beats into the K buffer and out to the converter, registered.

    While ``control.load`` is high it takes up to the query's beats from ``msb`` (``planes``
    ``MSB``: each beat is also written into the K buffer) or from ``lsb`` (``FULL``: the beat
    is registered). The K buffer's read port, transparent for that write, gives the beat's MSB
    rows the next cycle, when ``o_stream`` offers the beat with its valid rows. No
    back-pressure on the output.

    Members
    -------
    msb : In(stream.Signature(msb_rows_layout(config)))
    lsb : In(stream.Signature(lsb_rows_layout(config)))
    control : In(KeyControl())
    settings : In(QuerySettings(config))
    o_stream : Out(stream.Signature(key_planes_layout(config), always_ready=True))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "msb": In(stream.Signature(msb_rows_layout(cfg))),
            "lsb": In(stream.Signature(lsb_rows_layout(cfg))),
            "control": In(KeyControl()),
            "settings": In(QuerySettings(cfg)),
            "o_stream": Out(stream.Signature(key_planes_layout(cfg), always_ready=True)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, control, out = self.config, self.control, self.o_stream.payload
        m.submodules.k_buffer = k_buffer = Memory(
            shape=msb_rows_layout(cfg), depth=cfg.rows, init=[]
        )
        k_wr = k_buffer.write_port()
        k_rd = k_buffer.read_port(transparent_for=(k_wr,))
        fire = Signal()
        fed = beat_counter(m, fire, restart=control.start, limit=cfg.rows, name="fed")
        lsb_rows = Signal(lsb_rows_layout(cfg))
        count = Signal(range(cfg.lanes + 1))
        planes = Signal(KeyPlanes)
        take = control.load & (fed != self.settings.beats)
        m.d.comb += [
            self.msb.ready.eq(take & (control.planes == KeyPlanes.MSB)),
            self.lsb.ready.eq(take & (control.planes == KeyPlanes.FULL)),
            k_wr.addr.eq(fed),
            k_wr.data.eq(self.msb.payload),
            k_wr.en.eq(transfer(self.msb)),
            k_rd.addr.eq(fed),
            out.msb.eq(k_rd.data),
            out.lsb.eq(lsb_rows),
            out.count.eq(count),
            out.planes.eq(planes),
            fire.eq(transfer(self.msb) | transfer(self.lsb)),
        ]
        m.d.sync += [
            self.o_stream.valid.eq(fire),
            count.eq(_lanes_of_row(cfg, self.settings.n, fed)),
            lsb_rows.eq(self.lsb.payload),
            planes.eq(control.planes),
        ]
        return m


class ScoreBuffer(CoreBlock):
    """The score buffer: the Q x K pass writes it, the sum and normalize passes read it.

    Write side: each beat of ``i_stream`` goes to the next row and into the running maximum
    of the valid scores (``max``). Read side: while ``control.read`` is high it reads the next
    row, up to the query's beats, on every cycle ``o_stream`` is ready; the row is offered the
    next cycle, tagged with its index and valid lanes (one cycle of latency, and the read waits
    with the rest of the pass while the output is not ready).

    Members
    -------
    i_stream : In(stream.Signature(score_rows_layout(config), always_ready=True))
    control : In(ScoreControl())
    settings : In(QuerySettings(config))
    max : Out(signed(S))
    o_stream : Out(stream.Signature(tagged_lanes("scores", signed(S), E, row_tag_layout)))
    """

    def _members(self) -> dict:
        cfg = self.config
        score = signed(cfg.attention.score_bits)
        rows = tagged_lanes("scores", score, cfg.lanes, row_tag_layout(cfg))
        return {
            "i_stream": In(stream.Signature(score_rows_layout(cfg), always_ready=True)),
            "control": In(ScoreControl()),
            "settings": In(QuerySettings(cfg)),
            "max": Out(score),
            "o_stream": Out(stream.Signature(rows)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, control, settings = self.config, self.control, self.settings
        E, S = cfg.lanes, cfg.attention.score_bits
        shape = data.ArrayLayout(signed(S), E)
        m.submodules.buffer = buffer = Memory(shape=shape, depth=cfg.rows, init=[])
        wr, rd = buffer.write_port(), buffer.read_port()

        # Write side.
        beat, valid = self.i_stream.payload, self.i_stream.valid
        written = beat_counter(
            m, valid, restart=control.start_write, limit=cfg.rows, name="written"
        )
        m.d.comb += [
            wr.addr.eq(written),
            wr.data.eq(beat.scores),
            wr.en.eq(valid),
            control.written.eq(written == settings.beats),
        ]
        low = -(1 << (S - 1))
        beat_max = Mux(beat.count > 0, beat.scores[0], low)
        for r in range(1, E):
            beat_max = Mux((r < beat.count) & (beat.scores[r] > beat_max), beat.scores[r], beat_max)
        with m.If(valid):
            m.d.sync += self.max.eq(Mux(beat_max > self.max, beat_max, self.max))
        with m.If(control.start_write):
            m.d.sync += self.max.eq(low)

        # Read side.
        advance, issue = self.o_stream.ready, Signal()
        read_row = beat_counter(
            m, advance & issue, restart=control.start_read, limit=cfg.rows, name="read_row"
        )
        loaded = Signal()
        tag = Signal(row_tag_layout(cfg))
        m.d.comb += [
            issue.eq(control.read & (read_row != settings.beats)),
            rd.addr.eq(read_row),
            rd.en.eq(advance),
            self.o_stream.valid.eq(loaded),
            self.o_stream.payload.scores.eq(rd.data),
            self.o_stream.payload.tag.eq(tag),
        ]
        with m.If(advance):
            m.d.sync += [
                loaded.eq(issue),
                tag.row.eq(read_row),
                tag.count.eq(_lanes_of_row(cfg, settings.n, read_row)),
            ]
        return m


class RowRequester(CoreBlock):
    """Read requests of rows 0 to n - 1, E per beat, registered: while ``control.run`` is high
    a beat is offered each cycle the previous one leaves, until the query's beats are sent.

    Members
    -------
    control : In(RequestControl())
    settings : In(QuerySettings(config))
    o_stream : Out(stream.Signature(request_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "control": In(RequestControl()),
            "settings": In(QuerySettings(cfg)),
            "o_stream": Out(stream.Signature(request_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, o = self.config, self.o_stream
        requested = Signal(range(cfg.rows + 1))
        first = requested << (cfg.lanes.bit_length() - 1)
        with m.If(self.control.run & (~o.valid | o.ready)):
            with m.If(requested != self.settings.beats):
                m.d.sync += [
                    o.valid.eq(1),
                    o.payload.count.eq(_lanes_of_row(cfg, self.settings.n, requested)),
                    requested.eq(requested + 1),
                ]
                m.d.sync += [o.payload.index[r].eq(first + r) for r in range(cfg.lanes)]
            with m.Else():
                m.d.sync += o.valid.eq(0)
        with m.If(self.control.start):
            m.d.sync += requested.eq(0)
        return m


class TermSum(CoreBlock):
    """Adds up the softmax terms of the sum pass (the valid lanes of each beat) and decides,
    from the sum alone, whether the distribution is flat enough to recompute with the LSBs.

    Members
    -------
    i_stream : In(stream.Signature(tagged_lanes("terms", W + 1, E, row_tag_layout),
        always_ready=True))
    control : In(SumControl())
    settings : In(QuerySettings(config))
    total : Out(exp_sum_width)
    """

    def _members(self) -> dict:
        cfg = self.config
        terms = tagged_lanes("terms", exp_term_width(cfg), cfg.lanes, row_tag_layout(cfg))
        return {
            "i_stream": In(stream.Signature(terms, always_ready=True)),
            "control": In(SumControl()),
            "settings": In(QuerySettings(cfg)),
            "total": Out(cfg.attention.exp_sum_width),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, beat = self.config, self.i_stream.payload
        valid, restart = self.i_stream.valid, self.control.start
        summed = beat_counter(m, valid, restart=restart, limit=cfg.rows, name="summed")
        terms = [Mux(r < beat.tag.count, beat.terms[r], 0) for r in range(cfg.lanes)]
        m.d.comb += [
            self.control.done.eq(summed == self.settings.beats),
            self.control.flat.eq(requant_needed(cfg, self.total, self.settings.threshold)),
        ]
        with m.If(valid):
            m.d.sync += self.total.eq(self.total + tree_sum(terms))
        with m.If(restart):
            m.d.sync += self.total.eq(0)
        return m


class ProbabilityRegister(CoreBlock):
    """The normalize pass's last register: a beat of probabilities, and the token importance of
    its row, read from the token-importance memory as the beat is taken.

    A :class:`~sparsa.hw.common.streams.RegisterSlice`; the memory's read port loads at the
    same time, from the incoming beat's row. ``control.done`` once the query's beats have left.

    Members
    -------
    i_stream : In(stream.Signature(tagged_lanes("probs", P + 1, E, row_tag_layout)))
    importance : In(ReadPort.Signature(...))
        A read port of the token-importance memory.
    control : In(PassControl())
    settings : In(QuerySettings(config))
    o_stream : Out(stream.Signature(prob_entry_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        probs = tagged_lanes("probs", cfg.attention.prob_width, cfg.lanes, row_tag_layout(cfg))
        return {
            "i_stream": In(stream.Signature(probs)),
            "importance": In(_importance_port(cfg, ReadPort)),
            "control": In(PassControl()),
            "settings": In(QuerySettings(cfg)),
            "o_stream": Out(stream.Signature(prob_entry_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        probs = tagged_lanes(
            "probs",
            self.config.attention.prob_width,
            self.config.lanes,
            row_tag_layout(self.config),
        )
        m.submodules.register = register = RegisterSlice(probs)
        wiring.connect(m, wiring.flipped(self.i_stream), register.i_stream)
        m.d.comb += [
            self.importance.addr.eq(self.i_stream.payload.tag.row),
            self.importance.en.eq(register.i_stream.ready),
        ]
        connect_mapped(
            m,
            register.o_stream,
            wiring.flipped(self.o_stream),
            lambda beat: {"probs": beat.probs, "tag": beat.tag, "importance": self.importance.data},
        )
        left = beat_counter(
            m,
            transfer(self.o_stream),
            restart=self.control.start,
            limit=self.config.rows,
            name="left",
        )
        m.d.comb += self.control.done.eq(left == self.settings.beats)
        return m


class ImportanceUpdate(CoreBlock):
    """A beat of probabilities to a ``keys`` beat: each valid lane's token importance is
    updated (the probability added, saturating; restarted from it for ``clear_tokens``) and
    written back as the beat leaves. Combinational; ``last`` on the query's final beat.

    Members
    -------
    i_stream : In(stream.Signature(prob_entry_layout(config)))
    importance : In(WritePort.Signature(...))
        A write port of the token-importance memory.
    settings : In(QuerySettings(config))
    o_stream : Out(stream.Signature(keys_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(prob_entry_layout(cfg))),
            "importance": In(_importance_port(cfg, WritePort)),
            "settings": In(QuerySettings(cfg)),
            "o_stream": Out(stream.Signature(keys_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, beat, out, wr = (
            self.config,
            self.i_stream.payload,
            self.o_stream.payload,
            self.importance,
        )
        top = (1 << cfg.attention.token_importance_bits) - 1
        for r in range(cfg.lanes):
            old = beat.importance[r]
            updated = Mux(self.settings.clear_tokens, 0, old) + beat.probs[r]
            m.d.comb += wr.data[r].eq(
                Mux(r < beat.tag.count, Mux(updated > top, top, updated), old)
            )
        m.d.comb += [
            self.o_stream.valid.eq(self.i_stream.valid),
            self.i_stream.ready.eq(self.o_stream.ready),
            out.importance.eq(wr.data),
            out.count.eq(beat.tag.count),
            out.last.eq(beat.tag.row == self.settings.beats - 1),
            wr.addr.eq(beat.tag.row),
            wr.en.eq(transfer(self.o_stream)),
        ]
        if cfg.emit_probs:
            m.d.comb += out.prob.eq(beat.probs)
        return m


class KeptRows(CoreBlock):
    """The top-k engine's answer beats to the rows to fetch: beats without kept rows are
    dropped, the others pass with their indices and probabilities. Combinational; counts the
    beats that pass and remembers the answer's last beat for the controller.

    Members
    -------
    i_stream : In(stream.Signature(topk.dout_layout(config.topk)))
    control : In(ValueControl(config))
    o_stream : Out(stream.Signature(kept_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(dout_layout(cfg.topk))),
            "control": In(ValueControl(cfg)),
            "o_stream": Out(stream.Signature(kept_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        answer, kept, control = self.i_stream.payload, self.o_stream.payload, self.control
        m.d.comb += [
            self.o_stream.valid.eq(self.i_stream.valid & (answer.count != 0)),
            self.i_stream.ready.eq(self.o_stream.ready),
            kept.index.eq(answer.index),
            kept.probs.eq(answer.value),
            kept.count.eq(answer.count),
        ]
        issued = beat_counter(
            m, transfer(self.o_stream), restart=control.start, limit=self.config.rows, name="issued"
        )
        m.d.comb += control.issued.eq(issued)
        with m.If(transfer(self.i_stream) & answer.last):
            m.d.sync += control.answered.eq(1)
        with m.If(control.start):
            m.d.sync += control.answered.eq(0)
        return m


class ValueRegister(CoreBlock):
    """A V beat with its probabilities into a register, its lanes sign-extended from the
    setting's T = b + 4 bits (a :class:`~sparsa.hw.common.streams.RegisterSlice`).

    Members
    -------
    i_stream : In(stream.Signature(StructLayout({"probs": prob_rows_layout(config),
        "values": full_rows_layout(config)})))
    settings : In(QuerySettings(config))
    o_stream : Out(stream.Signature(value_rows_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        joined = data.StructLayout(
            {"probs": prob_rows_layout(cfg), "values": full_rows_layout(cfg)}
        )
        return {
            "i_stream": In(stream.Signature(joined)),
            "settings": In(QuerySettings(cfg)),
            "o_stream": Out(stream.Signature(value_rows_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        width = self.config.attention.total_bits
        m.submodules.register = register = RegisterSlice(value_rows_layout(self.config))
        connect_mapped(
            m,
            wiring.flipped(self.i_stream),
            register.i_stream,
            lambda beat: {
                "probs": beat.probs.probs,
                "count": beat.probs.count,
                "values": _extend_rows(beat.values, self.settings, width),
            },
        )
        wiring.connect(m, register.o_stream, wiring.flipped(self.o_stream))
        return m


class OutputStage(CoreBlock):
    """The answer: the prob x V sums shifted by ``out_shift``, rounded and saturated
    (``control.round``, one register stage), then, with the head importance updated, the
    ``out`` beat (``control.answer``, registered); or an error beat (``control.reject``). The
    beat is offered until it leaves.

    The head importance lives in ``config.heads`` saturating registers (reset to zero), the
    command's ``head`` selecting one and ``clear_head`` restarting it.

    Members
    -------
    acc : In(data.ArrayLayout(signed(pv_acc_width), D))
    control : In(OutputControl())
    settings : In(QuerySettings(config))
    o_stream : Out(stream.Signature(out_layout(config)))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "acc": In(data.ArrayLayout(signed(cfg.attention.pv_acc_width), cfg.dim)),
            "control": In(OutputControl()),
            "settings": In(QuerySettings(cfg)),
            "o_stream": Out(stream.Signature(out_layout(cfg))),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, control, settings = self.config, self.control, self.settings
        att, o = cfg.attention, self.o_stream
        hib = att.head_importance_bits
        out = [Signal(signed(att.out_bits), name=f"out_{d}") for d in range(cfg.dim)]
        heads = Array(Signal(hib, name=f"head_importance_{h}") for h in range(cfg.heads))
        magnitude = tree_sum([abs(x) for x in out])
        head_sum = Mux(settings.clear_head, 0, heads[settings.head]) + magnitude
        head_new = Mux(head_sum > (1 << hib) - 1, (1 << hib) - 1, head_sum)
        m.d.comb += control.sent.eq(transfer(o))
        with m.If(control.round):
            m.d.sync += [
                x.eq(saturate(round_shift(self.acc[d], settings.out_shift), att.out_bits))
                for d, x in enumerate(out)
            ]
        with m.If(transfer(o)):
            m.d.sync += o.valid.eq(0)
        with m.If(control.answer):
            m.d.sync += [
                o.valid.eq(1),
                o.payload.requant.eq(control.requant),
                o.payload.head_importance.eq(head_new),
                o.payload.error.eq(CommandStatus.ACCEPTED),
                heads[settings.head].eq(head_new),
            ]
            m.d.sync += [o.payload.out[d].eq(x) for d, x in enumerate(out)]
        with m.If(control.reject):
            m.d.sync += [
                o.valid.eq(1),
                o.payload.eq(0),
                o.payload.error.eq(CommandStatus.REJECTED),
            ]
        return m
