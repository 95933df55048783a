"""Check the SAT PE array's answers: each tile against the golden arithmetic on its own operand
beats, each GEMM reassembled against its golden result, each rejected command's one error beat,
the order of the transfers, and the edges of every command against the cycle model's timeline.

Pure Python (no simulator): every check returns a list of problems (empty when all is well), so
that a run carries on and reports every mismatch.
"""

import torch

from sparsa.config.sat import Dataflow, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile, assemble, tile_lanes
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.models.golden.sat import compressed_matmul
from sparsa.sim.blocks.sat_array import TileTiming
from sparsa.sim.rtl.records import Timeline, check_framing
from sparsa.sim.rtl.sat_array.codec import OutBeat
from sparsa.sim.rtl.sat_array.gemms import Gemm

__all__ = [
    "check_gemm",
    "check_reject",
    "check_tile",
    "check_timing",
    "check_transfers",
    "tile_reference",
]

MAX_LISTED = 4  # differing positions listed per failure


def tile_reference(config: SatArrayConfig, tile: Tile) -> list[list[int]]:
    """The C values of each ``out`` beat of ``tile``, from its operand beats and the module
    docstring of :mod:`sparsa.hw.sat.sat_array`, computed by
    :func:`sparsa.models.golden.sat.compressed_matmul`.

    OS: beat r is row r of (weights lane r) x (activation lanes 0..C-1). WS: beat j holds, for
    each column c, (weights lane c, the loaded rows) x (activation groups of output column j);
    columns past the tile's output rows carry zero weights (zero sums for integers; a floating-
    point zero times an Inf activation is a NaN, as in the PE).
    """
    pattern = runtime_patterns(config)[tile.pattern]
    n, m = (1, 1) if pattern is None else (pattern.n, pattern.m)
    C = config.cols

    def entries(key: str) -> torch.Tensor:
        lanes = range(tile.out_rows if tile.dataflow == Dataflow.OS else C)
        return torch.tensor([[beat[lane][key] for beat in tile.weights] for lane in lanes])

    if tile.dataflow == Dataflow.OS:
        k, columns = tile.length // n * m, range(C)
        b = [[tile.acts[t // m][c][t % m] for c in columns] for t in range(k)]
    else:
        k, columns = tile.rows // n * m, range(tile.length)
        b = [[tile.acts[j][t // m][t % m] for j in columns] for t in range(k)]
    y = compressed_matmul(entries("value"), entries("index"), torch.tensor(b), pattern, config,
                          lanes=tile_lanes(config, tile.dataflow))
    return y.tolist() if tile.dataflow == Dataflow.OS else y.T.tolist()


def check_tile(config: SatArrayConfig, tile: Tile, beats: list[OutBeat]) -> list[str]:
    """Problems with the ``out`` beats answering a good tile."""
    want = tile_reference(config, tile)
    problems = check_framing(beats, len(want))
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
    """Problems with the order of one answered command's transfers.

    It must be accepted after the previous command, and after the previous answer had ended
    unless the array interleaves (``overlap``); it must consume exactly its own operand beats
    (``beats``: count per operand stream, zero for a rejected command), after its command and
    by the end of its answer.
    """
    assert current.cmd_edge is not None and current.out
    problems = []
    if previous is not None and previous.cmd_edge is not None:
        if current.cmd_edge <= previous.cmd_edge:
            problems.append("cmd accepted before the previous command")
        elif not overlap and previous.out and current.cmd_edge <= previous.out[-1].edge:
            problems.append("cmd accepted before the previous answer had ended")
    end = current.out[-1].edge
    for stream, want in beats.items():
        edges = current.inputs.get(stream, [])
        if any(not current.cmd_edge < e <= end for e in edges):
            problems.append(f"{stream} beats transferred outside the command's span")
        if len(edges) != want:
            problems.append(f"{len(edges)} {stream} beats consumed, expected {want}")
    return problems


def check_gemm(gemm: Gemm, outputs: list[list[list[int]]]) -> list[str]:
    """Problems with a whole GEMM: its tiles' outputs reassembled against the golden result."""
    got = assemble(gemm.tiles, outputs, tuple(gemm.expect.shape), gemm.dtype)
    if torch.equal(got, gemm.expect):
        return []
    where = (got != gemm.expect).nonzero().tolist()
    diffs = [
        f"Y[{i}][{j}] = {int(got[i, j])}, golden {int(gemm.expect[i, j])}"
        for i, j in where[:MAX_LISTED]
    ]
    return [f"{len(where)} of {gemm.expect.numel()} results differ: {'; '.join(diffs)}"]


def check_timing(measured: TileTiming, predicted: TileTiming) -> list[str]:
    """Problems with a command's command and last-answer edges (counted from its batch's first
    command) against :func:`sparsa.sim.blocks.sat_array.sequence_timeline`."""
    problems = []
    if measured.cmd_edge != predicted.cmd_edge:
        problems.append(f"cmd taken at edge {measured.cmd_edge}, timeline {predicted.cmd_edge}")
    if measured.end_edge != predicted.end_edge:
        problems.append(f"answer ended at edge {measured.end_edge}, timeline "
                        f"{predicted.end_edge}")
    return problems
