"""``sparsa run sat`` and ``sparsa run spatten``: layers on a Verilated system, end to end."""

import argparse

from sparsa.cli.blocks import SYSTEMS
from sparsa.cli.options import (
    add_json_file,
    add_seed,
    command_group,
    fail,
    integer,
    positive_integer,
    progress,
    subcommand,
    write_json,
)
from sparsa.config.presets import SAT_BATCH, SAT_TARGET, SPATTEN_RUN_SHAPE, SYSTEM_READ_LATENCY

__all__ = ["add"]

RUN_SEED = 1  # seed of the operands and of the memory's stalls


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``run`` and its subcommands."""
    systems = command_group(commands, "run", "run a network's layers on a Verilated system",
                            "SYSTEM")
    sat = subcommand(systems, "sat", _run_sat,
                     "the training GEMMs of a network's first layers on the SAT accelerator")
    SYSTEMS["sat-accelerator"].add_flags(sat, reserved=("--seed",))
    sat.add_argument("--model", required=True, metavar="MODEL",
                     help="a CNN workload: small-cnn, resnet18, resnet50 or vgg16")
    sat.add_argument("--pattern", default="dense", metavar="{dense,N:M}",
                     help="BDWP pattern of the eligible layers (default: %(default)s)")
    sat.add_argument("--layers", type=positive_integer, metavar="N",
                     help="run the FF, BP and WU GEMMs of the first N layers, one program "
                     "each (default: 1)")
    sat.add_argument("--chain", action="store_true",
                     help="instead, run the FF pass of the model's classifier (its Linear "
                     "layers at the end, ReLU between) as one program: each layer's output is "
                     "requantized on the accelerator and read back by the next layer")
    sat.add_argument("--batch", type=positive_integer, default=SAT_BATCH, metavar="B",
                     help="batch size (default: %(default)s)")
    sat.add_argument("--sore", action="store_true",
                     help="build the sparse layers' FF and BP weights with the system's SORE "
                     "from the dense ones (GENERATE; needs --sore-lanes and a --sore-m equal "
                     "to the pattern's M) instead of loading pre-generated ones")
    sat.add_argument("--latency", type=integer, default=SYSTEM_READ_LATENCY, metavar="CYCLES",
                     help="the DDR model's read latency, address to first beat, at least 3 "
                     "(default: %(default)s)")
    sat.add_argument("--target", default=SAT_TARGET, metavar="NAME|FILE",
                     help="the target whose offline schedule picks each GEMM's dataflow "
                     "(default: %(default)s)")
    add_seed(sat, RUN_SEED, "the operands")
    add_json_file(sat)
    spatten = subcommand(systems, "spatten", _run_spatten,
                         "layers of a GPT-2-shaped generation step with cascade token and head "
                         "pruning on the SpAtten accelerator")
    SYSTEMS["spatten-accelerator"].add_flags(spatten, reserved=("--seed", "--heads"))
    helps = {"layers": "layers of the run", "tokens": "tokens alive at its first layer",
             "heads": "heads alive at its first layer"}
    for name, default in SPATTEN_RUN_SHAPE.items():
        spatten.add_argument(f"--{name}", dest=f"run_{name}", type=positive_integer,
                             default=default, metavar="N",
                             help=f"{helps[name]} (default: %(default)s)")
    spatten.add_argument("--latency", type=integer, default=SYSTEM_READ_LATENCY,
                         metavar="CYCLES", help="the DDR model's read latency, address to first "
                         "beat, at least 3 (default: %(default)s)")
    add_seed(spatten, RUN_SEED, "the Q, K and V tensors")
    add_json_file(spatten)


def _run_sat(args: argparse.Namespace) -> int:
    """Run the GEMMs, print a table of cycles (system against model) and the verdict; exit 1
    if any result differs from the golden model or any cycle count from the model."""
    from sparsa.config.sat import NMPattern
    from sparsa.sim.rtl.axi.dram import MIN_LATENCY
    from sparsa.sim.rtl.sat_system.network import classifier_chain, network_cases, run_network

    try:
        config = SYSTEMS["sat-accelerator"].config(args)
        pattern = None if args.pattern == "dense" else NMPattern.parse(args.pattern)
        if args.latency < MIN_LATENCY:
            raise ValueError(f"--latency must be at least {MIN_LATENCY}, not {args.latency}")
        model = args.model.replace("_", "-")
        if args.chain:
            if args.layers is not None:
                raise ValueError("--chain runs the classifier's layers; it takes no --layers")
            chain = classifier_chain(config, model, pattern, batch=args.batch, seed=args.seed,
                                     sore=args.sore, progress=progress)
            cases = [chain.case]
        else:
            cases = network_cases(config, model, pattern, layers=args.layers or 1,
                                  batch=args.batch, seed=args.seed, target=args.target,
                                  sore=args.sore, latency=args.latency, progress=progress)
    except ValueError as error:
        return fail(str(error))
    runs = run_network(config, cases, latency=args.latency, seed=args.seed, progress=progress)
    print(f"{'program':22s} {'M x K x N':>16s} {'pattern':>9s} {'flow':>4s} {'system':>9s} "
          f"{'model':>9s} {'netsim':>8s} {'busy':>8s} {'read B':>9s} {'written B':>9s}  result")
    for r in runs:
        shape = "x".join(str(d) for d in r.shape)
        netsim = "-" if r.netsim_cycles is None else str(r.netsim_cycles)
        print(f"{r.name:22s} {shape:>16s} {r.pattern:>9s} {r.dataflow:>4s} {r.rtl_cycles:9d} "
              f"{r.model_cycles:9d} {netsim:>8s} {r.array_busy:8d} {r.bytes_read:9d} "
              f"{r.bytes_written:9d}  {'ok' if not r.failures else 'MISMATCH'}")
    failures = [f for r in runs for f in r.failures]
    total_rtl = sum(r.rtl_cycles for r in runs)
    total_model = sum(r.model_cycles for r in runs)
    print(f"{len(runs)} program(s): {total_rtl} cycles on the system, {total_model} predicted; "
          f"{'every result equals the golden model' if not failures else 'MISMATCHES:'}")
    for failure in failures:
        print(f"  {failure}")
    if any(r.netsim_cycles is not None for r in runs):
        print("model: the system's cycle model on this program; netsim: the network "
              "simulator's cycles for the same GEMM (or part of a GEMM longer than the "
              "instruction memory) on the same system and memory latency: the program it "
              "plans from the shape")
    if args.json is not None:
        write_json(args.json, {"config": str(config), "runs": [r.to_dict() for r in runs]})
    return 1 if failures else 0


def _run_spatten(args: argparse.Namespace) -> int:
    """Run a seeded workload, print per layer what it kept and the cycles of the system, its
    cycle model and the trace simulator; exit 1 if any result differs from the golden model."""
    from sparsa.sim.blocks.spatten_system import SpattenSystemCycleModel
    from sparsa.sim.rtl.axi.dram import MIN_LATENCY
    from sparsa.sim.rtl.spatten_system.cases import compare, random_case
    from sparsa.sim.rtl.spatten_system.run import run_images

    try:
        config = SYSTEMS["spatten-accelerator"].config(args)
        if args.latency < MIN_LATENCY:
            raise ValueError(f"--latency must be at least {MIN_LATENCY}, not {args.latency}")
        progress("drawing the run and its golden result")
        case = random_case(config, layers=args.run_layers, tokens=args.run_tokens,
                           heads=args.run_heads, seed=args.seed)
    except ValueError as error:
        return fail(str(error))
    progress("building and running the Verilated system")
    result = run_images(config, [case.image], latency=args.latency, seed=args.seed)[0]
    row = compare(config, case, result, model=SpattenSystemCycleModel(config),
                  latency=args.latency)
    print(f"{'layer':>5s} {'tokens':>6s} {'heads':>5s} {'requants':>8s} {'kept tokens':>11s} "
          f"{'kept heads':>10s}")
    for index, (run, s) in enumerate(zip(case.runs, case.settings, strict=True)):
        print(f"{index:5d} {len(run.tokens):6d} {len(run.heads):5d} "
              f"{sum(a.requant for a in run.answers):8d} {s.token_keep:11d} {s.head_keep:10d}")
    ops = sum(2 * config.core.dim * (len(r.tokens) + s.v_keep) * len(r.heads)
              for r, s in zip(case.runs, case.settings, strict=True))
    print(f"cycles: system {row.rtl}, cycle model {row.model} ({row.model / row.rtl - 1:+.2%}), "
          f"trace simulator {row.trace} ({row.trace / row.rtl - 1:+.2%}); {ops / row.rtl:.1f} "
          f"ops per cycle; DRAM {row.bytes_read} B read, {row.bytes_written} B written")
    print("every output, requant decision, head importance and kept list equals the golden "
          "model" if not row.failures else "MISMATCHES:")
    for failure in row.failures:
        print(f"  {failure}")
    if args.json is not None:
        write_json(args.json, {"config": str(config), "rtl": row.rtl, "model": row.model,
                               "trace": row.trace, "failures": list(row.failures)})
    return 1 if row.failures else 0
