"""Property-based tests (Hypothesis) of what users type and hand in: every command line either
parses or exits 2 with one line; every trace file either reads or raises TraceFormatError naming
the file; every target file either loads or raises ValueError naming the file. Never another
exception, never a traceback."""

import contextlib
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsa.cli.main import build_parser, main
from sparsa.models.algorithms.spatten_trace import COLUMNS, TraceFormatError, read_trace
from sparsa.sim.network.target import TARGETS_DIR, load_target

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# What a user might type as a value: numbers of every size and sign, words, paths, nothing.
VALUES = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "0", "1", "-1", "0x10", "2:4", "2:8", "1:16", "dense", "small-cnn",
                     "resnet18", "gpt2-small", "bert-base", "vcu1525", "nope", "a.toml", "/",
                     ".", "..", "int8", "fp16", "lfsr", "middle", "cpu", "meta", "1e300"]),
    st.text(max_size=12),
)
COMMANDS = [
    ["simulate", "sat"], ["simulate", "spatten"], ["bench", "topk"], ["bench", "sat"],
    ["bench", "sat-training"], ["baseline"], ["trace", "spatten"], ["run", "sat"],
    ["verilog", "topk"], ["verilog", "sat-array"], ["verilog", "sat-accelerator"],
    ["verify", "sore"], ["synth", "sat-array"], ["vivado", "attention-core"], ["report"],
    ["targets"],
]


def _options(command: list[str]) -> list[str]:
    """The options of a subcommand, read from its parser."""
    parser = build_parser()
    for word in command:
        action = next(a for a in parser._actions if getattr(a, "choices", None)
                      and isinstance(a.choices, dict) and word in a.choices)
        parser = action.choices[word]
    return sorted(o for a in parser._actions for o in a.option_strings if o not in ("-h",
                                                                                 "--help"))


OPTIONS = {" ".join(c): _options(c) for c in COMMANDS}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    options = OPTIONS[" ".join(command)]
    argv = list(command)
    for _ in range(draw(st.integers(0, 4))):
        argv.append(draw(st.sampled_from(options)) if options and draw(st.booleans())
                    else draw(VALUES))
        if draw(st.booleans()):
            argv.append(draw(VALUES))
    return argv


@SETTINGS
@given(command_lines())
def test_every_command_line_parses_or_exits_2_with_one_line(argv: list[str]) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exit_:
            assert exit_.code == 2, (argv, exit_.code)
            lines = err.getvalue().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sparsa: error: "), (argv, lines)


GOOD_ROW = ("0", "0", "0", "64.0", "10", "8", "6", "16", "0.05", "False", "4", "3", "6", "True",
            "False", "False", "-1")


@st.composite
def trace_files(draw: st.DrawFn) -> bytes:
    """A valid trace with some of its fields, lines or bytes replaced."""
    rows = [list(GOOD_ROW) for _ in range(draw(st.integers(1, 3)))]
    for i, row in enumerate(rows):
        row[2] = str(i)  # distinct heads
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(COLUMNS) - 1))] = draw(VALUES).replace("\n", "")
    text = ",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    data = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as is", "cut", "bytes", "bom", "binary"]))
    if how == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=6)) + data[at:]
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "binary":
        data = draw(st.binary(max_size=200))
    return data


@SETTINGS
@given(trace_files())
def test_every_trace_file_reads_or_names_the_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(data)
        try:
            read_trace(path)
        except TraceFormatError as error:
            assert str(error).startswith(f"{path}, line "), str(error)


@st.composite
def target_files(draw: st.DrawFn) -> bytes:
    """vcu1525.toml with some of its values, lines or bytes replaced."""
    lines = (TARGETS_DIR / "vcu1525.toml").read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        key, sep, _ = lines[i].partition("=")
        value = draw(VALUES).replace("\n", "")
        lines[i] = f"{key}= {value}" if sep and draw(st.booleans()) else value
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=4)) + data[at:]
    return data


@SETTINGS
@given(target_files())
def test_every_target_file_loads_or_names_the_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "user.toml"
        path.write_bytes(data)
        try:
            load_target(path)
        except ValueError as error:
            assert str(error).startswith(f"{path}: "), str(error)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["--pattern", "--batch", "--target", "--dtype",
                                           "--system"]),
                          st.one_of(VALUES, st.sampled_from(["r4c4-int8-w128", "bf16", "4"]))),
                max_size=3))
def test_every_small_simulation_runs_or_exits_2_with_one_line(options) -> None:
    """The whole command, validation in the handler included: ``simulate sat`` of the small
    CNN with random option values works or exits 2 with one line."""
    argv = ["simulate", "sat", "--model", "small-cnn", "--allow-overfull"]
    for option, value in options:
        argv += [option, value]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
    lines = [line for line in err.getvalue().splitlines() if line.startswith("sparsa: error")]
    assert status in (0, 2), (argv, status, err.getvalue())
    assert (status == 2) == (len(lines) == 1) and "Traceback" not in err.getvalue(), (
        argv, err.getvalue())
