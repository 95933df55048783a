"""GEMMs longer than one program: the host runs them as several programs, one per part.

The controller reads a whole program into its instruction memory before it runs it, so a GEMM
whose program needs more than ``program_depth`` instructions cannot run as one program.
:func:`gemm_parts` cuts it into parts, each a GEMM of its own (a block of A's rows, of its
compressed entries and of B's columns) whose program fits; the host starts them one after
another. The cuts fall on the tiling's own boundaries (whole output blocks, whole reduction
tiles), so the parts run exactly the tiles of the GEMM; what a part loses is the operand reuse
across parts (each part loads its own operands, and fetches its own program).

The reduction is cut only where a single output block does not fit a program, or where an
integer reduction could overflow the output entries (the weight update of a large batch). Such
parts' STOREs write raw partial sums of their entries, and the host adds the parts of an output
block in order (:meth:`CompiledParts.read_output`): exact for integers; for a floating-point
array an FP32 sum of the parts' FP32 results from +0, which rounds differently from the output
buffer's sum over every tile. Rows and columns are cut into parts as large as fit, in whichever
order loads fewer bytes.

The host's work between parts (taking the interrupt, starting the next program, adding partial
sums) is its own: a part's cycles are its program's, from its start to its done. Each part's
image starts on a 4 KiB boundary, so the parts of one shape take the same cycles.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import ceil

import numpy as np
import torch

from sparsa.config.axi import AXI_BOUNDARY
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern, as_dataflow
from sparsa.config.sat_system import SatSystemConfig, StoreMode
from sparsa.dataflow.sat_program import (
    CompiledGemm,
    PlannedLayer,
    compile_gemm,
    compile_generated_gemm,
    generated_operand,
    plan_shape,
    planning_array,
    reduction_limit,
)
from sparsa.dataflow.sat_tiles import tile_entries
from sparsa.models.golden.floats import fp32_add

__all__ = ["CompiledParts", "Part", "PartsPlan", "compile_gemm_parts",
           "compile_generated_gemm_parts", "gemm_parts", "part_units", "plan_parts"]


@dataclass(frozen=True)
class Part:
    """One program's share of a GEMM ``Y = A B``: A's rows ``row0`` to ``row0 + rows``, its
    compressed entries ``t0`` to ``t0 + entries`` and B's columns ``col0`` to ``col0 + cols``.
    """

    row0: int
    rows: int
    t0: int
    entries: int
    col0: int
    cols: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """The part's own GEMM: A's rows, its compressed entries, B's columns."""
        return (self.rows, self.entries, self.cols)


def part_units(config: SatSystemConfig, pattern: NMPattern | None,
               dataflow: Dataflow) -> tuple[int, int, int]:
    """The sizes parts are whole multiples of (but at the GEMM's edges): A's rows of an output
    block (OS, the array's R; WS, its C), compressed entries of a reduction tile, and B's columns
    of an output block (OS, C; WS, the longest command)."""
    planning = planning_array(config, pattern, dataflow)
    entries = tile_entries(planning, pattern, dataflow)
    if as_dataflow(dataflow) is Dataflow.OS:
        return planning.rows, entries, planning.cols
    return planning.cols, entries, 1 << planning.max_reduction.bit_length()


def gemm_parts(config: SatSystemConfig, shape: tuple[int, int, int], pattern: NMPattern | None,
               dataflow: Dataflow, *, generate: BdwpPass | None = None) -> tuple[Part, ...]:
    """The parts of :func:`plan_parts`."""
    return plan_parts(config, shape, pattern, dataflow, generate=generate).parts


@dataclass(frozen=True)
class PartsPlan:
    """A GEMM's parts and the plan of each part's shape.

    Attributes
    ----------
    parts : tuple of Part
    plans : dict
        Each part's shape to its plan (:func:`sparsa.dataflow.sat_program.plan_shape`).
    """

    parts: tuple[Part, ...]
    plans: dict[tuple[int, int, int], PlannedLayer]


def plan_parts(config: SatSystemConfig, shape: tuple[int, int, int], pattern: NMPattern | None,
               dataflow: Dataflow, *, generate: BdwpPass | None = None) -> PartsPlan:
    """The parts a GEMM of ``shape`` (A's rows, its compressed entries T, B's columns) runs as
    (the module docstring): one, the whole GEMM, when its program fits ``program_depth`` and
    an integer reduction cannot overflow the output entries; otherwise parts that each can,
    their rows, entries and columns whole multiples of :func:`part_units` (the last of each
    cut takes the rest), in the order rows, columns, entries.

    A is pre-generated (LOAD), or, with ``generate`` (the copy, FF or BP), built by GENERATEs
    (:func:`sparsa.dataflow.sat_program.plan_shape`).

    The part's size is grown from a single tile's: its entries first (as many as fit), then its
    rows and its columns, one after the other in whichever order loads fewer bytes in all.

    Raises
    ------
    ValueError
        For a GEMM the compiler cannot plan (its message), and when the program of a single
        tile does not fit the instruction memory.
    """
    planner = _Planner(config, pattern, dataflow, generate)
    if planner.fits(shape):
        return planner.keep((Part(0, shape[0], 0, shape[1], 0, shape[2]),))
    units = part_units(config, pattern, dataflow)
    tile = tuple(min(s, u) for s, u in zip(shape, units, strict=True))
    if not planner.fits(tile):
        raise ValueError(
            f"the program of a single tile of this GEMM does not fit program_depth = "
            f"{config.program_depth} instructions")
    budget = config.program_depth

    def grow(size: tuple[int, int, int], axis: int) -> tuple[int, int, int]:
        return _grow(planner.size, budget, shape, units, size, axis)

    size = grow(tile, 1)
    candidates = [_cut(shape, grow(grow(size, first), second)) for first, second in ((0, 2),
                                                                                     (2, 0))]
    return planner.keep(min(candidates, key=lambda parts: (planner.loaded(parts), len(parts))))


def _grow(size_of: Callable[[tuple[int, int, int]], int], budget: int,
          shape: tuple[int, int, int], units: tuple[int, int, int], size: tuple[int, int, int],
          axis: int) -> tuple[int, int, int]:
    """``size`` (which fits) with its ``axis`` grown to the most whole ``units`` that fit (at
    most the GEMM's ``shape``): the largest whose ``size_of`` is at most ``budget``, found by
    interpolation (a program's size grows about linearly with its tiles along one axis),
    ``size_of`` taken to grow along the axis."""

    def grown(k: int) -> tuple[int, int, int]:
        trial = [*size]
        trial[axis] = min(shape[axis], k * units[axis])
        return (trial[0], trial[1], trial[2])

    low, high = 1, ceil(shape[axis] / units[axis])
    at_low, at_high = size_of(grown(low)), size_of(grown(high))
    if at_high <= budget:
        return grown(high)
    while high - low > 1:  # low fits, high does not
        guess = low + (budget - at_low) * (high - low) // max(1, at_high - at_low)
        k = min(high - 1, max(low + 1, guess))
        at_k = size_of(grown(k))
        if at_k <= budget:
            low, at_low = k, at_k
        else:
            high, at_high = k, at_k
    return grown(low)


def _cut(shape: tuple[int, int, int], size: tuple[int, int, int]) -> tuple[Part, ...]:
    """``shape`` cut into parts of ``size`` (smaller at the edges), rows, columns, entries."""
    rows, entries, cols = shape
    return tuple(
        Part(r0, min(size[0], rows - r0), t0, min(size[1], entries - t0),
             c0, min(size[2], cols - c0))
        for r0 in range(0, rows, size[0]) for c0 in range(0, cols, size[2])
        for t0 in range(0, entries, size[1]))


class _Planner:
    """Plans of GEMM shapes (:func:`sparsa.dataflow.sat_program.plan_shape`), each made once."""

    def __init__(self, config: SatSystemConfig, pattern: NMPattern | None,
                 dataflow: Dataflow, generate: BdwpPass | None) -> None:
        self.config, self.pattern, self.dataflow = config, pattern, dataflow
        self.generate = generate
        self.units = part_units(config, pattern, dataflow)
        self.limit = reduction_limit(config)
        self.plans: dict[tuple[int, int, int], PlannedLayer] = {}

    def plan(self, shape: tuple[int, int, int]) -> PlannedLayer:
        if shape not in self.plans:
            self.plans[shape] = plan_shape(self.config, shape, self.pattern, self.dataflow,
                                           generate=self.generate)
        return self.plans[shape]

    def size(self, shape: tuple[int, int, int]) -> int:
        """The instructions (with END) of a GEMM of ``shape``'s program, or, for a shape that
        cannot run as one program unplanned, a figure past ``program_depth``: its reduction could
        overflow the output entries (:func:`sparsa.dataflow.sat_program.reduction_limit`), or
        it has more tiles than the memory holds instructions besides END (each tile has its
        GEMM; the figure is then its tiles and END)."""
        depth = self.config.program_depth
        tiles = int(np.prod([ceil(s / u) for s, u in zip(shape, self.units, strict=True)]))
        if self.limit is not None and shape[1] > self.limit:
            return max(tiles + 1, depth + 1)
        if tiles + 1 > depth:
            return tiles + 1
        return self.plan(shape).instructions + 1

    def fits(self, shape: tuple[int, int, int]) -> bool:
        """Whether a GEMM of ``shape`` runs as one program (:meth:`size`)."""
        return self.size(shape) <= self.config.program_depth

    def keep(self, parts: tuple[Part, ...]) -> PartsPlan:
        """``parts`` with the plans of their shapes."""
        return PartsPlan(parts, {p.shape: self.plan(p.shape) for p in parts})

    def loaded(self, parts: tuple[Part, ...]) -> int:
        """Bytes the LOADs of the programs of ``parts`` read."""
        return sum(count * sum(self.plan(shape).loads[:2])
                   for shape, count in Counter(p.shape for p in parts).items())


@dataclass(frozen=True)
class CompiledParts:
    """A GEMM compiled as parts (:func:`compile_gemm_parts`): one program and image per part.

    Attributes
    ----------
    parts : tuple of Part
    programs : tuple of CompiledGemm
        Each part's program and image, the images one after another in DRAM.
    shape : tuple of int
        Y's rows and columns.
    """

    parts: tuple[Part, ...]
    programs: tuple[CompiledGemm, ...]
    shape: tuple[int, int]

    def dram(self) -> bytearray:
        """DRAM up to the last image's end, zero but for the images."""
        last = self.programs[-1]
        dram = bytearray(last.base + len(last.image))
        for program in self.programs:
            dram[program.base : program.base + len(program.image)] = program.image
        return dram

    def read_output(self, drams: Sequence[bytes]) -> torch.Tensor:
        """Y as the host assembles it from what each part's STOREs left in its DRAM
        (``drams``, one per part, in order; the same DRAM for all where they ran one after
        another on it): each part's block of Y in place, the parts of a block cut along the
        reduction added in order (the module docstring)."""
        if len(drams) != len(self.parts):
            raise ValueError(f"one DRAM per part: {len(self.parts)}, not {len(drams)}")
        y = torch.zeros(self.shape, dtype=torch.int64)
        is_float = self.programs[0].config.array.dtype.is_float
        for part, program, dram in zip(self.parts, self.programs, drams, strict=True):
            block = program.read_output(dram)
            where = (slice(part.row0, part.row0 + part.rows),
                     slice(part.col0, part.col0 + part.cols))
            if is_float:
                y[where] = torch.from_numpy(
                    fp32_add(y[where].numpy(), block.numpy()).astype(np.int64))
            else:
                y[where] += block
        return y


def compile_gemm_parts(config: SatSystemConfig, values: torch.Tensor, indices: torch.Tensor,
                       b: torch.Tensor, pattern: NMPattern | None, dataflow: Dataflow, *,
                       store_mode: StoreMode = StoreMode.RAW, shift: int = 0, base: int = 0,
                       resident: bool = True) -> CompiledParts:
    """Compile ``Y = A B`` as the parts of :func:`gemm_parts`, each part's operands sliced from
    A and B and compiled by :func:`sparsa.dataflow.sat_program.compile_gemm` (its parameters),
    the images laid out one after another from ``base``, each after the first from the next
    4 KiB boundary (the AXI4 bursts': parts of one shape then cut their transfers into the same
    bursts and take the same cycles wherever they lie).

    Raises
    ------
    ValueError
        As :func:`gemm_parts` and :func:`compile_gemm`, and for a store mode other than RAW
        when the reduction is cut (the host adds raw partial sums).
    """
    parts = gemm_parts(config, (values.shape[0], values.shape[1], b.shape[1]), pattern, dataflow)

    def compile_part(part: Part, rows: slice, positions: slice, part_base: int) -> CompiledGemm:
        entries = slice(part.t0, part.t0 + part.entries)
        return compile_gemm(config, values[rows, entries], indices[rows, entries],
                            b[positions, part.col0 : part.col0 + part.cols], pattern, dataflow,
                            store_mode=store_mode, shift=shift, base=part_base,
                            resident=resident)

    return _compile_parts(config, parts, pattern, (values.shape[0], b.shape[1]), compile_part,
                          store_mode, base)


def compile_generated_gemm_parts(config: SatSystemConfig, w: torch.Tensor, b: torch.Tensor,
                                 pattern: NMPattern, dataflow: Dataflow, direction: BdwpPass, *,
                                 store_mode: StoreMode = StoreMode.RAW, shift: int = 0,
                                 base: int = 0, resident: bool = True) -> CompiledParts:
    """Compile a GEMM whose A GENERATE builds from the dense weights W
    (:func:`sparsa.dataflow.sat_program.compile_generated_gemm`, its parameters) as the parts of
    :func:`gemm_parts`: each part's W and B sliced (FF: its rows of W are A's, its reduction
    W's columns; BP: its rows of A are W's columns, its reduction W's rows), laid out as
    :func:`compile_gemm_parts` lays them out.

    Raises
    ------
    ValueError
        As :func:`gemm_parts` and :func:`compile_generated_gemm`, and for a store mode other
        than RAW when the reduction is cut.
    """
    a_rows, positions = generated_operand(config, w, pattern, direction).shape
    ff = BdwpPass(direction) is BdwpPass.FF
    shape = (a_rows, positions // pattern.m * pattern.n, b.shape[1])
    parts = gemm_parts(config, shape, pattern, dataflow, generate=BdwpPass(direction))

    def compile_part(part: Part, rows: slice, reduction: slice, part_base: int) -> CompiledGemm:
        w_part = w[rows, reduction] if ff else w[reduction, rows]
        return compile_generated_gemm(config, w_part, b[reduction, part.col0 : part.col0
                                                         + part.cols], pattern, dataflow,
                                      direction, store_mode=store_mode, shift=shift,
                                      base=part_base, resident=resident)

    return _compile_parts(config, parts, pattern, (a_rows, b.shape[1]), compile_part,
                          store_mode, base)


def _compile_parts(config: SatSystemConfig, parts: tuple[Part, ...], pattern: NMPattern | None,
                   shape: tuple[int, int], compile_part: Callable[..., CompiledGemm],
                   store_mode: StoreMode, base: int) -> CompiledParts:
    """Each part compiled by ``compile_part(part, A's rows, the reduction's dense positions,
    base)``, the images from ``base``, each after the first on a 4 KiB boundary."""
    whole = max(p.t0 + p.entries for p in parts)
    if any(p.entries < whole for p in parts) and StoreMode(store_mode) is not StoreMode.RAW:
        raise ValueError(f"this GEMM's reduction is cut into parts whose raw partial sums the "
                         f"host adds; its store mode must be RAW, not {StoreMode(store_mode).name}")
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    programs = []
    for part in parts:
        compiled = compile_part(part, slice(part.row0, part.row0 + part.rows),
                                slice(part.t0 // n * m, (part.t0 + part.entries) // n * m), base)
        programs.append(compiled)
        base += -(-len(compiled.image) // AXI_BOUNDARY) * AXI_BOUNDARY
    return CompiledParts(parts, tuple(programs), shape)
