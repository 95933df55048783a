"""Tests of the software-baseline library (timing, workloads, environment, energy)."""

import math
from pathlib import Path

import pytest
import torch

from sparsa.models.experiments import baselines


def test_trimmed_drops_fifteen_percent_each_end():
    # 20 samples, trim 0.15: floor(3.0) = 3 dropped at each end, 14 kept (values 3..16).
    samples = [float(v) for v in (19, 0, 18, 1, 17, 2, *range(3, 17))]
    t = baselines._trimmed(samples, 0.15)
    assert t.kept == 14
    assert (t.min, t.max) == (3.0, 16.0)
    assert t.mean == pytest.approx(9.5)
    kept = range(3, 17)
    assert t.std == pytest.approx(math.sqrt(sum((v - 9.5) ** 2 for v in kept) / 13))
    assert t.samples == tuple(samples)


def test_trimmed_rounds_the_drop_down_and_keeps_one():
    t = baselines._trimmed([5.0, 1.0, 3.0], 0.4)  # floor(1.2) = 1 at each end
    assert (t.kept, t.mean, t.std, t.min, t.max) == (1, 3.0, 0.0, 3.0, 3.0)
    assert baselines._trimmed([2.0, 4.0], 0.0).mean == 3.0


def test_time_callable_counts_calls():
    calls = []
    t = baselines.time_callable(lambda: calls.append(1), warmup=2, repeats=10, trim=0.1)
    assert len(calls) == 12
    assert len(t.samples) == 10 and t.kept == 8
    assert 0 <= t.min <= t.mean <= t.max


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"warmup": -1, "repeats": 5}, "warmup must be a non-negative integer, not -1"),
    ({"warmup": 0, "repeats": 0}, "repeats must be a positive integer, not 0"),
    ({"warmup": 0, "repeats": 5, "trim": 0.5}, r"0 <= trim < 0.5, not 0.5"),
    ({"warmup": 0, "repeats": 5, "trim": -0.1}, r"0 <= trim < 0.5, not -0.1"),
    ({"warmup": 0, "repeats": 5, "device": "nodevice"}, "device must name a torch device"),
])
def test_time_callable_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        baselines.time_callable(lambda: None, **kwargs)


def test_time_callable_rejects_non_callable_and_empty():
    with pytest.raises(ValueError, match="fn must be callable, not 3"):
        baselines.time_callable(3, warmup=0, repeats=1)
    with pytest.raises(ValueError, match="0 samples leave none"):
        baselines._trimmed([], 0.15)


def test_environment_keys():
    env = baselines.environment()
    assert {"torch", "threads", "cpu", "logical_cpus", "python", "device",
            "device_name", "load_average"} <= env.keys()
    assert env["torch"] == torch.__version__
    assert env["load_average"] is None or env["load_average"] >= 0
    assert env["threads"] >= 1 and env["device"] == "cpu"


def test_cnn_training_step_loss_decreases():
    step = baselines.cnn_training_step("small-cnn", batch=8, lr=0.05, seed=0)
    losses = [step() for _ in range(3)]
    assert all(math.isfinite(v) for v in losses)
    assert losses[2] < losses[0]


def test_cnn_training_step_validation():
    with pytest.raises(ValueError, match="unknown model 'alexnet'; choose one of"):
        baselines.cnn_training_step("alexnet")
    with pytest.raises(ValueError, match="batch must be a positive integer, not 0"):
        baselines.cnn_training_step("small-cnn", batch=0)


def test_attention_models_shapes():
    assert baselines.ATTENTION_MODELS["bert-large"].layers == 24
    assert baselines.ATTENTION_MODELS["bert-large"].heads == 16
    assert baselines.ATTENTION_MODELS["gpt2-small"].head_dim == 64


def test_attention_flops_hand_count():
    # BERT-Base at L = 10: 12 layers x 12 heads x (QK: 10*10*64 + PV: 10*10*64) MACs x 2.
    assert baselines.attention_flops("bert-base", seq_len=10) == 12 * 12 * 2 * (2 * 10 * 10 * 64)
    flops = baselines.attention_flops
    assert flops("bert-base") == flops("bert-base", seq_len=baselines.BERT_SEQ_LEN)
    # GPT-2 Small, prompt 4, 3 tokens: the queries see 5, 6 and 7 cached tokens.
    assert flops("gpt2-small", prompt=4, generated=3) == 12 * 12 * 2 * 2 * 64 * 18
    # Defaults: 992 + 32 (cache 993..1024 tokens, 32272 in all).
    assert baselines.attention_flops("gpt2-medium") == 24 * 16 * 4 * 64 * 32272
    assert (baselines.GPT2_PROMPT, baselines.GPT2_GENERATED) == (992, 32)


def _sdpa(q, k, v):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def test_bert_attention_matches_reference():
    # Same draws as the workload: one (3, heads, L, D) tensor per layer from the seeded generator.
    gen = torch.Generator().manual_seed(1)
    qkv = [torch.randn((3, 12, 6, 64), generator=gen) for _ in range(12)]
    out = baselines.attention_workload("bert-base", seq_len=6, seed=1)()
    assert out.shape == (12, 6, 64)
    torch.testing.assert_close(out, _sdpa(*qkv[-1]))


def test_gpt2_attention_matches_full_attention_over_the_cache():
    prompt, generated, layers, heads = 3, 2, 12, 12
    gen = torch.Generator().manual_seed(2)
    caches = [torch.randn((2, heads, prompt + generated, 64), generator=gen)
              for _ in range(layers)]
    new = [torch.randn((3, generated, heads, 1, 64), generator=gen) for _ in range(layers)]
    out = baselines.attention_workload("gpt2-small", prompt=prompt, generated=generated, seed=2)()
    assert out.shape == (heads, 1, 64)
    # Last layer, last step: the query attends over the prompt and both new K/V.
    k = torch.cat([caches[-1][0, :, :prompt], new[-1][1, 0], new[-1][1, 1]], dim=1)
    v = torch.cat([caches[-1][1, :, :prompt], new[-1][2, 0], new[-1][2, 1]], dim=1)
    torch.testing.assert_close(out, _sdpa(new[-1][0, 1], k, v))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": "bert-huge"}, "unknown attention model 'bert-huge'; choose one of"),
    ({"kind": "bert-base", "seq_len": 0}, "seq_len must be a positive integer, not 0"),
    ({"kind": "gpt2-small", "seq_len": 8}, "seq_len applies to BERT only"),
    ({"kind": "gpt2-small", "prompt": 0}, "prompt must be a positive integer, not 0"),
    ({"kind": "gpt2-medium", "generated": 1.5}, "generated must be a positive integer, not 1.5"),
])
def test_attention_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        baselines.attention_workload(**kwargs)
    with pytest.raises(ValueError, match=match):
        baselines.attention_flops(**kwargs)


def test_energy_estimate():
    e = baselines.energy_estimate(2.0, power_w=90.0, source="Xeon E5-2640 v4 TDP")
    assert (e.joules, e.measured, e.source) == (180.0, False, "Xeon E5-2640 v4 TDP")
    with pytest.raises(ValueError, match="power_w must be a positive finite number, not 0"):
        baselines.energy_estimate(1.0, power_w=0, source="x")
    with pytest.raises(ValueError, match="seconds must be a non-negative finite number"):
        baselines.energy_estimate(-1.0, power_w=1.0, source="x")
    with pytest.raises(ValueError, match="source must be a non-empty string"):
        baselines.energy_estimate(1.0, power_w=1.0, source=" ")


def test_rapl_on_this_machine_is_none_or_non_negative():
    with baselines.rapl_energy() as meter:
        sum(range(1000))
    assert meter.joules is None or meter.joules >= 0


def _zone(root: Path, name: str, uj: int, span: int = 1000) -> Path:
    zone = root / name
    zone.mkdir()
    (zone / "energy_uj").write_text(f"{uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{span}\n")
    return zone


def test_rapl_reads_package_counters(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", 100)
    p1 = _zone(tmp_path, "intel-rapl:1", 900)
    _zone(tmp_path, "intel-rapl:0:0", 0)  # sub-zone: not counted
    with baselines.rapl_energy(tmp_path) as meter:
        (p0 / "energy_uj").write_text("600\n")
        (p1 / "energy_uj").write_text("50\n")  # wrapped: 1000 - 900 + 50 = 150
    assert meter.joules == pytest.approx((500 + 150) / 1e6)
    assert meter.zones == ("intel-rapl:0", "intel-rapl:1")


def test_rapl_unreadable_is_none(tmp_path):
    with baselines.rapl_energy(tmp_path / "missing") as meter:
        pass
    assert meter.joules is None
    zone = _zone(tmp_path, "intel-rapl:0", 1)
    with baselines.rapl_energy(tmp_path) as meter:
        (zone / "energy_uj").unlink()
    assert meter.joules is None
