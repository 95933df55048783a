# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the SAT PE array: the three training GEMMs and rejected commands back
to back, with and without interleave, against the golden functions; every command's edges
against the cycle model's timeline; commands offered late; stalls."""

import itertools
import random

import pytest
import torch
from amaranth.sim import Simulator

from sparsa.config.sat import Dataflow, IntFormat, NMPattern, SatArrayConfig
from sparsa.dataflow.sat_tiles import Tile, assemble
from sparsa.hw.sat.sat_array import SatArray, cmd_layout, runtime_patterns
from sparsa.sim.blocks.sat_array import REJECT_CYCLES, ArrayTimeline, sequence_timeline, tile_cycles
from sparsa.sim.rtl.amaranth_streams import drive
from sparsa.sim.rtl.sat_array.gemms import DENSE, GemmSpec, make_gemm
from sparsa.sim.rtl.sat_array.stimulus import Reject, rejects

CONFIG = SatArrayConfig(
    rows=3,
    cols=4,
    patterns=(NMPattern(2, 4), NMPattern(1, 8)),
    dtype=IntFormat.INT8,
    max_reduction=64,
)
CONFIGS = {
    "r3c4-int8": CONFIG,
    "r4c2-int16": SatArrayConfig(
        rows=4,
        cols=2,
        dtype=IntFormat.INT16,
        max_reduction=256,
        patterns=(NMPattern(1, 2), NMPattern(3, 8), NMPattern(4, 16)),
    ),
}


def _fields(cmd: dict[str, int]) -> dict[str, int]:
    return {
        "dataflow": cmd["dataflow"],
        "pattern": cmd["pattern"],
        "length": cmd["length_m1"] + 1,
        "rows": cmd["rows_m1"] + 1,
    }


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


def _answers(trace, commands: int) -> list[tuple[list, int, int]]:
    """Each command's out beats, command cycle and last-beat cycle."""
    answers, beats = [], []
    for cycle, out in zip(trace.cycles["out"], trace.outputs, strict=True):
        beats.append(out)
        if out.last:
            answers.append((beats, trace.cycles["cmd"][len(answers)], cycle))
            beats = []
    assert len(answers) == commands
    return answers


@pytest.mark.parametrize(
    ("name", "interleave", "stall_seed"),
    [
        ("r3c4-int8", True, None),
        ("r3c4-int8", True, 11),
        ("r3c4-int8", False, None),
        ("r4c2-int16", True, None),
        ("r4c2-int16", False, 12),
    ],
)
def test_training_gemms_and_rejects_back_to_back(name, interleave, stall_seed):
    config = CONFIGS[name].replace(interleave=interleave)
    seed = 4242 + list(CONFIGS).index(name) * 10 + (stall_seed is not None)
    bad = rejects(config)
    jobs = []  # FF, BP and WU on every pattern and dataflow, a rejected command between kinds
    for kind in ("FF", "BP", "WU"):
        for pattern in runtime_patterns(config) if kind != "WU" else (None,):
            for dataflow in (Dataflow.OS, Dataflow.WS):
                jobs.append(_gemm(config, seed + len(jobs), pattern, dataflow, kind))
        jobs.append(bad[len(jobs) % len(bad)])
    cmds = [
        c
        for job in jobs
        for c in ([job.cmd] if isinstance(job, Reject) else [t.cmd for t in job.tiles])
    ]
    tiles = [t for job in jobs if not isinstance(job, Reject) for t in job.tiles]
    sources = {
        "cmd": cmds,
        "weights": [w for t in tiles for w in t.weights],
        "acts": [a for t in tiles for a in t.acts],
    }
    trace = drive(SatArray(config), sources, "out", lasts=len(cmds), stall_seed=stall_seed)
    answers = iter(_answers(trace, len(cmds)))
    for job in jobs:
        if isinstance(job, Reject):
            beats, _, _ = next(answers)
            assert [(b.error, b.last) for b in beats] == [(1, 1)], f"seed={seed} {job}"
            continue
        outputs = []
        for tile in job.tiles:
            beats, _, _ = next(answers)
            assert not any(b.error for b in beats), f"seed={seed} {job.spec} {tile.cmd}"
            outputs.append([[b.value[c] for c in range(config.cols)] for b in beats])
        got = assemble(job.tiles, outputs, tuple(job.expect.shape))
        assert torch.equal(got, job.expect), f"seed={seed} {job.spec.describe()}"
    if stall_seed is None:  # every command's edges, from the first command's
        origin = trace.cycles["cmd"][0]
        measured = [(c - origin, end - origin) for _, c, end in _answers(trace, len(cmds))]
        timeline = sequence_timeline(config, [_fields(c) for c in cmds])
        assert measured == [(t.cmd_edge, t.end_edge) for t in timeline], f"seed={seed}"
        assert measured[0][1] == tile_cycles(config, **_fields(cmds[0]))
        serial = sequence_timeline(config.replace(interleave=False), [_fields(c) for c in cmds])
        overlaps = sum(after[0] <= before[1] for before, after in itertools.pairwise(measured))
        if interleave:  # commands were taken while earlier answers were still due
            assert overlaps > len(cmds) // 2 and measured[-1][1] < serial[-1].end_edge
        else:
            assert overlaps == 0 and measured[-1][1] == serial[-1].end_edge


def _drive_late(
    config: SatArrayConfig, cmds: list[dict], offer: list[int], tiles: list[Tile]
) -> tuple[list[int], list[int]]:
    """Run ``cmds`` with command i offered from cycle ``offer[i]`` on (operands and output
    never stall); return the cycles of the command transfers and of the last beats."""
    dut = SatArray(config)
    weights = [w for t in tiles for w in t.weights]
    acts = [a for t in tiles for a in t.acts]
    cmd_cycles, ends = [], []

    async def bench(ctx):
        sent = {"cmd": 0, "weights": 0, "acts": 0}
        queues = {"cmd": cmds, "weights": weights, "acts": acts}
        cycle = 0
        ctx.set(dut.out.ready, 1)
        while len(ends) < len(cmds):
            fired = []
            for name, queue in queues.items():
                port = getattr(dut, name)
                valid = sent[name] < len(queue) and (name != "cmd" or offer[sent[name]] <= cycle)
                ctx.set(port.valid, valid)
                if valid:
                    ctx.set(port.payload, queue[sent[name]])
                    fired += [name] if ctx.get(port.ready) else []
            last = ctx.get(dut.out.valid) and ctx.get(dut.out.payload.last)
            await ctx.tick()
            cycle += 1
            for name in fired:
                sent[name] += 1
            cmd_cycles.extend([cycle] if "cmd" in fired else [])
            ends.extend([cycle] if last else [])
            assert cycle < 20_000

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return cmd_cycles, ends


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
    cmds = [t.cmd for t in tiles]
    timeline, offer = ArrayTimeline(config), []
    expect, held_while_busy = [], 0
    for cmd in cmds:
        # Offer some commands late: held while earlier answers are due, or until they are not.
        nb = timeline.end_edge - rng.randint(0, 30) if rng.random() < 0.6 else None
        due = timeline.end_edge
        expect.append(timeline.issue(**_fields(cmd), not_before=nb))
        held_while_busy += expect[-1].cmd_edge == nb and nb < due
        offer.append(0 if nb is None else nb)  # bench cycle i ends with model edge i
    assert held_while_busy >= 3
    cmd_cycles, ends = _drive_late(config, cmds, offer, tiles)
    origin = 1  # the bench's first transfer can happen at its cycle 1, the model's edge 0
    assert [(c - origin, e - origin) for c, e in zip(cmd_cycles, ends, strict=True)] == [
        (t.cmd_edge, t.end_edge) for t in expect
    ]


@pytest.mark.parametrize("interleave", [True, False])
def test_rejected_commands_consume_nothing(interleave):
    config = CONFIG.replace(interleave=interleave)
    bad = [
        {"dataflow": Dataflow.OS, "pattern": 1, "length_m1": 2, "rows_m1": 0},  # 3 entries, N = 2
        {"dataflow": Dataflow.WS, "pattern": 1, "length_m1": 0, "rows_m1": 2},  # 3 rows, N = 2
        {"dataflow": Dataflow.OS, "pattern": 3, "length_m1": 0, "rows_m1": 0},  # no pattern 3
        {"dataflow": Dataflow.OS, "pattern": 0, "length_m1": 64, "rows_m1": 0},  # 65 > 64 entries
    ]
    good = Tile(Dataflow.OS, 0, 1, 1, [[{"value": 3, "index": 0}] * 4], [[[5] * 8] * 4], 0, 0, 1, 1)
    trace = drive(
        SatArray(config),
        {"cmd": [*bad, good.cmd], "weights": good.weights, "acts": good.acts},
        "out",
        lasts=len(bad) + 1,
    )
    outs = trace.outputs
    assert [bool(o.error) for o in outs[:-1]] == [True] * len(bad)
    assert not outs[-1].error and outs[-1].value[0] == 15
    for i, cmd in enumerate(bad):
        assert trace.cycles["out"][i] - trace.cycles["cmd"][i] == REJECT_CYCLES
        assert tile_cycles(config, **_fields(cmd)) == REJECT_CYCLES


def test_array_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be a SatArrayConfig, not dict"):
        SatArray({})
    with pytest.raises(ValueError, match="interleave must be True or False, not 1"):
        SatArrayConfig(interleave=1)


def test_cmd_dataflow_is_a_dataflow():
    layout = cmd_layout(CONFIG)
    assert layout.members["dataflow"] is Dataflow
    assert layout["dataflow"].width == 1  # the port keeps its width
    for dataflow in Dataflow:
        beat = layout.const({"dataflow": dataflow, "pattern": 0, "length_m1": 0, "rows_m1": 0})
        assert beat.dataflow is dataflow
        assert beat.as_value().value & 1 == dataflow.value
