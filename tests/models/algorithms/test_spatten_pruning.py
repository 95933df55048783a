"""Tests of SpAtten's algorithm (:mod:`sparsa.models.algorithms.spatten_pruning`) against
independent references.

The references below recompute each technique directly (per sequence, per head, per query with
plain tensor code), from the module docstring's definitions. Random tensors come from seeded
generators; messages name the seed.
"""

import math
from collections.abc import Iterator
from itertools import pairwise

import pytest
import torch

from sparsa.models.algorithms.spatten_pruning import (
    HEAD_UNPRUNED_FRACTION,
    TOKEN_UNPRUNED_FRACTION,
    SpattenAttention,
    SpattenPolicy,
    keep_count,
    layer_keep_ratios,
    unpruned_layers,
)
from sparsa.models.algorithms.spatten_trace import UNQUANTIZED
from sparsa.models.algorithms.transformer import TRANSFORMERS, KVCache, Transformer, dense_attention
from sparsa.models.experiments.threads import torch_threads

D = 32
TINY_GPT2 = TRANSFORMERS["gpt2-small"].replace(
    layers=4, heads=2, d_model=64, d_ffn=96, vocab=60, max_positions=48
)
TINY_BERT = TRANSFORMERS["bert-base"].replace(
    layers=4, heads=2, d_model=64, d_ffn=96, vocab=60, max_positions=48
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One PyTorch thread: these tensors are tiny, and two threads on a busy 2-core machine are
    several times slower."""
    with torch_threads(1):
        yield


def qkv(seed: int, batch: int, heads: int, n: int, sharp: float = 1.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, n, D, generator=g) * sharp
    return [
        q,
        torch.randn(batch, heads, n, D, generator=g),
        torch.randn(batch, heads, n, D, generator=g),
    ]


def probs_over(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), dim=-1)


def top(scores: torch.Tensor, k: int) -> set[int]:
    """Indices of the k largest, ties to the earlier index (independent of the module's)."""
    order = sorted(range(len(scores)), key=lambda j: (-float(scores[j]), j))
    return set(order[:k])


def test_keep_count_rounds_half_up_and_keeps_one() -> None:
    assert keep_count(0.9, 1024) == 922  # 921.6
    assert keep_count(0.5, 5) == 3  # 2.5 rounds up
    assert keep_count(0.3, 10) == 3
    assert keep_count(0.01, 10) == 1  # at least one
    assert keep_count(1.0, 7) == 7


def test_unpruned_layers_and_linear_schedule() -> None:
    assert [unpruned_layers(n, TOKEN_UNPRUNED_FRACTION) for n in (2, 12, 20, 24)] == [1, 2, 3, 4]
    assert [unpruned_layers(n, HEAD_UNPRUNED_FRACTION) for n in (3, 10, 12, 24)] == [1, 3, 4, 8]
    ratios = layer_keep_ratios((0.9, 0.1), 12, TOKEN_UNPRUNED_FRACTION)
    assert ratios[:2] == (1.0, 1.0)
    assert ratios[2] == pytest.approx(0.9) and ratios[-1] == pytest.approx(0.1)
    steps = [b - a for a, b in pairwise(ratios[2:])]
    assert steps == pytest.approx([-0.8 / 9] * 9)
    assert layer_keep_ratios((0.8, 0.4), 2, TOKEN_UNPRUNED_FRACTION) == (1.0, pytest.approx(0.6))
    assert layer_keep_ratios((0.5, 0.5), 1, TOKEN_UNPRUNED_FRACTION) == (1.0,)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"token_keep": 0},
            r"token_keep = 0 is not allowed: a keep ratio must be a number in \(0, 1\]",
        ),
        ({"token_keep": 1.5}, r"token_keep = 1.5 is not allowed"),
        ({"head_keep": (0.5, 0.0)}, r"head_keep\[1\] = 0.0 is not allowed"),
        ({"head_keep": (0.5,)}, r"give one keep ratio or a pair"),
        ({"v_keep": True}, r"v_keep = True is not allowed"),
        ({"v_keep": math.nan}, r"v_keep = nan is not allowed"),
        (
            {"msb_bits": 5},
            r"msb_bits = 5 is not supported; allowed: None \(no quantization\) or one "
            r"of 4, 6, 8, 10, 12",
        ),
        ({"msb_bits": 6.0}, r"msb_bits = 6.0 is not supported"),
        ({"msb_bits": 6, "threshold": 1.0}, r"threshold = 1.0 is not allowed.*allowed: \[0, 1\)"),
        ({"msb_bits": 6, "threshold": -0.1}, r"threshold = -0.1 is not allowed"),
        ({"threshold": 0.1}, r"need msb_bits"),
        ({"quantize_v": True}, r"need msb_bits"),
        ({"msb_bits": 6, "quantize_v": 1}, r"quantize_v must be True or False"),
    ],
)
def test_policy_errors_name_the_value_and_what_is_allowed(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpattenPolicy(**settings)


def test_policy_normalises_schedules_and_flags() -> None:
    policy = SpattenPolicy(token_keep=0.5, head_keep=[1, 0.5], msb_bits=8, threshold=0)
    assert policy.token_keep == (0.5, 0.5) and policy.head_keep == (1.0, 0.5)
    assert policy.token_pruning and policy.head_pruning and not policy.requant
    assert not SpattenPolicy().token_pruning and SpattenPolicy(msb_bits=4, threshold=0.1).requant


@pytest.mark.parametrize("causal", [False, True])
def test_all_off_is_exactly_plain_attention(causal: bool) -> None:
    seed = 11
    attention = SpattenAttention(SpattenPolicy(), layers=2, heads=3)
    for layer in range(2):
        q, k, v = qkv(seed + layer, 2, 3, 9)
        assert torch.equal(
            attention(layer, q, k, v, causal=causal), dense_attention(layer, q, k, v, causal=causal)
        ), f"seed={seed}"
    assert attention.refetch_fraction is None


@pytest.mark.parametrize("config", [TINY_BERT, TINY_GPT2], ids=["encoder", "decoder"])
def test_all_off_model_forward_is_exactly_the_plain_model(config) -> None:
    seed = 12
    model = Transformer(config, seed=seed).eval()
    ids = torch.randint(config.vocab, (2, 20), generator=torch.Generator().manual_seed(seed))
    attention = SpattenAttention(
        SpattenPolicy(),
        layers=config.layers,
        heads=config.heads,
        readout="last" if config.causal else "first",
    )
    with torch.no_grad():
        assert torch.equal(model(ids, attention=attention), model(ids)), f"seed={seed}"


def test_cascade_token_pruning_against_a_reference() -> None:
    # 4 layers: layer 0 unpruned (ceil(0.15 x 4) = 1), then keep 0.6, 0.4, 0.2 of 20 tokens.
    seed, batch, heads, n = 13, 2, 2, 20
    policy = SpattenPolicy(token_keep=(0.6, 0.2))
    attention = SpattenAttention(policy, layers=4, heads=heads)
    score = torch.zeros(batch, n, dtype=torch.float64)
    alive = [set(range(n)) for _ in range(batch)]
    for layer, ratio in enumerate(policy.token_ratios(4)):
        q, k, v = qkv(seed + layer, batch, heads, n)
        out = attention(layer, q, k, v, causal=False)
        for b in range(batch):
            if ratio < 1:  # top-k of the running column sums among the survivors
                ids = sorted(alive[b])
                best = top(score[b, ids], keep_count(ratio, n))
                alive[b] = {ids[i] for i in best}
            ids = sorted(alive[b])
            assert set(attention.records[-1].tokens[b].nonzero().flatten().tolist()) == alive[b], (
                f"layer {layer} sequence {b} seed={seed}"
            )
            for h in range(heads):
                p = probs_over(q[b, h, ids], k[b, h, ids])
                torch.testing.assert_close(
                    out[b, h, ids], p @ v[b, h, ids], msg=f"layer {layer} seed={seed}"
                )
                score[b, ids] += p.double().sum(dim=0)
            dead = [j for j in range(n) if j not in alive[b]]
            assert not out[b, :, dead].any(), "pruned queries output nothing"
    assert [len(s) for s in alive] == [4, 4]


def test_cascade_head_pruning_against_a_reference() -> None:
    # 4 layers: heads of layers 0-1 unpruned (ceil(0.3 x 4) = 2), then 2 of 4 heads.
    seed, batch, heads, n = 14, 2, 4, 6
    attention = SpattenAttention(SpattenPolicy(head_keep=0.5), layers=4, heads=heads)
    head_score = torch.zeros(batch, heads, dtype=torch.float64)
    kept = [set(range(heads)) for _ in range(batch)]
    for layer in range(4):
        q, k, v = qkv(seed + layer, batch, heads, n)
        out = attention(layer, q, k, v, causal=False)
        for b in range(batch):
            if layer >= 2:
                ids = sorted(kept[b])
                kept[b] = {ids[i] for i in top(head_score[b, ids], 2)}
            assert set(attention.records[-1].heads[b].nonzero().flatten().tolist()) == kept[b]
            for h in range(heads):
                if h in kept[b]:
                    torch.testing.assert_close(
                        out[b, h], probs_over(q[b, h], k[b, h]) @ v[b, h], msg=f"seed={seed}"
                    )
                else:
                    assert not out[b, h].any(), f"pruned head {h} seed={seed}"
            head_score[b] += out[b].abs().double().sum(dim=(1, 2))


@pytest.mark.parametrize("causal", [False, True])
def test_local_value_pruning_against_a_reference(causal: bool) -> None:
    seed, batch, heads, n, ratio = 15, 2, 2, 10, 0.3
    q, k, v = qkv(seed, batch, heads, n, sharp=3.0)
    attention = SpattenAttention(SpattenPolicy(v_keep=ratio), layers=1, heads=heads)
    out = attention(0, q, k, v, causal=causal)
    for b in range(batch):
        for h in range(heads):
            fetched = set()
            for i in range(n):
                seen = i + 1 if causal else n
                p = probs_over(q[b, h, i : i + 1], k[b, h, :seen])[0]
                used = top(p, keep_count(ratio, seen))
                fetched |= used
                expected = sum(p[j] * v[b, h, j] for j in used)  # not renormalised
                torch.testing.assert_close(out[b, h, i], expected, msg=f"seed={seed}")
            assert int(attention.records[0].value_fetch[b, h]) == len(fetched)


@pytest.mark.parametrize("quantize_v", [False, True])
def test_progressive_quantization_against_a_reference(quantize_v: bool) -> None:
    seed, batch, heads, n, bits, threshold = 16, 2, 2, 12, 4, 0.3
    q, k, v = qkv(seed, batch, heads, n)
    q = q * torch.linspace(0.1, 4, n)[:, None]  # flat and peaked distributions
    policy = SpattenPolicy(msb_bits=bits, threshold=threshold, quantize_v=quantize_v)
    attention = SpattenAttention(policy, layers=1, heads=heads)
    out = attention(0, q, k, v, causal=False)
    qmax = 2 ** (bits + 4 - 1) - 1
    refetches = 0
    for b in range(batch):
        for h in range(heads):
            scale = float(k[b, h].abs().max()) / qmax
            codes = torch.round(k[b, h].double() / scale)
            msb = torch.floor(codes / 16) * 16
            v_scale = float(v[b, h].abs().max()) / qmax
            values = (
                torch.floor(torch.round(v[b, h].double() / v_scale) / 16) * 16 * v_scale
                if quantize_v
                else v[b, h].double()
            )
            coarse = probs_over(q[b, h].double(), msb * scale)
            fine = probs_over(q[b, h].double(), codes * scale)
            need = coarse.max(dim=-1).values < threshold
            refetches += int(need.sum())
            expected = torch.where(need[:, None], fine, coarse) @ values
            torch.testing.assert_close(
                out[b, h].double(), expected, rtol=1e-4, atol=1e-5, msg=f"seed={seed}"
            )
            assert bool(attention.records[0].requant[b, h]) == bool(need.any())
            assert float(attention.records[0].min_max_prob[b, h]) == pytest.approx(
                float(coarse.max(dim=-1).values.min()), rel=1e-5
            )
    assert 0 < refetches < batch * heads * n, "the test needs both decisions"
    assert attention.decisions == batch * heads * n and attention.refetches == refetches


def test_generation_pruned_tokens_never_come_back() -> None:
    seed, steps = 17, 6
    model = Transformer(TINY_GPT2, seed=seed).eval()
    policy = SpattenPolicy(
        token_keep=(0.8, 0.3), head_keep=0.5, v_keep=0.5, msb_bits=6, threshold=0.2
    )
    attention = SpattenAttention(policy, layers=4, heads=2, readout="last")
    ids = torch.randint(TINY_GPT2.vocab, (1, 20), generator=torch.Generator().manual_seed(seed))
    cache = KVCache(4)
    with torch.no_grad():
        hidden = model(ids, attention=attention, cache=cache)
        for _ in range(steps):
            hidden = model(
                model.lm_logits(hidden[:, -1:]).argmax(-1), attention=attention, cache=cache
            )
    assert attention.iterations == steps + 1
    records = {(r.iteration, r.layer): r for r in attention.records}
    for (t, layer), r in records.items():
        tokens = r.tokens[0]
        assert bool(tokens[-1]), f"the newest token is kept, iteration {t} seed={seed}"
        assert int(tokens.sum()) <= keep_count(policy.token_ratios(4)[layer], r.seq_len)
        if layer:
            before = records[t, layer - 1]
            assert not (tokens & ~before.tokens[0]).any(), "cascade across layers"
            assert not (r.heads & ~before.heads).any(), "heads cascade across layers"
        if t:
            earlier = records[t - 1, layer].tokens[0]
            assert not (tokens[: len(earlier)] & ~earlier).any(), (
                f"a token pruned at layer {layer} came back at iteration {t}, seed={seed}"
            )
            assert not (r.heads & ~records[t - 1, layer].heads).any()
    first = records[0, 3].tokens[0]
    assert int(first.sum()) == keep_count(0.3, 20)


def test_trace_rows_follow_the_records() -> None:
    seed, batch, heads, n = 18, 2, 4, 16
    policy = SpattenPolicy(
        token_keep=0.5, head_keep=0.5, v_keep=0.5, msb_bits=6, threshold=0.25, quantize_v=True
    )
    attention = SpattenAttention(policy, layers=4, heads=heads, readout="first")
    for layer in range(4):
        attention(layer, *qkv(seed + layer, batch, heads, n, sharp=2.0), causal=False)
    trace = attention.to_trace(model="unit", config="unit test")
    assert len(trace) == sum(int(r.heads.sum()) for r in attention.records)
    assert trace.iteration.tolist() == sorted(trace.iteration.tolist())
    assert set(trace.iteration.tolist()) == {0, 1}  # sequence b's iteration 0 is b
    assert (trace.key_bits == 6).all() and (trace.value_bits == 6).all()
    assert (trace.query_bits == UNQUANTIZED).all() and (trace.requant_threshold == 0.25).all()
    for row in range(len(trace)):
        b, layer, h = int(trace.iteration[row]), int(trace.layer[row]), int(trace.head[row])
        r = attention.records[layer]
        assert trace.key_fetch[row] == int(r.tokens[b].sum())
        assert trace.value_fetch[row] == int(r.value_fetch[b, h])
        assert trace.requant[row] == (float(r.min_max_prob[b, h]) < 0.25)
        last = max(r.heads[b].nonzero().flatten().tolist())
        marked = r.topk is not None and h == last
        assert trace.token_topk[row] == marked
        assert trace.topk[row] == (int(r.topk[b]) if marked else UNQUANTIZED)
    # layer 0 is unpruned; the top-k choosing layer 1's 8 tokens runs after it.
    assert trace.topk[trace.token_topk & (trace.layer == 0)].tolist() == [8, 8]


def test_attention_errors() -> None:
    with pytest.raises(ValueError, match="readout must be None or one of"):
        SpattenAttention(SpattenPolicy(), layers=2, heads=2, readout="middle")
    with pytest.raises(ValueError, match="policy must be a SpattenPolicy"):
        SpattenAttention({}, layers=2, heads=2)  # type: ignore[arg-type]
    attention = SpattenAttention(SpattenPolicy(), layers=2, heads=2)
    with pytest.raises(ValueError, match="nothing ran yet"):
        attention.to_trace(model="x")
    q = torch.zeros(1, 2, 3, D)
    with pytest.raises(ValueError, match="layer 1 called when layer 0 was due"):
        attention(1, q, q, q, causal=False)
    with pytest.raises(ValueError, match="3 heads"):
        attention(0, torch.zeros(1, 3, 3, D), q, q, causal=False)
    attention(0, q, q, q, causal=False)
    attention(1, q, q, q, causal=False)
    with pytest.raises(ValueError, match="an encoder input has one iteration"):
        attention(0, q, q, q, causal=False)
    decoder = SpattenAttention(SpattenPolicy(), layers=1, heads=2)
    decoder(0, q, q, q, causal=True)
    with pytest.raises(ValueError, match="generation steps need readout='last'"):
        decoder(0, q[:, :, :1], torch.zeros(1, 2, 4, D), torch.zeros(1, 2, 4, D), causal=True)
