"""``sparsa trace spatten``: run SpAtten's algorithm on a Transformer and write its trace.

The options of that model run (:func:`add_policy`, :func:`run_model`) serve ``sparsa simulate
spatten --run`` too.
"""

import argparse
from typing import TYPE_CHECKING

from sparsa.cli.options import (
    add_seed,
    command_group,
    fail,
    integer,
    output_file,
    progress,
    subcommand,
)
from sparsa.config.presets import BERT_SEQ_LEN, GPT2_GENERATED, GPT2_PROMPT

if TYPE_CHECKING:  # PyTorch is slow to import, and ``--help`` should stay quick
    from sparsa.models.algorithms.spatten_pruning import SpattenPolicy
    from sparsa.models.experiments.spatten_run import SpattenRun

__all__ = ["MODELS", "POLICY_DEFAULTS", "add", "add_policy", "keep_ratio", "run_model"]

MODELS = ("gpt2-small", "gpt2-medium", "bert-base", "bert-large")
"""The Transformers a model run takes (:data:`sparsa.models.algorithms.transformer.TRANSFORMERS`,
not imported: PyTorch is slow to import, and ``--help`` should stay quick)."""
POLICY_DEFAULTS = {"prompt_len": None, "steps": None, "token_keep": 1.0, "head_keep": 1.0,
                   "v_keep": 1.0, "msb_bits": None, "threshold": 0.0, "quantize_v": False,
                   "seed": 0, "threads": 1}
"""The model run's options and their defaults (an option changed from its default is a model-run
option, which ``simulate spatten`` accepts only with ``--run``)."""


def keep_ratio(text: str) -> float | tuple[float, float]:
    """A keep ratio R, or R0,R1: the first pruned layer's and the last layer's ratios."""
    parts = [float(x) for x in text.split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(text)


def add_policy(parser: argparse.ArgumentParser) -> None:
    """Add the options of a SpAtten model run
    (:func:`sparsa.models.experiments.spatten_run.run_spatten`)."""
    parser.add_argument("--prompt-len", type=integer, metavar="L",
                        help=f"prompt tokens (GPT-2, default {GPT2_PROMPT}) or input tokens "
                        f"(BERT, {BERT_SEQ_LEN})")
    parser.add_argument("--steps", type=integer, metavar="S",
                        help=f"generated tokens (GPT-2, default {GPT2_GENERATED})")
    parser.add_argument("--token-keep", type=keep_ratio, default=POLICY_DEFAULTS["token_keep"],
                        metavar="R|R0,R1",
                        help="token keep ratio of the pruned layers (after the first 15%%), one "
                        "ratio or first,last (default: 1, no pruning)")
    parser.add_argument("--head-keep", type=keep_ratio, default=POLICY_DEFAULTS["head_keep"],
                        metavar="R|R0,R1",
                        help="head keep ratio of the pruned layers (after the first 30%%) "
                        "(default: 1)")
    parser.add_argument("--v-keep", type=float, default=POLICY_DEFAULTS["v_keep"], metavar="R",
                        help="local V keep ratio per head and query (default: 1)")
    parser.add_argument("--msb-bits", type=integer, metavar="B",
                        help="MSB plane of K (4, 6, 8, 10 or 12; default: no quantization)")
    parser.add_argument("--threshold", type=float, default=POLICY_DEFAULTS["threshold"],
                        metavar="T",
                        help="refetch the LSBs when the largest probability is below T, "
                        "0 <= T < 1 (default: 0, never)")
    parser.add_argument("--quantize-v", action="store_true", help="quantize V too")
    add_seed(parser, POLICY_DEFAULTS["seed"], "the weights and the prompt")
    parser.add_argument("--threads", type=integer, default=POLICY_DEFAULTS["threads"],
                        metavar="N",
                        help="PyTorch threads of the model run (default: %(default)s)")


def refetch_refused(args: argparse.Namespace) -> str | None:
    """Why the policy options of ``args`` cannot run on its model (a BERT model with an LSB
    refetch threshold: SpAtten runs BERT with static quantization only), or None."""
    from sparsa.dataflow.spatten_workloads import SUMMARIZATION, mode_of

    if mode_of(args.model) == SUMMARIZATION and args.threshold:
        return (f"--threshold {args.threshold:g}: {args.model} runs static quantization only "
                "(SpAtten uses no LSB refetch for BERT); allowed: 0")
    return None


def run_model(args: argparse.Namespace, policy: "SpattenPolicy | None" = None) -> "SpattenRun":
    """Run SpAtten's algorithm with the options of :func:`add_policy`, printing progress;
    ``policy`` (a :class:`~sparsa.models.algorithms.spatten_pruning.SpattenPolicy`), when given,
    replaces the policy options."""
    from sparsa.models.algorithms.spatten_pruning import SpattenPolicy
    from sparsa.models.experiments.spatten_run import run_spatten

    if policy is None:
        policy = SpattenPolicy(token_keep=args.token_keep, head_keep=args.head_keep,
                               v_keep=args.v_keep, msb_bits=args.msb_bits,
                               threshold=args.threshold, quantize_v=args.quantize_v)
    steps = "" if args.steps is None else f", {args.steps} steps"
    progress(f"running SpAtten's algorithm on {args.model} (random weights, seed {args.seed}"
             f"{steps}; {policy.describe()}) ...")
    run = run_spatten(args.model, prompt_len=args.prompt_len, steps=args.steps, policy=policy,
                      seed=args.seed, threads=args.threads)
    progress(f"model run {run.seconds:.1f} s on {run.threads} thread(s): {len(run.trace):,} "
             f"rows, LSB refetch {_refetch(run)}")
    return run


def _refetch(run) -> str:  # run: SpattenRun
    return "off" if run.refetch_fraction is None else f"{run.refetch_fraction:.1%} of the queries"


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``trace`` and its subcommand."""
    kinds = command_group(commands, "trace", "generate a workload trace from a model run",
                          "ACCELERATOR")
    spatten = subcommand(kinds, "spatten", _trace_spatten, "SpAtten trace of a Transformer run")
    spatten.add_argument("--model", required=True, choices=MODELS)
    add_policy(spatten)
    spatten.add_argument("--out", required=True, type=output_file, metavar="FILE",
                         help="trace file to write (CSV)")


def _trace_spatten(args: argparse.Namespace) -> int:
    """Run SpAtten's algorithm (cascade token and head pruning, local V pruning, progressive
    quantization) on a Transformer with random weights and write its trace in the public
    SpAtten format."""
    from sparsa.models.algorithms.spatten_trace import write_trace

    refused = refetch_refused(args)
    if refused is not None:
        return fail(refused)
    try:
        run = run_model(args)
        path = write_trace(run.trace, args.out)
    except (ValueError, OSError) as error:
        return fail(str(error))
    last = int(run.trace.iteration.max())
    kept = ", ".join(str(k) for k in run.kept_keys(last))
    print(f"{path}: {len(run.trace):,} rows ({len(run.trace.iterations)} iterations, "
          f"{run.trace.layers} layers x {run.trace.heads} heads)")
    print(f"  keys fetched per layer at iteration {last}: {kept}")
    print(f"  LSB refetch: {_refetch(run)}")
    return 0
