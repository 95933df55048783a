"""SpAtten workloads (:mod:`sparsa.dataflow.spatten_workloads`): modes, default runs, and the
check of a trace against the model it names."""

import re
from pathlib import Path

import numpy as np
import pytest

from sparsa.config.presets import SPATTEN_BERT_POLICY
from sparsa.dataflow.spatten_workloads import (
    GENERATION,
    SUMMARIZATION,
    check_model_trace,
    default_policy,
    mode_of,
    public_traces,
    read_model_trace,
)
from sparsa.models.algorithms.spatten_pruning import SpattenPolicy
from sparsa.models.algorithms.spatten_trace import SpattenTrace, TraceFormatError, write_trace

SMALL, _ = public_traces("gpt2-small")
MEDIUM, _ = public_traces("gpt2-medium")


def model_trace(layers: int, heads: int = 1, *, head_dim: int = 64, **columns: object
                ) -> SpattenTrace:
    """One iteration, head 0 to ``heads - 1`` of every layer, 8 of 10 keys, 8-bit K; ``columns``
    overrides a column (an array over the rows)."""
    rows = layers * heads
    values = {"iteration": np.zeros(rows, dtype=np.int64),
              "layer": np.repeat(np.arange(layers), heads),
              "head": np.tile(np.arange(heads), layers),
              "seq_len": np.full(rows, 10), "key_fetch": np.full(rows, 8),
              "key_bits": np.full(rows, 8), "query_bits": np.full(rows, -1),
              "requant_threshold": np.full(rows, -1.0), "requant": np.zeros(rows, dtype=bool),
              "requant_bits": np.full(rows, -1), "value_fetch": np.full(rows, 8),
              "value_bits": np.full(rows, 8), "accumulate_importance": np.ones(rows, dtype=bool),
              "rescale_importance": np.zeros(rows, dtype=bool),
              "token_topk": np.zeros(rows, dtype=bool), "topk": np.full(rows, -1)}
    values.update(columns)
    layer_count = int(np.max(values["layer"])) + 1
    head_count = int(np.max(values["head"])) + 1
    return SpattenTrace(model="hand", config=None, layers=layer_count, heads=head_count,
                        head_dim=head_dim, **values)


def test_modes_follow_the_model() -> None:
    assert mode_of("gpt2-small") == mode_of("gpt2-medium") == GENERATION
    assert mode_of("bert-base") == mode_of("bert-large") == SUMMARIZATION
    with pytest.raises(ValueError, match=r"^unknown model 'gpt3'; allowed: bert-base, "):
        mode_of("gpt3")


def test_default_policy_is_the_bert_preset_and_only_for_bert() -> None:
    policy = default_policy("bert-large")
    assert policy == SpattenPolicy(**SPATTEN_BERT_POLICY)
    assert policy.msb_bits is not None and not policy.requant  # static quantization
    assert policy.token_pruning and policy.head_pruning
    with pytest.raises(ValueError, match="gpt2-small has a public trace"):
        default_policy("gpt2-small")


def test_public_traces_are_traces_of_their_models() -> None:
    small = read_model_trace(SMALL, "gpt2-small")
    medium = read_model_trace(MEDIUM, "gpt2-medium")
    assert (small.model, small.layers, small.heads) == ("gpt2-small", 12, 12)
    assert (medium.model, medium.layers, medium.heads) == ("gpt2-medium", 24, 16)


def test_a_gpt2_small_trace_is_not_a_gpt2_medium_trace() -> None:
    with pytest.raises(ValueError) as error:
        read_model_trace(SMALL, "gpt2-medium")
    assert str(error.value) == (
        f"{SMALL}: not a trace of gpt2-medium: iteration 0 has no row of layer 12; gpt2-medium "
        "has 24 layers x 16 heads, D = 64, and every iteration runs every layer (head pruning "
        "keeps at least one head per layer): a trace of another model?")


def test_a_layer_the_model_lacks_names_its_line() -> None:
    with pytest.raises(TraceFormatError) as error:
        read_model_trace(MEDIUM, "gpt2-small")
    # the first row of layer 12: iteration 0's layers 0 to 11 take 12 x 16 rows after the header
    assert error.value.line == 12 * 16 + 2 and error.value.column == "layer_id"
    assert str(error.value).endswith(
        "not a trace of gpt2-small: layer 12 is not a layer of gpt2-small; allowed: 0 to 11 "
        "(gpt2-small has 12 layers x 12 heads, D = 64)")


@pytest.mark.parametrize(("model", "trace", "row", "column", "message"), [
    ("gpt2-small", model_trace(12, 13), 12, "head_id",
     "head 12 is not a head of gpt2-small; allowed: 0 to 11"),
    ("bert-base", model_trace(12, head_dim=32), 0, "embedding_length_D",
     "head dimension 32 is not bert-base's; allowed: 64"),
    ("bert-base", model_trace(12, seq_len=np.full(12, 600)), 0, "sentence_length_L",
     "context length 600 exceeds bert-base's positions; allowed: 1 to 512"),
    ("bert-large", model_trace(24, requant_threshold=np.full(24, 0.1),
                               requant_bits=np.full(24, 4)), 0, "auto_requant_incre",
     "LSB increment 4: bert-large runs static quantization only"),
])
def test_bad_traces_name_the_value_and_what_is_allowed(
    tmp_path: Path, model: str, trace: SpattenTrace, row: int, column: str, message: str
) -> None:
    path = write_trace(trace, tmp_path / "t.csv")
    with pytest.raises(TraceFormatError, match=re.escape(message)) as error:
        read_model_trace(path, model)
    assert error.value.column == column and error.value.line == row + 2
    with pytest.raises(ValueError, match=re.escape(
            f"not a trace of {model}: row {row}, column '{column}': {message}")):
        check_model_trace(trace, model)


def test_check_gives_the_models_counts_to_a_trace_that_fits() -> None:
    trace = model_trace(12)  # heads 0 only: the file alone would say 1 head
    fitted = check_model_trace(trace, "bert-base")
    assert (fitted.model, fitted.layers, fitted.heads) == ("bert-base", 12, 12)
    assert np.array_equal(fitted.key_fetch, trace.key_fetch)
    with pytest.raises(ValueError, match=r"^trace must be a SpattenTrace, not str"):
        check_model_trace("t.csv", "bert-base")  # type: ignore[arg-type]
