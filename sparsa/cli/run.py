"""``sparsa run sat``: layers of a network on the Verilated SAT accelerator, end to end."""

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
from sparsa.config.presets import SAT_BATCH, SAT_SYSTEM_READ_LATENCY, SAT_TARGET

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
    sat.add_argument("--latency", type=integer, default=SAT_SYSTEM_READ_LATENCY, metavar="CYCLES",
                     help="the DDR model's read latency, address to first beat, at least 3 "
                     "(default: %(default)s)")
    sat.add_argument("--target", default=SAT_TARGET, metavar="NAME|FILE",
                     help="the target whose offline schedule picks each GEMM's dataflow "
                     "(default: %(default)s)")
    add_seed(sat, RUN_SEED, "the operands")
    add_json_file(sat)


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
