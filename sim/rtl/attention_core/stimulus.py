# amaranth: UnusedElaboratable=no
"""The one seeded stimulus of the attention core: (head, query) commands, their operands and beats.

Pure Python (no simulator). A query is a :class:`QuerySpec` (the command fields, an operand
pattern and a seed) from which :func:`make_operands` draws Q, K and V deterministically, so a
plan stays small and a failing batch replays from its JSON. The patterns make both requant
paths happen: ``peaked`` (one key dominates: the maximum probability is near 1, no refetch at
the usual thresholds) and ``flat`` (near-equal keys: the maximum probability is near 1/n, a
refetch at a high threshold), besides ``uniform``, ``ties`` (keys drawn from a few rows: equal
probabilities for the top-k) and ``extremes`` (every element at the format's ends; saturating
scores and outputs).

:func:`make_plan` starts with directed batches and continues with random ones; each
:class:`CoreBatch` also says how many edges the memory model takes to answer a K LSB or V row
request (:attr:`CoreBatch.memory_latency`).
"""

import functools
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from amaranth import Shape
from amaranth.lib import data

from sparsa.config.attention import MSB_BITS
from sparsa.config.attention_core import AttentionCoreConfig, RejectReason
from sparsa.models.golden.attention import msb_only, split_planes
from sparsa.sim.blocks.attention_core import MAX_MEMORY_LATENCY
from sparsa.sim.rtl.harness import Batch
from sparsa.sim.rtl.plans import random_size
from sparsa.sim.rtl.stalls import Stalls, random_stalls

__all__ = [
    "BATCH_QUERIES",
    "DIRECTED_LATENCIES",
    "MAX_SATURATING",
    "PATTERNS",
    "REJECT_RATE",
    "SINKS",
    "SLOW_MEMORY",
    "SOURCES",
    "CoreBatch",
    "Operands",
    "QueryBeats",
    "QuerySpec",
    "make_operands",
    "make_plan",
    "pack_lanes",
    "port_layouts",
]

SOURCES = ("cmd", "q", "k_msb", "k_lsb", "v")  # input streams (k_lsb, v: the memory's answers)
SINKS = ("lsb_req", "v_req", "keys", "out")  # output streams
PATTERNS = ("peaked", "flat", "uniform", "ties", "extremes")
BATCH_QUERIES = 12
REJECT_RATE = 0.06
MAX_SATURATING = 20  # most single-key queries the directed batch repeats to saturate a token
DIRECTED_LATENCIES = (2, 3, MAX_MEMORY_LATENCY // 2, MAX_MEMORY_LATENCY)
"""Memory latencies of the directed batches after the first (the random ones take any)."""
SLOW_MEMORY = MAX_MEMORY_LATENCY + 4
"""Largest memory latency of a stalled batch: beyond the cycle model's range, so that the
core's FIFO of probabilities waiting for their V rows fills and back-pressures its top-k
engine (the unstalled batches, whose cycles are checked, keep to 1..MAX_MEMORY_LATENCY)."""


@functools.lru_cache(maxsize=16)
def port_layouts(config: AttentionCoreConfig) -> dict[str, data.Layout]:
    """Payload layout of each of the core's nine streams, as the RTL's signature has it."""
    from sparsa.hw.attention.attention_core import AttentionCore

    core = AttentionCore(config)
    return {port: getattr(core, port).payload.shape() for port in SOURCES + SINKS}


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

    def reject_reason(self, config: AttentionCoreConfig) -> RejectReason:
        """Why the core must reject the command (the first reason that applies), or ``NONE``."""
        if not 1 <= self.n <= config.max_tokens:
            return RejectReason.TOKENS
        if self.msb_bits not in config.msb_settings:
            return RejectReason.MSB_BITS
        if self.score_shift > config.qk_acc_width(self.msb_bits):
            return RejectReason.SCORE_SHIFT
        if self.threshold > 1 << config.attention.prob_bits:
            return RejectReason.THRESHOLD
        if self.v_keep > self.n:
            return RejectReason.V_KEEP
        if self.head >= config.heads:
            return RejectReason.HEAD
        return RejectReason.NONE

    def is_error(self, config: AttentionCoreConfig) -> bool:
        """Whether the core must reject the command."""
        return self.reject_reason(config) != RejectReason.NONE

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
class CoreBatch(Batch):
    """A harness batch of :class:`QuerySpec` cases and the latency of the memory that answers
    their row requests: each answer is offered ``memory_latency`` edges after its request's
    transfer (1: the cycle after), then idles like any source under the batch's stalls."""

    memory_latency: int = 1


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
        self.layout = port_layouts(config)["cmd"]

    def field_max(self, name: str) -> int:
        return (1 << Shape.cast(self.layout.members[name]).width) - 1

    def random_n(self) -> int:
        cap, lanes = self.config.max_tokens, self.config.lanes
        return random_size(self.rng, cap, lanes, odds=(0.55, 0.75, 0.9), short=3)

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
        head: int | None = None,
        clear: tuple[bool, bool] | None = None,
    ) -> QuerySpec:
        cfg, rng = self.config, self.rng
        n = self.random_n() if n is None else n
        pattern = pattern or rng.choice(PATTERNS)
        b = rng.choice(cfg.msb_settings) if msb_bits is None else msb_bits
        clear_tokens, clear_head = (rng.random() < 0.3, rng.random() < 0.3)
        spec = QuerySpec(
            n=n,
            v_keep=self.random_keep(n) if v_keep is None else v_keep,
            msb_bits=b,
            threshold=self.threshold(pattern) if threshold is None else threshold,
            score_shift=0,
            head=rng.randrange(cfg.heads) if head is None else head,
            clear_tokens=clear_tokens if clear is None else clear[0],
            clear_head=clear_head if clear is None else clear[1],
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
            {"n": 1, "v_keep": 2},
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
            kinds.append({"head": cfg.heads})
            kinds.append({"head": rng.randint(cfg.heads, self.field_max("head"))})
        return [{"msb_bits": b, "score_shift": 0, **kind} for kind in kinds]

    def directed(self) -> list[QuerySpec]:
        """Corner cases: the smallest and largest n, v_keep and thresholds, every pattern and
        MSB setting, the last head with and without clearing, a token's importance driven to
        saturation (when at most :data:`MAX_SATURATING` queries do it), and every kind of
        rejected command, each followed by a good query."""
        cfg = self.config
        cap, lanes, one = cfg.max_tokens, cfg.lanes, self.one
        last = cfg.heads - 1
        queries = [
            self.query(n=1, v_keep=1),
            self.query(n=1, v_keep=0),
            self.query(n=cap, v_keep=cap, pattern="flat", threshold=one),
            self.query(n=cap, v_keep=0, pattern="peaked"),
            self.query(n=cap, v_keep=cap, pattern="extremes"),
            self.query(n=cap, pattern="ties"),
            self.query(n=lanes, v_keep=lanes),
            self.query(n=lanes + 1, pattern="flat") if lanes < cap else self.query(n=cap),
            self.query(threshold=0, pattern="flat"),
            self.query(threshold=one, pattern="peaked"),
            self.query(n=cap, head=last, clear=(False, False), pattern="extremes"),
            self.query(n=cap, head=last, clear=(False, False), pattern="extremes"),
            self.query(head=last, clear=(True, True)),
        ]
        queries += [
            self.query(msb_bits=b, pattern=p) for b in cfg.msb_settings for p in ("peaked", "flat")
        ]
        # A single key gets probability 1 each time: its importance accumulator saturates.
        att = cfg.attention
        repeats = min(MAX_SATURATING, (1 << (att.token_importance_bits - att.prob_bits)) + 1)
        queries += [self.query(n=1, head=0, clear=(False, False)) for _ in range(repeats)]
        for kind in range(len(self.reject_kinds())):
            queries += [self.reject(kind), self.query()]
        return queries

    def slow_memory(self) -> list[QuerySpec]:
        """A few queries whose row requests depend most on the memory: every LSB row refetched
        and every V row kept, a refetch and no V row, a single key."""
        cap, one = self.config.max_tokens, self.one
        return [
            self.query(n=cap, v_keep=cap, pattern="flat", threshold=one),
            self.query(n=cap, v_keep=0, pattern="flat", threshold=one),
            self.query(pattern="peaked"),
            self.query(n=1, v_keep=1),
        ]


def make_plan(
    config: AttentionCoreConfig, seed: int, count: int, *, stalls: bool = True
) -> list[CoreBatch]:
    """Build a seeded plan of about ``count`` queries for ``config``.

    The first batch holds the directed cases (:meth:`_Planner.directed`) with a memory
    answering the cycle after each request; then one short directed batch per memory latency
    of :data:`DIRECTED_LATENCIES`, up to
    :data:`~sparsa.sim.blocks.attention_core.MAX_MEMORY_LATENCY` (every LSB and V row
    fetched); all of them without stalls. Random batches of :data:`BATCH_QUERIES` follow,
    about :data:`REJECT_RATE` of their commands rejected ones, alternately without stalls
    (their cycles are checked against the cycle model; a memory latency from 1 to
    ``MAX_MEMORY_LATENCY``) and, when ``stalls``, with random idle cycles on every input (the
    memory's answers included) and back-pressure on every output (the first stalled batch and
    every other one after it with a memory latency above ``MAX_MEMORY_LATENCY``, up to
    :data:`SLOW_MEMORY`; the others within the model's range).

    Parameters
    ----------
    config : AttentionCoreConfig
    seed : int
        Seed of the plan's own generator; batch ``i`` gets stall seed ``seed + i``.
    count : int
        Queries wanted in total (at least the directed ones are always produced).
    stalls : bool
        Whether half of the random batches stall.
    """
    planner = _Planner(config, random.Random(seed))
    rng = planner.rng
    parts: list[tuple[list[QuerySpec], Stalls, int]] = [(planner.directed(), Stalls(), 1)]
    parts += [(planner.slow_memory(), Stalls(), lat) for lat in DIRECTED_LATENCIES]
    remaining = count - sum(len(queries) for queries, _, _ in parts)
    random_batches = 0
    while remaining > 0:
        queries: list[QuerySpec] = []
        while len(queries) < min(BATCH_QUERIES, remaining):
            queries.append(planner.reject() if rng.random() < REJECT_RATE else planner.query())
        if stalls and random_batches % 2:
            # Every other stalled batch has a memory slower than the cycle model's range.
            slow = random_batches % 4 == 1
            latency = rng.randint(*((MAX_MEMORY_LATENCY + 1, SLOW_MEMORY) if slow
                                    else (1, MAX_MEMORY_LATENCY)))
            part = (queries, random_stalls(rng, SOURCES), latency)
        else:
            part = (queries, Stalls(), rng.randint(1, MAX_MEMORY_LATENCY))
        parts.append(part)
        random_batches += 1
        remaining -= len(queries)
    return [
        CoreBatch(cases=tuple(queries), stalls=stalling, seed=seed + i, memory_latency=latency)
        for i, (queries, stalling, latency) in enumerate(parts)
    ]


def batch_to_json(batch: CoreBatch) -> dict[str, Any]:
    """JSON form of a batch (for replay files)."""
    return batch.to_json(
        memory_latency=batch.memory_latency,
        queries=[spec.to_json() for spec in batch.cases],
    )


def batch_from_json(data: Mapping[str, Any]) -> CoreBatch:
    """Inverse of :func:`batch_to_json`."""
    queries = (QuerySpec.from_json(q) for q in data["queries"])
    return CoreBatch.from_json(data, queries, memory_latency=int(data["memory_latency"]))


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
