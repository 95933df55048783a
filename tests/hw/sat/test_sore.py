# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the SORE: on the RTL harness (:class:`sparsa.sim.rtl.sore.block.SoreBlock`,
the same code as ``sparsa verify sore``), every copy of every tile against the golden
:func:`sparsa.models.golden.sat.sore_tile`, the cycles of back-to-back commands against
:mod:`sparsa.sim.blocks.sore`, rejected commands, stalls; one lane exhaustively on a tie-heavy
alphabet; the golden's lane mapping; Verilog export and a clean Verilator lint.

The bulk of the checking runs on the generated Verilog (``tests/sim/rtl``, ``sparsa verify``);
these fast runs catch regressions without a Verilator build.
"""

import itertools
import json
import random
from pathlib import Path

import pytest
import torch
from amaranth.sim import Simulator

from sparsa.config.formats import NumberFormat
from sparsa.config.sat import BdwpPass, NMPattern, SoreConfig
from sparsa.hw.export import export_verilog, lint_verilog
from sparsa.hw.sat.sore import Sore, TopNLane, cmd_layout, out_layout, weights_layout
from sparsa.models.golden.sat import nm_generate, sore_tile
from sparsa.sim.blocks.sore import REJECT_CYCLES, command_cycles, last_beat_cycles
from sparsa.sim.rtl.harness import Batch, Scoreboard, run_amaranth, seeded_batches
from sparsa.sim.rtl.sore import scoreboard as sore_scoreboard
from sparsa.sim.rtl.sore.block import SoreBlock
from sparsa.sim.rtl.sore.codec import SoreCodec
from sparsa.sim.rtl.sore.scoreboard import check_answer, expected_lanes
from sparsa.sim.rtl.sore.stimulus import SoreCommand, check_batches, draw_tile
from sparsa.sim.rtl.stalls import Stalls

CONFIGS = {
    "l4m2-int8": SoreConfig(lanes=4, m=2),
    "l8m4-int8": SoreConfig(lanes=8, m=4),
    "l16m8-int16": SoreConfig(lanes=16, m=8, dtype=NumberFormat.INT16),
    "l16m16-int8": SoreConfig(lanes=16, m=16),
    "l8m4-fp16": SoreConfig(lanes=8, m=4, dtype=NumberFormat.FP16),
    "l16m8-bf16": SoreConfig(lanes=16, m=8, dtype=NumberFormat.BF16),
}
COMMANDS = {"l4m2-int8": 80, "l8m4-int8": 96, "l16m8-int16": 90, "l16m16-int8": 96,
            "l8m4-fp16": 96, "l16m8-bf16": 90}
BLOCK = SoreBlock()


def _failures(seed: int, scoreboard) -> str:
    return f"seed={seed}\n" + "\n".join(scoreboard.failures)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sore_matches_golden_and_cycle_model(name):
    config = CONFIGS[name]
    seed = 9100 + list(CONFIGS).index(name) * 10
    plan = BLOCK.plan(config, seed, COMMANDS[name], stalls=True)
    scoreboard = run_amaranth(BLOCK, config, plan, seed=seed)
    assert scoreboard.ok, _failures(seed, scoreboard)
    counts = scoreboard.counts
    assert scoreboard.cases == sum(len(b.cases) for b in plan) >= COMMANDS[name]
    unstalled = sum(len(b.cases) for b in plan if b.stalls.none)
    assert scoreboard.cycle_checks == unstalled and counts["stalled cases"] > 0, f"seed={seed}"
    assert counts["rejected commands"] >= 4 and counts["groups checked"] >= 150, f"seed={seed}"
    assert {f"N={n}" for n in range(1, config.m)} <= set(counts), f"seed={seed}"


def _command(rng: random.Random, config: SoreConfig, n: int, copies: int) -> SoreCommand:
    good = 1 <= n < config.m and copies
    tile = draw_tile(rng, config, "full") if good else []
    return SoreCommand(n, copies, tuple(tuple(row) for row in tile), "test")


def test_rejected_commands_consume_no_weights():
    # The scoreboard checks that each command consumed exactly its own weights beats (none
    # for a rejected one), the error beat's contents, and every command's cycles.
    config = CONFIGS["l8m4-int8"]
    rng = random.Random(5)
    fields = [(0, 1), (4, 3), (2, 1), (1, 0), (7, 2), (3, 3)]
    commands = tuple(_command(rng, config, n, copies) for n, copies in fields)
    assert [c.is_good(config) for c in commands] == [False, False, True, False, False, True]
    scoreboard = run_amaranth(BLOCK, config, [Batch(commands, Stalls(), seed=5)], seed=5)
    assert scoreboard.ok, _failures(5, scoreboard)
    assert (scoreboard.cases, scoreboard.cycle_checks) == (6, 6)
    assert scoreboard.counts["rejected commands"] == 4
    assert scoreboard.counts["copies FF"] == scoreboard.counts["copies FF+BP"] == 1
    assert (
        last_beat_cycles(config, fields)[0]
        == REJECT_CYCLES
        == command_cycles(config, n=0, copies=1)
    )


def _check_run(config: SoreConfig, *, commands: int, seed: int) -> Scoreboard:
    """The two batches of check_batches (every N and copies mask, every reject; without and
    with stalls) on one freshly reset SORE in amaranth.sim."""
    batches = seeded_batches(check_batches(config, seed, commands), seed)
    return run_amaranth(SoreBlock(), config, batches, seed=seed)


def test_check_counts_cases_and_records_a_wrong_beat():
    config, seed = CONFIGS["l8m4-int8"], 31
    check = _check_run(config, commands=6, seed=seed)
    assert check.ok, "\n".join(check.failures)
    assert (check.cases, check.cycle_checks) == (20, 10), f"seed={seed}: {check}"
    assert check.counts["rejected commands"] == 8, f"seed={seed}: {check}"
    assert check.counts["stalled cases"] == 10, f"seed={seed}: {check}"
    # A beat decoded from the golden copy of a tile matches; the same beat for a tile whose
    # first BP group keeps other rows is reported lane by lane.
    rng = random.Random(seed)
    command = SoreCommand(2, 3, tuple(map(tuple, draw_tile(rng, config, "full"))), "test")
    layout, codec = out_layout(config), SoreCodec(config)
    beats = []
    for direction, last in ((BdwpPass.FF, 0), (BdwpPass.BP, 1)):
        lanes = [
            [{"value": v, "index": i} for v, i in lane]
            for lane in expected_lanes(config, command, direction)
        ]
        bits = layout.const(
            {"lanes": lanes, "direction": direction, "last": last, "error": 0}
        ).as_bits()
        beats.append(codec.out(bits, cycle=0))
    assert check_answer(config, command, beats) == [], f"seed={seed}"
    golden = sore_tile(torch.tensor(command.tile), 2, BdwpPass.BP)[1][0].tolist()
    for column in ([-128, 1, 2, 3], [1, 2, 3, -128]):  # kept rows 0, 3 and 2, 3 in BP lane 0
        tile = [list(row) for row in command.tile]
        for row, value in zip(tile, column, strict=True):
            row[0] = value
        wrong = SoreCommand(2, 3, tuple(map(tuple, tile)), "test")
        if sore_tile(torch.tensor(wrong.tile), 2, BdwpPass.BP)[1][0].tolist() != golden:
            break
    problems = check_answer(config, wrong, beats)
    assert any(p.startswith("BP copy: 1 lanes differ: lane 0:") for p in problems), (
        f"seed={seed}: {problems}"
    )


def test_a_wrong_golden_answer_is_counted_with_the_seed(monkeypatch):
    # The RTL run itself: with a golden model that swaps the passes, every good command with
    # a tile whose copies differ is a mismatch, reported with the seed and the command.
    def swapped(tile, n, direction, dtype):
        other = BdwpPass.BP if direction is BdwpPass.FF else BdwpPass.FF
        return sore_tile(tile, n, other, dtype)

    monkeypatch.setattr(sore_scoreboard, "sore_tile", swapped)
    check = _check_run(CONFIGS["l8m4-int8"], commands=6, seed=4)
    assert check.mismatches > 0 and check.cycle_mismatches == 0
    assert check.failures[0].startswith("sore command #")
    assert "lanes differ" in check.failures[0]


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


FP16_ONE, FP16_INF, FP16_NAN, FP16_SIGN = 0x3C00, 0x7C00, 0x7E00, 0x8000
BF16_ONE, BF16_MAX = 0x3F80, 0x7F7F


@pytest.mark.parametrize(("dtype", "group", "n", "kept"), [
    # The sign is masked: -1.0 ties 1.0 and the lower index wins.
    (NumberFormat.FP16, [FP16_SIGN | FP16_ONE, 0, FP16_ONE, 1], 1, [0]),
    # +0 and -0 tie; the smallest subnormal (1) beats both.
    (NumberFormat.FP16, [FP16_SIGN, 0, 1, FP16_SIGN], 1, [2]),
    (NumberFormat.FP16, [FP16_SIGN, 0, FP16_SIGN, 0], 2, [0, 1]),
    # A NaN is above Inf, Inf above the largest finite value (0x7BFF), a normal above a subnormal.
    (NumberFormat.FP16, [0x7BFF, FP16_INF, FP16_SIGN | FP16_NAN, 0x0400], 1, [2]),
    (NumberFormat.FP16, [0x7BFF, FP16_SIGN | FP16_INF, 0x03FF, 0x0400], 2, [0, 1]),
    (NumberFormat.FP16, [0x03FF, 0x0001, 0x0400, 0x8002], 2, [0, 2]),
    (NumberFormat.BF16, [BF16_ONE, BF16_MAX | FP16_SIGN, 0x0080, 0x007F], 2, [0, 1]),
    (NumberFormat.BF16, [0x007F, 0x0080, 0x8001, 0], 1, [1]),
])
def test_golden_ranks_float_weights_by_magnitude_bits(dtype, group, n, kept):
    values, indices = nm_generate(torch.tensor([group]), NMPattern(n, 4), dtype)
    assert indices.tolist() == [kept]
    assert values.tolist() == [[group[i] for i in kept]]  # the patterns themselves, signs kept


def test_golden_takes_a_pass_as_member_or_code():
    """A member and its integer code select the same copy."""
    tile = torch.arange(4 * 8).reshape(4, 8) - 13
    for direction in BdwpPass:
        want = sore_tile(tile, 2, direction)
        for same in (direction.value,):
            got = sore_tile(tile, 2, same)
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), same


def test_golden_rejects_bad_arguments():
    for bad in ("FF", "WU", 2, True, None):  # a name is not a pass; WU is dense: no copy
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
        SoreConfig(lanes=8, m=4, dtype=NumberFormat.INT16),
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
