"""Seeded (head, query) plans for the attention core, their operands and their stream beats.

Pure Python (no simulator), shared by the amaranth.sim bench (:mod:`sparsa.sim.rtl.attention_core.bench`) and
the cocotb bench (``tests/rtl``). A query is a :class:`QuerySpec` (the command fields, an
operand pattern and a seed) from which :func:`make_operands` draws Q, K and V
deterministically, so a plan stays small and a failing query replays from its JSON. The
patterns make both requant paths happen: ``peaked`` (one key dominates: the maximum probability
is near 1, no refetch at the usual thresholds) and ``flat`` (near-equal keys: the maximum
probability is near 1/n, a refetch at a high threshold), besides ``uniform``, ``ties`` (keys
drawn from a few rows: equal probabilities for the top-k) and ``extremes`` (every element at
the format's ends; saturating scores and outputs).
"""

import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import torch
from amaranth import Shape

from sparsa.config.attention import MSB_BITS
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.hw.attention.attention_core import cmd_layout
from sparsa.models.golden.attention import msb_only, split_planes

__all__ = [
    "PATTERNS",
    "SINKS",
    "SOURCES",
    "CoreStalls",
    "Operands",
    "QueryBatch",
    "QueryBeats",
    "QuerySpec",
    "make_operands",
    "make_plan",
    "pack_lanes",
    "random_stalls",
]

SOURCES = ("cmd", "q", "k_msb", "k_lsb", "v")  # input streams, in driver order
SINKS = ("lsb_req", "v_req", "keys", "out")  # output streams, in monitor order
PATTERNS = ("peaked", "flat", "uniform", "ties", "extremes")
STALL_LEVELS = (0.1, 0.3, 0.6)  # per-cycle probabilities of an idle source or a busy sink
BATCH_QUERIES = 12
REJECT_RATE = 0.06


@dataclass(frozen=True)
class QuerySpec:
    """One command of the core and how its operands are drawn.

    Attributes
    ----------
    n, v_keep, msb_bits, threshold, score_shift, head : int
        The command fields (possibly out of range: the core must reject those).
    clear_tokens, clear_head : bool
        The command's clear bits.
    pattern : str
        One of :data:`PATTERNS` (``"reject"`` for a command the core must reject).
    seed : int
        Seed of the operands and of the junk bits.
    """

    n: int
    v_keep: int
    msb_bits: int
    threshold: int
    score_shift: int
    head: int
    clear_tokens: bool
    clear_head: bool
    pattern: str
    seed: int

    def is_error(self, config: AttentionCoreConfig) -> bool:
        """Whether the core must reject the command."""
        att = config.attention
        return (
            not 1 <= self.n <= config.max_tokens
            or self.msb_bits not in config.msb_settings
            or self.threshold > 1 << att.prob_bits
            or self.v_keep > self.n
            or self.score_shift > config.qk_acc_width(self.msb_bits)
            or self.head >= config.heads
        )

    def cmd(self) -> dict[str, int]:
        """The ``cmd`` beat's fields."""
        fields = asdict(self)
        del fields["pattern"], fields["seed"]
        return {key: int(value) for key, value in fields.items()}

    def describe(self) -> str:
        """Short text for failure reports."""
        return (
            f"n={self.n} v_keep={self.v_keep} b={self.msb_bits} threshold={self.threshold} "
            f"shift={self.score_shift} head={self.head} clear={int(self.clear_tokens)}"
            f"{int(self.clear_head)} pattern={self.pattern} seed={self.seed}"
        )

    def to_json(self) -> dict[str, object]:
        """JSON form (for a replay)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> "QuerySpec":
        """Inverse of :meth:`to_json`."""
        return cls(**data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Operands:
    """Q, K and V of one query: full-precision (b + 4)-bit signed int64 tensors."""

    q: torch.Tensor  # (D,)
    k: torch.Tensor  # (n, D)
    v: torch.Tensor  # (n, D)

    def planes(self, config: AttentionCoreConfig, msb_bits: int) -> tuple[torch.Tensor, ...]:
        """The K MSB and LSB planes of setting ``msb_bits``."""
        return split_planes(self.k, config.golden(msb_bits))


def _clamp(t: torch.Tensor, width: int) -> torch.Tensor:
    return t.clamp(-(1 << (width - 1)), (1 << (width - 1)) - 1)


def _shift_for(value: int, target_bits: int, rng: random.Random, jitter: int) -> int:
    """A shift that brings ``value`` to about ``target_bits`` bits, with a random jitter."""
    return max(0, value.bit_length() - target_bits) + rng.randint(-jitter, jitter)


def make_operands(config: AttentionCoreConfig, spec: QuerySpec) -> Operands:
    """Draw Q, K and V of ``spec`` (deterministic in ``spec.seed``; see the module docstring)."""
    gen = torch.Generator().manual_seed(spec.seed)
    T, D, n = spec.msb_bits + 4, config.dim, spec.n
    lo, hi = -(1 << (T - 1)), (1 << (T - 1)) - 1

    def uniform(*shape: int, low: int = lo, high: int = hi) -> torch.Tensor:
        return torch.randint(low, high + 1, shape, generator=gen, dtype=torch.int64)

    q = uniform(D)
    v = uniform(n, D)
    if spec.pattern == "peaked":
        k = uniform(n, D, low=lo >> 3, high=hi >> 3)
        winner = int(torch.randint(0, n, (1,), generator=gen))
        k[winner] = torch.where(q >= 0, hi, lo)
    elif spec.pattern == "flat":
        base = uniform(D, low=lo >> 1, high=hi >> 1)
        k = _clamp(base + uniform(n, D, low=-24, high=24), T)
    elif spec.pattern == "ties":
        alphabet = uniform(3, D)
        k = alphabet[torch.randint(0, 3, (n,), generator=gen)]
    elif spec.pattern == "extremes":
        q, k, v = (torch.where(uniform(*t.shape) >= 0, hi, lo) for t in (q, uniform(n, D), v))
    else:
        k = uniform(n, D)
    return Operands(q=q, k=k, v=v)


def _score_shift(
    config: AttentionCoreConfig, b: int, ops: Operands, pattern: str, rng: random.Random
) -> int:
    """A score shift that makes ``pattern``'s scores useful: near-equal logits for ``flat``
    (the spread of the MSB-only dot products within about one logit), else the largest dot
    product near the top of the score range (sometimes beyond it: saturation)."""
    att = config.golden(b)
    msb = ops.planes(config, b)[0]
    dots = (msb_only(msb, att) * ops.q).sum(dim=1)
    if pattern == "flat":
        spread = int(dots.max() - dots.min())
        shift = _shift_for(spread, att.score_frac_bits, rng, 1)
    else:
        shift = _shift_for(int(dots.abs().max()), att.score_bits - 1, rng, 2)
    return min(max(shift, 0), att.qk_acc_width)


class _Planner:
    def __init__(self, config: AttentionCoreConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.one = 1 << config.attention.prob_bits  # probability 1
        self.layout = cmd_layout(config)

    def field_max(self, name: str) -> int:
        return (1 << Shape.cast(self.layout.members[name]).width) - 1

    def random_n(self) -> int:
        cap, lanes, rng = self.config.max_tokens, self.config.lanes, self.rng
        kind = rng.random()
        if kind < 0.55:
            return rng.randint(1, cap)
        if kind < 0.75:
            return rng.randint(1, min(cap, 3 * lanes))
        if kind < 0.9:
            return rng.randint(max(1, cap - lanes), cap)
        return rng.choice((1, cap))

    def random_keep(self, n: int) -> int:
        kind = self.rng.random()
        if kind < 0.1:
            return 0
        if kind < 0.2:
            return n
        if kind < 0.3:
            return 1
        return self.rng.randint(0, n)

    def threshold(self, pattern: str) -> int:
        rng, one = self.rng, self.one
        if pattern == "flat":
            return rng.choice((one, rng.randint(one // 4, one)))
        if pattern == "peaked":
            return rng.choice((round(0.1 * one), round(0.1 * one), rng.randint(0, one)))
        return rng.choice((0, one, round(0.1 * one), rng.randint(0, one)))

    def query(
        self,
        *,
        n: int | None = None,
        v_keep: int | None = None,
        pattern: str | None = None,
        msb_bits: int | None = None,
        threshold: int | None = None,
    ) -> QuerySpec:
        cfg, rng = self.config, self.rng
        n = self.random_n() if n is None else n
        pattern = pattern or rng.choice(PATTERNS)
        b = rng.choice(cfg.msb_settings) if msb_bits is None else msb_bits
        spec = QuerySpec(
            n=n,
            v_keep=self.random_keep(n) if v_keep is None else v_keep,
            msb_bits=b,
            threshold=self.threshold(pattern) if threshold is None else threshold,
            score_shift=0,
            head=rng.randrange(cfg.heads),
            clear_tokens=rng.random() < 0.3,
            clear_head=rng.random() < 0.3,
            pattern=pattern,
            seed=rng.getrandbits(32),
        )
        shift = _score_shift(cfg, b, make_operands(cfg, spec), pattern, rng)
        return QuerySpec(**{**asdict(spec), "score_shift": shift})

    def reject(self, kind: int | None = None) -> QuerySpec:
        """A command the core must reject, of one of the kinds of :meth:`reject_kinds`."""
        kinds = self.reject_kinds()
        fields = kinds[self.rng.randrange(len(kinds)) if kind is None else kind]
        good = self.query(n=self.rng.randint(1, self.config.max_tokens))
        return QuerySpec(**{**asdict(good), **fields, "pattern": "reject"})

    def reject_kinds(self) -> list[dict[str, int]]:
        cfg, rng = self.config, self.rng
        cap = cfg.max_tokens
        b = max(cfg.msb_settings)
        kinds: list[dict[str, int]] = [
            {"n": 0, "v_keep": 0},
            {"n": cap + 1, "v_keep": 1},
            {"n": self.field_max("n"), "v_keep": 0},
            {"n": cap, "v_keep": cap + 1},
            {"threshold": self.one + 1},
            {"threshold": self.field_max("threshold")},
            {"msb_bits": 0},
            {"msb_bits": 5},
            {"msb_bits": self.field_max("msb_bits")},
        ]
        kinds += [{"msb_bits": s} for s in MSB_BITS if s not in cfg.msb_settings]
        for s in cfg.msb_settings:
            if cfg.qk_acc_width(s) < self.field_max("score_shift"):
                kinds.append({"msb_bits": s, "score_shift": cfg.qk_acc_width(s) + 1})
        if cfg.heads <= self.field_max("head"):
            kinds.append({"head": rng.randint(cfg.heads, self.field_max("head"))})
        return [{"msb_bits": b, "score_shift": 0, **kind} for kind in kinds]

    def directed(self) -> list[QuerySpec]:
        cfg = self.config
        cap, lanes, one = cfg.max_tokens, cfg.lanes, self.one
        queries = [
            self.query(n=1, v_keep=1),
            self.query(n=1, v_keep=0),
            self.query(n=cap, v_keep=cap, pattern="flat", threshold=one),
            self.query(n=cap, v_keep=0, pattern="peaked"),
            self.query(n=cap, pattern="extremes"),
            self.query(n=cap, pattern="ties"),
            self.query(n=lanes, v_keep=lanes),
            self.query(n=lanes + 1, pattern="flat"),
            self.query(threshold=0, pattern="flat"),
            self.query(threshold=one, pattern="peaked"),
        ]
        queries += [
            self.query(msb_bits=b, pattern=p) for b in cfg.msb_settings for p in ("peaked", "flat")
        ]
        for kind in range(len(self.reject_kinds())):
            queries += [self.reject(kind), self.query()]
        return queries


@dataclass(frozen=True)
class CoreStalls:
    """Per-cycle probabilities of an idle source per input stream and of a busy sink per
    output stream (the memory's answers on ``k_lsb`` and ``v`` included)."""

    idle: Mapping[str, float] = field(default_factory=dict)
    busy: Mapping[str, float] = field(default_factory=dict)

    @property
    def none(self) -> bool:
        """True when nothing stalls, i.e. the cycle count of each query is checkable."""
        return not (any(self.idle.values()) or any(self.busy.values()))

    def describe(self) -> str:
        """Short text for failure reports."""
        if self.none:
            return "no stalls"
        idle = " ".join(f"{k}={p}" for k, p in self.idle.items())
        busy = " ".join(f"{k}={p}" for k, p in self.busy.items())
        return f"idle {idle}; busy {busy}"


def random_stalls(rng: random.Random) -> CoreStalls:
    """A stall setting with every input idling and every output back-pressured sometimes."""
    idle = {name: rng.choice(STALL_LEVELS) for name in SOURCES}
    busy = {name: rng.choice(STALL_LEVELS) for name in SINKS}
    return CoreStalls(idle=idle, busy=busy)


@dataclass(frozen=True)
class QueryBatch:
    """Queries run back to back under one stall setting."""

    queries: tuple[QuerySpec, ...]
    stalls: CoreStalls


def make_plan(config: AttentionCoreConfig, seed: int, count: int) -> list[QueryBatch]:
    """Build a seeded plan of about ``count`` queries for ``config``.

    The first batch holds directed cases (n = 1 and n = max_tokens, v_keep = 0 and n, the
    thresholds 0 and 1, every pattern and MSB setting, and every kind of rejected command, each
    followed by a good query) and runs without stalls. Random batches follow, alternately
    without stalls (their cycles are checked against the cycle model) and with idle cycles on
    every input and back-pressure on every output; about :data:`REJECT_RATE` of their commands
    are rejected ones.
    """
    planner = _Planner(config, random.Random(seed))
    rng = planner.rng
    batches = [QueryBatch(queries=tuple(planner.directed()), stalls=CoreStalls())]
    remaining = count - len(batches[0].queries)
    while remaining > 0:
        queries: list[QuerySpec] = []
        while len(queries) < min(BATCH_QUERIES, remaining):
            queries.append(planner.reject() if rng.random() < REJECT_RATE else planner.query())
        stalls = random_stalls(rng) if len(batches) % 2 == 0 else CoreStalls()
        batches.append(QueryBatch(queries=tuple(queries), stalls=stalls))
        remaining -= len(queries)
    return batches


def pack_lanes(values: Iterable[int], width: int, keep: int | None = None) -> int:
    """Bits of consecutive ``width``-bit lanes (lane i at bit i * width) holding the low
    ``keep`` bits (default: all ``width``) of each value, two's complement."""
    mask = (1 << (width if keep is None else keep)) - 1
    bits = 0
    for value in reversed(list(values)):
        bits = (bits << width) | (value & mask)
    return bits


class QueryBeats:
    """The input beats of one good query, as payload bits, with junk wherever the core must not
    look: the lane bits above the setting's width, the rows past n of the last ``k_msb`` beat
    and the rows past a request's count in the memory's answers.

    Parameters
    ----------
    config : AttentionCoreConfig
    spec : QuerySpec
    operands : Operands
        From :func:`make_operands`.

    Attributes
    ----------
    q : int
        The ``q`` beat.
    k_msb : list of int
        The ``k_msb`` beats.
    """

    def __init__(self, config: AttentionCoreConfig, spec: QuerySpec, operands: Operands) -> None:
        self.config = config
        self.rng = random.Random(spec.seed ^ 0x0BEA75)
        b = spec.msb_bits
        self.total_bits = b + 4
        self.lane_bits = config.attention.total_bits
        msb_lane_bits = config.attention.msb_bits
        msb, self.lsb = operands.planes(config, b)
        self.v = operands.v
        self.q = self._rows([operands.q.tolist()], self.lane_bits, self.total_bits, beat_rows=1)
        rows = msb.tolist()
        self.k_msb = [
            self._rows(rows[i : i + config.lanes], msb_lane_bits, b)
            for i in range(0, len(rows), config.lanes)
        ]

    def _rows(
        self, rows: list[list[int]], width: int, keep: int, beat_rows: int | None = None
    ) -> int:
        """Bits of a beat of ``beat_rows`` rows (default E): ``rows`` padded with junk rows,
        each lane holding the low ``keep`` bits of its value and junk above them."""
        D = self.config.dim
        lanes = self.config.lanes if beat_rows is None else beat_rows
        junk_mask = pack_lanes([-1 << keep] * D, width)
        bits = 0
        for r, row in enumerate(rows):
            junk = self.rng.getrandbits(width * D) & junk_mask
            bits |= (pack_lanes(row, width, keep) | junk) << (r * width * D)
        for r in range(len(rows), lanes):
            bits |= self.rng.getrandbits(width * D) << (r * width * D)
        return bits

    def _table_rows(self, indices: list[int], table: torch.Tensor) -> list[list[int]]:
        """Rows of ``table`` at ``indices``; an index past n (a wrong request) reads zeros."""
        n = table.shape[0]
        return [table[i].tolist() if i < n else [0] * self.config.dim for i in indices]

    def k_lsb(self, indices: list[int]) -> int:
        """The memory's answer (a ``k_lsb`` beat) to an ``lsb_req`` beat for rows ``indices``."""
        return self._rows(self._table_rows(indices, self.lsb), 4, 4)

    def v_rows(self, indices: list[int]) -> int:
        """The memory's answer (a ``v`` beat) to a ``v_req`` beat for rows ``indices``."""
        return self._rows(self._table_rows(indices, self.v), self.lane_bits, self.total_bits)
