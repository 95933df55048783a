"""Tests of the SpAtten accuracy experiment's machinery
(:mod:`sparsa.models.experiments.spatten_accuracy`).

A tiny setup (short inputs, two layers, a few hundred training inputs, seed ``SEED``) checks the
mechanics, not the accuracies a full run reaches: the loss goes down, accuracies are computed on
held-out inputs, keep ratio 1 without quantization reproduces the unpruned accuracy exactly, the
exported trace simulates.
"""

import json
from collections import Counter

import pytest
import torch

from sparsa.models.algorithms.spatten_pruning import SpattenPolicy
from sparsa.models.experiments.spatten_accuracy import (
    AccuracyResult,
    ExperimentSetup,
    MajorityTask,
    evaluate,
    run_accuracy_experiment,
    split_data,
)

SEED = 3
TINY = ExperimentSetup(
    task=MajorityTask(seq_len=24, noise_tokens=6, classes=2, signals=3),
    layers=2,
    heads=2,
    d_model=64,
    d_ffn=64,
    train_size=256,
    test_size=64,
    epochs=3,
    batch=16,
    lr=2e-3,
    token_keeps=(1.0, 0.3),
    head_keeps=(1.0, 0.5),
    v_keeps=(1.0, 0.3),
    msb_bits=(4,),
    thresholds=(0.0, 0.3),
    combined=SpattenPolicy(
        token_keep=0.5, head_keep=0.5, v_keep=0.5, msb_bits=6, threshold=0.3, quantize_v=True
    ),
    seed=SEED,
)


@pytest.fixture(scope="module")
def result() -> AccuracyResult:
    return run_accuracy_experiment(setup=TINY)


def test_task_inputs_and_labels() -> None:
    task = MajorityTask(seq_len=16, noise_tokens=5, classes=4, signals=5)
    ids, labels = task.generate(200, torch.Generator().manual_seed(SEED))
    again, _ = task.generate(200, torch.Generator().manual_seed(SEED))
    assert torch.equal(ids, again) and ids.shape == (200, 16) and task.vocab == 10
    for row, label in zip(ids.tolist(), labels.tolist(), strict=True):
        assert row[0] == 0 and all(0 < t < task.vocab for t in row[1:])
        votes = Counter(t - 6 for t in row if t >= 6)
        assert sum(votes.values()) == 5, f"seed={SEED}"
        (top, n), *rest = votes.most_common()
        assert top == label and all(m < n for _, m in rest), f"seed={SEED}: {row}"


def test_training_loss_goes_down(result: AccuracyResult) -> None:
    assert len(result.losses) == TINY.epochs
    assert result.losses[-1] < result.losses[0], f"losses {result.losses} seed={SEED}"


def test_accuracies_are_computed_on_held_out_inputs(result: AccuracyResult) -> None:
    train_ids, _, test_ids, test_labels = split_data(TINY)
    train = {tuple(row) for row in train_ids.tolist()}
    assert not any(tuple(row) in train for row in test_ids.tolist())
    assert result.test_size == len(test_ids) > 0
    with torch.no_grad():
        predicted = result.model(test_ids).argmax(dim=1)
    assert result.baseline_accuracy == float((predicted == test_labels).double().mean())
    for point in result.points:
        assert (point.accuracy * result.test_size) == pytest.approx(
            round(point.accuracy * result.test_size)
        ), point


def test_keep_one_without_quantization_reproduces_the_unpruned_accuracy(
    result: AccuracyResult,
) -> None:
    plain = [p for p in result.points if p.policy == SpattenPolicy()]
    assert len(plain) == 3  # the first point of each pruning sweep
    assert all(p.accuracy == result.baseline_accuracy for p in plain)
    assert all(p.key_fraction == p.value_fraction == 1.0 for p in plain)
    assert all(p.refetch_fraction is None for p in plain)


def test_sweep_points_report_what_was_pruned(result: AccuracyResult) -> None:
    by = {(p.sweep, p.policy): p for p in result.points}
    token = by["token", SpattenPolicy(token_keep=0.3)]
    # Layer 0 of 2 is unpruned, layer 1 keeps round(0.3 x 24) = 7 of 24 tokens.
    assert token.key_fraction == pytest.approx((24 + 7) / 48)
    head = by["head", SpattenPolicy(head_keep=0.5)]
    assert head.key_fraction == pytest.approx(3 / 4)  # layer 1 runs 1 of 2 heads
    value = by["value", SpattenPolicy(v_keep=0.3)]
    assert value.key_fraction == 1.0 and value.value_fraction <= 1.0
    requant = by["quantization", SpattenPolicy(msb_bits=4, threshold=0.3, quantize_v=True)]
    assert 0 <= requant.refetch_fraction <= 1
    assert by["quantization", SpattenPolicy(msb_bits=4, quantize_v=True)].refetch_fraction is None


def test_exported_trace_is_simulated(result: AccuracyResult) -> None:
    trace, sim = result.trace, result.simulation
    assert len(set(trace.iteration.tolist())) == result.test_size  # one per held-out input
    assert sim.rows == len(trace) and sim.target == "spatten-asic"
    assert (trace.key_bits == 6).all() and (trace.value_bits == 6).all()
    assert sim.reduction > 1


def test_result_formats(result: AccuracyResult) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    assert data["baseline_accuracy"] == result.baseline_accuracy
    assert len(data["points"]) == len(result.points) == 2 + 2 + 2 + 2 + 1
    table = result.to_markdown()
    assert "| sweep | token keep | head keep | V keep | quantization | accuracy |" in table
    assert table.count("\n| ") == len(result.points) + 1


def test_evaluate_with_plain_attention_and_a_policy_agree_when_all_is_off(
    result: AccuracyResult,
) -> None:
    _, _, ids, labels = split_data(TINY)
    plain, none = evaluate(result.model, ids, labels, None)
    same, attention = evaluate(result.model, ids, labels, SpattenPolicy())
    assert none is None and plain == same and attention.iterations == 1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MajorityTask(signals=1), "both must be at least 2"),
        (lambda: MajorityTask(seq_len=5, signals=5), r"signals = 5 do not fit"),
        (lambda: MajorityTask(classes=0), "classes must be a positive integer"),
        (lambda: ExperimentSetup(lr=0.0), "lr must be a positive float"),
        (lambda: ExperimentSetup(heads=8), r"head dimension in \(32, 64, 128\)"),
        (lambda: ExperimentSetup(token_keeps=(1.5,)), r"token_keep = 1.5 is not allowed"),
        (lambda: ExperimentSetup(epochs=0), "epochs must be a positive integer"),
        (lambda: run_accuracy_experiment(setup="tiny"), "setup must be an ExperimentSetup"),
    ],
)
def test_bad_settings(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
