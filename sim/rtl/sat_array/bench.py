"""Dense against N:M on the SAT PE array: RTL-measured cycles of one layer's FF GEMM.

:func:`layer_bench` tiles the forward GEMM of one layer (``Y = (W o Mf) X``) onto the array for
each pattern and dataflow, runs the tiles back to back on the RTL in ``amaranth.sim`` (the
Amaranth design itself, cycle by cycle), once with interleave mapping and once without (the same
RTL elaborated with ``interleave=False``), and reports the measured cycles beside the cycle
model's predictions, the speedup over dense with the ideal M / N beside it, and the gain of
interleave.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from sparsa.config.sat import NMPattern, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile, assemble, plan_tiles
from sparsa.hw.sat.sat_array import OS, WS, SatArray, runtime_patterns
from sparsa.models.golden.sat import gemm_ff, nm_generate
from sparsa.sim.blocks.sat_array import sequence_cycles
from sparsa.sim.rtl.amaranth_streams import drive

__all__ = ["BENCH_CONFIG", "BENCH_LAYER", "SatBenchRow", "format_table", "layer_bench"]

BENCH_CONFIG = SatArrayConfig(
    rows=8,
    cols=8,
    patterns=tuple(NMPattern.parse(p) for p in ("2:4", "4:8", "1:4", "2:8", "1:8")),
)
BENCH_LAYER = {"cout": 32, "k": 256, "batch": 16}  # a Linear layer's FF GEMM: 32x256 by 256x16


@dataclass(frozen=True)
class SatBenchRow:
    """One (dataflow, pattern) run: measured and predicted cycles with and without interleave,
    speedup over dense (with interleave)."""

    dataflow: str
    pattern: str
    tiles: int
    rtl_cycles: int
    model_cycles: int
    rtl_cycles_no_interleave: int
    model_cycles_no_interleave: int
    speedup: float
    ideal: float

    @property
    def interleave_gain(self) -> float:
        """Measured cycles without interleave over those with it."""
        return self.rtl_cycles_no_interleave / self.rtl_cycles


def layer_bench(
    config: SatArrayConfig = BENCH_CONFIG,
    *,
    cout: int = BENCH_LAYER["cout"],
    k: int = BENCH_LAYER["k"],
    batch: int = BENCH_LAYER["batch"],
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[SatBenchRow]:
    """Measure the FF GEMM of a ``cout x k`` layer on ``batch`` inputs, every pattern, OS and WS,
    on ``config``'s array with and without interleave (its own ``interleave`` is replaced).

    Every run's result is checked against :func:`sparsa.models.golden.sat.gemm_ff` before its cycles
    are reported; a mismatch raises ``AssertionError``.
    """
    gen = torch.Generator().manual_seed(seed)
    lo, hi = config.dtype.range
    w = torch.randint(lo, hi + 1, (cout, k), generator=gen)
    x = torch.randint(lo, hi + 1, (k, batch), generator=gen)
    arrays = [config.replace(interleave=flag) for flag in (True, False)]
    rows = []
    for dataflow, name in ((OS, "OS"), (WS, "WS")):
        dense_cycles = None
        for pattern in runtime_patterns(config):
            values, indices = (w, w) if pattern is None else nm_generate(w, pattern)
            tiles = plan_tiles(config, values, indices, x, pattern, dataflow)
            expect = gemm_ff(w, x, pattern, config)
            (measured, predicted), (serial, serial_predicted) = (
                _run(array, tiles, expect) for array in arrays
            )
            dense_cycles = dense_cycles or measured
            label = "dense" if pattern is None else str(pattern)
            rows.append(
                SatBenchRow(
                    name,
                    label,
                    len(tiles),
                    measured,
                    predicted,
                    serial,
                    serial_predicted,
                    dense_cycles / measured,
                    1.0 if pattern is None else pattern.m / pattern.n,
                )
            )
            if progress:
                progress(f"{name} {label}: {measured} cycles, {serial} without interleave")
    return rows


def _run(config: SatArrayConfig, tiles: list[Tile], expect: torch.Tensor) -> tuple[int, int]:
    """Measured and predicted cycles of ``tiles`` back to back; checks the result."""
    sources = {
        "cmd": [t.cmd for t in tiles],
        "weights": [b for t in tiles for b in t.weights],
        "acts": [b for t in tiles for b in t.acts],
    }
    trace = drive(SatArray(config), sources, "out", lasts=len(tiles))
    beats, per_tile = [], []
    for out in trace.outputs:
        beats.append([out.value[c] for c in range(config.cols)])
        if out.last:
            per_tile.append(beats)
            beats = []
    if not torch.equal(assemble(tiles, per_tile, tuple(expect.shape)), expect):
        raise AssertionError("the RTL's GEMM differs from the golden model")
    predicted = sequence_cycles(
        config,
        [
            {"dataflow": t.dataflow, "pattern": t.pattern, "length": t.length, "rows": t.rows}
            for t in tiles
        ],
    )
    return trace.cycles["out"][-1] - trace.cycles["cmd"][0], predicted


def format_table(rows: list[SatBenchRow]) -> str:
    """A Markdown table of the bench."""
    lines = [
        "| dataflow | pattern | tiles | RTL cycles | model cycles | RTL cycles without "
        "interleave | model cycles without interleave | interleave gain | speedup | "
        "ideal (M/N) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.dataflow} | {r.pattern} | {r.tiles} | {r.rtl_cycles} | {r.model_cycles} "
        f"| {r.rtl_cycles_no_interleave} | {r.model_cycles_no_interleave} "
        f"| {r.interleave_gain:.2f}x | {r.speedup:.2f}x | {r.ideal:.2f}x |"
        for r in rows
    ]
    return "\n".join(lines)
