"""Figures written as PNG files, never half-written."""

import os
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

__all__ = ["write_png"]


def write_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG atomically: into a temporary file in the same folder,
    then renamed over ``path``."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            fig.savefig(out, format="png", dpi=110)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
