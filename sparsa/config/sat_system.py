"""The SAT accelerator as a system: its configuration, its register map and its instruction set.

One :class:`SatSystemConfig` elaborates the RTL top (:mod:`sparsa.hw.sat_system`), parameterises
the program-level golden model (:mod:`sparsa.models.golden.sat_system`), the compiler of programs
(:mod:`sparsa.dataflow.sat_program`) and the system's cycle model.

**Programs.** The host writes a program of :data:`INSTRUCTION_BITS`-bit instructions into DRAM
(packed from bit 0 of a word-aligned address, as every tensor, :mod:`sparsa.config.dram_layout`),
writes its address and length into the registers and sets ``control.start``. The controller
reads the whole program into its instruction memory (at most ``program_depth`` instructions),
then dispatches the instructions in order to three units that run concurrently:

* LOAD moves rows from DRAM into the weight buffer (A: one row is one ``weights`` beat of the
  PE array) or the activation buffer (B: one row is one ``acts`` beat). An ``acts`` beat has
  max(M) slots per lane; a LOAD into B with ``slots`` k > 0 (1 or a pattern's M) reads compact
  rows of k values per lane (value s of lane l at bit (l k + s) W) and writes them into the
  beat's first k slots, the others zero, so a dense operand (one value per lane) moves no
  padding through the memory; ``slots`` 0 reads whole beats;
* GEMM runs one array tile: its command, ``n_w`` rows of A from ``a_row`` and ``n_a`` rows of B
  from ``b_row`` (OS: ``n_w`` = length, ``n_a`` = length / N; WS: ``n_w`` = rows, ``n_a`` =
  length), and writes or adds (``accumulate``) its ``n_out`` answer beats (OS: rows, WS: length)
  into the output buffer from ``out_row``; integer beats add as integers, floating-point beats
  as FP32 (round to nearest even, the array's adder);
* STORE moves output-buffer rows to DRAM, each of the C values converted by ``mode``
  (:class:`StoreMode`) and, with ``relu``, negative values written as zero. With ``group`` 0
  it writes the rows as they are (C values each); with ``group`` g > 0 it writes the next
  layer's activation rows instead, compact as a LOAD with ``slots`` g reads them: the corner
  turn that lets one layer's output be the next one's B operand without the host. Row j holds
  output rows jg to jg + g - 1 (fewer in the last), value c of output row jg + s in slot s of
  lane c (lanes past C zero), so an output-stationary GEMM whose pattern has M = g (1 for
  dense) reduces over the stored rows. ``group`` must be 1 or the M of one of the array's
  patterns, and ``mode`` the array's own format (INT8, INT16, FP16 or BF16);
* SYNC (run by the GEMM unit) waits until every GEMM before it has written its last answer
  beat, then pops and pushes its tokens: it carries a STORE's token to the LOADs after it, so
  a LOAD can read what a STORE wrote (a chain of layers in one program);
* GENERATE (run by the LOAD unit, in order with the LOADs) reads one dense weight tile from
  DRAM, M rows of L weights (M = ``sore_m``, L = ``sore_lanes``; row i is output channel i,
  its L reduction positions), has the SORE keep N of every group of M (``n``), and writes one
  copy into the A buffer from row ``row``, as compressed entries (value, index in the group)
  in the layout the array reads (lane = row of the GEMM's A, buffer row = entry):

  - ``copy`` 0, FF (groups of M along the reduction): entry t of channel i, t < L / M x N,
    goes to lane ``lane`` + i of row ``row`` + t; it is survivor t mod N of group t div N of
    channel i;
  - ``copy`` 1, BP (groups of M along the channels, for ``(W o Mb)^T``): entry t < N of
    position l goes to lane ``lane`` + l of row ``row`` + t; it is survivor t of the M
    channels at position l.

  Lanes outside those are left as they were. So the compressed weights come from dense ones
  on the fly (SORE in the datapath), or, pre-generated, from DRAM by LOAD: the program
  chooses, instruction by instruction.

The units synchronise through four token counters, as in VTA's decoupled access-execute: each
instruction may wait for (pop) and give (push) a token from or to the unit before it (LOAD
before GEMM before STORE) and the unit after it; a unit runs an instruction once the tokens it
pops are there. The compiler places the tokens: a GEMM pops the token of the LOAD that brought
its operands; a LOAD into a half of a buffer pops the token of the GEMM that last read it; a
STORE pops the token of the GEMM that finished its rows, and so on, so loads, compute and stores
overlap across double-buffered halves.

**Checks.** Before it dispatches an instruction, the controller checks it; the first that fails
stops the program: nothing after it is dispatched, what was dispatched finishes, and ``status``
shows done with ``error`` set and ``error`` holding the :class:`Fault` code and the
instruction's index. The accelerator is then ready for the next start.
"""

from dataclasses import dataclass, field, replace
from enum import IntEnum

from sparsa.config.axi import AxiConfig
from sparsa.config.checks import is_int, pack_fields
from sparsa.config.formats import FP32, NumberFormat
from sparsa.config.registers import Access, BitField, Register, system_registers
from sparsa.config.sat import SatArrayConfig, SoreConfig

__all__ = [
    "COUNTERS",
    "FIELDS",
    "INSTRUCTION_BITS",
    "SAT_SYSTEM_REGISTERS",
    "Fault",
    "Opcode",
    "SatSystemConfig",
    "StoreMode",
    "Unit",
    "decode",
    "encode",
]

INSTRUCTION_BITS = 128


class Opcode(IntEnum):
    """Bits 3:0 of an instruction."""

    END = 0
    LOAD = 1
    GEMM = 2
    STORE = 3
    GENERATE = 4
    SYNC = 5


class Unit(IntEnum):
    """The units, in pipeline order (a unit's previous and next neighbours)."""

    LOAD = 0
    GEMM = 1
    STORE = 2


class StoreMode(IntEnum):
    """How STORE writes each accumulator (bits per value in DRAM).

    ``RAW``: the output-buffer entry as it is (``out_width`` bits, two's complement for the
    integer formats, FP32 for the floating-point ones); ``shift`` must be 0. ``INT8`` and
    ``INT16`` (integer arrays): the entry arithmetically shifted right by ``shift`` bits
    (below ``out_width``), rounded half up (``(acc + 2 ** (shift - 1)) >> shift`` for
    ``shift > 0``), then saturated to the format's range. ``FP16`` and ``BF16`` (floating-point
    arrays): the FP32 entry rounded to nearest even, as the weight-update engine's half copy
    (:mod:`sparsa.models.golden.floats`); ``shift`` must be 0.
    """

    RAW = 0
    INT8 = 1
    INT16 = 2
    FP16 = 3
    BF16 = 4



class Fault(IntEnum):
    """Codes of ``error.code``: why a program stopped."""

    NONE = 0
    OPCODE = 1  # an unknown opcode
    ADDRESS = 2  # a transfer reaches past dram_bytes (or the program does)
    BUFFER = 3  # rows past the end of a buffer, or a count of zero rows
    GEMM = 4  # a pattern the array lacks, a length not in whole groups of N, or too long
    STORE_MODE = 5  # a mode the array's format cannot take, or a shift out of range
    TOKEN = 6  # a token to or from a unit that is no neighbour (LOAD's previous, STORE's next)
    PROGRAM = 7  # zero instructions, more than program_depth, or no END
    DRAM = 8  # the memory answered a read or write with an error
    SORE = 9  # GENERATE without a SORE, with N outside 1..M-1, or lanes past the array's


# Instruction fields: name -> (lsb, width), per opcode; the header is common to all.
_HEADER = {"opcode": (0, 4), "pop_prev": (4, 1), "pop_next": (5, 1), "push_prev": (6, 1),
           "push_next": (7, 1)}
FIELDS: dict[Opcode, dict[str, tuple[int, int]]] = {
    Opcode.END: dict(_HEADER),
    Opcode.LOAD: {**_HEADER, "buffer": (8, 1), "slots": (12, 4), "row": (16, 16),
                  "rows": (32, 16), "addr": (64, 64)},
    Opcode.GEMM: {**_HEADER, "dataflow": (8, 1), "accumulate": (9, 1), "pattern": (12, 4),
                  "length": (16, 24), "rows": (40, 8), "a_row": (48, 16), "b_row": (64, 16),
                  "out_row": (80, 16)},
    Opcode.STORE: {**_HEADER, "mode": (8, 4), "group": (12, 4), "row": (16, 16),
                   "rows": (32, 16), "shift": (48, 6), "relu": (54, 1), "addr": (64, 64)},
    Opcode.GENERATE: {**_HEADER, "copy": (8, 1), "n": (12, 4), "lane": (16, 8), "row": (32, 16),
                      "addr": (64, 64)},
    Opcode.SYNC: dict(_HEADER),
}

# The 64-bit performance counters, each at two registers <name>_lo and <name>_hi.
COUNTERS = {
    "cycles": "Cycles from the start to done.",
    "array_busy": "Cycles the PE array holds at least one tile (taken, answer not yet "
                  "accumulated).",
    "sore_busy": "Cycles the LOAD unit runs a GENERATE (the dense tile's read, the SORE, the "
                 "copy's writes).",
    "stall_dram_read": "Cycles a GEMM waits for its operands while the LOAD unit loads.",
    "stall_dram_write": "Cycles a GEMM waits for a STORE to free its output rows.",
    "stall_sore": "Cycles a GEMM waits for its operands while the LOAD unit runs a GENERATE.",
    "stall_output": "Cycles the array's answer waits for the output buffer.",
    "bytes_read": "Bytes read from DRAM (program included).",
    "bytes_written": "Bytes written to DRAM.",
}


SAT_SYSTEM_REGISTERS = system_registers(
    "program",
    (BitField("code", 0, 4, "A Fault code (0: no error)."),
     BitField("index", 8, 24, "Index of the instruction that failed.")),
    (Register("program_lo", 0x10, Access.RW, "Program address in DRAM, bits 31:0."),
     Register("program_hi", 0x14, Access.RW, "Program address in DRAM, bits 63:32."),
     Register("program_len", 0x18, Access.RW, "Instructions in the program.")),
    COUNTERS)
"""The SAT system's AXI4-Lite register map."""


@dataclass(frozen=True, kw_only=True)
class SatSystemConfig:
    """Parameters of the SAT accelerator system.

    Parameters
    ----------
    array : SatArrayConfig
        The PE array.
    axi : AxiConfig
        The DRAM port (512-bit words by default, the VCU1525's DDR4).
    dram_bytes : int
        Bytes of DRAM the accelerator may address from 0 (a transfer past it is an error);
        at most ``2 ** axi.addr_width``. The default is the VCU1525's four 16 GiB DDR4 channels.
    out_width : int
        Bits of an output-buffer entry: 32 (FP32) for the floating-point formats; for the
        integer ones from the array's ``acc_width`` to 64. Partial sums of the tiles of one
        output block add in two's complement at this width (wrapping); the compiler refuses a
        GEMM whose reduction could overflow it.
    a_rows, b_rows, out_rows : int
        Rows of the weight, activation and output buffers, 2 to 65,535 (each row one array
        beat; the compiler splits each buffer into two halves to double-buffer).
    program_depth : int
        Instructions the controller holds, 2 to 65,535.
    sore_lanes : int
        Lanes L of the SORE in the datapath (GENERATE), 0 for none: a multiple of ``sore_m``, at
        most the array's max(R, C) lanes.
    sore_m : int
        The SORE's group size M: the M of one of the array's patterns.
    """

    array: SatArrayConfig = field(default_factory=SatArrayConfig)
    axi: AxiConfig = field(default_factory=AxiConfig)
    dram_bytes: int = 64 << 30
    out_width: int = 32
    a_rows: int = 1024
    b_rows: int = 1024
    out_rows: int = 1024
    program_depth: int = 1024
    sore_lanes: int = 0
    sore_m: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.array, SatArrayConfig):
            raise ValueError(f"array must be a SatArrayConfig, not {self.array!r}")
        if not isinstance(self.axi, AxiConfig):
            raise ValueError(f"axi must be an AxiConfig, not {self.axi!r}")
        acc = self.array.acc_width
        if self.array.dtype.is_float:
            if self.out_width != 32:
                raise ValueError(
                    f"out_width must be 32 (FP32) for a {self.array.dtype.value} array, "
                    f"not {self.out_width!r}"
                )
        elif not is_int(self.out_width) or not acc <= self.out_width <= 64:
            raise ValueError(
                f"out_width must be an integer from the array's accumulator width {acc} to 64, "
                f"not {self.out_width!r}"
            )
        for name in ("a_rows", "b_rows", "out_rows", "program_depth"):
            value = getattr(self, name)
            if not is_int(value) or not 2 <= value <= 0xFFFF:
                raise ValueError(f"{name} must be an integer from 2 to 65535, not {value!r}")
        lanes = max(self.array.rows, self.array.cols)
        if self.sore_lanes:
            ms = sorted({p.m for p in self.array.patterns})
            if self.sore_m not in ms:
                raise ValueError(f"sore_m must be the M of one of the array's patterns {ms}, "
                                 f"not {self.sore_m!r}")
            if not is_int(self.sore_lanes) or not (
                self.sore_lanes % self.sore_m == 0 and self.sore_m <= self.sore_lanes <= lanes
            ):
                raise ValueError(
                    f"sore_lanes must be 0 or a multiple of sore_m = {self.sore_m} up to the "
                    f"array's {lanes} lanes, not {self.sore_lanes!r}"
                )
        elif self.sore_lanes != 0:
            raise ValueError(f"sore_lanes must be an integer, not {self.sore_lanes!r}")
        limit = 1 << self.axi.addr_width
        if not is_int(self.dram_bytes) or not (
            self.axi.word_bytes <= self.dram_bytes <= limit
            and self.dram_bytes % self.axi.word_bytes == 0
        ):
            raise ValueError(
                f"dram_bytes must be a multiple of the {self.axi.word_bytes}-byte word from "
                f"one word to 2 ** addr_width = {limit}, not {self.dram_bytes!r}"
            )

    @property
    def sore(self) -> SoreConfig | None:
        """The SORE of the datapath, or None."""
        if not self.sore_lanes:
            return None
        return SoreConfig(lanes=self.sore_lanes, m=self.sore_m, dtype=self.array.dtype)

    def replace(self, **changes: object) -> "SatSystemConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    def store_modes(self) -> tuple[StoreMode, ...]:
        """The STORE modes the array's format takes."""
        if self.array.dtype.is_float:
            return (StoreMode.RAW, StoreMode.FP16, StoreMode.BF16)
        return (StoreMode.RAW, StoreMode.INT8, StoreMode.INT16)

    def store_bits(self, mode: StoreMode) -> int:
        """Bits of one value STORE writes in ``mode``."""
        return {StoreMode.RAW: self.out_width, StoreMode.INT8: 8}.get(StoreMode(mode), 16)

    @property
    def operand_mode(self) -> StoreMode:
        """The STORE mode that writes values in the array's own format (a STORE with a
        ``group`` writes activation beats in it)."""
        return StoreMode[self.array.dtype.name]

    def relu_bound(self, mode: StoreMode) -> int | None:
        """The largest magnitude (the value's bits below its sign) a STORE with ``relu``
        writes as zero when the sign is set: Inf's pattern for floating-point values (a NaN
        stays as it is), None for integers (every negative value becomes zero)."""
        if not self.array.dtype.is_float:
            return None
        mode = StoreMode(mode)
        layout = FP32 if mode is StoreMode.RAW else NumberFormat[mode.name].float_layout
        return layout.max_exponent << layout.fraction_bits

    def compact_bits(self, slots: int) -> int:
        """Bits of a compact activation row of ``slots`` values per lane (a LOAD's ``slots``, a
        STORE's ``group``): max(R, C) lanes of ``slots`` values of the array's width."""
        return max(self.array.rows, self.array.cols) * slots * self.array.dtype.width

    def store_groups(self) -> tuple[int, ...]:
        """The ``group`` values of a STORE that writes activation beats: 1 (dense) and the M
        of each of the array's patterns, ascending."""
        return tuple(sorted({1, *(p.m for p in self.array.patterns)}))


def encode(opcode: Opcode, **fields: int) -> int:
    """The instruction ``opcode`` with ``fields`` (the others zero) as an integer.

    Raises
    ------
    ValueError
        For a field the opcode lacks or a value that does not fit it.
    """
    opcode = Opcode(opcode)
    table = {n: place for n, place in FIELDS[opcode].items() if n != "opcode"}
    return int(opcode) | pack_fields(table, fields, owner=opcode.name)


def decode(word: int) -> tuple[int, dict[str, int]]:
    """The opcode bits of instruction ``word`` and, for a known opcode, its fields (for an
    unknown one, none)."""
    code = word & 0xF
    if code not in FIELDS:
        return code, {}
    table = FIELDS[Opcode(code)]
    return code, {n: word >> lsb & ((1 << w) - 1) for n, (lsb, w) in table.items() if n != "opcode"}
