"""Transformers in plain PyTorch (BERT-Base/Large, GPT-2 Small/Medium) with pluggable attention.

The four published models have their published shapes (layers, heads, widths, vocabulary and
positions) and parameter counts, as Hugging Face ``transformers`` counts them: BERT with its
pooler (bert-base 109,482,240, bert-large 335,141,888), GPT-2 with its language-model head tied
to the token embedding (gpt2-small 124,439,808, gpt2-medium 354,823,168). No weights are
downloaded: :class:`Transformer` draws them from a seeded generator (normal, std 0.02, as both
models are initialised before training; GPT-2's residual projections scaled by
1/sqrt(2 x layers)).

Attention is a function passed to :meth:`Transformer.forward`, called once per layer with that
layer's per-head Q, K and V (:class:`AttentionFn`); :func:`dense_attention` is plain softmax
attention, and :mod:`sparsa.models.algorithms.spatten_pruning` switches SpAtten's pruning and
quantization in the same way. GPT-2 generates with a :class:`KVCache`.
"""

import math
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from torch import nn

from sparsa.config.checks import is_int

__all__ = [
    "INIT_STD",
    "TRANSFORMERS",
    "AttentionFn",
    "KVCache",
    "Transformer",
    "TransformerConfig",
    "attention_probs",
    "causal_mask",
    "dense_attention",
]

INIT_STD = 0.02
"""Standard deviation of the random initial weights (BERT's and GPT-2's initializer range)."""


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Shape and flavour of a Transformer.

    Parameters
    ----------
    layers, heads : int
        Blocks, and attention heads per block.
    d_model, d_ffn : int
        Width of the residual stream (a multiple of ``heads``) and of the feed-forward layer.
    vocab, max_positions : int
        Token vocabulary and learned positions.
    token_types : int
        Segment embeddings (BERT: 2); 0 for none.
    causal : bool
        Decoder (GPT-2): causal self-attention, generation with a KV cache, language-model head
        tied to the token embedding. Otherwise an encoder (BERT): bidirectional attention.
    pre_norm : bool
        LayerNorm before each sublayer and after the last block (GPT-2); otherwise after each
        residual addition and after the embeddings (BERT).
    pooler : bool
        BERT's tanh pooler on the first token's output.
    gelu : str
        ``"exact"`` (BERT) or ``"tanh"`` (GPT-2's approximation).
    layer_norm_eps : float
    """

    layers: int
    heads: int
    d_model: int
    d_ffn: int
    vocab: int
    max_positions: int
    token_types: int = 0
    causal: bool
    pre_norm: bool
    pooler: bool = False
    gelu: str = "exact"
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        for name in ("layers", "heads", "d_model", "d_ffn", "vocab", "max_positions"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not is_int(self.token_types) or self.token_types < 0:
            raise ValueError(f"token_types must be an integer >= 0, not {self.token_types!r}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model = {self.d_model} is not a multiple of heads = {self.heads}")
        if self.gelu not in ("exact", "tanh"):
            raise ValueError(f"gelu must be 'exact' or 'tanh', not {self.gelu!r}")
        if self.pooler and self.causal:
            raise ValueError("a pooler belongs to an encoder (causal=False)")

    @property
    def head_dim(self) -> int:
        """D = d_model / heads."""
        return self.d_model // self.heads

    def replace(self, **changes: object) -> "TransformerConfig":
        """A copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)


_BERT = {
    "vocab": 30522,
    "max_positions": 512,
    "token_types": 2,
    "causal": False,
    "pre_norm": False,
    "pooler": True,
    "gelu": "exact",
    "layer_norm_eps": 1e-12,
}
_GPT2 = {
    "vocab": 50257,
    "max_positions": 1024,
    "causal": True,
    "pre_norm": True,
    "gelu": "tanh",
    "layer_norm_eps": 1e-5,
}

TRANSFORMERS: dict[str, TransformerConfig] = {
    "bert-base": TransformerConfig(layers=12, heads=12, d_model=768, d_ffn=3072, **_BERT),
    "bert-large": TransformerConfig(layers=24, heads=16, d_model=1024, d_ffn=4096, **_BERT),
    "gpt2-small": TransformerConfig(layers=12, heads=12, d_model=768, d_ffn=3072, **_GPT2),
    "gpt2-medium": TransformerConfig(layers=24, heads=16, d_model=1024, d_ffn=4096, **_GPT2),
}
"""The published models SpAtten evaluates (spatten.md 3), by name."""


class AttentionFn(Protocol):
    """The attention of one layer, given per-head Q, K and V.

    ``q`` is (B, H, Lq, D), ``k`` and ``v`` (B, H, Lk, D); the Lq queries are the last Lq of the
    Lk tokens (a KV cache holds the earlier ones). With ``causal`` a query attends to the keys
    at or before its own position. Returns the (B, H, Lq, D) head outputs.
    """

    def __call__(
        self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool
    ) -> torch.Tensor: ...


def causal_mask(lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
    """(Lq, Lk) bool: query i (at position Lk - Lq + i) may see key j iff j <= its position."""
    return (
        torch.arange(lk, device=device)[None, :]
        <= torch.arange(lk - lq, lk, device=device)[:, None]
    )


def attention_probs(
    q: torch.Tensor, k: torch.Tensor, key_mask: torch.Tensor | None
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(D)) over the keys that ``key_mask`` (broadcast to the scores) allows.

    Every query must be allowed at least one key.
    """
    scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(q.shape[-1]))
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, -math.inf)
    return scores.softmax(dim=-1)


def dense_attention(
    layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool
) -> torch.Tensor:
    """Plain softmax attention (an :class:`AttentionFn`; ``layer`` is not used)."""
    mask = causal_mask(q.shape[-2], k.shape[-2], q.device) if causal else None
    return attention_probs(q, k, mask) @ v


class KVCache:
    """Keys and values of the tokens seen so far, per layer, for generation.

    Parameters
    ----------
    layers : int
    """

    def __init__(self, layers: int) -> None:
        if not is_int(layers) or layers < 1:
            raise ValueError(f"layers must be a positive integer, not {layers!r}")
        self._kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * layers

    @property
    def length(self) -> int:
        """Tokens cached (those of layer 0)."""
        first = self._kv[0]
        return 0 if first is None else first[0].shape[-2]

    def extend(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the (B, H, L, D) ``k`` and ``v`` of new tokens; return all of the layer's."""
        held = self._kv[layer]
        if held is not None:
            k, v = torch.cat([held[0], k], dim=-2), torch.cat([held[1], v], dim=-2)
        self._kv[layer] = (k, v)
        return k, v


class _SelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.causal = config.causal
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)

    def forward(
        self, x: torch.Tensor, layer: int, attention: AttentionFn, cache: KVCache | None
    ) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (
            t.view(b, n, self.heads, d // self.heads).transpose(1, 2)
            for t in self.qkv(x).chunk(3, dim=-1)
        )
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        heads = attention(layer, q, k, v, causal=self.causal)
        return self.out(heads.transpose(1, 2).reshape(b, n, d))


class _Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.pre_norm = config.pre_norm
        self.attn = _SelfAttention(config)
        self.ln1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = nn.Sequential(
            nn.Linear(config.d_model, config.d_ffn),
            nn.GELU(approximate="tanh" if config.gelu == "tanh" else "none"),
            nn.Linear(config.d_ffn, config.d_model),
        )
        self.ln2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(
        self, x: torch.Tensor, layer: int, attention: AttentionFn, cache: KVCache | None
    ) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attn(self.ln1(x), layer, attention, cache)
            return x + self.ffn(self.ln2(x))
        x = self.ln1(x + self.attn(x, layer, attention, cache))
        return self.ln2(x + self.ffn(x))


class Transformer(nn.Module):
    """BERT-style encoder or GPT-2-style decoder (see :class:`TransformerConfig`).

    Parameters
    ----------
    config : TransformerConfig
    seed : int
        Seed of the generator the initial weights are drawn from (not used on the meta device).
    """

    def __init__(self, config: TransformerConfig, *, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise ValueError(f"config must be a TransformerConfig, not {config!r}")
        if not is_int(seed) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
        self.config = config
        device = torch.get_default_device()
        # Built on the meta device, then allocated once and drawn from the seeded generator
        # (skipping the layers' own initialisation); left on the meta device if asked to.
        with torch.device("meta"):
            d = config.d_model
            self.tokens = nn.Embedding(config.vocab, d)
            self.positions = nn.Embedding(config.max_positions, d)
            self.token_types = nn.Embedding(config.token_types, d) if config.token_types else None
            # BERT normalises the embeddings, GPT-2 the last block's output.
            self.ln = nn.LayerNorm(d, eps=config.layer_norm_eps)
            self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))
            self.pooler = nn.Linear(d, d) if config.pooler else None
        if device.type != "meta":
            self.to_empty(device=device)
            self._init_weights(seed)

    def _init_weights(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        residual_std = INIT_STD / math.sqrt(2 * self.config.layers)
        with torch.no_grad():
            for name, module in self.named_modules():
                if isinstance(module, nn.Embedding | nn.Linear):
                    std = (
                        residual_std
                        if self.config.pre_norm and name.endswith(("attn.out", "ffn.2"))
                        else INIT_STD
                    )
                    module.weight.normal_(0.0, std, generator=generator)
                if isinstance(module, nn.Linear):
                    module.bias.zero_()
                if isinstance(module, nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()

    def forward(
        self,
        ids: torch.Tensor,
        *,
        attention: AttentionFn | None = None,
        cache: KVCache | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states of the last block.

        Parameters
        ----------
        ids : (B, L) int64 tensor
            Token ids. With a ``cache`` they follow the cached tokens (positions continue).
        attention : AttentionFn, optional
            Called once per layer; :func:`dense_attention` when not given.
        cache : KVCache, optional
            Decoders only: keys and values of earlier tokens, extended with these.
        token_type_ids : (B, L) int64 tensor, optional
            Segment ids (encoders with token types; zeros when not given).

        Returns
        -------
        (B, L, d_model) tensor
        """
        config = self.config
        if ids.dim() != 2:
            raise ValueError(f"ids must have shape (batch, tokens), got {tuple(ids.shape)}")
        if cache is not None and not config.causal:
            raise ValueError("a KV cache is for decoders (causal=True) only")
        start = 0 if cache is None else cache.length
        end = start + ids.shape[1]
        if end > config.max_positions:
            raise ValueError(f"{end} tokens exceed the model's {config.max_positions} positions")
        x = self.tokens(ids) + self.positions(torch.arange(start, end, device=ids.device))
        if self.token_types is not None:
            x = x + self.token_types(
                torch.zeros_like(ids) if token_type_ids is None else token_type_ids
            )
        if not config.pre_norm:
            x = self.ln(x)
        attention = dense_attention if attention is None else attention
        for layer, block in enumerate(self.blocks):
            x = block(x, layer, attention, cache)
        return self.ln(x) if config.pre_norm else x

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-token logits of a decoder: ``hidden`` times the (tied) token embedding."""
        if not self.config.causal:
            raise ValueError("lm_logits needs a decoder (causal=True)")
        return hidden @ self.tokens.weight.T

    def pooled(self, hidden: torch.Tensor) -> torch.Tensor:
        """BERT's pooler output: tanh(Linear(first token's hidden state))."""
        if self.pooler is None:
            raise ValueError("this model has no pooler (pooler=False)")
        return torch.tanh(self.pooler(hidden[:, 0]))
