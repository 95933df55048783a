"""Tests of the SAT system's program-level golden model (:mod:`sparsa.models.golden.sat_system`):
every fault code on a directed program, with what ran before it kept and nothing after it, the
STORE conversions against a direct reference, the DRAM layout of transfers, the answer of a
command whose indices the array masks, GENERATE's FF and BP copies against a direct reference,
and the token checker."""

import random

import numpy as np
import pytest
import torch

from sparsa.config.dram_layout import pack_rows
from sparsa.config.formats import NumberFormat
from sparsa.config.presets import SAT_SYSTEM_CONFIGS
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern
from sparsa.config.sat_system import FIELDS, Fault, Opcode, SatSystemConfig, StoreMode, Unit, encode
from sparsa.dataflow.sat_program import (
    CompiledGemm,
    compile_gemm,
    compile_generated_gemm,
    pack_dense_tile,
)
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.hw.sat.sat_array import acts_layout, weights_layout
from sparsa.models.golden.floats import to_bits
from sparsa.models.golden.sat import compressed_matmul, nm_generate, tile_answer
from sparsa.models.golden.sat_system import (
    activation_rows,
    convert_entries,
    expand_rows,
    generate_block,
    generate_extent,
    load_bits,
    pack_transfer,
    row_bits,
    run_program,
    store_rows,
    token_problems,
    transfer_bytes,
    unit_of,
    unpack_transfer,
)

CONFIG = SAT_SYSTEM_CONFIGS["r4c4-int8-w64"]
SORE4 = SAT_SYSTEM_CONFIGS["r4c4-int8-w64-sore4"]  # M = L = 4, CONFIG otherwise
PROGRAM_AT = 0x8_0000  # where the directed programs lie, above every compiled image
SENTINEL = 0x9_0000  # where a STORE after the faulting instruction would write


def _gemm(seed: int = 5, resident: bool = False) -> CompiledGemm:
    """A 2:4 OS GEMM of several tiles and blocks, stored RAW; streamed unless ``resident``
    (every tile loads both operands into the halves)."""
    rng = torch.Generator().manual_seed(seed)
    w = torch.randint(-128, 128, (6, 40), generator=rng)
    b = torch.randint(-128, 128, (40, 5), generator=rng)
    values, indices = nm_generate(w, NMPattern(2, 4))
    return compile_gemm(CONFIG, values, indices, b, NMPattern(2, 4), Dataflow.OS,
                        resident=resident)


def _generated(seed: int = 5) -> CompiledGemm:
    """A 2:4 OS GEMM of several tiles and blocks on SORE4, its weights generated (FF)."""
    rng = torch.Generator().manual_seed(seed)
    w = torch.randint(-128, 128, (6, 40), generator=rng)
    b = torch.randint(-128, 128, (40, 5), generator=rng)
    return compile_generated_gemm(SORE4, w, b, NMPattern(2, 4), Dataflow.OS, BdwpPass.FF)


def _run(compiled: CompiledGemm, program: list[int], *, addr: int = PROGRAM_AT,
         length: int | None = None):
    config = compiled.config
    dram = compiled.dram(config.dram_bytes)
    dram[addr : addr + transfer_bytes(config, len(program), 128)] = pack_transfer(
        config, program, 128)
    return run_program(config, bytes(dram[: config.dram_bytes]), addr,
                       len(program) if length is None else length)


STORE_AFTER = encode(Opcode.STORE, mode=0, row=0, rows=1, addr=SENTINEL)
# Malformed instructions, each with the fault it raises.
BAD = {
    "unknown opcode": (encode(Opcode.END) | 0xB, Fault.OPCODE),
    "LOAD past dram": (encode(Opcode.LOAD, rows=1, addr=CONFIG.dram_bytes - 8, buffer=1),
                       Fault.ADDRESS),
    "LOAD unaligned": (encode(Opcode.LOAD, rows=1, addr=4), Fault.ADDRESS),
    "STORE past dram": (encode(Opcode.STORE, rows=1, addr=CONFIG.dram_bytes - 8),
                        Fault.ADDRESS),
    "LOAD no rows": (encode(Opcode.LOAD, rows=0), Fault.BUFFER),
    "LOAD past A": (encode(Opcode.LOAD, row=60, rows=5), Fault.BUFFER),
    "GEMM past A": (encode(Opcode.GEMM, length=4, rows=4, a_row=61), Fault.BUFFER),
    "GEMM past B": (encode(Opcode.GEMM, pattern=1, length=4, rows=4, b_row=63), Fault.BUFFER),
    "GEMM past out": (encode(Opcode.GEMM, dataflow=1, length=8, rows=4, out_row=9),
                      Fault.BUFFER),
    "STORE past out": (encode(Opcode.STORE, row=15, rows=2), Fault.BUFFER),
    "STORE no rows": (encode(Opcode.STORE, rows=0), Fault.BUFFER),
    "GEMM unknown pattern": (encode(Opcode.GEMM, pattern=3, length=4, rows=4), Fault.GEMM),
    "GEMM no length": (encode(Opcode.GEMM, length=0, rows=4), Fault.GEMM),
    "GEMM no rows": (encode(Opcode.GEMM, length=4, rows=0), Fault.GEMM),
    "GEMM too many rows": (encode(Opcode.GEMM, length=4, rows=5), Fault.GEMM),
    "GEMM OS too long": (encode(Opcode.GEMM, length=17, rows=4), Fault.GEMM),
    "GEMM OS not whole groups": (encode(Opcode.GEMM, pattern=1, length=3, rows=4), Fault.GEMM),
    "GEMM WS not whole groups": (encode(Opcode.GEMM, dataflow=1, pattern=2, length=4, rows=3),
                                 Fault.GEMM),
    "GEMM WS length past the field": (encode(Opcode.GEMM, dataflow=1, length=33, rows=4),
                                      Fault.GEMM),
    "STORE FP16 on integers": (encode(Opcode.STORE, mode=StoreMode.FP16, rows=1),
                               Fault.STORE_MODE),
    "STORE unknown mode": (encode(Opcode.STORE, mode=9, rows=1), Fault.STORE_MODE),
    "STORE RAW shifted": (encode(Opcode.STORE, mode=StoreMode.RAW, shift=1, rows=1),
                          Fault.STORE_MODE),
    "STORE INT8 shift of out_width": (encode(Opcode.STORE, mode=StoreMode.INT8, shift=32,
                                             rows=1), Fault.STORE_MODE),
    "STORE group in RAW": (encode(Opcode.STORE, mode=StoreMode.RAW, group=1, rows=1),
                           Fault.STORE_MODE),
    "STORE group in INT16": (encode(Opcode.STORE, mode=StoreMode.INT16, group=4, rows=1),
                             Fault.STORE_MODE),
    "STORE group no pattern has": (encode(Opcode.STORE, mode=StoreMode.INT8, group=3, rows=1),
                                   Fault.STORE_MODE),
    "STORE group past dram": (encode(Opcode.STORE, mode=StoreMode.INT8, group=1, rows=3,
                                     addr=CONFIG.dram_bytes - 8), Fault.ADDRESS),
    "LOAD slots into A": (encode(Opcode.LOAD, slots=1, rows=1), Fault.BUFFER),
    "LOAD slots no pattern has": (encode(Opcode.LOAD, buffer=1, slots=2, rows=1),
                                  Fault.BUFFER),
    "LOAD compact past dram": (encode(Opcode.LOAD, buffer=1, slots=4, rows=3,
                                      addr=CONFIG.dram_bytes - 8), Fault.ADDRESS),
    "LOAD pops from before": (encode(Opcode.LOAD, rows=1, pop_prev=1), Fault.TOKEN),
    "LOAD pushes to before": (encode(Opcode.LOAD, rows=1, push_prev=1), Fault.TOKEN),
    "STORE pops from after": (encode(Opcode.STORE, rows=1, pop_next=1), Fault.TOKEN),
    "STORE pushes to after": (encode(Opcode.STORE, rows=1, push_next=1), Fault.TOKEN),
    "END with a token": (encode(Opcode.END, push_next=1), Fault.TOKEN),
    "GENERATE without a SORE": (encode(Opcode.GENERATE, n=2, addr=0x100), Fault.SORE),
}
# Malformed GENERATEs on SORE4 (M = L = 4, 4 lanes, 64 A rows): each with its fault, the checks
# in order TOKEN, SORE, BUFFER, ADDRESS.
BAD_GENERATE = {
    "GENERATE n = 0": (encode(Opcode.GENERATE, n=0, addr=0x100), Fault.SORE),
    "GENERATE n = M": (encode(Opcode.GENERATE, n=4, addr=0x100), Fault.SORE),
    "GENERATE n = 15": (encode(Opcode.GENERATE, copy=1, n=15, addr=0x100), Fault.SORE),
    "GENERATE FF lanes past the array": (encode(Opcode.GENERATE, n=2, lane=1, addr=0x100),
                                         Fault.SORE),
    "GENERATE BP lanes past the array": (encode(Opcode.GENERATE, copy=1, n=1, lane=255,
                                                addr=0x100), Fault.SORE),
    "GENERATE FF rows past A": (encode(Opcode.GENERATE, n=3, row=62, addr=0x100),
                                Fault.BUFFER),
    "GENERATE BP rows past A": (encode(Opcode.GENERATE, copy=1, n=2, row=63, addr=0x100),
                                Fault.BUFFER),
    "GENERATE past dram": (encode(Opcode.GENERATE, n=2, addr=SORE4.dram_bytes - 8),
                           Fault.ADDRESS),
    "GENERATE unaligned": (encode(Opcode.GENERATE, n=2, addr=0x104), Fault.ADDRESS),
    "GENERATE pops from before": (encode(Opcode.GENERATE, n=2, pop_prev=1), Fault.TOKEN),
    "GENERATE pushes to before": (encode(Opcode.GENERATE, n=2, push_prev=1), Fault.TOKEN),
    "GENERATE token before SORE": (encode(Opcode.GENERATE, n=0, pop_prev=1), Fault.TOKEN),
    "GENERATE SORE before BUFFER": (encode(Opcode.GENERATE, n=0, row=63), Fault.SORE),
    "GENERATE BUFFER before ADDRESS": (encode(Opcode.GENERATE, n=2, row=63, addr=4),
                                       Fault.BUFFER),
}


@pytest.mark.parametrize("name", [*BAD, *BAD_GENERATE])
def test_a_bad_instruction_stops_the_program_after_what_came_before(name: str) -> None:
    compiled = _generated() if name in BAD_GENERATE else _gemm()
    word, fault = {**BAD, **BAD_GENERATE}[name]
    body = list(compiled.program[:-1])  # the whole GEMM but its END
    run = _run(compiled, [*body, word, STORE_AFTER, encode(Opcode.END)])
    assert (run.fault, run.fault_index, run.stopped_at) == (fault, len(body), len(body))
    clean = _run(compiled, [*body, encode(Opcode.END)])
    assert clean.fault is Fault.NONE and clean.fault_index == 0
    # Everything before the bad instruction took effect, nothing after it did.
    assert torch.equal(compiled.read_output(run.dram), compiled.read_output(clean.dram))
    assert run.dram[:PROGRAM_AT] == clean.dram[:PROGRAM_AT]
    assert run.dram[SENTINEL:] == bytes(len(run.dram) - SENTINEL)
    assert run.bytes_written == clean.bytes_written
    assert run.bytes_read == clean.bytes_read + 32  # two instructions more
    assert run.weight_buffer == clean.weight_buffer


def test_a_bad_first_instruction_changes_nothing() -> None:
    compiled = _gemm()
    run = _run(compiled, [BAD["LOAD past A"][0], *compiled.program])
    assert (run.fault, run.fault_index) == (Fault.BUFFER, 0)
    assert run.bytes_written == 0 and compiled.read_output(run.dram).count_nonzero() == 0


@pytest.mark.parametrize(("addr", "length", "fault", "index"), [
    (PROGRAM_AT, 0, Fault.PROGRAM, 0),  # no instruction
    (PROGRAM_AT, CONFIG.program_depth + 1, Fault.PROGRAM, 0),  # more than the controller holds
    (PROGRAM_AT + 4, None, Fault.ADDRESS, 0),  # not word-aligned
    (CONFIG.dram_bytes - 16, 2, Fault.ADDRESS, 0),  # its second instruction past the DRAM
])
def test_the_program_itself_is_checked_first(addr, length, fault, index) -> None:
    run = _run(_gemm(), [encode(Opcode.END)] * 2, addr=addr, length=length)
    assert (run.fault, run.fault_index, run.bytes_read, run.bytes_written) == (fault, index, 0, 0)


def test_a_program_without_end_stops_at_its_length() -> None:
    compiled = _gemm()
    body = list(compiled.program[:-1])
    run = _run(compiled, body)
    assert (run.fault, run.fault_index) == (Fault.PROGRAM, len(body))
    # Its instructions all ran.
    assert torch.equal(compiled.read_output(run.dram),
                       compiled.read_output(_run(compiled, [*body, encode(Opcode.END)]).dram))


def test_end_stops_a_program_that_continues() -> None:
    compiled = _gemm()
    run = _run(compiled, [encode(Opcode.END), *compiled.program])
    assert (run.fault, run.stopped_at, run.bytes_written) == (Fault.NONE, 0, 0)
    assert run.bytes_read == transfer_bytes(CONFIG, compiled.program_len + 1, 128)


@pytest.mark.parametrize("resident", [False, True], ids=["streamed", "resident"])
def test_counts_whole_words_moved(resident: bool) -> None:
    compiled = _gemm(resident=resident)
    run = run_program(CONFIG, bytes(compiled.dram()), compiled.program_addr,
                      compiled.program_len)
    # Streamed, every tile loads its operands; resident, each distinct operand tile once.
    a_tiles = {repr(t.weights) if resident else i: len(t.weights)
               for i, t in enumerate(compiled.tiles)}
    b_tiles = {repr(t.acts) if resident else i: len(t.acts)
               for i, t in enumerate(compiled.tiles)}
    loads = (sum(transfer_bytes(CONFIG, n, row_bits(CONFIG, "a")) for n in a_tiles.values())
             + sum(transfer_bytes(CONFIG, n, load_bits(CONFIG, 1, 4))  # compact 2:4 rows
                   for n in b_tiles.values()))
    program = transfer_bytes(CONFIG, compiled.program_len, 128)
    assert run.bytes_read == program + loads
    assert run.bytes_written == sum(transfer_bytes(CONFIG, b.rows, row_bits(CONFIG, "store"))
                                    for b in compiled.blocks)
    assert len(run.dram) == len(compiled.image)  # no STORE wrote past the image


def test_run_program_refuses_impossible_inputs() -> None:
    with pytest.raises(ValueError, match="more than dram_bytes"):
        run_program(CONFIG, bytes(CONFIG.dram_bytes + 1), 0, 1)
    with pytest.raises(ValueError, match="must not be negative"):
        run_program(CONFIG, b"", -8, 1)


def test_gemm_accumulates_integers_wrapping_at_out_width() -> None:
    # out_width = acc_width = 20: one OS tile of 16 entries of -128 * -128 sums to 2 ** 18;
    # twice that wraps to -2 ** 19, which INT16 saturates to -32768.
    config = CONFIG.replace(out_width=20)
    lanes = max(config.array.rows, config.array.cols)
    weights = packer(weights_layout(config.array))([{"value": -128, "index": 0}] * lanes)
    acts = packer(acts_layout(config.array))([[-128] * 8] * lanes)
    dram = bytearray(0x2000)
    dram[0x1000 : 0x1000 + 16 * 8] = pack_transfer(config, [weights] * 16, row_bits(config, "a"))
    dram[0x1800 : 0x1800 + 16 * 32] = pack_transfer(config, [acts] * 16, row_bits(config, "b"))
    program = [encode(Opcode.LOAD, buffer=0, rows=16, addr=0x1000),
               encode(Opcode.LOAD, buffer=1, rows=16, addr=0x1800),
               encode(Opcode.GEMM, length=16, rows=1),
               encode(Opcode.STORE, rows=1, addr=0x1E00),
               encode(Opcode.GEMM, length=16, rows=1, accumulate=1),
               encode(Opcode.STORE, rows=1, addr=0x1E10),
               encode(Opcode.STORE, mode=StoreMode.INT16, rows=1, addr=0x1E20),
               encode(Opcode.END)]
    dram[0 : transfer_bytes(config, len(program), 128)] = pack_transfer(config, program, 128)
    run = run_program(config, bytes(dram), 0, len(program))
    assert run.fault is Fault.NONE
    assert unpack_transfer(run.dram[0x1E00 : 0x1E10], 20, 4) == [1 << 18] * 4
    assert unpack_transfer(run.dram[0x1E10 : 0x1E20], 20, 4) == [1 << 19] * 4  # -2 ** 19
    assert unpack_transfer(run.dram[0x1E20 : 0x1E28], 16, 4) == [0x8000] * 4


def test_int_stores_round_half_up_and_saturate() -> None:
    seed = 20261207
    rng = np.random.default_rng(seed)
    width = CONFIG.out_width
    acc = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 300),
                          [5, -5, 3, -3, 1, -1, 0, (1 << 31) - 1, -(1 << 31)]])
    entries = [int(a) % (1 << width) for a in acc]
    for mode, bits in ((StoreMode.INT8, 8), (StoreMode.INT16, 16)):
        for shift in (0, 1, 4, 13, 31):
            rounded = acc if shift == 0 else (acc + (1 << (shift - 1))) >> shift
            want = np.clip(rounded, -(1 << (bits - 1)), (1 << (bits - 1)) - 1) % (1 << bits)
            got = convert_entries(CONFIG, mode, shift, entries)
            assert got == want.tolist(), f"seed={seed} {mode.name} shift {shift}"
    # Ties go up: -2.5 -> -2, 2.5 -> 3, -1.5 -> -1.
    assert convert_entries(CONFIG, StoreMode.INT8, 1, [(-5) % (1 << 32), 5, (-3) % (1 << 32)]
                           ) == [(-2) % 256, 3, (-1) % 256]


def test_store_refuses_modes_the_format_cannot_take() -> None:
    with pytest.raises(ValueError, match="int8 array stores RAW, INT8, INT16, not"):
        convert_entries(CONFIG, StoreMode.BF16, 0, [0])
    with pytest.raises(ValueError, match="shift of INT8 must be from 0 to 31, not 32"):
        convert_entries(CONFIG, StoreMode.INT8, 32, [0])


def test_transfers_are_the_dram_layout() -> None:
    seed = 20261207
    rng = random.Random(seed)
    for _ in range(50):
        bits, count = rng.randrange(1, 300), rng.randrange(1, 20)
        rows = [rng.randrange(1 << bits) for _ in range(count)]
        words = pack_rows(rows, bits, 64)
        data = pack_transfer(CONFIG, rows, bits)
        assert data == b"".join(w.to_bytes(8, "little") for w in words), f"seed={seed}"
        assert len(data) == transfer_bytes(CONFIG, count, bits)
        assert unpack_transfer(data, bits, count) == rows, f"seed={seed}"
    with pytest.raises(ValueError, match="row 1 = 8 does not fit 3 bits"):
        pack_transfer(CONFIG, [1, 8], 3)
    with pytest.raises(ValueError, match="8 words of 8 bits hold fewer than 3 rows of 30 bits"):
        unpack_transfer(bytes(8), 30, 3)
    with pytest.raises(ValueError, match="rows are one of"):
        row_bits(CONFIG, "c")


def test_the_answer_masks_indices_to_the_pattern_as_the_array_does() -> None:
    # A 2:4 OS tile of one row on an array whose widest pattern is 2:8: index fields 5 and 6
    # read as 1 and 2, and a group may even repeat an index.
    arr = CONFIG.array
    lanes = max(arr.rows, arr.cols)
    zero = {"value": 0, "index": 0}
    weights = [[{"value": 5, "index": 5}] + [zero] * (lanes - 1),
               [{"value": -2, "index": 6}] + [zero] * (lanes - 1)]
    acts = [[[10, 20, 30, 40, 99, 99, 99, 99]] * lanes]
    got = tile_answer(arr, Dataflow.OS, 1, 2, 1, weights, acts)
    assert got == [[5 * 20 - 2 * 30] * arr.cols]
    weights[1][0] = {"value": -2, "index": 1}  # the same position twice: both count
    assert tile_answer(arr, Dataflow.OS, 1, 2, 1, weights, acts) == [[60] * arr.cols]
    with pytest.raises(ValueError, match="takes 2 weights and 1 acts beats, not 1 and 1"):
        tile_answer(arr, Dataflow.OS, 1, 2, 1, weights[:1], acts)
    with pytest.raises(ValueError, match="the array rejects the command"):
        tile_answer(arr, Dataflow.OS, 1, 3, 1, weights, acts)


def test_token_problems_finds_a_missing_token_and_a_hazard() -> None:
    compiled = _gemm()
    program = list(compiled.program)
    assert token_problems(CONFIG, program) == []
    # The second LOAD pair overwrites half 0 of A and B before GEMM 0 has read it: drop the
    # pop of LOAD A of tile 2.
    third_load = [i for i, w in enumerate(program) if w & 0xF == Opcode.LOAD][4]
    unpopped = [*program[:third_load], program[third_load] & ~(1 << 5),
                *program[third_load + 1 :]]
    problems = token_problems(CONFIG, unpopped)
    assert any("share A rows" in p for p in problems), problems
    assert any("tokens from GEMM to LOAD are never popped" in p for p in problems), problems
    # A pop whose push comes later could deadlock an in-order dispatcher.
    early = [program[2], *program[:2], *program[3:]]
    assert any("no earlier instruction pushes" in p for p in token_problems(CONFIG, early))
    assert token_problems(CONFIG, [BAD["GEMM no rows"][0]]) == [
        "instruction 0 fails the GEMM check"]


def test_float_outputs_add_as_fp32() -> None:
    config = CONFIG.replace(array=CONFIG.array.replace(dtype=NumberFormat.FP16))
    rng = np.random.default_rng(4)
    w = torch.from_numpy(to_bits(rng.standard_normal((3, 48)), NumberFormat.FP16).astype(
        np.int64))
    b = torch.from_numpy(to_bits(rng.standard_normal((48, 2)), NumberFormat.FP16).astype(
        np.int64))
    compiled = compile_gemm(config, w, w, b, None, Dataflow.OS)
    run = run_program(config, bytes(compiled.dram()), compiled.program_addr,
                      compiled.program_len)
    assert len(compiled.tiles) == 3  # 48 entries in chunks of 16, added as FP32
    want = compressed_matmul(w, w, b, None, config.array, chunk=16)
    assert torch.equal(compiled.read_output(run.dram), want)


def test_instruction_fields_do_not_overlap() -> None:
    # Every field of an instruction decodes as it was encoded.
    for opcode, fields in FIELDS.items():
        taken = 0
        for name, (lsb, width) in fields.items():
            bits = ((1 << width) - 1) << lsb
            assert not taken & bits, f"{opcode.name}.{name} overlaps another field"
            taken |= bits


# ---- GENERATE -------------------------------------------------------------------------------

R8C8 = SAT_SYSTEM_CONFIGS["r8c8-int8-w128-sore8"]
GENERATE_CONFIGS = {
    "r4c4-sore4": SORE4,  # M = L = lanes = 4
    "r8c8-sore8": R8C8,  # M = L = lanes = 8
    "r8c8-m4-l8": R8C8.replace(sore_m=4),  # two FF groups per channel
    "r8c8-m4-l4": R8C8.replace(sore_m=4, sore_lanes=4),  # a SORE narrower than the array
    "r4c4-fp16-sore4": SORE4.replace(array=SORE4.array.replace(dtype=NumberFormat.FP16)),
}


def _reference(config: SatSystemConfig, copy: int, n: int, tile: list[list[int]]):
    """The entries a GENERATE writes (rows x lanes of (value, index)), straight from
    nm_generate: FF, each channel's row compressed along its positions; BP, each position's
    column compressed along the channels."""
    pattern, dtype = NMPattern(n, config.sore_m), config.array.dtype
    t = torch.tensor(tile, dtype=torch.int64)
    if copy == BdwpPass.FF:
        per_channel = [nm_generate(t[i : i + 1], pattern, dtype) for i in range(len(tile))]
        return [[{"value": int(v[0, e]), "index": int(x[0, e])} for v, x in per_channel]
                for e in range(per_channel[0][0].shape[1])]
    values, indices = nm_generate(t.T, pattern, dtype)
    return [[{"value": int(values[pos, e]), "index": int(indices[pos, e])}
             for pos in range(t.shape[1])] for e in range(n)]


def _tile_bytes(config: SatSystemConfig, tile: list[list[int]]) -> bytes:
    """The dense tile as GENERATE reads it: M rows, weight l of a row at bit l * W."""
    width = config.array.dtype.width
    rows = [sum((w % (1 << width)) << (pos * width) for pos, w in enumerate(row)) for row in tile]
    return pack_transfer(config, rows, config.sore_lanes * width)


def _draw_tile(config: SatSystemConfig, rng: np.random.Generator) -> list[list[int]]:
    """An M x L tile: half the time from a few values (ties, signs, the extremes), else any."""
    shape = (config.sore_m, config.sore_lanes)
    dtype = config.array.dtype
    if dtype.is_float:
        pool = to_bits(np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, np.inf, -np.inf, 1e-7]), dtype)
        anything = to_bits(rng.standard_normal(shape) * 100, dtype)
    else:
        low, high = dtype.range
        pool = np.array([low, low + 1, -5, -1, 0, 1, 5, high])
        anything = rng.integers(low, high + 1, shape)
    tile = rng.choice(pool, shape) if rng.random() < 0.5 else anything
    return tile.astype(np.int64).tolist()


def test_generate_block_directed() -> None:
    # Channel 0 keeps -128 over -3 (|-128| = 128); channel 1 is all zeros and channel 2 all
    # ties: the lowest indices win. BP groups are the columns.
    tile = [[1, -3, 2, -128], [0, 0, 0, 0], [5, 5, -5, 5], [7, 1, 2, 3]]

    def entries(*pairs):
        return [{"value": v, "index": i} for v, i in pairs]

    assert generate_block(SORE4, BdwpPass.FF, 2, tile) == [
        entries((-3, 1), (0, 0), (5, 0), (7, 0)),
        entries((-128, 3), (0, 1), (5, 1), (3, 3)),
    ]
    assert generate_block(SORE4, BdwpPass.BP, 2, tile) == [
        entries((5, 2), (-3, 0), (2, 0), (-128, 0)),
        entries((7, 3), (5, 2), (-5, 2), (5, 2)),
    ]
    assert generate_block(SORE4, BdwpPass.BP, 1, tile) == [
        entries((7, 3), (5, 2), (-5, 2), (-128, 0))]
    assert generate_extent(SORE4, BdwpPass.FF, 3) == (4, 3)
    assert generate_extent(GENERATE_CONFIGS["r8c8-m4-l8"], BdwpPass.FF, 3) == (4, 6)
    assert generate_extent(GENERATE_CONFIGS["r8c8-m4-l8"], BdwpPass.BP, 3) == (8, 3)


@pytest.mark.parametrize("name", list(GENERATE_CONFIGS))
def test_generate_writes_its_copy_into_the_a_lanes(name: str) -> None:
    config = GENERATE_CONFIGS[name]
    seed = 20261207 + list(GENERATE_CONFIGS).index(name)
    rng = np.random.default_rng(seed)
    a_bits = row_bits(config, "a")
    unpack = unpacker(weights_layout(config.array))
    lanes = max(config.array.rows, config.array.cols)
    prefill = [int.from_bytes(rng.bytes(-(-a_bits // 8)), "little") % (1 << a_bits)
               for _ in range(config.a_rows)]  # any bits are entries: the untouched lanes
    dram = bytearray(0x4000)
    data = pack_transfer(config, prefill, a_bits)
    dram[0x1000 : 0x1000 + len(data)] = data
    program = [encode(Opcode.LOAD, rows=config.a_rows, addr=0x1000)]
    want = [unpack(row) for row in prefill]
    tile_size = transfer_bytes(config, config.sore_m, config.sore_lanes * config.array.dtype.width)
    for g in range(12):
        copy, n = int(rng.integers(2)), int(rng.integers(1, config.sore_m))
        span, count = generate_extent(config, copy, n)
        # The last lane and row a GENERATE may reach, and anywhere before them.
        lane = int(rng.choice([0, lanes - span, rng.integers(lanes - span + 1)]))
        row = int(rng.choice([0, config.a_rows - count, rng.integers(config.a_rows - count + 1)]))
        tile = _draw_tile(config, rng)
        addr = 0x3000 + g * tile_size
        dram[addr : addr + tile_size] = _tile_bytes(config, tile)
        program.append(encode(Opcode.GENERATE, copy=copy, n=n, lane=lane, row=row, addr=addr))
        for t, entries in enumerate(_reference(config, copy, n, tile)):
            want[row + t][lane : lane + span] = entries
    program.append(encode(Opcode.END))
    dram[: transfer_bytes(config, len(program), 128)] = pack_transfer(config, program, 128)
    run = run_program(config, bytes(dram), 0, len(program))
    assert run.fault is Fault.NONE, f"seed={seed}"
    got = [unpack(row) for row in run.weight_buffer]
    for r, (g_row, w_row) in enumerate(zip(got, want, strict=True)):
        assert g_row == w_row, f"seed={seed} A row {r}"
    assert run.bytes_read == (transfer_bytes(config, len(program), 128) + len(data)
                              + 12 * tile_size), f"seed={seed}"


def test_generate_helpers_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"no SORE \(sore_lanes = 0\)"):
        generate_extent(CONFIG, 0, 2)
    with pytest.raises(ValueError, match=r"no SORE \(sore_lanes = 0\)"):
        row_bits(CONFIG, "tile")
    with pytest.raises(ValueError, match="copy must be 0 \\(FF\\) or 1 \\(BP\\), not 2"):
        generate_extent(SORE4, 2, 2)
    with pytest.raises(ValueError, match="n must be from 1 to M - 1 = 3, not 4"):
        generate_block(SORE4, 0, 4, [[0] * 4] * 4)
    with pytest.raises(ValueError, match="the tile must be M x L = 4 x 4, not 3 x 4"):
        generate_block(SORE4, 0, 2, [[0] * 4] * 3)
    with pytest.raises(ValueError, match="END runs on no unit"):
        unit_of(Opcode.END)
    assert [unit_of(op) for op in (Opcode.LOAD, Opcode.GENERATE, Opcode.GEMM, Opcode.STORE)] == [
        Unit.LOAD, Unit.LOAD, Unit.GEMM, Unit.STORE]
    assert row_bits(SORE4, "tile") == 32


def test_the_dense_tile_layout_is_the_compilers() -> None:
    seed = 20261207
    rng = np.random.default_rng(seed)
    for config in GENERATE_CONFIGS.values():
        tile = _draw_tile(config, rng)
        assert pack_dense_tile(config, torch.tensor(tile)) == _tile_bytes(config, tile), (
            f"seed={seed}")


def test_generate_tokens_are_loads() -> None:
    compiled = _generated()
    program = list(compiled.program)
    assert token_problems(SORE4, program) == []
    # The first GENERATE of tile 2 overwrites half 0 of A before GEMM 0 has read it: drop its
    # pop.
    gemms = [i for i, w in enumerate(program) if w & 0xF == Opcode.GEMM]
    first = next(i for i in range(gemms[1] + 1, len(program))
                 if program[i] & 0xF == Opcode.GENERATE)
    assert program[first] >> 5 & 1
    unpopped = [*program[:first], program[first] & ~(1 << 5), *program[first + 1 :]]
    problems = token_problems(SORE4, unpopped)
    assert any("share A rows" in p and "(GENERATE)" in p for p in problems), problems
    assert any("tokens from GEMM to LOAD are never popped" in p for p in problems), problems


def test_store_writes_activation_rows_with_relu() -> None:
    """A STORE with a group writes the rows as the next layer's compact activation rows (row s
    of a group in slot s of each lane, lanes past C zero, a short last one), each value
    requantized and negative ones zeroed by ReLU; a LOAD with those slots expands them into
    beats, the slots past them zero."""
    rows = [[-300, 5, 100, -1], [7, -8, 255, 64], [1000, 0, -2, 3]]
    entries = [[v & 0xFFFFFFFF for v in row] for row in rows]
    requant = [[min(max((v + 1) >> 1, -128), 127) for v in row] for row in rows]  # shift 1
    unpack = unpacker(acts_layout(CONFIG.array))
    for relu in (False, True):
        want_rows = [[0 if relu and v < 0 else v for v in row] for row in requant]
        for group in CONFIG.store_groups():
            stored = activation_rows(CONFIG, group, [convert_entries(CONFIG, StoreMode.INT8, 1, row,
                                                               relu) for row in entries])
            assert len(stored) == -(-3 // group)
            for j, beat in enumerate(map(unpack, expand_rows(CONFIG, group, stored))):
                for c, lane in enumerate(beat):
                    for s, value in enumerate(lane):
                        r = j * group + s
                        inside = s < group and r < 3 and c < 4
                        assert value == (want_rows[r][c] if inside else 0), (relu, group, j, c)
    assert store_rows(CONFIG, StoreMode.INT8, 4, 9) == (3, 4 * 4 * 8)
    assert store_rows(CONFIG, StoreMode.INT8, 0, 9) == (9, 32)
    assert load_bits(CONFIG, 1, 0) == row_bits(CONFIG, "b") == 4 * 8 * 8
    assert (load_bits(CONFIG, 1, 1), load_bits(CONFIG, 0, 0)) == (32, row_bits(CONFIG, "a"))
    with pytest.raises(ValueError, match=r"group is 0 \(rows\) or one of \(1, 4, 8\)"):
        store_rows(CONFIG, StoreMode.INT8, 3, 9)
    with pytest.raises(ValueError, match=r"slots are 0 .* not 1 into A"):
        load_bits(CONFIG, 0, 1)


def test_float_relu_zeroes_negatives_and_keeps_nan() -> None:
    fp16 = CONFIG.replace(array=CONFIG.array.replace(dtype=NumberFormat.FP16))
    # FP32 entries: -1.5, -0.0, -Inf, a negative NaN, +2, +Inf
    entries = [0xBFC00000, 0x80000000, 0xFF800000, 0xFFC00001, 0x40000000, 0x7F800000]
    got = convert_entries(fp16, StoreMode.FP16, 0, entries, relu=True)
    assert got == [0, 0, 0, 0x7E00, 0x4000, 0x7C00]  # the NaN rounds to the canonical one
    raw = convert_entries(fp16, StoreMode.RAW, 0, entries, relu=True)
    assert raw == [0, 0, 0, 0xFFC00001, 0x40000000, 0x7F800000]


def test_sync_runs_on_gemms_unit_and_orders_a_load_after_a_store() -> None:
    assert unit_of(Opcode.SYNC) is Unit.GEMM
    store = encode(Opcode.STORE, mode=StoreMode.INT8, group=1, rows=1, addr=0x100,
                   push_prev=1)
    load = encode(Opcode.LOAD, buffer=1, rows=1, addr=0x100)
    synced = [store, encode(Opcode.SYNC, pop_next=1, push_prev=1),
              encode(Opcode.LOAD, buffer=1, rows=1, addr=0x100, pop_next=1),
              encode(Opcode.END)]
    assert token_problems(CONFIG, synced) == []
    problems = token_problems(CONFIG, [encode(Opcode.STORE, mode=StoreMode.INT8, group=1,
                                              rows=1, addr=0x100), load, encode(Opcode.END)])
    assert any("DRAM bytes" in p for p in problems), problems
