"""SAT's weight-update vector engine: one AMP optimizer step on FP32 master weights.

Beside the PE array, the engine applies SGD with momentum, weight decay and SR-STE's decay of
pruned weights to FP32 master weights, with NVIDIA AMP's dynamic loss scaling, and writes the
half-precision (``config.dtype``) copy of the updated weights for the next iteration. It follows
:mod:`sparsa.models.golden.weight_update` bit for bit; its docstring is the contract: for one
element, in this order, each line one FP32 multiply or add rounded to nearest even (no fused
multiply-add), every NaN canonical::

    g  = widen(grad) * inv_scale           # inv_scale = 2^-k, S = 2^k the loss scale
    g  = g + wd * w
    g  = g + (lam * (1 - m)) * w           # lam for a pruned weight (m = 0), +0 for a kept one
    v' = mu * v + g
    w' = w - lr * v'
    copy = to_half(w')                     # RNE, overflow to Inf

and a step is skipped (nothing written, the scale halved, the clean-step count reset) when any
of its gradients is Inf or NaN; after ``growth_interval`` consecutive clean steps the scale
doubles; S stays within 2^``min_scale_log2`` .. 2^``max_scale_log2``.

Two passes. Whether a step is skipped depends on every gradient of the step, so the engine
reads the gradients twice (as AMP does: ``unscale_`` checks them, then ``step`` updates):

1. *Check*: the command gives the element count; the engine takes ceil(count / lanes)
   ``grads`` beats and ORs the Inf/NaN test of each counted gradient (lanes past ``count`` in
   the last beat are padding, not checked). One more cycle decides: the scale state is updated
   and the ``status`` beat (skipped, the new scale, the new clean count) registered.
2. *Update* (only for a step that is not skipped and not empty): ceil(count / lanes) ``data``
   beats, each lane a weight, its momentum, its gradient and its mask bit, go through the
   pipeline, and each leaves as one beat on each of ``weights``, ``momentum`` and ``copies``.
   Padding lanes are computed like the others (their outputs are the contract applied to
   whatever they hold). A skipped step takes no ``data`` beat: software reads the status
   before sending them, and its stored weights, momentum and copies stay as they were.

The cost: the gradients are read twice, and an unskipped step takes ceil(count / lanes) more
cycles than one pass would (:mod:`sparsa.sim.blocks.weight_update` counts every cycle).

Pipeline. Per lane, five :class:`~sparsa.hw.common.floats.Fp32Multiplier` (``Lm`` =
``multiplier_stages`` cycles), four :class:`~sparsa.hw.common.floats.Fp32Adder` (``La`` =
``adder_stages``) and one :class:`~sparsa.hw.common.floats.Fp32ToHalf` (1 cycle): the four
independent products (``grad * inv_scale``, ``wd * w``, ``lam' * w``, ``mu * v``), three
dependent adds, the ``lr`` product, the weight add and the rounding: :func:`pipeline_latency`
``T = 2 Lm + 4 La + 1`` cycles from a ``data`` transfer to its output beat being offered. The
half-precision gradient is widened to FP32 exactly, combinationally, before its multiplier. The
whole pipeline advances together (one enable, every register of it under
:class:`~amaranth.hdl.EnableInserter`) whenever its last stage is empty or its beat is taken by
all three outputs, at one beat per cycle.

Streams follow the :mod:`amaranth.lib.stream` rules: a transfer happens on a cycle where valid
and ready are high; every valid here is a register or the output fork's (``weights``,
``momentum``, ``copies`` each take the output beat in their own cycle and never see it again,
as :class:`~sparsa.hw.common.streams.StreamFork` does) and, once high, holds with a stable
payload until its transfer; no valid depends on a ready. ``cmd.ready`` and ``grads.ready`` depend
on the engine's state only; ``data.ready`` depends in the same cycle on the outputs' readies.
A command is taken only when the previous step has finished: its status registered and every
output beat transferred.
"""

from typing import TypeVar

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.formats import FP32, FloatLayout
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.common.floats import Fp32Adder, Fp32Multiplier, Fp32ToHalf
from sparsa.hw.common.streams import StreamFork, connect_mapped, transfer

__all__ = [
    "WeightUpdate",
    "cmd_layout",
    "data_layout",
    "grads_layout",
    "pipeline_latency",
    "status_layout",
]

_SIGN = 1 << (FP32.width - 1)
_Unit = TypeVar("_Unit", Fp32Multiplier, Fp32Adder, Fp32ToHalf)


def _widen(bits: Value, layout: FloatLayout) -> Value:
    """The FP32 pattern of the half-precision pattern ``bits`` of ``layout``: the same value,
    exactly (a NaN stays a NaN). Combinational."""
    f, e = layout.fraction_bits, layout.exponent_bits
    pad = Const(0, FP32.fraction_bits - f)
    sign, exponent, fraction = bits[f + e], bits[f : f + e], bits[:f]
    if e == FP32.exponent_bits:  # BF16: the upper half of an FP32 pattern
        return Cat(pad, bits)
    rebias = FP32.bias - layout.bias
    special = Const(FP32.max_exponent, FP32.exponent_bits)
    normal = Cat(pad, fraction, Mux(exponent == layout.max_exponent, special, exponent + rebias))
    # A subnormal (or zero): normalised by the position p of its leading one, the highest p
    # winning; it is 2^(p + 1 - bias - f) times 1.(the bits below p).
    small: Value = Const(0, FP32.width - 1)
    for p in range(f):
        biased = Const(p + 1 - layout.bias - f + FP32.bias, FP32.exponent_bits)
        small = Mux(fraction[p], Cat(pad, (fraction << (f - p))[:f], biased), small)
    return Cat(Mux(exponent == 0, small, normal[: FP32.width - 1]), sign)


def pipeline_latency(config: WeightUpdateConfig) -> int:
    """Cycles from a ``data`` transfer to its output beat being offered: ``2 Lm + 4 La + 1``."""
    return 2 * config.multiplier_stages + 4 * config.adder_stages + Fp32ToHalf.LATENCY


def cmd_layout(config: WeightUpdateConfig) -> data.StructLayout:
    """One beat per step: the element count (0 to ``max_count``) and the hyper-parameters as
    FP32 bit patterns (learning rate, momentum, weight decay, SR-STE decay)."""
    return data.StructLayout({
        "count": unsigned(config.max_count.bit_length()),
        "lr": unsigned(FP32.width),
        "momentum": unsigned(FP32.width),
        "weight_decay": unsigned(FP32.width),
        "decay": unsigned(FP32.width),
    })


def grads_layout(config: WeightUpdateConfig) -> data.ArrayLayout:
    """One beat of the check pass: ``lanes`` half-precision gradient patterns."""
    return data.ArrayLayout(unsigned(config.dtype.width), config.lanes)


def data_layout(config: WeightUpdateConfig) -> data.ArrayLayout:
    """One beat of the update pass: per lane the FP32 weight and momentum, the half-precision
    gradient and the mask bit (1: kept by the N:M mask, 0: pruned)."""
    element = data.StructLayout({
        "weight": unsigned(FP32.width),
        "momentum": unsigned(FP32.width),
        "grad": unsigned(config.dtype.width),
        "mask": 1,
    })
    return data.ArrayLayout(element, config.lanes)


def status_layout(config: WeightUpdateConfig) -> data.StructLayout:
    """One beat per step, after its check pass: whether it is skipped, and the scale state after
    it (log2 of the loss scale, the count of consecutive clean steps)."""
    return data.StructLayout({
        "skipped": 1,
        "scale_log2": range(config.max_scale_log2 + 1),
        "clean": range(config.growth_interval),
    })


def _outputs_layout(config: WeightUpdateConfig) -> data.StructLayout:
    """The pipeline's output beat, before the fork into the three output streams."""
    return data.StructLayout({
        "weights": data.ArrayLayout(unsigned(FP32.width), config.lanes),
        "momentum": data.ArrayLayout(unsigned(FP32.width), config.lanes),
        "copies": data.ArrayLayout(unsigned(config.dtype.width), config.lanes),
    })


class WeightUpdate(wiring.Component):
    """SAT's weight-update vector engine (see the module docstring for the contract, the two
    passes, the pipeline and the stream rules).

    Parameters
    ----------
    config : WeightUpdateConfig

    Members
    -------
    cmd : In(stream.Signature(cmd_layout(config)))
        One beat per step: the count and the hyper-parameters.
    grads : In(stream.Signature(grads_layout(config)))
        The check pass: ceil(count / lanes) beats per step.
    data : In(stream.Signature(data_layout(config)))
        The update pass: ceil(count / lanes) beats per step that is neither skipped nor empty,
        none otherwise.
    weights, momentum : Out(stream.Signature(data.ArrayLayout(unsigned(32), lanes)))
        The updated FP32 weights and momentum, one beat per ``data`` beat.
    copies : Out(stream.Signature(data.ArrayLayout(unsigned(16), lanes)))
        The half-precision copies of the updated weights, one beat per ``data`` beat.
    status : Out(stream.Signature(status_layout(config)))
        One beat per step, registered one cycle after its check pass.
    """

    def __init__(self, config: WeightUpdateConfig) -> None:
        if not isinstance(config, WeightUpdateConfig):
            raise TypeError(f"config must be a WeightUpdateConfig, not {type(config).__name__}")
        self._config = config
        outputs = _outputs_layout(config).members
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(config))),
            "grads": In(stream.Signature(grads_layout(config))),
            "data": In(stream.Signature(data_layout(config))),
            "weights": Out(stream.Signature(outputs["weights"])),
            "momentum": Out(stream.Signature(outputs["momentum"])),
            "copies": Out(stream.Signature(outputs["copies"])),
            "status": Out(stream.Signature(status_layout(config))),
        })

    @property
    def config(self) -> WeightUpdateConfig:
        return self._config

    @property
    def latency(self) -> int:
        """:func:`pipeline_latency` of the configuration."""
        return pipeline_latency(self._config)

    @property
    def number_formats(self) -> dict[str, str]:
        """The format of the half-precision values each stream carries (for the Verilog
        sidecar); the others are FP32."""
        fmt = self._config.dtype.value
        return {"grads": fmt, "data": f"fp32 weight and momentum, {fmt} grad", "copies": fmt}

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        L = cfg.lanes
        layout = cfg.dtype.float_layout
        req = self.cmd.payload

        # ---- step registers, loaded with the command ------------------------------------------
        count = Signal.like(req.count)
        hyper = {k: Signal(FP32.width, name=k) for k in ("lr", "momentum", "weight_decay",
                                                         "decay")}
        scale = Signal(range(cfg.max_scale_log2 + 1), init=cfg.init_scale_log2)
        clean = Signal(range(cfg.growth_interval))
        step_scale = Signal.like(scale)  # the scale the step's gradients carry
        remaining = Signal.like(req.count)  # elements of the current pass not yet taken
        last = Signal()
        overflow = Signal()
        m.d.comb += last.eq(remaining <= L)

        # ---- the pipeline ---------------------------------------------------------------------
        en = Signal()  # the whole pipeline advances this cycle
        beat_in = Signal()  # a data beat enters this cycle
        m.d.comb += beat_in.eq(transfer(self.data))
        out = self._pipeline(m, en, beat_in, hyper, step_scale)
        depth = self.latency
        valid = [Signal(name=f"valid_{i}") for i in range(depth)]
        with m.If(en):
            m.d.sync += [r.eq(v) for r, v in zip(valid, [beat_in, *valid[:-1]], strict=True)]
        m.submodules.fork = fork = StreamFork(_outputs_layout(cfg), 3)
        m.d.comb += [
            fork.i_stream.valid.eq(valid[-1]),
            fork.i_stream.payload.eq(out),
            en.eq(~valid[-1] | fork.i_stream.ready),
        ]
        for port, name in zip(fork.o_streams, ("weights", "momentum", "copies"), strict=True):
            connect_mapped(m, port, wiring.flipped(getattr(self, name)),
                           lambda p, name=name: p[name])
        drained = Signal()  # no beat is left in the pipeline after this edge
        m.d.comb += drained.eq(~Cat(*valid[:-1]).any() & (~valid[-1] | fork.i_stream.ready))

        # ---- status register ------------------------------------------------------------------
        with m.If(transfer(self.status)):
            m.d.sync += self.status.valid.eq(0)
        new_scale = Signal.like(scale)
        new_clean = Signal.like(clean)
        with m.If(overflow):
            m.d.comb += [new_scale.eq(Mux(scale > cfg.min_scale_log2, scale - 1, scale)),
                         new_clean.eq(0)]
        with m.Elif(clean == cfg.growth_interval - 1):
            m.d.comb += [new_scale.eq(Mux(scale < cfg.max_scale_log2, scale + 1, scale)),
                         new_clean.eq(0)]
        with m.Else():
            m.d.comb += [new_scale.eq(scale), new_clean.eq(clean + 1)]

        # ---- the Inf/NaN test of a grads beat's counted lanes ---------------------------------
        f, e = layout.fraction_bits, layout.exponent_bits
        found = Cat(*((self.grads.payload[i][f : f + e].all()) & (remaining > i)
                      for i in range(L))).any()

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [
                        count.eq(req.count),
                        remaining.eq(req.count),
                        overflow.eq(0),
                        step_scale.eq(scale),
                        *(hyper[k].eq(req[k]) for k in hyper),
                    ]
                    with m.If(req.count == 0):
                        m.next = "DECIDE"
                    with m.Else():
                        m.next = "CHECK"

            with m.State("CHECK"):
                m.d.comb += self.grads.ready.eq(1)
                with m.If(self.grads.valid):
                    m.d.sync += [overflow.eq(overflow | found), remaining.eq(remaining - L)]
                    with m.If(last):
                        m.next = "DECIDE"

            with m.State("DECIDE"), m.If(~self.status.valid | self.status.ready):
                m.d.sync += [
                    self.status.valid.eq(1),
                    self.status.payload.skipped.eq(overflow),
                    self.status.payload.scale_log2.eq(new_scale),
                    self.status.payload.clean.eq(new_clean),
                    scale.eq(new_scale),
                    clean.eq(new_clean),
                    remaining.eq(count),
                ]
                with m.If(overflow | (count == 0)):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "UPDATE"

            with m.State("UPDATE"):
                m.d.comb += self.data.ready.eq(en)
                with m.If(beat_in):
                    m.d.sync += remaining.eq(remaining - L)
                    with m.If(last):
                        m.next = "DRAIN"

            with m.State("DRAIN"), m.If(drained):
                m.next = "IDLE"
        return m

    def _pipeline(
        self,
        m: Module,
        en: Value,
        beat_in: Value,
        hyper: dict[str, Signal],
        step_scale: Value,
    ) -> Value:
        """Build every lane's datapath from the ``data`` payload; return the output beat (the
        pipeline's last registers), a value of :func:`_outputs_layout`."""
        cfg = self._config
        Lm, La = cfg.multiplier_stages, cfg.adder_stages
        layout = cfg.dtype.float_layout
        inv_scale = Signal(FP32.width, name="inv_scale")
        exponent = (FP32.bias - step_scale)[: FP32.exponent_bits]
        m.d.comb += inv_scale.eq(Cat(Const(0, FP32.fraction_bits), exponent))
        out = Signal(_outputs_layout(cfg))

        def unit(name: str, component: _Unit, **operands: Value) -> _Unit:
            """``component`` as submodule ``name`` under the pipeline's enable, fed
            ``operands``."""
            m.submodules[name] = EnableInserter(en)(component)
            m.d.comb += [getattr(component, port).eq(value) for port, value in operands.items()]
            m.d.comb += component.in_valid.eq(beat_in)
            return component

        def delay(value: Value, cycles: int, name: str) -> Value:
            for i in range(cycles):
                register = Signal(len(value), name=f"{name}_d{i}")
                with m.If(en):
                    m.d.sync += register.eq(value)
                value = register
            return value

        for i in range(cfg.lanes):
            e = self.data.payload[i]
            w, v = e.weight, e.momentum
            grad = _widen(e.grad, layout)
            g0 = unit(f"lane{i}_unscale", Fp32Multiplier(Lm), a=grad, b=inv_scale).p
            p_wd = unit(f"lane{i}_wd", Fp32Multiplier(Lm), a=hyper["weight_decay"], b=w).p
            lam = Mux(e.mask, 0, hyper["decay"])
            p_lam = unit(f"lane{i}_lam", Fp32Multiplier(Lm), a=lam, b=w).p
            p_mu = unit(f"lane{i}_mu", Fp32Multiplier(Lm), a=hyper["momentum"], b=v).p
            g1 = unit(f"lane{i}_add_wd", Fp32Adder(La), a=g0, b=p_wd).s
            g2 = unit(f"lane{i}_add_lam", Fp32Adder(La), a=g1,
                      b=delay(p_lam, La, f"lane{i}_lam")).s
            v_new = unit(f"lane{i}_add_mu", Fp32Adder(La), a=delay(p_mu, 2 * La, f"lane{i}_mu"),
                         b=g2).s
            p_lr = unit(f"lane{i}_lr", Fp32Multiplier(Lm), a=hyper["lr"], b=v_new).p
            w_old = delay(w, 2 * Lm + 3 * La, f"lane{i}_w")
            w_new = unit(f"lane{i}_add_w", Fp32Adder(La), a=w_old, b=p_lr ^ _SIGN).s
            copy = unit(f"lane{i}_narrow", Fp32ToHalf(cfg.dtype), a=w_new).h
            m.d.comb += [
                out.weights[i].eq(delay(w_new, Fp32ToHalf.LATENCY, f"lane{i}_w_new")),
                out.momentum[i].eq(delay(v_new, Lm + La + Fp32ToHalf.LATENCY, f"lane{i}_v_new")),
                out.copies[i].eq(copy),
            ]
        return out
