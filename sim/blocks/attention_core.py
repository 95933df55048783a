"""Cycle model of the SpAtten attention core
(:class:`sparsa.hw.attention.attention_core.AttentionCore`).

It predicts exactly the cycles the RTL takes for one (head, query), from the clock edge that
transfers the command to the one that transfers its ``out`` beat, when every input is valid
whenever the core wants it, every output is ready, and the memory answers each request beat
``memory_latency`` edges after the request's transfer (the ``k_lsb`` and ``v`` answers are
offered at once; 1 is an answer offered the cycle after the request). ``tests/sim/rtl`` checks it
against RTL-measured cycles.

With B = ceil(n / E) beats, P = ``prob_bits`` and L = ``memory_latency``, one stage after the
other (each function below counts one):

* load Q: 1 cycle (the ``q`` beat right after the command);
* keys (Q x K over the MSB planes): B beats (a beat's transfer loads the core's input register), the
  array's :data:`~sparsa.hw.attention.dot_product.QK_LATENCY` stages, the score-buffer write and the
  cycle that sees the last one: B + QK_LATENCY + 2;
* sum: one score-buffer read, the exp unit's :data:`~sparsa.hw.attention.softmax.EXP_LATENCY`
  stages, B rows and the cycle that sees the sum complete: B + EXP_LATENCY + 2;
* decide: 1 cycle (the requant decision on the sum);
* refetch (when requantizing): the first LSB request is registered (1) and transferred (1),
  its answer transferred L edges later, the B - 1 others one per cycle, then as for keys:
  B + L + QK_LATENCY + 3; then sum and decide again;
* normalize: a read, the exp unit, the divider (P + 1 stages), the probability register, and
  B beats into the top-k engine: B + EXP_LATENCY + (P + 1) + 2 up to the last top-k input;
* local-V top-k: the engine's quick-select rounds and output pass after its last input beat, from
  :class:`sparsa.sim.blocks.topk.TopKCycleModel` (its ``select + output``; the core takes every
  answer beat at once);
* values: from the last top-k answer beat, its V request's transfer (1), the answer's transfer L
  edges later (into the input register), and the prob x V array's
  :data:`~sparsa.hw.attention.dot_product.PV_LATENCY` stages: 1 + L + PV_LATENCY; 0 when v_keep = 0
  (no request);
* output: the cycle that sees the values done, the rounding stage, the result stage and the
  transfer: 4 cycles.

A rejected command takes :data:`REJECT_CYCLES` (its error beat is registered, then transferred).
The values stage assumes the FIFO of probabilities never fills, which holds for
``memory_latency`` up to :data:`MAX_MEMORY_LATENCY`.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.config.checks import is_int
from sparsa.hw.attention.attention_core import V_FIFO_DEPTH
from sparsa.hw.attention.divider import divider_latency
from sparsa.hw.attention.dot_product import PV_LATENCY, QK_LATENCY
from sparsa.hw.attention.softmax import EXP_LATENCY
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles

__all__ = [
    "DECIDE_CYCLES",
    "LOAD_Q_CYCLES",
    "MAX_MEMORY_LATENCY",
    "OUTPUT_CYCLES",
    "REJECT_CYCLES",
    "AttentionCoreCycleModel",
    "QueryCycles",
    "keys_cycles",
    "normalize_cycles",
    "query_cycles",
    "refetch_cycles",
    "sum_cycles",
    "values_cycles",
]

LOAD_Q_CYCLES = 1
DECIDE_CYCLES = 1
OUTPUT_CYCLES = 4
REJECT_CYCLES = 2
MAX_MEMORY_LATENCY = V_FIFO_DEPTH - 2
"""Largest memory latency at which the top-k answer never waits for the FIFO: a beat per cycle
keeps L + 1 entries in it, and a full FIFO (depth entries) refuses the next beat."""


def _beats(config: AttentionCoreConfig, n: int) -> int:
    if not is_int(n) or not 1 <= n <= config.max_tokens:
        raise ValueError(f"n must be an integer from 1 to {config.max_tokens}, not {n!r}")
    return -(-n // config.lanes)


def _check_latency(memory_latency: int) -> None:
    if not is_int(memory_latency) or not 1 <= memory_latency <= MAX_MEMORY_LATENCY:
        raise ValueError(
            f"memory_latency must be an integer from 1 to {MAX_MEMORY_LATENCY}, "
            f"not {memory_latency!r}"
        )


def keys_cycles(config: AttentionCoreConfig, n: int) -> int:
    """Q x K over the n MSB-plane keys: B + QK_LATENCY + 2."""
    return _beats(config, n) + QK_LATENCY + 2


def sum_cycles(config: AttentionCoreConfig, n: int) -> int:
    """The exp pass that sums the terms: B + EXP_LATENCY + 2."""
    return _beats(config, n) + EXP_LATENCY + 2


def refetch_cycles(config: AttentionCoreConfig, n: int, memory_latency: int = 1) -> int:
    """LSB requests, their answers and the Q x K recompute: B + L + QK_LATENCY + 3."""
    _check_latency(memory_latency)
    return _beats(config, n) + memory_latency + QK_LATENCY + 3


def normalize_cycles(config: AttentionCoreConfig, n: int) -> int:
    """From the normalize pass's start to the last top-k input: B + EXP_LATENCY + (P + 1) + 2."""
    return _beats(config, n) + EXP_LATENCY + divider_latency(config) + 2


def values_cycles(v_keep: int, memory_latency: int = 1) -> int:
    """From the last top-k answer beat to the last sum in the prob x V accumulators."""
    _check_latency(memory_latency)
    if not is_int(v_keep) or v_keep < 0:
        raise ValueError(f"v_keep must be a non-negative integer, not {v_keep!r}")
    return 1 + memory_latency + PV_LATENCY if v_keep else 0


@dataclass(frozen=True)
class QueryCycles:
    """Cycles of one (head, query) by stage (zero for a stage it skips).

    Attributes
    ----------
    load_q, keys, sum, decide, refetch, resum, redecide, normalize, values, output : int
        The stages of the module docstring (``resum`` and ``redecide``: the second sum and
        decision after a refetch).
    topk : TopKCycles or None
        The local-V top-k request (its ``select + output`` part is on the critical path).
    """

    load_q: int
    keys: int
    sum: int
    decide: int
    refetch: int
    resum: int
    redecide: int
    normalize: int
    topk: TopKCycles | None
    values: int
    output: int

    @property
    def total(self) -> int:
        """Cycles from the command's transfer to the ``out`` beat's transfer."""
        topk = self.topk.select + self.topk.output if self.topk else 0
        return (
            self.load_q
            + self.keys
            + self.sum
            + self.decide
            + self.refetch
            + self.resum
            + self.redecide
            + self.normalize
            + topk
            + self.values
            + self.output
        )


def query_cycles(
    config: AttentionCoreConfig,
    *,
    n: int,
    v_keep: int,
    requant: bool,
    topk: TopKCycles,
    memory_latency: int = 1,
) -> QueryCycles:
    """Cycles of one good query, given its top-k request's cycles (see the module docstring).

    Parameters
    ----------
    config : AttentionCoreConfig
    n, v_keep : int
        The command's fields.
    requant : bool
        Whether the core refetches the LSB planes (the golden requant decision).
    topk : TopKCycles
        The local-V top-k engine's cycles for the query's probabilities and v_keep
        (:meth:`sparsa.sim.blocks.topk.TopKCycleModel.request`).
    memory_latency : int
        Edges from a request's transfer to its answer's (1 to :data:`MAX_MEMORY_LATENCY`).
    """
    if not isinstance(requant, bool):
        raise ValueError(f"requant must be True or False, not {requant!r}")
    if not is_int(v_keep) or not 0 <= v_keep <= n:
        raise ValueError(f"v_keep must be an integer from 0 to n = {n}, not {v_keep!r}")
    refetch = refetch_cycles(config, n, memory_latency) if requant else 0
    return QueryCycles(
        load_q=LOAD_Q_CYCLES,
        keys=keys_cycles(config, n),
        sum=sum_cycles(config, n),
        decide=DECIDE_CYCLES,
        refetch=refetch,
        resum=sum_cycles(config, n) if requant else 0,
        redecide=DECIDE_CYCLES if requant else 0,
        normalize=normalize_cycles(config, n),
        topk=topk,
        values=values_cycles(v_keep, memory_latency),
        output=OUTPUT_CYCLES,
    )


class AttentionCoreCycleModel:
    """Stateful cycle model of one core, fed the same commands as the RTL in order.

    The state is the local-V top-k engine's pivot LFSR
    (:class:`sparsa.sim.blocks.topk.TopKCycleModel`), which steps once per quick-select round of
    every good query.

    Parameters
    ----------
    config : AttentionCoreConfig
    memory_latency : int
        As for :func:`query_cycles`.
    """

    def __init__(self, config: AttentionCoreConfig, memory_latency: int = 1) -> None:
        check_core_config(config)
        _check_latency(memory_latency)
        self._config = config
        self._latency = memory_latency
        self._topk = TopKCycleModel(config.topk)

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def query(self, probs: Sequence[int] | torch.Tensor, v_keep: int, requant: bool) -> QueryCycles:
        """Cycles of a good query with final probabilities ``probs`` (n of them)."""
        n = len(probs)
        topk = self._topk.request(probs, v_keep)
        return query_cycles(
            self._config,
            n=n,
            v_keep=v_keep,
            requant=requant,
            topk=topk,
            memory_latency=self._latency,
        )

    @staticmethod
    def reject() -> int:
        """Cycles of a rejected command (the engine's state does not change)."""
        return REJECT_CYCLES
