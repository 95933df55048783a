"""Reader and writer of SpAtten workload traces (:mod:`sparsa.models.algorithms.spatten_trace`)."""

from pathlib import Path

import numpy as np
import pytest

import sparsa.models.algorithms.spatten_trace as spatten_trace
from sparsa.dataflow.spatten_workloads import public_trace_dir, public_traces
from sparsa.models.algorithms.spatten_trace import (
    COLUMNS,
    SpattenTrace,
    TraceFormatError,
    read_trace,
    write_trace,
)

TRACES = public_trace_dir()  # the copy shipped as package data
PRUNED, DENSE = public_traces("gpt2-small")
MEDIUM, _ = public_traces("gpt2-medium")
# The one-row example is not shipped: it is read from ../shared where that stands.
SHARED_TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "spatten-traces"
SMALL = SHARED_TRACES / "small.csv"
needs_shared = pytest.mark.skipif(
    not SHARED_TRACES.is_dir(), reason=f"{SHARED_TRACES} is absent (it stands only beside "
    "development checkouts)"
)


@needs_shared
@pytest.mark.parametrize("name", ["LICENSE", *(p.name for p in TRACES.glob("*.csv"))])
def test_packaged_traces_are_the_public_files_unchanged(name):
    assert (TRACES / name).read_bytes() == (SHARED_TRACES / name).read_bytes()


def test_packaged_traces_name_their_source_and_licence():
    readme = (TRACES / "README.md").read_text(encoding="utf-8")
    assert "mit-han-lab/spatten" in readme and "a0f1388" in readme
    assert "MIT" in (TRACES / "LICENSE").read_text(encoding="utf-8")
    shipped = sorted(p.name for p in TRACES.glob("*.csv"))
    assert shipped == sorted([PRUNED.name, DENSE.name, MEDIUM.name])

# One valid row per (iteration, layer, head), in header order.
ROW = dict(zip(COLUMNS, ("0", "0", "0", "64.0", "10", "8", "6", "16", "0.05", "False", "4", "3",
                        "6", "True", "False", "False", "-1"), strict=True))


def csv_text(*rows: dict[str, str], header: tuple[str, ...] = COLUMNS, config: str = "") -> str:
    """A trace file: the header, each row (ROW with the given changes), a config row if given."""
    lines = [",".join(header)]
    lines += [",".join({**ROW, **row}.get(name, "") for name in header) for row in rows]
    if config:
        lines.append(config + "," * (len(header) - 1))
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_released_pruned_trace_matches_its_readme():
    t = read_trace(PRUNED)
    assert (len(t), t.layers, t.heads, t.head_dim) == (4608, 12, 12, 64)
    assert t.model == PRUNED.stem
    assert t.config.startswith("configs/gpt2/wikitext2/gpt2_pp11+")
    ids, seq_len = t.iteration_seq_len()
    assert ids.tolist() == list(range(32))
    assert seq_len.tolist() == list(range(993, 1025))
    later = t.iteration >= 1
    kept = [set(t.key_fetch[later & (t.layer == layer)].tolist()) for layer in range(12)]
    assert kept == [{921}, {716}] + [{204}] * 4 + [{102}] * 6
    assert int(t.requant.sum()) == 323
    assert set(t.key_bits.tolist()) == set(t.value_bits.tolist()) == {6}
    assert set(t.query_bits.tolist()) == {16}
    assert set(t.requant_bits.tolist()) == {4}
    assert set(t.requant_threshold.tolist()) == {0.05}
    assert np.all(t.value_fetch <= t.key_fetch)
    assert int(t.token_topk.sum()) == 124


def test_released_dense_traces_are_unpruned_and_unquantized():
    for path, rows, layers, heads in [(DENSE, 4608, 12, 12), (MEDIUM, 12288, 24, 16)]:
        t = read_trace(path)
        assert (len(t), t.layers, t.heads, t.head_dim) == (rows, layers, heads, 64)
        assert np.array_equal(t.key_fetch, t.seq_len)
        assert np.array_equal(t.value_fetch, t.seq_len)
        for widths in (t.key_bits, t.query_bits, t.value_bits, t.requant_bits):
            assert set(widths.tolist()) == {-1}
        assert not t.requant.any()
        assert set(t.requant_threshold.tolist()) == {-1.0}


@pytest.mark.parametrize(
    "path", [PRUNED, DENSE, MEDIUM, pytest.param(SMALL, marks=needs_shared)],
    ids=lambda p: p.stem,
)
def test_writer_reproduces_released_files_byte_for_byte(tmp_path, path):
    t = read_trace(path)
    out = write_trace(t, tmp_path / "copy.csv")
    assert out.read_bytes() == path.read_bytes()
    assert read_trace(out, model=t.model) == t
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left


@needs_shared
def test_arrays_are_typed_and_read_only():
    t = read_trace(SMALL)
    assert t.key_fetch.dtype == np.int64
    assert t.requant_threshold.dtype == np.float64
    assert t.requant.dtype == np.bool_
    with pytest.raises(ValueError, match="read-only"):
        t.key_fetch[0] = 1


def test_hand_made_trace_round_trips(tmp_path):
    text = csv_text({}, {"head_id": "1", "if_requant": "True", "if_topk": "True", "topk": "7"},
                    {"layer_id": "1", "auto_requant_thres": "0.125"}, config="my run")
    t = read_trace(write(tmp_path, text), model="toy", layers=3, heads=4)
    assert (t.model, t.config, t.layers, t.heads, t.head_dim) == ("toy", "my run", 3, 4, 64)
    assert t.requant.tolist() == [False, True, False]
    assert t.topk.tolist() == [-1, 7, -1]
    out = write_trace(t, tmp_path / "again.csv")
    assert out.read_text() == text
    assert read_trace(out, model="toy", layers=3, heads=4) == t
    assert read_trace(out, model="toy") != t  # layers and heads default to the ids present


def test_columns_may_come_in_any_order(tmp_path):
    header = tuple(reversed(COLUMNS))
    t = read_trace(write(tmp_path, csv_text({}, header=header)))
    assert t == read_trace(write(tmp_path, csv_text({}), "b.csv"), model="trace")


def test_trace_without_config_row(tmp_path):
    t = read_trace(write(tmp_path, csv_text({})))
    assert t.config is None
    assert write_trace(t, tmp_path / "out.csv").read_text() == csv_text({})


def test_a_byte_order_mark_is_not_data_and_other_encodings_are_named(tmp_path):
    """Spreadsheets save UTF-8 CSV with a byte-order mark: the same trace. A Latin-1 file, a
    binary one and one cut inside its last line are errors naming the file and the line."""
    text = csv_text({})
    plain = read_trace(write(tmp_path, text), model="t")
    marked = tmp_path / "bom.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_trace(marked, model="t") == plain
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.encode() + "caf\xe9,\n".encode("latin-1"))
    with pytest.raises(TraceFormatError, match=r"line 3: not UTF-8 text \(byte \d+: b'\\xe9'\)"):
        read_trace(latin)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)))  # a newline at byte 10: the bad byte is on line 2
    with pytest.raises(TraceFormatError, match=r"binary.csv, line 2: not UTF-8 text"):
        read_trace(binary)
    cut = tmp_path / "cut.csv"
    cut.write_text(text[:-3])
    with pytest.raises(TraceFormatError, match=r"cut.csv, line 2: the file ends inside its "
                                               r"last line \(no final newline\)"):
        read_trace(cut)


@pytest.mark.parametrize(
    ("rows", "line", "column", "message"),
    [
        ([{"key_fetch_num": "8x"}], 2, "key_fetch_num", r"'8x' is not a decimal integer"),
        ([{}, {"head_id": "1", "topk": "1.0"}], 3, "topk", r"'1.0' is not a decimal integer"),
        ([{"if_requant": "yes"}], 2, "if_requant", r"'yes' is not True or False"),
        ([{"auto_requant_thres": "abc"}], 2, "auto_requant_thres", r"'abc' is not a number"),
        ([{"layer_id": "99999999999999999999"}], 2, "layer_id", r"fits in 64 bits"),
        ([{"embedding_length_D": "64.5"}], 2, "embedding_length_D",
         r"head dimension 64.5 must be an integer from 1 to 4096"),
        ([{"embedding_length_D": "1e300"}], 2, "embedding_length_D",
         r"head dimension 1e\+300 must be an integer from 1 to 4096"),
        ([{}, {"head_id": "1", "embedding_length_D": "32"}], 3, "embedding_length_D",
         r"differs from the 64.0 of line 2"),
    ],
)
def test_bad_fields_name_file_line_and_column(tmp_path, rows, line, column, message):
    path = write(tmp_path, csv_text(*rows))
    with pytest.raises(TraceFormatError, match=message) as info:
        read_trace(path)
    assert str(info.value).startswith(f"{path}, line {line}, column {column!r}: ")
    assert (info.value.path, info.value.line, info.value.column) == (path, line, column)


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ({"key_fetch_num": "11"}, "key_fetch_num",
         r"11 keys fetched; allowed: 1 to sentence_length_L = 10"),
        ({"key_fetch_num": "-1"}, "key_fetch_num", r"-1 keys fetched"),
        ({"value_fetch_num": "9"}, "value_fetch_num",
         r"9 values fetched; allowed: 1 to key_fetch_num = 8"),
        ({"value_fetch_num": "0"}, "value_fetch_num", r"0 values fetched"),
        ({"sentence_length_L": "0"}, "sentence_length_L",
         r"context length 0 must be from 1 to 16777216"),
        ({"sentence_length_L": "9000000000000000000", "key_fetch_num": "9000000000000000000",
          "value_fetch_num": "9000000000000000000"}, "sentence_length_L",
         r"context length 9000000000000000000 must be from 1 to 16777216"),
        ({"iteration_id": "-2"}, "iteration_id", r"iteration -2 must be >= 0"),
        ({"quant_key_bit": "7"}, "quant_key_bit",
         r"unknown width 7; allowed: -1, 4, 6, 8, 10, 12"),
        ({"quant_value_bit": "32"}, "quant_value_bit", r"unknown width 32"),
        ({"quant_query_bit": "3"}, "quant_query_bit",
         r"unknown width 3; allowed: -1, 4, 6, 8, 10, 12, 16"),
        ({"auto_requant_incre": "2"}, "auto_requant_incre",
         r"unknown LSB increment 2; allowed: -1, 4"),
        ({"auto_requant_thres": "1.5"}, "auto_requant_thres", r"threshold 1.5; allowed: -1"),
        ({"auto_requant_thres": "nan"}, "auto_requant_thres", r"threshold nan"),
        ({"auto_requant_thres": "-1"}, "auto_requant_incre", r"both must be -1"),
        ({"quant_key_bit": "-1"}, "quant_key_bit", r"K is unquantized"),
        ({"auto_requant_thres": "-1", "auto_requant_incre": "-1", "if_requant": "True"},
         "if_requant", r"True while requant is off"),
        ({"topk": "5"}, "topk", r"k = 5 while if_topk is False; allowed: -1"),
        ({"if_topk": "True", "topk": "11"}, "topk", r"k = 11; allowed: 1 to"),
    ],
)
def test_impossible_values_name_the_field(tmp_path, row, column, message):
    path = write(tmp_path, csv_text({"head_id": "1"}, row))
    with pytest.raises(TraceFormatError, match=message) as info:
        read_trace(path)
    assert (info.value.line, info.value.column) == (3, column)
    assert str(info.value).startswith(f"{path}, line 3, column {column!r}: ")


def test_rows_must_agree_with_each_other(tmp_path):
    path = write(tmp_path, csv_text({}, {"head_id": "1"}, {}))
    with pytest.raises(TraceFormatError, match=r"line 4, column 'head_id': duplicate of "
                       r"iteration 0, layer 0, head 0 \(first at line 2\)"):
        read_trace(path)
    path = write(tmp_path, csv_text({}, {"head_id": "1", "sentence_length_L": "11"}))
    with pytest.raises(TraceFormatError, match=r"line 3, column 'sentence_length_L': context "
                       r"length 11 differs from the 10 of iteration 0 at line 2"):
        read_trace(path)
    path = write(tmp_path, csv_text({"head_id": "3"}))
    with pytest.raises(TraceFormatError, match=r"line 2, column 'head_id': head 3 must be "
                       r"from 0 to 1"):
        read_trace(path, heads=2)


def test_the_earliest_bad_line_is_reported(tmp_path):
    path = write(tmp_path, csv_text({"quant_key_bit": "7", "head_id": "1"},
                                    {"key_fetch_num": "99"}))
    with pytest.raises(TraceFormatError, match=r"line 2, column 'quant_key_bit'"):
        read_trace(path)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("", 1, None, r"empty file"),
        (csv_text(header=COLUMNS[:-1]), 1, "topk", r"missing column"),
        (csv_text(header=(*COLUMNS, "extra")), 1, "extra",
         r"unknown column at position 18; allowed: iteration_id, "),
        (csv_text(header=(*COLUMNS, "topk")), 1, "topk", r"column appears twice"),
        (csv_text(), 2, None, r"no data rows"),
        (csv_text(config="cfg"), 2, None, r"no data rows"),
        (csv_text({}) + "1,2\n", 3, None, r"2 fields; the header has 17"),
        (csv_text({}) + "\n", 3, None, r"0 fields; the header has 17"),
        (csv_text({}, config="cfg") + csv_text({"head_id": "1"}).split("\n", 1)[1], 3,
         "iteration_id", r"configuration-name row .* may only be the last row"),
    ],
)
def test_malformed_files(tmp_path, text, line, column, message):
    path = write(tmp_path, text)
    with pytest.raises(TraceFormatError, match=message) as info:
        read_trace(path)
    assert (info.value.path, info.value.line, info.value.column) == (path, line, column)
    assert str(info.value).startswith(f"{path}, line {line}")


def test_bad_layer_and_head_counts(tmp_path):
    path = write(tmp_path, csv_text({}))
    for value in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match=rf"layers must be a positive integer, not {value}"):
            read_trace(path, layers=value)


def test_constructor_checks_rows(tmp_path):
    t = read_trace(write(tmp_path, csv_text({}, {"head_id": "1"})))
    arrays = {name: getattr(t, name) for name in spatten_trace._ARRAY_KINDS}
    meta = {"model": "m", "config": None, "layers": 1, "heads": 2, "head_dim": 64}
    assert SpattenTrace(**meta, **arrays) == SpattenTrace(**meta, **{
        name: value.tolist() for name, value in arrays.items()})
    with pytest.raises(ValueError, match=r"row 1, column 'value_fetch_num': 9 values fetched"):
        SpattenTrace(**meta, **{**arrays, "value_fetch": np.array([3, 9])})
    with pytest.raises(ValueError, match=r"row 1, column 'head_id': duplicate of iteration 0, "
                       r"layer 0, head 0 \(first at row 0\)"):
        SpattenTrace(**meta, **{**arrays, "head": np.array([0, 0])})
    with pytest.raises(ValueError, match=r"key_fetch has 1 rows, iteration has 2"):
        SpattenTrace(**meta, **{**arrays, "key_fetch": np.array([3])})
    with pytest.raises(ValueError, match=r"requant must hold bool values, got dtype int64"):
        SpattenTrace(**meta, **{**arrays, "requant": np.array([0, 1])})
    with pytest.raises(ValueError, match=r"head_dim must be a positive integer, not 0"):
        SpattenTrace(**{**meta, "head_dim": 0}, **arrays)
    with pytest.raises(ValueError, match=r"a trace needs at least one row"):
        SpattenTrace(**meta, **{name: value[:0] for name, value in arrays.items()})


@needs_shared
def test_writer_leaves_nothing_when_it_fails(tmp_path, monkeypatch):
    t = read_trace(SMALL)

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(spatten_trace.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_trace(t, tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"trace must be a SpattenTrace, not str"):
        write_trace("trace", tmp_path / "out.csv")
