"""Tests of the SAT GEMM compiler (:mod:`sparsa.dataflow.sat_program`): compiled programs run by
the system's golden model give the golden GEMM (dense, 2:4, 2:8; OS, WS; int8, fp16; edge tiles;
reductions of several tiles; every store mode), programs whose weights GENERATE builds (FF and BP
copies) give the Y of the pre-generated ones, their tokens balance and order every buffer access
in any schedule the units may run, and the compiler refuses what it cannot compile."""

import random
from collections import Counter, deque

import numpy as np
import pytest
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern
from sparsa.config.sat_system import (
    Fault,
    Opcode,
    SatSystemConfig,
    StoreMode,
    Unit,
    decode,
    encode,
)
from sparsa.dataflow.sat_chain import ChainLayer, compile_chain
from sparsa.dataflow.sat_program import (
    CompiledGemm,
    compile_gemm,
    compile_generated_gemm,
    planning_array,
)
from sparsa.dataflow.sat_tiles import assemble
from sparsa.hw.common.stream_codec import unpacker
from sparsa.hw.sat.sat_array import weights_layout
from sparsa.models.golden.floats import fp32_to_half, to_bits
from sparsa.models.golden.sat import (
    compressed_matmul,
    gemm_bp,
    gemm_ff,
    nm_generate,
    tile_answer,
    tile_beats,
)
from sparsa.models.golden.sat_system import (
    SystemRun,
    generate_extent,
    pack_transfer,
    run_program,
    token_problems,
    unit_of,
)
from sparsa.sim.rtl.sat_system.cases import chain_case

INT8 = SAT_SYSTEM_CONFIGS["r4c4-int8-w64"]
FP16 = INT8.replace(array=INT8.array.replace(dtype=NumberFormat.FP16))
PATTERNS = [None, NMPattern(2, 4), NMPattern(2, 8)]


def _draw(config: SatSystemConfig, rng: np.random.Generator, shape: tuple[int, int]
          ) -> torch.Tensor:
    """Random operands in the array's format."""
    dtype = config.array.dtype
    if dtype.is_float:
        return torch.from_numpy(to_bits(rng.standard_normal(shape), dtype).astype(np.int64))
    low, high = dtype.range
    return torch.from_numpy(rng.integers(low, high + 1, shape))


def _operands(config: SatSystemConfig, seed: int, rows: int, k: int, cols: int,
              pattern: NMPattern | None):
    """Random A (compressed by ``pattern``) and B in the array's format."""
    rng = np.random.default_rng(seed)
    dtype = config.array.dtype
    w, b = _draw(config, rng, (rows, k)), _draw(config, rng, (k, cols))
    values, indices = (w, w) if pattern is None else nm_generate(w, pattern, dtype)
    return values, indices, b


def _run(compiled: CompiledGemm, program: tuple[int, ...] | None = None) -> SystemRun:
    dram = compiled.dram()
    if program is not None:  # the same instructions in another order, in the program's place
        data = pack_transfer(compiled.config, list(program), 128)
        dram[compiled.program_addr : compiled.program_addr + len(data)] = data
    return run_program(compiled.config, bytes(dram), compiled.program_addr, compiled.program_len)


def _golden(compiled: CompiledGemm, values, indices, b, pattern) -> torch.Tensor:
    return compressed_matmul(values, indices, b, pattern, compiled.config.array,
                             chunk=compiled.chunk)


CASES = [(config, pattern, dataflow) for config in (INT8, FP16) for pattern in PATTERNS
         for dataflow in Dataflow]


def _name(case) -> str:
    config, pattern, dataflow = case
    return f"{config.array.dtype.value}-{pattern or 'dense'}-{dataflow.name}"


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_a_compiled_gemm_gives_the_golden_result(case) -> None:
    config, pattern, dataflow = case
    seed = CASES.index(case)
    values, indices, b = _operands(config, seed, 7, 80, 9, pattern)  # edge tiles both ways
    compiled = compile_gemm(config, values, indices, b, pattern, dataflow, base=0x40)
    run = _run(compiled)
    assert (run.fault, run.stopped_at) == (Fault.NONE, compiled.program_len - 1), seed
    got = compiled.read_output(run.dram)
    assert torch.equal(got, _golden(compiled, values, indices, b, pattern)), f"seed={seed}"
    # The same from the tiles' answers reassembled, and several tiles per output block.
    outputs = [tile_answer(config.array, t.dataflow, t.pattern, t.length, t.rows, t.weights,
                           t.acts) for t in compiled.tiles]
    assert torch.equal(got, assemble(list(compiled.tiles), outputs, compiled.shape,
                                     config.array.dtype)), f"seed={seed}"
    per_block = Counter((t.row0, t.col0) for t in compiled.tiles)
    assert len(per_block) == len(compiled.blocks) and max(per_block.values()) > 1
    assert compiled.program_addr == 0x40 and compiled.dram()[:0x40] == bytes(0x40)


def test_tiles_of_a_block_run_together_and_stores_follow_them() -> None:
    # WS plans the column chunks inside the entry blocks; the compiler regroups them.
    values, indices, b = _operands(INT8, 3, 5, 32, 20, NMPattern(2, 4))
    compiled = compile_gemm(INT8, values, indices, b, NMPattern(2, 4), Dataflow.WS)
    keys = [(t.row0, t.col0) for t in compiled.tiles]
    assert len(set(keys)) == len(compiled.blocks) > 2
    assert all(keys.index(key) + keys.count(key) - 1 == len(keys) - 1 - keys[::-1].index(key)
               for key in set(keys))  # each block's tiles are consecutive
    ops = [decode(w)[0] for w in compiled.program]
    assert ops.count(Opcode.STORE) == len(compiled.blocks) and ops[-1] == Opcode.END
    run = _run(compiled)
    assert torch.equal(compiled.read_output(run.dram),
                       _golden(compiled, values, indices, b, NMPattern(2, 4)))


@pytest.mark.parametrize(("mode", "shift"), [(StoreMode.INT8, 0), (StoreMode.INT8, 6),
                                             (StoreMode.INT16, 3), (StoreMode.INT16, 9)],
                         ids=["int8", "int8-shift6", "int16-shift3", "int16-shift9"])
@pytest.mark.parametrize("dataflow", list(Dataflow), ids=lambda d: d.name)
def test_integer_stores_requantize(mode, shift, dataflow) -> None:
    seed = 17 + shift
    values, indices, b = _operands(INT8, seed, 6, 48, 5, NMPattern(2, 8))
    compiled = compile_gemm(INT8, values, indices, b, NMPattern(2, 8), dataflow,
                            store_mode=mode, shift=shift)
    run = _run(compiled)
    exact = compressed_matmul(values, indices, b, NMPattern(2, 8), INT8.array).numpy()
    rounded = exact if shift == 0 else (exact + (1 << (shift - 1))) >> shift
    bits = 8 if mode is StoreMode.INT8 else 16
    want = np.clip(rounded, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    assert np.array_equal(compiled.read_output(run.dram).numpy(), want), f"seed={seed}"
    assert bits == 16 or np.isin(want, (-128, 127)).any()  # the int8 cases saturate


@pytest.mark.parametrize("mode", [StoreMode.FP16, StoreMode.BF16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("dataflow", list(Dataflow), ids=lambda d: d.name)
def test_float_stores_round_to_half(mode, dataflow) -> None:
    values, indices, b = _operands(FP16, 23, 6, 40, 7, NMPattern(2, 4))
    compiled = compile_gemm(FP16, values, indices, b, NMPattern(2, 4), dataflow,
                            store_mode=mode)
    run = _run(compiled)
    fmt = NumberFormat.FP16 if mode is StoreMode.FP16 else NumberFormat.BF16
    want = fp32_to_half(_golden(compiled, values, indices, b, NMPattern(2, 4)).numpy(), fmt)
    assert np.array_equal(compiled.read_output(run.dram).numpy(), want.astype(np.int64))


def test_tiles_shrink_to_half_buffers() -> None:
    # max_reduction 4096 would make tiles of thousands of entries or columns; halves of 8 rows
    # hold 8 entries (OS) or columns (WS) and 16 groups of 2:4.
    config = INT8.replace(array=INT8.array.replace(max_reduction=4096, dtype=NumberFormat.FP16),
                          a_rows=16, b_rows=16, out_rows=16)
    assert planning_array(config, NMPattern(2, 4), Dataflow.OS).max_reduction == 8
    assert planning_array(config, NMPattern(2, 4), Dataflow.WS).max_reduction == 7
    for dataflow in Dataflow:
        values, indices, b = _operands(config, 5, 5, 40, 20, NMPattern(2, 4))
        compiled = compile_gemm(config, values, indices, b, NMPattern(2, 4), dataflow)
        for t in compiled.tiles:
            beats = tile_beats(config.array, dataflow=dataflow, pattern=t.pattern,
                               length=t.length, rows=t.rows)
            assert max(beats) <= 8
        assert compiled.chunk == (8 if dataflow is Dataflow.OS else 4)
        assert torch.equal(compiled.read_output(_run(compiled).dram),
                           _golden(compiled, values, indices, b, NMPattern(2, 4)))


def test_the_reduction_bound_uses_the_output_width() -> None:
    # int16 operands: each product up to 2 ** 30; 36-bit entries hold 31 of them, not 32.
    config = INT8.replace(array=INT8.array.replace(dtype=NumberFormat.INT16), out_width=36)
    values, indices, b = _operands(config, 8, 3, 31, 2, None)
    values[:] = -(1 << 15)
    b[:] = -(1 << 15)
    compiled = compile_gemm(config, values, indices, b, None, Dataflow.OS)
    assert compiled.read_output(_run(compiled).dram).unique().tolist() == [31 << 30]
    values, indices, b = _operands(config, 8, 3, 32, 2, None)
    with pytest.raises(ValueError, match=r"32 int16 products may reach 34359738368, which "
                                         r"overflows the 36-bit output entries"):
        compile_gemm(config, values, indices, b, None, Dataflow.OS)


def test_the_compiler_refuses_what_it_cannot_compile() -> None:
    values, indices, b = _operands(INT8, 1, 6, 32, 5, None)

    def refuse(match: str, config: SatSystemConfig = INT8, **kwargs) -> None:
        with pytest.raises(ValueError, match=match):
            compile_gemm(config, kwargs.pop("values", values), indices, b, None, Dataflow.OS,
                         **kwargs)

    refuse("a config whose buffers cannot hold one tile", INT8.replace(out_rows=6))
    refuse("a config whose buffers cannot hold one tile", INT8.replace(a_rows=4))
    refuse("needs 29 instructions, more than program_depth = 28",
           INT8.replace(program_depth=28), resident=False)
    refuse(r"the image reaches byte \d+, past dram_bytes = 1024", INT8.replace(dram_bytes=1024))
    refuse("int8 array stores RAW, INT8, INT16, not <StoreMode.FP16: 3>",
           store_mode=StoreMode.FP16)
    refuse("shift of RAW must be from 0 to 0, not 2", shift=2)
    refuse("base must be a word-aligned", base=4)
    refuse(r"A\[0, 0\] = 300 is outside the int8 range", values=values + 300 - values)


# ---- tokens ---------------------------------------------------------------------------------

_POPS = {"pop_prev": -1, "pop_next": 1}
_PUSHES = {"push_prev": -1, "push_next": 1}


def _accesses(config: SatSystemConfig, f: dict[str, int], op: Opcode):
    """Buffer rows an instruction reads and writes: ({(buffer, row)}, {(buffer, row)})."""
    if op is Opcode.LOAD:
        name = "B" if f["buffer"] else "A"
        return set(), {(name, r) for r in range(f["row"], f["row"] + f["rows"])}
    if op is Opcode.GENERATE:
        rows = generate_extent(config, f["copy"], f["n"])[1]
        return set(), {("A", r) for r in range(f["row"], f["row"] + rows)}
    if op is Opcode.STORE:
        return {("OUT", r) for r in range(f["row"], f["row"] + f["rows"])}, set()
    n_w, n_a, n_out = tile_beats(config.array, dataflow=f["dataflow"], pattern=f["pattern"],
                                 length=f["length"], rows=f["rows"])
    out = {("OUT", r) for r in range(f["out_row"], f["out_row"] + n_out)}
    reads = {("A", r) for r in range(f["a_row"], f["a_row"] + n_w)}
    reads |= {("B", r) for r in range(f["b_row"], f["b_row"] + n_a)}
    return reads | (out if f["accumulate"] else set()), out


def _writers_seen(config: SatSystemConfig, order: list[int], program: tuple[int, ...]):
    """For each instruction run in ``order``, the writer of every row it reads or writes."""
    last: dict[tuple[str, int], int] = {}
    seen = {}
    for i in order:
        code, f = decode(program[i])
        reads, writes = _accesses(config, f, Opcode(code))
        seen[i] = {row: last.get(row) for row in reads | writes}
        last.update(dict.fromkeys(writes, i))
    return seen


def _schedule(program: tuple[int, ...], rng: random.Random) -> list[int]:
    """A random order in which the concurrent units could run the instructions before END: each
    unit in program order, an instruction once the tokens it pops have been pushed."""
    queues = {unit: deque() for unit in Unit}
    for i, word in enumerate(program[:-1]):
        queues[unit_of(decode(word)[0])].append(i)
    tokens: Counter = Counter()
    order = []
    while any(queues.values()):
        ready = []
        for unit, queue in queues.items():
            if queue:
                f = decode(program[queue[0]])[1]
                needs = [(Unit(unit + s), unit) for side, s in _POPS.items() if f[side]]
                if all(tokens[q] > 0 for q in needs):
                    ready.append((unit, needs, f))
        assert ready, f"deadlock after {order}"
        unit, needs, f = rng.choice(ready)
        for q in needs:
            tokens[q] -= 1
        for side, s in _PUSHES.items():
            if f[side]:
                tokens[(unit, Unit(unit + s))] += 1
        order.append(queues[unit].popleft())
    assert not +tokens, f"tokens left over: {dict(+tokens)}"  # every push popped
    return order


@pytest.mark.parametrize("case", CASES[:6], ids=_name)
def test_tokens_balance_and_order_every_buffer_access(case) -> None:
    config, pattern, dataflow = case
    values, indices, b = _operands(config, 2, 9, 48, 13, pattern)
    _check_schedules(compile_gemm(config, values, indices, b, pattern, dataflow))


def _check_schedules(compiled: CompiledGemm) -> None:
    """The tokens of ``compiled`` balance, and random schedules of its units give every
    instruction the rows its predecessors in program order wrote."""
    config, program = compiled.config, compiled.program
    seed = 20261207
    rng = random.Random(seed)
    assert token_problems(config, program) == []
    pushes, pops = Counter(), Counter()
    for word in program:
        f = decode(word)[1]
        pushes.update(side for side in _PUSHES if f.get(side))
        pops.update(side for side in _POPS if f.get(side))
    # LOAD->GEMM and GEMM->STORE go forward, GEMM->LOAD and STORE->GEMM back.
    assert pushes["push_next"] == pops["pop_prev"] and pushes["push_prev"] == pops["pop_next"]
    sequential = _writers_seen(config, list(range(len(program) - 1)), program)
    for _ in range(20):
        order = _schedule(program, rng)
        # Every GEMM reads the rows its own LOADs wrote, every STORE the rows its GEMMs wrote.
        assert _writers_seen(config, order, program) == sequential, f"seed={seed} {order}"
    reordered = tuple(program[i] for i in order) + program[-1:]
    assert torch.equal(compiled.read_output(_run(compiled, reordered).dram),
                       compiled.read_output(_run(compiled).dram)), f"seed={seed}"


@pytest.mark.parametrize("dataflow", list(Dataflow), ids=lambda d: d.name)
def test_resident_operands_are_loaded_once_and_reused(dataflow) -> None:
    # 9 x 48 x 13, 2:4: blocks of rows and of columns share A and B tiles.
    values, indices, b = _operands(INT8, 6, 9, 48, 13, NMPattern(2, 4))
    args = (values, indices, b, NMPattern(2, 4), dataflow)
    big = INT8.replace(a_rows=512, b_rows=512)  # every distinct tile fits
    streamed = compile_gemm(big, *args, resident=False)
    resident = compile_gemm(big, *args)

    def loads(compiled: CompiledGemm, buffer: int) -> int:
        return sum(1 for w in compiled.program
                   if decode(w)[0] == Opcode.LOAD and decode(w)[1]["buffer"] == buffer)

    tiles = resident.tiles
    distinct_a = len({repr(t.weights) for t in tiles})
    distinct_b = len({repr(t.acts) for t in tiles})
    assert (loads(streamed, 0), loads(streamed, 1)) == (len(tiles), len(tiles))
    assert (loads(resident, 0), loads(resident, 1)) == (distinct_a, distinct_b)
    assert distinct_a + distinct_b < 2 * len(tiles)  # something is reused
    want = _golden(resident, *args[:4])
    for compiled in (streamed, resident):
        assert torch.equal(compiled.read_output(_run(compiled).dram), want)
    _check_schedules(resident)
    # A buffer that holds two tiles but not every distinct A tile: A streams, B stays.
    rows = max(len(t.weights) for t in tiles)
    assert distinct_a > 2
    mixed = compile_gemm(big.replace(a_rows=2 * rows), *args)
    assert (loads(mixed, 0), loads(mixed, 1)) == (len(mixed.tiles), distinct_b)
    assert torch.equal(mixed.read_output(_run(mixed).dram), want)
    _check_schedules(mixed)


def test_a_missing_token_lets_a_schedule_overwrite_a_half_too_early() -> None:
    values, indices, b = _operands(INT8, 2, 9, 48, 13, None)
    compiled = compile_gemm(INT8, values, indices, b, None, Dataflow.OS, resident=False)
    program = list(compiled.program)
    # Neither LOAD A of tile 2 nor GEMM 0 keeps its token: LOAD 2 may run before GEMM 0.
    load2 = [i for i, w in enumerate(program) if decode(w)[0] == Opcode.LOAD][4]
    program[load2] &= ~(1 << 5)
    program[2] &= ~(1 << 6)
    program = tuple(program)
    assert any("share A rows" in p for p in token_problems(INT8, program))
    sequential = _writers_seen(INT8, list(range(len(program) - 1)), program)
    seed = 20261207
    rng = random.Random(seed)
    assert any(_writers_seen(INT8, _schedule(program, rng), program) != sequential
               for _ in range(200)), f"seed={seed}"


# ---- weights generated by GENERATE ----------------------------------------------------------

SORE4 = SAT_SYSTEM_CONFIGS["r4c4-int8-w64-sore4"]
R8C8 = SAT_SYSTEM_CONFIGS["r8c8-int8-w128-sore8"]
P24 = NMPattern(2, 4)
# Each system with the pattern its SORE generates.
GENERATED = {
    "r4c4-sore4-2:4": (SORE4, NMPattern(2, 4)),
    "r8c8-sore8-2:8": (R8C8, NMPattern(2, 8)),
    "r8c8-m4-l8-2:4": (R8C8.replace(sore_m=4), NMPattern(2, 4)),  # two FF groups per tile row
    # 6 lanes, blocks of 4: the last block of lanes overlaps the one before it.
    "r6c5-sore4-2:4": (SORE4.replace(array=SORE4.array.replace(rows=6, cols=5)),
                       NMPattern(2, 4)),
    "r4c4-fp16-sore4-2:4": (SORE4.replace(array=SORE4.array.replace(dtype=NumberFormat.FP16)),
                            NMPattern(2, 4)),
}
GENERATED_CASES = [(name, direction, dataflow) for name in GENERATED
                   for direction in BdwpPass for dataflow in Dataflow]


def _weights(config: SatSystemConfig, seed: int, direction: BdwpPass, pattern: NMPattern,
             c_out: int, k: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense W (``c_out x k``, ties and the format's extremes mixed in) and the other operand:
    X (``k x cols``) for FF, dY (``c_out x cols``) for BP."""
    rng = np.random.default_rng(seed)
    w = _draw(config, rng, (c_out, k))
    if not config.array.dtype.is_float:
        low, high = config.array.dtype.range
        ties = torch.from_numpy(rng.choice([low, -1, 0, 1, high], (c_out, k)))
        w = torch.where(torch.from_numpy(rng.random((c_out, k)) < 0.3), ties, w)
    return w, _draw(config, rng, (k if direction is BdwpPass.FF else c_out, cols))


@pytest.mark.parametrize("case", GENERATED_CASES,
                         ids=lambda c: f"{c[0]}-{c[1].name}-{c[2].name}")
def test_generated_weights_give_the_pre_generated_result(case) -> None:
    name, direction, dataflow = case
    config, pattern = GENERATED[name]
    seed = GENERATED_CASES.index(case)
    m = pattern.m
    # Edge tiles: rows of A (FF channels, BP positions) and columns of Y not whole blocks;
    # reductions of several tiles; FF reductions of an odd number of groups, so that with L = 2M
    # a tile's last GENERATE also writes rows past its entries.
    c_out, k = (7, 11 * m) if direction is BdwpPass.FF else (5 * m, 11)
    w, b = _weights(config, seed, direction, pattern, c_out, k, 9)
    compiled = compile_generated_gemm(config, w, b, pattern, dataflow, direction, base=0x40)
    dense = w if direction is BdwpPass.FF else w.T
    values, indices = nm_generate(dense, pattern, config.array.dtype)
    reference = compile_gemm(config, values, indices, b, pattern, dataflow, base=0x40)
    assert compiled.tiles == reference.tiles and compiled.chunk == reference.chunk
    assert compiled.generated is direction and reference.generated is None
    run = _run(compiled)
    assert (run.fault, run.stopped_at) == (Fault.NONE, compiled.program_len - 1), f"seed={seed}"
    got = compiled.read_output(run.dram)
    assert torch.equal(got, reference.read_output(_run(reference).dram)), f"seed={seed}"
    gemm = gemm_ff if direction is BdwpPass.FF else gemm_bp
    assert torch.equal(got, gemm(w, b, pattern, config.array, chunk=compiled.chunk)), (
        f"seed={seed}")
    assert token_problems(config, compiled.program) == []
    # GENERATEs took the place of every LOAD A, each tile's first one its token.
    ops = [decode(word) for word in compiled.program]
    assert all(f["buffer"] == 1 for code, f in ops if code == Opcode.LOAD)
    generates = [f for code, f in ops if code == Opcode.GENERATE]
    assert {f["copy"] for f in generates} == {int(direction)}
    assert sum(f["pop_next"] for f in generates) == max(0, len(compiled.tiles) - 2)
    assert len(generates) > len(compiled.tiles)
    # The GEMMs' A rows hold what LOAD would have brought, on the tiles' lanes.
    _check_a_rows(compiled)


def _check_a_rows(compiled: CompiledGemm) -> None:
    """After each tile's A side, the rows its GEMM reads hold its pre-generated beats on the
    lanes of its rows of A."""
    config, program = compiled.config, list(compiled.program)
    unpack = unpacker(weights_layout(config.array))
    gemms = [i for i, word in enumerate(program) if decode(word)[0] == Opcode.GEMM]
    for tile, at in zip(compiled.tiles, gemms, strict=True):
        run = _run_prefix(compiled, program[:at])
        a_row = decode(program[at])[1]["a_row"]
        for t, beat in enumerate(tile.weights):
            got = unpack(run.weight_buffer[a_row + t])
            assert got[: tile.out_rows] == beat[: tile.out_rows], (tile.row0, tile.col0, t)


def _run_prefix(compiled: CompiledGemm, prefix: list[int]) -> SystemRun:
    """The program's first instructions, then END, in the program's place."""
    program = (*prefix, encode(Opcode.END))
    dram = compiled.dram()
    data = pack_transfer(compiled.config, list(program), 128)
    dram[compiled.program_addr : compiled.program_addr + len(data)] = data
    return run_program(compiled.config, bytes(dram), compiled.program_addr, len(program))


@pytest.mark.parametrize("direction", list(BdwpPass), ids=lambda d: d.name)
@pytest.mark.parametrize("dataflow", list(Dataflow), ids=lambda d: d.name)
def test_generated_tokens_order_every_buffer_access(dataflow, direction) -> None:
    c_out, k = (9, 48) if direction is BdwpPass.FF else (48, 9)  # 9 rows of A either way
    w, b = _weights(SORE4, 3, direction, P24, c_out, k, 13)
    _check_schedules(compile_generated_gemm(SORE4, w, b, P24, dataflow, direction))
    # B resident (A is generated per tile): fewer LOADs, the same Y.
    big = SORE4.replace(b_rows=512)
    streamed = compile_generated_gemm(big, w, b, P24, dataflow, direction, resident=False)
    resident = compile_generated_gemm(big, w, b, P24, dataflow, direction)
    _check_schedules(resident)
    assert len(resident.program) < len(streamed.program)
    assert torch.equal(resident.read_output(_run(resident).dram),
                       streamed.read_output(_run(streamed).dram))


def test_the_generating_compiler_refuses_what_it_cannot_compile() -> None:
    w, b = _weights(SORE4, 1, BdwpPass.FF, P24, 6, 32, 5)

    def refuse(match: str, config: SatSystemConfig = SORE4, pattern=P24,
               direction=BdwpPass.FF, **kwargs) -> None:
        with pytest.raises(ValueError, match=match):
            compile_generated_gemm(config, kwargs.pop("w", w), kwargs.pop("b", b), pattern,
                                   Dataflow.OS, direction, **kwargs)

    refuse(r"the system has no SORE \(sore_lanes = 0\)", INT8)
    refuse("GENERATE needs a pattern with M = sore_m = 4, not 2:8", pattern=NMPattern(2, 8))
    refuse("GENERATE needs a pattern with M = sore_m = 4, not None", pattern=None)
    refuse("direction must be BdwpPass.FF or BdwpPass.BP, not 2", direction=2)
    refuse("direction must be BdwpPass.FF or BdwpPass.BP, not 'ff'", direction="ff")
    refuse("W's 30 K columns are not whole groups of M = 4 for the FF copy", w=w[:, :30],
           b=b[:30])
    refuse("W's 6 C_out rows are not whole groups of M = 4 for the BP copy",
           direction=BdwpPass.BP, b=b[:6])
    refuse(r"W must be a matrix \(C_out x K\), got shape \(32,\)", w=w[0])
    refuse(r"W\[0, 0\] = 300 is outside the int8 range", w=w - w + 300)
    refuse("but B has 31 rows", b=b[:31])
    refuse("pattern 1:4 is not supported by this array", pattern=NMPattern(1, 4))
    # 4 tiles of 8 GENERATEs (32 positions in blocks of 4), LOAD B and GEMM; 4 STOREs, END.
    refuse("the program needs 45 instructions, more than program_depth = 44",
           SORE4.replace(program_depth=44), resident=False)
    # 2:4 on 8 lanes of 4-groups: a GENERATE writes 4 rows; tiles of 18 entries (36
    # positions) take 5 GENERATEs of rows, 20 rows, past a half of 18.
    config = R8C8.replace(sore_m=4, a_rows=36)
    w8, b8 = _weights(config, 1, BdwpPass.FF, NMPattern(2, 4), 8, 64, 5)
    refuse("the GENERATEs of a tile of 18 A rows write 20 rows \\(whole blocks of L = 8 "
           "positions\\), more than half the weight buffer holds, 18", config, w=w8, b=b8)


# ---- chains of layers -----------------------------------------------------------------------

SORE4 = SAT_SYSTEM_CONFIGS["r4c4-int8-w64-sore4"]


def _chain(config: SatSystemConfig, seed: int, dims, *, relu: bool = True):
    """Layers of ``dims`` ((C_out, K, pattern) each; ReLU after the first) and their input of
    9 columns."""
    rng = np.random.default_rng(seed)
    shift = 0 if config.array.dtype.is_float else 5
    layers = [ChainLayer(_draw(config, rng, (c_out, k)), p, shift if i < len(dims) - 1 else 0,
                         relu and i == 0)
              for i, (c_out, k, p) in enumerate(dims)]
    return layers, _draw(config, rng, (dims[0][1], 9))


CHAIN_DIMS = [(16, 8, None), (12, 16, NMPattern(2, 4)), (5, 12, None)]


@pytest.mark.parametrize("resident", [True, False], ids=["resident", "streamed"])
@pytest.mark.parametrize("config", [INT8, FP16], ids=["int8", "fp16"])
def test_a_chain_of_layers_gives_each_layer_golden_output(config, resident) -> None:
    seed = 11
    layers, x = _chain(config, seed, CHAIN_DIMS)
    chain = chain_case(config, "chain", layers, x, resident=resident)
    compiled, run = chain.compiled, chain.case.golden
    assert (run.fault, run.stopped_at) == (Fault.NONE, compiled.program_len - 1), seed
    for i, want in enumerate(chain.want):
        assert torch.equal(compiled.read_layer(run.dram, i), want), f"seed={seed} layer {i}"
    assert (chain.want[0] == 0).any() and (chain.want[0] > 0).any()  # ReLU zeroed some
    if not config.array.dtype.is_float:
        assert (chain.want[1] < 0).any()  # no ReLU: negative activations reach layer 2
    ops = [decode(w)[0] for w in compiled.program]
    assert ops.count(Opcode.SYNC) == 2 and ops[-1] == Opcode.END
    # The chained LOADs read what the STOREs of the layer before wrote, in any order the units
    # may run the instructions in.
    assert token_problems(config, compiled.program) == []
    rng = random.Random(seed)
    for _ in range(10):
        order = _schedule(compiled.program, rng)
        reordered = tuple(compiled.program[i] for i in order) + compiled.program[-1:]
        dram = _run(compiled, reordered).dram
        for i, want in enumerate(chain.want):
            assert torch.equal(compiled.read_layer(dram, i), want), f"seed={seed} {order}"


def test_a_chain_without_its_sync_lets_a_load_read_too_early() -> None:
    layers, x = _chain(INT8, 4, CHAIN_DIMS)
    compiled = compile_chain(INT8, layers, x)
    syncs = [i for i, w in enumerate(compiled.program) if decode(w)[0] == Opcode.SYNC]
    # The same instructions with the first SYNC's tokens gone (and the ones they pair with).
    program = list(compiled.program)
    program[syncs[0]] = encode(Opcode.SYNC)
    store = max(i for i in range(syncs[0]) if decode(program[i])[0] == Opcode.STORE)
    code, f = decode(program[store])
    program[store] = encode(code, **{**f, "push_prev": 0})
    code, f = decode(program[syncs[0] + 1])
    program[syncs[0] + 1] = encode(code, **{**f, "pop_next": 0})
    problems = token_problems(INT8, program)
    assert any("DRAM bytes" in p for p in problems), problems


def test_the_sore_builds_a_chained_layer_as_the_pre_generated_one() -> None:
    layers, x = _chain(SORE4, 8, CHAIN_DIMS)
    generated = chain_case(SORE4, "chain SORE", layers, x, sore=True)
    loaded = chain_case(SORE4, "chain", layers, x)
    ops = [decode(w)[0] for w in generated.compiled.program]
    assert Opcode.GENERATE in ops
    for i, want in enumerate(loaded.want):
        assert torch.equal(generated.compiled.read_layer(generated.case.golden.dram, i), want)


def test_the_chain_compiler_refuses_what_it_cannot_chain() -> None:
    layers, x = _chain(INT8, 1, CHAIN_DIMS)

    def refuse(match: str, config=INT8, chain=layers, first=x, **kwargs) -> None:
        with pytest.raises(ValueError, match=match):
            compile_chain(config, chain, first, **kwargs)

    refuse("at least one layer", chain=[])
    refuse(r"layer 1's W is \(12, 15\) but its input is \(16, 9\)",
           chain=[layers[0], ChainLayer(layers[1].w[:, :15]), layers[2]])
    refuse(r"R = 4 rows \(R a multiple of M\)",
           chain=[layers[0], ChainLayer(layers[1].w, NMPattern(2, 8)), layers[2]],
           config=INT8.replace(array=INT8.array.replace(max_reduction=32)))
    refuse("SORE builds weights of M = sore_m", sore=True)
    refuse("shift of RAW must be from 0 to 0", chain=[*layers[:2], ChainLayer(layers[2].w,
                                                                              shift=3)])
    refuse("must be from 0 to 31", chain=[ChainLayer(layers[0].w, shift=40), *layers[1:]])
    refuse("the program needs", config=INT8.replace(program_depth=40))
    refuse("base must be a word-aligned", base=4)


def test_a_chained_tile_must_start_at_a_block_of_the_layer_before() -> None:
    # max_reduction 6 cuts the 16-entry reduction at 6: inside the layer before's 4-row blocks.
    config = INT8.replace(array=INT8.array.replace(max_reduction=6))
    layers, x = _chain(config, 2, [(16, 8, None), (4, 16, None)])
    with pytest.raises(ValueError, match="layer 1: a chained tile's reduction starts at "
                                         "position 6"):
        compile_chain(config, layers, x)


@pytest.mark.parametrize("buffer", [0, 1], ids=["A", "B"])
def test_a_streamed_operand_loads_once_per_group_of_blocks(buffer) -> None:
    """One operand resident, the other too big for its buffer but each group of blocks' tiles
    of it (B: a column of blocks, A: a row) fitting half of it: the blocks of a group run
    together and load each of their tiles of it once, into the group's half; the result is the
    same and the tokens order every access."""
    values, indices, b = _operands(INT8, 12, 9, 48, 13, NMPattern(2, 4))
    args = (values, indices, b, NMPattern(2, 4), Dataflow.OS)
    big = compile_gemm(INT8.replace(a_rows=512, b_rows=512), *args)

    def operand(t):
        return t.acts if buffer else t.weights

    def group_of(t):
        return t.col0 if buffer else t.row0

    per_group: dict[int, dict[str, int]] = {}
    for t in big.tiles:
        per_group.setdefault(group_of(t), {})[repr(operand(t))] = len(operand(t))
    widest = max(sum(g.values()) for g in per_group.values())
    total = sum(len(operand(t)) for t in {repr(operand(t)): t for t in big.tiles}.values())
    name = "b_rows" if buffer else "a_rows"
    config = INT8.replace(a_rows=512, b_rows=512).replace(**{name: 2 * widest})
    assert total > 2 * widest and len(per_group) > 2  # the operand does not fit whole
    compiled = compile_gemm(config, *args)
    loads = sum(1 for w in compiled.program
                if decode(w)[0] == Opcode.LOAD and decode(w)[1]["buffer"] == buffer)
    assert loads == sum(len(g) for g in per_group.values()) < len(compiled.tiles)
    groups = [group_of(t) for t in compiled.tiles]
    assert groups == sorted(groups)  # the blocks of one group together
    assert torch.equal(compiled.read_output(_run(compiled).dram), _golden(compiled, *args[:4]))
    _check_schedules(compiled)

