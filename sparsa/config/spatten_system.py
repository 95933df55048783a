"""The SpAtten accelerator as a system: its configuration, register map and layer descriptors.

One :class:`SpattenSystemConfig` elaborates the RTL top
(:class:`sparsa.hw.spatten_system.accelerator.SpattenAccelerator`), parameterises the golden
model of a run (:mod:`sparsa.models.golden.spatten_system`), the builder of DRAM images
(:mod:`sparsa.dataflow.spatten_program`) and the system's cycle model
(:mod:`sparsa.sim.blocks.spatten_system`).

**A run** is the generation step of a transformer's attention, several layers deep, with cascade
token and head pruning (spatten.md 1.1, 1.2): at layer l every *alive* head h runs one query
over the *alive* tokens' keys and values, which the host has left in DRAM (a KV cache): Q of h,
and per token t the K MSB plane, the K LSB plane and V rows of (h, t). The host writes a table
of :data:`DESCRIPTOR_BITS`-bit layer descriptors (:data:`DESCRIPTOR_FIELDS`) into DRAM, the
initial token count n_0 and head count H_0 and the table's address and length into the
registers, and sets ``control.start``. Tokens 0 to n_0 - 1 and heads 0 to H_0 - 1 are alive at
the first layer. Per layer the system

1. reads the layer's descriptor and checks it (:class:`Fault`);
2. runs one attention-core command per alive head, in the alive list's order (its MSB setting,
   threshold, score shift and ``v_keep`` from the descriptor, n = the alive tokens): it fetches
   the head's Q row and the K MSB rows of the alive tokens, in list order, and answers the
   core's K LSB and V requests (key j of the query is alive token j); the token importance
   restarts at the layer's first head and sums over its heads, the head importance restarts
   at every command;
3. writes each head's answer, an *output record* (:attr:`SpattenSystemConfig.output_words`):
   the D output values, then in the next word bit 0 the requant flag and from bit 32 the head
   importance, at ``out_addr`` + h x the record's stride;
4. keeps the ``token_keep`` alive tokens of largest cumulative importance (a token's importance
   over the layer's heads added to its cumulative importance from the layers before, zero at
   the first, saturating at ``token_importance_bits``: SpAtten's cascade, spatten.md 1.1) and
   the ``head_keep`` alive heads of largest head importance, on its own top-k engine
   (:func:`sparsa.models.golden.topk.topk`: ties to the earliest, in list order), and writes the
   new lists at ``kept_addr``: the tokens as 16-bit entries, packed from bit 0, then from the
   next word the heads, 16 bits each. They are the next layer's alive lists, and the kept
   tokens carry their cumulative importance into it.

**DRAM layout** (every row starts at a word-aligned address and fills whole words, the last one
padded; element i of a row at bits i w to (i + 1) w - 1, w the element's width): Q has one row of
D elements of ``msb_bits`` + 4 bits per head at ``q_addr`` + h x its stride; the K MSB plane
(``msb_bits``-bit elements), the K LSB plane (4-bit elements) and V (``msb_bits`` + 4 bits)
have one row per (head, token) at ``<plane>_addr`` + (h x max_tokens + t) x its stride. A
layer's MSB setting b is a run-time field: elements hold b-bit (or b + 4-bit) values in their
low bits, as the core's lanes do.

**Checks.** A bad start (n_0 outside 1..max_tokens, H_0 outside 1..heads, no layers, a table
address past the address width) or a bad descriptor stops the run before the layer fetches: the
descriptor check covers everything the core would reject (the MSB setting, the threshold, the
score shift, ``v_keep`` above n), so the core never answers with an error, and ``token_keep``
outside 1..n, ``head_keep`` outside 1..the alive heads and addresses past the address width. An
error answer of the memory stops the run once the layer's answers have drained. Then
``status`` shows done with ``error`` set, ``error`` holds the :class:`Fault` and the layer.
"""

from dataclasses import dataclass, field, replace
from enum import IntEnum

from sparsa.config.attention import LSB_BITS, AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.axi import AxiConfig
from sparsa.config.checks import is_int, pack_fields
from sparsa.config.registers import Access, BitField, Register, system_registers
from sparsa.config.topk import TopKConfig

__all__ = [
    "COUNTERS",
    "DESCRIPTOR_BITS",
    "DESCRIPTOR_FIELDS",
    "LIST_ENTRY_BITS",
    "PLANES",
    "SPATTEN_SYSTEM_REGISTERS",
    "Fault",
    "SpattenSystemConfig",
    "encode_descriptor",
]

DESCRIPTOR_BITS = 512
"""Bits of a layer descriptor (a whole number of words at every data width up to 512)."""

DESCRIPTOR_FIELDS: dict[str, tuple[int, int]] = {
    "q_addr": (0, 64),
    "k_msb_addr": (64, 64),
    "k_lsb_addr": (128, 64),
    "v_addr": (192, 64),
    "out_addr": (256, 64),
    "kept_addr": (320, 64),
    "token_keep": (384, 16),
    "head_keep": (400, 16),
    "v_keep": (416, 16),
    "threshold": (432, 24),
    "score_shift": (456, 8),
    "msb_bits": (464, 4),
}
"""A layer descriptor's fields: name -> (lsb, width)."""

LIST_ENTRY_BITS = 16
"""Bits of one entry of a kept-token or kept-head list in DRAM."""

PLANES = ("q", "k_msb", "k_lsb", "v")
"""The tensors a layer reads, each with its own read port."""


class Fault(IntEnum):
    """Codes of ``error.code``: why a run stopped."""

    NONE = 0
    START = 1  # n_0 outside 1..max_tokens, H_0 outside 1..heads, no layers, a far table
    DESCRIPTOR = 2  # a field the core or the pruning would refuse, or a far address
    DRAM = 3  # the memory answered a read or a write with an error


COUNTERS = {
    "cycles": "Cycles from the start to done.",
    "commands": "Attention-core commands answered.",
    "requants": "Commands whose keys' LSB planes were fetched (requant).",
    "prune": "Cycles of the layers' ends: the token and head top-k and the lists' write.",
    "bytes_read": "Bytes read from DRAM (descriptors included), all read ports.",
    "bytes_written": "Bytes written to DRAM.",
}
"""The 64-bit performance counters, each at two registers ``<name>_lo`` and ``<name>_hi``."""


SPATTEN_SYSTEM_REGISTERS = system_registers(
    "run",
    (BitField("code", 0, 4, "A Fault code (0: no error)."),
     BitField("layer", 8, 16, "The layer at which it stopped.")),
    (Register("table_lo", 0x10, Access.RW, "Descriptor table address, bits 31:0."),
     Register("table_hi", 0x14, Access.RW, "Descriptor table address, bits 63:32."),
     Register("layers", 0x18, Access.RW, "Layers (descriptors) to run.", (
         BitField("count", 0, 16, "Number of layers."),)),
     Register("tokens", 0x1C, Access.RW, "Tokens alive at the first layer (n_0).", (
         BitField("count", 0, 16, "n_0."),)),
     Register("heads", 0x20, Access.RW, "Heads alive at the first layer (H_0).", (
         BitField("count", 0, 16, "H_0."),))),
    COUNTERS)
"""The system's AXI4-Lite register map."""


def _default_core() -> AttentionCoreConfig:
    attention = AttentionConfig(dim=32, msb_bits=8, max_tokens=64, token_importance_bits=15,
                                head_importance_bits=18)
    return AttentionCoreConfig(attention=attention, multipliers=128, comparators=4, heads=8)


@dataclass(frozen=True, kw_only=True)
class SpattenSystemConfig:
    """Parameters of the SpAtten accelerator system.

    Parameters
    ----------
    core : AttentionCoreConfig
        The attention core (its ``heads`` is the most heads a run may have, its ``max_tokens``
        the most tokens).
    axi : AxiConfig
        Each of the five AXI4 ports (four read ports, one per plane of :data:`PLANES`, Q's also
        reading the descriptors; one write port); 256-bit words and 32 reads in flight by
        default (a read is one row, so the reads in flight must cover the memory's latency).
    head_queue : int
        Commands the system may have issued and not yet seen answered (2 to 64).
    """

    core: AttentionCoreConfig = field(default_factory=_default_core)
    axi: AxiConfig = field(default_factory=lambda: AxiConfig(data_width=256, max_burst=16,
                                                              max_reads=32))
    head_queue: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.core, AttentionCoreConfig):
            raise ValueError(f"core must be an AttentionCoreConfig, not {self.core!r}")
        if not isinstance(self.axi, AxiConfig):
            raise ValueError(f"axi must be an AxiConfig, not {self.axi!r}")
        if not is_int(self.head_queue) or not 2 <= self.head_queue <= 64:
            raise ValueError(f"head_queue must be an integer from 2 to 64, not "
                             f"{self.head_queue!r}")
        if not 64 <= self.axi.data_width <= DESCRIPTOR_BITS:
            raise ValueError(f"axi.data_width must be from 64 to {DESCRIPTOR_BITS} bits (a "
                             f"descriptor's whole words, a record's 64-bit status), not "
                             f"{self.axi.data_width!r}")
        if self.core.max_tokens >= 1 << LIST_ENTRY_BITS:
            raise ValueError(f"max_tokens must be below 2 ** {LIST_ENTRY_BITS}")
        if self.importance_bits > 32 or self.core.attention.head_importance_bits > 32:
            raise ValueError("importance accumulators wider than 32 bits do not fit a record")

    def replace(self, **changes: object) -> "SpattenSystemConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)

    @property
    def importance_bits(self) -> int:
        """Width of the pruning top-k's values: the wider importance accumulator."""
        att = self.core.attention
        return max(att.token_importance_bits, att.head_importance_bits)

    @property
    def pruning_topk(self) -> TopKConfig:
        """The top-k engine of cascade token and head pruning: the core's lanes and
        comparators over unsigned importance values, room for max(max_tokens, heads)."""
        core = self.core
        return TopKConfig(lanes=core.lanes, comparators=core.comparators,
                          capacity=max(core.max_tokens, core.heads), width=self.importance_bits,
                          signed=False, pivot=core.pivot, seed=core.seed)

    def element_bits(self, plane: str) -> int:
        """Bits of one element of ``plane`` (one of :data:`PLANES`) in DRAM."""
        msb = self.core.attention.msb_bits
        return {"q": msb + LSB_BITS, "k_msb": msb, "k_lsb": LSB_BITS, "v": msb + LSB_BITS}[plane]

    def row_bits(self, plane: str) -> int:
        """Bits of one row of ``plane``: D elements."""
        return self.core.dim * self.element_bits(plane)

    def row_words(self, plane: str) -> int:
        """Words of one row of ``plane`` (its stride in words)."""
        return -(-self.row_bits(plane) // self.axi.data_width)

    @property
    def output_bits(self) -> int:
        """Bits of the D output values of a record."""
        return self.core.dim * self.core.attention.out_bits

    @property
    def output_words(self) -> int:
        """Words of an output record: the output values, then one word of requant flag and
        head importance."""
        return -(-self.output_bits // self.axi.data_width) + 1

    @property
    def descriptor_words(self) -> int:
        """Words of a layer descriptor."""
        return DESCRIPTOR_BITS // self.axi.data_width

    def list_words(self, entries: int) -> int:
        """Words of a kept list of ``entries`` entries."""
        return -(-entries * LIST_ENTRY_BITS // self.axi.data_width)


def encode_descriptor(**fields: int) -> int:
    """A layer descriptor with ``fields`` (the others zero) as an integer.

    Raises
    ------
    ValueError
        For an unknown field or a value that does not fit it.
    """
    return pack_fields(DESCRIPTOR_FIELDS, fields, owner="a descriptor")
