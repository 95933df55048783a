"""Dense against N:M on the SAT PE array: RTL-measured cycles of one layer's FF GEMM.

:func:`layer_bench` tiles the forward GEMM of one layer (``Y = (W o Mf) X``) onto the array for
each pattern and dataflow, runs the tiles back to back on the RTL in ``amaranth.sim`` (the
Amaranth design itself, cycle by cycle), once with interleave mapping and once without (the same
RTL elaborated with ``interleave=False``), and reports the measured cycles beside the cycle
model's predictions, the speedup over dense with the ideal M / N beside it, and the gain of
interleave. :func:`run_tiles` drives the tiles through the RTL harness's stream sources and
sink (:mod:`sparsa.sim.rtl.streams`), nothing stalling.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile, assemble, plan_tiles, tile_entries
from sparsa.hw.sat.sat_array import SatArray, runtime_patterns
from sparsa.models.golden.sat import gemm_ff, nm_generate
from sparsa.sim.blocks.sat_array import sequence_cycles
from sparsa.sim.rtl.backends import PERIOD_NS, AmaranthBackend
from sparsa.sim.rtl.sat_array.codec import OutBeat, SatArrayCodec
from sparsa.sim.rtl.sat_array.gemms import random_operands
from sparsa.sim.rtl.sat_array.stimulus import SOURCES, command_fields
from sparsa.sim.rtl.streams import Beat, HarnessTimeoutError, Sink, Source, StreamRunner

__all__ = [
    "BENCH_CONFIG",
    "BENCH_LAYER",
    "Answer",
    "SatBenchRow",
    "format_table",
    "layer_bench",
    "run_tiles",
]

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
    w = random_operands(gen, (cout, k), config.dtype)
    x = random_operands(gen, (k, batch), config.dtype)
    arrays = [config.replace(interleave=flag) for flag in (True, False)]
    rows = []
    for dataflow in Dataflow:
        name = dataflow.name
        dense_cycles = None
        for pattern in runtime_patterns(config):
            values, indices = (w, w) if pattern is None else nm_generate(w, pattern, config.dtype)
            tiles = plan_tiles(config, values, indices, x, pattern, dataflow)
            expect = gemm_ff(w, x, pattern, config, chunk=tile_entries(config, pattern, dataflow))
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


@dataclass(frozen=True)
class Answer:
    """One command run by :func:`run_tiles`: the edge that took it and its answer's beats."""

    cmd_edge: int
    beats: list[OutBeat]


def run_tiles(
    config: SatArrayConfig,
    tiles: Sequence[Tile],
    *,
    offer: Sequence[int] | None = None,
    max_cycles: int = 200_000,
) -> list[Answer]:
    """Run ``tiles`` back to back on the array's RTL in ``amaranth.sim``; return each one's
    :class:`Answer`.

    The operand beats are offered from the first cycle on and the output is always ready;
    edges count from the first cycle, as in the harness (:mod:`sparsa.sim.rtl.streams`).

    Parameters
    ----------
    offer : sequence of int, optional
        Tile i's command is not offered before cycle ``offer[i]`` (non-decreasing); by default
        every command is offered as early as the array takes it.
    max_cycles : int
        A run that has not answered every command by then raises
        :class:`~sparsa.sim.rtl.streams.HarnessTimeoutError`.
    """
    from amaranth.sim import Simulator

    dut = SatArray(config)
    codec = SatArrayCodec(config)
    sources = {port: Source(port) for port in SOURCES}
    sink = Sink("out")
    edges: list[int] = []
    answers: list[list[OutBeat]] = [[]]
    sources["cmd"].on_transfer = lambda beat: edges.append(beat.cycle)

    def on_beat(beat: Beat) -> None:
        answers[-1].append(codec.out(beat.payload, beat.cycle))
        if answers[-1][-1].last:
            answers.append([])

    sink.on_beat = on_beat
    for tile in tiles:
        for port, beats in (("weights", tile.weights), ("acts", tile.acts)):
            for beat in beats:
                sources[port].push(codec.pack(port, beat))

    async def testbench(ctx: Any) -> None:
        runner = StreamRunner(AmaranthBackend(ctx, dut), sources.values(), [sink], seed=0)
        runner.idle()
        pushed = 0
        while len(answers) <= len(tiles):
            while pushed < len(tiles) and (offer is None or offer[pushed] <= runner.cycle):
                sources["cmd"].push(codec.pack("cmd", tiles[pushed].cmd))
                pushed += 1
            if runner.cycle >= max_cycles:
                raise HarnessTimeoutError(f"sat-array: {len(answers) - 1} of {len(tiles)} "
                                          f"commands answered after {max_cycles} cycles")
            await runner.step()

    sim = Simulator(dut)
    sim.add_clock(PERIOD_NS * 1e-9)
    sim.add_testbench(testbench)
    sim.run()
    return [Answer(edge, beats) for edge, beats in zip(edges, answers[:-1], strict=True)]


def _run(config: SatArrayConfig, tiles: list[Tile], expect: torch.Tensor) -> tuple[int, int]:
    """Measured and predicted cycles of ``tiles`` back to back; checks the result."""
    answers = run_tiles(config, tiles)
    per_tile = [[list(b.value) for b in a.beats] for a in answers]
    if not torch.equal(assemble(tiles, per_tile, tuple(expect.shape), config.dtype), expect):
        raise AssertionError("the RTL's GEMM differs from the golden model")
    predicted = sequence_cycles(config, [command_fields(t.cmd) for t in tiles])
    return answers[-1].beats[-1].edge - answers[0].cmd_edge, predicted


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
