"""Tests of the SpAtten system's golden run (:mod:`sparsa.models.golden.spatten_system`):
cascade pruning against a direct reference built from the core's golden functions, and the
refusals of bad starts and settings."""

import dataclasses

import pytest
import torch

from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.dataflow.spatten_program import random_run
from sparsa.models.golden.attention import attend_one_query
from sparsa.models.golden.spatten_system import run_layers

CONFIG = SpattenSystemConfig()


def test_pruning_keeps_the_most_important_alive_tokens_and_heads() -> None:
    """Cumulative token importance across the layers (saturating), head importance per
    layer, ties to the earliest."""
    tensors, settings = random_run(CONFIG, layers=3, tokens=40, heads=6, seed=11)
    runs = run_layers(CONFIG, tensors, settings, tokens=40, heads=6)
    alive_tokens, alive_heads = list(range(40)), list(range(6))
    carried = [0] * 40  # each alive token's cumulative importance from the layers before
    for run, tensor, s in zip(runs, tensors, settings, strict=True):
        assert run.tokens == tuple(alive_tokens) and run.heads == tuple(alive_heads)
        rows = torch.tensor(alive_tokens)
        total = torch.zeros(len(alive_tokens), dtype=torch.int64)
        importance = []
        for h in alive_heads:
            r = attend_one_query(tensor.q[h], tensor.k_msb[h, rows], tensor.k_lsb[h, rows],
                                 tensor.v[h, rows], CONFIG.core.golden(s.msb_bits),
                                 threshold=s.threshold, v_keep=s.v_keep,
                                 score_shift=s.score_shift)
            total += r.probs
            importance.append(r.head_importance)
        top = (1 << CONFIG.core.attention.token_importance_bits) - 1
        total = [min(c + int(t), top) for c, t in zip(carried, total.tolist(), strict=True)]
        assert run.token_importance == tuple(total)
        assert [a.head_importance for a in run.answers] == importance
        # The kept ones: the token_keep largest, ties to the earliest, in list order.
        order = sorted(range(len(total)), key=lambda i: (-int(total[i]), i))[:s.token_keep]
        assert run.kept_tokens == tuple(alive_tokens[i] for i in sorted(order))
        carried = [total[i] for i in sorted(order)]
        order = sorted(range(len(importance)), key=lambda i: (-importance[i], i))[:s.head_keep]
        assert run.kept_heads == tuple(alive_heads[i] for i in sorted(order))
        alive_tokens, alive_heads = list(run.kept_tokens), list(run.kept_heads)
    assert any(a.requant for r in runs for a in r.answers)
    assert not all(a.requant for r in runs for a in r.answers)


@pytest.mark.parametrize(("tokens", "heads", "change", "message"), [
    (0, 4, {}, "tokens must be an integer from 1 to 64, not 0"),
    (8, 9, {}, "heads must be an integer from 1 to 8, not 9"),
    (8, 4, {"token_keep": 9}, "layer 0: token_keep must be from 1 to 8, not 9"),
    (8, 4, {"head_keep": 0}, "layer 0: head_keep must be from 1 to 4, not 0"),
])
def test_bad_starts_and_settings_are_refused(tokens, heads, change, message) -> None:
    tensors, settings = random_run(CONFIG, layers=1, tokens=8, heads=4, seed=1)
    settings = [dataclasses.replace(settings[0], **change)]
    with pytest.raises(ValueError, match=message):
        run_layers(CONFIG, tensors, settings, tokens=tokens, heads=heads)
