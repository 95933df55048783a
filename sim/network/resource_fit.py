"""Fitting the resource model (:mod:`sparsa.sim.network.resources`) to synthesis.

:func:`fit_model` exports the Verilog of every configuration of
:data:`sparsa.config.presets.RESOURCE_FIT_GRID`, synthesises it with Yosys (one at a time;
:func:`sparsa.hw.synthesis.synthesize`, cached by the Verilog's digest), fits each block's
coefficients by least squares (:func:`sparsa.sim.network.resources.fit_coefficients`) and
returns the model's data: coefficients, the grid with each point's configuration, measured
resources, Verilog digest and the model's prediction, the Yosys version, the date and the
command that regenerates it (``sparsa synth fit``, which writes it atomically to
:data:`sparsa.sim.network.resources.MODEL_FILE`).

A system is fitted last: what its synthesis measures beyond its array's and SORE's predictions
is its own part (controller, AXI, buffers).
"""

import hashlib
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sparsa.hw.synthesis import SynthResult
from sparsa.sim.network.resources import (
    RESOURCES,
    ResourceModel,
    block_of,
    features,
    fit_coefficients,
)

__all__ = ["FIT_COMMAND", "fit_model", "synthesise"]

FIT_COMMAND = "sparsa synth fit"
"""The command that regenerates the model's data."""


def synthesise(config: object, out_dir: Path) -> tuple[SynthResult, str]:
    """Export ``config``'s block (or system) into ``out_dir`` and synthesise it.

    Returns
    -------
    result, digest : sparsa.hw.synthesis.SynthResult, str
        The synthesis and the SHA-256 of the Verilog.

    Raises
    ------
    sparsa.hw.synthesis.SynthToolError
        If Yosys is missing or fails.
    """
    from sparsa.hw.export import export_verilog
    from sparsa.hw.sat.sat_array import SatArray
    from sparsa.hw.sat.sore import Sore
    from sparsa.hw.sat.weight_update import WeightUpdate
    from sparsa.hw.sat_system.accelerator import SatAccelerator
    from sparsa.hw.synthesis import synthesize
    from sparsa.hw.topk.topk import TopKEngine

    components = {"sat-array": SatArray, "sore": Sore, "topk": TopKEngine,
                  "weight-update": WeightUpdate, "sat-accelerator": SatAccelerator}
    block = block_of(config)
    top = block.replace("-", "_")  # a block's Verilog name, as everywhere
    verilog, _ = export_verilog(components[block](config), name=top, out_dir=out_dir,
                                config=config)
    digest = hashlib.sha256(verilog.read_bytes()).hexdigest()
    return synthesize(verilog, top), digest


def fit_model(grid: Iterable[object],
              progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Synthesise every configuration of ``grid`` and fit the model to them.

    Parameters
    ----------
    grid : iterable of configurations
        Blocks (:data:`sparsa.sim.network.resources.BLOCK_NAMES`) and systems; every system's array
        format and SORE must have block points too.
    progress : callable, optional
        Called as ``progress(done, total, line)`` after each synthesis.

    Returns
    -------
    dict
        The data of :data:`sparsa.sim.network.resources.MODEL_FILE`.

    Raises
    ------
    sparsa.hw.synthesis.SynthToolError
        If Yosys is missing or fails.
    ValueError
        If the grid cannot determine a coefficient.
    """
    from sparsa.hw.export import config_json
    from sparsa.hw.synthesis import find_yosys

    yosys = find_yosys()
    grid = list(grid)
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, config in enumerate(grid):
            result, digest = synthesise(config, Path(tmp) / str(i))
            measured = asdict(result.resources)
            points.append({"block": block_of(config), "config": config_json(config),
                           "features": features(config), "verilog_sha256": digest,
                           "resources": measured,
                           "seconds": result.seconds, "_config": config})
            if progress is not None:
                r = result.resources
                when = "cached" if result.cached else f"{result.seconds} s"
                progress(i + 1, len(grid), f"{block_of(config)} {r.lut:,} LUT {r.ff:,} FF "
                         f"{r.dsp} DSP {r.bram36} RAMB36 ({when})")
    data: dict[str, Any] = {
        "description": "Resource model of sparsa.sim.network.resources: least-squares "
                       "coefficients (numpy.linalg.lstsq, one fit per block and resource) of "
                       "the features of sparsa.sim.network.resources.features, fitted to Yosys "
                       "synth_xilinx -family xcup -flatten -noiopad (sparsa.hw.synthesis) of "
                       "the grid below.",
        "command": FIT_COMMAND,
        "yosys": yosys,
        "date": datetime.now(UTC).date().isoformat(),
        "coefficients": {},
        "grid": points,
    }
    blocks = [p["block"] for p in points]
    for block in dict.fromkeys(blocks):  # the system last: it needs its parts' coefficients
        if block == "sat-accelerator":
            continue
        rows = [(p["features"], p["resources"]) for p in points if p["block"] == block]
        data["coefficients"][block] = fit_coefficients(block, rows)
    systems = [p for p in points if p["block"] == "sat-accelerator"]
    if systems:
        parts = ResourceModel(data)
        rows = []
        for p in systems:
            config = p["_config"]
            known = parts.predict(config.array)
            if config.sore is not None:
                known = known + parts.predict(config.sore)
            rows.append((p["features"],
                         {r: p["resources"][r] - getattr(known, r) for r in RESOURCES}))
        data["coefficients"]["sat-accelerator"] = fit_coefficients("sat-accelerator", rows)
    model = ResourceModel(data)
    for p in points:
        predicted = model.predict(p.pop("_config"))
        p["predicted"] = {r: round(getattr(predicted, r), 1) for r in RESOURCES}
    return data
