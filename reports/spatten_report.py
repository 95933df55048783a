"""Report section: SpAtten on the project's own traces and the SpAtten accuracy experiment.

The trace comes from running SpAtten's algorithm (:mod:`sparsa.models.experiments.spatten_run`) on
GPT-2 Small with random weights, with settings that mirror the public GPT-2 Small trace (token keep
ratio from 0.9 down to 0.1, V keep 0.2, 6 + 4-bit K and V, refetch threshold 0.05); it is written
into the report folder in the public format and simulated like the public traces. The accuracy
experiment (:mod:`sparsa.models.experiments.spatten_accuracy`) trains a small Transformer on a
generated task and sweeps the pruning and quantization settings on held-out inputs.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

from matplotlib.figure import Figure

from sparsa.config.presets import SPATTEN_TARGET
from sparsa.dataflow.spatten_workloads import public_traces
from sparsa.models.algorithms.spatten_pruning import SpattenPolicy
from sparsa.models.algorithms.spatten_trace import read_trace, write_trace
from sparsa.models.experiments.spatten_accuracy import run_accuracy_experiment
from sparsa.models.experiments.spatten_run import run_spatten
from sparsa.reports.png import write_png
from sparsa.sim.network.spatten import PAPER_REFETCH_FRACTION, format_table, simulate
from sparsa.sim.network.target import load_target
from sparsa.sim.studies.spatten_study import (
    format_breakdown,
    format_sweep,
    speedup_breakdown,
    topk_sweep,
)

__all__ = ["ACCURACY_FIGURE", "OWN_TRACE_SETTINGS", "accuracy_figure", "spatten_own_section"]

OWN_TRACE_SETTINGS = {"token_keep": (0.9, 0.1), "v_keep": 0.2, "msb_bits": 6,
                      "threshold": 0.05, "quantize_v": True}
"""Policy of the project's own GPT-2 Small trace: the public trace's settings (its keep counts
fall from 0.9 to 0.1 of the context, V about 0.2 of K, 6-bit K and V with 4-bit LSBs, threshold
0.05; the README beside the packaged traces, sparsa/dataflow/spatten_traces)."""
QUICK_RUN = {"prompt_len": 128, "steps": 4}
"""Quick mode's shorter GPT-2 run (the full one is SpAtten's 992-token prompt, 32 tokens)."""
TARGET = SPATTEN_TARGET


ACCURACY_FIGURE = "spatten_accuracy.png"
"""The SpAtten accuracy figure's file in the report folder."""


def accuracy_figure(data: Mapping) -> Figure:
    """The accuracy experiment's sweeps (``data``: :meth:`AccuracyResult.to_dict`): held-out
    accuracy against the fraction of keys fetched (V rows for the local-V sweep) for the token,
    head, local-V and combined sweeps, and against the MSB width for the quantization sweep;
    the unpruned accuracy as a dashed line."""
    fig = Figure(figsize=(10.0, 3.4))
    fetched, widths = fig.subplots(1, 2)
    points = data["points"]
    for sweep in dict.fromkeys(p["sweep"] for p in points):
        mine = [p for p in points if p["sweep"] == sweep]
        if sweep == "quantization":
            mine.sort(key=lambda p: p["msb_bits"])
            widths.plot([p["msb_bits"] for p in mine], [100 * p["accuracy"] for p in mine],
                        marker="o", label="quantization")
            continue
        key = "value_fraction" if sweep == "value" else "key_fraction"
        mine.sort(key=lambda p: p[key])
        fetched.plot([p[key] for p in mine], [100 * p["accuracy"] for p in mine], marker="o",
                     label=f"{sweep} (V rows)" if sweep == "value" else sweep)
    for ax in (fetched, widths):
        ax.axhline(100 * data["baseline_accuracy"], color="grey", linestyle="--",
                   label="unpruned")
        ax.set_ylabel("held-out accuracy (%)")
        ax.legend(fontsize=7)
    fetched.set_xlabel("fraction of keys fetched (of dense attention)")
    fetched.set_title("pruning: accuracy against what is fetched")
    widths.set_xlabel("MSB bits of K and V")
    widths.set_title("progressive quantization")
    fig.tight_layout()
    return fig


def spatten_own_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Generate, write and simulate the project's own trace, run the accuracy experiment,
    write ``spatten_own.json`` and ``traces/gpt2-small-sparsa.csv``, return the section."""
    target = load_target(TARGET)
    length = QUICK_RUN if quick else {}
    say("running SpAtten's algorithm on GPT-2 Small (random weights) for the project's trace")
    run = run_spatten("gpt2-small", seed=0, policy=SpattenPolicy(**OWN_TRACE_SETTINGS), **length)
    trace = run.trace
    (stage / "traces").mkdir()
    path = write_trace(trace, stage / "traces" / "gpt2-small-sparsa.csv")
    result = simulate(trace, target)
    breakdown = speedup_breakdown(trace, target)
    sweep = topk_sweep(trace, target)
    last = int(trace.iteration.max())
    first_keys, last_keys = run.kept_keys(0), run.kept_keys(last)
    say(f"running the SpAtten accuracy experiment ({'quick' if quick else 'full'})")
    accuracy = run_accuracy_experiment(quick=quick)
    public_rows = float(read_trace(public_traces("gpt2-small")[0]).requant.mean())
    write_png(accuracy_figure(accuracy.to_dict()), stage / ACCURACY_FIGURE)
    (stage / "spatten_own.json").write_text(json.dumps({
        "run": {"model": "gpt2-small", "settings": OWN_TRACE_SETTINGS, **length,
                "seconds": run.seconds, "threads": run.threads,
                "refetch_fraction": run.refetch_fraction,
                "kept_keys_first": first_keys.tolist(), "kept_keys_last": last_keys.tolist()},
        "simulation": result.to_dict(),
        "speedup_breakdown": [asdict(s) for s in breakdown],
        "topk_sweep": [asdict(p) for p in sweep],
        "public_trace_requant_rows": public_rows,
        "accuracy": accuracy.to_dict(),
    }, indent=2) + "\n")
    requant_rows = float(trace.requant.mean())
    keys = " | ".join(str(k) for k in first_keys)
    keys_last = " | ".join(str(k) for k in last_keys)
    layers = " | ".join(str(i) for i in range(trace.layers))
    refetch = ("off" if run.refetch_fraction is None
               else f"{run.refetch_fraction:.1%} of the per-query decisions")
    return f"""## SpAtten on the project's own trace and accuracy

### The project's GPT-2 Small trace

`sparsa trace spatten --model gpt2-small{"" if not quick else
    f" --prompt-len {QUICK_RUN['prompt_len']} --steps {QUICK_RUN['steps']}"} --token-keep 0.9,0.1
--v-keep 0.2 --msb-bits 6 --threshold 0.05 --quantize-v`, random weights (seed 0): the public
trace's settings on this project's model code. Written to `traces/{path.name}`
({len(trace):,} rows, {len(trace.iterations)} iterations; model run {run.seconds:.1f} s on
{run.threads} thread). LSB refetch: {refetch}; {requant_rows:.1%} of the trace's (iteration,
layer, head) rows refetch. With random weights the attention is nearly flat, so the maximum
probability is small and most queries refetch, unlike trained GPT-2 (the public trace:
{public_rows:.1%} of its rows; the paper: {PAPER_REFETCH_FRACTION:.1%} of inputs, quoted).

Keys fetched per layer:

| iteration | {layers} |
|---|{"---:|" * trace.layers}
| 0 | {keys} |
| {last} | {keys_last} |

{format_table(result)}
Speedup breakdown on this trace (as above for the public one, from the dedicated datapath):

{format_breakdown(breakdown)}
Local-V top-k parallelism on this trace:

{format_sweep(sweep)}
### Accuracy against pruning and quantization (small Transformer, generated task)

`sparsa.models.experiments.spatten_accuracy.run_accuracy_experiment(quick={quick})`,
{accuracy.seconds:.0f} s on {accuracy.threads} thread. No fine-tuning after pruning (the paper
fine-tunes about 2 GPU-hours per task). The combined setting's evaluation trace is simulated on
`{TARGET}` ({accuracy.simulation.reduction:.2f}x less DRAM traffic than dense FP32).

{accuracy.to_markdown()}

![SpAtten accuracy against pruning and quantization]({ACCURACY_FIGURE})

*Accuracy:* the table's sweeps drawn: held-out accuracy against the fraction of keys fetched
(of V rows, for local-V pruning) and against the MSB width; the dashed line is the unpruned
classifier.
"""
