"""The SAT accelerator system's section of the report: its Verilog and datasheet, and programs
run end to end on the Verilated system against the golden program model and the cycle model."""

import functools
import json
from collections.abc import Callable
from pathlib import Path

from sparsa.config.describe import describe
from sparsa.config.presets import DEFAULT_SAT_SYSTEM, SAT_SYSTEM_CONFIGS, SYSTEM_READ_LATENCY
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.sat_system.accelerator import SatAccelerator
from sparsa.hw.sat_system.datasheet import datasheet
from sparsa.reports.markdown import lint_summary
from sparsa.sim.rtl.sat_system.cases import compare, gemm_cases
from sparsa.sim.rtl.sat_system.network import classifier_chain, network_cases, run_network
from sparsa.sim.rtl.sat_system.run import run_jobs

__all__ = ["REPORT_SYSTEM", "system_section"]

REPORT_SYSTEM = SAT_SYSTEM_CONFIGS["r4c4-int8-w128"]
LATENCY = SYSTEM_READ_LATENCY  # the DDR model's read latency, address to first beat
SEED = 5
CHAIN_BATCH = 8  # columns of the classifier chain


def system_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Export and lint the default accelerator (``verilog/sat_accelerator.*`` and its
    datasheet), run the GEMM grid (and, unless ``quick``, the first two layers of the small CNN
    and its classifier chained in one program) on the Verilated :data:`REPORT_SYSTEM`, write
    ``sat_system.json`` and return the section.
    Mismatches are reported, never raised."""
    say("exporting the SAT accelerator's Verilog and datasheet")
    verilog_path, _ = export_verilog(
        SatAccelerator(DEFAULT_SAT_SYSTEM), name="sat_accelerator", out_dir=stage / "verilog",
        config=DEFAULT_SAT_SYSTEM, datasheet=functools.partial(datasheet, DEFAULT_SAT_SYSTEM))
    say("linting it with Verilator")
    lint = lint_verilog(verilog_path)
    config = REPORT_SYSTEM
    say("running compiled GEMM programs on the Verilated SAT accelerator (builds it once)")
    cases = gemm_cases(config, seed=SEED)
    results = run_jobs(config, [c.job for c in cases], memory_bytes=1 << 20, latency=LATENCY,
                       seed=SEED)
    rows, failures = [], []
    for case, result in zip(cases, results, strict=True):
        problems, row = compare(config, case, result, LATENCY)
        failures += problems
        rows.append({**row, "tiles": sum(1 for i in case.program if i & 0xF == 2)})
    layer_rows = []
    if not quick:
        say("running the first layer of the small CNN (2:8) on it")
        from sparsa.config.sat import NMPattern

        layer_cases = network_cases(config, "small-cnn", NMPattern(2, 8), layers=2, batch=1,
                                    seed=SEED, target="vcu1525", latency=LATENCY)
        say("running the small CNN's classifier (2:4) as one chained program on it")
        chain = classifier_chain(config, "small-cnn", NMPattern(2, 4), batch=CHAIN_BATCH,
                                 seed=SEED)
        runs = run_network(config, [*layer_cases, chain.case], latency=LATENCY, seed=SEED)
        layer_rows = [r.to_dict() for r in runs]
        failures += [f for r in runs for f in r.failures]
    (stage / "sat_system.json").write_text(json.dumps(
        {"config": describe(config), "latency": LATENCY, "gemms": rows, "layers": layer_rows,
         "failures": failures}, indent=2) + "\n")
    exact = sum(r["rtl"] == r.get("model") for r in rows + [
        {"rtl": r["rtl_cycles"], "model": r["model_cycles"]} for r in layer_rows])
    total = len(rows) + len(layer_rows)
    table = ["| program | tiles | system cycles | model cycles | array busy (system / model) |",
             "|---|---|---|---|---|"]
    table += [f"| {r['case']} | {r['tiles']} | {r['rtl']} | {r['model']} | "
              f"{r['busy_rtl']} / {r['busy_model']} |" for r in rows]
    layers = ""
    if layer_rows:
        layers = "\n".join([
            "", "The training GEMMs of the small CNN's first two layers (2:8, batch 1), each "
            "its own program, the dataflow the network simulator's offline schedule chose; "
            f"last, the FF pass of its classifier (FC 64-64 at 2:4, ReLU, FC 64-10; batch "
            f"{CHAIN_BATCH}) as one program: the first layer's STOREs requantize (a shift "
            "calibrated on its golden output), apply the ReLU and write the second layer's "
            "activation beats, which its LOADs read after a SYNC, untouched by the host:", "",
            "| program | M x K x N | pattern | dataflow | system cycles | model cycles | "
            "network simulator |",
            "|---|---|---|---|---|---|---|",
            *[f"| {r['name']} | {'x'.join(map(str, r['shape']))} | {r['pattern']} | "
              f"{r['dataflow']} | {r['rtl_cycles']} | {r['model_cycles']} | "
              f"{'-' if r['netsim_cycles'] is None else r['netsim_cycles']} |"
              for r in layer_rows], "",
            "The network simulator, sized by the same system and memory latency, plans each "
            "GEMM's program from its shape (the compiler's tiles, residency, grouped loads "
            "and tokens) and times it with the system's cycle model, so its column is the "
            "system's cycles (a GEMM longer than the instruction memory runs as parts, each "
            "its own program and row); the chained classifier is not a GEMM the network "
            "simulator plans (-).", ""])
    verdict = ("every program's DRAM after the run equals the golden program model's, every "
               "counter equals what the bench saw" if not failures else
               f"**{len(failures)} mismatch(es)**: " + "; ".join(failures[:5]))
    return f"""## The SAT accelerator as a system

### Verilog and datasheet

`verilog/sat_accelerator.v` with its sidecar (`sat_accelerator.json`: configuration, ports,
register map, instruction set) and datasheet (`verilog/sat_accelerator.md`), elaborated from
the default system: `{DEFAULT_SAT_SYSTEM!r}`.

Lint: {lint_summary(lint, "sat_accelerator")}

### End to end, against the golden model and the cycle model

Programs compiled by `sparsa.dataflow.sat_program` (double-buffered halves, VTA-style tokens
between the LOAD, GEMM and STORE units) run on the Verilated `{describe(config)}` from a DRAM image,
started through the AXI4-Lite registers, the DDR a `cocotbext-axi` RAM with a read latency of
{LATENCY} cycles. Result: {verdict}. The system's cycle model
(`sparsa.sim.blocks.sat_system`) predicts {exact} of {total} runs to the cycle.

{chr(10).join(table)}
{layers}
An operand whose distinct tiles all fit its buffer stays resident (each tile loaded once and
reused); the programs are still bound by the memory: the array is busy a share of the cycles.
A chain runs output-stationary layers whose input is the layer before's output (Linear layers,
1 x 1 convolutions); a 3 x 3 convolution's input needs an im2col gather the LOAD unit does not
do yet.
"""
