"""Report section: each headline figure of the two papers beside this run's, with the reason.

Reads the JSON files the other sections wrote into the report folder in the same run, so every
"sparsa" figure here was produced by that run; the papers' figures are quoted constants, each
with its source beside its definition. A figure whose
inputs this run did not produce (a section skipped, an experiment not run) is reported as "not
run", never filled in.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from sparsa.config.presets import GPT2_GENERATED, GPT2_PROMPT, SPATTEN_TARGET
from sparsa.models.experiments.bdwp_accuracy import PAPER_AVG_LOSS_2_8
from sparsa.reports.topk_report import SPATTEN_REF
from sparsa.sim.network.spatten import (
    PAPER_DRAM_REDUCTION,
    PAPER_GPT2_GOPS,
    PAPER_REFETCH_FRACTION,
    PAPER_TECHNIQUE_FACTORS,
    busy_units,
)
from sparsa.sim.studies.sat_study import PAPER_SPEEDUP_2_8

__all__ = [
    "PAPER_GPT2_SMALL_OVER_XEON",
    "PAPER_OVER_TITAN_XP",
    "PAPER_QUANTIZATION_SHARE",
    "Headline",
    "headline_section",
]

PAPER_GPT2_SMALL_OVER_XEON = 563.0
"""SpAtten over a Xeon E5-2640 v4 on GPT-2 Small WikiText-2 (Fig. 14 chart data, spatten.md 3.1);
the geomean over all 30 benchmarks is 347x."""
PAPER_OVER_TITAN_XP = 162.0
"""SpAtten over a TITAN Xp GPU, geomean of 30 benchmarks (spatten.md 3)."""
PAPER_QUANTIZATION_SHARE = (1.6, 1.7, 2.8)
"""Fig. 20's speedup factors of static and of progressive quantization on GPT-2, and the 2.8x
the paper states for both together (spatten.md 3)."""


@dataclass(frozen=True)
class Headline:
    """One row of the table: the paper's figure, this run's, and why they differ."""

    figure: str
    paper: str
    sparsa: str
    reason: str


def _load(stage: Path, name: str) -> object | None:
    path = stage / name
    return json.loads(path.read_text()) if path.is_file() else None


def _topk(stage: Path) -> Headline:
    ref = SPATTEN_REF
    points = _load(stage, "topk_bench.json") or []
    point = next((p for p in points if (p["n"], p["k"], p["comparators"])
                  == (ref["n"], ref["k"], ref["comparators"])), None)
    ours = "not run" if point is None else (
        f"{point['select_mean']:.1f} +- {point['select_std']:.1f} cycles ({point['trials']} "
        "requests, RTL-exact model)")
    return Headline(
        f"top-k quick-select latency, n = {ref['n']}, k = {ref['k']}, C = {ref['comparators']}",
        f"{ref['mean']} +- {ref['std']} cycles (the released latency model; quoted)", ours,
        "each round here pays ceil(m / C) + 4 cycles against +3 (the pivot is read from the "
        "buffer at the start of a round) and the pivots differ; the random inputs differ too")


def _spatten(stage: Path) -> list[Headline]:
    traces = _load(stage, "spatten_traces.json") or {}
    small = traces.get("gpt2-small")
    if small is None:
        return [Headline("SpAtten DRAM reduction", f"{PAPER_DRAM_REDUCTION}x", "not run", "")]
    dram, time = small["dram"], small["time"]
    factors = {f["technique"]: f["factor"] for f in dram["chain"]}
    token_v = factors["token pruning"] * factors["local V pruning"]
    bottleneck, busy = busy_units(time)
    keys = sum(layer["keys"] for layer in small["per_layer"])
    values = sum(layer["values"] for layer in small["per_layer"])
    return [
        Headline("DRAM access reduction vs dense FP32",
                 f"{PAPER_DRAM_REDUCTION}x (average of 30 benchmarks)",
                 f"{dram['reduction_vs_fp32']:.1f}x (public GPT-2 Small trace)",
                 "one GPT-2 trace, not the 30-benchmark average: BERT uses static quantization "
                 "only and prunes less, GPT-2 prunes tokens hardest, and this trace's K and V "
                 "are 6-bit"),
        Headline("token + local V pruning (GPT-2)",
                 f"{PAPER_TECHNIQUE_FACTORS['token + local V pruning']}x",
                 f"{token_v:.2f}x", "the public trace's keep ratios (it fetches "
                 f"{values / keys:.2f} values per key) against the paper's average over the 8 "
                 "GPT-2 benchmarks"),
        Headline("progressive quantization, on top of pruning",
                 f"{PAPER_TECHNIQUE_FACTORS['progressive quantization']}x",
                 f"{factors['progressive quantization']:.2f}x",
                 "counted against FP32 as the paper's 5.1x implies, with 32-byte bursts that "
                 "round short 6-bit rows up and the trace's own LSB refetches"),
        Headline(f"GPT-2 throughput on {SPATTEN_TARGET}", f"{PAPER_GPT2_GOPS:.0f} GOP/s",
                 f"{time['gops']:.0f} GOP/s (GPT-2 Small trace)",
                 f"the busiest unit here is the {bottleneck} ({busy}): the project's pipelined "
                 "core overlaps consecutive queries as SpAtten does, and its front (Q x K and the "
                 "softmax sum, two passes over the scores at E per cycle, each with its pipeline "
                 "fill) paces it, above the DRAM's time; the paper's figure averages 8 GPT-2 "
                 "benchmarks and its core and top-k timing models are not public (the paper's "
                 "datapath bound for the core: "
                 f"{small['paper_core_bound']['gops']:.0f} GOP/s)"),
    ]


def _refetch(stage: Path) -> Headline:
    data = _load(stage, "spatten_own.json")
    paper = f"{PAPER_REFETCH_FRACTION:.1%} of inputs"
    if data is None:
        return Headline("LSB refetch (progressive quantization)", paper, "not run", "")
    own = data["run"]["refetch_fraction"]
    return Headline(
        "LSB refetch (progressive quantization)", paper,
        f"{data['public_trace_requant_rows']:.1%} of the public GPT-2 Small trace's rows; "
        f"{own:.1%} of the queries of the project's random-weight GPT-2 Small run",
        "the public trace comes from trained GPT-2 at threshold 0.05; with random weights "
        "the attention is nearly flat, its largest probability is small, and most queries "
        "refetch (the accuracy experiment's table gives the refetch of a trained model)")


def _baselines(stage: Path) -> list[Headline]:
    data = _load(stage, "baselines.json")
    if data is None:
        return []
    comparisons = data["comparisons"]
    spatten = next((c for c in comparisons if c["workload"].startswith("gpt2-small")
                    and c["accelerator"].startswith("SpAtten (")), None)
    rows = []
    if spatten is not None:
        env = data["environment"]
        rows.append(Headline(
            "SpAtten speedup over a CPU, GPT-2 Small generation attention",
            f"{PAPER_GPT2_SMALL_OVER_XEON:.0f}x over a Xeon E5-2640 v4 (347x geomean of 30)",
            f"{spatten['speedup']:.0f}x over this machine's {env['cpu']} "
            f"({env['threads']} threads, measured)",
            "a different CPU (a shared 2-thread virtual machine here, load average "
            f"{env.get('load_average')}), the same workload ({GPT2_PROMPT}-token prompt, "
            f"{GPT2_GENERATED} tokens, "
            "attention only); the accelerator side is simulated, not silicon"))
    rows.append(Headline("SpAtten speedup over a GPU", f"{PAPER_OVER_TITAN_XP:.0f}x over a "
                         "TITAN Xp (geomean)", "not measured",
                         "no GPU on the machine that writes this report; `sparsa baseline "
                         "--device cuda` times the same workloads where one exists"))
    steps = {s["step"]: s["factor"] for s in data["speedup_breakdown"]}
    traces = _load(stage, "spatten_traces.json") or {}
    bottleneck = (busy_units(traces["gpt2-small"]["time"])[0] if "gpt2-small" in traces
                  else "unknown (the trace section did not run)")
    static, progressive = (steps["+ static quantization"], steps["+ progressive quantization"])
    rows.append(Headline(
        "Fig. 20: speedup from static x progressive quantization (GPT-2)",
        f"{PAPER_QUANTIZATION_SHARE[0]}x x {PAPER_QUANTIZATION_SHARE[1]}x = "
        f"{PAPER_QUANTIZATION_SHARE[2]}x (as stated)",
        f"{static:.2f}x x {progressive:.2f}x = {static * progressive:.2f}x",
        f"the pruned trace's busiest unit here is the {bottleneck}; fewer DRAM bytes buy time "
        "only while DRAM is the bottleneck, as in the paper's memory-bound GPT-2 pipeline"))
    return rows


def _sat(stage: Path) -> list[Headline]:
    data = _load(stage, "sat_training.json")
    if data is None:
        return [Headline("SAT speedup at 2:8", f"{PAPER_SPEEDUP_2_8}x", "not run", "")]
    at_2_8 = [r for r in data["speedups"] if r["pattern"] == "2:8"]
    mean = sum(r["speedup"] for r in at_2_8) / len(at_2_8)
    bound = sum(r["bound"] for r in at_2_8) / len(at_2_8)
    return [Headline(
        "SAT training speedup at 2:8 over dense", f"{PAPER_SPEEDUP_2_8}x (bound 2.0x)",
        f"{mean:.2f}x, mean of {', '.join(r['model'] for r in at_2_8)} (bound {bound:.2f}x)",
        "simulated on a 32 x 32 INT8 array assumed here (SAT's array size is not public), "
        "with the RTL's exact tile costs; the paper's figure is measured on the FPGA")]


def _bdwp(stage: Path) -> Headline:
    data = _load(stage, "bdwp_accuracy.json")
    comparison = None if data is None else data["paper_comparison"]
    paper = f"{PAPER_AVG_LOSS_2_8}% average top-1 loss at 2:8"
    if comparison is None:
        return Headline("BDWP accuracy loss vs dense", paper, "not run", "")
    spreads = [r["std"] for r in data["rows"]
               if r["method"] == "bdwp" and r["pattern"] == comparison["pattern"]
               and r["precision"] == comparison["precision"]]
    spread = ("one seed, so no spread (a quick run, not a comparison)"
              if None in spreads or len(data["seeds"]) < 2 else
              f"the seed-to-seed std of those runs is {min(spreads):.2f} to {max(spreads):.2f} "
              "points")
    return Headline(
        "BDWP accuracy loss vs dense", paper,
        f"{comparison['measured_avg_loss_pp']:+.2f} points at 2:8, mean of "
        f"{', '.join(dict.fromkeys(r['model'] for r in data['rows']))} on digits "
        f"({len(data['seeds'])} seed(s))",
        "small models trained from scratch on an easy offline dataset (8 x 8 digits) against "
        f"the paper's ImageNet-scale networks; {spread}")


def headline_section(stage: Path) -> str:
    """The table of headline figures, from the JSON files already in ``stage``."""
    rows = [_topk(stage), *_spatten(stage), _refetch(stage), *_baselines(stage), *_sat(stage),
            _bdwp(stage)]
    body = "\n".join(f"| {r.figure} | {r.paper} | {r.sparsa} | {r.reason} |" for r in rows)
    return f"""## Headline figures: the papers beside sparsa

The papers' figures are quoted from SpAtten (Wang et al., HPCA 2021) and SAT (Fang et al., IEEE
TCAD 2023); sparsa's come from this run's
files in this folder.

| figure | paper | sparsa (this run) | why they differ |
|---|---|---|---|
{body}
"""
