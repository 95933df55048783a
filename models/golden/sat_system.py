"""Bit-exact program-level golden model of the SAT accelerator system
(:mod:`sparsa.config.sat_system`).

:func:`run_program` runs a program on a DRAM image the way the system's RTL must, instruction by
instruction in program order: the units' concurrency, with correctly placed tokens, gives the
same results as this sequential order, so tokens change nothing here (:func:`token_problems`
checks that a program's tokens make it so).

**Checks**, in this order; the first that fails stops the program with its :class:`Fault`
(the instructions before it have taken effect, none after it):

* the program: ``program_len`` 0 or above ``program_depth`` (PROGRAM), then ``program_addr`` not
  word-aligned or the program's words past ``dram_bytes`` (ADDRESS), both at index 0;
* per instruction: an unknown opcode (OPCODE); a token to or from no neighbour (TOKEN: LOAD's
  previous side, STORE's next side, any token on END); then by opcode

  - LOAD: ``slots`` other than 0 into A, or neither 0 nor one of ``config.store_groups()``,
    zero rows or rows past the buffer (BUFFER), the transfer not word-aligned or past
    ``dram_bytes`` (ADDRESS);
  - GEMM: an unknown pattern, a length or a row count of zero, more rows than the array has, a
    length the command beat cannot carry, or a command the array rejects (GEMM,
    :func:`sparsa.models.golden.sat.is_rejected`); then operand or output rows past their
    buffers (BUFFER);
  - STORE: a mode the format cannot take, a shift other than 0 for RAW, FP16 and BF16, a
    shift of ``out_width`` or more for INT8 and INT16, or a ``group`` that is neither 0 nor one
    of ``config.store_groups()``, or a group with a mode other than the array's own format
    (STORE_MODE); zero rows or rows past the output buffer (BUFFER); the transfer (ADDRESS);
  - SYNC: none (its tokens may go to and come from both neighbours);
  - GENERATE (a LOAD-unit instruction: its tokens are LOAD's): a system without a SORE
    (``sore_lanes`` 0), ``n`` 0 or ``sore_m`` or more, or lanes past the array's max(R, C)
    (``lane`` + M for FF, ``lane`` + L for BP; SORE); rows past the weight buffer (``row`` +
    L / M x N for FF, ``row`` + N for BP; BUFFER); the transfer of the dense tile, M rows of
    L weights (ADDRESS);
* a program that runs out without END stops with PROGRAM at index ``program_len``.

**Effects.** A transfer of ``rows`` rows of ``row_bits`` bits is ``ceil(rows * row_bits /
data_width)`` whole words from its address, the rows packed from bit 0
(:mod:`sparsa.config.dram_layout`; words little-endian, so the transfer is one
little-endian bit stream). Rows: an A row is one ``weights`` beat of the array, a B row one
``acts`` beat (with ``slots`` k > 0, a compact row of k values per lane that LOAD expands:
:func:`expand_rows`), an output row C entries of ``out_width`` bits (entry c at bit
``c * out_width``), a STORE row C values of ``config.store_bits(mode)`` bits (with ``group``
g > 0, a compact activation row of g values per lane: :func:`activation_rows`). LOAD writes
rows into A (``buffer`` 0) or B (1). GEMM computes its tile's answer beats from the buffer rows
(:func:`sparsa.models.golden.sat.tile_answer`) and writes them (``accumulate`` 0) or adds them
(1) into the output rows from ``out_row``: integer entries are two's-complement ``out_width``-bit
patterns that add wrapping, floating-point ones FP32 patterns that add with
:func:`sparsa.models.golden.floats.fp32_add`. STORE converts each entry by its
:class:`sparsa.config.sat_system.StoreMode` (and ``relu``) and writes the rows, or with a
``group`` the compact activation rows of :func:`activation_rows`. SYNC changes nothing.
GENERATE reads a dense tile of M rows (``"tile"`` rows: L weights of the array's format,
weight l at bit ``l * W``, two's complement or bit patterns), compresses it as the SORE does
(:func:`sparsa.models.golden.sat.sore_tile`, copy ``copy`` with N = ``n``) and writes the
entries of :func:`generate_block` into the A rows from ``row`` and the lanes from ``lane``, the
index zero-extended to the array's index field; the other lanes of those rows keep their
entries. The DRAM read includes the whole program, read once before the first instruction.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sparsa.config.dram_layout import pack_bytes, unpack_bytes
from sparsa.config.formats import NumberFormat
from sparsa.config.sat import BdwpPass, Dataflow, SoreConfig
from sparsa.config.sat_system import (
    FIELDS,
    INSTRUCTION_BITS,
    Fault,
    Opcode,
    SatSystemConfig,
    StoreMode,
    Unit,
    decode,
)
from sparsa.hw.common.stream_codec import packer, unpacker
from sparsa.hw.sat import sore
from sparsa.hw.sat.sat_array import acts_layout, runtime_patterns, weights_layout
from sparsa.models.golden.floats import fp32_add, fp32_to_half
from sparsa.models.golden.sat import is_rejected, sore_tile, tile_answer, tile_beats

__all__ = [
    "SystemRun",
    "activation_rows",
    "check_store_mode",
    "convert_entries",
    "expand_rows",
    "generate_block",
    "generate_extent",
    "load_bits",
    "pack_compact",
    "pack_transfer",
    "row_bits",
    "run_program",
    "store_rows",
    "token_problems",
    "transfer_bytes",
    "unit_of",
    "unpack_compact",
    "unpack_transfer",
]


@dataclass(frozen=True)
class SystemRun:
    """What a program did.

    Attributes
    ----------
    dram : bytes
        The DRAM after the run (the image given, lengthened with zeros where a STORE wrote past
        its end).
    fault : Fault
        Why the program stopped (``Fault.NONE`` at its END).
    fault_index : int
        The ``error.index`` register: the index of the failing instruction (0 for the program's
        own checks), 0 with ``Fault.NONE``.
    stopped_at : int
        Index of the instruction the program stopped at: its END, the failing one,
        ``program_len`` for a program without END, 0 for the program's own checks.
    bytes_read, bytes_written : int
        Bytes moved from and to DRAM in whole words (the program included).
    weight_buffer : tuple of int
        The weight buffer's ``a_rows`` rows after the run, packed ``weights`` beats (zero where
        nothing wrote), for checking what LOAD and GENERATE put there.
    """

    dram: bytes
    fault: Fault
    fault_index: int
    stopped_at: int
    bytes_read: int
    bytes_written: int
    weight_buffer: tuple[int, ...]


def unit_of(opcode: Opcode) -> Unit:
    """The unit that runs ``opcode`` (GENERATE runs on LOAD's, SYNC on GEMM's).

    Raises
    ------
    ValueError
        For END, which no unit runs.
    """
    opcode = Opcode(opcode)
    if opcode is Opcode.END:
        raise ValueError("END runs on no unit; LOAD, GENERATE, GEMM, SYNC and STORE do")
    shared = {Opcode.GENERATE: Unit.LOAD, Opcode.SYNC: Unit.GEMM}
    return shared[opcode] if opcode in shared else Unit[opcode.name]


def _sore_config(config: SatSystemConfig) -> SoreConfig:
    if config.sore is None:
        raise ValueError("the system has no SORE (sore_lanes = 0), so no GENERATE tile rows")
    return config.sore


def row_bits(config: SatSystemConfig, what: str, mode: StoreMode = StoreMode.RAW) -> int:
    """Bits of one row of ``what``: ``"a"`` (a ``weights`` beat), ``"b"`` (an ``acts`` beat),
    ``"out"`` (C output entries), ``"store"`` (C values in ``mode``), ``"program"`` (one
    instruction) or ``"tile"`` (one row of a GENERATE's dense tile: ``sore_lanes`` weights).

    Raises
    ------
    ValueError
        For another ``what``, or ``"tile"`` on a system without a SORE.
    """
    sizes = {
        "a": lambda: weights_layout(config.array).size,
        "b": lambda: acts_layout(config.array).size,
        "out": lambda: config.array.cols * config.out_width,
        "store": lambda: config.array.cols * config.store_bits(mode),
        "program": lambda: INSTRUCTION_BITS,
        "tile": lambda: sore.weights_layout(_sore_config(config)).size,
    }
    if what not in sizes:
        raise ValueError(f"rows are one of {', '.join(map(repr, sizes))}, not {what!r}")
    return sizes[what]()


def store_rows(config: SatSystemConfig, mode: StoreMode, group: int, rows: int
               ) -> tuple[int, int]:
    """The rows a STORE of ``rows`` output rows writes and their bits: ``rows`` rows of C
    values in ``mode`` with ``group`` 0, else ``ceil(rows / group)`` activation beats.

    Raises
    ------
    ValueError
        For a ``group`` that is neither 0 nor one of ``config.store_groups()``.
    """
    if group == 0:
        return rows, row_bits(config, "store", mode)
    if group not in config.store_groups():
        raise ValueError(f"a STORE's group is 0 (rows) or one of {config.store_groups()} "
                         f"(activation rows), not {group!r}")
    return -(-rows // group), config.compact_bits(group)


def load_bits(config: SatSystemConfig, buffer: int, slots: int) -> int:
    """Bits of one DRAM row of a LOAD into ``buffer`` (0 A, 1 B) with ``slots``: a whole beat,
    or for B with ``slots`` k > 0 a compact row of k values per lane.

    Raises
    ------
    ValueError
        For ``slots`` other than 0 on A, or neither 0 nor one of ``config.store_groups()``.
    """
    if slots == 0:
        return row_bits(config, "b" if buffer else "a")
    if not buffer or slots not in config.store_groups():
        raise ValueError(f"a LOAD's slots are 0 (whole beats) or, into B, one of "
                         f"{config.store_groups()}, not {slots!r} into "
                         f"{'B' if buffer else 'A'}")
    return config.compact_bits(slots)


def pack_compact(config: SatSystemConfig, lanes: Sequence[Sequence[int]], slots: int) -> int:
    """A compact activation row of ``slots`` values per lane (a LOAD's ``slots``, a STORE's
    ``group``) from each lane's values, unsigned patterns of the array's width: value s of lane
    l at bit (l ``slots`` + s) W; lanes and slots not given are zero."""
    width = config.array.dtype.width
    return sum(v << ((lane * slots + s) * width)
               for lane, values in enumerate(lanes) for s, v in enumerate(values[:slots]))


def unpack_compact(config: SatSystemConfig, row: int, slots: int) -> list[list[int]]:
    """Each lane's ``slots`` values (unsigned patterns) of a compact activation row (the
    inverse of :func:`pack_compact`)."""
    width = config.array.dtype.width
    lanes = max(config.array.rows, config.array.cols)
    mask = (1 << width) - 1
    return [[row >> ((lane * slots + s) * width) & mask for s in range(slots)]
            for lane in range(lanes)]


def expand_rows(config: SatSystemConfig, slots: int, rows: Sequence[int]) -> list[int]:
    """Compact activation rows of ``slots`` values per lane as the ``acts`` beats a LOAD
    writes (each lane's values in its first slots, the others zero)."""
    return [pack_compact(config, unpack_compact(config, row, slots), config.array.max_m)
            for row in rows]


def activation_rows(config: SatSystemConfig, group: int, rows: Sequence[Sequence[int]]
                    ) -> list[int]:
    """The compact activation rows (``group`` values per lane) a STORE with ``group`` > 0
    writes from ``rows``, each C stored values (unsigned patterns of the array's width): row j
    holds rows j ``group`` to j ``group`` + ``group`` - 1, value c of row j ``group`` + s in
    slot s of lane c (:func:`pack_compact`)."""
    out = []
    for j in range(0, len(rows), group):
        part = rows[j : j + group]
        lanes = [[row[c] for row in part] for c in range(len(part[0]))]
        out.append(pack_compact(config, lanes, group))
    return out


def generate_extent(config: SatSystemConfig, copy: int, n: int) -> tuple[int, int]:
    """The lanes and rows of the A buffer one GENERATE of ``copy`` (0 FF, 1 BP) with N = ``n``
    writes: FF (M, L / M x N), BP (L, N).

    Raises
    ------
    ValueError
        On a system without a SORE, or for a ``copy`` other than 0 and 1.
    """
    cfg = _sore_config(config)
    if copy not in (BdwpPass.FF, BdwpPass.BP):
        raise ValueError(f"copy must be 0 (FF) or 1 (BP), not {copy!r}")
    if copy == BdwpPass.FF:
        return cfg.m, cfg.lanes // cfg.m * n
    return cfg.lanes, n


def generate_block(
    config: SatSystemConfig, copy: int, n: int, tile: Sequence[Sequence[int]]
) -> list[list[dict[str, int]]]:
    """The entries a GENERATE writes, from its dense tile.

    Parameters
    ----------
    config : SatSystemConfig
        A system with a SORE.
    copy : int
        0 (FF) or 1 (BP).
    n : int
        Survivors per group, 1 to M - 1.
    tile : M sequences of L ints
        The dense tile: row i is output channel i, its L weights (the array's format: integers,
        or bit patterns of a floating-point format).

    Returns
    -------
    list of list of dict
        ``block[t][j]``, the entry (``value``, ``index``) that goes to lane ``lane + j`` of A row
        ``row + t``, for the :func:`generate_extent` rows t and lanes j. FF: survivor t mod N of
        group t div N (positions (t div N) M to (t div N) M + M - 1) of channel j, the index its
        position in the group; BP: survivor t of the M channels at position j, the index its
        channel in the group (:func:`sparsa.models.golden.sat.sore_tile`).

    Raises
    ------
    ValueError
        On a system without a SORE, for a ``copy`` other than 0 and 1, an ``n`` outside 1..M - 1
        or a tile that is not M x L.
    """
    cfg = _sore_config(config)
    lanes, rows = generate_extent(config, copy, n)
    if not 1 <= n < cfg.m:
        raise ValueError(f"n must be from 1 to M - 1 = {cfg.m - 1}, not {n!r}")
    t = torch.as_tensor(tile, dtype=torch.int64)
    if tuple(t.shape) != (cfg.m, cfg.lanes):
        raise ValueError(f"the tile must be M x L = {cfg.m} x {cfg.lanes}, not "
                         f"{' x '.join(map(str, t.shape))}")
    values, indices = sore_tile(t, n, BdwpPass(copy), cfg.dtype)  # L groups x N survivors
    if copy == BdwpPass.FF:  # group g of channel i is group i * (L / M) + g
        per_row = cfg.lanes // cfg.m
        where = [[(j * per_row + r // n, r % n) for j in range(lanes)] for r in range(rows)]
    else:
        where = [[(j, r) for j in range(lanes)] for r in range(rows)]
    return [[{"value": int(values[g, s]), "index": int(indices[g, s])} for g, s in row]
            for row in where]


def transfer_bytes(config: SatSystemConfig, rows: int, bits: int) -> int:
    """Bytes of the whole words a transfer of ``rows`` rows of ``bits`` bits takes."""
    words = -(-rows * bits // config.axi.data_width)
    return words * config.axi.word_bytes


def pack_transfer(config: SatSystemConfig, rows: Sequence[int], bits: int) -> bytes:
    """The bytes of a transfer of ``rows`` (unsigned, ``bits`` wide), whole words, as the
    little-endian words of :func:`sparsa.config.dram_layout.pack_rows` lie in DRAM.

    Raises
    ------
    ValueError
        If a row does not fit ``bits`` bits.
    """
    return pack_bytes(rows, bits, config.axi.data_width)


def unpack_transfer(data: bytes, bits: int, rows: int) -> list[int]:
    """The first ``rows`` rows of ``bits`` bits in ``data`` (inverse of :func:`pack_transfer`).

    Raises
    ------
    ValueError
        If ``data`` holds fewer than ``rows`` rows.
    """
    return unpack_bytes(data, bits, rows)


def check_store_mode(config: SatSystemConfig, mode: int, shift: int) -> None:
    """Check that STORE can take ``mode`` and ``shift`` (the STORE_MODE check).

    Raises
    ------
    ValueError
        For a mode the array's format cannot take or a shift out of the mode's range.
    """
    if mode not in config.store_modes():
        allowed = ", ".join(m.name for m in config.store_modes())
        raise ValueError(f"a {config.array.dtype.value} array stores {allowed}, not {mode!r}")
    limit = config.out_width if mode in (StoreMode.INT8, StoreMode.INT16) else 1
    if not 0 <= shift < limit:
        raise ValueError(f"the shift of {StoreMode(mode).name} must be from 0 to {limit - 1}, "
                         f"not {shift!r}")


def convert_entries(
    config: SatSystemConfig, mode: StoreMode, shift: int, entries: Sequence[int],
    relu: bool = False,
) -> list[int]:
    """The values STORE writes for output entries ``entries`` (``out_width``-bit patterns), as
    unsigned ``config.store_bits(mode)``-bit patterns (:class:`StoreMode`); with ``relu``, a
    converted value whose sign is set becomes zero (a NaN, whose magnitude passes
    ``config.relu_bound(mode)``, stays).

    Raises
    ------
    ValueError
        As :func:`check_store_mode`.
    """
    check_store_mode(config, mode, shift)
    if mode == StoreMode.RAW:
        values = list(entries)
    elif mode in (StoreMode.FP16, StoreMode.BF16):
        fmt = NumberFormat.FP16 if mode == StoreMode.FP16 else NumberFormat.BF16
        values = [int(v) for v in fp32_to_half(np.array(entries, dtype=np.int64), fmt)]
    else:
        bits, width = config.store_bits(mode), config.out_width
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        values = []
        for entry in entries:
            acc = entry - (entry >> (width - 1) << width)  # two's complement
            rounded = (acc + (1 << shift >> 1)) >> shift  # half up; shift 0 adds 0
            values.append(min(max(rounded, low), high) % (1 << bits))
    if not relu:
        return values
    sign = config.store_bits(mode) - 1
    bound = config.relu_bound(mode)
    return [0 if v >> sign and (bound is None or v & ((1 << sign) - 1) <= bound) else v
            for v in values]


def _out_of_dram(config: SatSystemConfig, addr: int, size: int) -> bool:
    return addr % config.axi.word_bytes != 0 or addr + size > config.dram_bytes


def _gemm_fault(config: SatSystemConfig, f: dict[str, int]) -> Fault:
    arr = config.array
    length, rows = f["length"], f["rows"]
    command = {"dataflow": f["dataflow"], "pattern": f["pattern"], "length": length,
               "rows": rows}
    if (
        f["pattern"] >= len(runtime_patterns(arr))
        or not 1 <= length <= 1 << arr.max_reduction.bit_length()
        or not 1 <= rows <= arr.rows
        or is_rejected(arr, **command)
    ):
        return Fault.GEMM
    n_w, n_a, n_out = tile_beats(arr, **command)
    if (f["a_row"] + n_w > config.a_rows or f["b_row"] + n_a > config.b_rows
            or f["out_row"] + n_out > config.out_rows):
        return Fault.BUFFER
    return Fault.NONE


def _fault(config: SatSystemConfig, word: int) -> Fault:
    """The first check instruction ``word`` fails (``Fault.NONE`` if none)."""
    code, f = decode(word)
    if code not in FIELDS:
        return Fault.OPCODE
    op = Opcode(code)
    tokens = ("pop_prev", "push_prev", "pop_next", "push_next")
    foreign = {Opcode.END: tokens, Opcode.LOAD: tokens[:2], Opcode.GENERATE: tokens[:2],
               Opcode.STORE: tokens[2:]}
    if any(f[t] for t in foreign.get(op, ())):
        return Fault.TOKEN
    if op is Opcode.LOAD:
        depth = config.b_rows if f["buffer"] else config.a_rows
        try:
            bits = load_bits(config, f["buffer"], f["slots"])
        except ValueError:
            return Fault.BUFFER
        if f["rows"] == 0 or f["row"] + f["rows"] > depth:
            return Fault.BUFFER
        size = transfer_bytes(config, f["rows"], bits)
        return Fault.ADDRESS if _out_of_dram(config, f["addr"], size) else Fault.NONE
    if op is Opcode.GEMM:
        return _gemm_fault(config, f)
    if op is Opcode.STORE:
        try:
            check_store_mode(config, f["mode"], f["shift"])
            count, bits = store_rows(config, StoreMode(f["mode"]), f["group"], f["rows"])
        except ValueError:
            return Fault.STORE_MODE
        if f["group"] and f["mode"] != config.operand_mode:
            return Fault.STORE_MODE
        if f["rows"] == 0 or f["row"] + f["rows"] > config.out_rows:
            return Fault.BUFFER
        size = transfer_bytes(config, count, bits)
        return Fault.ADDRESS if _out_of_dram(config, f["addr"], size) else Fault.NONE
    if op is Opcode.GENERATE:
        if config.sore is None or not 1 <= f["n"] < config.sore_m:
            return Fault.SORE
        lanes, rows = generate_extent(config, f["copy"], f["n"])
        if f["lane"] + lanes > max(config.array.rows, config.array.cols):
            return Fault.SORE
        if f["row"] + rows > config.a_rows:
            return Fault.BUFFER
        size = transfer_bytes(config, config.sore_m, row_bits(config, "tile"))
        return Fault.ADDRESS if _out_of_dram(config, f["addr"], size) else Fault.NONE
    return Fault.NONE


class _Machine:
    """The buffers and DRAM of one run."""

    def __init__(self, config: SatSystemConfig, dram: bytes) -> None:
        self.config = config
        self.dram = bytearray(dram)
        self.a = [0] * config.a_rows
        self.b = [0] * config.b_rows
        self.out = [[0] * config.array.cols for _ in range(config.out_rows)]
        self.bytes_read = 0
        self.bytes_written = 0
        self.weights = unpacker(weights_layout(config.array))
        self.pack_weights = packer(weights_layout(config.array))
        self.acts = unpacker(acts_layout(config.array))

    def read(self, addr: int, rows: int, bits: int) -> list[int]:
        size = transfer_bytes(self.config, rows, bits)
        data = bytes(self.dram[addr : addr + size])
        self.bytes_read += size
        return unpack_transfer(data.ljust(size, b"\0"), bits, rows)

    def write(self, addr: int, rows: Sequence[int], bits: int) -> None:
        data = pack_transfer(self.config, rows, bits)
        if addr + len(data) > len(self.dram):
            self.dram.extend(bytes(addr + len(data) - len(self.dram)))
        self.dram[addr : addr + len(data)] = data
        self.bytes_written += len(data)

    def load(self, f: dict[str, int]) -> None:
        buffer = self.b if f["buffer"] else self.a
        rows = self.read(f["addr"], f["rows"], load_bits(self.config, f["buffer"], f["slots"]))
        if f["slots"]:
            rows = expand_rows(self.config, f["slots"], rows)
        buffer[f["row"] : f["row"] + f["rows"]] = rows

    def generate(self, f: dict[str, int]) -> None:
        cfg = self.config
        rows = self.read(f["addr"], cfg.sore_m, row_bits(cfg, "tile"))
        tile = [*map(unpacker(sore.weights_layout(_sore_config(cfg))), rows)]
        for t, entries in enumerate(generate_block(cfg, f["copy"], f["n"], tile)):
            beat = self.weights(self.a[f["row"] + t])
            beat[f["lane"] : f["lane"] + len(entries)] = entries
            self.a[f["row"] + t] = self.pack_weights(beat)

    def gemm(self, f: dict[str, int]) -> None:
        cfg = self.config
        dataflow, pattern = Dataflow(f["dataflow"]), f["pattern"]
        length, rows = f["length"], f["rows"]
        n_w, n_a, _ = tile_beats(cfg.array, dataflow=dataflow, pattern=pattern,
                                 length=length, rows=rows)
        weights = [self.weights(r) for r in self.a[f["a_row"] : f["a_row"] + n_w]]
        acts = [self.acts(r) for r in self.b[f["b_row"] : f["b_row"] + n_a]]
        beats = tile_answer(cfg.array, dataflow, pattern, length, rows, weights, acts)
        mask = (1 << cfg.out_width) - 1
        for j, beat in enumerate(beats):
            row = f["out_row"] + j
            new = [v & mask for v in beat]  # integers sign-extended to out_width
            if f["accumulate"]:
                old = self.out[row]
                if cfg.array.dtype.is_float:
                    new = [int(v) for v in fp32_add(np.array(old), np.array(new))]
                else:
                    new = [(a + b) & mask for a, b in zip(old, new, strict=True)]
            self.out[row] = new

    def store(self, f: dict[str, int]) -> None:
        mode = StoreMode(f["mode"])
        bits = self.config.store_bits(mode)
        values = [convert_entries(self.config, mode, f["shift"], entries, bool(f["relu"]))
                  for entries in self.out[f["row"] : f["row"] + f["rows"]]]
        if f["group"]:
            rows = activation_rows(self.config, f["group"], values)
        else:
            rows = [sum(v << (c * bits) for c, v in enumerate(row)) for row in values]
        self.write(f["addr"], rows, store_rows(self.config, mode, f["group"], f["rows"])[1])


def run_program(
    config: SatSystemConfig, dram: bytes, program_addr: int, program_len: int
) -> SystemRun:
    """Run the program of ``program_len`` instructions at ``program_addr`` (see the module
    docstring).

    Parameters
    ----------
    config : SatSystemConfig
    dram : bytes
        DRAM from address 0, at most ``dram_bytes`` long; bytes past its end read as zeros.
    program_addr, program_len : int
        The ``program`` and ``program_len`` registers.

    Returns
    -------
    SystemRun

    Raises
    ------
    ValueError
        If ``dram`` is longer than ``dram_bytes`` or a register value is negative.
    """
    if len(dram) > config.dram_bytes:
        raise ValueError(f"dram holds {len(dram)} bytes, more than dram_bytes = "
                         f"{config.dram_bytes}")
    if program_addr < 0 or program_len < 0:
        raise ValueError(f"program_addr and program_len must not be negative, not "
                         f"{program_addr!r} and {program_len!r}")
    machine = _Machine(config, dram)

    def stop(fault: Fault, index: int) -> SystemRun:
        return SystemRun(bytes(machine.dram), fault, 0 if fault is Fault.NONE else index, index,
                         machine.bytes_read, machine.bytes_written, tuple(machine.a))

    if not 1 <= program_len <= config.program_depth:
        return stop(Fault.PROGRAM, 0)
    if _out_of_dram(config, program_addr,
                    transfer_bytes(config, program_len, INSTRUCTION_BITS)):
        return stop(Fault.ADDRESS, 0)
    program = machine.read(program_addr, program_len, INSTRUCTION_BITS)
    actions = {Opcode.LOAD: machine.load, Opcode.GENERATE: machine.generate,
               Opcode.GEMM: machine.gemm, Opcode.STORE: machine.store,
               Opcode.SYNC: lambda f: None}  # SYNC orders the units; alone it does nothing
    for index, word in enumerate(program):
        fault = _fault(config, word)
        if fault is not Fault.NONE:
            return stop(fault, index)
        code, fields = decode(word)
        if code == Opcode.END:
            return stop(Fault.NONE, index)
        actions[Opcode(code)](fields)
    return stop(Fault.PROGRAM, program_len)


# Each token field: the step from the instruction's unit to the neighbour the token comes from
# or goes to, and whether it pushes.
_SIDES = {"pop_prev": (-1, False), "pop_next": (1, False),
          "push_prev": (-1, True), "push_next": (1, True)}


def _accesses(config: SatSystemConfig, op: Opcode, f: dict[str, int]
              ) -> list[tuple[str, int, int, bool]]:
    """What an instruction reads and writes: (resource, first, end, writes) ranges."""
    if op is Opcode.LOAD:
        bits = load_bits(config, f["buffer"], f["slots"])
        return [("B" if f["buffer"] else "A", f["row"], f["row"] + f["rows"], True),
                ("DRAM", f["addr"], f["addr"] + transfer_bytes(config, f["rows"], bits), False)]
    if op is Opcode.GENERATE:
        rows = generate_extent(config, f["copy"], f["n"])[1]
        size = transfer_bytes(config, config.sore_m, row_bits(config, "tile"))
        return [("A", f["row"], f["row"] + rows, True),
                ("DRAM", f["addr"], f["addr"] + size, False)]
    if op is Opcode.GEMM:
        n_w, n_a, n_out = tile_beats(config.array, dataflow=f["dataflow"], pattern=f["pattern"],
                                     length=f["length"], rows=f["rows"])
        return [("A", f["a_row"], f["a_row"] + n_w, False),
                ("B", f["b_row"], f["b_row"] + n_a, False),
                ("OUT", f["out_row"], f["out_row"] + n_out, True)]
    if op is Opcode.SYNC:
        return []
    count, bits = store_rows(config, StoreMode(f["mode"]), f["group"], f["rows"])
    return [("OUT", f["row"], f["row"] + f["rows"], False),
            ("DRAM", f["addr"], f["addr"] + transfer_bytes(config, count, bits), True)]


def token_problems(config: SatSystemConfig, program: Sequence[int]) -> list[str]:
    """Problems with the tokens of ``program`` (instruction words, up to its END) run by the
    concurrent units; empty when its results cannot differ from :func:`run_program`'s.

    Each unit runs its instructions in order; an instruction starts once the tokens it pops are
    there and pushes its tokens once it has finished, the k-th pop of a queue taking its k-th
    push. Reported: a pop whose push no earlier instruction makes (a dispatcher that waits
    could deadlock on it), tokens never popped, two instructions of different units that use
    overlapping rows of a buffer or bytes of DRAM, one of them writing, with no chain of tokens
    ordering them, and an instruction that fails a check.
    """
    pushes: dict[tuple[Unit, Unit], list[int]] = defaultdict(list)
    popped: dict[tuple[Unit, Unit], int] = defaultdict(int)
    before: dict[int, int] = {}  # instruction -> bit mask of the instructions ordered before it
    last: dict[Unit, int] = {}
    uses: list[tuple[int, Unit, list[tuple[str, int, int, bool]]]] = []
    problems = []
    for i, word in enumerate(program):
        fault = _fault(config, word)
        if fault is not Fault.NONE:
            problems.append(f"instruction {i} fails the {fault.name} check")
            break
        code, f = decode(word)
        if code == Opcode.END:
            break
        op = Opcode(code)
        unit = unit_of(op)
        mask = 0
        if unit in last:
            mask |= before[last[unit]] | 1 << last[unit]
        for side, (step, push) in _SIDES.items():
            if push or not f[side]:
                continue
            queue = (Unit(unit + step), unit)
            k = popped[queue]
            popped[queue] += 1
            if k >= len(pushes[queue]):
                problems.append(f"instruction {i} ({op.name}) pops a token from "
                                f"{queue[0].name} that no earlier instruction pushes")
            else:
                mask |= before[pushes[queue][k]] | 1 << pushes[queue][k]
        for side, (step, push) in _SIDES.items():
            if push and f[side]:
                pushes[(unit, Unit(unit + step))].append(i)
        before[i], last[unit] = mask, i
        access = _accesses(config, op, f)
        for j, other, other_access in uses:
            if other is unit or before[i] >> j & 1:
                continue
            clash = next((name for name, lo, hi, writes in access
                          for n, first, end, w in other_access
                          if name == n and lo < end and first < hi and (writes or w)), None)
            if clash is not None:
                problems.append(f"instructions {j} ({other.name}) and {i} ({op.name}) share "
                                f"{clash} {'bytes' if clash == 'DRAM' else 'rows'}, one "
                                "writing, and no token orders them")
        uses.append((i, unit, access))
    for (src, dst), pushed in pushes.items():
        if len(pushed) > popped[(src, dst)]:
            problems.append(f"{len(pushed) - popped[(src, dst)]} tokens from {src.name} to "
                            f"{dst.name} are never popped")
    return problems
