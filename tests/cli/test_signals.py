"""SIGINT and SIGTERM end a command with one line, the shell's exit status and nothing left
behind (the report's hidden staging folder removed)."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sparsa.cli.main import INTERRUPTED, TERMINATED


@pytest.mark.parametrize(("signum", "status", "line"), [
    (signal.SIGINT, INTERRUPTED, "sparsa: interrupted"),
    (signal.SIGTERM, TERMINATED, "sparsa: terminated"),
])
def test_a_signal_ends_the_report_cleanly(signum, status, line, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sparsa", "report", "--quick", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a job started in the background inherits SIGINT ignored; the user's shell does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = process.stderr.readline()  # the report is under way (its staging folder exists)
    assert first.startswith("sparsa: "), first
    assert any(p.name.startswith(".out.") for p in tmp_path.iterdir())
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status and stdout == "", (process.returncode, stderr)
    assert stderr.splitlines()[-1] == line and "Traceback" not in stderr, stderr
    assert list(tmp_path.iterdir()) == []
