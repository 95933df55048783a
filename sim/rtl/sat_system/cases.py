"""End-to-end cases of the SAT system: compiled GEMMs and malformed programs, their golden runs,
their model predictions, and the comparison with what the Verilated system did.

:func:`gemm_cases` draws a seeded grid of GEMMs (dense and every pattern of the array, both
dataflows, shapes with edge tiles and reductions of several tiles, every store mode of the
format), compiles each (:func:`sparsa.dataflow.sat_program.compile_gemm`) and runs the golden
program model on it; :func:`fault_cases` builds programs that must stop on each fault, each
followed by a good program (the accelerator must stay usable). :func:`compare` checks a run
against the golden DRAM, fault and counters and against :func:`sparsa.sim.blocks.sat_system.
program_timing`, and returns the failures and a table row per case.
"""

import dataclasses
import itertools
from dataclasses import dataclass

import torch

from sparsa.config.dram_layout import pack_rows
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern
from sparsa.config.sat_system import Fault, Opcode, SatSystemConfig, StoreMode, encode
from sparsa.dataflow.sat_chain import ChainLayer, CompiledChain, compile_chain
from sparsa.dataflow.sat_parts import (
    CompiledParts,
    compile_gemm_parts,
    compile_generated_gemm_parts,
)
from sparsa.dataflow.sat_program import (
    compile_gemm,
    compile_generated_gemm,
    generated_operand,
)
from sparsa.models.golden.sat import compressed_matmul, nm_generate
from sparsa.models.golden.sat_layers import chain_ff
from sparsa.models.golden.sat_system import SystemRun, run_program
from sparsa.sim.blocks.sat_system import program_timing
from sparsa.sim.rtl.sat_array.gemms import random_operands
from sparsa.sim.rtl.sat_system.run import Job, JobResult

__all__ = [
    "SHAPES",
    "ChainCase",
    "PartsCase",
    "SystemCase",
    "chain_case",
    "chain_cases",
    "compare",
    "fault_cases",
    "gemm_case",
    "gemm_cases",
    "gemm_parts_case",
    "generated_case",
    "generated_cases",
    "generated_parts_case",
    "memory_error_cases",
    "parts_cases",
]

# (M, K, N): whole, edge and long-reduction GEMMs; (5, 5, 16) has a one-row WS edge tile and
# then a block whose first tile loads only A (the array's command once waited forever there).
SHAPES = ((4, 16, 4), (6, 40, 7), (9, 24, 5), (5, 5, 16))


@dataclass(frozen=True)
class SystemCase:
    """A program with its DRAM image and what the golden model says it does."""

    name: str
    job: Job
    program: tuple[int, ...]
    golden: SystemRun
    shape: tuple[int, int, int] = (0, 0, 0)
    pattern: str = ""
    dataflow: str = ""
    expect: tuple[Fault, int] | None = None  # the fault the system must report instead
    netsim: int | None = None  # the network simulator's cycles for the same GEMM and system


def _case(config: SatSystemConfig, name: str, image: bytes, addr: int,
          program: list[int], length: int | None = None) -> SystemCase:
    length = len(program) if length is None else length
    golden = run_program(config, image, addr, length)
    job = Job(image=image, program_addr=addr, program_len=length,
              regions=((0, len(golden.dram)),))
    return SystemCase(name, job, tuple(program), golden)


def gemm_case(config: SatSystemConfig, name: str, a: torch.Tensor, b: torch.Tensor,
              pattern: NMPattern | None, dataflow: Dataflow, *,
              store_mode: StoreMode = StoreMode.RAW, shift: int = 0,
              resident: bool = True) -> SystemCase:
    """``A B`` compiled for the system (``resident``: as :func:`compile_gemm`), A dense
    (compressed here to ``pattern`` along its rows, as the SORE would), with its golden run."""
    values, indices = (a, torch.zeros_like(a)) if pattern is None else nm_generate(
        a, pattern, config.array.dtype)
    compiled = compile_gemm(config, values, indices, b, pattern, dataflow,
                            store_mode=store_mode, shift=shift, resident=resident)
    case = _case(config, name, bytes(compiled.dram()), compiled.program_addr,
                 list(compiled.program))
    return dataclasses.replace(case, shape=(a.shape[0], a.shape[1], b.shape[1]),
                               pattern=str(pattern or "dense"), dataflow=dataflow.name)


def gemm_cases(config: SatSystemConfig, seed: int,
               shapes: tuple[tuple[int, int, int], ...] = SHAPES, *,
               resident: bool = True) -> list[SystemCase]:
    """Compiled GEMMs (``resident``: as :func:`compile_gemm`): every pattern (dense first) x
    both dataflows x ``shapes``, the store mode cycling through the format's modes (INT8 and
    INT16 with a shift)."""
    arr = config.array
    gen = torch.Generator().manual_seed(seed)
    modes = config.store_modes()
    cases = []
    grid = itertools.product([Dataflow.OS, Dataflow.WS], [None, *arr.patterns], shapes)
    for i, (dataflow, pattern, (rows, k, cols)) in enumerate(grid):
        m = 1 if pattern is None else pattern.m
        k = max(m, k // m * m)
        a = random_operands(gen, (rows, k), arr.dtype)
        b = random_operands(gen, (k, cols), arr.dtype)
        mode = modes[i % len(modes)]
        shift = 7 if mode in (StoreMode.INT8, StoreMode.INT16) else 0
        name = f"{dataflow.name} {pattern or 'dense'} {rows}x{k}x{cols} {mode.name}"
        cases.append(gemm_case(config, name, a, b, pattern, dataflow, store_mode=mode,
                               shift=shift, resident=resident))
    return cases


def generated_case(config: SatSystemConfig, name: str, w: torch.Tensor, b: torch.Tensor,
                   pattern: NMPattern, dataflow: Dataflow, direction: BdwpPass) -> SystemCase:
    """A GEMM whose compressed weights the SORE builds in the datapath (GENERATE) from the dense
    ``w`` (``C_out x K``): ``(W o Mf) B`` for the FF copy, ``(W o Mb)^T B`` for the BP copy."""
    compiled = compile_generated_gemm(config, w, b, pattern, dataflow, direction)
    case = _case(config, name, bytes(compiled.dram()), compiled.program_addr,
                 list(compiled.program))
    rows = w.shape[0] if direction == BdwpPass.FF else w.shape[1]
    return dataclasses.replace(case, shape=(rows, b.shape[0], b.shape[1]), pattern=str(pattern),
                               dataflow=dataflow.name)


def generated_cases(config: SatSystemConfig, seed: int,
                    shapes: tuple[tuple[int, int, int], ...] = SHAPES) -> list[SystemCase]:
    """:func:`generated_case` over the FF and the BP copy x both dataflows x ``shapes``
    (``C_out x K`` of W, then the columns of B), for every pattern of the array whose M is the
    SORE's."""
    arr = config.array
    gen = torch.Generator().manual_seed(seed)
    cases = []
    patterns = [p for p in arr.patterns if p.m == config.sore_m]
    grid = itertools.product(patterns, [BdwpPass.FF, BdwpPass.BP], [Dataflow.OS, Dataflow.WS],
                             shapes)
    for pattern, direction, dataflow, (c_out, k, cols) in grid:
        m = pattern.m
        c_out, k = max(m, -(-c_out // m) * m), max(m, k // m * m)  # whole groups either way
        w = random_operands(gen, (c_out, k), arr.dtype)
        b = random_operands(gen, (k if direction == BdwpPass.FF else c_out, cols), arr.dtype)
        name = f"GENERATE {direction.name} {dataflow.name} {pattern} W {c_out}x{k} x {cols}"
        cases.append(generated_case(config, name, w, b, pattern, dataflow, direction))
    return cases


@dataclass(frozen=True)
class ChainCase:
    """A chain of layers as one program: the case, the compiled chain (to read each layer's
    output back), each layer's output as :func:`chain_ff` says, and the layers and input it
    was compiled from."""

    case: SystemCase
    compiled: CompiledChain
    want: tuple[torch.Tensor, ...]
    layers: tuple[ChainLayer, ...]
    x: torch.Tensor


def chain_case(config: SatSystemConfig, name: str, layers: list[ChainLayer], x: torch.Tensor,
               *, store_mode: StoreMode = StoreMode.RAW, resident: bool = True,
               sore: bool = False) -> ChainCase:
    """The FF pass of ``layers`` on ``x`` as one program (:func:`compile_chain`), with its golden
    program run and the layer golden."""
    compiled = compile_chain(config, layers, x, store_mode=store_mode, resident=resident,
                             sore=sore)
    case = _case(config, name, bytes(compiled.dram()), compiled.program_addr,
                 list(compiled.program))
    patterns = "/".join(str(layer.pattern or "dense") for layer in layers)
    shape = (layers[-1].w.shape[0], x.shape[0], x.shape[1])
    want = chain_ff(config, [(la.w, la.pattern, la.shift, la.relu) for la in layers], x,
                    chunks=[p.chunk for p in compiled.layers], store_mode=store_mode)
    case = dataclasses.replace(case, shape=shape, pattern=patterns, dataflow="OS")
    for i, expected in enumerate(want):  # the two golden models must agree
        if not torch.equal(compiled.read_layer(case.golden.dram, i), expected):
            raise RuntimeError(f"{name}: layer {i} of the golden program run differs from "
                               "the layer golden (a bug in one of them)")
    return ChainCase(case, compiled, tuple(want), tuple(layers), x)


def chain_cases(config: SatSystemConfig, seed: int) -> list[ChainCase]:
    """Chains of three layers (dense, each pattern of the array whose M divides R, dense again;
    a requantizing shift between them, ReLU after the first, negative activations after the
    second), edge tiles in the columns and the last
    layer's rows, resident and streamed, the SORE building the sparse layer's weights where the
    system has one of that M."""
    arr = config.array
    gen = torch.Generator().manual_seed(seed)
    shift = 0 if arr.dtype.is_float else 6
    cases = []
    patterns = [p for p in arr.patterns if arr.rows % p.m == 0]
    for i, pattern in enumerate(patterns):
        for resident in (True, False):
            k0, hidden = 2 * pattern.m, 4 * arr.rows
            cols = 2 * arr.cols + 1
            x = random_operands(gen, (k0, cols), arr.dtype)
            dims = [(hidden, k0, None), (hidden, hidden, pattern), (arr.rows + 1, hidden, None)]
            layers = [ChainLayer(random_operands(gen, (c_out, k), arr.dtype), p,
                                 shift if j < 2 else 0, j == 0)
                      for j, (c_out, k, p) in enumerate(dims)]
            sore = resident and config.sore is not None and pattern.m == config.sore_m
            name = (f"chain dense/{pattern}/dense x {cols} cols "
                    f"{'resident' if resident else 'streamed'}{' SORE' if sore else ''}")
            mode = config.store_modes()[i % len(config.store_modes())]
            cases.append(chain_case(config, name, layers, x, resident=resident, sore=sore,
                                    store_mode=mode))
    return cases


@dataclass(frozen=True)
class PartsCase:
    """A GEMM too long for one program, run as the programs of its parts: a case per part
    (each job on the DRAM image of every part), the compiled parts (to assemble Y from what each
    part's run left) and Y as the golden GEMM says (integer formats, exact whatever the cut)
    or as the parts' golden program runs assemble it (floating point: the host's FP32 sum of
    the parts' partial sums, :mod:`sparsa.dataflow.sat_parts`)."""

    cases: tuple[SystemCase, ...]
    compiled: CompiledParts
    want: torch.Tensor
    op: tuple[int, int, int, NMPattern | None, Dataflow]  # rows, dense reduction, cols
    generate: BdwpPass | None = None  # the copy the SORE builds A as, None for LOADed A


def gemm_parts_case(config: SatSystemConfig, name: str, a: torch.Tensor, b: torch.Tensor,
                    pattern: NMPattern | None, dataflow: Dataflow) -> PartsCase:
    """``A B`` compiled as parts (:func:`sparsa.dataflow.sat_parts.compile_gemm_parts`; one
    part, named ``name``, where its program fits the instruction memory), A dense (compressed
    here to ``pattern``), with each part's golden run.

    Raises
    ------
    RuntimeError
        If an integer Y the parts' golden runs assemble differs from the golden GEMM.
    """
    values, indices = (a, torch.zeros_like(a)) if pattern is None else nm_generate(
        a, pattern, config.array.dtype)
    compiled = compile_gemm_parts(config, values, indices, b, pattern, dataflow)
    return _parts_case(config, name, compiled, (values, indices, b), pattern, dataflow)


def generated_parts_case(config: SatSystemConfig, name: str, w: torch.Tensor, b: torch.Tensor,
                         pattern: NMPattern, dataflow: Dataflow,
                         direction: BdwpPass) -> PartsCase:
    """:func:`generated_case` compiled as parts
    (:func:`sparsa.dataflow.sat_parts.compile_generated_gemm_parts`), with each part's golden
    run.

    Raises
    ------
    RuntimeError
        As :func:`gemm_parts_case`.
    """
    compiled = compile_generated_gemm_parts(config, w, b, pattern, dataflow, direction)
    dense = generated_operand(config, w, pattern, direction)
    values, indices = nm_generate(dense, pattern, config.array.dtype)
    case = _parts_case(config, f"{name} (SORE)", compiled, (values, indices, b), pattern,
                       dataflow)
    return dataclasses.replace(case, generate=BdwpPass(direction))


def _parts_case(config: SatSystemConfig, name: str, compiled: CompiledParts,
                operands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                pattern: NMPattern | None, dataflow: Dataflow) -> PartsCase:
    """The cases of ``compiled``'s parts (A of ``operands`` compressed, B) and Y as their
    golden runs assemble it, checked against the golden GEMM for an integer array."""
    arr = config.array
    values, indices, b = operands
    image = bytes(compiled.dram())
    count = len(compiled.parts)
    shape = (values.shape[0], b.shape[0], b.shape[1])
    parts = tuple(
        dataclasses.replace(
            _case(config, name if count == 1 else f"{name} part {i + 1}/{count}", image,
                  program.program_addr, list(program.program)),
            shape=shape, pattern=str(pattern or "dense"), dataflow=dataflow.name)
        for i, program in enumerate(compiled.programs))
    golden = compiled.read_output([case.golden.dram for case in parts])
    if not arr.dtype.is_float and not torch.equal(
            golden, compressed_matmul(values, indices, b, pattern, arr)):
        raise RuntimeError(f"{name}: the parts' golden program runs differ from the golden "
                           "GEMM (a bug in one of them)")
    return PartsCase(parts, compiled, golden, (*shape, pattern, dataflow))


def parts_cases(config: SatSystemConfig, seed: int) -> list[PartsCase]:
    """GEMMs longer than the 256-instruction memory of the small systems, compiled as parts
    (:func:`gemm_parts_case`): a single output block whose reduction is cut (raw partial sums
    the host adds), rows or columns cut, both dataflows, dense and sparse; on a system with a
    SORE, the FF and BP copies GENERATEd (:func:`generated_parts_case`)."""
    arr = config.array
    gen = torch.Generator().manual_seed(seed)
    grid = (((4, 2048, 4), None, Dataflow.OS),
            ((12, 768, 6), arr.patterns[0], Dataflow.WS),
            ((40, 64, 40), arr.patterns[-1], Dataflow.OS))
    cases = []
    for (rows, k, cols), pattern, dataflow in grid:
        a = random_operands(gen, (rows, k), arr.dtype)
        b = random_operands(gen, (k, cols), arr.dtype)
        name = f"{dataflow.name} {pattern or 'dense'} {rows}x{k}x{cols}"
        cases.append(gemm_parts_case(config, name, a, b, pattern, dataflow))
    if config.sore is not None:
        pattern = next(p for p in arr.patterns if p.m == config.sore_m)
        for direction, dataflow in ((BdwpPass.FF, Dataflow.OS), (BdwpPass.BP, Dataflow.WS)):
            w = random_operands(gen, (8, 512) if direction is BdwpPass.FF else (512, 8),
                                arr.dtype)
            b = random_operands(gen, (512, 4), arr.dtype)
            c_out, k = w.shape
            name = f"{dataflow.name} {pattern} {direction.name} copy of W {c_out}x{k}"
            cases.append(generated_parts_case(config, name, w, b, pattern, dataflow,
                                              direction))
    return cases


def _image(config: SatSystemConfig, program: list[int], size: int = 1 << 12) -> bytes:
    words = pack_rows(program, 128, config.axi.data_width)
    data = b"".join(w.to_bytes(config.axi.word_bytes, "little") for w in words)
    return data + bytes(size - len(data))


def fault_cases(config: SatSystemConfig) -> list[SystemCase]:
    """Programs that stop on each fault code, the last instruction before the bad one a LOAD
    that runs, each followed by a small good program (a LOAD, a GEMM, a STORE)."""
    arr = config.array
    load = encode(Opcode.LOAD, buffer=0, row=0, rows=1, addr=0x800)
    beyond = config.dram_bytes
    bad = {
        "unknown opcode": encode(Opcode.END) | 0xA,
        "address out of range": encode(Opcode.LOAD, buffer=1, row=0, rows=2, addr=beyond),
        "buffer overflow": encode(Opcode.LOAD, buffer=0, row=config.a_rows - 1, rows=2,
                                  addr=0x800),
        "bad GEMM pattern": encode(Opcode.GEMM, pattern=len(arr.patterns) + 1, length=4,
                                   rows=1),
        "GEMM too long": encode(Opcode.GEMM, length=arr.max_reduction + 1, rows=1),
        "bad store mode": encode(Opcode.STORE, mode=7, rows=1, addr=0x800),
        "store group that is no pattern's M": encode(Opcode.STORE, mode=config.operand_mode,
                                                     group=max(config.store_groups()) + 1,
                                                     rows=1, addr=0x800),
        "store group in RAW": encode(Opcode.STORE, mode=StoreMode.RAW, group=1, rows=1,
                                     addr=0x800),
        "token on LOAD's previous side": load | 1 << 4,
    }
    good = [encode(Opcode.LOAD, buffer=0, row=0, rows=2, addr=0x800),
            encode(Opcode.LOAD, buffer=1, row=0, rows=2, addr=0x900, push_next=1),
            encode(Opcode.GEMM, pop_prev=1, push_next=1, length=2, rows=arr.rows),
            encode(Opcode.STORE, pop_prev=1, rows=arr.rows, addr=0xC00),
            encode(Opcode.END)]
    cases = []
    for name, inst in bad.items():
        program = [load, inst, encode(Opcode.END)]
        cases.append(_case(config, name, _image(config, program), 0, program))
        cases.append(_case(config, f"good after {name}", _image(config, good), 0, good))
    no_end = [load, load]
    cases.append(_case(config, "no END", _image(config, no_end), 0, no_end))
    cases.append(_case(config, "empty program", _image(config, good), 0, good, length=0))
    cases.append(_case(config, "longer than program_depth", _image(config, good), 0, good,
                       length=config.program_depth + 1))
    cases.append(_case(config, "good at the end", _image(config, good), 0, good))
    return cases


def memory_error_cases(config: SatSystemConfig, memory_bytes: int) -> list[SystemCase]:
    """A LOAD within ``dram_bytes`` but past the bench's ``memory_bytes``, which the memory
    answers with an error (the golden model, which has no memory errors, ends the program
    normally), then a good program: the system must report DRAM at the LOAD and stay usable."""
    if memory_bytes >= config.dram_bytes:
        raise ValueError("the memory must be smaller than dram_bytes for a memory error")
    load = encode(Opcode.LOAD, buffer=0, row=0, rows=1, addr=0x800)
    past = encode(Opcode.LOAD, buffer=1, row=0, rows=2, addr=memory_bytes)
    program = [load, past, encode(Opcode.END)]
    bad = dataclasses.replace(_case(config, "memory error", _image(config, program), 0, program),
                              expect=(Fault.DRAM, 1))
    good = fault_cases(config)[-1]
    return [bad, good]


def compare(config: SatSystemConfig, case: SystemCase, result: JobResult,
            read_latency: int, stall: float = 0.0) -> tuple[list[str], dict[str, object]]:
    """The failures of one run (DRAM, fault, status, counters against what the bench saw)
    and its table row (cycles of the RTL against the model, for the memory's ``read_latency``
    and ``stall``)."""
    failures = []
    regs = result.registers
    golden = case.golden
    if result.regions[0] != golden.dram:
        first = next(i for i, (x, y) in enumerate(zip(result.regions[0], golden.dram,
                                                      strict=True)) if x != y)
        failures.append(f"{case.name}: DRAM differs from the golden model first at {first:#x}")
    code, index = regs["error"] & 0xF, regs["error"] >> 8
    fault, fault_index = case.expect or (golden.fault, golden.fault_index)
    if (code, index) != (fault, fault_index):
        failures.append(f"{case.name}: error {Fault(code).name} at {index}, expected "
                        f"{fault.name} at {fault_index}")
    want_status = 0b010 | (0b100 if fault != Fault.NONE else 0)
    if regs["status"] != want_status or result.irq_after_clear:
        failures.append(f"{case.name}: status {regs['status']:#05b}, irq after clear "
                        f"{result.irq_after_clear}")
    for name, seen in (("bytes_read", result.read_bytes), ("bytes_written",
                                                           result.written_bytes)):
        if result.counter(name) != seen:
            failures.append(f"{case.name}: {name} counter {result.counter(name)}, bench saw "
                            f"{seen}")
    row: dict[str, object] = {"case": case.name, "rtl": result.counter("cycles")}
    if fault == Fault.NONE:
        model = program_timing(config, list(case.program), program_addr=case.job.program_addr,
                               read_latency=read_latency, stall=stall)
        row.update(model=model.cycles, busy_rtl=result.counter("array_busy"),
                   busy_model=model.array_busy, sore_rtl=result.counter("sore_busy"),
                   sore_model=model.sore_busy)
        if (model.bytes_read, model.bytes_written) != (result.counter("bytes_read"),
                                                       result.counter("bytes_written")):
            failures.append(f"{case.name}: model traffic {model.bytes_read}/"
                            f"{model.bytes_written} bytes")
    return failures, row
