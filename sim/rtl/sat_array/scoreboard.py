"""Check the SAT PE array's answers: each tile against the golden arithmetic on its own operand
beats, each GEMM reassembled against its golden result, transfer order and cycles.

Pure Python (no cocotb): the checks return a list of problems (empty when all is well) so that a
run can carry on and report every mismatch.
"""

from collections import Counter
from dataclasses import dataclass, field

import torch

from sparsa.config.sat import SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile, assemble
from sparsa.hw.sat.sat_array import OS, runtime_patterns
from sparsa.models.golden.sat import compressed_matmul
from sparsa.sim.rtl.records import RunSummary, Timeline, check_operands
from sparsa.sim.rtl.sat_array.codec import OutBeat
from sparsa.sim.rtl.sat_array.gemms import Gemm

__all__ = [
    "SatArraySummary",
    "check_gemm",
    "check_reject",
    "check_tile",
    "check_transfers",
    "tile_reference",
]

MAX_LISTED = 4  # differing positions listed per failure


def tile_reference(config: SatArrayConfig, tile: Tile) -> list[list[int]]:
    """The C values of each ``out`` beat of ``tile``, from its operand beats and the module
    docstring of :mod:`sparsa.hw.sat.sat_array`, computed by :func:`sparsa.models.golden.sat.compressed_matmul`.

    OS: beat r is row r of (weights lane r) x (activation lanes 0..C-1). WS: beat j holds, for
    each column c, (weights lane c, the loaded rows) x (activation groups of output column j);
    columns past the tile's output rows carry zero weights, so their sums are zero.
    """
    pattern = runtime_patterns(config)[tile.pattern]
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    C = config.cols

    def entries(field: str) -> torch.Tensor:
        lanes = range(tile.out_rows)
        return torch.tensor([[beat[lane][field] for beat in tile.weights] for lane in lanes])

    if tile.dataflow == OS:
        k, columns = tile.length // n * m, range(C)
        b = [[tile.acts[t // m][c][t % m] for c in columns] for t in range(k)]
    else:
        k, columns = tile.rows // n * m, range(tile.length)
        b = [[tile.acts[j][t // m][t % m] for j in columns] for t in range(k)]
    y = compressed_matmul(entries("value"), entries("index"), torch.tensor(b), pattern, config)
    if tile.dataflow == OS:
        return y.tolist()
    padded = torch.zeros((C, tile.length), dtype=y.dtype)
    padded[: tile.out_rows] = y
    return padded.T.tolist()


def check_tile(config: SatArrayConfig, tile: Tile, beats: list[OutBeat]) -> list[str]:
    """Problems with the ``out`` beats answering a good tile."""
    want = tile_reference(config, tile)
    problems = []
    if len(beats) != len(want):
        problems.append(f"expected {len(want)} out beats, got {len(beats)}")
    if any(b.error for b in beats):
        problems.append("error flag set on a good command")
    if any(b.last for b in beats[:-1]):
        problems.append("last set before the final beat")
    got = [list(b.value) for b in beats]
    if got != want:
        diffs = [
            f"beat {i} lane {c}: got {g}, expected {w}"
            for i, (gb, wb) in enumerate(zip(got, want, strict=False))
            for c, (g, w) in enumerate(zip(gb, wb, strict=True))
            if g != w
        ]
        problems.append(f"{len(diffs)} values differ: {'; '.join(diffs[:MAX_LISTED])}")
    return problems


def check_reject(beats: list[OutBeat]) -> list[str]:
    """Problems with the answer to a rejected command: exactly one beat, error and last set."""
    if len(beats) != 1 or not beats[0].error or not beats[0].last:
        flags = [(int(b.error), int(b.last)) for b in beats]
        return [f"a rejected command must get one beat error=1 last=1, got (error, last) {flags}"]
    return []


def check_transfers(
    previous: Timeline | None, current: Timeline, beats: dict[str, int], *, overlap: bool
) -> list[str]:
    """Problems with the order of one command's transfers: it must be accepted after the
    previous command, and after the previous answer had ended unless the array interleaves
    (``overlap``), and consume exactly its own operand beats (:func:`records.check_operands`)."""
    problems = []
    assert current.cmd_edge is not None
    if previous is not None and previous.cmd_edge is not None:
        if current.cmd_edge <= previous.cmd_edge:
            problems.append("cmd accepted before the previous command")
        elif not overlap and previous.out and current.cmd_edge <= previous.out[-1].edge:
            problems.append("cmd accepted before the previous answer had ended")
    return problems + check_operands(current, beats)


def check_gemm(gemm: Gemm, outputs: list[list[list[int]]]) -> list[str]:
    """Problems with a whole GEMM: its tiles' outputs reassembled against the golden result."""
    got = assemble(gemm.tiles, outputs, tuple(gemm.expect.shape))
    if torch.equal(got, gemm.expect):
        return []
    where = (got != gemm.expect).nonzero().tolist()
    diffs = [
        f"Y[{i}][{j}] = {int(got[i, j])}, golden {int(gemm.expect[i, j])}"
        for i, j in where[:MAX_LISTED]
    ]
    return [f"{len(where)} of {gemm.expect.numel()} results differ: {'; '.join(diffs)}"]


@dataclass
class SatArraySummary(RunSummary):
    """Counts and the first failures of a PE-array run."""

    tiles: int = 0
    gemms: int = 0
    rejects: int = 0
    stalled_tiles: int = 0
    sequence_checks: int = 0
    gemm_kinds: Counter[str] = field(default_factory=Counter)

    def counts_text(self) -> str:
        """Tiles, GEMMs and rejects run."""
        return (
            f"{self.tiles} tiles ({self.stalled_tiles} stalled) of {self.gemms} GEMMs "
            f"({len(self.gemm_kinds)} kind/pattern/dataflow combinations), {self.rejects} "
            f"rejected commands, {self.sequence_checks} batch sequence checks"
        )
