"""Writing output files so that none is ever left half-written."""

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["check_writable_place", "write_atomically"]


def write_atomically(files: dict[Path, str], *, newline: str | None = None) -> None:
    """Write every file completely or leave none of them (nor any temporary file) behind.

    Each text goes to a new temporary file beside its destination (its missing folders made),
    and the temporaries are renamed into place only once all of them are written.

    Parameters
    ----------
    files : dict
        Destination path to text.
    newline : str, optional
        Passed to ``open`` (``""`` writes the text's line endings unchanged).
    """
    staged: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Mode "x" creates a new file with the usual permissions (mkstemp's are 0600).
            staged[path] = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
            with staged[path].open("x", newline=newline) as f:
                f.write(text)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    finally:
        for tmp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def check_writable_place(path: Path) -> None:
    """Check that ``path`` can be made: the first of its parents that exists is a writable
    folder (the missing ones are made when the output is written).

    Raises
    ------
    ValueError
        Naming ``path`` and the parent that is a file or is not writable.
    """
    place = Path(path).absolute().parent
    while not place.exists():
        place = place.parent
    if not place.is_dir():
        raise ValueError(f"{str(path)!r} lies under {str(place)!r}, which is a file")
    if not os.access(place, os.W_OK | os.X_OK):
        raise ValueError(f"{str(place)!r} is not writable, so {str(path)!r} cannot be written")
