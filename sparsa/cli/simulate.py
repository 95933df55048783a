"""``sparsa simulate``: a whole network on a target (SAT training, SpAtten attention)."""

import argparse
from pathlib import Path

from sparsa.cli.options import (
    add_json_file,
    command_group,
    fail,
    integer,
    positive_integer,
    progress,
    subcommand,
    write_json,
)
from sparsa.cli.trace import MODELS, POLICY_DEFAULTS, add_policy, refetch_refused, run_model
from sparsa.config.formats import NumberFormat
from sparsa.config.presets import (
    SAT_BATCH,
    SAT_NETWORK_ARRAY,
    SAT_SYSTEM_CONFIGS,
    SAT_TARGET,
    SPATTEN_TARGET,
    SYSTEM_READ_LATENCY,
)

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``simulate`` and its subcommands."""
    models = command_group(commands, "simulate", "simulate a whole network on a target",
                           "ACCELERATOR")
    sat = subcommand(models, "sat", _simulate_sat, "one SAT training iteration")
    sat.add_argument("--model", required=True,
                     choices=["resnet18", "resnet50", "vgg16", "small-cnn"])
    sat.add_argument("--pattern", default="dense", metavar="{dense,N:M}",
                     help="BDWP pattern of the eligible layers (default: %(default)s)")
    sat.add_argument("--target", default=SAT_TARGET, metavar="NAME|FILE",
                     help="a built-in target (see `sparsa targets`) or a target file "
                     "(default: %(default)s)")
    sat.add_argument("--batch", type=integer, default=SAT_BATCH, metavar="B",
                     help="batch size (default: %(default)s)")
    sat.add_argument("--dtype", choices=[f.value for f in NumberFormat],
                     help="number format of weights, activations and errors; fp16 and bf16 "
                     "train with FP32 master weights and run the weight-update engine "
                     f"(default: {SAT_NETWORK_ARRAY.dtype.value}, or the system's)")
    sat.add_argument("--system", choices=sorted(SAT_SYSTEM_CONFIGS),
                     help="size the run from this SAT accelerator system (sparsa run sat's "
                     "presets): its array, its A and B buffers and its SORE, instead of the "
                     f"{SAT_NETWORK_ARRAY.rows} x {SAT_NETWORK_ARRAY.cols} array and the "
                     "target's on-chip memory split in thirds; the DRAM stays the target's")
    sat.add_argument("--no-interleave", action="store_true",
                     help="run the array's tiles one after another instead of overlapping each "
                     "tile's fill and drain with its neighbours'")
    sat.add_argument("--no-pregen", action="store_true",
                     help="run the SORE on the critical path instead of pre-generating")
    sat.add_argument("--no-offline-schedule", action="store_true",
                     help="run every GEMM output-stationary, weights resident")
    sat.add_argument("--allow-overfull", action="store_true",
                     help="simulate a design that the resource model predicts does not fit "
                     "the target (by default such a design is rejected, exit status 2)")
    add_json_file(sat)

    spatten = subcommand(models, "spatten", _simulate_spatten,
                         "SpAtten attention over a workload trace")
    spatten.add_argument("--model", required=True, choices=MODELS,
                         help="the model the workload runs on: GPT-2 in generation (default "
                         "workload: its public trace), BERT in summarization, static "
                         "quantization only (default workload: a run of SpAtten's algorithm "
                         "with the project's BERT settings, there being no public BERT trace)")
    spatten.add_argument("--target", default=SPATTEN_TARGET, metavar="NAME|FILE",
                         help="a built-in target or a target file (default: %(default)s)")
    source = spatten.add_mutually_exclusive_group()
    source.add_argument("--trace", type=Path, metavar="FILE",
                        help="a trace in the public SpAtten format instead of the default "
                        "workload, checked against --model")
    source.add_argument("--run", action="store_true",
                        help="run SpAtten's algorithm on the PyTorch model (random weights) with "
                        "the policy options below and simulate its trace")
    spatten.add_argument("--core", choices=["rtl", "paper"], default="rtl",
                         help="attention-core cycles: the project's RTL-validated core, or the "
                         "paper's datapath bound (default: %(default)s)")
    spatten.add_argument("--topk-engines", type=positive_integer, metavar="T",
                         help="local-V top-k engines of the RTL core (default: the target's "
                         "topk_engines)")
    add_policy(spatten)
    add_json_file(spatten)


def _simulate_sat(args: argparse.Namespace) -> int:
    """Simulate one training iteration (FF, BP and WU GEMMs of every layer, the SORE, DRAM
    transfers, energy) of a CNN on the SAT array and a target."""
    import time

    from sparsa.config.sat import NMPattern
    from sparsa.models.zoo.workloads import training_layers
    from sparsa.sim.network.sat_network import (
        Techniques,
        network_utilisation,
        simulate_iteration,
    )
    from sparsa.sim.network.target import load_target

    try:
        pattern = None if args.pattern == "dense" else NMPattern.parse(args.pattern)
        target = load_target(args.target)
        techniques = Techniques(interleave=not args.no_interleave, pregen=not args.no_pregen,
                                offline_schedule=not args.no_offline_schedule)
        system = None if args.system is None else SAT_SYSTEM_CONFIGS[args.system]
        if system is not None and args.dtype not in (None, system.array.dtype.value):
            raise ValueError(f"--dtype {args.dtype} conflicts with --system {args.system}, "
                             f"whose array is {system.array.dtype.value}")
        array = (SAT_NETWORK_ARRAY.replace(dtype=NumberFormat(args.dtype or
                                                               SAT_NETWORK_ARRAY.dtype.value))
                 if system is None else system.array)
        progress(f"simulating a {args.model} training iteration ...")
        layers = training_layers(args.model, batch=args.batch, pattern=pattern)
        resources = network_utilisation(array, pattern, target, system=system)
        if resources is not None and not args.allow_overfull:
            resources.check()
        start = time.perf_counter()
        sized = {"array": array} if system is None else {"system": system}
        result = simulate_iteration(layers, model=args.model, pattern=pattern, target=target,
                                    batch=args.batch, techniques=techniques, **sized)
        wall = time.perf_counter() - start
    except ValueError as error:
        return fail(str(error))
    print(f"{args.model} batch {args.batch}, {result.pattern}, on {target.name} at "
          f"{target.clock_hz / 1e6:.0f} MHz, {array.dtype.value} operands "
          f"({array.dtype.accumulator} accumulators)"
          + ("" if system is None else f", sized by the system {args.system}"))
    print(f"  cycles {result.cycles:,}  time {result.seconds * 1e3:.2f} ms  dense-equivalent "
          f"MACs per cycle {100 * result.utilisation:.1f}% of the array's peak (array busy "
          f"{100 * result.busy_share:.1f}% of the cycles)")
    print("  cycles by phase: " + ", ".join(f"{k} {v:,}" for k, v in result.phase_cycles.items()))
    print("  stall cycles: " + ", ".join(f"{k} {v:,}" for k, v in result.stall_cycles.items()))
    if system is not None:
        timed = [g for g in result.gemms if g.programs]
        split = sum(g.programs > 1 for g in timed)
        print(f"  GEMMs timed by their programs on the system (read latency "
              f"{SYSTEM_READ_LATENCY} cycles): {len(timed)} of {len(result.gemms)}"
              + (f", {split} of them as several programs (longer than the instruction "
                 f"memory)" if split else "")
              + ("" if len(timed) == len(result.gemms) else "; the others by the analytic "
                 "model (a tile the buffers cannot hold)"))
    by_class = result.traffic.by_class()
    print(f"  DRAM bytes {result.traffic.bytes():,}: "
          + ", ".join(f"{k} r {v['read']:,} w {v['write']:,}"
                      for k, v in by_class.items() if v["read"] or v["write"]))
    update = result.weight_update
    if update is not None:
        print(f"  weight update ({update.config.lanes} lanes, one step after the last GEMM): "
              f"{update.elements:,} weights, {update.cycles:,} cycles "
              f"({100 * update.cycles / result.cycles:.1f}% of the iteration; engine "
              f"{update.engine_cycles:,}, DRAM {update.check_dram_cycles:,} + "
              f"{update.update_dram_cycles:,}), bound by the {update.bound}")
    print("  energy (J): " + ", ".join(f"{k} {v:.4g}" for k, v in result.energy_j.items() if v))
    if result.resources is None:
        print(f"  resources: not predicted ({target.name} has no FPGA [resources] table)")
    else:
        fits = "" if result.resources.fits else " (does not fit: simulated on request)"
        print(f"  resources (resource model): {result.resources.summary()}{fits}")
    print(f"  simulator wall time {wall:.3f} s ({result.cycles / wall:,.0f} simulated cycles/s; "
          "extracting the layers from the PyTorch model comes before and is not included)")
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _simulate_spatten(args: argparse.Namespace) -> int:
    """Simulate SpAtten's attention over a workload trace in the model's mode (generation for
    GPT-2, summarization for BERT): by default the public trace of a GPT-2 model (packaged in
    ``sparsa/dataflow/spatten_traces``) or the default run of a BERT model; DRAM traffic by
    class, its reduction by technique against a dense FP32 baseline (and the dense trace when
    there is one), time and throughput on the target."""
    import time

    from sparsa.dataflow.spatten_workloads import (
        PUBLIC_TRACES,
        default_policy,
        mode_of,
        public_traces,
        read_model_trace,
    )
    from sparsa.sim.network.spatten import (
        RtlCoreCycles,
        core_bound_summary,
        format_core_bound,
        format_table,
        paper_datapath_cycles,
        simulate,
    )
    from sparsa.sim.network.target import load_target

    policy = [f"--{name.replace('_', '-')}" for name, default in POLICY_DEFAULTS.items()
              if getattr(args, name) != default]
    if policy and not args.run:
        return fail(f"{', '.join(policy)}: model-run options, they apply only with --run, "
                    "not to a trace file or the default workload")
    mode = mode_of(args.model)
    refused = refetch_refused(args)
    if refused is not None:
        return fail(refused)
    try:
        target = load_target(args.target)
        dense = None
        if args.run:
            trace = run_model(args).trace
        elif args.trace is None and args.model not in PUBLIC_TRACES:
            trace = run_model(args, policy=default_policy(args.model)).trace
        else:
            trace_path, dense_path = ((args.trace, None) if args.trace is not None
                                      else public_traces(args.model))
            progress(f"reading {trace_path} ...")
            trace = read_model_trace(trace_path, args.model)
            dense = None if dense_path is None else read_model_trace(dense_path, args.model)
        start = time.perf_counter()
        if args.topk_engines is not None and args.core != "rtl":
            return fail("--topk-engines: an option of the RTL core (--core rtl)")
        core = (RtlCoreCycles(engines=args.topk_engines) if args.core == "rtl"
                else paper_datapath_cycles)
        result = simulate(trace, target, mode=mode, dense=dense, core_cycles=core)
        wall = time.perf_counter() - start
        bound = (simulate(trace, target, mode=mode, core_cycles=paper_datapath_cycles)
                 if args.core == "rtl" else None)
    except (ValueError, OSError) as error:
        return fail(str(error))
    print(format_table(result))
    if bound is not None:
        print(format_core_bound(result, bound))
    print(f"simulator wall time {wall:.3f} s for {result.rows:,} rows "
          f"({result.cycles / wall:,.0f} simulated cycles/s)")
    if args.json:
        write_json(args.json, result.to_dict() if bound is None else
                   {**result.to_dict(), "paper_core_bound": core_bound_summary(bound)})
    return 0
