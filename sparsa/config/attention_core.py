"""Configuration of the SpAtten attention core RTL
(:class:`sparsa.hw.attention.attention_core.AttentionCore`).

One :class:`AttentionCoreConfig` elaborates the RTL, parameterises the golden functions of
:mod:`sparsa.models.golden.attention` (through :meth:`AttentionCoreConfig.golden`) and sizes the
cycle model (:mod:`sparsa.sim.blocks.attention_core`).

Choices:

* The number formats are an :class:`~sparsa.config.attention.AttentionConfig`. Its ``msb_bits``
  is the *widest* MSB setting the hardware takes, i.e. the width of an MSB lane of the K MSB
  plane and, plus 4, of a Q or V lane; the MSB setting b of a (head, query) is a run-time
  command field, any of :data:`~sparsa.config.attention.MSB_BITS` up to that width. A query
  run with setting b is bit-exact with the golden functions called with
  ``attention.replace(msb_bits=b)``. Its ``max_tokens`` is the largest n (the K and score
  buffers' depth and the local-V top-k engine's capacity).
* ``multipliers`` is the size of each of the two multiplier arrays (Q x K and prob x V, as
  SpAtten's Table I has 512 of each): a multiple of D by a power of two. The Q x K array then
  makes E = multipliers / D scores per cycle and the prob x V array takes E V rows per cycle;
  every row stream carries E rows per beat and the local-V top-k engine has E lanes.
* The defaults are SpAtten's (Table I): D = 64, 512 12-bit multipliers per array (so the
  widest setting is 8 + 4 and E = 8 scores per cycle), 16 comparators per top-k array, 1,024
  keys; two local-V top-k engines (SpAtten has two top-k engines, one of them for local V
  pruning; the second one here lets consecutive queries overlap, spatten.md 2.1).

The codes the core's streams carry, and the modes its controller sets, are
:mod:`amaranth.lib.enum` enumerations with an explicit shape, defined here once for the RTL and
its harness: :class:`CommandStatus` (the ``error`` field of an answer), :class:`RejectReason`
(why the command decoder rejects a command) and :class:`KeyPlanes` (which K planes a key beat
holds). They are ``IntEnum`` classes,
so that the integer codes read back from the Verilog compare equal to the members.
"""

from dataclasses import dataclass, field, replace

from amaranth.lib import enum as hw_enum

from sparsa.config.attention import LSB_BITS, MSB_BITS, AttentionConfig
from sparsa.config.checks import is_int, is_pow2
from sparsa.config.topk import MAX_LANES, PivotMode, TopKConfig

__all__ = [
    "MAX_HEADS",
    "MAX_TOPK_ENGINES",
    "AttentionCoreConfig",
    "CommandStatus",
    "KeyPlanes",
    "RejectReason",
    "check_core_config",
]

MAX_HEADS = 256
"""Most head-importance accumulators a core may hold."""
MAX_TOPK_ENGINES = 8
"""Most local-V top-k engines a core may hold."""


class CommandStatus(hw_enum.IntEnum, shape=1):
    """The ``error`` field of the attention core's ``out`` beat: whether the command was run."""

    ACCEPTED = 0
    REJECTED = 1


class RejectReason(hw_enum.IntEnum, shape=3):
    """Why the attention core rejects a command (the first that applies, in this order).

    ``NONE``: the command is run. ``TOKENS``: n outside 1..max_tokens. ``MSB_BITS``: b not one
    of the core's MSB settings. ``SCORE_SHIFT``: score_shift above 2 (b + 4) + log2(D).
    ``THRESHOLD``: threshold above 2**P. ``V_KEEP``: v_keep above n. ``HEAD``: no head-importance
    accumulator for the command's head.
    """

    NONE = 0
    TOKENS = 1
    MSB_BITS = 2
    SCORE_SHIFT = 3
    THRESHOLD = 4
    V_KEEP = 5
    HEAD = 6


class KeyPlanes(hw_enum.IntEnum, shape=1):
    """Which planes of K a key beat holds: ``MSB`` alone (the LSBs are taken as zero: the first
    Q x K pass) or ``FULL``, the MSB plane with its 4-bit LSB plane (the recompute)."""

    MSB = 0
    FULL = 1


@dataclass(frozen=True, kw_only=True)
class AttentionCoreConfig:
    """Parameters of one attention core instance.

    Parameters
    ----------
    attention : AttentionConfig
        Number formats (default: ``AttentionConfig(msb_bits=8)``); ``msb_bits`` is the widest
        run-time MSB setting, ``max_tokens`` the largest n (see the module docstring). Its
        ``out_bits`` must suit the narrowest setting too (at most 4 + 4 + 1 + ``prob_bits``).
    multipliers : int
        Multipliers of the Q x K array and of the prob x V array each: D times a power of two,
        at most D * 64 (E = multipliers / D rows per cycle).
    comparators : int
        Comparators per array of each local-V top-k engine (a power of two, 1 to 64).
    topk_engines : int
        Local-V top-k engines (1 to :data:`MAX_TOPK_ENGINES`): consecutive queries take them in
        turn, so one engine's quick-select overlaps the next queries' softmax.
    pivot : PivotMode
        Pivot source of the local-V top-k engine.
    seed : int
        Reset state of that engine's LFSR (1 to 65535).
    heads : int
        Head-importance accumulators, selected by the command's ``head`` field (1 to 256).
    emit_probs : bool
        Whether the ``keys`` output stream carries the probabilities besides the updated token
        importance.
    """

    attention: AttentionConfig = field(default_factory=lambda: AttentionConfig(msb_bits=8))
    multipliers: int = 512
    comparators: int = 16
    topk_engines: int = 2
    pivot: PivotMode = PivotMode.LFSR
    seed: int = 0xACE1
    heads: int = 16
    emit_probs: bool = True

    def __post_init__(self) -> None:
        att = self.attention
        if not isinstance(att, AttentionConfig):
            raise ValueError(f"attention must be an AttentionConfig, not {att!r}")
        smallest = MSB_BITS[0] + LSB_BITS + 1 + att.prob_bits
        if att.out_bits > smallest:
            raise ValueError(
                f"out_bits = {att.out_bits} is too wide for the {MSB_BITS[0]}+{LSB_BITS} setting:"
                f" at most {smallest} (T + 1 + prob_bits with T = {MSB_BITS[0] + LSB_BITS})"
            )
        m = self.multipliers
        if not is_int(m) or m % att.dim or not is_pow2(m // att.dim) or m // att.dim > MAX_LANES:
            raise ValueError(
                f"multipliers must be D = {att.dim} times a power of two from 1 to {MAX_LANES},"
                f" not {m!r}"
            )
        if not is_int(self.heads) or not 1 <= self.heads <= MAX_HEADS:
            raise ValueError(f"heads must be an integer from 1 to {MAX_HEADS}, not {self.heads!r}")
        if not is_int(self.topk_engines) or not 1 <= self.topk_engines <= MAX_TOPK_ENGINES:
            raise ValueError(f"topk_engines must be an integer from 1 to {MAX_TOPK_ENGINES}, "
                             f"not {self.topk_engines!r}")
        if not isinstance(self.emit_probs, bool):
            raise ValueError(f"emit_probs must be True or False, not {self.emit_probs!r}")
        _ = self.topk  # TopKConfig checks comparators, pivot and seed with its own messages

    def replace(self, **changes: object) -> "AttentionCoreConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    @property
    def dim(self) -> int:
        """D, elements of a Q, K or V vector."""
        return self.attention.dim

    @property
    def lanes(self) -> int:
        """E = multipliers / D: scores per cycle, K and V rows per beat, top-k lanes."""
        return self.multipliers // self.attention.dim

    @property
    def max_tokens(self) -> int:
        """Largest n of a command."""
        return self.attention.max_tokens

    @property
    def rows(self) -> int:
        """Depth of the K, score and token-importance buffers: ceil(max_tokens / E) rows."""
        return -(-self.max_tokens // self.lanes)

    @property
    def msb_settings(self) -> tuple[int, ...]:
        """Run-time MSB settings b the core accepts (MSB_BITS up to ``attention.msb_bits``)."""
        return tuple(b for b in MSB_BITS if b <= self.attention.msb_bits)

    @property
    def topk(self) -> TopKConfig:
        """The local-V top-k engine: E lanes over unsigned (P + 1)-bit probabilities."""
        return TopKConfig(
            lanes=self.lanes,
            comparators=self.comparators,
            capacity=self.max_tokens,
            width=self.attention.prob_width,
            signed=False,
            pivot=self.pivot,
            seed=self.seed,
        )

    def golden(self, msb_bits: int) -> AttentionConfig:
        """The golden functions' configuration of a query run with MSB setting ``msb_bits``."""
        if not is_int(msb_bits) or msb_bits not in self.msb_settings:
            raise ValueError(f"msb_bits must be one of {self.msb_settings}, not {msb_bits!r}")
        return self.attention.replace(msb_bits=msb_bits)

    def qk_acc_width(self, msb_bits: int) -> int:
        """Largest score shift of MSB setting ``msb_bits``: 2 (b + 4) + log2(D)."""
        return self.golden(msb_bits).qk_acc_width


def check_core_config(config: object) -> None:
    """Raise TypeError unless ``config`` is an :class:`AttentionCoreConfig`."""
    if not isinstance(config, AttentionCoreConfig):
        raise TypeError(f"config must be an AttentionCoreConfig, not {type(config).__name__}")
