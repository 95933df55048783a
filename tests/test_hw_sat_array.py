# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the SAT PE array: the three training GEMMs, tiled, against the golden
functions; every tile's cycles against the cycle model; rejected commands; stalls."""

import pytest
import torch
from rtl.sat_gemms import DENSE, GemmSpec, make_gemm

from dataflow.sat_tiles import Tile, assemble
from hw.sat_array import OS, WS, SatArray, runtime_patterns
from hw.sat_config import IntFormat, NMPattern, SatArrayConfig
from hw.stream_sim import drive
from sim.sat_array import REJECT_CYCLES, tile_cycles

CONFIG = SatArrayConfig(rows=3, cols=4, patterns=(NMPattern(2, 4), NMPattern(1, 8)),
                        dtype=IntFormat.INT8, max_reduction=64)
CONFIGS = {
    "r3c4-int8": CONFIG,
    "r4c2-int16": SatArrayConfig(rows=4, cols=2, dtype=IntFormat.INT16, max_reduction=256,
                                 patterns=(NMPattern(1, 2), NMPattern(3, 8), NMPattern(4, 16))),
}


def _gemm_tiles(config, seed, pattern, dataflow, kind):
    cout, k, batch = max(8, config.max_m), 16, 6  # BP reduces over cout: whole groups of M
    rows, reduction, cols = {"FF": (cout, k, batch), "BP": (k, cout, batch),
                             "WU": (cout, batch, k)}[kind]
    spec = GemmSpec(kind=kind, pattern=str(pattern or DENSE),
                    dataflow="OS" if dataflow == OS else "WS", rows=rows, k=reduction,
                    cols=cols, style="mixed", seed=seed)
    gemm = make_gemm(config, spec)
    return gemm.tiles, gemm.expect


def _run(config, tiles: list[Tile], stall_seed):
    sources = {"cmd": [t.cmd for t in tiles],
               "weights": [w for t in tiles for w in t.weights],
               "acts": [a for t in tiles for a in t.acts]}
    trace = drive(SatArray(config), sources, "out", lasts=len(tiles), stall_seed=stall_seed)
    answers, beats = [], []
    for cycle, out in zip(trace.cycles["out"], trace.outputs, strict=True):
        beats.append(out)
        if out.last:
            start = trace.cycles["cmd"][len(answers)]
            answers.append((beats, cycle - start))
            beats = []
    return answers


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("stall_seed", [None, 11])
def test_training_gemms_on_both_dataflows(name, stall_seed):
    config = CONFIGS[name]
    seed = 4242 + list(CONFIGS).index(name) * 10 + (stall_seed is not None)
    jobs = []
    for kind in ("FF", "BP", "WU"):
        for pattern in (runtime_patterns(config) if kind != "WU" else (None,)):
            for dataflow in (OS, WS):
                jobs.append((kind, pattern, dataflow,
                             *_gemm_tiles(config, seed + len(jobs), pattern, dataflow, kind)))
    tiles = [t for job in jobs for t in job[3]]
    answers = iter(_run(config, tiles, stall_seed))
    for kind, pattern, dataflow, job_tiles, expect in jobs:
        outputs = []
        for tile in job_tiles:
            beats, cycles = next(answers)
            msg = (f"seed={seed} {kind} {pattern or 'dense'} "
                   f"{'OS' if dataflow == OS else 'WS'} tile {tile.cmd}")
            assert not any(b.error for b in beats), msg
            outputs.append([[b.value[c] for c in range(config.cols)] for b in beats])
            if stall_seed is None:
                predicted = tile_cycles(config, dataflow=tile.dataflow, pattern=tile.pattern,
                                        length=tile.length, rows=tile.rows)
                assert cycles == predicted, msg
        got = assemble(job_tiles, outputs, tuple(expect.shape))
        assert torch.equal(got, expect), f"seed={seed} {kind} {pattern} {dataflow}"


def test_rejected_commands_consume_nothing():
    bad = [
        {"dataflow": OS, "pattern": 1, "length_m1": 2, "rows_m1": 0},  # 3 entries, N = 2
        {"dataflow": WS, "pattern": 1, "length_m1": 0, "rows_m1": 2},  # 3 rows, N = 2
        {"dataflow": OS, "pattern": 3, "length_m1": 0, "rows_m1": 0},  # no pattern 3
        {"dataflow": OS, "pattern": 0, "length_m1": 64, "rows_m1": 0},  # 65 > max_reduction
    ]
    good = Tile(OS, 0, 1, 1, [[{"value": 3, "index": 0}] * 4], [[[5] * 8] * 4], 0, 0, 1, 1)
    trace = drive(SatArray(CONFIG), {"cmd": [*bad, good.cmd], "weights": good.weights,
                                     "acts": good.acts}, "out", lasts=len(bad) + 1)
    outs = trace.outputs
    assert [bool(o.error) for o in outs[:-1]] == [True] * len(bad)
    assert not outs[-1].error and outs[-1].value[0] == 15
    for i, cmd in enumerate(bad):
        assert trace.cycles["out"][i] - trace.cycles["cmd"][i] == REJECT_CYCLES
        assert tile_cycles(CONFIG, dataflow=cmd["dataflow"], pattern=cmd["pattern"],
                           length=cmd["length_m1"] + 1, rows=cmd["rows_m1"] + 1) == REJECT_CYCLES


def test_array_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be a SatArrayConfig, not dict"):
        SatArray({})
