"""The blocks' datasheets: written by the export, they name every port, field and enumeration
value of the sidecar, and their latency figures are the cycle models'."""

import json
from pathlib import Path

import pytest

from sparsa.cli.blocks import BLOCKS
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.formats import NumberFormat
from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig, SoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.datasheet import field_paths
from sparsa.hw.export import export_verilog
from sparsa.reports.block_datasheets import STEP_BEATS, representative_values
from sparsa.sim.blocks import sat_array, sore
from sparsa.sim.blocks.attention_core import AttentionCoreCycleModel, pipeline_timing
from sparsa.sim.blocks.topk import TopKCycleModel
from sparsa.sim.blocks.weight_update import step_cycles

# Small configurations of every block, quick to elaborate.
CONFIGS = {
    "topk": TopKConfig(lanes=2, comparators=2, capacity=12, width=4, signed=False),
    "sat-array": SatArrayConfig(rows=2, cols=3, patterns=(NMPattern(2, 4),),
                                dtype=NumberFormat.FP16, max_reduction=16),
    "sore": SoreConfig(lanes=4, m=4, dtype=NumberFormat.BF16),
    "attention-core": ATTENTION_CONFIGS["d32-m64-n64"],
    "weight-update": WeightUpdateConfig(lanes=2, max_count=100),
}


def _export(name: str, out: Path) -> tuple[dict, str]:
    block, config = BLOCKS[name], CONFIGS[name]
    export_verilog(block.build(config), name=block.top, out_dir=out, config=config,
                   datasheet=block.datasheet_of(config))
    return (json.loads((out / f"{block.top}.json").read_text()),
            (out / f"{block.top}.md").read_text())


def test_every_block_has_a_small_configuration() -> None:
    assert CONFIGS.keys() == BLOCKS.keys()


@pytest.mark.parametrize("name", list(BLOCKS))
def test_datasheet_names_every_port_field_and_enum_value(name: str, tmp_path: Path) -> None:
    sidecar, sheet = _export(name, tmp_path)
    assert sheet.startswith(f"# {sidecar['name']}: ")
    for text in ("rising edge of `clk`", "`rst` is synchronous and active high",
                 "both high", "## Latency and throughput"):
        assert text in sheet
    for port in sidecar["ports"]:
        assert f"| `{port['name']}` | {port['dir']} | {port['width']} |" in sheet
    for path in field_paths(sidecar):
        row = next(line for line in sheet.splitlines() if line.startswith(f"| `{path}` |"))
        # Every field states its format: no empty format cell.
        assert row.split(" | ")[3].strip(), row
    recorded = sidecar["datasheet"]
    assert [f["field"] for f in recorded["fields"]] == field_paths(sidecar)
    assert recorded["clock"]["edge"] == "rising" and recorded["reset"]["synchronous"]
    timing = recorded["sections"]["Latency and throughput"]
    for row in timing["rows"]:
        assert "| " + " | ".join(str(cell) for cell in row) + " |" in sheet
    for enum, members in sidecar["enums"].items():
        assert f"### `{enum}`" in sheet
        for member, code in members.items():
            assert f"| {code} | `{member}` |" in sheet


def test_topk_latency_is_the_cycle_model(tmp_path: Path) -> None:
    config = CONFIGS["topk"]
    _, sheet = _export("topk", tmp_path)
    n, k = config.capacity, config.capacity // 2
    cycles = TopKCycleModel(config).request(representative_values(n, *config.value_range), k)
    assert (f"| n = {n}, k = {k}, seeded random values | {cycles.total} | {cycles.load} | "
            f"{cycles.select} | {cycles.output} |") in sheet
    assert f"| n = 0 (error) | {TopKCycleModel(config).request([], 0).total} |" in sheet


def test_attention_core_latency_is_the_cycle_model(tmp_path: Path) -> None:
    config: AttentionCoreConfig = CONFIGS["attention-core"]  # type: ignore[assignment]
    _, sheet = _export("attention-core", tmp_path)
    n = config.max_tokens
    probs = representative_values(n, 0, (1 << config.attention.prob_bits) // n * 2)
    for requant, word in ((False, "no"), (True, "with")):
        model = AttentionCoreCycleModel(config)
        alone = pipeline_timing(config, [model.command(probs, n // 4, requant)])[0].out
        assert f"| n = {n}, v_keep = {n // 4}, {word} requant | {alone} |" in sheet
        # Eight back to back: each takes less than one alone (the units overlap).
        model = AttentionCoreCycleModel(config)
        eight = pipeline_timing(config, [model.command(probs, n // 4, requant) for _ in range(8)])
        every = (eight[-1].out - eight[0].out) / 7
        assert every < alone
        assert f"| {every:.1f} |" in sheet


def test_sat_array_latency_is_the_cycle_model(tmp_path: Path) -> None:
    config: SatArrayConfig = CONFIGS["sat-array"]  # type: ignore[assignment]
    _, sheet = _export("sat-array", tmp_path)
    R, C, T = config.rows, config.cols, config.max_reduction
    for dataflow, length in ((Dataflow.OS, T), (Dataflow.WS, C)):
        alone = sat_array.tile_cycles(config, dataflow=dataflow, pattern=0, length=length,
                                      rows=R)
        # Two identical tiles back to back end one tile's distance after one alone.
        two = sat_array.sequence_cycles(config, [dict(dataflow=dataflow, pattern=0,
                                                      length=length, rows=R)] * 2)
        assert (f"| {dataflow.name} dense, length {length}, {R} rows | {alone} | "
                f"{two - alone} |") in sheet
    assert "| 1 | 2:4 |" in sheet


def test_sore_latency_is_the_cycle_model(tmp_path: Path) -> None:
    config: SoreConfig = CONFIGS["sore"]  # type: ignore[assignment]
    _, sheet = _export("sore", tmp_path)
    for copies in (1, 3):
        first, second = sore.last_beat_cycles(config, [(1, copies)] * 2)
        assert f"| copies = {copies} | {first} | {second - first} |" in sheet


def test_weight_update_latency_is_the_cycle_model(tmp_path: Path) -> None:
    config: WeightUpdateConfig = CONFIGS["weight-update"]  # type: ignore[assignment]
    _, sheet = _export("weight-update", tmp_path)
    count = min(config.max_count, config.lanes * STEP_BEATS)
    step = step_cycles(config, count=count, skipped=False)
    assert f"| count = {count}, applied | {step.status} | {step.period} |" in sheet
