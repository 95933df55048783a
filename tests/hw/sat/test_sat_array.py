# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the SAT PE array through the RTL harness: the three training GEMMs on
every pattern and dataflow and rejected commands back to back, with and without interleave and
stalls, against the golden functions; every unstalled command's edges against the cycle model's
timeline; commands offered late.

The bulk of the checking runs on the generated Verilog (``tests/sim/rtl``, ``sparsa verify
sat-array``); these fast runs catch regressions without a Verilator build.
"""

import random

import pytest

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.hw.sat.sat_array import SatArray, cmd_layout
from sparsa.sim.blocks.sat_array import REJECT_CYCLES, ArrayTimeline, tile_cycles
from sparsa.sim.rtl.harness import Batch, run_amaranth
from sparsa.sim.rtl.sat_array.bench import format_table, layer_bench, run_tiles
from sparsa.sim.rtl.sat_array.block import SatArrayBlock
from sparsa.sim.rtl.sat_array.gemms import DENSE, GemmSpec, make_gemm, pattern_names
from sparsa.sim.rtl.sat_array.scoreboard import check_tile
from sparsa.sim.rtl.sat_array.stimulus import REASONS, Reject, command_fields, commands, rejects
from sparsa.sim.rtl.stalls import Stalls

CONFIG = SatArrayConfig(rows=3, cols=4, patterns=(NMPattern(2, 4), NMPattern(1, 8)),
                        dtype=NumberFormat.INT8, max_reduction=64)
CONFIGS = {
    "r3c4-int8": CONFIG,
    "r4c2-int16": SatArrayConfig(
        rows=4,
        cols=2,
        dtype=NumberFormat.INT16,
        max_reduction=256,
        patterns=(NMPattern(1, 2), NMPattern(3, 8), NMPattern(4, 16)),
    ),
    # Pipelined FP32 adders: two stages; three (an odd lane in the combine tree), on 3 rows, so
    # that a WS tile after an OS one waits for its rows; four.
    "r3c4-fp16-a2": CONFIG.replace(dtype=NumberFormat.FP16, add_latency=2),
    "r3c3-bf16-a3": CONFIG.replace(cols=3, dtype=NumberFormat.BF16, add_latency=3),
    "r2c3-fp16-a4": CONFIG.replace(rows=2, cols=3, dtype=NumberFormat.FP16, add_latency=4,
                                   max_reduction=32),
}
BLOCK = SatArrayBlock()


def _failures(seed: int, scoreboard) -> str:
    return f"seed={seed}\n" + "\n".join(scoreboard.failures)


@pytest.mark.parametrize(
    ("name", "interleave", "stalls"),
    [
        ("r3c4-int8", True, False),
        ("r3c4-int8", True, True),
        ("r3c4-int8", False, False),
        ("r4c2-int16", True, False),
        ("r4c2-int16", False, True),
        ("r3c4-fp16-a2", True, True),
        ("r3c4-fp16-a2", False, False),
        ("r3c3-bf16-a3", True, False),
        ("r2c3-fp16-a4", True, True),
    ],
)
def test_training_gemms_and_rejects_back_to_back(name, interleave, stalls):
    # The directed batch (every kind, pattern and dataflow, a reject between the kinds, the
    # accumulators' extremes, every kind of reject) and one random batch, stalled or not.
    config = CONFIGS[name].replace(interleave=interleave)
    seed = 4242 + list(CONFIGS).index(name) * 10 + stalls
    plan = BLOCK.plan(config, seed, 1, stalls=stalls)
    plan = BLOCK.plan(config, seed, len(plan[0].cases) + 1, stalls=stalls)
    assert len(plan) == 2
    scoreboard = run_amaranth(BLOCK, config, plan, seed=seed)
    assert scoreboard.ok, _failures(seed, scoreboard)
    counts = scoreboard.counts
    assert scoreboard.cases == sum(len(b.cases) for b in plan)
    assert counts["tiles"] + counts["rejects"] == scoreboard.cases
    assert {
        f"gemm {kind} {p} {df}"
        for kind in ("FF", "BP")
        for p in pattern_names(config)
        for df in ("OS", "WS")
    } | {"gemm WU dense OS", "gemm WU dense WS"} <= set(counts)
    assert {f"reject: {r.reason}" for r in rejects(config)} <= set(counts)
    # Without stalls: every command's edges, and its cycles alone where it runs alone (the
    # first of its batch, or every one without interleave).
    unstalled = sum(len(b.cases) for b in plan if b.stalls.none)
    alone = sum(b.stalls.none for b in plan) if interleave else unstalled
    assert scoreboard.cycle_checks == unstalled + alone
    assert (counts.get("stalled cases", 0) > 0) == stalls
    # With interleave, commands are taken while earlier answers are still due; without, never.
    assert (counts.get("overlapped commands", 0) > scoreboard.cases // 2) == interleave


def _gemm(config, seed, pattern, dataflow, kind):
    cout, k, batch = max(8, config.max_m), 16, 6  # BP reduces over cout: whole groups of M
    rows, reduction, cols = {
        "FF": (cout, k, batch),
        "BP": (k, cout, batch),
        "WU": (cout, batch, k),
    }[kind]
    spec = GemmSpec(
        kind=kind,
        pattern=str(pattern or DENSE),
        dataflow=dataflow.name,
        rows=rows,
        k=reduction,
        cols=cols,
        style="mixed",
        seed=seed,
    )
    return make_gemm(config, spec)


def test_commands_offered_late_follow_the_timeline():
    """The network simulator holds a dependent GEMM's first command until its producer has
    answered (``not_before``); the model must place such commands as the RTL takes them, also
    while other tiles are still in the array."""
    config = CONFIG
    rng = random.Random(77)
    tiles = [
        t
        for kind, pattern, dataflow in (
            ("FF", None, Dataflow.OS),
            ("BP", NMPattern(2, 4), Dataflow.WS),
            ("WU", None, Dataflow.OS),
            ("FF", NMPattern(1, 8), Dataflow.WS),
            ("BP", None, Dataflow.OS),
            ("FF", NMPattern(2, 4), Dataflow.OS),
        )
        for t in _gemm(config, rng.getrandbits(16), pattern, dataflow, kind).tiles
    ][:24]
    timeline, offer = ArrayTimeline(config), []
    expect, held_while_busy = [], 0
    for tile in tiles:
        # Offer some commands late: held while earlier answers are due, or until they are not.
        nb = timeline.end_edge - rng.randint(0, 30) if rng.random() < 0.6 else None
        due = timeline.end_edge
        expect.append(timeline.issue(**command_fields(tile.cmd), not_before=nb))
        held_while_busy += expect[-1].cmd_edge == nb and nb < due
        offer.append(0 if nb is None else nb)  # the harness's cycle i ends with model edge i
    assert held_while_busy >= 3
    answers = run_tiles(config, tiles, offer=offer)
    for tile, answer in zip(tiles, answers, strict=True):
        assert check_tile(config, tile, answer.beats) == [], tile.cmd
    origin = 1  # the harness's first transfer can happen at its edge 1, the model's edge 0
    assert [(a.cmd_edge - origin, a.beats[-1].edge - origin) for a in answers] == [
        (t.cmd_edge, t.end_edge) for t in expect
    ]


def test_layer_bench_measures_what_the_model_predicts():
    # The layer bench of `sparsa bench sat` and the report, on a small layer: every run's GEMM
    # is checked against the golden inside layer_bench, and its cycles match the cycle model.
    messages = []
    rows = layer_bench(CONFIG, cout=5, k=16, batch=6, progress=messages.append)
    assert [(r.dataflow, r.pattern) for r in rows] == [
        (df, p) for df in ("OS", "WS") for p in ("dense", "2:4", "1:8")
    ]
    for row in rows:
        assert (row.rtl_cycles, row.rtl_cycles_no_interleave) == (
            row.model_cycles, row.model_cycles_no_interleave), row
        assert row.interleave_gain > 1 and row.tiles > 0
    assert [r.speedup for r in rows if r.pattern == "dense"] == [1.0, 1.0]
    assert messages[0].startswith("OS dense: ") and len(messages) == len(rows)
    table = format_table(rows).splitlines()
    assert len(table) == 2 + len(rows) and table[2].startswith("| OS | dense | ")


@pytest.mark.parametrize("interleave", [True, False])
def test_rejected_commands_consume_nothing(interleave):
    config = CONFIG.replace(interleave=interleave)
    bad = [
        Reject(Dataflow.OS, 1, 3, 1, REASONS[0]),  # 3 entries, N = 2
        Reject(Dataflow.WS, 1, 1, 3, REASONS[1]),  # 3 rows, N = 2
        Reject(Dataflow.OS, 3, 1, 1, REASONS[3]),  # no pattern 3
        Reject(Dataflow.OS, 0, 65, 1, REASONS[2]),  # 65 > 64 entries
    ]
    good = make_gemm(
        config,
        GemmSpec(
            kind="FF", pattern=DENSE, dataflow="OS", rows=1, k=1, cols=1, style="mixed", seed=9
        ),
    )
    batch = Batch(cases=commands([*bad, good]), stalls=Stalls(), seed=1)
    scoreboard = run_amaranth(BLOCK, config, [batch], seed=1)
    assert scoreboard.ok, _failures(1, scoreboard)
    assert (scoreboard.cases, scoreboard.counts["rejects"], scoreboard.counts["tiles"]) == (5, 4, 1)
    assert scoreboard.cycle_checks == 5 + (1 if interleave else 5)  # edges; alone: REJECT_CYCLES
    for reject in bad:
        assert tile_cycles(config, **command_fields(reject.cmd)) == REJECT_CYCLES


def test_array_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be a SatArrayConfig, not dict"):
        SatArray({})
    with pytest.raises(ValueError, match="interleave must be True or False, not 1"):
        SatArrayConfig(interleave=1)
    with pytest.raises(ValueError, match="add_latency must be an integer from 1 to 4, not 5"):
        SatArrayConfig(dtype=NumberFormat.FP16, add_latency=5)
    with pytest.raises(ValueError, match="add_latency must be an integer from 1 to 4, not True"):
        SatArrayConfig(dtype=NumberFormat.FP16, add_latency=True)
    with pytest.raises(ValueError, match="add_latency must be 1 for the integer format int8"):
        SatArrayConfig(add_latency=2)


def test_cmd_dataflow_is_a_dataflow():
    layout = cmd_layout(CONFIG)
    assert layout.members["dataflow"] is Dataflow
    assert layout["dataflow"].width == 1  # the port keeps its width
    for dataflow in Dataflow:
        beat = layout.const({"dataflow": dataflow, "pattern": 0, "length_m1": 0, "rows_m1": 0})
        assert beat.dataflow is dataflow
        assert beat.as_value().value & 1 == dataflow.value
