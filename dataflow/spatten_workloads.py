"""SpAtten workloads: the public traces, the default BERT runs, and the check of a trace against
the model it names.

The three summary traces of the authors' repository are kept unchanged beside their licence and
a README naming the source repository and commit; they are read with ``importlib.resources``,
so an installed wheel needs nothing outside itself. There is no public BERT trace: BERT's default
workload is a run of SpAtten's algorithm on the project's BERT model with
:data:`sparsa.config.presets.SPATTEN_BERT_POLICY` (:func:`default_policy`).

**Modes** (:data:`MODES`, spatten.md 1.5). A decoder (GPT-2) runs in *generation*: each trace row
is one query, its surviving keys and values fetched for it alone. An encoder (BERT) runs in
*summarization*: each row is one head, whose surviving K and V are loaded once into the K and V
SRAMs and reused by all its queries; cascade token pruning removes a token's query with its key
and value, so the head's queries are its ``key_fetch_num`` tokens. BERT uses static quantization
only, no LSB refetch (spatten.md 1.4).

**A trace against its model** (:func:`check_model_trace`, :func:`read_model_trace`): the head
dimension, the layer and head ids and the context lengths must be the model's, every iteration
must run every layer of the model (pruning drops tokens and heads, never a whole layer: head
pruning keeps at least one head per layer, spatten.md 1.2), and an encoder's trace must have
requant off.
"""

import os
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from sparsa.config.presets import SPATTEN_BERT_POLICY
from sparsa.models.algorithms.spatten_pruning import SpattenPolicy
from sparsa.models.algorithms.spatten_trace import (
    HEAD_DIM_COLUMN,
    UNQUANTIZED,
    SpattenTrace,
    TraceFormatError,
    read_trace,
)
from sparsa.models.algorithms.transformer import TRANSFORMERS, TransformerConfig

__all__ = [
    "GENERATION",
    "MODES",
    "PUBLIC_TRACES",
    "SUMMARIZATION",
    "check_model_trace",
    "default_policy",
    "mode_of",
    "public_trace_dir",
    "public_traces",
    "read_model_trace",
]

GENERATION = "generation"
"""A decoder's mode: one query per row, K and V fetched for it (spatten.md 1.5)."""
SUMMARIZATION = "summarization"
"""An encoder's mode: one head per row, K and V loaded once for all its queries (spatten.md
1.5)."""
MODES = (GENERATION, SUMMARIZATION)
"""The ways SpAtten runs a trace's rows."""

# model -> (trace, dense trace of the same workload or None). The public GPT-2 Medium trace is
# the dense PTB baseline only (spatten_traces/README.md).
PUBLIC_TRACES: dict[str, tuple[str, str | None]] = {
    "gpt2-small": ("summary-gpt2-small-wikitext2-per8.csv",
                   "summary-gpt2-small-wikitext2-per8-step1+dedic.csv"),
    "gpt2-medium": ("summary-gpt2-medium-ptb-per0.csv", None),
}


def _model(model: str) -> TransformerConfig:
    if model not in TRANSFORMERS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(sorted(TRANSFORMERS))}")
    return TRANSFORMERS[model]


def mode_of(model: str) -> str:
    """:data:`SUMMARIZATION` for an encoder (BERT), :data:`GENERATION` for a decoder (GPT-2).

    Raises
    ------
    ValueError
        For a model not in :data:`sparsa.models.algorithms.transformer.TRANSFORMERS`.
    """
    return GENERATION if _model(model).causal else SUMMARIZATION


def default_policy(model: str) -> SpattenPolicy:
    """The policy of ``model``'s default run, for a model without a public trace (BERT).

    Raises
    ------
    ValueError
        For a model with a public trace (its default workload is that trace) or an unknown one.
    """
    if model in PUBLIC_TRACES:
        raise ValueError(f"{model} has a public trace, its default workload; no default run")
    if mode_of(model) != SUMMARIZATION:
        raise ValueError(f"no default run for {model}; the default runs are of the encoders")
    return SpattenPolicy(**SPATTEN_BERT_POLICY)


def public_trace_dir() -> Path:
    """The folder of the packaged public traces (``sparsa/dataflow/spatten_traces``)."""
    return Path(str(resources.files(__package__) / "spatten_traces"))


def public_traces(model: str) -> tuple[Path, Path | None]:
    """Paths of the public trace of ``model`` and of its dense baseline (or None).

    Raises
    ------
    ValueError
        For a model without a public trace.
    """
    if model not in PUBLIC_TRACES:
        raise ValueError(f"no public trace for model {model!r}; the public traces are for "
                         f"{sorted(PUBLIC_TRACES)} (or pass a trace file)")
    folder = public_trace_dir()
    trace, dense = PUBLIC_TRACES[model]
    return folder / trace, None if dense is None else folder / dense


def _violation(trace: SpattenTrace, model: str) -> tuple[int | None, str | None, str] | None:
    """The first way ``trace`` is not a trace of ``model``: (row or None, column or None,
    problem); None when it is one."""
    config = _model(model)
    shape = f"{model} has {config.layers} layers x {config.heads} heads, D = {config.head_dim}"
    if trace.head_dim != config.head_dim:
        return 0, HEAD_DIM_COLUMN, (f"head dimension {trace.head_dim} is not {model}'s; "
                                    f"allowed: {config.head_dim} ({shape})")
    rules = [
        (trace.layer >= config.layers, "layer_id",
         lambda i: f"layer {trace.layer[i]} is not a layer of {model}; allowed: 0 to "
         f"{config.layers - 1} ({shape})"),
        (trace.head >= config.heads, "head_id",
         lambda i: f"head {trace.head[i]} is not a head of {model}; allowed: 0 to "
         f"{config.heads - 1} ({shape})"),
        (trace.seq_len > config.max_positions, "sentence_length_L",
         lambda i: f"context length {trace.seq_len[i]} exceeds {model}'s positions; allowed: "
         f"1 to {config.max_positions}"),
        ((trace.requant_bits != UNQUANTIZED) & (not config.causal), "auto_requant_incre",
         lambda i: f"LSB increment {trace.requant_bits[i]}: {model} runs static quantization "
         f"only (SpAtten uses no LSB refetch for BERT, spatten.md 1.4); allowed: "
         f"{UNQUANTIZED} (requant off)"),
    ]
    for mask, column, problem in rules:
        bad = np.flatnonzero(mask)
        if bad.size:
            return int(bad[0]), column, problem(int(bad[0]))
    ran = np.zeros((len(trace.iterations), config.layers), dtype=bool)
    ran[np.searchsorted(trace.iterations, trace.iteration), trace.layer] = True
    missing = np.argwhere(~ran)
    if missing.size:
        iteration, layer = int(trace.iterations[missing[0][0]]), int(missing[0][1])
        return None, None, (
            f"iteration {iteration} has no row of layer {layer}; {shape}, and every iteration "
            f"runs every layer (head pruning keeps at least one head per layer): a trace of "
            f"another model?")
    return None


def _fit(trace: SpattenTrace, model: str) -> SpattenTrace:
    """``trace`` with ``model``'s layer and head counts (its ids already checked)."""
    config = _model(model)
    return replace(trace, model=model, layers=config.layers, heads=config.heads)


def check_model_trace(trace: SpattenTrace, model: str) -> SpattenTrace:
    """Check that ``trace`` is a trace of ``model`` (see the module docstring).

    Parameters
    ----------
    trace : SpattenTrace
    model : str
        One of :data:`sparsa.models.algorithms.transformer.TRANSFORMERS`.

    Returns
    -------
    SpattenTrace
        ``trace`` named ``model``, with the model's layer and head counts.

    Raises
    ------
    ValueError
        One line naming the row, the column, the bad value and what the model allows.
    """
    if not isinstance(trace, SpattenTrace):
        raise ValueError(f"trace must be a SpattenTrace, not {type(trace).__name__}")
    bad = _violation(trace, model)
    if bad is not None:
        row, column, problem = bad
        where = "" if row is None else f"row {row}, column {column!r}: "
        raise ValueError(f"not a trace of {model}: {where}{problem}")
    return _fit(trace, model)


def read_model_trace(path: str | os.PathLike, model: str) -> SpattenTrace:
    """Read a trace file in the public format and check it against ``model``.

    Parameters
    ----------
    path : path-like
    model : str
        One of :data:`sparsa.models.algorithms.transformer.TRANSFORMERS`.

    Returns
    -------
    SpattenTrace
        Named ``model``, with its layer and head counts.

    Raises
    ------
    TraceFormatError
        (a ValueError) naming the file, the line and the column: a malformed file
        (:func:`sparsa.models.algorithms.spatten_trace.read_trace`), or one that is not a trace
        of ``model``; the line is omitted when no line is wrong (a missing layer).
    """
    _model(model)
    path = Path(path)
    trace = read_trace(path, model=model)
    bad = _violation(trace, model)
    if bad is None:
        return _fit(trace, model)
    row, column, problem = bad
    if row is None:
        raise ValueError(f"{path}: not a trace of {model}: {problem}")
    raise TraceFormatError(path, row + 2, column, f"not a trace of {model}: {problem}")
