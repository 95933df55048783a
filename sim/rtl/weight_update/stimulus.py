"""Seeded steps for SAT's weight-update engine: a directed batch, then random batches; pure
Python.

A step (:class:`WeightStep`) is one command of the engine and its elements, padded to whole
beats: FP32 weight and momentum patterns, half-precision gradient patterns (``config.dtype``),
mask bits and the FP32 hyper-parameters. The values are bit patterns drawn from one seeded
generator: ordinary numbers, FP32 specials (signed zeros, subnormals, the largest finite
numbers, infinities, quiet and signalling NaNs, the values where the half copy overflows or
rounds to even), uniform bit patterns, finite gradients (zeros and subnormals among them) and,
in an overflowing step, one to three Inf or NaN gradients. Padding lanes (past ``count`` in a
step's last beat) hold random values, an Inf or NaN gradient in half of them: the engine must
not check them.

:func:`make_plan` is the plan of the RTL harness (:mod:`sparsa.sim.rtl.weight_update.block`,
``sparsa verify weight-update``). The engine keeps its loss scale and its count of clean steps
from command to command, so the directed batch follows the golden scale state from reset
(:class:`~sparsa.models.golden.weight_update.ScaleState`) to drive the scale to both bounds.
"""

import random
import struct
from dataclasses import dataclass

from sparsa.config.formats import FP32
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.models.golden.weight_update import ScaleState, StepHyper, found_overflow, next_scale
from sparsa.sim.rtl.plans import PlanBatch, alternating_plan, random_size

__all__ = [
    "BATCH_STEPS",
    "DIRECTED_GROWTH_STEPS",
    "MASK_STYLES",
    "MAX_BEATS",
    "OVERFLOW_RATE",
    "SOURCES",
    "SPECIAL32",
    "VALUE_STYLES",
    "WeightStep",
    "make_plan",
    "overflow_values",
]

SOURCES = ("cmd", "grads", "data")  # the engine's input streams, in the order their sources
BATCH_STEPS = 12
OVERFLOW_RATE = 0.2  # random steps with an Inf or NaN gradient (each followed by a clean one)
MAX_BEATS = 4  # beats of the longest random step (a step of max_count, if fewer, is directed)
EMPTY_RATE = 0.06  # random clean steps with count 0
DIRECTED_GROWTH_STEPS = 240  # the most clean steps the directed batch spends growing the scale
VALUE_STYLES = ("ordinary", "special", "uniform", "mixed")
MASK_STYLES = ("mixed", "pruned", "kept")
SPECIAL32 = (
    0x0000_0000, 0x8000_0000,  # +0, -0
    0x0000_0001, 0x807F_FFFF, 0x0040_0000,  # subnormals: the smallest, -the largest, one
    0x0080_0000, 0x8080_0000,  # +/- the smallest normal
    0x3F80_0000, 0xBF80_0000,  # +/-1
    0x7F7F_FFFF, 0xFF7F_FFFF,  # +/- the largest finite (its BF16 copy rounds to Inf)
    0x7F80_0000, 0xFF80_0000,  # +/-Inf
    0x7FC0_0000, 0x7F80_0001, 0xFFC0_0001,  # quiet, signalling and negative NaNs
    0x477F_E000, 0x477F_EFFF, 0x477F_F000,  # FP16 copy: its largest, below and at overflow
    0x3380_0000, 0x3300_0000, 0x3340_0000,  # 2^-24 (FP16's smallest), the ties below it
    0x3F80_8000, 0x3F81_8000, 0x3F80_1000,  # BF16 and FP16 ties to even, both ways
)
"""FP32 patterns of the special values the weights, momenta and hyper-parameters take."""


@dataclass(frozen=True)
class WeightStep:
    """One step: the command and its elements, padded to whole beats.

    Attributes
    ----------
    count : int
        Elements of the step (the command's count; 0 for an empty step).
    hyper : StepHyper
        The command's FP32 learning rate, momentum, weight decay and SR-STE decay.
    weights, momentum : tuple of int
        FP32 patterns, ceil(count / lanes) * lanes of each.
    grads : tuple of int
        Half-precision patterns (``config.dtype``), as many.
    masks : tuple of int
        Mask bits (1: kept, 0: pruned), as many.
    style : str
        How the values were drawn, for reports.
    """

    count: int
    hyper: StepHyper
    weights: tuple[int, ...]
    momentum: tuple[int, ...]
    grads: tuple[int, ...]
    masks: tuple[int, ...]
    style: str

    def beats(self, config: WeightUpdateConfig) -> int:
        """Beats of each pass: ceil(count / lanes)."""
        return len(self.grads) // config.lanes

    def overflows(self, config: WeightUpdateConfig) -> bool:
        """Whether a counted gradient is Inf or NaN (the step must be skipped)."""
        return found_overflow(self.grads[: self.count], config.dtype)

    def applied(self, config: WeightUpdateConfig) -> bool:
        """Whether the step has an update pass (neither skipped nor empty)."""
        return self.count > 0 and not self.overflows(config)

    def lanes(self, beat: int, config: WeightUpdateConfig) -> slice:
        """The elements of beat ``beat``."""
        return slice(beat * config.lanes, (beat + 1) * config.lanes)

    def describe(self) -> str:
        """Short text for reports."""
        h = self.hyper
        return (f"count={self.count} ({self.style}) lr={h.lr:#010x} momentum={h.momentum:#010x} "
                f"weight_decay={h.weight_decay:#010x} decay={h.decay:#010x}")


def overflow_values(config: WeightUpdateConfig) -> tuple[int, ...]:
    """The half-precision gradients that make a step skip: +Inf, -Inf, a quiet NaN, a
    signalling NaN and the negative NaN with every fraction bit set."""
    layout = config.dtype.float_layout
    inf = layout.max_exponent << layout.fraction_bits
    sign = 1 << (config.dtype.width - 1)
    return (inf, sign | inf, inf | 1 << (layout.fraction_bits - 1), inf | 1,
            (1 << config.dtype.width) - 1)


def _ordinary32(rng: random.Random) -> int:
    value = rng.gauss(0.0, 1.0) * 2.0 ** rng.randint(-20, 20)
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _value32(rng: random.Random, style: str) -> int:
    """One FP32 pattern of a value style (:data:`VALUE_STYLES`)."""
    if style == "mixed":
        style = rng.choice(("ordinary", "ordinary", "special", "uniform"))
    if style == "special":
        return rng.choice(SPECIAL32)
    if style == "uniform":
        return rng.getrandbits(FP32.width)
    return _ordinary32(rng)


def _finite_grad(rng: random.Random, config: WeightUpdateConfig) -> int:
    """A finite half-precision pattern; a zero or a subnormal one time in five."""
    layout = config.dtype.float_layout
    exponent = 0 if rng.random() < 0.2 else rng.randrange(layout.max_exponent)
    sign = rng.getrandbits(1) << (config.dtype.width - 1)
    return sign | exponent << layout.fraction_bits | rng.getrandbits(layout.fraction_bits)


def _hyper(rng: random.Random, style: str) -> StepHyper:
    """Typical hyper-parameters, special FP32 patterns or all zeros (``style``)."""
    if style == "special":
        return StepHyper(lr=rng.choice(SPECIAL32), momentum=rng.choice(SPECIAL32),
                         weight_decay=rng.choice(SPECIAL32), decay=rng.choice(SPECIAL32))
    if style == "zero":
        return StepHyper(lr=0)
    return StepHyper.of(lr=rng.uniform(1e-4, 0.5), momentum=rng.uniform(0.0, 0.99),
                        weight_decay=rng.choice([0.0, 1e-4, 5e-4]),
                        decay=rng.choice([0.0, 2e-4, 0.5]))


class _Planner:
    def __init__(self, config: WeightUpdateConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.cap = min(config.max_count, MAX_BEATS * config.lanes)

    def step(
        self,
        count: int,
        *,
        overflow: bool = False,
        at: list[int] | None = None,
        bad: tuple[int, ...] | None = None,
        values: str = "mixed",
        masks: str = "mixed",
        hyper: str | None = None,
        padding: bool | None = None,
    ) -> WeightStep:
        """A step of ``count`` elements whose ``values`` (weights and momenta) and ``masks``
        have the given styles. With ``overflow``, the gradients at ``at`` (by default one to
        three random counted ones) are ``bad`` ones (by default drawn from
        :func:`overflow_values`); with ``padding`` (by default: half the time) the padding
        lanes get an Inf or NaN gradient too."""
        rng, config = self.rng, self.config
        n = -(-count // config.lanes) * config.lanes
        grads = [_finite_grad(rng, config) for _ in range(n)]
        if overflow:
            bad = bad or overflow_values(config)
            if at is None:
                at = rng.sample(range(count), rng.randint(1, min(3, count)))
            for index in at:
                grads[index] = rng.choice(bad)
        if padding is None:
            padding = rng.random() < 0.5
        if padding and n > count:
            grads[rng.randrange(count, n)] = rng.choice(overflow_values(config))
        if masks == "mixed":
            mask = [rng.getrandbits(1) for _ in range(n)]
        else:
            mask = [int(masks == "kept")] * n
        hyper = hyper or rng.choice(("typical", "typical", "typical", "special", "zero"))
        kind = "overflow" if overflow else "clean"
        style = f"{kind}, {values} values, {masks} masks, {hyper} hyper-parameters"
        return WeightStep(
            count=count,
            hyper=_hyper(rng, hyper),
            weights=tuple(_value32(rng, values) for _ in range(n)),
            momentum=tuple(_value32(rng, values) for _ in range(n)),
            grads=tuple(grads),
            masks=tuple(mask),
            style=style,
        )

    def random_count(self) -> int:
        return random_size(self.rng, self.cap, self.config.lanes, odds=(0.5, 0.8, 0.9), short=1)

    def random_clean(self) -> WeightStep:
        count = 0 if self.rng.random() < EMPTY_RATE else self.random_count()
        return self.step(count, values=self.rng.choice(VALUE_STYLES),
                         masks=self.rng.choice(MASK_STYLES))

    def random_overflow(self) -> WeightStep:
        return self.step(self.random_count(), overflow=True,
                         values=self.rng.choice(VALUE_STYLES))

    def directed(self) -> list[WeightStep]:
        """The directed steps, the scale state followed from reset (see :func:`make_plan`)."""
        config, L = self.config, self.config.lanes
        steps: list[WeightStep] = []
        state = ScaleState.initial(config)

        def add(step: WeightStep) -> None:
            nonlocal state
            steps.append(step)
            state = next_scale(config, state, step.overflows(config))

        counts = sorted({c for c in (1, L, L + 1, 2 * L - 1, 3 * L) if c <= config.max_count})
        for count in counts:  # clean steps of whole and partial beats
            add(self.step(count, values="ordinary", hyper="typical", padding=False))
        add(self.step(0, hyper="typical"))  # an empty step (a clean one)
        partial = [c for c in (L + 1, config.max_count) if c <= config.max_count and c % L]
        if partial:  # Inf and NaN in the padding lanes of a clean step
            add(self.step(partial[0], padding=True))
        # Every overflow value alone: at the first element, at the last counted one of a
        # partial beat, in the last lane of the middle beat of a longer step; then skips down
        # to the minimum scale and one more there (the scale holds).
        last = min(2 * L - 1, config.max_count) if L > 1 else min(2, config.max_count)
        longest = min(3 * L, config.max_count)
        for value in overflow_values(config):
            add(self.step(1, overflow=True, at=[0], bad=(value,)))
            add(self.step(last, overflow=True, at=[last - 1], bad=(value,)))
            add(self.step(longest, overflow=True, at=[min(2 * L, longest) - 1], bad=(value,)))
        while state.scale_log2 > config.min_scale_log2:
            add(self.step(self.random_count(), overflow=True))
        add(self.step(self.random_count(), overflow=True))  # a skip at the minimum
        # Clean steps up to the maximum scale and one growth more (the scale holds), through
        # every value, mask and hyper-parameter style and an empty step now and then (at most
        # DIRECTED_GROWTH_STEPS of them: AMP's growth interval of 2,000 steps is too long).
        styles = [(v, m, h) for v in ("special", "uniform", "ordinary", "mixed")
                  for m in MASK_STYLES for h in ("typical", "special", "zero")]
        growths_at_max = 0
        number = 0
        while number < len(styles) or (growths_at_max < 1 and number < DIRECTED_GROWTH_STEPS):
            values, masks, hyper = styles[number % len(styles)]
            count = 0 if number % 7 == 6 else self.random_count()
            before = state
            add(self.step(count, values=values, masks=masks, hyper=hyper))
            growths_at_max += before.scale_log2 == config.max_scale_log2 and state.clean == 0
            number += 1
        # A skip after some clean steps (the count restarts), at the maximum scale.
        add(self.step(self.random_count(), masks="kept"))
        add(self.step(self.random_count(), overflow=True, masks="pruned"))
        if config.max_count <= MAX_BEATS * L * 4:  # a step of the largest count
            add(self.step(config.max_count, values="mixed"))
            add(self.step(config.max_count, overflow=True, at=[config.max_count - 1]))
        return steps


def make_plan(config: WeightUpdateConfig, seed: int, count: int) -> list[PlanBatch[WeightStep]]:
    """Build a seeded plan of at least ``count`` steps for ``config``.

    The first batch, without stalls, holds the directed steps: clean steps of whole and partial
    beats and an empty one; Inf and NaN gradients in the padding lanes of a clean step; each
    overflow value (:func:`overflow_values`) alone at the first element, at the last counted
    element of a partial beat and in the last lane of the middle beat of a longer step (all
    skipped, the scale halved); more skips to the minimum scale and one at it (held); clean
    steps until the scale has grown to the maximum and once more (held), as far as
    :data:`DIRECTED_GROWTH_STEPS` clean steps take it (far enough for the short growth
    intervals of the test configurations), through every style of values (special FP32
    values: NaN, Inf, subnormals, signed zeros; uniform bit patterns; ordinary numbers), of
    masks (all pruned, all kept, mixed) and of hyper-parameters (typical, special FP32 values,
    all zero), with an empty step every seventh; a skip after a clean step; and, when
    ``max_count`` is small, a clean and a skipped step of ``max_count`` elements. The random
    batches of :data:`BATCH_STEPS` steps that follow alternate between random idle cycles on
    the three inputs with back-pressure on the four outputs (the first one) and no stalls
    (their cycles are checked against :mod:`sparsa.sim.blocks.weight_update`); about
    :data:`OVERFLOW_RATE` of their steps overflow, each followed by a clean one.

    ``seed`` seeds the plan's own random generator; the directed steps are always produced,
    also when ``count`` asks for fewer.
    """
    planner = _Planner(config, random.Random(seed))
    return alternating_plan(planner.directed(), count, size=BATCH_STEPS,
                            good=planner.random_clean, bad=planner.random_overflow,
                            bad_rate=OVERFLOW_RATE, rng=planner.rng, sources=SOURCES,
                            stalled_first=True)
