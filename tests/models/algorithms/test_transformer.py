"""Tests of the Transformers in :mod:`sparsa.models.algorithms.transformer`.

The published models are built on the meta device (shapes only); arithmetic runs on small
configurations. Random tensors come from seeded generators; messages name the seed.
"""

from collections.abc import Iterator

import pytest
import torch
from torch.nn import functional

from sparsa.models.algorithms.transformer import (
    TRANSFORMERS,
    KVCache,
    Transformer,
    TransformerConfig,
    causal_mask,
    dense_attention,
)
from sparsa.models.experiments.baselines import ATTENTION_MODELS
from sparsa.models.experiments.threads import torch_threads

# Parameter counts of the published models as Hugging Face transformers counts them
# (BertModel with its pooler, GPT2Model; GPT-2's LM head is tied to the token embedding).
PUBLISHED_PARAMETERS = {
    "bert-base": 109_482_240,
    "bert-large": 335_141_888,
    "gpt2-small": 124_439_808,
    "gpt2-medium": 354_823_168,
}
SMALL = {"layers": 2, "heads": 2, "d_model": 64, "d_ffn": 96, "vocab": 50, "max_positions": 40}
TINY_GPT2 = TRANSFORMERS["gpt2-small"].replace(**SMALL)
TINY_BERT = TRANSFORMERS["bert-base"].replace(**SMALL)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One PyTorch thread: these tensors are tiny, and two threads on a busy 2-core machine are
    several times slower."""
    with torch_threads(1):
        yield


def rand(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", PUBLISHED_PARAMETERS)
def test_parameter_counts_are_the_published_ones(name: str) -> None:
    with torch.device("meta"):
        model = Transformer(TRANSFORMERS[name])
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS[name]


def test_baselines_time_the_published_attention_shapes() -> None:
    # layers, heads, D and decoder-ness of BERT-Base/Large and GPT-2 Small/Medium
    assert {name: tuple(vars(shape).values()) for name, shape in ATTENTION_MODELS.items()} == {
        "bert-base": (12, 12, 64, False),
        "bert-large": (24, 16, 64, False),
        "gpt2-small": (12, 12, 64, True),
        "gpt2-medium": (24, 16, 64, True),
    }


@pytest.mark.parametrize("causal", [False, True])
def test_dense_attention_equals_scaled_dot_product_attention(causal: bool) -> None:
    seed = 3
    q, k, v = (rand(seed + i, 2, 3, 7, 16) for i in range(3))
    expected = functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    got = dense_attention(0, q, k, v, causal=causal)
    torch.testing.assert_close(got, expected, msg=f"seed={seed}")


def test_dense_attention_with_cached_keys_equals_sdpa_with_the_offset_mask() -> None:
    # 3 new queries after 5 cached tokens: query i sits at position 5 + i.
    seed = 4
    q, k, v = rand(seed, 1, 2, 3, 16), rand(seed + 1, 1, 2, 8, 16), rand(seed + 2, 1, 2, 8, 16)
    mask = causal_mask(3, 8)
    assert mask.tolist()[0] == [True] * 6 + [False] * 2
    expected = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(
        dense_attention(0, q, k, v, causal=True), expected, msg=f"seed={seed}"
    )


def test_generation_with_a_kv_cache_equals_recomputing_the_whole_sequence() -> None:
    seed = 5
    model = Transformer(TINY_GPT2, seed=seed).eval()
    ids = torch.randint(TINY_GPT2.vocab, (2, 12), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(TINY_GPT2.layers)
        parts = [model(ids[:, :8], cache=cache)]
        parts += [model(ids[:, t : t + 1], cache=cache) for t in range(8, 12)]
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(parts, dim=1), full, msg=f"seed={seed}")


def test_causal_model_ignores_later_tokens_and_encoder_does_not() -> None:
    seed = 6
    ids = torch.randint(50, (1, 10), generator=torch.Generator().manual_seed(seed))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 50
    for config, same in ((TINY_GPT2, True), (TINY_BERT, False)):
        model = Transformer(config, seed=seed).eval()
        with torch.no_grad():
            a, b = model(ids)[:, :-1], model(changed)[:, :-1]
        assert torch.equal(a, b) == same, f"causal={config.causal} seed={seed}"


def test_weights_are_seeded() -> None:
    a, b, c = (Transformer(TINY_BERT, seed=s).state_dict() for s in (1, 1, 2))
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert not torch.equal(a["tokens.weight"], c["tokens.weight"])
    assert abs(float(a["tokens.weight"].std()) - 0.02) < 0.002


def test_heads_of_the_published_models_have_dimension_64() -> None:
    assert {config.head_dim for config in TRANSFORMERS.values()} == {64}


def test_lm_logits_and_pooler_shapes_and_errors() -> None:
    seed = 7
    ids = torch.randint(50, (2, 5), generator=torch.Generator().manual_seed(seed))
    gpt2, bert = Transformer(TINY_GPT2, seed=seed), Transformer(TINY_BERT, seed=seed)
    with torch.no_grad():
        assert gpt2.lm_logits(gpt2(ids)).shape == (2, 5, 50)
        pooled = bert.pooled(bert(ids))
    assert pooled.shape == (2, 64) and bool((pooled.abs() <= 1).all())
    with pytest.raises(ValueError, match="needs a decoder"):
        bert.lm_logits(torch.zeros(1, 64))
    with pytest.raises(ValueError, match="no pooler"):
        gpt2.pooled(torch.zeros(1, 2, 64))


def test_forward_errors() -> None:
    model = Transformer(TINY_BERT)
    with pytest.raises(ValueError, match="41 tokens exceed the model's 40 positions"):
        model(torch.zeros(1, 41, dtype=torch.int64))
    with pytest.raises(ValueError, match="decoders"):
        model(torch.zeros(1, 4, dtype=torch.int64), cache=KVCache(2))
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(4, dtype=torch.int64))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"heads": 5}, "not a multiple of heads"),
        ({"layers": 0}, "layers must be a positive integer"),
        ({"gelu": "relu"}, "gelu must be"),
        ({"token_types": -1}, "token_types"),
        ({"causal": True}, "pooler belongs to an encoder"),
    ],
)
def test_config_errors(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TRANSFORMERS["bert-base"].replace(**change)


def test_config_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        TransformerConfig(12, 12, 768, 3072, 100, 10)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        TRANSFORMERS["gpt2-small"].layers = 3  # type: ignore[misc]
