"""Tests of SpAtten traces generated from the published models
(:mod:`sparsa.models.experiments.spatten_run`).

GPT-2 Small and BERT-Base run with short prompts (their full size, random weights seeded by
``SEED``) so that the tests stay fast.
"""

import numpy as np
import pytest

from sparsa.dataflow.spatten_workloads import public_trace_dir, public_traces
from sparsa.models.algorithms.spatten_pruning import SpattenPolicy, keep_count
from sparsa.models.algorithms.spatten_trace import read_trace, write_trace
from sparsa.models.algorithms.transformer import TRANSFORMERS
from sparsa.models.experiments.spatten_run import SpattenRun, run_spatten
from sparsa.sim.network.spatten import simulate
from sparsa.sim.network.target import load_target

SEED = 0
PROMPT, STEPS = 40, 4
POLICY = SpattenPolicy(token_keep=(0.9, 0.2), head_keep=(1.0, 0.5), v_keep=0.3, msb_bits=6,
                       threshold=0.1, quantize_v=True)


@pytest.fixture(scope="module")
def gpt2() -> SpattenRun:
    return run_spatten("gpt2-small", prompt_len=PROMPT, steps=STEPS, policy=POLICY, seed=SEED)


def test_trace_round_trips_through_the_public_format(gpt2: SpattenRun, tmp_path) -> None:
    path = write_trace(gpt2.trace, tmp_path / "gpt2.csv")
    again = read_trace(path, model="gpt2-small", layers=12, heads=12)
    assert again == gpt2.trace
    assert again.config.startswith("sparsa gpt2-small prompt_len 40 steps 4 seed 0")


def test_iterations_context_lengths_and_generated_tokens(gpt2: SpattenRun) -> None:
    ids, seq_len = gpt2.trace.iteration_seq_len()
    assert ids.tolist() == list(range(STEPS))
    assert seq_len.tolist() == [PROMPT + t for t in range(STEPS)]
    assert gpt2.generated.shape == (STEPS,) and gpt2.trace.head_dim == 64


def test_key_fetch_counts_follow_the_schedule(gpt2: SpattenRun) -> None:
    ratios = gpt2.attention.policy.token_ratios(12)
    assert ratios[:2] == (1.0, 1.0)  # ceil(15% of 12) = 2 layers unpruned
    for t in range(STEPS):
        schedule = [keep_count(r, PROMPT + t) for r in ratios]
        kept = gpt2.kept_keys(t)
        assert (kept <= schedule).all(), f"iteration {t}: {kept} above {schedule} (seed={SEED})"
        assert kept[:2].tolist() == [PROMPT + t] * 2
        if t == 0:  # nothing pruned earlier: exactly the schedule
            assert kept.tolist() == schedule, f"seed={SEED}"


def test_heads_follow_the_schedule(gpt2: SpattenRun) -> None:
    trace = gpt2.trace
    heads = np.bincount(trace.layer[trace.iteration == 0], minlength=12)
    expected = [keep_count(r, 12) for r in gpt2.attention.policy.head_ratios(12)]
    assert heads.tolist() == expected and expected[:4] == [12] * 4
    for t in range(1, STEPS):
        assert (np.bincount(trace.layer[trace.iteration == t], minlength=12) <= heads).all()


def test_pruned_tokens_never_come_back(gpt2: SpattenRun) -> None:
    records = {(r.iteration, r.layer): r.tokens[0] for r in gpt2.attention.records}
    for (t, layer), tokens in records.items():
        if layer:
            assert not (tokens & ~records[t, layer - 1]).any(), f"iteration {t} layer {layer}"
        if t:
            earlier = records[t - 1, layer]
            assert not (tokens[: len(earlier)] & ~earlier).any(), (
                f"a token pruned at layer {layer} came back at iteration {t} (seed={SEED})"
            )
        assert bool(tokens[-1]), "the token that predicts the next one is always kept"


def test_requant_flags_agree_with_the_recorded_probabilities(gpt2: SpattenRun) -> None:
    trace, attention = gpt2.trace, gpt2.attention
    records = {(r.iteration, r.layer): r for r in attention.records}
    maxima = np.array(
        [
            float(records[int(t), int(layer)].min_max_prob[0, int(h)])
            for t, layer, h in zip(trace.iteration, trace.layer, trace.head, strict=True)
        ]
    )
    assert np.array_equal(trace.requant, maxima < POLICY.threshold)
    # Decisions: every alive prompt query of every head that ran, one query per later row.
    prompt = trace.iteration == 0
    assert attention.decisions == int(trace.key_fetch[prompt].sum()) + int((~prompt).sum())
    assert gpt2.refetch_fraction == attention.refetches / attention.decisions
    assert 0 <= gpt2.refetch_fraction <= 1


def test_values_fetched_by_a_generation_step_follow_local_pruning(gpt2: SpattenRun) -> None:
    trace = gpt2.trace
    step = trace.iteration > 0
    expected = [keep_count(POLICY.v_keep, int(n)) for n in trace.key_fetch[step]]
    assert trace.value_fetch[step].tolist() == expected
    assert (trace.value_fetch <= trace.key_fetch).all()


def test_simulator_accepts_the_trace(gpt2: SpattenRun) -> None:
    result = simulate(gpt2.trace, load_target("spatten-asic"))
    assert result.rows == len(gpt2.trace) and result.iterations == STEPS
    assert result.reduction > 1
    assert [layer.keys for layer in result.per_layer] == [
        int(gpt2.trace.key_fetch[gpt2.trace.layer == i].sum()) for i in range(12)
    ]


def test_bert_runs_one_iteration_and_keeps_its_first_token() -> None:
    run = run_spatten("bert-base", prompt_len=24, policy=SpattenPolicy(token_keep=0.25), seed=SEED)
    trace = run.trace
    assert set(trace.iteration.tolist()) == {0} and (trace.seq_len == 24).all()
    assert run.generated.numel() == 0 and run.refetch_fraction is None
    assert all(bool(r.tokens[0, 0]) for r in run.attention.records)
    assert run.kept_keys(0).tolist() == [24, 24] + [6] * 10
    assert (trace.key_bits == -1).all() and not trace.requant.any()
    with pytest.raises(ValueError, match="iteration 1 is not in the trace"):
        run.kept_keys(1)


def test_the_public_gpt2_trace_has_the_models_shape() -> None:
    if not public_trace_dir().is_dir():
        pytest.skip(f"the public traces folder {public_trace_dir()} is absent")
    public = read_trace(public_traces("gpt2-small")[0])
    config = TRANSFORMERS["gpt2-small"]
    assert (public.layers, public.heads, public.head_dim) == (
        config.layers,
        config.heads,
        config.head_dim,
    )


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        (
            "gpt3",
            {},
            r"unknown model 'gpt3'; choose one of \['bert-base', 'bert-large', "
            r"'gpt2-medium', 'gpt2-small'\]",
        ),
        ("gpt2-small", {"prompt_len": 0}, "prompt_len must be a positive integer, not 0"),
        ("gpt2-small", {"steps": 2.5}, "steps must be a positive integer, not 2.5"),
        (
            "gpt2-small",
            {"prompt_len": 1000, "steps": 32},
            r"needs 1031 positions; gpt2-small has "
            "1024",
        ),
        ("bert-base", {"prompt_len": 513}, "needs 513 positions; bert-base has 512"),
        ("bert-base", {"steps": 2}, "bert-base is an encoder, it runs one iteration; allowed: 1"),
        ("gpt2-small", {"threads": 0}, "threads must be a positive integer, not 0"),
        ("gpt2-small", {"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(model: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_spatten(model, **settings)


def test_a_policy_must_be_a_spatten_policy() -> None:
    with pytest.raises(TypeError, match="policy must be a SpattenPolicy, not dict"):
        run_spatten("gpt2-small", policy={"token_keep": 0.5})
