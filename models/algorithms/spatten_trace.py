"""SpAtten workload traces: the public per-(iteration, layer, head) CSV format, read and written.

The format is the one the authors' RTL performance model reads (``mit-han-lab/spatten``, folder
``spatten_hardware/hardware/workloads``; the released GPT-2 traces are described in the shared
``data/spatten-traces/README.md``). A file holds

* a header naming the 17 :data:`COLUMNS` (in any order);
* one row per generation iteration, layer and head that ran: the head dimension D, the context
  length L, the keys fetched after cascade token pruning, the values fetched after local value
  pruning, the bit widths of K (its MSB plane), Q and V, the progressive-quantization settings and
  decision, and the token-importance and token top-k bookkeeping;
* optionally a last row whose first field names the configuration that produced the trace, all
  other fields empty.

:func:`read_trace` parses a file into a :class:`SpattenTrace` (one read-only numpy array per
column) and checks every count and width; :func:`write_trace` writes the project's own traces in
the same format. ``write_trace(read_trace(f))`` reproduces each released file byte for byte, and
``read_trace(write_trace(t))`` gives back ``t``.
"""

import csv
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from sparsa.files import write_atomically

__all__ = [
    "COLUMNS",
    "LSB_BITS",
    "MAX_CONTEXT",
    "MAX_HEAD_DIM",
    "MSB_BITS",
    "QUERY_BITS",
    "UNQUANTIZED",
    "SpattenTrace",
    "TraceFormatError",
    "read_trace",
    "write_trace",
]

UNQUANTIZED = -1
"""The format's value of a width or a requant setting that is off (the dense baselines)."""

MSB_BITS = (4, 6, 8, 10, 12)
"""Widths K and V may have: the MSB parts of the paper's 4+4 ... 12+4 settings (spatten.md 1.4)."""

LSB_BITS = 4
"""The LSB increment fetched on a requant; "always 4 bits" in the paper (spatten.md 1.4)."""

QUERY_BITS = (*MSB_BITS, 16)
"""Widths Q may have: those of K and V, and 16 (the released GPT-2 trace's ``q16b`` config)."""

HEAD_DIM_COLUMN = "embedding_length_D"

MAX_HEAD_DIM = 4096
"""Largest head dimension D a trace may give (transformers use 64 to 256; a bound keeps every
byte and cycle count in range)."""
MAX_CONTEXT = 1 << 24
"""Largest context length L a trace may give (16,777,216 tokens, past any model's context)."""

# Header name -> (SpattenTrace attribute, kind). The head dimension is one number per trace.
_ROW_FIELDS: dict[str, tuple[str, str]] = {
    "iteration_id": ("iteration", "int"),
    "layer_id": ("layer", "int"),
    "head_id": ("head", "int"),
    HEAD_DIM_COLUMN: ("head_dim", "float"),
    "sentence_length_L": ("seq_len", "int"),
    "key_fetch_num": ("key_fetch", "int"),
    "quant_key_bit": ("key_bits", "int"),
    "quant_query_bit": ("query_bits", "int"),
    "auto_requant_thres": ("requant_threshold", "float"),
    "if_requant": ("requant", "bool"),
    "auto_requant_incre": ("requant_bits", "int"),
    "value_fetch_num": ("value_fetch", "int"),
    "quant_value_bit": ("value_bits", "int"),
    "if_accumulate_importance": ("accumulate_importance", "bool"),
    "if_rescale_previous_importance": ("rescale_importance", "bool"),
    "if_topk": ("token_topk", "bool"),
    "topk": ("topk", "int"),
}

COLUMNS: tuple[str, ...] = tuple(_ROW_FIELDS)
"""Header of the format, in the order the released traces (and :func:`write_trace`) use."""

_DTYPES = {"int": np.int64, "float": np.float64, "bool": np.bool_}
_INT = re.compile(r"-?[0-9]+")
_INTS = re.compile(r"-?[0-9]+(?:\n-?[0-9]+)*")
_BOOLS = {"True": True, "False": False}


class TraceFormatError(ValueError):
    """A malformed trace file: where (file, line, column) and what is wrong.

    Attributes
    ----------
    path : pathlib.Path
    line : int
        1-based line of the file.
    column : str or None
        Header name of the bad field; None when the whole line is wrong.
    """

    def __init__(self, path: Path, line: int, column: str | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = f"{path}, line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, kw_only=True, eq=False)
class SpattenTrace:
    """One SpAtten workload: a row per (iteration, layer, head) that ran, one array per column.

    Every per-row attribute is a read-only one-dimensional numpy array of the same length (int64,
    float64 or bool). A width or requant setting of :data:`UNQUANTIZED` (-1) means "off".
    The constructor checks every row (see :func:`read_trace` for the rules) and raises
    ValueError naming the row, the column and the allowed values.

    Parameters
    ----------
    model : str
        Name of the workload (for reports; the format does not store it).
    config : str or None
        Text of the trailing configuration-name row, None when the trace has none.
    layers, heads : int
        Layers of the model and heads per layer, pruned ones included. Ids must lie below them.
    head_dim : int
        D, elements per head vector (``embedding_length_D``, one value per trace).
    iteration, layer, head : numpy.ndarray
        ``iteration_id`` (0 is the prompt), ``layer_id``, ``head_id``.
    seq_len : numpy.ndarray
        ``sentence_length_L``: tokens in the context (one value per iteration).
    key_fetch, value_fetch : numpy.ndarray
        ``key_fetch_num`` and ``value_fetch_num``: 1 <= value_fetch <= key_fetch <= seq_len.
    key_bits, value_bits : numpy.ndarray
        ``quant_key_bit`` (the MSB plane of K) and ``quant_value_bit``: -1 or one of
        :data:`MSB_BITS`.
    query_bits : numpy.ndarray
        ``quant_query_bit``: -1 or one of :data:`QUERY_BITS`.
    requant_threshold : numpy.ndarray
        ``auto_requant_thres``: -1 (off) or a max-probability threshold in (0, 1).
    requant_bits : numpy.ndarray
        ``auto_requant_incre``: -1 (off) or :data:`LSB_BITS`; off exactly when the threshold is.
    requant : numpy.ndarray
        ``if_requant``: the row fetched the K LSB plane and recomputed (needs requant on).
    accumulate_importance, rescale_importance : numpy.ndarray
        ``if_accumulate_importance``, ``if_rescale_previous_importance``.
    token_topk, topk : numpy.ndarray
        ``if_topk`` and ``topk``: a token top-k of k = topk (1 to seq_len) runs after this head;
        topk is -1 when it does not.
    """

    model: str
    config: str | None
    layers: int
    heads: int
    head_dim: int
    iteration: np.ndarray
    layer: np.ndarray
    head: np.ndarray
    seq_len: np.ndarray
    key_fetch: np.ndarray
    key_bits: np.ndarray
    query_bits: np.ndarray
    requant_threshold: np.ndarray
    requant: np.ndarray
    requant_bits: np.ndarray
    value_fetch: np.ndarray
    value_bits: np.ndarray
    accumulate_importance: np.ndarray
    rescale_importance: np.ndarray
    token_topk: np.ndarray
    topk: np.ndarray

    def __post_init__(self) -> None:
        for name in ("layers", "heads", "head_dim"):
            _check_count(name, getattr(self, name))
        if not isinstance(self.model, str):
            raise ValueError(f"model must be a string, not {self.model!r}")
        if self.config is not None and not isinstance(self.config, str):
            raise ValueError(f"config must be a string or None, not {self.config!r}")
        rows = None
        for name, kind in _ARRAY_KINDS.items():
            array = np.array(getattr(self, name))
            if array.ndim != 1:
                raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
            if rows is None:
                rows = len(array)
            elif len(array) != rows:
                raise ValueError(f"{name} has {len(array)} rows, iteration has {rows}")
            if not _fits(array, kind):
                raise ValueError(f"{name} must hold {kind} values, got dtype {array.dtype}")
            array = array.astype(_DTYPES[kind])
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        if not rows:
            raise ValueError("a trace needs at least one row")
        bad = _first_violation(self, lambda row: f"row {row}")
        if bad:
            row, column, problem = bad
            raise ValueError(f"row {row}, column {column!r}: {problem}")

    def __len__(self) -> int:
        return len(self.iteration)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpattenTrace):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            if f.name in _ARRAY_KINDS
            else getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def iterations(self) -> np.ndarray:
        """The iteration ids present, ascending."""
        return np.unique(self.iteration)

    def iteration_seq_len(self) -> tuple[np.ndarray, np.ndarray]:
        """The iteration ids present (ascending) and the context length L of each."""
        ids, first = np.unique(self.iteration, return_index=True)
        return ids, self.seq_len[first]


_ARRAY_KINDS: dict[str, str] = {
    attr: kind for attr, kind in _ROW_FIELDS.values() if attr != "head_dim"
}


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _fits(array: np.ndarray, kind: str) -> bool:
    if kind == "bool":
        return array.dtype == np.bool_
    if kind == "int":
        return np.issubdtype(array.dtype, np.integer) and array.dtype != np.bool_
    return np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_


def _allowed(values: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in (UNQUANTIZED, *values))


def _first_violation(
    t: SpattenTrace | SimpleNamespace, locate: Callable[[int], str]
) -> tuple[int, str, str] | None:
    """The earliest row that breaks a rule, its column and the problem; None if all are fine.

    ``t`` has the per-row arrays and the ``layers`` and ``heads`` of a :class:`SpattenTrace`.

    ``locate(row)`` names a row in messages that refer to another row (a duplicate's first
    occurrence, the row that fixed an iteration's context length).
    """
    lsb_on = t.requant_bits != UNQUANTIZED
    thres_on = t.requant_threshold != UNQUANTIZED
    thres_ok = ~thres_on | ((t.requant_threshold > 0) & (t.requant_threshold < 1))
    # Rows sharing an iteration share L; rows sharing (iteration, layer, head) are duplicates.
    _, first_of_iter, iter_index = np.unique(t.iteration, return_index=True, return_inverse=True)
    iter_first = first_of_iter[iter_index]
    key = (t.iteration * t.layers + t.layer) * t.heads + t.head
    _, first_of_key, key_index = np.unique(key, return_index=True, return_inverse=True)
    key_first = first_of_key[key_index]
    ids_ok = (t.layer >= 0) & (t.layer < t.layers) & (t.head >= 0) & (t.head < t.heads)

    def rows(i: int) -> tuple[int, int, int]:
        return int(t.iteration[i]), int(t.layer[i]), int(t.head[i])

    rules: list[tuple[np.ndarray, str, Callable[[int], str]]] = [
        (t.iteration < 0, "iteration_id",
         lambda i: f"iteration {t.iteration[i]} must be >= 0"),
        ((t.layer < 0) | (t.layer >= t.layers), "layer_id",
         lambda i: f"layer {t.layer[i]} must be from 0 to {t.layers - 1}"),
        ((t.head < 0) | (t.head >= t.heads), "head_id",
         lambda i: f"head {t.head[i]} must be from 0 to {t.heads - 1}"),
        (ids_ok & (t.iteration >= 0) & (key_first != np.arange(len(t.iteration))), "head_id",
         lambda i: "duplicate of iteration {}, layer {}, head {}".format(*rows(i))
         + f" (first at {locate(int(key_first[i]))})"),
        ((t.seq_len < 1) | (t.seq_len > MAX_CONTEXT), "sentence_length_L",
         lambda i: f"context length {t.seq_len[i]} must be from 1 to {MAX_CONTEXT}"),
        (t.seq_len != t.seq_len[iter_first], "sentence_length_L",
         lambda i: f"context length {t.seq_len[i]} differs from the "
         f"{t.seq_len[iter_first[i]]} of iteration {t.iteration[i]} at "
         f"{locate(int(iter_first[i]))}; it must be one value per iteration"),
        ((t.key_fetch < 1) | (t.key_fetch > t.seq_len), "key_fetch_num",
         lambda i: f"{t.key_fetch[i]} keys fetched; allowed: 1 to sentence_length_L = "
         f"{t.seq_len[i]}"),
        ((t.value_fetch < 1) | (t.value_fetch > t.key_fetch), "value_fetch_num",
         lambda i: f"{t.value_fetch[i]} values fetched; allowed: 1 to key_fetch_num = "
         f"{t.key_fetch[i]} (local V pruning keeps a subset of the fetched keys)"),
        (~np.isin(t.key_bits, (UNQUANTIZED, *MSB_BITS)), "quant_key_bit",
         lambda i: f"unknown width {t.key_bits[i]}; allowed: {_allowed(MSB_BITS)}"),
        (~np.isin(t.query_bits, (UNQUANTIZED, *QUERY_BITS)), "quant_query_bit",
         lambda i: f"unknown width {t.query_bits[i]}; allowed: {_allowed(QUERY_BITS)}"),
        (~np.isin(t.value_bits, (UNQUANTIZED, *MSB_BITS)), "quant_value_bit",
         lambda i: f"unknown width {t.value_bits[i]}; allowed: {_allowed(MSB_BITS)}"),
        (~thres_ok, "auto_requant_thres",
         lambda i: f"threshold {float(t.requant_threshold[i])!r}; allowed: -1 (off) or a value "
         "strictly between 0 and 1"),
        (~np.isin(t.requant_bits, (UNQUANTIZED, LSB_BITS)), "auto_requant_incre",
         lambda i: f"unknown LSB increment {t.requant_bits[i]}; allowed: "
         f"{_allowed((LSB_BITS,))}"),
        (lsb_on != thres_on, "auto_requant_incre",
         lambda i: f"increment {t.requant_bits[i]} with threshold "
         f"{float(t.requant_threshold[i])!r}: both must be -1 (requant off) or both set"),
        (lsb_on & (t.key_bits == UNQUANTIZED), "quant_key_bit",
         lambda i: "requant is on but K is unquantized (-1): there is no LSB plane to fetch"),
        (t.requant & ~lsb_on, "if_requant",
         lambda i: "True while requant is off (auto_requant_incre = -1); allowed: False"),
        (~t.token_topk & (t.topk != UNQUANTIZED), "topk",
         lambda i: f"k = {t.topk[i]} while if_topk is False; allowed: -1"),
        (t.token_topk & ((t.topk < 1) | (t.topk > t.seq_len)), "topk",
         lambda i: f"k = {t.topk[i]}; allowed: 1 to sentence_length_L = {t.seq_len[i]}"),
    ]
    worst = None
    for mask, column, problem in rules:
        bad = np.flatnonzero(mask)
        if bad.size and (worst is None or bad[0] < worst[0]):
            worst = (int(bad[0]), column, problem)
    if worst is None:
        return None
    row, column, problem = worst
    return row, column, problem(row)


def read_trace(
    path: str | os.PathLike,
    *,
    model: str | None = None,
    layers: int | None = None,
    heads: int | None = None,
) -> SpattenTrace:
    """Read a trace file and check it.

    Parameters
    ----------
    path : path-like
        The CSV file.
    model : str, optional
        Workload name; the file's stem when not given.
    layers, heads : int, optional
        Layers of the model and heads per layer. Default: one more than the largest id in the
        file, which undercounts when the highest-numbered heads were pruned everywhere, so pass
        them when they are known.

    Returns
    -------
    SpattenTrace

    Raises
    ------
    TraceFormatError
        (a ValueError) naming the file, the line and the column, for: a missing, unknown or
        repeated column; a row with the wrong number of fields; a field that is not a decimal
        integer, a number or True/False as its column needs; a head dimension that is not one
        positive integer for the whole file; and any row that breaks a rule of
        :class:`SpattenTrace`: ids below 0 (or not below ``layers``/``heads``), a repeated
        (iteration, layer, head), L below 1 or differing within an iteration, fetch counts
        outside 1 <= value_fetch_num <= key_fetch_num <= L, a width outside :data:`MSB_BITS`
        / :data:`QUERY_BITS` (or -1), a threshold outside (0, 1) (or -1), an LSB increment
        other than :data:`LSB_BITS` (or -1), requant settings that are half on, requant on an
        unquantized K, ``if_requant`` on a row with requant off, a ``topk`` that disagrees with
        ``if_topk`` or lies outside 1 to L.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (spreadsheets write one) is not data
    except UnicodeDecodeError as error:
        raise TraceFormatError(path, data[:error.start].count(b"\n") + 1, None,
                               f"not UTF-8 text (byte {error.start}: "
                               f"{data[error.start:error.start + 1]!r})") from None
    if text and not text.endswith("\n"):
        raise TraceFormatError(path, text.count("\n") + 1, None,
                               "the file ends inside its last line (no final newline): cut "
                               "short?")
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as error:
        raise TraceFormatError(path, text.count("\n"), None, f"not CSV: {error}") from None
    if not records:
        raise TraceFormatError(path, 1, None, "empty file; expected a header")
    header = records[0]
    for position, name in enumerate(header):
        if name not in _ROW_FIELDS:
            raise TraceFormatError(
                path, 1, name, f"unknown column at position {position + 1}; "
                f"allowed: {', '.join(COLUMNS)}")
        if header.index(name) != position:
            raise TraceFormatError(path, 1, name, "column appears twice")
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise TraceFormatError(path, 1, missing[0], "missing column")
    body = records[1:]
    config = None
    for index, record in enumerate(body):
        line = index + 2
        if len(record) != len(header):
            raise TraceFormatError(
                path, line, None, f"{len(record)} fields; the header has {len(header)}")
        if record[0] and not any(record[1:]):
            if index != len(body) - 1:
                raise TraceFormatError(
                    path, line, header[0],
                    "a configuration-name row (first field only) may only be the last row")
            config = record[0]
            body = body[:-1]
    if not body:
        raise TraceFormatError(path, 2, None, "no data rows")
    cells = np.array(body, dtype=np.str_).T
    values = {
        name: _parse(cells[header.index(name)], kind, path, name)
        for name, (_, kind) in _ROW_FIELDS.items()
    }
    head_dim = _head_dim(values.pop(HEAD_DIM_COLUMN), path)
    columns = {_ROW_FIELDS[name][0]: array for name, array in values.items()}
    meta = {
        "layers": int(columns["layer"].max()) + 1 if layers is None else layers,
        "heads": int(columns["head"].max()) + 1 if heads is None else heads,
    }
    for name, value in meta.items():
        _check_count(name, value)
    bad = _first_violation(SimpleNamespace(**meta, **columns), lambda row: f"line {row + 2}")
    if bad:
        row, column, problem = bad
        raise TraceFormatError(path, row + 2, column, problem)
    return SpattenTrace(model=path.stem if model is None else model, config=config,
                        head_dim=head_dim, **meta, **columns)


def _parse(cells: np.ndarray, kind: str, path: Path, column: str) -> np.ndarray:
    """Convert one column of text fields; the first bad field raises TraceFormatError."""
    if kind == "bool":
        true, false = cells == "True", cells == "False"
        bad = np.flatnonzero(~(true | false))
        if bad.size:
            _raise_bad(path, bad[0], column, cells, "True or False")
        return true
    if kind == "int":
        if not _INTS.fullmatch("\n".join(cells)):  # one C-speed pass; locate only on failure
            bad = next(i for i, c in enumerate(cells) if not _INT.fullmatch(c))
            _raise_bad(path, bad, column, cells, "a decimal integer")
        try:
            return cells.astype(np.int64)
        except OverflowError:
            big = np.flatnonzero([abs(int(c)) > np.iinfo(np.int64).max for c in cells])
            _raise_bad(path, big[0], column, cells, "an integer that fits in 64 bits")
    try:
        return cells.astype(np.float64)
    except ValueError:
        for i, text in enumerate(cells):
            try:
                float(text)
            except ValueError:
                _raise_bad(path, i, column, cells, "a number")
        raise


def _raise_bad(path: Path, row: int, column: str, cells: np.ndarray, allowed: str) -> None:
    raise TraceFormatError(path, int(row) + 2, column, f"{str(cells[row])!r} is not {allowed}")


def _head_dim(values: np.ndarray, path: Path) -> int:
    """The one head dimension of the file: a positive integer, the same on every row."""
    bad = np.flatnonzero(~np.isfinite(values) | (values < 1) | (values > MAX_HEAD_DIM)
                         | (values != np.round(values)))
    if bad.size:
        raise TraceFormatError(
            path, int(bad[0]) + 2, HEAD_DIM_COLUMN,
            f"head dimension {float(values[bad[0]])!r} must be an integer from 1 to "
            f"{MAX_HEAD_DIM}")
    differ = np.flatnonzero(values != values[0])
    if differ.size:
        raise TraceFormatError(
            path, int(differ[0]) + 2, HEAD_DIM_COLUMN,
            f"head dimension {float(values[differ[0]])!r} differs from the "
            f"{float(values[0])!r} of line 2; a trace has one head dimension")
    return int(values[0])


def _format_column(trace: SpattenTrace, name: str) -> list[str]:
    attr, kind = _ROW_FIELDS[name]
    if name == HEAD_DIM_COLUMN:
        return [str(float(trace.head_dim))] * len(trace)  # the released traces write "64.0"
    values = getattr(trace, attr).tolist()
    if kind == "float":
        # -1 (off) is written as an integer, as the released traces do; thresholds as repr.
        return [str(UNQUANTIZED) if v == UNQUANTIZED else repr(v) for v in values]
    return [str(v) for v in values]


def write_trace(trace: SpattenTrace, path: str | os.PathLike) -> Path:
    """Write ``trace`` in the released format: :data:`COLUMNS` order, LF line ends.

    The file is written to a temporary file beside ``path`` and renamed into place, so it is
    either complete or not written at all. The model name and the layer and head counts are
    not part of the format (pass them to :func:`read_trace` to get an equal trace back).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(trace, SpattenTrace):
        raise ValueError(f"trace must be a SpattenTrace, not {type(trace).__name__}")
    path = Path(path)
    columns = [_format_column(trace, name) for name in COLUMNS]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(zip(*columns, strict=True))
    if trace.config is not None:
        writer.writerow([trace.config] + [""] * (len(COLUMNS) - 1))
    write_atomically({path: text.getvalue()}, newline="")
    return path
