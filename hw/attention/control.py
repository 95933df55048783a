"""The attention core's command decoder and controller.

:class:`CommandDecoder` checks a command and derives the query's settings from it
(combinational); :class:`Controller` runs one query at a time: it holds the settings, sends the
local-V top-k engine its command, and sequences the stages of
:mod:`sparsa.hw.attention.stages` through their control interfaces, one phase after the other
(the phases are listed in :mod:`sparsa.hw.attention.attention_core`).
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import LSB_BITS
from sparsa.config.attention_core import KeyPlanes, RejectReason, ScorePass
from sparsa.hw.attention.layouts import CoreBlock, cmd_layout, decoded_layout, settings_layout
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

__all__ = ["CommandDecoder", "Controller"]


class CommandDecoder(CoreBlock):
    """A command to the query's settings, its v_keep and the reason it is rejected, if any
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
            out.v_keep.eq(cmd.v_keep),
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


class Controller(CoreBlock):
    """Runs one query at a time through the core's stages (see
    :mod:`sparsa.hw.attention.attention_core` for the phases).

    It takes a decoded command when idle: a rejected one is answered at once (``output``'s
    ``reject``); otherwise it holds the settings (``settings``), sends the top-k engine its
    command (``topk_cmd``, registered) and steps through the phases, each ended by a status of
    the stages: the query, the keys, the sum, the decision, the refetch of the LSB planes
    (once at most), the normalize pass, the values and the answer. ``requant`` records the
    refetch.

    Members
    -------
    cmd : In(stream.Signature(decoded_layout(config)))
    settings : Out(QuerySettings(config))
    topk_cmd : Out(stream.Signature(topk.cmd_layout(config.topk)))
    query : Out(QueryControl())
    keys : Out(KeyControl())
    scores : Out(ScoreControl())
    lsb_requests : Out(RequestControl())
    score_pass : Out(ScorePass)
        Where the exp unit's terms go.
    exp_sum : Out(SumControl())
    probs : Out(PassControl())
    keys_pending : In(1)
        A ``keys`` beat is waiting to leave the core.
    values : Out(ValueControl(config))
    pv_clear : Out(1)
        Clears the prob x V accumulators (while the query is loaded).
    pv_beats : In(range(config.rows + 1))
        Beats in the prob x V accumulators.
    output : Out(OutputControl())
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "cmd": In(stream.Signature(decoded_layout(cfg))),
            "settings": Out(QuerySettings(cfg)),
            "topk_cmd": Out(stream.Signature(topk_cmd_layout(cfg.topk))),
            "query": Out(QueryControl()),
            "keys": Out(KeyControl()),
            "scores": Out(ScoreControl()),
            "lsb_requests": Out(RequestControl()),
            "score_pass": Out(ScorePass),
            "exp_sum": Out(SumControl()),
            "probs": Out(PassControl()),
            "keys_pending": In(1),
            "values": Out(ValueControl(cfg)),
            "pv_clear": Out(1),
            "pv_beats": In(range(cfg.rows + 1)),
            "output": Out(OutputControl()),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        cmd, topk_cmd = self.cmd.payload, self.topk_cmd
        keys, scores, exp_sum, output = self.keys, self.scores, self.exp_sum, self.output
        requant = Signal()
        m.d.comb += output.requant.eq(requant)
        with m.If(topk_cmd.ready):
            m.d.sync += topk_cmd.valid.eq(0)

        def restart_keys() -> None:
            m.d.comb += [keys.start.eq(1), scores.start_write.eq(1)]

        def start_pass(counter: PassControl) -> None:
            m.d.comb += [scores.start_read.eq(1), counter.start.eq(1)]

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    with m.If(cmd.reject != RejectReason.NONE):
                        m.next = "ERROR"
                    with m.Else():
                        m.d.sync += [
                            getattr(self.settings, name).eq(cmd.settings[name])
                            for name, _ in settings_layout(cfg)
                        ]
                        m.d.sync += [
                            requant.eq(0),
                            topk_cmd.valid.eq(1),
                            topk_cmd.payload.n.eq(cmd.settings.n),
                            topk_cmd.payload.k.eq(cmd.v_keep),
                        ]
                        restart_keys()
                        m.d.comb += self.values.start.eq(1)
                        m.next = "QUERY"

            with m.State("QUERY"):
                m.d.comb += [self.query.load.eq(1), self.pv_clear.eq(1)]
                with m.If(self.query.taken):
                    m.next = "KEYS"

            with m.State("KEYS"):
                m.d.comb += [keys.load.eq(1), keys.planes.eq(KeyPlanes.MSB)]
                with m.If(scores.written):
                    start_pass(exp_sum)
                    m.next = "SUM"

            with m.State("SUM"):
                m.d.comb += [scores.read.eq(1), self.score_pass.eq(ScorePass.SUM)]
                with m.If(exp_sum.done):
                    m.next = "DECIDE"

            with m.State("DECIDE"):
                with m.If(~requant & exp_sum.flat):
                    m.d.sync += requant.eq(1)
                    restart_keys()
                    m.d.comb += self.lsb_requests.start.eq(1)
                    m.next = "REFETCH"
                with m.Else():
                    start_pass(self.probs)
                    m.next = "NORMALIZE"

            with m.State("REFETCH"):
                m.d.comb += [
                    keys.load.eq(1),
                    keys.planes.eq(KeyPlanes.FULL),
                    self.lsb_requests.run.eq(1),
                ]
                with m.If(scores.written):
                    start_pass(exp_sum)
                    m.next = "SUM"

            with m.State("NORMALIZE"):
                m.d.comb += [scores.read.eq(1), self.score_pass.eq(ScorePass.NORMALIZE)]
                with m.If(self.probs.done & ~self.keys_pending):
                    m.next = "VALUES"

            with m.State("VALUES"):
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
