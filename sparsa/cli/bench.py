"""``sparsa bench``: the top-k sweep, the SAT array's layer bench and the SAT training study."""

import argparse
import json
from dataclasses import asdict

from sparsa.cli.options import (
    add_json_print,
    add_seed,
    command_group,
    fail,
    integer,
    positive_integer,
    progress,
    subcommand,
)
from sparsa.config import presets

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``bench`` and its subcommands."""
    blocks = command_group(commands, "bench", "benchmark a block on its cycle model", "BLOCK")
    topk = subcommand(blocks, "topk", _bench_topk, "the quick-select top-k engine")
    add_json_print(topk)
    topk.add_argument("--trials", type=integer, default=presets.TOPK_BENCH_TRIALS, metavar="T",
                      help="random trials (default: %(default)s)")
    add_seed(topk, presets.TOPK_BENCH_SEED, "the random requests")

    sat = subcommand(blocks, "sat", _bench_sat,
                     "the SAT PE array: dense against every N:M pattern, RTL-measured")
    add_json_print(sat)
    add_seed(sat, presets.SAT_BENCH_SEED, "the random operands")

    training = subcommand(blocks, "sat-training", _bench_sat_training,
                          "SAT training iterations: N:M speedups over dense and the ablation")
    add_json_print(training)
    training.add_argument("--target", default=presets.SAT_TARGET, metavar="NAME|FILE",
                          help="target (default: %(default)s)")
    training.add_argument("--batch", type=positive_integer, default=presets.SAT_BATCH,
                          metavar="B",
                          help="batch size (default: %(default)s)")


def _bench_topk(args: argparse.Namespace) -> int:
    """Run the top-k engine's parallelism sweep (request sizes, k and comparator counts) on its
    cycle model with seeded random requests and print a table."""
    from sparsa.sim.studies.topk_bench import format_table, sweep

    try:
        points = sweep(trials=args.trials, seed=args.seed, progress=progress)
    except ValueError as error:
        return fail(str(error))
    print(json.dumps([asdict(p) for p in points], indent=2) if args.json else format_table(points))
    return 0


def _bench_sat(args: argparse.Namespace) -> int:
    """Run one layer's FF GEMM (32x256 weights, 16 inputs) on the SAT PE array's RTL in
    amaranth.sim, dense and every N:M pattern, OS and WS, and print measured cycles beside the
    cycle model's and the speedup over dense. Takes about a minute."""
    from sparsa.sim.rtl.sat_array.bench import format_table, layer_bench

    rows = layer_bench(seed=args.seed, progress=progress)
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else format_table(rows))
    return 0


def _bench_sat_training(args: argparse.Namespace) -> int:
    """Simulate ResNet-18, ResNet-50 and VGG-16 training iterations dense and at 2:4, 2:8 and 1:8
    and print the speedups beside their bounds, then the ResNet-50 2:8 ablation of the dataflow
    techniques."""
    from sparsa.sim.network.target import load_target
    from sparsa.sim.studies.sat_study import (
        ablation,
        format_ablation,
        format_speedups,
        pattern_speedups,
    )

    try:
        target = load_target(args.target)
        rows = pattern_speedups(presets.SAT_STUDY_MODELS, presets.SAT_STUDY_PATTERNS, target,
                                batch=args.batch, progress=progress)
        abl = ablation(presets.SAT_ABLATION_MODEL, presets.SAT_ABLATION_PATTERN, target,
                       batch=args.batch)
    except ValueError as error:
        return fail(str(error))
    if args.json:
        print(json.dumps({"speedups": [asdict(r) for r in rows],
                          "ablation": [asdict(r) for r in abl]}, indent=2))
    else:
        print(format_speedups(rows))
        print()
        print(format_ablation(abl))
    return 0
