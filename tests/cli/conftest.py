"""Fixtures of the command-line tests."""

from collections.abc import Callable

import pytest

from sparsa.cli.main import main


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run ``sparsa *argv`` in this process: the exit status, stdout and stderr."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return status, out, err

    return run
