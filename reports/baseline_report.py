"""Report section: measured software baselines against the simulated accelerators.

The same workloads run twice in one report run: in PyTorch on this machine (timed by
:mod:`sparsa.models.experiments.baselines`) and on the simulated accelerators
(:mod:`sparsa.sim.network.spatten` for attention, :mod:`sparsa.sim.studies.sat_study` for CNN
training). Speedup is software time over simulated time; energy efficiency is software energy over
simulated energy. The software energy is an estimate, a stated power times the measured time,
because this machine exposes no energy counters (when it does, RAPL's reading is reported beside
it).
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.figure import Figure

from sparsa.config.presets import SAT_BATCH, SAT_STUDY_MODELS, SAT_TARGET, SPATTEN_TARGET
from sparsa.config.sat import NMPattern
from sparsa.dataflow.spatten_workloads import (
    SUMMARIZATION,
    default_policy,
    mode_of,
    public_traces,
    read_model_trace,
)
from sparsa.models.experiments.baselines import (
    BERT_SEQ_LEN,
    GPT2_GENERATED,
    GPT2_PROMPT,
    attention_workload,
    cnn_training_step,
    energy_estimate,
    environment,
    rapl_energy,
    time_callable,
)
from sparsa.models.experiments.spatten_run import run_spatten
from sparsa.reports.png import write_png
from sparsa.sim.network.spatten import simulate as simulate_spatten
from sparsa.sim.network.target import load_target
from sparsa.sim.studies.sat_study import simulate as simulate_sat
from sparsa.sim.studies.spatten_study import (
    format_breakdown,
    format_sweep,
    speedup_breakdown,
    topk_sweep,
)

__all__ = ["BASELINE_FIGURE", "CPU_WATTS_PER_THREAD", "Comparison", "baseline_figure",
           "baseline_section"]

CPU_WATTS_PER_THREAD = 10.0
"""Assumed average power of one busy CPU thread, in watts, for the software energy estimate.

Not measured and not sourced: this machine hides its CPU model (a virtualised AMD EPYC) and
exposes no RAPL counters. 10 W is a round figure within the per-core share of server TDPs
(about 3 to 10 W per core); every software energy and energy-efficiency figure scales linearly
with it and is labelled as an estimate."""

CNN_BATCH = SAT_BATCH


@dataclass(frozen=True)
class Comparison:
    """One workload: measured software time and estimated energy against the accelerator's."""

    workload: str
    accelerator: str
    software_s: float
    software_std_s: float
    software_runs: int
    software_j: float
    accelerator_s: float
    accelerator_j: float

    @property
    def speedup(self) -> float:
        return self.software_s / self.accelerator_s

    @property
    def energy_ratio(self) -> float:
        return self.software_j / self.accelerator_j


def _timed(name: str, run: Callable[[], object], *, warmup: int, repeats: int,
           say: Callable[[str], None]) -> tuple[float, float, int, float | None]:
    say(f"timing the software baseline {name} ({warmup} warm-up, {repeats} runs)")
    with rapl_energy() as meter:
        timing = time_callable(run, warmup=warmup, repeats=repeats)
    rapl = None if meter.joules is None else meter.joules / (warmup + repeats)
    return timing.mean, timing.std, timing.kept, rapl


def _software_joules(seconds: float, threads: int) -> float:
    return energy_estimate(seconds, power_w=CPU_WATTS_PER_THREAD * threads,
                           source="assumed CPU_WATTS_PER_THREAD x threads").joules


def _software_time(r: Comparison) -> str:
    """The software time in ms: mean +- standard deviation over the runs kept, or the one run
    (a spread of one run would read as a spread of zero)."""
    if r.software_runs < 2:
        return f"{r.software_s * 1e3:.4g} (one run)"
    return f"{r.software_s * 1e3:.4g} +- {r.software_std_s * 1e3:.2g} ({r.software_runs} runs)"


def _table(rows: list[Comparison]) -> str:
    lines = ["| workload | accelerator | software (ms) | accelerator (ms) | speedup | "
             "software energy (J, est.) | accelerator energy (J) | energy efficiency |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.workload} | {r.accelerator} | {_software_time(r)} | "
              f"{r.accelerator_s * 1e3:.4g} | {r.speedup:.1f}x | "
              f"{r.software_j:.4g} | {r.accelerator_j:.4g} | {r.energy_ratio:.0f}x |"
              for r in rows]
    return "\n".join(lines) + "\n"


BASELINE_FIGURE = "baselines.png"
"""The baselines figure's file in the report folder."""


def baseline_figure(rows: Sequence[Comparison]) -> Figure:
    """Each workload's software time (measured) beside each accelerator's (simulated), on a
    log scale, the speedup written over the accelerator's bar."""
    workloads = list(dict.fromkeys(r.workload for r in rows))
    fig = Figure(figsize=(max(6.0, 1.9 * len(rows)), 3.8))
    ax = fig.subplots()
    x, ticks, labels = 0.0, [], []
    for workload in workloads:
        mine = [r for r in rows if r.workload == workload]
        ax.bar(x, mine[0].software_s * 1e3, 0.8, color="tab:grey",
               label="software (PyTorch, this CPU, measured)" if x == 0 else None)
        ticks.append(x)
        labels.append(f"{workload}\nsoftware")
        for r in mine:
            x += 1
            bar = ax.bar(x, r.accelerator_s * 1e3, 0.8, color="tab:blue",
                         label="accelerator (simulated)" if len(ticks) == 1 else None)[0]
            ax.annotate(f"{r.speedup:.3g}x", (x, bar.get_height()), xytext=(0, 2),
                        textcoords="offset points", ha="center", fontsize=7)
            ticks.append(x)
            labels.append(r.accelerator.split(" (")[0])
        x += 1.6
    ax.set_yscale("log")
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("time (ms, log scale)")
    ax.set_title("Software baselines against the accelerators")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def baseline_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Time the software baselines, simulate the same workloads, write ``baselines.json``,
    and return the section."""
    env = environment()
    threads = int(env["threads"])
    repeats, cnn_repeats = (3, 1) if quick else (10, 3)
    cnn_models = SAT_STUDY_MODELS[:1] if quick else SAT_STUDY_MODELS
    spatten_target, sat_target = load_target(SPATTEN_TARGET), load_target(SAT_TARGET)
    rows: list[Comparison] = []
    rapl: dict[str, float | None] = {}

    for model in ("gpt2-small", "gpt2-medium", "bert-base", "bert-large"):
        if quick and model != "gpt2-small":
            continue
        mean, std, kept, rapl[model] = _timed(model, attention_workload(model), warmup=1,
                                              repeats=repeats, say=say)
        if mode_of(model) == SUMMARIZATION:
            policy = default_policy(model)
            workloads = [(f"{model} attention (L = {BERT_SEQ_LEN})",
                          f"default run: {policy.describe()}",
                          run_spatten(model, policy=policy).trace)]
        else:
            workloads = [(f"{model} generation attention", f"`{path.name}`",
                          read_model_trace(path, model))
                         for path in public_traces(model) if path is not None]
        for workload, source, trace in workloads:
            result = simulate_spatten(trace, spatten_target, mode=mode_of(model))
            label = "SpAtten datapath, dense trace" if result.dense_baseline else "SpAtten"
            rows.append(Comparison(
                workload, f"{label} ({source})", mean, std, kept,
                _software_joules(mean, threads), result.seconds, result.energy_j["total"]))
    small_trace = read_model_trace(public_traces("gpt2-small")[0], "gpt2-small")
    small_cpu = next(r for r in rows if r.workload.startswith("gpt2-small"))
    say("simulating the SpAtten speedup breakdown and the top-k sweep")
    breakdown = speedup_breakdown(small_trace, spatten_target,
                                  baseline=("PyTorch on this CPU (measured)", small_cpu.software_s))
    sweep = topk_sweep(small_trace, spatten_target)

    for model in cnn_models:
        mean, std, kept, rapl[model] = _timed(f"{model} training step, batch {CNN_BATCH}",
                                              cnn_training_step(model, CNN_BATCH), warmup=1,
                                              repeats=cnn_repeats, say=say)
        for label, pattern in (("SAT dense", None), ("SAT 2:8", NMPattern(2, 8))):
            result, _ = simulate_sat(model, pattern, sat_target, batch=CNN_BATCH)
            rows.append(Comparison(
                f"{model} training iteration (batch {CNN_BATCH})", label, mean, std, kept,
                _software_joules(mean, threads), result.seconds, result.energy_j["total"]))

    write_png(baseline_figure(rows), stage / BASELINE_FIGURE)
    (stage / "baselines.json").write_text(json.dumps({
        "environment": env,
        "cpu_watts_per_thread_assumed": CPU_WATTS_PER_THREAD,
        "rapl_joules_per_run": rapl,
        "comparisons": [{**asdict(r), "speedup": r.speedup, "energy_ratio": r.energy_ratio}
                        for r in rows],
        "speedup_breakdown": [asdict(s) for s in breakdown],
        "topk_sweep": [asdict(p) for p in sweep],
    }, indent=2) + "\n")

    bert_part = "" if quick else f"""
BERT: the software runs dense attention on {BERT_SEQ_LEN} tokens; the accelerator runs the
default BERT run (SpAtten's algorithm on the project's model with `SPATTEN_BERT_POLICY`, random
weights) in summarization, each head's K and V loaded once for all its queries. SpAtten uses each
GLUE/SQuAD task's average dev-set sentence length; those datasets are not reachable from this
machine and the reference gives no per-task averages, so L = {BERT_SEQ_LEN} (GLUE's usual
maximum) stands in and no per-task figure is claimed.
"""
    rapl_note = ("no RAPL energy counters are readable here, so every software energy is an "
                 "estimate" if all(v is None for v in rapl.values()) else
                 "RAPL counters were read; see `baselines.json` for the measured joules")
    env_line = ", ".join(f"{k} {v}" for k, v in env.items() if not isinstance(v, dict))
    return f"""## Software baselines against the accelerators

Measured in PyTorch on this machine ({env_line}) with SpAtten's method: warm-up, repeated
runs, trimmed mean dropping the top and bottom 15% (`sparsa baseline --workload W`); then the
same workload simulated on the accelerator. GPT-2 generation: a {GPT2_PROMPT}-token prompt in
the KV cache and {GPT2_GENERATED} generated tokens, attention only (SpAtten's setup), against the
public traces of the same workload on `{SPATTEN_TARGET}`. CNN training: one SGD iteration at
batch {CNN_BATCH} (forward, backward, update; dense, since PyTorch has no N:M sparse kernels on
CPU) against SAT's simulated iteration on `{SAT_TARGET}`.{" Quick mode: fewer runs and models."
    if quick else ""}

Software energy = measured time x {CPU_WATTS_PER_THREAD:g} W per thread x {threads} threads, an
**assumed** power figure (`sparsa.reports.baseline_report.CPU_WATTS_PER_THREAD`; {rapl_note}); the
energy-efficiency column scales with it. Accelerator energy is the simulator's per-action
model of the target (dynamic only where the target file has no sourced static power).

{_table(rows)}
![software baselines against the accelerators]({BASELINE_FIGURE})

*Baselines:* each workload's measured software time (grey) beside each accelerator's simulated
time (blue), the speedup over the bar, from the table above.
{bert_part}
### SpAtten speedup breakdown (style of the paper's Fig. 20)

GPT-2 Small, the public pruned trace, each technique added in turn on `{SPATTEN_TARGET}`, starting
from the software time measured above (the paper starts from a TITAN Xp GPU; no GPU here):

{format_breakdown(breakdown)}
### Local-V top-k parallelism (style of the paper's Fig. 19a)

The same trace with local-V top-k engines of 1 to 32 comparators per array (lanes stay 8):

{format_sweep(sweep)}"""
