"""A SpAtten trace on the SpAtten system (:mod:`sparsa.config.spatten_system`): the trace
simulator's prediction of the system's cycles.

Each iteration of the trace is one run of the system; each layer of it one layer of the run:
its rows' heads, in increasing order, are the alive heads, their ``key_fetch_num`` the alive
tokens n (one value per layer), their ``value_fetch_num`` the layer's ``v_keep`` (one value per
layer) and their ``if_requant`` the core's decisions; the token top-k after the layer keeps the
``topk`` of its row with ``if_topk`` (n when none has it); the head top-k keeps as many heads as
the next layer has rows (all of them after the last layer).

The trace holds no attention scores or importance, and a quick-select's cycles depend on the
values, so every top-k request is costed on seeded stand-ins (:class:`TopKEstimates`), each on a
freshly reset engine, averaged over several draws, once per distinct request: a query's
probabilities are the golden fixed-point softmax of scores drawn from a normal distribution of
:data:`SCORE_SIGMA` (in units of the score, a peaked attention), a layer's cumulative token
importance the sum (saturating) of as many such vectors as heads have run in the iteration up to
it, head importances uniform over the accumulator's lower half. The rest is the system's cycle
model (:mod:`sparsa.sim.blocks.spatten_system`).
"""

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.config.topk import TopKConfig
from sparsa.models.algorithms.spatten_trace import SpattenTrace
from sparsa.models.golden.attention import fixed_softmax
from sparsa.sim.blocks.attention_core import Command
from sparsa.sim.blocks.spatten_system import LayerTiming, LayerWork, layer_timing, run_cycles
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles

__all__ = ["SAMPLES", "SCORE_SIGMA", "SystemPrediction", "TopKEstimates", "predict_system",
           "trace_work"]

SCORE_SIGMA = 3.0
"""Standard deviation of the stand-in attention scores, in score units (before the softmax)."""
SAMPLES = 8
"""Draws each top-k request's cycles are averaged over."""


class TopKEstimates:
    """Top-k cycles of the system's requests on seeded stand-in values (module docstring): each
    phase's cycles averaged over :data:`SAMPLES` draws (the expected cost, not one sample's).

    Parameters
    ----------
    config : SpattenSystemConfig
    seed : int
    """

    def __init__(self, config: SpattenSystemConfig, *, seed: int = 0) -> None:
        self.config, self.seed = config, seed
        self._golden = config.core.golden(config.core.attention.msb_bits)
        self._cache: dict[tuple, TopKCycles] = {}

    def _probs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        att = self._golden
        top = (1 << (att.score_bits - 1)) - 1
        scores = torch.randn(n, generator=generator) * SCORE_SIGMA * (1 << att.score_frac_bits)
        return fixed_softmax(scores.round().long().clamp(-top - 1, top), att)

    def _average(self, key: tuple, topk: TopKConfig, k: int,
                 draw: Callable[[torch.Generator], torch.Tensor]) -> TopKCycles:
        if key not in self._cache:
            generator = torch.Generator().manual_seed(self.seed)
            samples = [TopKCycleModel(topk).request(draw(generator), k) for _ in range(SAMPLES)]
            self._cache[key] = TopKCycles(*(
                round(sum(getattr(c, f.name) for c in samples) / SAMPLES)
                for f in fields(TopKCycles)))
        return self._cache[key]

    def local(self, n: int, k: int) -> TopKCycles:
        """A query's local-V top-k: k of n probabilities."""
        return self._average(("local", n, k), self.config.core.topk, k,
                             lambda g: self._probs(n, g))

    def tokens(self, n: int, heads: int, k: int) -> TopKCycles:
        """A layer's token top-k: k of n cumulative token importances, each summed over
        ``heads`` queries."""
        top = (1 << self.config.core.attention.token_importance_bits) - 1
        return self._average(("tokens", n, heads, k), self.config.pruning_topk, k,
                             lambda g: sum(self._probs(n, g) for _ in range(heads)).clamp(max=top))

    def heads(self, alive: int, k: int) -> TopKCycles:
        """A layer's head top-k: k of ``alive`` head importances."""
        top = 1 << (self.config.core.attention.head_importance_bits - 1)
        return self._average(("heads", alive, k), self.config.pruning_topk, k,
                             lambda g: torch.randint(0, top, (alive,), generator=g))


@dataclass(frozen=True)
class SystemPrediction:
    """Cycles of a trace on the system: the total (every run), and per run its layers'."""

    cycles: int
    runs: tuple[tuple[LayerTiming, ...], ...]


def _one(values: np.ndarray, what: str, where: str) -> int:
    if np.unique(values).size != 1:
        raise ValueError(f"{where}: the system runs one {what} per layer, the trace has "
                         f"{sorted(set(values.tolist()))}")
    return int(values[0])


def trace_work(trace: SpattenTrace, config: SpattenSystemConfig, *, seed: int = 0
               ) -> list[list[LayerWork]]:
    """Per iteration of ``trace``, the work of each of its layers on the system.

    Raises
    ------
    ValueError
        For a trace the system cannot run as it is, naming the iteration and layer: a layer
        whose rows differ in n or v_keep, more tokens or heads than the system holds, a head
        the system does not have, or a layer whose rows are not all alive in the previous one.
    """
    core = config.core
    estimates = TopKEstimates(config, seed=seed)
    runs = []
    for iteration in np.unique(trace.iteration).tolist():
        rows = np.flatnonzero(trace.iteration == iteration)
        layers = np.unique(trace.layer[rows]).tolist()
        groups = [rows[trace.layer[rows] == layer] for layer in layers]
        groups = [g[np.argsort(trace.head[g], kind="stable")] for g in groups]
        work = []
        queries = 0  # heads run so far in the iteration: the terms of the cumulative importance
        for index, group in enumerate(groups):
            where = f"iteration {iteration}, layer {layers[index]}"
            n = _one(trace.key_fetch[group], "key count", where)
            v_keep = _one(trace.value_fetch[group], "V count", where)
            heads = trace.head[group]
            if n > core.max_tokens or len(group) > core.heads or heads.max() >= core.heads:
                raise ValueError(f"{where}: {n} keys and heads {heads.tolist()} do not fit the "
                                 f"system's {core.max_tokens} tokens and {core.heads} heads")
            topk = trace.topk[group][trace.token_topk[group]]
            token_keep = int(topk[-1]) if topk.size else n
            following = groups[index + 1] if index + 1 < len(groups) else group
            if not set(trace.head[following].tolist()) <= set(heads.tolist()):
                raise ValueError(f"{where}: the next layer's heads are not all alive in it")
            head_keep = len(following)
            commands = tuple(Command(n=n, v_keep=v_keep, requant=bool(r),
                                     topk=estimates.local(n, v_keep))
                             for r in trace.requant[group].tolist())
            work.append(LayerWork(n=n, alive=len(group), token_keep=token_keep,
                                  head_keep=head_keep, commands=commands,
                                  tokens=estimates.tokens(n, queries + len(group), token_keep),
                                  heads=estimates.heads(len(group), head_keep)))
            queries += len(group)
        runs.append(work)
    return runs


def predict_system(trace: SpattenTrace, config: SpattenSystemConfig, *, latency: int,
                   seed: int = 0) -> SystemPrediction:
    """The system's cycles on ``trace`` at memory latency ``latency`` (module docstring)."""
    runs = trace_work(trace, config, seed=seed)
    return SystemPrediction(
        cycles=sum(run_cycles(config, work, latency) for work in runs),
        runs=tuple(tuple(layer_timing(config, w, latency) for w in work) for work in runs))
