"""Cycle model of the SpAtten attention core
(:class:`sparsa.hw.attention.attention_core.AttentionCore`).

The core runs each command through three units in turn, each one command at a time, so up to
three commands (and the local-V top-k of as many more as it has engines) are in flight:
the front, the normalize unit and the values unit. :func:`pipeline_timing` predicts exactly the
edges at which the RTL takes every command of a run and answers it (from an empty core), when
every input is valid whenever the core wants it, every output is ready, and the memory answers
each request beat ``memory_latency`` edges after the request's transfer (the ``k_lsb`` and ``v``
answers are offered at once; 1 is an answer offered the cycle after the request).
``tests/sim/rtl`` checks it against the edges measured on the RTL.

With B = ceil(n / E) beats, P = ``prob_bits`` and L = ``memory_latency``, the stages (each
function below counts one):

* front (:func:`front_cycles`, from the command's transfer to the hand-on of its scores):

  * load Q: 1 cycle (the ``q`` beat right after the command);
  * keys (Q x K over the MSB planes): B beats (a beat's transfer loads the core's input
    register), the array's :data:`~sparsa.hw.attention.dot_product.QK_LATENCY` stages, the
    score-bank write and the cycle that sees the last one: B + QK_LATENCY + 2;
  * sum: one score-bank read, the exp unit's :data:`~sparsa.hw.attention.softmax.EXP_LATENCY`
    stages, B rows and the cycle that sees the sum complete: B + EXP_LATENCY + 2;
  * decide: 1 cycle (the requant decision on the sum; the hand-on on the same edge);
  * refetch (when requantizing): the first LSB request is registered (1) and transferred (1),
    its answer transferred L edges later, the B - 1 others one per cycle, then as for keys:
    B + L + QK_LATENCY + 3; then sum and decide again;

* normalize: a read, the exp unit, the divider (P + 1 stages), the probability register, and
  B beats into the query's top-k engine: B + EXP_LATENCY + (P + 1) + 2 up to the last top-k
  input (:func:`normalize_cycles`); the bank is released :data:`RELEASE_CYCLES` later;
* local-V top-k: the engine's quick-select rounds and output pass after its last input beat,
  from :class:`sparsa.sim.blocks.topk.TopKCycleModel` (its ``select + output``; the answer FIFO
  takes every beat at once);
* values: the answer's beats (:func:`answer_beats`), one per cycle once the whole answer is in;
  from the last one, its V request's transfer (1), the answer's transfer L edges later (into the
  input register) and the prob x V array's :data:`~sparsa.hw.attention.dot_product.PV_LATENCY`
  stages: 1 + L + PV_LATENCY (:func:`values_cycles`; 0 when v_keep = 0, no request); then the
  cycle that sees the values done, the rounding stage, the result stage and the transfer:
  :data:`OUTPUT_CYCLES`.

The units hand commands on through queues: a registered beat loaded at edge e enters its queue
at e + 1 (or one edge after the queue frees a slot) and can be taken one edge after it enters.
A rejected command is answered :data:`REJECT_CYCLES` after the values unit takes it (its error
beat is registered, then transferred). The values stage assumes the FIFO of probabilities never
fills, which holds for ``memory_latency`` up to :data:`MAX_MEMORY_LATENCY`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.config.checks import is_int
from sparsa.hw.attention.attention_core import (
    QUEUED_FIFO_SLACK,
    SCORED_FIFO_DEPTH,
    V_FIFO_DEPTH,
)
from sparsa.hw.attention.divider import divider_latency
from sparsa.hw.attention.dot_product import PV_LATENCY, QK_LATENCY
from sparsa.hw.attention.layouts import SCORE_BANKS
from sparsa.hw.attention.softmax import EXP_LATENCY
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles

__all__ = [
    "DECIDE_CYCLES",
    "LOAD_Q_CYCLES",
    "MAX_MEMORY_LATENCY",
    "OUTPUT_CYCLES",
    "REJECT_CYCLES",
    "RELEASE_CYCLES",
    "AttentionCoreCycleModel",
    "Command",
    "CommandTiming",
    "Operands",
    "answer_beats",
    "front_cycles",
    "keys_cycles",
    "normalize_cycles",
    "pipeline_timing",
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


RELEASE_CYCLES = 2
"""Edges from the last top-k input beat to the release of the score bank (the last ``keys``
beat leaves, the pass is seen done)."""


def _enter(loaded: int, entries: list[int], takes: list[int], depth: int) -> int:
    """Edge at which a beat loaded at edge ``loaded`` enters a queue of ``depth`` slots, the
    earlier beats having been taken at edges ``takes``."""
    k = len(entries)
    return max(loaded + 1, takes[k - depth] + 1) if k >= depth else loaded + 1


@dataclass(frozen=True)
class Command:
    """One command as the pipelined core's cycle model sees it.

    Attributes
    ----------
    n, v_keep : int
        The command's fields (unused for a rejected command).
    requant : bool
        Whether the core refetches the LSB planes (the golden requant decision).
    topk : TopKCycles or None
        The local-V top-k request's cycles; None for a rejected command.
    """

    n: int = 0
    v_keep: int = 0
    requant: bool = False
    topk: TopKCycles | None = None

    @property
    def good(self) -> bool:
        """Whether the core runs the command (else it rejects it)."""
        return self.topk is not None


@dataclass(frozen=True)
class CommandTiming:
    """When the pipelined core took a command and answered it, and where the cycles went.

    Attributes
    ----------
    accepted : int
        Edge of the ``cmd`` transfer.
    out : int
        Edge of the ``out`` transfer.
    front, normalize, values : int
        Cycles the front, the normalize unit and the values unit worked on the command: the
        front from taking it to handing it on, the normalize unit from taking it to releasing
        its bank, the values unit from its first answer beat (or, for a rejected command, from
        taking it) to the ``out`` transfer.
    """

    accepted: int
    out: int
    front: int
    normalize: int
    values: int


def answer_beats(config: AttentionCoreConfig, v_keep: int) -> int:
    """Beats of the local-V top-k engine's answer: the kept rows, E per beat; one empty beat
    when v_keep = 0."""
    return max(1, -(-v_keep // config.lanes))


def front_cycles(
    config: AttentionCoreConfig, n: int, requant: bool, memory_latency: int = 1
) -> int:
    """Edges from a command's transfer to the front's hand-on of its scores: the query, the
    keys, the sum and the decision, and on a requant the refetch, a second sum and decision."""
    cycles = LOAD_Q_CYCLES + keys_cycles(config, n) + sum_cycles(config, n) + DECIDE_CYCLES
    if requant:
        cycles += refetch_cycles(config, n, memory_latency) + sum_cycles(config, n) + DECIDE_CYCLES
    return cycles


class Operands(Protocol):
    """When a system around the core offers a command's operand beats and takes its answer,
    for :func:`pipeline_timing` (``i`` counts the run's commands from 0; every edge is
    relative to the first command's transfer). Each method returns the earliest edge at which
    the core can take the last beat of a phase, given the edge at which the phase starts."""

    def keys(self, i: int, start: int) -> int:
        """The last ``k_msb`` beat, the front having loaded the query at ``start``."""

    def lsb(self, i: int, start: int) -> int:
        """The last ``k_lsb`` beat, the front starting the refetch at ``start``."""

    def values(self, i: int, start: int) -> int:
        """The last ``v`` beat, the values unit taking the first answer beat at ``start``."""

    def answer(self, i: int, ready: int) -> int:
        """The ``out`` transfer, the beat being offered from ``ready``."""


def _front_done(config: AttentionCoreConfig, cmd: Command, accepted: int, memory_latency: int,
                operands: Operands | None, i: int) -> int:
    """The edge at which the front hands command ``cmd`` on (:func:`front_cycles` after its
    transfer, or later when ``operands`` offers its keys late)."""
    if operands is None:
        return accepted + front_cycles(config, cmd.n, cmd.requant, memory_latency)
    loaded = accepted + LOAD_Q_CYCLES
    keys = max(loaded + keys_cycles(config, cmd.n),
               operands.keys(i, loaded) + QK_LATENCY + 2)
    decided = keys + sum_cycles(config, cmd.n) + DECIDE_CYCLES
    if not cmd.requant:
        return decided
    refetched = max(decided + refetch_cycles(config, cmd.n, memory_latency),
                    operands.lsb(i, decided) + QK_LATENCY + 2)
    return refetched + sum_cycles(config, cmd.n) + DECIDE_CYCLES


def pipeline_timing(
    config: AttentionCoreConfig, commands: Sequence[Command], memory_latency: int = 1,
    operands: Operands | None = None,
) -> list[CommandTiming]:
    """Edges of every command of a run through the pipelined core, from an empty core, when
    every command and operand beat is offered as early as the core takes it, every output is
    ready and the memory answers ``memory_latency`` edges after each request; with
    ``operands``, the operand beats and the ``out`` transfer as late as it says (a phase then
    ends as long after its last beat as after its last beat offered at once).

    * The front takes a good command once it is free and a score bank is (the normalize unit
      has released the bank's previous query, :data:`~sparsa.hw.attention.layouts.SCORE_BANKS`
      good commands back), and loads its hand-on :func:`front_cycles` later (or once the queue
      to the normalize unit has taken the previous hand-on); it takes a rejected command once
      that queue has taken the previous hand-on, and hands it on at once.
    * The normalize unit takes a command from its queue once free and once its previous hand-on
      to the values unit is taken by that unit's queue; for a good command also once the
      query's top-k engine is free (the engines take the good commands in turn; an engine is
      free one edge after the values unit took the last beat of its previous answer). The last
      top-k input comes :func:`normalize_cycles` later, the bank is released
      :data:`RELEASE_CYCLES` after it, and the answer is complete the top-k's ``select +
      output`` after it.
    * The values unit takes a command from its queue once it has sent the previous answer; a
      good command's answer beats go one per cycle from one edge after the later of that, the
      whole answer and the release; the ``out`` beat follows the last one by
      :func:`values_cycles` and :data:`OUTPUT_CYCLES`. A rejected command's follows
      :data:`REJECT_CYCLES` after the values unit takes it.

    The queues are :data:`~sparsa.hw.attention.attention_core.SCORED_FIFO_DEPTH` and
    ``topk_engines`` + :data:`~sparsa.hw.attention.attention_core.QUEUED_FIFO_SLACK` deep.

    Returns
    -------
    list of CommandTiming
        Per command, with edges relative to the first command's transfer (edge 0).
    """
    _check_latency(memory_latency)
    engines = config.topk_engines
    scored: list[int] = []  # edge each hand-on of the front enters its queue
    popped: list[int] = []  # edge the normalize unit takes each command
    queued: list[int] = []  # edge each hand-on of the normalize unit enters its queue
    taken: list[int] = []  # edge the values unit takes each command
    released: list[int] = []  # per good command: the release of its score bank
    consumed: list[int] = []  # per good command: its answer's last beat taken
    timings = []
    front_free = normalize_free = values_free = 0
    for cmd in commands:
        good = len(released)  # good commands before this one
        # The front.
        accepted = front_free
        if cmd.good:
            if good >= SCORE_BANKS:
                accepted = max(accepted, released[good - SCORE_BANKS] + 1)
            loaded = _front_done(config, cmd, accepted, memory_latency, operands, len(timings))
            if scored:
                loaded = max(loaded, scored[-1])
            front_free = loaded + 1
        else:
            if scored:
                accepted = max(accepted, scored[-1])
            loaded = accepted
            front_free = accepted + 1
        scored.append(_enter(loaded, scored, popped, SCORED_FIFO_DEPTH))
        # The normalize unit.
        pop = max(scored[-1] + 1, normalize_free)
        if queued:
            pop = max(pop, queued[-1])
        if cmd.good and good >= engines:
            pop = max(pop, consumed[good - engines] + 1)
        queued.append(_enter(pop, queued, taken, engines + QUEUED_FIFO_SLACK))
        popped.append(pop)
        # The values unit.
        take = max(queued[-1] + 1, values_free)
        taken.append(take)
        if cmd.good:
            last_input = pop + normalize_cycles(config, cmd.n)
            release = last_input + RELEASE_CYCLES
            answered = last_input + cmd.topk.select + cmd.topk.output
            waited = max(take, answered, release) + 1  # the edge the unit starts taking beats
            last_beat = waited + answer_beats(config, cmd.v_keep)
            done = last_beat + values_cycles(cmd.v_keep, memory_latency)
            if operands is not None and cmd.v_keep:
                done = max(done, operands.values(len(timings), waited) + PV_LATENCY)
            out = done + OUTPUT_CYCLES
            if operands is not None:
                out = operands.answer(len(timings), out)
            released.append(release)
            consumed.append(last_beat)
            normalize_free = release + 1
        else:
            release = pop
            out = take + REJECT_CYCLES
            normalize_free = pop + 1
            waited = take
        values_free = out + 1
        timings.append(CommandTiming(accepted=accepted, out=out, front=loaded - accepted,
                                     normalize=release - pop, values=out - waited))
    return timings


class AttentionCoreCycleModel:
    """Stateful cycle model of one core, fed the same commands as the RTL in order.

    The state is which local-V top-k engine selects for the next good command and each engine's
    pivot LFSR (:class:`sparsa.sim.blocks.topk.TopKCycleModel`), which steps once per
    quick-select round of every good command the engine selects for.

    Parameters
    ----------
    config : AttentionCoreConfig
    """

    def __init__(self, config: AttentionCoreConfig) -> None:
        check_core_config(config)
        self._config = config
        self._engines = [TopKCycleModel(config.topk) for _ in range(config.topk_engines)]
        self._next = 0

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def command(self, probs: Sequence[int] | torch.Tensor, v_keep: int, requant: bool) -> Command:
        """A good command with final probabilities ``probs`` (n of them), for
        :func:`pipeline_timing`."""
        if not isinstance(requant, bool):
            raise ValueError(f"requant must be True or False, not {requant!r}")
        n = len(probs)
        _beats(self._config, n)
        if not is_int(v_keep) or not 0 <= v_keep <= n:
            raise ValueError(f"v_keep must be an integer from 0 to n = {n}, not {v_keep!r}")
        topk = self._engines[self._next].request(probs, v_keep)
        self._next = (self._next + 1) % len(self._engines)
        return Command(n=n, v_keep=v_keep, requant=requant, topk=topk)

    @staticmethod
    def reject() -> Command:
        """A rejected command (no engine's state changes)."""
        return Command()
