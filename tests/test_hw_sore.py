# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the SORE: every copy of every tile against the golden
:func:`models.sat_golden.sore_tile`, the cycles of back-to-back commands against
:mod:`sim.sore`, rejected commands, stalls; one lane exhaustively on a tie-heavy alphabet; the
golden's lane mapping; Verilog export and a clean Verilator lint."""

import itertools
import json
import random
from pathlib import Path

import pytest
import torch
from amaranth.sim import Simulator

from hw.export import export_verilog, lint_verilog
from hw.sat_config import IntFormat, NMPattern, SoreConfig
from hw.sore import BP, FF, Sore, TopNLane, cmd_layout, out_layout, weights_layout
from hw.stream_sim import drive
from models.sat_golden import nm_generate, sore_tile
from sim.sore import REJECT_CYCLES, command_cycles, last_beat_cycles

CONFIGS = {
    "l4m2-int8": SoreConfig(lanes=4, m=2),
    "l8m4-int8": SoreConfig(lanes=8, m=4),
    "l16m8-int16": SoreConfig(lanes=16, m=8, dtype=IntFormat.INT16),
    "l16m16-int8": SoreConfig(lanes=16, m=16),
}
COMMANDS = {"l4m2-int8": 40, "l8m4-int8": 48, "l16m8-int16": 30, "l16m16-int8": 15}
NAMES = {FF: "FF", BP: "BP"}


def _tile(rng: random.Random, config: SoreConfig) -> torch.Tensor:
    """A tile drawn from one of several alphabets, rich in ties and extremes."""
    M, L = config.m, config.lanes
    lo, hi = config.dtype.range
    kind = rng.choice(["full", "small", "extremes", "equal", "zero"])
    if kind == "full":
        t = torch.tensor([[rng.randint(lo, hi) for _ in range(L)] for _ in range(M)])
    elif kind == "small":  # many equal magnitudes, +/- pairs
        t = torch.tensor([[rng.randint(-2, 2) for _ in range(L)] for _ in range(M)])
    elif kind == "extremes":  # the most negative value beside its neighbours and +/- pairs
        alphabet = [lo, lo + 1, hi, -1, 0, 1]
        t = torch.tensor([[rng.choice(alphabet) for _ in range(L)] for _ in range(M)])
    elif kind == "equal":
        t = torch.full((M, L), rng.choice([lo, hi, -3, 0, 5]))
    else:
        t = torch.zeros(M, L, dtype=torch.int64)
    if kind in ("full", "extremes"):
        t[:, rng.randrange(L)] = 0  # an all-zero BP group
        row, group = rng.randrange(M), rng.randrange(L // M)
        t[row, group * M:(group + 1) * M] = 0  # an all-zero FF group
    return t


def _commands(rng: random.Random, config: SoreConfig, count: int) -> list[tuple[int, int]]:
    """``count`` good commands covering every N and every copies mask, and some rejected ones:
    N = 0, N = M, the largest N field, no copy."""
    M = config.m
    good = [(1 + k % (M - 1), 1 + k % 3) for k in range(count)]
    rng.shuffle(good)
    n_max = (1 << cmd_layout(config).members["n"].width) - 1
    bad = [(0, 3), (M, 1), (n_max, 2), (1, 0)]
    for cmd in bad:
        good.insert(rng.randrange(len(good) + 1), cmd)
    return good


def _is_good(config: SoreConfig, n: int, copies: int) -> bool:
    return 1 <= n < config.m and copies != 0


def _run(config, commands, tiles, stall_seed):
    """Drive the commands; return per command its beats and the cycle of its last beat."""
    sources = {
        "cmd": [{"n": n, "copies": c} for n, c in commands],
        "weights": [tile[i].tolist() for (n, c), tile in zip(commands, tiles, strict=True)
                    if _is_good(config, n, c) for i in range(config.m)],
    }
    trace = drive(Sore(config), sources, "out", lasts=len(commands), stall_seed=stall_seed)
    answers, beats = [], []
    for cycle, out in zip(trace.cycles["out"], trace.outputs, strict=True):
        beats.append(out)
        if out.last:
            answers.append((beats, cycle - trace.cycles["cmd"][0]))
            beats = []
    return answers, trace


def _check_beat(config, beat, tile, n, direction, msg):
    M = config.m
    assert not beat.error and beat.direction == direction, msg
    values, indices = sore_tile(tile, n, NAMES[direction])
    for lane in range(config.lanes):
        got_v = [beat.lanes[lane][s].value for s in range(M - 1)]
        got_i = [beat.lanes[lane][s].index for s in range(M - 1)]
        pad = [0] * (M - 1 - n)
        assert got_v == values[lane].tolist() + pad, f"{msg} lane {lane} values"
        assert got_i == indices[lane].tolist() + pad, f"{msg} lane {lane} indices"


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("stall_seed", [None, 17])
def test_sore_matches_golden_and_cycle_model(name, stall_seed):
    config = CONFIGS[name]
    seed = 9100 + list(CONFIGS).index(name) * 10 + (stall_seed is not None)
    rng = random.Random(seed)
    commands = _commands(rng, config, COMMANDS[name])
    tiles = [_tile(rng, config) for _ in commands]
    answers, trace = _run(config, commands, tiles, stall_seed)
    assert len(answers) == len(commands), f"seed={seed}"
    groups = 0
    for k, ((n, copies), tile, (beats, _)) in enumerate(
        zip(commands, tiles, answers, strict=True)
    ):
        msg = f"seed={seed} {name} command {k} n={n} copies={copies}"
        if not _is_good(config, n, copies):
            assert len(beats) == 1 and beats[0].error and beats[0].last, msg
            continue
        directions = [d for d in (FF, BP) if copies >> d & 1]
        assert len(beats) == len(directions), msg
        for beat, direction in zip(beats, directions, strict=True):
            _check_beat(config, beat, tile, n, direction, f"{msg} {NAMES[direction]}")
            groups += config.lanes
    assert groups >= 150, f"seed={seed}: only {groups} groups"
    good = sum(_is_good(config, n, c) for n, c in commands)
    assert len(trace.cycles["weights"]) == good * config.m, f"seed={seed}"
    if stall_seed is None:
        got = [cycle for _, cycle in answers]
        assert got == last_beat_cycles(config, commands), f"seed={seed}"
        first = commands[0]
        assert got[0] == command_cycles(config, n=first[0], copies=first[1]), f"seed={seed}"


def test_rejected_commands_consume_no_weights():
    config = CONFIGS["l8m4-int8"]
    rng = random.Random(5)
    commands = [(0, 1), (4, 3), (2, 1), (1, 0), (7, 2), (3, 3)]
    tiles = [_tile(rng, config) for _ in commands]
    answers, trace = _run(config, commands, tiles, None)
    assert [bool(beats[0].error) for beats, _ in answers] == [True, True, False, True, True,
                                                              False]
    for beats, _ in answers:
        if beats[0].error:
            beat = beats[0]
            assert len(beats) == 1 and beat.last and beat.direction == FF
            assert all(beat.lanes[lane][s].value == beat.lanes[lane][s].index == 0
                       for lane in range(config.lanes) for s in range(config.m - 1))
    _check_beat(config, answers[2][0][0], tiles[2], 2, FF, "command 2")
    for beat, direction in zip(answers[5][0], (FF, BP), strict=True):
        _check_beat(config, beat, tiles[5], 3, direction, f"command 5 {NAMES[direction]}")
    assert len(trace.cycles["weights"]) == 2 * config.m
    assert answers[0][1] == REJECT_CYCLES == command_cycles(config, n=0, copies=1)
    assert [cycle for _, cycle in answers] == last_beat_cycles(config, commands)


def test_lane_exhaustive_on_a_tie_heavy_alphabet():
    """Every group of 4 values from {-128, -1, 0, 1, 127} for every N: equal and +/- equal
    magnitudes, all-equal and all-zero groups, the most negative value."""
    config = SoreConfig(lanes=4, m=4)
    groups = list(itertools.product([-128, -1, 0, 1, 127], repeat=config.m))
    dut = TopNLane(config)
    got = {}

    async def bench(ctx):
        ctx.set(dut.en, 1)
        for n in range(1, config.m):
            ctx.set(dut.n, n)
            for group in groups:
                for index, value in enumerate(group):
                    ctx.set(dut.value, value)
                    ctx.set(dut.index, index)
                    if index == config.m - 1:
                        kept = ctx.get(dut.kept)
                        got[n, group] = [(kept[s].value, kept[s].index)
                                         for s in range(config.m - 1)]
                    await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for n in range(1, config.m):
        values, indices = nm_generate(torch.tensor(groups), NMPattern(n, config.m))
        for group, v, i in zip(groups, values.tolist(), indices.tolist(), strict=True):
            expect = list(zip(v, i, strict=True)) + [(0, 0)] * (config.m - 1 - n)
            assert got[n, group] == expect, f"n={n} group={group}"


def test_golden_maps_groups_to_lanes():
    tile = torch.arange(4 * 8).reshape(4, 8) * torch.tensor([1, -1] * 16).reshape(4, 8)
    values, indices = sore_tile(tile, 1, "FF")
    # FF: lane i * 2 + g holds row i, positions 4g..4g+3; the largest magnitude is the last.
    assert values[:, 0].tolist() == [int(tile[lane // 2, lane % 2 * 4 + 3]) for lane in range(8)]
    assert indices.flatten().tolist() == [3] * 8
    values, indices = sore_tile(tile, 2, "BP")
    # BP: lane l holds column l; rows 2 and 3 have the largest magnitudes.
    assert values.tolist() == tile[2:].T.tolist() and indices.tolist() == [[2, 3]] * 8
    values, indices = sore_tile(torch.tensor([[-3, 3], [3, -3]]), 1, "BP")
    assert values.tolist() == [[-3], [3]] and indices.tolist() == [[0], [0]]  # lowest index


def test_golden_rejects_bad_arguments():
    with pytest.raises(ValueError, match="direction must be 'FF' or 'BP', not 'WU'"):
        sore_tile(torch.zeros(4, 8, dtype=torch.int64), 2, "WU")
    with pytest.raises(ValueError, match="6 columns are not a multiple of M = 4"):
        sore_tile(torch.zeros(4, 6, dtype=torch.int64), 2, "FF")
    with pytest.raises(ValueError, match="must be from 1 to 3, not 4"):
        sore_tile(torch.zeros(4, 8, dtype=torch.int64), 4, "FF")
    with pytest.raises(ValueError, match="tile must be a matrix"):
        sore_tile(torch.zeros(8, dtype=torch.int64), 2, "FF")


def test_constructor_checks_its_config():
    with pytest.raises(TypeError, match="config must be a SoreConfig, not dict"):
        Sore({})
    with pytest.raises(TypeError, match="config must be a SoreConfig, not int"):
        TopNLane(3)
    with pytest.raises(ValueError, match=r"lanes must be a multiple of m .*not lanes=12 with m=8"):
        Sore(SoreConfig(lanes=12, m=8))


def test_port_layouts_of_the_default_config():
    config = SoreConfig()
    assert Sore(config).config is config
    assert cmd_layout(config).size == 4 + 2  # n holds 0..15, copies
    assert weights_layout(config).size == 32 * 8
    assert out_layout(config).size == 32 * 7 * (8 + 3) + 3


@pytest.mark.parametrize("config", [
    SoreConfig(),
    SoreConfig(lanes=4, m=2),
    SoreConfig(lanes=8, m=4, dtype=IntFormat.INT16),
], ids=["default", "l4m2", "l8m4-int16"])
def test_verilog_exports_and_lints_clean(config, tmp_path: Path):
    verilog_path, json_path = export_verilog(Sore(config), name="sore", out_dir=tmp_path,
                                             config=config)
    ports = {p["name"]: p["width"] for p in json.loads(json_path.read_text())["ports"]}
    assert ports["cmd__payload"] == cmd_layout(config).size
    assert ports["weights__payload"] == weights_layout(config).size
    assert ports["out__payload"] == out_layout(config).size
    assert lint_verilog(verilog_path) == []
