"""``sparsa baseline``: time a software baseline in PyTorch on this machine."""

import argparse
import json

from sparsa.cli.options import add_json_print, fail, integer, progress, subcommand
from sparsa.config.presets import BERT_SEQ_LEN, GPT2_GENERATED, GPT2_PROMPT, SAT_BATCH

__all__ = ["add"]


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``baseline``."""
    baseline = subcommand(commands, "baseline", _baseline,
                          "time a software baseline in PyTorch on this machine")
    baseline.add_argument("--workload", required=True,
                          choices=["bert-base", "bert-large", "gpt2-small", "gpt2-medium",
                                   "resnet18", "resnet50", "vgg16", "small-cnn"])
    baseline.add_argument("--batch", type=integer, default=SAT_BATCH, metavar="B",
                          help="batch of a CNN training step (default: %(default)s)")
    baseline.add_argument("--warmup", type=integer, default=2, metavar="N",
                          help="warm-up runs (default: %(default)s)")
    baseline.add_argument("--repeats", type=integer, default=20, metavar="N",
                          help="timed runs (default: %(default)s)")
    baseline.add_argument("--threads", type=integer, metavar="T",
                          help="torch threads (default: torch's own choice)")
    baseline.add_argument("--seq-len", type=integer, metavar="L",
                          help="BERT sentence length, e.g. a task's average dev-set length "
                          f"(default: {BERT_SEQ_LEN}, GLUE's usual maximum)")
    baseline.add_argument("--device", default="cpu", metavar="DEV",
                          help="torch device, e.g. cpu or cuda:0 (default: %(default)s)")
    add_json_print(baseline, "the result")


def _baseline(args: argparse.Namespace) -> int:
    """Time a workload in PyTorch (on the CPU or a CUDA device): SpAtten's attention workloads
    (BERT attention, GPT-2 generation attention with a 992-token prompt and 32 generated tokens)
    or a CNN training step. Warm-up, repeated runs, trimmed mean (15% each end)."""
    import torch

    from sparsa.models.experiments.baselines import (
        ATTENTION_MODELS,
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
                                 f"{GPT2_PROMPT}-token prompt and {GPT2_GENERATED} generated "
                                 "tokens")
            run = attention_workload(args.workload, seq_len=args.seq_len, device=args.device)
            flops = attention_flops(args.workload, seq_len=args.seq_len)
        else:
            run, flops = cnn_training_step(args.workload, args.batch, args.device), None
        progress(f"timing {args.workload} on {args.device}: {args.warmup} warm-up and "
                 f"{args.repeats} runs ...")
        with rapl_energy() as meter:
            timing = time_callable(run, warmup=args.warmup, repeats=args.repeats,
                                   device=args.device)
    except ValueError as error:
        return fail(str(error))
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

