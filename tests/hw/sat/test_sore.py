# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the SORE: every copy of every tile against the golden
:func:`sparsa.models.golden.sat.sore_tile`, the cycles of back-to-back commands against
:mod:`sparsa.sim.blocks.sore`, rejected commands, stalls; one lane exhaustively on a tie-heavy alphabet; the
golden's lane mapping; Verilog export and a clean Verilator lint."""

import itertools
import json
import random
from pathlib import Path

import pytest
import torch
from amaranth.sim import Simulator

from sparsa.config.sat import BdwpPass, IntFormat, NMPattern, SoreConfig
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.sat.sore import Sore, TopNLane, cmd_layout, out_layout, weights_layout
from sparsa.models.golden.sat import nm_generate, sore_tile
from sparsa.sim.blocks.sore import REJECT_CYCLES, command_cycles, last_beat_cycles
from sparsa.sim.rtl.sore.check import (
    answer_problems,
    is_good,
    random_commands,
    random_tile,
    run_check,
    run_sore,
)

CONFIGS = {
    "l4m2-int8": SoreConfig(lanes=4, m=2),
    "l8m4-int8": SoreConfig(lanes=8, m=4),
    "l16m8-int16": SoreConfig(lanes=16, m=8, dtype=IntFormat.INT16),
    "l16m16-int8": SoreConfig(lanes=16, m=16),
}
COMMANDS = {"l4m2-int8": 40, "l8m4-int8": 48, "l16m8-int16": 30, "l16m16-int8": 15}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("stall_seed", [None, 17])
def test_sore_matches_golden_and_cycle_model(name, stall_seed):
    config = CONFIGS[name]
    seed = 9100 + list(CONFIGS).index(name) * 10 + (stall_seed is not None)
    rng = random.Random(seed)
    commands = random_commands(rng, config, COMMANDS[name])
    tiles = [random_tile(rng, config) for _ in commands]
    answers, trace = run_sore(config, commands, tiles, stall_seed=stall_seed)
    assert len(answers) == len(commands), f"seed={seed}"
    groups = 0
    for k, (command, tile, answer) in enumerate(zip(commands, tiles, answers, strict=True)):
        problems = answer_problems(config, command, tile, answer.beats)
        assert not problems, f"seed={seed} {name} command {k} {command}: " + "; ".join(problems)
        groups += config.lanes * len(answer.beats) * is_good(config, *command)
    assert groups >= 150, f"seed={seed}: only {groups} groups"
    good = sum(is_good(config, n, c) for n, c in commands)
    assert len(trace.cycles["weights"]) == good * config.m, f"seed={seed}"
    if stall_seed is None:
        got = [answer.cycles for answer in answers]
        assert got == last_beat_cycles(config, commands), f"seed={seed}"
        first = commands[0]
        assert got[0] == command_cycles(config, n=first[0], copies=first[1]), f"seed={seed}"


def test_rejected_commands_consume_no_weights():
    config = CONFIGS["l8m4-int8"]
    rng = random.Random(5)
    commands = [(0, 1), (4, 3), (2, 1), (1, 0), (7, 2), (3, 3)]
    tiles = [random_tile(rng, config) for _ in commands]
    answers, trace = run_sore(config, commands, tiles)
    errors = [bool(answer.beats[0].error) for answer in answers]
    assert errors == [True, True, False, True, True, False]
    for command, tile, answer in zip(commands, tiles, answers, strict=True):
        assert answer_problems(config, command, tile, answer.beats) == [], f"{command}"
        if not is_good(config, *command):
            assert answer.beats[0].direction == BdwpPass.FF, f"{command}"
    assert [b.direction for b in answers[5].beats] == [BdwpPass.FF, BdwpPass.BP]
    assert len(trace.cycles["weights"]) == 2 * config.m
    assert answers[0].cycles == REJECT_CYCLES == command_cycles(config, n=0, copies=1)
    assert [answer.cycles for answer in answers] == last_beat_cycles(config, commands)


def test_check_counts_cases_and_records_a_wrong_beat():
    config, seed = CONFIGS["l8m4-int8"], 31
    check = run_check(config, commands=6, seed=seed)
    assert check.ok, "\n".join(check.failures)
    assert (check.cases, check.cycle_checks) == (20, 10), f"seed={seed}: {check}"
    assert check.counts == {"rejected": 8, "stalled": 10}, f"seed={seed}: {check}"
    rng = random.Random(seed)
    tile = random_tile(rng, config)
    answers, _ = run_sore(config, [(2, 3)], [tile])
    golden = sore_tile(tile, 2, BdwpPass.BP)[1][0].tolist()
    for column in ([-128, 1, 2, 3], [1, 2, 3, -128]):  # kept rows 0, 3 and 2, 3 in BP lane 0
        wrong = tile.clone()
        wrong[:, 0] = torch.tensor(column)
        if sore_tile(wrong, 2, BdwpPass.BP)[1][0].tolist() != golden:
            break
    problems = answer_problems(config, (2, 3), wrong, answers[0].beats)
    assert any(p.startswith("BP lane 0") for p in problems), f"seed={seed}: {problems}"


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
                        got[n, group] = [
                            (kept[s].value, kept[s].index) for s in range(config.m - 1)
                        ]
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
    values, indices = sore_tile(tile, 1, BdwpPass.FF)
    # FF: lane i * 2 + g holds row i, positions 4g..4g+3; the largest magnitude is the last.
    assert values[:, 0].tolist() == [int(tile[lane // 2, lane % 2 * 4 + 3]) for lane in range(8)]
    assert indices.flatten().tolist() == [3] * 8
    values, indices = sore_tile(tile, 2, BdwpPass.BP)
    # BP: lane l holds column l; rows 2 and 3 have the largest magnitudes.
    assert values.tolist() == tile[2:].T.tolist() and indices.tolist() == [[2, 3]] * 8
    values, indices = sore_tile(torch.tensor([[-3, 3], [3, -3]]), 1, BdwpPass.BP)
    assert values.tolist() == [[-3], [3]] and indices.tolist() == [[0], [0]]  # lowest index


def test_golden_takes_a_pass_as_member_code_or_name():
    """The RTL harness still passes the pass's name."""
    tile = torch.arange(4 * 8).reshape(4, 8) - 13
    for direction in BdwpPass:
        want = sore_tile(tile, 2, direction)
        for same in (direction.value, direction.name):
            got = sore_tile(tile, 2, same)
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), same


def test_golden_rejects_bad_arguments():
    for bad in ("WU", 2, True, None):  # WU is dense: the SORE makes no copy for it
        with pytest.raises(ValueError, match=f"must be BdwpPass.FF or BdwpPass.BP, not {bad!r}"):
            sore_tile(torch.zeros(4, 8, dtype=torch.int64), 2, bad)
    with pytest.raises(ValueError, match="6 columns are not a multiple of M = 4"):
        sore_tile(torch.zeros(4, 6, dtype=torch.int64), 2, BdwpPass.FF)
    with pytest.raises(ValueError, match="must be from 1 to 3, not 4"):
        sore_tile(torch.zeros(4, 8, dtype=torch.int64), 4, BdwpPass.FF)
    with pytest.raises(ValueError, match="tile must be a matrix"):
        sore_tile(torch.zeros(8, dtype=torch.int64), 2, BdwpPass.FF)


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


def test_out_beat_direction_is_a_bdwp_pass():
    config = SoreConfig(lanes=4, m=2)
    layout = out_layout(config)
    assert layout.members["direction"] is BdwpPass
    assert layout["direction"].width == 1  # the port keeps its width
    lanes = [[{"value": 0, "index": 0}]] * config.lanes
    beat = layout.const({"lanes": lanes, "direction": BdwpPass.BP, "last": 1, "error": 0})
    assert beat.direction is BdwpPass.BP
    assert layout.const({"lanes": lanes, "direction": 0, "last": 1, "error": 0}).direction is (
        BdwpPass.FF
    )
    # Bit 1 << p of the copies mask asks for the copy of pass p.
    assert [1 << p for p in BdwpPass] == [1, 2]
    assert cmd_layout(config)["copies"].width == len(BdwpPass)


@pytest.mark.parametrize(
    "config",
    [
        SoreConfig(),
        SoreConfig(lanes=4, m=2),
        SoreConfig(lanes=8, m=4, dtype=IntFormat.INT16),
    ],
    ids=["default", "l4m2", "l8m4-int16"],
)
def test_verilog_exports_and_lints_clean(config, tmp_path: Path):
    verilog_path, json_path = export_verilog(
        Sore(config), name="sore", out_dir=tmp_path, config=config
    )
    sidecar = json.loads(json_path.read_text())
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert sidecar["enums"] == {"BdwpPass": {"FF": 0, "BP": 1}}
    assert ports["cmd__payload"] == cmd_layout(config).size
    assert ports["weights__payload"] == weights_layout(config).size
    assert ports["out__payload"] == out_layout(config).size
    assert lint_verilog(verilog_path) == []
