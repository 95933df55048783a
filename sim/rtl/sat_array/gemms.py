"""SAT's three training GEMMs, made from seeded operands and cut into PE-array tiles, with their
bit-exact golden results. Pure Python (no simulator), for the RTL harness's plans.

A GEMM ``Y = A B`` is described by a :class:`GemmSpec`: which training step (FF, BP or WU), the
N:M pattern of A (or dense), the dataflow, the sizes of A (``rows x k``, k the dense reduction)
and B (``k x cols``), a value style and a seed. :func:`make_gemm` draws A and B, compresses A
with :func:`sparsa.models.golden.sat.nm_generate`, plans the tiles with
:func:`sparsa.dataflow.sat_tiles.plan_tiles` (activation lanes past M filled with seeded random
junk) and computes the golden Y with the step's own golden function:

* FF: A = W (``Cout x Cin``), compressed along K = Cin; B = X; ``gemm_ff(W, X)``;
* BP: A = W^T (``Cin x Cout``), compressed along K = Cout; B = dY; ``gemm_bp(W, dY)``;
* WU: A = dY (``Cout x batch``), dense; B = X^T; ``gemm_wu(dY, X)``.
"""

import random
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile, plan_tiles, tile_entries, tile_lanes
from sparsa.models.golden.floats import to_bits
from sparsa.models.golden.sat import gemm_bp, gemm_ff, gemm_wu, nm_generate

__all__ = [
    "DATAFLOWS",
    "DENSE",
    "KINDS",
    "STYLES",
    "Gemm",
    "GemmSpec",
    "make_gemm",
    "make_operands",
    "pattern_names",
    "random_operands",
]

KINDS = ("FF", "BP", "WU")
DATAFLOWS = tuple(d.name for d in Dataflow)  # a spec names its dataflow: "OS" or "WS"
DENSE = "dense"
# mixed: uniform with 10 % minimum and 10 % maximum values; extremes: only the minimum and the
# maximum; sparse: 75 % zeros; corner: A all minimum, B all minimum or all maximum (the largest
# and the most negative sums, at the top of the accumulators when k = max_reduction).
STYLES = ("mixed", "extremes", "sparse", "corner")
ZERO_GROUP_RATE = 0.15  # share of all-zero groups of M along the reduction (except corner)
_DENSE_GROUP = 4  # group size of the all-zero groups of a dense GEMM


def pattern_names(config: SatArrayConfig) -> tuple[str, ...]:
    """Names of the patterns a command may select, in code order: dense, then the config's."""
    return (DENSE, *(str(p) for p in config.patterns))


@dataclass(frozen=True)
class GemmSpec:
    """One GEMM to run: everything needed to regenerate its operands and tiles.

    Attributes
    ----------
    kind : str
        ``"FF"``, ``"BP"`` or ``"WU"`` (WU is dense).
    pattern : str
        ``"dense"`` or ``"N:M"``, one the array supports.
    dataflow : str
        The name of a :class:`~sparsa.config.sat.Dataflow` member, ``"OS"`` or ``"WS"``.
    rows, k, cols : int
        A is ``rows x k`` dense (k a multiple of M), B is ``k x cols``.
    style : str
        One of :data:`STYLES`.
    seed : int
        Seed of the operands and of the junk activation lanes.
    """

    kind: str
    pattern: str
    dataflow: str
    rows: int
    k: int
    cols: int
    style: str
    seed: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind == "WU" and self.pattern != DENSE:
            raise ValueError(f"WU GEMMs are dense, not {self.pattern}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {self.style!r}")
        nm = self.nm
        if min(self.rows, self.k, self.cols) < 1 or (nm is not None and self.k % nm.m):
            raise ValueError(f"bad sizes {self.rows}x{self.k}x{self.cols} for {self.pattern}")

    @property
    def nm(self) -> NMPattern | None:
        """The N:M pattern, None when dense."""
        return None if self.pattern == DENSE else NMPattern.parse(self.pattern)

    def describe(self) -> str:
        """Short text for reports."""
        return (
            f"{self.kind} {self.pattern} {self.dataflow} A {self.rows}x{self.k} B "
            f"{self.k}x{self.cols} {self.style} seed={self.seed}"
        )

    def to_json(self) -> dict[str, object]:
        """Plain-data form (for replays)."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Gemm:
    """A GEMM ready to run: its spec, its tiles in command order, the golden result and the
    number format (integers, or FP32 bit patterns)."""

    spec: GemmSpec
    tiles: list[Tile]
    expect: torch.Tensor
    dtype: NumberFormat


def _specials(dtype: NumberFormat) -> dict[str, int]:
    """Bit patterns of the edges of a floating-point format."""
    layout = dtype.float_layout
    inf = layout.max_exponent << layout.fraction_bits
    return {"max": inf - 1, "inf": inf, "nan": inf | 1 << (layout.fraction_bits - 1),
            "tiny": 1, "sign": 1 << (dtype.width - 1)}


def random_operands(gen: torch.Generator, shape: tuple[int, int], dtype: NumberFormat):
    """Plain random operands: integers uniform over the format's range; floats normal values
    spread over 2^-8..2^8, as bit patterns."""
    if not dtype.is_float:
        lo, hi = dtype.range
        return torch.randint(lo, hi + 1, shape, generator=gen)
    scale = torch.exp2(torch.randint(-8, 9, shape, generator=gen).double())
    values = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    return torch.from_numpy(to_bits(values.numpy(), dtype).astype(np.int64))


def _draw_float(gen: torch.Generator, shape: tuple[int, int], dtype: NumberFormat, style: str):
    """Bit patterns: normal values spread over 2^-8..2^8 with random signs (so sums round and
    cancel); mixed adds 4 % subnormals, 4 % -0, 1 % infinities and 1 % NaNs; extremes holds only
    +/- the largest finite value and +/- the smallest subnormal (overflow to Inf, Inf - Inf,
    underflow); sparse is 75 % zeros of either sign."""
    edge = _specials(dtype)
    t = random_operands(gen, shape, dtype)
    u = torch.rand(shape, generator=gen)
    signs = torch.where(torch.rand(shape, generator=gen) < 0.5, edge["sign"], 0)
    if style == "extremes":
        t = torch.where(u < 0.5, edge["max"], edge["tiny"]) | signs
    elif style == "sparse":
        t = torch.where(u < 0.75, signs, t)
    elif style == "mixed":
        subnormal = torch.randint(1, 1 << dtype.float_layout.fraction_bits, shape, generator=gen)
        for low, high, value in ((0.0, 0.04, subnormal | signs), (0.04, 0.08, edge["sign"]),
                                 (0.08, 0.09, edge["inf"] | signs), (0.09, 0.10, edge["nan"])):
            t = torch.where((u >= low) & (u < high), value, t)
    return t


def _draw(gen: torch.Generator, shape: tuple[int, int], dtype: NumberFormat, style: str):
    if dtype.is_float:
        return _draw_float(gen, shape, dtype, style)
    lo, hi = dtype.range
    if style == "extremes":
        return torch.where(torch.rand(shape, generator=gen) < 0.5, lo, hi).to(torch.int64)
    t = torch.randint(lo, hi + 1, shape, generator=gen)
    if style == "sparse":
        t[torch.rand(shape, generator=gen) < 0.75] = 0
    elif style == "mixed":
        t[torch.rand(shape, generator=gen) < 0.1] = lo
        t[torch.rand(shape, generator=gen) < 0.1] = hi
    return t


def _zero_groups(gen: torch.Generator, t: torch.Tensor, group: int) -> torch.Tensor:
    """Zero random groups of ``group`` consecutive entries along the last dimension."""
    rows, k = t.shape
    groups = torch.rand((rows, -(-k // group)), generator=gen) < ZERO_GROUP_RATE
    t[groups.repeat_interleave(group, dim=1)[:, :k]] = 0
    return t


def make_operands(spec: GemmSpec, dtype: NumberFormat) -> tuple[torch.Tensor, torch.Tensor]:
    """A (``rows x k``) and B (``k x cols``) of ``spec``, drawn from its seed."""
    gen = torch.Generator().manual_seed(spec.seed)
    if spec.style == "corner" and dtype.is_float:  # the largest products, of one or both signs
        edge = _specials(dtype)
        a = torch.full((spec.rows, spec.k), edge["max"], dtype=torch.int64)
        sign = edge["sign"] if torch.rand(1, generator=gen).item() < 0.5 else 0
        return a, torch.full((spec.k, spec.cols), edge["max"] | sign, dtype=torch.int64)
    if spec.style == "corner":
        lo, hi = dtype.range
        a = torch.full((spec.rows, spec.k), lo, dtype=torch.int64)
        extreme = lo if torch.rand(1, generator=gen).item() < 0.5 else hi
        return a, torch.full((spec.k, spec.cols), extreme, dtype=torch.int64)
    group = _DENSE_GROUP if spec.nm is None else spec.nm.m
    a = _zero_groups(gen, _draw(gen, (spec.rows, spec.k), dtype, spec.style), group)
    b = _zero_groups(gen, _draw(gen, (spec.cols, spec.k), dtype, spec.style), group)
    return a, b.T.contiguous()


def _golden(config: SatArrayConfig, spec: GemmSpec, a: torch.Tensor, b: torch.Tensor):
    dataflow = Dataflow[spec.dataflow]
    chunk = tile_entries(config, spec.nm, dataflow)  # the output buffer's order
    lanes = tile_lanes(config, dataflow)  # the PEs' order
    if spec.kind == "FF":
        return gemm_ff(a, b, spec.nm, config, chunk=chunk, lanes=lanes)
    if spec.kind == "BP":
        return gemm_bp(a.T.contiguous(), b, spec.nm, config, chunk=chunk, lanes=lanes)
    return gemm_wu(a, b.T.contiguous(), config, chunk=chunk, lanes=lanes)


def make_gemm(config: SatArrayConfig, spec: GemmSpec) -> Gemm:
    """Draw the operands of ``spec``, plan its tiles and compute its golden result."""
    a, b = make_operands(spec, config.dtype)
    nm = spec.nm
    dtype = config.dtype
    values, indices = (a, torch.zeros_like(a)) if nm is None else nm_generate(a, nm, dtype)
    lo, hi = dtype.stored_range  # floats: any bit pattern
    junk = random.Random(spec.seed)
    tiles = plan_tiles(config, values, indices, b, nm, Dataflow[spec.dataflow],
                       filler=lambda: junk.randint(lo, hi))
    return Gemm(spec=spec, tiles=tiles, expect=_golden(config, spec, a, b), dtype=dtype)
