"""SpAtten's algorithm (float reference) as an attention function, and the trace it produces.

:class:`SpattenPolicy` says what is switched on; :class:`SpattenAttention` is an
:class:`~sparsa.models.algorithms.transformer.AttentionFn` that runs it layer after layer and
generation step after step (its state persists across calls), recording what every head fetched,
from which :meth:`SpattenAttention.to_trace` builds a
:class:`~sparsa.models.algorithms.spatten_trace.SpattenTrace`.

**Iterations.** A call for layer 0 starts an iteration: the prompt (or an encoder's input) is
iteration 0, each generation step with a KV cache one more. Iteration t's context has L_t tokens.

**Keep counts.** ``keep_count(ratio, n) = max(1, floor(ratio * n + 1/2))``: the ratio of n
rounded half up, at least one. Keep ratios are fractions of the whole context (not compounded
from layer to layer), as in the released GPT-2 trace (921 / 716 / 204 / 102 of 1,024 keys).

**Cascade token pruning** (spatten.md 1.1). Importance s[j] is the running sum of the attention
probabilities of key j over all heads that ran and all queries that are still alive, over all
layers and iterations (after a requant, the recomputed probabilities; before local V pruning).
The first ceil(15% x layers) layers keep every token; layer l of the others keeps
``keep_count(r_l, L_t)`` tokens, r_l going linearly from ``token_keep[0]`` at the first pruned
layer to ``token_keep[1]`` at the last (their mean when only one layer is pruned). Before layer l
runs, a token top-k picks them from its candidates, the tokens layer l has never pruned and
that layer l - 1 kept in this iteration, by importance (ties to the earlier token). A token
pruned at layer l is never attended again at layer l or any later layer, in this iteration or
any later one: its query, key and value are gone there (the count falls below the schedule
when fewer candidates are left). The token the model reads its output from (``readout``: the
last token of a decoder, whose output predicts the next token; the first token of a classifier
or BERT's pooler) is always kept in its iteration.

**Cascade head pruning** (spatten.md 1.2). Head importance is the running sum of |attention
output| of each head index over its alive queries, layers and iterations. The first
ceil(30% x layers) layers keep every head; the others ``keep_count(r_l, H)`` by the same linear
schedule of ``head_keep``, chosen after the previous layer by a head top-k among the head
indices still alive (cascade: a pruned index never returns). A pruned head outputs zeros.

**Local value pruning** (spatten.md 1.3). For every head and query, of the n keys it sees, only
the V rows of the ``keep_count(v_keep, n)`` largest probabilities are used (ties to the earlier
key); the probabilities are not renormalised.

**Progressive quantization** (spatten.md 1.4). K (and V with ``quantize_v``) are linear
symmetric T-bit codes, T = ``msb_bits`` + 4, with one scale per sequence, layer and head: the
scale :func:`~sparsa.models.golden.attention.quantize` would pick for the keys alive at that layer
in iteration 0 (max |x| / (2**(T-1) - 1)); later tokens use it too, clamped, as if written once to
DRAM. A query first uses the MSB plane only (:func:`~sparsa.models.golden.attention.msb_only`: the
code rounded down to a multiple of 16); if its largest probability is below ``threshold`` it fetches
the 4-bit LSB plane and recomputes with the full code. V is always used at its MSB plane (only
the K LSBs are refetched). Q stays in floating point. ``threshold`` 0 is static quantization.

**Trace rows** (:meth:`SpattenAttention.to_trace`). One row per iteration, layer and head that
ran. ``key_fetch_num`` is the tokens alive at that layer; ``value_fetch_num`` the V rows at least
one alive query of the head used (in generation, the single query's; in a prompt, the union, as
K and V are loaded once per head); ``if_requant`` is True when at least one alive query of the
head refetched the LSBs (the LSB plane of the head's keys is then fetched). ``quant_query_bit``
is -1 (Q is not quantized); ``if_accumulate_importance`` is True when token pruning is on;
``if_topk`` marks the last head of a layer after which a token top-k runs, ``topk`` its k.
:attr:`SpattenAttention.refetch_fraction` counts the per-query decisions instead (the paper's
"5.9% of inputs").
"""

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import torch

from sparsa.config.attention import LSB_BITS, MSB_BITS, AttentionConfig
from sparsa.config.checks import is_int
from sparsa.models.algorithms.spatten_trace import UNQUANTIZED, SpattenTrace
from sparsa.models.algorithms.transformer import attention_probs, causal_mask
from sparsa.models.golden.attention import msb_only, quantize, split_planes

__all__ = [
    "HEAD_UNPRUNED_FRACTION",
    "READOUTS",
    "TOKEN_UNPRUNED_FRACTION",
    "LayerRecord",
    "SpattenAttention",
    "SpattenPolicy",
    "keep_count",
    "layer_keep_ratios",
    "unpruned_layers",
]

TOKEN_UNPRUNED_FRACTION = Fraction(15, 100)
"""Fraction of the first layers that keep every token (spatten.md 1.1)."""

HEAD_UNPRUNED_FRACTION = Fraction(30, 100)
"""Fraction of the first layers that keep every head (spatten.md 1.2)."""

READOUTS = ("first", "last")
"""Tokens a model may read its output from: always kept by token pruning."""


def keep_count(ratio: float, n: int) -> int:
    """max(1, floor(ratio x n + 1/2)): ``ratio`` of ``n`` rounded half up, at least 1."""
    return max(1, math.floor(ratio * n + 0.5))


def _keep_counts(ratio: float, n: torch.Tensor) -> torch.Tensor:
    """:func:`keep_count` of every entry of ``n`` (the same float64 arithmetic)."""
    return torch.floor(n.double() * ratio + 0.5).clamp(min=1).long()


def unpruned_layers(layers: int, fraction: Fraction) -> int:
    """ceil(fraction x layers): the first layers a schedule leaves unpruned."""
    return math.ceil(fraction * layers)


def layer_keep_ratios(
    keep: tuple[float, float], layers: int, fraction: Fraction
) -> tuple[float, ...]:
    """Keep ratio of every layer: 1 for the first :func:`unpruned_layers`, then linear.

    The pruned layers u .. layers - 1 go from ``keep[0]`` to ``keep[1]``; a single pruned layer
    gets their mean.
    """
    first = unpruned_layers(layers, fraction)
    pruned = layers - first
    start, end = keep
    ratios = [1.0] * first
    if pruned == 1:
        ratios.append((start + end) / 2)
    elif pruned > 1:
        ratios += [start + (end - start) * i / (pruned - 1) for i in range(pruned)]
    return tuple(ratios)


def _check_ratio(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ValueError(
            f"{name} = {value!r} is not allowed: a keep ratio must be a number in "
            "(0, 1], the fraction of the n candidates kept (1 keeps all; a pruning "
            "ratio 1 - keep in [0, 1))"
        )
    return float(value)


def _check_schedule(name: str, value: object) -> tuple[float, float]:
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(
                f"{name} = {value!r} is not allowed: give one keep ratio or a pair "
                "(first pruned layer, last layer)"
            )
        return _check_ratio(f"{name}[0]", value[0]), _check_ratio(f"{name}[1]", value[1])
    ratio = _check_ratio(name, value)
    return ratio, ratio


@dataclass(frozen=True, kw_only=True)
class SpattenPolicy:
    """What SpAtten switches on (the defaults switch everything off: plain attention).

    Parameters
    ----------
    token_keep, head_keep : float or (float, float)
        Keep ratio of the pruned layers, each in (0, 1]: one ratio for all of them, or the
        ratios of the first pruned layer and of the last layer (linear in between).
    v_keep : float
        Local value pruning's keep ratio per head and query, (0, 1].
    msb_bits : int or None
        MSB-plane width of K (and V), one of :data:`~sparsa.config.attention.MSB_BITS`; None:
        no quantization.
    threshold : float
        Refetch the LSBs when a query's largest probability is below it, [0, 1); 0: never
        (static quantization). Needs ``msb_bits``.
    quantize_v : bool
        Quantize V too (used at its MSB plane). Needs ``msb_bits``.
    """

    token_keep: float | tuple[float, float] = 1.0
    head_keep: float | tuple[float, float] = 1.0
    v_keep: float = 1.0
    msb_bits: int | None = None
    threshold: float = 0.0
    quantize_v: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_keep", _check_schedule("token_keep", self.token_keep))
        object.__setattr__(self, "head_keep", _check_schedule("head_keep", self.head_keep))
        object.__setattr__(self, "v_keep", _check_ratio("v_keep", self.v_keep))
        if self.msb_bits is not None and (
            not is_int(self.msb_bits) or self.msb_bits not in MSB_BITS
        ):
            raise ValueError(
                f"msb_bits = {self.msb_bits!r} is not supported; allowed: None (no "
                f"quantization) or one of {', '.join(map(str, MSB_BITS))} (the MSB "
                f"plane of the b + {LSB_BITS}-bit settings)"
            )
        t = self.threshold
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float)
            or not math.isfinite(t)
            or not 0 <= t < 1
        ):
            raise ValueError(
                f"threshold = {t!r} is not allowed: the LSBs are refetched when the "
                "largest probability is below it; allowed: [0, 1), 0 = never (at 1 "
                "nearly every query would refetch, and the trace format's "
                "auto_requant_thres must be below 1)"
            )
        object.__setattr__(self, "threshold", float(t))
        if not isinstance(self.quantize_v, bool):
            raise ValueError(f"quantize_v must be True or False, not {self.quantize_v!r}")
        if self.msb_bits is None and (t > 0 or self.quantize_v):
            raise ValueError(
                f"threshold = {t!r} and quantize_v = {self.quantize_v!r} need "
                "msb_bits: without quantization there is no LSB plane"
            )

    @property
    def token_pruning(self) -> bool:
        """Whether any layer may prune tokens."""
        return min(self.token_keep) < 1

    @property
    def head_pruning(self) -> bool:
        """Whether any layer may prune heads."""
        return min(self.head_keep) < 1

    @property
    def requant(self) -> bool:
        """Whether LSB refetches can happen (quantized, threshold above 0)."""
        return self.msb_bits is not None and self.threshold > 0

    def token_ratios(self, layers: int) -> tuple[float, ...]:
        """Token keep ratio of every layer."""
        return layer_keep_ratios(self.token_keep, layers, TOKEN_UNPRUNED_FRACTION)

    def head_ratios(self, layers: int) -> tuple[float, ...]:
        """Head keep ratio of every layer."""
        return layer_keep_ratios(self.head_keep, layers, HEAD_UNPRUNED_FRACTION)

    def describe(self) -> str:
        """One line naming the settings (the trace's configuration row)."""
        quant = (
            "off"
            if self.msb_bits is None
            else f"{self.msb_bits}+{LSB_BITS} threshold {self.threshold:g}"
            + (" K and V" if self.quantize_v else " K")
        )
        return (
            f"token_keep {self.token_keep[0]:g}-{self.token_keep[1]:g} head_keep "
            f"{self.head_keep[0]:g}-{self.head_keep[1]:g} v_keep {self.v_keep:g} "
            f"quantization {quant}"
        )


@dataclass(frozen=True)
class LayerRecord:
    """What one layer did in one iteration, for each sequence of the batch.

    Attributes
    ----------
    iteration, layer, seq_len : int
        Iteration, layer and context length L.
    tokens : torch.Tensor
        (B, L) bool: the tokens alive at this layer (the keys fetched).
    heads : torch.Tensor
        (B, H) bool: the heads that ran.
    value_fetch : torch.Tensor
        (B, H) int64: V rows used by at least one alive query of the head.
    requant : torch.Tensor
        (B, H) bool: some alive query of the head refetched the LSBs.
    min_max_prob : torch.Tensor
        (B, H) float: over the head's alive queries, the smallest largest probability of the
        MSB-only pass (the head requants iff it is below the threshold); NaN when unquantized
        or the head did not run.
    topk : torch.Tensor or None
        (B,) int64: k of the token top-k run after this layer (for the next one), or None.
    """

    iteration: int
    layer: int
    seq_len: int
    tokens: torch.Tensor
    heads: torch.Tensor
    value_fetch: torch.Tensor
    requant: torch.Tensor
    min_max_prob: torch.Tensor
    topk: torch.Tensor | None


def _top_mask(key: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Along the last dimension, the ``counts`` largest entries of ``key`` (counts broadcast
    against ``key[..., 0]``, each from 1 to the row's length), ties to the earlier entry."""
    counts = counts.expand(key.shape[:-1])[..., None]
    kth = key.topk(int(counts.max()), dim=-1).values.gather(-1, counts - 1)
    greater = key > kth
    equal = key == kth
    room = counts - greater.sum(dim=-1, keepdim=True)
    return greater | (equal & (equal.cumsum(dim=-1) <= room))


def _head_scale(x: torch.Tensor, alive: torch.Tensor, bits: int) -> torch.Tensor:
    """(B, H, 1, 1) scale of :func:`quantize` for the alive tokens' rows of each head."""
    peak = x.abs().amax(dim=-1).masked_fill(~alive[:, None, :], 0).amax(dim=-1).double()
    qmax = (1 << (bits - 1)) - 1
    return torch.where(peak > 0, peak / qmax, torch.ones_like(peak))[..., None, None]


def _quantized(
    x: torch.Tensor, scale: torch.Tensor, config: AttentionConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The full T-bit value and the MSB-only value of ``x``, in units of ``x``."""
    codes, _ = quantize(x.double() / scale, config.total_bits, 1.0)
    msb, _ = split_planes(codes, config)
    return (codes * scale).to(x.dtype), (msb_only(msb, config) * scale).to(x.dtype)


class SpattenAttention:
    """SpAtten's attention with its state over layers and iterations (see the module docs).

    Use one object per input batch (an encoder) or per generation (a decoder with a KV cache);
    calls must come layer by layer, each iteration starting at layer 0.

    Parameters
    ----------
    policy : SpattenPolicy
    layers, heads : int
        The model's.
    readout : str or None
        ``"first"`` or ``"last"``: the token the model's output is read from, never pruned in
        its iteration; None: no such token.
    """

    def __init__(
        self, policy: SpattenPolicy, *, layers: int, heads: int, readout: str | None = None
    ) -> None:
        if not isinstance(policy, SpattenPolicy):
            raise ValueError(f"policy must be a SpattenPolicy, not {policy!r}")
        for name, value in (("layers", layers), ("heads", heads)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if readout is not None and readout not in READOUTS:
            raise ValueError(f"readout must be None or one of {READOUTS}, not {readout!r}")
        self.policy = policy
        self.layers = layers
        self.heads = heads
        self.readout = readout
        self.records: list[LayerRecord] = []
        self.decisions = 0
        self.refetches = 0
        self.head_dim: int | None = None
        self._token_ratios = policy.token_ratios(layers)
        self._head_ratios = policy.head_ratios(layers)
        self._iteration = -1
        self._next_layer = 0
        self._batch = 0
        self._score = self._depth = self._head_score = self._head_depth = torch.empty(0)
        self._k_scale: list[torch.Tensor | None] = [None] * layers
        self._v_scale: list[torch.Tensor | None] = [None] * layers
        self._k_planes: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * layers
        self._v_planes: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * layers
        self._quant: AttentionConfig | None = None

    @property
    def iterations(self) -> int:
        """Iterations started so far."""
        return self._iteration + 1

    @property
    def refetch_fraction(self) -> float | None:
        """Fraction of (sequence, iteration, layer, head, alive query) decisions that refetched
        the LSBs; None when no decision was taken (no requant)."""
        return self.refetches / self.decisions if self.decisions else None

    def _start_iteration(self, batch: int, tokens: int, causal: bool) -> None:
        if self._iteration >= 0:
            if not causal:
                raise ValueError(
                    "an encoder input has one iteration: use a new "
                    "SpattenAttention for each input batch"
                )
            if self.readout != "last":
                raise ValueError(
                    "generation steps need readout='last' (the token that predicts "
                    "the next one, and so that every layer keeps a token)"
                )
            if batch != self._batch or tokens <= self._score.shape[1]:
                raise ValueError(
                    f"a generation step must add tokens to the same batch: "
                    f"{batch} sequences of {tokens} tokens after {self._batch} of "
                    f"{self._score.shape[1]}"
                )
        else:
            self._batch = batch
            self._score = torch.zeros(batch, 0, dtype=torch.float64)
            self._depth = torch.zeros(batch, 0, dtype=torch.int64)
            self._head_score = torch.zeros(batch, self.heads, dtype=torch.float64)
            self._head_depth = torch.full((batch, self.heads), self.layers)
        new = tokens - self._score.shape[1]
        self._score = torch.cat([self._score, torch.zeros(batch, new, dtype=torch.float64)], 1)
        self._depth = torch.cat([self._depth, torch.full((batch, new), self.layers)], 1)
        self._iteration += 1

    def _select(
        self, depth: torch.Tensor, score: torch.Tensor, layer: int, ratio: float, forced: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Alive entries at ``layer`` after its top-k (if pruned), and the k of each row."""
        candidates = depth > layer
        if ratio == 1:
            return candidates, None
        k = torch.clamp(candidates.sum(dim=1), max=keep_count(ratio, depth.shape[1]))
        key = score.masked_fill(~candidates, -math.inf)
        if forced is not None:
            key[:, forced] = math.inf
        keep = _top_mask(key, k) & candidates
        depth[candidates & ~keep] = layer
        return keep, k

    def __call__(
        self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool
    ) -> torch.Tensor:
        batch, heads, lq, dim = q.shape
        lk = k.shape[-2]
        if heads != self.heads:
            raise ValueError(
                f"q has {heads} heads; this SpattenAttention was made for {self.heads}"
            )
        if layer != self._next_layer and layer != 0:
            raise ValueError(
                f"layer {layer} called when layer {self._next_layer} was due; "
                "layers must run in order, each iteration from layer 0"
            )
        if layer == 0:
            self._start_iteration(batch, lk, causal)
        self._next_layer = (layer + 1) % self.layers
        self.head_dim = dim
        forced = {"first": 0, "last": lk - 1, None: None}[self.readout]
        tokens, topk = self._select(
            self._depth, self._score, layer, self._token_ratios[layer], forced
        )
        if topk is not None:
            self.records[-1] = replace(self.records[-1], topk=topk)
        heads_alive, _ = self._select(
            self._head_depth, self._head_score, layer, self._head_ratios[layer], None
        )
        queries = tokens[:, lk - lq :]
        # Keys each query may see; a pruned query sees every key so that its (unused) row
        # stays finite.
        visible = tokens[:, None, None, :]
        if causal:
            visible = visible & causal_mask(lq, lk, q.device)
        if bool(tokens.all()):
            mask = causal_mask(lq, lk, q.device) if causal else None
        else:
            mask = visible | ~queries[:, None, :, None]
        live = heads_alive[:, :, None] & queries[:, None, :]  # (B, H, Lq)
        probs, v_used, need, max_prob = self._probabilities(layer, q, k, v, tokens, mask, live)
        if self.policy.v_keep < 1:
            seen = visible.expand(batch, 1, lq, lk)
            counts = _keep_counts(self.policy.v_keep, seen.sum(dim=-1))
            used = _top_mask(probs.masked_fill(~seen, -1.0), counts) & seen
            out = (probs * used) @ v_used
        else:
            used = visible.expand(batch, 1, lq, lk)
            out = probs @ v_used
        out = out.masked_fill(~live[..., None], 0)
        if self.policy.token_pruning:
            self._score += (probs * live[..., None]).sum(dim=(1, 2), dtype=torch.float64)
        if self.policy.head_pruning:
            self._head_score += out.abs().sum(dim=(2, 3), dtype=torch.float64)
        self.records.append(
            LayerRecord(
                iteration=self._iteration,
                layer=layer,
                seq_len=lk,
                tokens=tokens.clone(),
                heads=heads_alive.clone(),
                value_fetch=(used & live[..., None]).any(dim=2).sum(dim=-1),
                requant=need.any(dim=-1),
                min_max_prob=max_prob.masked_fill(~live, math.inf)
                .amin(dim=-1)
                .masked_fill(~heads_alive, math.nan),
                topk=None,
            )
        )
        return out

    def _probabilities(
        self,
        layer: int,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        tokens: torch.Tensor,
        mask: torch.Tensor | None,
        live: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """Final probabilities, the V used, the refetch decisions and the MSB-pass maxima."""
        policy = self.policy
        if policy.msb_bits is None:
            probs = attention_probs(q, k, mask)
            nan = torch.full(live.shape, math.nan)
            return probs, v, torch.zeros_like(live), nan
        if self._quant is None:
            self._quant = AttentionConfig(dim=q.shape[-1], msb_bits=policy.msb_bits)
        config = self._quant
        if self._k_planes[layer] is None:
            self._k_scale[layer] = _head_scale(k, tokens, config.total_bits)
            self._v_scale[layer] = _head_scale(v, tokens, config.total_bits)
        k_full, k_msb = self._planes(self._k_planes, self._k_scale, layer, k, config)
        probs = attention_probs(q, k_msb, mask)
        max_prob = probs.amax(dim=-1)
        need = (max_prob < policy.threshold) & live
        if bool(need.any()):
            probs = torch.where(need[..., None], attention_probs(q, k_full, mask), probs)
        if policy.requant:
            self.decisions += int(live.sum())
            self.refetches += int(need.sum())
        v_used = (
            self._planes(self._v_planes, self._v_scale, layer, v, config)[1]
            if policy.quantize_v
            else v
        )
        return probs, v_used, need, max_prob

    @staticmethod
    def _planes(
        planes: list, scales: list, layer: int, x: torch.Tensor, config: AttentionConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Full and MSB-only values of the layer's K or V; earlier tokens' are kept from the
        previous iterations (their codes do not change: the scale is fixed)."""
        held = planes[layer]
        done = 0 if held is None else held[0].shape[-2]
        full, msb = _quantized(x[..., done:, :], scales[layer], config)
        if held is not None:
            full, msb = torch.cat([held[0], full], dim=-2), torch.cat([held[1], msb], dim=-2)
        planes[layer] = (full, msb)
        return full, msb

    def to_trace(self, *, model: str, config: str | None = None) -> SpattenTrace:
        """The run as a trace: a row per (sequence, iteration, layer, head) that ran.

        Sequence b's iteration t has ``iteration_id`` = b x iterations + t (with one sequence,
        the iteration itself); other columns as in the module docstring.
        """
        if not self.records:
            raise ValueError("nothing ran yet: there is no trace")
        policy = self.policy
        columns: dict[str, list[np.ndarray]] = {}
        for r in self.records:
            b, h = np.nonzero(r.heads.numpy())
            last_head = np.zeros_like(r.heads.numpy())
            last_head[
                np.arange(r.heads.shape[0]),
                self.heads - 1 - r.heads.numpy()[:, ::-1].argmax(axis=1),
            ] = True
            topk = np.full(len(b), UNQUANTIZED) if r.topk is None else r.topk.numpy()[b]
            marks = last_head[b, h] & (r.topk is not None)
            parts = {
                "iteration": b * self.iterations + r.iteration,
                "layer": np.full(len(b), r.layer),
                "head": h,
                "seq_len": np.full(len(b), r.seq_len),
                "key_fetch": r.tokens.sum(dim=1).numpy()[b],
                "requant": r.requant.numpy()[b, h],
                "value_fetch": r.value_fetch.numpy()[b, h],
                "token_topk": marks,
                "topk": np.where(marks, topk, UNQUANTIZED),
            }
            for name, values in parts.items():
                columns.setdefault(name, []).append(np.asarray(values))
        rows = {name: np.concatenate(parts) for name, parts in columns.items()}
        order = np.lexsort((rows["head"], rows["layer"], rows["iteration"]))
        rows = {name: values[order] for name, values in rows.items()}
        n = len(order)
        quant = UNQUANTIZED if policy.msb_bits is None else policy.msb_bits

        def full(value: object) -> np.ndarray:
            return np.full(n, value)

        return SpattenTrace(
            model=model,
            config=config,
            layers=self.layers,
            heads=self.heads,
            head_dim=self.head_dim,
            **rows,
            key_bits=full(quant),
            query_bits=full(UNQUANTIZED),
            requant_threshold=full(policy.threshold if policy.requant else float(UNQUANTIZED)),
            requant_bits=full(LSB_BITS if policy.requant else UNQUANTIZED),
            value_bits=full(quant if policy.quantize_v else UNQUANTIZED),
            accumulate_importance=full(policy.token_pruning),
            rescale_importance=full(False),
        )
