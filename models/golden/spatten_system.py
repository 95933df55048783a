"""Golden model of a run of the SpAtten system (:mod:`sparsa.config.spatten_system`): several
layers of one query per alive head, with cascade token and head pruning between them.

Bit-exact with the RTL: each head's query is
:func:`sparsa.models.golden.attention.attend_one_query` with the core's golden configuration of
the layer's MSB setting over the alive tokens' rows in list order; the token importance starts
afresh at each layer's first head and sums over its heads; the head importance starts afresh at
every query; a token's cumulative importance is its importance over the layer's heads added to
its cumulative importance from the layers before (zero at the first layer), saturating at
``token_importance_bits``; the kept tokens and heads are :func:`sparsa.models.golden.topk.topk`
of the cumulative token importances and of the head importances (ties to the earliest in list
order), in list order, the kept tokens carrying their cumulative importance on.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sparsa.config.checks import is_int
from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.models.golden.attention import attend_one_query
from sparsa.models.golden.topk import topk

__all__ = ["HeadAnswer", "LayerRun", "LayerSettings", "LayerTensors", "run_layers"]


@dataclass(frozen=True)
class LayerTensors:
    """What the host leaves in DRAM for one layer, for every head h and token t.

    Attributes
    ----------
    q : (H, D) int64 tensor
        Each head's query, (b + 4)-bit signed.
    k_msb, k_lsb, v : (H, N, D) int64 tensors
        The K MSB plane (b-bit signed), the K LSB plane (4-bit unsigned) and V ((b + 4)-bit
        signed) of every (head, token).
    """

    q: torch.Tensor
    k_msb: torch.Tensor
    k_lsb: torch.Tensor
    v: torch.Tensor


@dataclass(frozen=True)
class LayerSettings:
    """A layer descriptor's run-time fields (its addresses aside)."""

    token_keep: int
    head_keep: int
    v_keep: int
    msb_bits: int
    threshold: int
    score_shift: int


@dataclass(frozen=True)
class HeadAnswer:
    """One head's query of one layer.

    Attributes
    ----------
    head : int
    out : torch.Tensor
        (D,) output values.
    requant : bool
        Whether the keys' LSB planes were fetched.
    head_importance : int
    v_rows : torch.Tensor
        The places (in the alive list) of the V rows fetched.
    probs : torch.Tensor
        The final probabilities (what the local-V top-k selects from).
    n : int
        Keys of the query (alive tokens).
    """

    head: int
    out: torch.Tensor
    requant: bool
    head_importance: int
    v_rows: torch.Tensor
    probs: torch.Tensor
    n: int


@dataclass(frozen=True)
class LayerRun:
    """One layer of a run: the alive lists it starts from, each alive head's answer, the
    cumulative token importance the token top-k ranks, and the lists it keeps."""

    tokens: tuple[int, ...]
    heads: tuple[int, ...]
    answers: tuple[HeadAnswer, ...]
    token_importance: tuple[int, ...]
    kept_tokens: tuple[int, ...]
    kept_heads: tuple[int, ...]


def run_layers(config: SpattenSystemConfig, layers: Sequence[LayerTensors],
               settings: Sequence[LayerSettings], *, tokens: int, heads: int) -> list[LayerRun]:
    """Run ``layers`` from ``tokens`` alive tokens and ``heads`` alive heads.

    Raises
    ------
    ValueError
        For a start or a layer's settings the system would refuse
        (:class:`~sparsa.config.spatten_system.Fault`), naming the value.
    """
    core = config.core
    if not is_int(tokens) or not 1 <= tokens <= core.max_tokens:
        raise ValueError(f"tokens must be an integer from 1 to {core.max_tokens}, not {tokens!r}")
    if not is_int(heads) or not 1 <= heads <= core.heads:
        raise ValueError(f"heads must be an integer from 1 to {core.heads}, not {heads!r}")
    if not layers or len(layers) != len(settings):
        raise ValueError(f"need one settings per layer and at least one layer, got "
                         f"{len(layers)} layers and {len(settings)} settings")
    alive_tokens = list(range(tokens))
    alive_heads = list(range(heads))
    cumulative = torch.zeros(tokens, dtype=torch.int64)
    top = (1 << core.attention.token_importance_bits) - 1
    runs = []
    for index, (tensors, s) in enumerate(zip(layers, settings, strict=True)):
        n = len(alive_tokens)
        if not 1 <= s.token_keep <= n:
            raise ValueError(f"layer {index}: token_keep must be from 1 to {n}, not "
                             f"{s.token_keep!r}")
        if not 1 <= s.head_keep <= len(alive_heads):
            raise ValueError(f"layer {index}: head_keep must be from 1 to {len(alive_heads)}, "
                             f"not {s.head_keep!r}")
        golden = core.golden(s.msb_bits)
        rows = torch.tensor(alive_tokens)
        importance = None
        answers = []
        for h in alive_heads:
            r = attend_one_query(
                tensors.q[h], tensors.k_msb[h, rows], tensors.k_lsb[h, rows],
                tensors.v[h, rows], golden, threshold=s.threshold, v_keep=s.v_keep,
                score_shift=s.score_shift, token_importance=importance)
            importance = r.token_importance
            answers.append(HeadAnswer(head=h, out=r.out, requant=r.requant,
                                      head_importance=r.head_importance, v_rows=r.v_rows,
                                      probs=r.probs, n=n))
        width = config.importance_bits
        total = (cumulative + importance).clamp(max=top)
        kept, _ = topk(total, s.token_keep, width=width, signed=False)
        cumulative = total[kept]
        kept_h, _ = topk([a.head_importance for a in answers], s.head_keep, width=width,
                         signed=False)
        runs.append(LayerRun(
            tokens=tuple(alive_tokens), heads=tuple(alive_heads), answers=tuple(answers),
            token_importance=tuple(int(x) for x in total),
            kept_tokens=tuple(alive_tokens[int(i)] for i in kept),
            kept_heads=tuple(alive_heads[int(i)] for i in kept_h)))
        alive_tokens = list(runs[-1].kept_tokens)
        alive_heads = list(runs[-1].kept_heads)
    return runs
