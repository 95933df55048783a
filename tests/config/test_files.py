"""All-or-nothing file writes."""

import pytest

import sparsa.files
from sparsa.files import write_atomically


def test_writes_every_file(tmp_path):
    write_atomically({tmp_path / "a.txt": "A\n", tmp_path / "b.txt": "B\r\n"}, newline="")
    assert (tmp_path / "a.txt").read_text() == "A\n"
    assert (tmp_path / "b.txt").read_bytes() == b"B\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_a_failed_rename_leaves_no_file_behind(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(sparsa.files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically({tmp_path / "a.txt": "A", tmp_path / "b.txt": "B"})
    assert list(tmp_path.iterdir()) == []
