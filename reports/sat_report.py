"""The SAT PE array's section of the report: Verilog, lint, and dense against N:M."""

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sparsa.config.describe import describe
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.sat.sat_array import SatArray
from sparsa.reports.markdown import lint_summary
from sparsa.sim.rtl.sat_array.bench import BENCH_CONFIG, BENCH_LAYER, format_table, layer_bench

__all__ = ["QUICK_LAYER", "sat_section"]

QUICK_LAYER = {"cout": 16, "k": 64, "batch": 8}


def sat_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Export and lint the bench's array, run the layer bench on the RTL (a smaller layer when
    ``quick``), write their files into ``stage`` (``verilog/sat_array.*``, ``sat_bench.json``)
    and return the section."""
    config = BENCH_CONFIG
    layer = QUICK_LAYER if quick else BENCH_LAYER
    say("exporting the SAT PE array's Verilog")
    verilog_path, _ = export_verilog(
        SatArray(config), name="sat_array", out_dir=stage / "verilog", config=config
    )
    say("linting it with Verilator")
    lint = lint_verilog(verilog_path)
    say("running the dense-versus-N:M layer bench on the SAT array's RTL (amaranth.sim)")
    rows = layer_bench(config, **layer, progress=say)
    (stage / "sat_bench.json").write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    os_rows = {r.pattern: r for r in rows if r.dataflow == "OS"}
    dense, half = os_rows["dense"], os_rows["2:4"]
    off = [r for r in rows if r.rtl_cycles != r.model_cycles
           or r.rtl_cycles_no_interleave != r.model_cycles_no_interleave]
    ws_rows = {r.pattern: r for r in rows if r.dataflow == "WS"}
    os_dense, ws_dense = dense.rtl_cycles, ws_rows["dense"].rtl_cycles
    faster = "OS" if os_dense < ws_dense else "WS"
    gains = [r.interleave_gain for r in rows]
    agreement = ("predicts every run's cycles exactly, with and without interleave" if not off
                 else f"MISSES {len(off)} of {len(rows)} runs (see the table)")
    return f"""## SAT PE array

### Verilog

`verilog/sat_array.v` with `verilog/sat_array.json`, elaborated from `{describe(config)}`.

Lint: {lint_summary(lint, "sat_array")}

### Dense against N:M, measured on the RTL

The forward GEMM of one {layer['cout']} x {layer['k']} layer on {layer['batch']} inputs
(random INT8 operands, seed 1), tiled onto the {config.rows} x {config.cols} array and run
tile after tile on the RTL in `amaranth.sim`; every run's result equals the golden GEMM
(`sparsa.models.golden.sat.gemm_ff`), and the cycle model (`sparsa.sim.blocks.sat_array`)
{agreement}.

{format_table(rows)}

Every run is measured twice on the same RTL: with interleave mapping (the array takes the next
tile's command and operands while the previous tile's wavefront drains, through per-PE shadow
accumulators and weights) and without it (the array elaborated with `interleave=False` takes a
command only after the previous answer has left). Interleave gains {min(gains):.2f}x to
{max(gains):.2f}x here. Output-stationary tiles stream the whole reduction through the array
(T = K N / M cycles per row of compressed weights) and pay a fixed fill per tile, so the
speedup stays below M / N ({half.speedup:.2f}x at 2:4: {half.rtl_cycles} cycles against
{dense.rtl_cycles} dense over {dense.tiles} tiles); interleave hides part of that fill behind
the neighbouring tiles. Weight-stationary tiles cover {config.rows} compressed entries each, so
an N:M layer needs N / M as many tiles, each as long as a dense one, and the speedup is about
M / N. In absolute cycles {faster} is faster on this layer ({os_dense} OS against {ws_dense} WS
cycles dense, with interleave); the offline scheduler picks the dataflow per GEMM.
"""
