"""Layers of a network run on the Verilated SAT accelerator (``sparsa run sat``).

:func:`network_cases`: each training GEMM of the first layers of a workload (FF, then BP and WU, as
:func:`sparsa.dataflow.sat_schedule.training_gemms` lists them) becomes one program, or, where
that is longer than the instruction memory, the programs of its parts
(:func:`sparsa.dataflow.sat_parts.compile_gemm_parts`): seeded random operands of the GEMM's
shape in the array's format, A compressed to the layer's pattern along its rows (FF and BP of a
BDWP layer), the dataflow the network simulator's offline schedule chose for that GEMM (the
simulator sized by the same system, whose cycles for the GEMM, or for each part, are kept
beside the system's). The programs run one after another on one simulator; each is checked
against the golden program model and its cycles are set beside the system's cycle model.

:func:`classifier_chain`: the FF pass of a workload's classifier, its trailing run of Linear
layers (ReLU between them, as the zoo's classifiers have it), as one program
(:func:`sparsa.dataflow.sat_chain.compile_chain`): seeded random weights and input, each hidden
layer's output requantized on the accelerator with a shift calibrated on the golden output (the
smallest that keeps its largest value in range), and stored as the next layer's input.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sparsa.config.presets import SYSTEM_READ_LATENCY
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern
from sparsa.config.sat_system import SatSystemConfig
from sparsa.dataflow.sat_chain import ChainLayer
from sparsa.dataflow.sat_schedule import training_gemms
from sparsa.models.golden.sat import gemm_ff
from sparsa.models.golden.sat_layers import requantize
from sparsa.models.zoo.workloads import training_layers
from sparsa.sim.network.sat_network import Techniques, simulate_iteration
from sparsa.sim.network.sat_system_gemm import system_gemm
from sparsa.sim.network.target import load_target
from sparsa.sim.rtl.sat_array.gemms import random_operands
from sparsa.sim.rtl.sat_system.cases import (
    ChainCase,
    SystemCase,
    chain_case,
    compare,
    gemm_parts_case,
    generated_parts_case,
)
from sparsa.sim.rtl.sat_system.run import run_jobs

__all__ = ["LayerRun", "classifier_chain", "network_cases", "run_network"]


@dataclass(frozen=True)
class LayerRun:
    """One GEMM of the run: what it was, and what the system and the model said."""

    name: str
    shape: tuple[int, int, int]
    pattern: str
    dataflow: str
    rtl_cycles: int
    model_cycles: int
    netsim_cycles: int | None
    array_busy: int
    bytes_read: int
    bytes_written: int
    failures: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {**self.__dict__, "shape": list(self.shape), "failures": list(self.failures)}


def network_cases(config: SatSystemConfig, model: str, pattern: NMPattern | None, *,
                  layers: int, batch: int, seed: int, target: str, sore: bool = False,
                  latency: int = SYSTEM_READ_LATENCY,
                  progress: Callable[[str], None] | None = None) -> list[SystemCase]:
    """The programs of the training GEMMs of the first ``layers`` layers of ``model``
    (``progress`` hears once the request is found valid). With ``sore``, the FF and BP GEMMs
    of the sparse layers have the system's SORE build their weights from the dense ones
    (GENERATE); otherwise the compressed weights are pre-generated in DRAM (LOAD). The
    network simulator that picks each GEMM's dataflow sees the memory's read ``latency``.

    Raises
    ------
    ValueError
        For an unknown model, a layer count out of range, or a GEMM the system cannot run
        (the compiler's message).
    """
    all_layers = training_layers(model, batch=batch, pattern=pattern)
    if not 1 <= layers <= len(all_layers):
        raise ValueError(f"layers must be from 1 to {len(all_layers)} for {model}, "
                         f"not {layers!r}")
    if sore and (config.sore is None or pattern is None or pattern.m != config.sore_m):
        raise ValueError(f"the SORE in the datapath needs a system whose SORE groups by the "
                         f"pattern's M: pattern {pattern or 'dense'}, sore_lanes "
                         f"{config.sore_lanes}, sore_m {config.sore_m}")
    chosen = all_layers[:layers]
    if progress is not None:
        progress(f"compiling the training GEMMs of the first {layers} layer(s) of {model} ...")
    schedule = simulate_iteration(chosen, model=model, pattern=pattern,
                                  target=load_target(target), batch=batch, system=config,
                                  read_latency=latency,
                                  techniques=Techniques(pregen=not sore))
    gen = torch.Generator().manual_seed(seed)
    cases = []
    for op, result in zip(training_gemms(chosen), schedule.gemms, strict=True):
        a = random_operands(gen, (op.rows, op.reduction), config.array.dtype)
        b = random_operands(gen, (op.reduction, op.cols), config.array.dtype)
        sparse = op.phase in ("FF", "BP") and op.pattern is not None
        dataflow = Dataflow[result.dataflow]
        name = f"{op.layer} {op.phase}"
        generate = BdwpPass[op.phase] if sore and sparse else None
        n, m = (1, 1) if op.pattern is None else (op.pattern.n, op.pattern.m)
        timed: dict[tuple[int, int, int], int] = {}  # parts of one shape time alike
        for group in range(op.count):
            label = name if op.count == 1 else f"{name} group {group}"
            if generate is not None:  # W is C_out x K; the BP GEMM's A is its transpose
                w = a if op.phase == "FF" else a.T.contiguous()
                gemm = generated_parts_case(config, label, w, b, op.pattern, dataflow,
                                            generate)
            else:
                gemm = gemm_parts_case(config, label, a, b, op.pattern, dataflow)
            if len(gemm.cases) == 1:
                # The network simulator's cycles of one group's GEMM (its groups are alike).
                cases.append(dataclasses.replace(gemm.cases[0],
                                                 netsim=result.cycles // op.count))
                continue
            for part, case in zip(gemm.compiled.parts, gemm.cases, strict=True):
                # the simulator's cycles of this part's program (the GEMM's are their sum)
                if part.shape not in timed:
                    part_op = dataclasses.replace(op, rows=part.rows, cols=part.cols, count=1,
                                                  reduction=part.entries // n * m)
                    timed[part.shape] = system_gemm(config, part_op, dataflow,
                                                    read_latency=latency,
                                                    generate=generate).timing.cycles
                cases.append(dataclasses.replace(case, netsim=timed[part.shape]))
    return cases


def classifier_chain(config: SatSystemConfig, model: str, pattern: NMPattern | None, *,
                     batch: int, seed: int, sore: bool = False,
                     progress: Callable[[str], None] | None = None) -> ChainCase:
    """The FF pass of ``model``'s classifier as one program (see the module docstring).

    Raises
    ------
    ValueError
        For an unknown model, one without two Linear layers at its end, or a chain the system
        cannot run (the compiler's message).
    """
    layers = training_layers(model, batch=batch, pattern=pattern)
    tail: list = []  # the Linear layers at the end, each one's input the output before it
    for layer in reversed(layers):
        if layer.kind != "linear" or (tail and tail[0].ff.k != layer.cout):
            break
        tail.insert(0, layer)
    if len(tail) < 2:
        raise ValueError(f"{model} ends in {len(tail)} Linear layer(s); a chain needs two or "
                         "more (small-cnn has two)")
    if progress is not None:
        names = " -> ".join(layer.name for layer in tail)
        progress(f"compiling the FF pass of {model}'s classifier ({names}) as one program ...")
    arr = config.array
    gen = torch.Generator().manual_seed(seed)
    x = random_operands(gen, (tail[0].ff.k, tail[0].ff.n), arr.dtype)
    chain, b = [], x
    for i, layer in enumerate(tail):
        w = random_operands(gen, (layer.ff.m, layer.ff.k), arr.dtype)
        hidden = i < len(tail) - 1
        shift = 0
        if hidden and not arr.dtype.is_float:  # calibrated on this layer's golden output
            y = gemm_ff(w, b, layer.pattern, arr)  # exact integers
            shift = max(0, int(y.abs().max()).bit_length() - (arr.dtype.width - 1))
            b = requantize(config, y, config.operand_mode, shift, True)
        chain.append(ChainLayer(w, layer.pattern, shift, hidden))
    name = f"FF {tail[0].name}..{tail[-1].name.rsplit('.', 1)[-1]} chained"
    return chain_case(config, name, chain, x, sore=sore and pattern is not None)


def run_network(config: SatSystemConfig, cases: list[SystemCase], *, latency: int, seed: int,
                progress: Callable[[str], None] | None = None) -> list[LayerRun]:
    """Run ``cases`` on one simulator and compare each with the golden and cycle models."""
    if progress is not None:
        progress(f"running {len(cases)} programs on the Verilated system (the first run "
                 "builds it) ...")
    results = run_jobs(config, [c.job for c in cases], memory_bytes=_memory(cases),
                       latency=latency, seed=seed)
    runs = []
    for case, result in zip(cases, results, strict=True):
        failures, row = compare(config, case, result, latency)
        if "model" in row and (row["model"], row["busy_model"]) != (row["rtl"],
                                                                    row["busy_rtl"]):
            failures.append(f"{case.name}: the cycle model predicts {row['model']} cycles "
                            f"({row['busy_model']} array-busy), the system took {row['rtl']} "
                            f"({row['busy_rtl']})")
        runs.append(LayerRun(
            name=case.name, shape=case.shape, pattern=case.pattern, dataflow=case.dataflow,
            rtl_cycles=result.counter("cycles"), model_cycles=int(row.get("model", -1)),
            netsim_cycles=case.netsim,
            array_busy=result.counter("array_busy"), bytes_read=result.counter("bytes_read"),
            bytes_written=result.counter("bytes_written"), failures=tuple(failures)))
    return runs


def _memory(cases: list[SystemCase]) -> int:
    """The bench memory: a power of two that holds every case's image."""
    need = max(len(c.golden.dram) for c in cases)
    return 1 << max(16, (need - 1).bit_length())
