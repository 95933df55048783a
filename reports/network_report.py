"""Network-scale sections of the report: SAT training iterations and SpAtten on its traces (the
public GPT-2 traces and the default BERT runs)."""

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sparsa.config.presets import (
    BERT_SEQ_LEN,
    SAT_ABLATION_MODEL,
    SAT_ABLATION_PATTERN,
    SAT_BATCH,
    SAT_STUDY_MODELS,
    SAT_STUDY_PATTERNS,
    SAT_TARGET,
    SPATTEN_TARGET,
)
from sparsa.dataflow.spatten_workloads import (
    GENERATION,
    PUBLIC_TRACES,
    SUMMARIZATION,
    default_policy,
    public_traces,
    read_model_trace,
)
from sparsa.models.algorithms.spatten_trace import SpattenTrace
from sparsa.models.experiments.spatten_run import run_spatten
from sparsa.reports.sat_figures import sat_figures_section
from sparsa.sim.network.sat_network import DEFAULT_ARRAY, SORE_LANES
from sparsa.sim.network.spatten import (
    core_bound_summary,
    format_core_bound,
    format_table,
    paper_datapath_cycles,
    simulate,
)
from sparsa.sim.network.target import load_target
from sparsa.sim.studies.sat_study import (
    PAPER_SPEEDUP_2_8,
    ablation,
    format_ablation,
    format_speedups,
    pattern_speedups,
)
from sparsa.sim.studies.sat_study import (
    simulate as simulate_sat,
)
from sparsa.sim.studies.spatten_study import (
    format_breakdown,
    format_sweep,
    speedup_breakdown,
    topk_sweep,
)

__all__ = ["BERT_MODELS", "SAT_MODELS", "SAT_PATTERNS", "sat_training_section",
           "spatten_traces_section"]

BERT_MODELS = ("bert-base", "bert-large")
"""The BERT models the SpAtten section simulates (their default runs, no public trace)."""

SAT_MODELS = SAT_STUDY_MODELS
SAT_PATTERNS = SAT_STUDY_PATTERNS


def sat_training_section(stage: Path, *, say: Callable[[str], None]) -> str:
    """Simulate SAT training iterations, write ``sat_training.json``, return the section."""
    target = load_target(SAT_TARGET)
    say("simulating SAT training iterations (ResNet-18, ResNet-50, VGG-16)")
    rows = pattern_speedups(SAT_MODELS, SAT_PATTERNS, target, batch=SAT_BATCH, progress=say)
    abl = ablation(SAT_ABLATION_MODEL, SAT_ABLATION_PATTERN, target, batch=SAT_BATCH)
    energy = {label: simulate_sat(SAT_ABLATION_MODEL, pattern, target, batch=SAT_BATCH)[0]
              for label, pattern in (("dense", None),
                                     (str(SAT_ABLATION_PATTERN), SAT_ABLATION_PATTERN))}
    (stage / "sat_training.json").write_text(json.dumps(
        {"speedups": [asdict(r) for r in rows], "ablation": [asdict(r) for r in abl],
         "iteration": {label: {"traffic": r.traffic.by_class(), "energy_j": r.energy_j}
                       for label, r in energy.items()}},
        indent=2) + "\n")
    energy_rows = "\n".join(
        f"| {action} | " + " | ".join(f"{r.energy_j[action]:.4g}" for r in energy.values()) + " |"
        for action in energy["dense"].energy_j if any(r.energy_j[action] for r in energy.values()))
    traffic_rows = "\n".join(
        f"| {cls} | " + " | ".join(
            f"{r.traffic.by_class()[cls]['read']:,} / {r.traffic.by_class()[cls]['write']:,}"
            for r in energy.values()) + " |"
        for cls in energy["dense"].traffic.by_class()
        if any(sum(r.traffic.by_class()[cls].values()) for r in energy.values()))
    static_note = ("; the target file has no sourced static power, so the totals are dynamic "
                   "energy only" if target.static_w == 0 else "")
    at_2_8 = [r for r in rows if r.pattern == "2:8"]
    mean = sum(r.speedup for r in at_2_8) / len(at_2_8)
    mean_bound = sum(r.bound for r in at_2_8) / len(at_2_8)
    full = next(r for r in abl if r.setting == "all techniques")
    stall_share = full.dram_stall_cycles / full.cycles
    size = f"{DEFAULT_ARRAY.rows} x {DEFAULT_ARRAY.cols}"
    return f"""## SAT training at network scale

One training iteration (FF, BP and WU of every layer, batch {SAT_BATCH}, ImageNet-size inputs)
on a {size} INT8 array with {SORE_LANES} SORE lanes on `{SAT_TARGET}`
({target.clock_hz / 1e6:.0f} MHz, {target.dram.peak_bytes_per_s / 1e9:.1f} GB/s), simulated by
`sparsa.sim.network.sat_network` from the RTL-validated tile and SORE cycle models (`sparsa bench
sat-training`). BDWP layers (all but the first and last, where M divides both directions) run
FF and BP N:M sparse; WU stays dense. The array size is this project's assumption (SAT's is not
public). *Bound* scales the FF and BP cycles of the sparse layers by N / M and keeps the rest.

{format_speedups(rows)}

At 2:8 the mean speedup over the three networks is {mean:.2f}x against a mean bound of
{mean_bound:.2f}x; the SAT paper reports {PAPER_SPEEDUP_2_8}x at 2:8 against a 2.0x bound (quoted).
The gap to the bound is the array's fixed cost per tile (fill and drain of the skewed
wavefront, not all of it hidden by interleave where a GEMM waits for the one before), which
does not shrink with N / M, plus the exposed DRAM transfers
({100 * stall_share:.2f}% of the cycles of ResNet-50 at 2:8 on this board); the bound itself is
below M / N because WU and the dense first and last layers do not speed up. The model leaves
out DRAM effects beyond the efficiency factor (no bank or row-buffer model) and any
weight-update engine beyond the array; those may explain part of the difference to the paper's
figure, which is measured on the FPGA.

### DRAM traffic and energy of one ResNet-50 iteration

DRAM bytes read / written by tensor class:

| class | dense | 2:8 |
|---|---:|---:|
{traffic_rows}

Energy in joules by action (per-action energies of the target file, each with its source; the
FPGA figures are labelled estimates there){static_note}:

| action | dense | 2:8 |
|---|---:|---:|
{energy_rows}

### Ablation of the dataflow techniques (ResNet-50, 2:8)

{format_ablation(abl)}

Interleave mapping overlaps each tile's fill and drain with its neighbours' (RTL-validated
tile timing, `sparsa.sim.blocks.sat_array`); a GEMM that needs another's output waits for it, so BP
and WU of neighbouring layers overlap but the forward pass does not. Pre-generation takes the SORE
off the critical path; offline scheduling picks each GEMM's dataflow and operand residency. Each is
switched off alone, then all together; switching one off never makes the iteration faster.

{sat_figures_section(stage)}"""


def spatten_traces_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Simulate the public SpAtten traces and the default BERT runs, write
    ``spatten_traces.json``, return the section. The full report also runs the speedup
    breakdown (not on a dense baseline, which has no technique to add) and the top-k sweep of
    every trace; quick mode leaves them to the sections that already compute them."""
    target = load_target(SPATTEN_TARGET)
    parts, results = [], {}

    def add(model: str, title: str, trace: SpattenTrace, dense: SpattenTrace | None,
            mode: str) -> None:
        result = simulate(trace, target, mode=mode, dense=dense)
        bound = simulate(trace, target, mode=mode, core_cycles=paper_datapath_cycles)
        results[model] = {**result.to_dict(), "paper_core_bound": core_bound_summary(bound)}
        kind = " (the dense baseline)" if result.dense_baseline else ""
        studies = ""
        if not quick:
            say(f"running the speedup breakdown and the top-k sweep of {model}")
            sweep = topk_sweep(trace, target, mode=mode)
            results[model]["topk_sweep"] = [asdict(p) for p in sweep]
            if not result.dense_baseline:
                breakdown = speedup_breakdown(trace, target, mode=mode)
                results[model]["speedup_breakdown"] = [asdict(s) for s in breakdown]
                studies += (f"Speedup breakdown of {model} (style of the paper's Fig. 20):\n\n"
                            f"{format_breakdown(breakdown)}\n")
            studies += (f"Local-V top-k parallelism of {model} (style of the paper's Fig. 19a):"
                        f"\n\n{format_sweep(sweep)}\n")
        parts.append(f"### {model}{kind}: {title}\n\n{format_table(result)}\n"
                     f"{format_core_bound(result, bound)}\n" + (studies and f"\n{studies}"))

    for model in PUBLIC_TRACES:
        trace_path, dense_path = public_traces(model)
        say(f"simulating the public {model} trace on {SPATTEN_TARGET}")
        add(model, f"`{trace_path.name}`", read_model_trace(trace_path, model),
            None if dense_path is None else read_model_trace(dense_path, model), GENERATION)
    for model in BERT_MODELS:
        say(f"running SpAtten's algorithm on {model} and simulating it on {SPATTEN_TARGET}")
        policy = default_policy(model)
        add(model, f"the default run ({policy.describe()})",
            run_spatten(model, policy=policy).trace, None, SUMMARIZATION)
    (stage / "spatten_traces.json").write_text(json.dumps(results, indent=2) + "\n")
    body = "\n".join(parts)
    return f"""## SpAtten on the public GPT-2 traces and on BERT

The authors' released workload traces (mit-han-lab/spatten at commit a0f1388, MIT licence,
shipped unchanged in the package as `sparsa/dataflow/spatten_traces`),
simulated on `{SPATTEN_TARGET}` by `sparsa.sim.network.spatten`
(`sparsa simulate spatten --model ...`). DRAM bytes follow the fetcher of the released RTL
(32-byte bursts); the attention core's cycles are the project's RTL-validated pipeline model
(`sparsa.sim.blocks.attention_core`: its front, normalize unit, local-V top-k engines and
values unit work on consecutive queries at once), and the local-V top-k column is its engines'
busy cycles. The public GPT-2 Medium
trace is the dense PTB baseline (no pruning, FP32): it is presented as that baseline, not set
beside the paper's figures, which are of pruned and quantized workloads.

There is no public BERT trace: BERT-Base and BERT-Large run SpAtten's algorithm on the project's
models (random weights, seed 0, {BERT_SEQ_LEN} tokens) with `SPATTEN_BERT_POLICY`
(`sparsa.config.presets`: cascade token and head pruning, static 8-bit K and V, settings
assumed, as the paper publishes no per-task ratios) and are simulated in summarization, each
head's K and V loaded once for all its queries (`sparsa simulate spatten --model bert-base`).
BERT is compute-bound, as in the paper; the busiest-unit line under each table and the core's
stages give the measured reason for the gap to the paper's 1.61 TFLOPS.

{body}
"""
