"""The ``sparsa`` command line: thin argparse subcommands over hw, sim and reports.

Subcommands::

    sparsa verilog topk [--lanes P] [--comparators C] [--capacity N] [--width W]
                        [--signed | --no-signed] [--pivot {middle,lfsr}] [--seed S] --out DIR
    sparsa verilog sat-array [--rows R] [--cols C] [--patterns 2:4,2:8] [--dtype int8|int16]
                             [--max-reduction K] [--no-interleave] --out DIR
    sparsa verilog sore [--lanes L] [--m M] [--dtype int8|int16] --out DIR
    sparsa verilog spatten-core [--dim D] [--multipliers M] [--msb-bits B] [--max-tokens N]
                                [--comparators C] [--heads H] --out DIR
    sparsa bench topk [--json] [--trials T] [--seed S]
    sparsa bench sat [--json] [--seed S]
    sparsa bench sat-training [--json] [--target T] [--batch B]
    sparsa simulate sat --model M [--pattern dense|N:M] [--target T] [--batch B]
                        [--no-interleave] [--no-pregen] [--no-offline-schedule] [--json FILE]
    sparsa simulate spatten --model gpt2-small|gpt2-medium [--target T] [--core rtl|paper]
                            [--trace FILE | --run [POLICY]] [--json FILE]
    sparsa trace spatten --model M [POLICY] [--prompt-len L] [--steps S] [--seed S] --out FILE
        POLICY: [--token-keep R|R0,R1] [--head-keep R|R0,R1] [--v-keep R] [--msb-bits B]
                [--threshold T] [--quantize-v]
    sparsa targets
    sparsa baseline --workload W [--batch B] [--seq-len L] [--warmup N] [--repeats N]
                    [--threads T] [--device DEV] [--json]
    sparsa report [--out DIR] [--quick]

A bad parameter exits with status 2 and a one-line ``sparsa: error: ...`` message on stderr.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import NoReturn

from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.sim.studies.topk_bench import DEFAULT_SEED, DEFAULT_TRIALS

__all__ = ["main"]

USAGE_ERROR = 2
_TOPK_DEFAULTS = {field.name: field.default for field in fields(TopKConfig)}


def _fail(message: str) -> int:
    print(f"sparsa: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _progress(message: str) -> None:
    print(f"sparsa: {message}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.exit(_fail(f"{message} (see '{self.prog} --help')"))


def integer(text: str) -> int:
    """An integer in Python syntax: decimal, or with a 0x, 0o or 0b prefix."""
    return int(text, 0)


def _verilog_topk(args: argparse.Namespace) -> int:
    try:
        config = TopKConfig(
            lanes=args.lanes,
            comparators=args.comparators,
            capacity=args.capacity,
            width=args.width,
            signed=args.signed,
            pivot=PivotMode(args.pivot),
            seed=args.seed,
        )
    except ValueError as error:
        return _fail(str(error))
    # Imported here, as in the other handlers, so that `--help` and usage errors stay quick.
    from sparsa.hw.topk.topk import TopKEngine

    _progress(f"generating Verilog of the top-k engine for {config} ...")
    return _export(TopKEngine(config), "topk", config, args.out)


def _verilog_sat_array(args: argparse.Namespace) -> int:
    from sparsa.config.sat import IntFormat, NMPattern, SatArrayConfig

    try:
        patterns = tuple(NMPattern.parse(p) for p in args.patterns.split(","))
        config = SatArrayConfig(rows=args.rows, cols=args.cols, patterns=patterns,
                                dtype=IntFormat(args.dtype), max_reduction=args.max_reduction,
                                interleave=not args.no_interleave)
    except ValueError as error:
        return _fail(str(error))
    from sparsa.hw.sat.sat_array import SatArray

    _progress(f"generating Verilog of the SAT PE array for {config} ...")
    return _export(SatArray(config), "sat_array", config, args.out)


def _verilog_sore(args: argparse.Namespace) -> int:
    from sparsa.config.sat import IntFormat, SoreConfig

    try:
        config = SoreConfig(lanes=args.lanes, m=args.m, dtype=IntFormat(args.dtype))
        from sparsa.hw.sat.sore import Sore

        component = Sore(config)
    except ValueError as error:
        return _fail(str(error))
    _progress(f"generating Verilog of the SORE for {config} ...")
    return _export(component, "sore", config, args.out)


def _export(component: object, name: str, config: object, out: Path) -> int:
    """Write the Verilog, its sidecar and waivers, lint it; exit status 1 on lint warnings."""
    from sparsa.hw.export import export_verilog, lint_verilog

    verilog_path, json_path = export_verilog(component, name=name, out_dir=out, config=config)
    _progress(f"linting {verilog_path} with Verilator ...")
    warnings = lint_verilog(verilog_path)
    print(verilog_path)
    print(json_path)
    for warning in warnings:
        print(warning, file=sys.stderr)
    if warnings:
        _progress(f"{len(warnings)} lint warning(s) in {verilog_path}")
        return 1
    return 0


def _verilog_spatten_core(args: argparse.Namespace) -> int:
    from sparsa.config.attention import AttentionConfig
    from sparsa.config.attention_core import AttentionCoreConfig

    try:
        config = AttentionCoreConfig(
            attention=AttentionConfig(dim=args.dim, msb_bits=args.msb_bits,
                                      max_tokens=args.max_tokens),
            multipliers=args.multipliers, comparators=args.comparators, heads=args.heads)
        from sparsa.hw.attention.attention_core import AttentionCore

        component = AttentionCore(config)
    except ValueError as error:
        return _fail(str(error))
    _progress(f"generating Verilog of the SpAtten attention core for {config} ...")
    return _export(component, "spatten_core", config, args.out)


def _bench_sat(args: argparse.Namespace) -> int:
    from sparsa.sim.rtl.sat_array.bench import format_table, layer_bench

    rows = layer_bench(seed=args.seed, progress=_progress)
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else format_table(rows))
    return 0


def _bench_topk(args: argparse.Namespace) -> int:
    from sparsa.sim.studies.topk_bench import format_table, sweep

    try:
        points = sweep(trials=args.trials, seed=args.seed, progress=_progress)
    except ValueError as error:
        return _fail(str(error))
    print(json.dumps([asdict(p) for p in points], indent=2) if args.json else format_table(points))
    return 0


def _targets(args: argparse.Namespace) -> int:
    from sparsa.sim.network.target import list_targets, load_target

    for name in list_targets():
        target = load_target(name)
        dram = target.dram
        print(f"{name:14} {target.clock_hz / 1e6:7.0f} MHz  {dram.kind} "
              f"{dram.channels} x {dram.channel_bytes_per_s / 1e9:.3g} GB/s "
              f"= {dram.peak_bytes_per_s / 1e9:.4g} GB/s  {target.description}")
    return 0


def _write_json(path: Path, payload: object) -> None:
    """Write ``payload`` as JSON to ``path``, never leaving a half-written file."""
    from sparsa.files import write_atomically

    write_atomically({path: json.dumps(payload, indent=2) + "\n"})


def _simulate_sat(args: argparse.Namespace) -> int:
    from sparsa.config.sat import NMPattern
    from sparsa.sim.network.sat_network import Techniques
    from sparsa.sim.network.target import load_target
    from sparsa.sim.studies.sat_study import simulate

    try:
        pattern = None if args.pattern == "dense" else NMPattern.parse(args.pattern)
        target = load_target(args.target)
        techniques = Techniques(interleave=not args.no_interleave, pregen=not args.no_pregen,
                                offline_schedule=not args.no_offline_schedule)
        _progress(f"simulating a {args.model} training iteration ...")
        result, wall = simulate(args.model, pattern, target, batch=args.batch,
                                techniques=techniques)
    except ValueError as error:
        return _fail(str(error))
    print(f"{args.model} batch {args.batch}, {result.pattern}, on {target.name} at "
          f"{target.clock_hz / 1e6:.0f} MHz")
    print(f"  cycles {result.cycles:,}  time {result.seconds * 1e3:.2f} ms  dense-equivalent "
          f"MACs per cycle {100 * result.utilisation:.1f}% of the array's peak")
    print("  cycles by phase: " + ", ".join(f"{k} {v:,}" for k, v in result.phase_cycles.items()))
    print("  stall cycles: " + ", ".join(f"{k} {v:,}" for k, v in result.stall_cycles.items()))
    by_class = result.traffic.by_class()
    print("  DRAM bytes: " + ", ".join(f"{k} r {v['read']:,} w {v['write']:,}"
                                       for k, v in by_class.items() if v["read"] or v["write"]))
    print("  energy (J): " + ", ".join(f"{k} {v:.4g}" for k, v in result.energy_j.items() if v))
    print(f"  simulator wall time {wall:.3f} s ({result.cycles / wall:,.0f} simulated cycles/s; "
          "extracting the layers from the PyTorch model comes before and is not included)")
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _run_spatten(args: argparse.Namespace):  # -> sparsa.models.experiments.spatten_run.SpattenRun
    from sparsa.models.experiments.spatten_run import run_spatten

    steps = "" if args.steps is None else f", {args.steps} steps"
    _progress(f"running SpAtten's algorithm on {args.model} (random weights, seed {args.seed}"
              f"{steps}) ...")
    run = run_spatten(args.model, prompt_len=args.prompt_len, steps=args.steps,
                      token_keep=args.token_keep, head_keep=args.head_keep, v_keep=args.v_keep,
                      msb_bits=args.msb_bits, threshold=args.threshold,
                      quantize_v=args.quantize_v, seed=args.seed, threads=args.threads)
    refetch = ("off" if run.refetch_fraction is None
               else f"{run.refetch_fraction:.1%} of the queries")
    _progress(f"model run {run.seconds:.1f} s on {run.threads} thread(s): {len(run.trace):,} "
              f"rows, LSB refetch {refetch}")
    return run


def _trace_spatten(args: argparse.Namespace) -> int:
    from sparsa.models.algorithms.spatten_trace import write_trace

    try:
        run = _run_spatten(args)
        path = write_trace(run.trace, args.out)
    except (ValueError, OSError) as error:
        return _fail(str(error))
    last = int(run.trace.iteration.max())
    kept = ", ".join(str(k) for k in run.kept_keys(last))
    print(f"{path}: {len(run.trace):,} rows ({len(run.trace.iterations)} iterations, "
          f"{run.trace.layers} layers x {run.trace.heads} heads)")
    print(f"  keys fetched per layer at iteration {last}: {kept}")
    print("  LSB refetch: " + ("off" if run.refetch_fraction is None
                                else f"{run.refetch_fraction:.1%} of the queries"))
    return 0


def _simulate_spatten(args: argparse.Namespace) -> int:
    import time

    from sparsa.dataflow.spatten_workloads import public_traces
    from sparsa.models.algorithms.spatten_trace import read_trace
    from sparsa.sim.network.spatten import (
        RtlCoreCycles,
        format_table,
        paper_datapath_cycles,
        simulate,
    )
    from sparsa.sim.network.target import load_target

    policy = [f"--{name.replace('_', '-')}" for name, default in _POLICY_DEFAULTS.items()
              if getattr(args, name) != default]
    if policy and not args.run:
        return _fail(f"{', '.join(policy)}: model-run options, they apply only with --run, "
                     "not to a trace file")
    try:
        target = load_target(args.target)
        if args.run:
            trace, dense = _run_spatten(args).trace, None
        else:
            trace_path, dense_path = ((args.trace, None) if args.trace is not None
                                      else public_traces(args.model))
            _progress(f"reading {trace_path} ...")
            trace = read_trace(trace_path, model=args.model)
            dense = None if dense_path is None else read_trace(dense_path, model=args.model)
        start = time.perf_counter()
        core = RtlCoreCycles() if args.core == "rtl" else paper_datapath_cycles
        result = simulate(trace, target, dense=dense, core_cycles=core)
        wall = time.perf_counter() - start
    except (ValueError, OSError) as error:
        return _fail(str(error))
    print(format_table(result))
    print(f"simulator wall time {wall:.3f} s for {result.rows:,} rows "
          f"({result.cycles / wall:,.0f} simulated cycles/s)")
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _bench_sat_training(args: argparse.Namespace) -> int:
    from sparsa.config.sat import NMPattern
    from sparsa.sim.network.target import load_target
    from sparsa.sim.studies.sat_study import (
        ablation,
        format_ablation,
        format_speedups,
        pattern_speedups,
    )

    target = load_target(args.target)
    patterns = [NMPattern.parse(p) for p in ("2:4", "2:8", "1:8")]
    rows = pattern_speedups(("resnet18", "resnet50", "vgg16"), patterns, target,
                            batch=args.batch, progress=_progress)
    abl = ablation("resnet50", NMPattern(2, 8), target, batch=args.batch)
    if args.json:
        print(json.dumps({"speedups": [asdict(r) for r in rows],
                          "ablation": [asdict(r) for r in abl]}, indent=2))
    else:
        print(format_speedups(rows))
        print()
        print(format_ablation(abl))
    return 0


def _baseline(args: argparse.Namespace) -> int:
    import torch

    from sparsa.models.experiments.baselines import (
        ATTENTION_MODELS,
        BERT_SEQ_LEN,
        attention_flops,
        attention_workload,
        cnn_training_step,
        environment,
        rapl_energy,
        time_callable,
    )

    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"threads must be at least 1, not {args.threads}")
            torch.set_num_threads(args.threads)
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {args.device!r} asked for, but torch sees no CUDA device "
                             "on this machine")
        if args.workload in ATTENTION_MODELS:
            if args.seq_len is not None and not args.workload.startswith("bert"):
                raise ValueError(f"--seq-len sets a BERT sentence length; {args.workload} runs a "
                                 "992-token prompt and 32 generated tokens")
            run = attention_workload(args.workload, seq_len=args.seq_len, device=args.device)
            flops = attention_flops(args.workload, seq_len=args.seq_len)
        else:
            run, flops = cnn_training_step(args.workload, args.batch, args.device), None
        _progress(f"timing {args.workload} on {args.device}: {args.warmup} warm-up and "
                  f"{args.repeats} runs ...")
        with rapl_energy() as meter:
            timing = time_callable(run, warmup=args.warmup, repeats=args.repeats,
                                   device=args.device)
    except ValueError as error:
        return _fail(str(error))
    env = environment(args.device)
    seq_len = (args.seq_len or BERT_SEQ_LEN) if args.workload.startswith("bert") else None
    result = {"workload": args.workload, "seq_len": seq_len, "environment": env,
              "mean_s": timing.mean, "std_s": timing.std, "min_s": timing.min,
              "max_s": timing.max, "kept": timing.kept, "trim": timing.trim,
              "gflops_per_s": None if flops is None else flops / timing.mean / 1e9,
              "rapl_joules_all_runs": meter.joules}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        length = "" if seq_len is None else f" (L = {seq_len})"
        print(f"{args.workload}{length}: {timing.mean * 1e3:.2f} ms +- {timing.std * 1e3:.2f} ms "
              f"(trimmed mean of {timing.kept} of {args.repeats} runs, "
              f"{env['threads']} threads, {env['device_name']})")
        if flops is not None:
            print(f"  {flops / timing.mean / 1e9:.2f} GFLOP/s (attention matrix products only)")
        print("  energy: " + ("not measurable here (no RAPL counters)" if meter.joules is None
                              else f"{meter.joules:.3f} J measured by RAPL over all runs"))
    return 0


def _report(args: argparse.Namespace) -> int:
    from sparsa.reports.main_report import build_report

    print(build_report(args.out, quick=args.quick, progress=_progress))
    return 0


def _add_verilog(commands: argparse._SubParsersAction) -> None:
    verilog = commands.add_parser("verilog", help="generate Verilog of a hardware block")
    blocks = verilog.add_subparsers(dest="block", required=True, metavar="BLOCK")
    topk = blocks.add_parser(
        "topk",
        help="the quick-select top-k engine",
        description="Write topk.v, topk.json (config, ports, tool versions) and topk.vlt "
        "(Verilator waivers) into DIR, then lint topk.v with Verilator (exit status 1 if it "
        "warns).",
    )
    d = _TOPK_DEFAULTS
    default = " (default: %(default)s)"
    topk.add_argument("--lanes", type=integer, default=d["lanes"], metavar="P",
                      help="values per cycle on din and dout, a power of two" + default)
    topk.add_argument("--comparators", type=integer, default=d["comparators"], metavar="C",
                      help="comparators per comparator array, a power of two" + default)
    topk.add_argument("--capacity", type=integer, default=d["capacity"], metavar="N",
                      help="largest n of a request" + default)
    topk.add_argument("--width", type=integer, default=d["width"], metavar="W",
                      help="bits per value" + default)
    topk.add_argument("--signed", action=argparse.BooleanOptionalAction, default=d["signed"],
                      help="two's-complement signed values" + default)
    topk.add_argument("--pivot", choices=[mode.value for mode in PivotMode],
                      default=d["pivot"].value,
                      help="pivot choice of the quick-select rounds" + default)
    topk.add_argument("--seed", type=integer, default=d["seed"], metavar="S",
                      help="reset state of the pivot LFSR (default: %(default)#x)")
    topk.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="output folder (created if missing)")
    topk.set_defaults(handler=_verilog_topk)

    sat = blocks.add_parser(
        "sat-array",
        help="the SAT PE array (dense and N:M GEMMs, OS and WS dataflows)",
        description="Write sat_array.v, sat_array.json and sat_array.vlt into DIR, then lint "
        "sat_array.v with Verilator (exit status 1 if it warns).",
    )
    sat.add_argument("--rows", type=integer, default=8, metavar="R",
                     help="PE rows" + default)
    sat.add_argument("--cols", type=integer, default=8, metavar="C",
                     help="PE columns" + default)
    sat.add_argument("--patterns", default="2:4,2:8", metavar="N:M[,N:M...]",
                     help="N:M patterns besides dense" + default)
    sat.add_argument("--dtype", choices=["int8", "int16"], default="int8",
                     help="operand format" + default)
    sat.add_argument("--max-reduction", type=integer, default=4096, metavar="K",
                     help="longest dense reduction of a tile; sizes the accumulators" + default)
    sat.add_argument("--no-interleave", action="store_true",
                     help="take a command only after the previous answer has left (no shadow "
                     "accumulators and weights in use; for the interleave ablation)")
    sat.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="output folder (created if missing)")
    sat.set_defaults(handler=_verilog_sat_array)

    sore = blocks.add_parser(
        "sore",
        help="SAT's sparse online reduction engine (the hardware N:M weight generator)",
        description="Write sore.v, sore.json and sore.vlt into DIR, then lint sore.v with "
        "Verilator (exit status 1 if it warns). N is chosen per command, 1 to M - 1.",
    )
    sore.add_argument("--lanes", type=integer, default=32, metavar="L",
                      help="groups reduced in parallel, a multiple of M" + default)
    sore.add_argument("--m", type=integer, default=8, metavar="M",
                      help="group size: 2, 4, 8 or 16" + default)
    sore.add_argument("--dtype", choices=["int8", "int16"], default="int8",
                      help="weight format" + default)
    sore.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="output folder (created if missing)")
    sore.set_defaults(handler=_verilog_sore)

    core = blocks.add_parser(
        "spatten-core",
        help="SpAtten's attention core (Q x K, softmax, requant decision, local V top-k, "
        "prob x V, importance)",
        description="Write spatten_core.v, spatten_core.json and spatten_core.vlt into DIR, then "
        "lint spatten_core.v with Verilator (exit status 1 if it warns). The MSB setting of "
        "each query (4 up to --msb-bits) and its threshold, V keep count and score shift are "
        "run-time command fields.",
    )
    core.add_argument("--dim", type=integer, default=64, metavar="D",
                      help="head dimension: 32, 64 or 128" + default)
    core.add_argument("--multipliers", type=integer, default=512, metavar="M",
                      help="multipliers of each array (Q x K, prob x V), D times a power of two"
                      + default)
    core.add_argument("--msb-bits", type=integer, default=8, metavar="B",
                      help="widest MSB setting (4, 6, 8, 10 or 12; LSBs are 4 bits)" + default)
    core.add_argument("--max-tokens", type=integer, default=1024, metavar="N",
                      help="most keys of one query" + default)
    core.add_argument("--comparators", type=integer, default=16, metavar="C",
                      help="comparators per array of the local-V top-k engine" + default)
    core.add_argument("--heads", type=integer, default=16, metavar="H",
                      help="head-importance accumulators" + default)
    core.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="output folder (created if missing)")
    core.set_defaults(handler=_verilog_spatten_core)


def _add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmark a block on its cycle model")
    blocks = bench.add_subparsers(dest="block", required=True, metavar="BLOCK")
    topk = blocks.add_parser(
        "topk",
        help="the quick-select top-k engine",
        description="Run the top-k engine's parallelism sweep (request sizes, k and comparator "
        "counts) on its cycle model with seeded random requests and print a table.",
    )
    topk.add_argument("--json", action="store_true", help="print the results as JSON")
    topk.add_argument("--trials", type=integer, default=DEFAULT_TRIALS, metavar="T",
                      help="random trials (default: %(default)s)")
    topk.add_argument("--seed", type=integer, default=DEFAULT_SEED, metavar="S",
                      help="seed of the random requests (default: %(default)s)")
    topk.set_defaults(handler=_bench_topk)

    sat = blocks.add_parser(
        "sat",
        help="the SAT PE array: dense against every N:M pattern, RTL-measured",
        description="Run one layer's FF GEMM (32x256 weights, 16 inputs) on the SAT PE array's "
        "RTL in amaranth.sim, dense and every N:M pattern, OS and WS, and print measured cycles "
        "beside the cycle model's and the speedup over dense. Takes about a minute.",
    )
    sat.add_argument("--json", action="store_true", help="print the results as JSON")
    sat.add_argument("--seed", type=integer, default=1, metavar="S",
                     help="seed of the random operands (default: %(default)s)")
    sat.set_defaults(handler=_bench_sat)

    training = blocks.add_parser(
        "sat-training",
        help="SAT training iterations: N:M speedups over dense and the ablation",
        description="Simulate ResNet-18, ResNet-50 and VGG-16 training iterations dense and at "
        "2:4, 2:8 and 1:8 and print the speedups beside their bounds, then the ResNet-50 2:8 "
        "ablation of the dataflow techniques.",
    )
    training.add_argument("--json", action="store_true", help="print the results as JSON")
    training.add_argument("--target", default="vcu1525", metavar="NAME|FILE",
                          help="target (default: %(default)s)")
    training.add_argument("--batch", type=integer, default=32, metavar="B",
                          help="batch size (default: %(default)s)")
    training.set_defaults(handler=_bench_sat_training)


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser("simulate", help="simulate a whole network on a target")
    models = simulate.add_subparsers(dest="accelerator", required=True, metavar="ACCELERATOR")
    sat = models.add_parser(
        "sat",
        help="one SAT training iteration",
        description="Simulate one training iteration (FF, BP and WU GEMMs of every layer, the "
        "SORE, DRAM transfers, energy) of a CNN on the SAT array and a target.",
    )
    sat.add_argument("--model", required=True,
                     choices=["resnet18", "resnet50", "vgg16", "small-cnn"])
    sat.add_argument("--pattern", default="dense", metavar="{dense,N:M}",
                     help="BDWP pattern of the eligible layers (default: %(default)s)")
    sat.add_argument("--target", default="vcu1525", metavar="NAME|FILE",
                     help="a built-in target (see `sparsa targets`) or a target file "
                     "(default: %(default)s)")
    sat.add_argument("--batch", type=integer, default=32, metavar="B",
                     help="batch size (default: %(default)s)")
    sat.add_argument("--no-interleave", action="store_true",
                     help="run the array's tiles one after another instead of overlapping each "
                     "tile's fill and drain with its neighbours'")
    sat.add_argument("--no-pregen", action="store_true",
                     help="run the SORE on the critical path instead of pre-generating")
    sat.add_argument("--no-offline-schedule", action="store_true",
                     help="run every GEMM output-stationary, weights resident")
    sat.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    sat.set_defaults(handler=_simulate_sat)

    spatten = models.add_parser(
        "spatten",
        help="SpAtten attention over a workload trace",
        description="Simulate SpAtten's attention over a workload trace (the public trace of "
        "the model by default, read from ../shared/data/spatten-traces): DRAM traffic by class, "
        "its reduction by technique against a dense FP32 baseline (and the dense trace when "
        "there is one), time and throughput on the target.",
    )
    spatten.add_argument("--model", required=True, choices=["gpt2-small", "gpt2-medium"])
    spatten.add_argument("--target", default="spatten-asic", metavar="NAME|FILE",
                         help="a built-in target or a target file (default: %(default)s)")
    source = spatten.add_mutually_exclusive_group()
    source.add_argument("--trace", type=Path, metavar="FILE",
                        help="a trace in the public SpAtten format instead of the public one")
    source.add_argument("--run", action="store_true",
                        help="run SpAtten's algorithm on the PyTorch model (random weights) with "
                        "the policy options below and simulate its trace")
    spatten.add_argument("--core", choices=["rtl", "paper"], default="rtl",
                         help="attention-core cycles: the project's RTL-validated core, or the "
                         "paper's datapath bound (default: %(default)s)")
    _add_spatten_policy(spatten)
    spatten.add_argument("--json", type=Path, metavar="FILE",
                         help="also write the result as JSON")
    spatten.set_defaults(handler=_simulate_spatten)


def keep_ratio(text: str) -> float | tuple[float, float]:
    """A keep ratio R, or R0,R1: the first pruned layer's and the last layer's ratios."""
    parts = [float(x) for x in text.split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(text)


_POLICY_DEFAULTS = {"prompt_len": None, "steps": None, "token_keep": 1.0, "head_keep": 1.0,
                    "v_keep": 1.0, "msb_bits": None, "threshold": 0.0, "quantize_v": False,
                    "seed": 0, "threads": 1}


def _add_spatten_policy(parser: argparse.ArgumentParser) -> None:
    """Options of a SpAtten model run (sparsa.models.experiments.spatten_run.run_spatten)."""
    parser.add_argument("--prompt-len", type=integer, metavar="L",
                        help="prompt tokens (GPT-2, default 992) or input tokens (BERT, 128)")
    parser.add_argument("--steps", type=integer, metavar="S",
                        help="generated tokens (GPT-2, default 32)")
    parser.add_argument("--token-keep", type=keep_ratio, default=_POLICY_DEFAULTS["token_keep"],
                        metavar="R|R0,R1",
                        help="token keep ratio of the pruned layers (after the first 15%%), one "
                        "ratio or first,last (default: 1, no pruning)")
    parser.add_argument("--head-keep", type=keep_ratio, default=_POLICY_DEFAULTS["head_keep"],
                        metavar="R|R0,R1",
                        help="head keep ratio of the pruned layers (after the first 30%%) "
                        "(default: 1)")
    parser.add_argument("--v-keep", type=float, default=_POLICY_DEFAULTS["v_keep"], metavar="R",
                        help="local V keep ratio per head and query (default: 1)")
    parser.add_argument("--msb-bits", type=integer, metavar="B",
                        help="MSB plane of K (4, 6, 8, 10 or 12; default: no quantization)")
    parser.add_argument("--threshold", type=float, default=_POLICY_DEFAULTS["threshold"],
                        metavar="T",
                        help="refetch the LSBs when the largest probability is below T, "
                        "0 <= T < 1 (default: 0, never)")
    parser.add_argument("--quantize-v", action="store_true", help="quantize V too")
    parser.add_argument("--seed", type=integer, default=_POLICY_DEFAULTS["seed"], metavar="S",
                        help="seed of the weights and the prompt (default: %(default)s)")
    parser.add_argument("--threads", type=integer, default=_POLICY_DEFAULTS["threads"],
                        metavar="N",
                        help="PyTorch threads of the model run (default: %(default)s)")


def _add_trace(commands: argparse._SubParsersAction) -> None:
    trace = commands.add_parser("trace", help="generate a workload trace from a model run")
    kinds = trace.add_subparsers(dest="accelerator", required=True, metavar="ACCELERATOR")
    spatten = kinds.add_parser(
        "spatten",
        help="SpAtten trace of a Transformer run",
        description="Run SpAtten's algorithm (cascade token and head pruning, local V pruning, "
        "progressive quantization) on a Transformer with random weights and write its trace in "
        "the public SpAtten format.",
    )
    spatten.add_argument("--model", required=True,
                         choices=["gpt2-small", "gpt2-medium", "bert-base", "bert-large"])
    _add_spatten_policy(spatten)
    spatten.add_argument("--out", required=True, type=Path, metavar="FILE",
                         help="trace file to write (CSV)")
    spatten.set_defaults(handler=_trace_spatten)


def _add_targets(commands: argparse._SubParsersAction) -> None:
    targets = commands.add_parser("targets", help="list the built-in targets",
                                  description="List the built-in targets (sim/targets/*.toml).")
    targets.set_defaults(handler=_targets)


def _add_baseline(commands: argparse._SubParsersAction) -> None:
    baseline = commands.add_parser(
        "baseline",
        help="time a software baseline in PyTorch on this machine",
        description="Time a workload in PyTorch (on the CPU or a CUDA device): SpAtten's "
        "attention workloads (BERT attention, GPT-2 generation attention with a 992-token "
        "prompt and 32 generated tokens) or a CNN training step. Warm-up, repeated runs, "
        "trimmed mean (15%% each end).",
    )
    baseline.add_argument("--workload", required=True,
                          choices=["bert-base", "bert-large", "gpt2-small", "gpt2-medium",
                                   "resnet18", "resnet50", "vgg16", "small-cnn"])
    baseline.add_argument("--batch", type=integer, default=32, metavar="B",
                          help="batch of a CNN training step (default: %(default)s)")
    baseline.add_argument("--warmup", type=integer, default=2, metavar="N",
                          help="warm-up runs (default: %(default)s)")
    baseline.add_argument("--repeats", type=integer, default=20, metavar="N",
                          help="timed runs (default: %(default)s)")
    baseline.add_argument("--threads", type=integer, metavar="T",
                          help="torch threads (default: torch's own choice)")
    baseline.add_argument("--seq-len", type=integer, metavar="L",
                          help="BERT sentence length, e.g. a task's average dev-set length "
                          "(default: 128, GLUE's usual maximum)")
    baseline.add_argument("--device", default="cpu", metavar="DEV",
                          help="torch device, e.g. cpu or cuda:0 (default: %(default)s)")
    baseline.add_argument("--json", action="store_true", help="print the result as JSON")
    baseline.set_defaults(handler=_baseline)


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="generate Verilog, run the benchmark and write the report (the main job)",
        description="Generate the top-k Verilog, run the benchmark and write the report.",
    )
    report.add_argument("--out", type=Path, default=Path("build/report"), metavar="DIR",
                        help="output folder (default: %(default)s)")
    report.add_argument("--quick", action="store_true",
                        help="a smaller run, for a quick look")
    report.set_defaults(handler=_report)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sparsa`` command."""
    parser = _Parser(
        prog="sparsa",
        description="Hardware co-design suite for sparse deep-learning accelerators.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_verilog(commands)
    _add_bench(commands)
    _add_simulate(commands)
    _add_trace(commands)
    _add_targets(commands)
    _add_baseline(commands)
    _add_report(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sparsa`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the work found a problem (e.g. lint warnings),
        2 for a bad command line.
    """
    args = build_parser().parse_args(argv)
    return args.handler(args)
