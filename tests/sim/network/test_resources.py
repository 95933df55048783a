"""The resource model: its features, the least-squares fit, predictions and their sums, the
packaged coefficients and their provenance, and the fit check against a target."""

import math
from pathlib import Path

import pytest

from sparsa.config.formats import NumberFormat
from sparsa.config.presets import RESOURCE_CHECK_CONFIG, RESOURCE_FIT_GRID
from sparsa.config.sat import NMPattern, SatArrayConfig, SoreConfig
from sparsa.config.sat_system import SatSystemConfig
from sparsa.config.topk import TopKConfig
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.sim.network.resources import (
    RESOURCES,
    ResourceEstimate,
    ResourceModel,
    Utilisation,
    block_of,
    features,
    fit_coefficients,
    load_model,
    ramb36_blocks,
    uses_feature,
)

VCU1525 = {"luts": 1182240, "ffs": 2364480, "dsps": 6840, "bram36": 2160, "uram": 960}


@pytest.mark.parametrize(("depth", "width", "blocks"), [
    (512, 72, 1), (1024, 36, 1), (32768, 1, 1), (1024, 128, 4), (256, 128, 2), (65, 8, 1),
    (4096, 512, 57), (1025, 36, 2), (64, 512, 0),
])
def test_ramb36_blocks_take_the_best_aspect_ratio(depth: int, width: int, blocks: int) -> None:
    assert ramb36_blocks(depth, width) == blocks


def test_array_features_count_pes_edges_skew_and_adder_stages() -> None:
    one = features(SatArrayConfig(rows=1, cols=1, max_reduction=16))
    assert one["pe.int8"] == 1 and one["skew_bits"] == 0
    assert one["adder_stages_pe"] == one["adder_stages_col"] == 0
    cfg = SatArrayConfig(rows=4, cols=3, dtype=NumberFormat.FP16, add_latency=3)
    f = features(cfg)
    assert f["fixed.fp16"] == 1 and f["pe.fp16"] == 12
    assert (f["adder_stages_pe"], f["adder_stages_col"]) == (24, 6)
    # Groups of 8 FP16 values (128 bits), entries of 16 + 3 bits, FP32 accumulators.
    assert f["pe_register_bits"] == 12 * (128 + 2 * 19 + 4 * 32)
    assert f["edge_bits"] == 4 * (19 + 128) + 3 * (128 + 32)
    assert f["skew_bits"] == 6 * (19 + 3 * 128) + 3 * (128 + 32)
    wider = features(cfg.replace(patterns=(NMPattern(1, 16),)))
    assert wider["pe_register_bits"] > f["pe_register_bits"]


def test_features_of_the_other_blocks() -> None:
    sore = features(SoreConfig(lanes=8, m=4))
    assert sore == {"fixed": 1, "lane.int8": 8, "comparator_bits": 8 * (3 + 3) * 8,
                    "register_bits": 8 * 3 * 10 + 2 * 4 * 8 * 8}
    assert "lane.float" in features(SoreConfig(lanes=8, m=4, dtype=NumberFormat.BF16))
    topk = features(TopKConfig(lanes=8, comparators=16, capacity=1024, width=16))
    # Rows of 16 values, 64 deep: LUT-RAM.
    assert topk == {"fixed": 1, "comparator_bits": 256, "comparator_pair_bits": 4096,
                    "lane_bits": 128,
                    "lutram_width": 3 * 16 * 16, "buffer_ramb36": 0}
    deep = features(TopKConfig(lanes=8, comparators=8, capacity=1024, width=8))
    # Three buffers of 128 rows of 64 bits: block RAM.
    assert (deep["buffer_ramb36"], deep["lutram_width"]) == (3, 0)
    assert features(WeightUpdateConfig(lanes=4)) == {"fixed": 1, "lane": 4}
    system = features(SatSystemConfig())
    assert system["axi_bit"] == 512 and system["buffer_ramb36"] > 0


def test_an_unknown_configuration_is_named() -> None:
    with pytest.raises(ValueError, match=r"no block for int .*it knows SatArrayConfig"):
        block_of(3)
    assert block_of(SatSystemConfig()) == "sat-accelerator"


def test_the_fit_recovers_known_coefficients_from_synthetic_numbers() -> None:
    truth = {"fixed": 300.0, "lane.int8": 120.0, "lane.int16": 150.0, "lane.float": 130.0,
             "comparator_bits": 0.75, "register_bits": 1.0}
    rows = []
    for lanes, m, dtype in ((2, 2, "int8"), (4, 4, "int8"), (8, 4, "int8"), (8, 8, "int8"),
                            (16, 8, "int16"), (4, 4, "int16"), (4, 4, "bf16")):
        f = features(SoreConfig(lanes=lanes, m=m, dtype=NumberFormat(dtype)))
        value = sum(truth[k] * v for k, v in f.items())
        rows.append((f, dict.fromkeys(RESOURCES, value)))
    fitted = fit_coefficients("sore", rows)
    for resource in RESOURCES:
        assert fitted[resource] == pytest.approx(truth, rel=1e-9)


def test_each_resource_is_fitted_to_the_features_that_can_cost_it() -> None:
    array = sorted(features(SatArrayConfig()))
    assert uses_feature(array, "ff", "skew_bits")
    assert not uses_feature(array, "lut", "skew_bits")
    assert uses_feature(array, "bram36", "pe.int8")
    system = sorted(features(SatSystemConfig()))
    assert uses_feature(system, "bram36", "buffer_ramb36")
    assert not uses_feature(system, "bram36", "axi_bit")
    assert not uses_feature(system, "lut", "buffer_ramb36")


def test_a_grid_that_cannot_determine_a_coefficient_is_refused() -> None:
    rows = [(features(SoreConfig(lanes=8, m=8)), dict.fromkeys(RESOURCES, 1.0))] * 5
    with pytest.raises(ValueError, match="sore: the grid's 5 points determine 1 of the 4 "
                       "coefficients of lut"):
        fit_coefficients("sore", rows)


def _model() -> ResourceModel:
    coefficients = {
        "sat-array": {r: {"fixed.int8": 10.0, "pe.int8": 2.0, "pe_register_bits": 0.0,
                          "edge_bits": 0.0, "skew_bits": 0.0, "adder_stages_pe": 0.0,
                          "adder_stages_col": 0.0} for r in RESOURCES},
        "sore": {r: {"fixed": 5.0, "lane.int8": 1.0, "comparator_bits": 0.0,
                     "register_bits": 0.0} for r in RESOURCES},
        "sat-accelerator": {r: ({"buffer_ramb36": 1.0} if r == "bram36" else
                                {"fixed": 100.0, "axi_bit": 0.5}) for r in RESOURCES},
    }
    return ResourceModel({"coefficients": coefficients, "grid": [], "yosys": "Yosys test",
                          "date": "2026-01-01", "command": "sparsa synth fit"})


def test_a_prediction_is_the_features_times_the_coefficients() -> None:
    model = _model()
    array = SatArrayConfig(rows=2, cols=3, max_reduction=16)
    assert model.predict(array) == ResourceEstimate(*[10 + 2 * 6] * 4)
    with pytest.raises(ValueError, match=r"sat-array grid has no fixed.fp16, pe.fp16 "
                       r"\(formats fitted: int8\)"):
        model.predict(array.replace(dtype=NumberFormat.FP16))


def test_a_system_is_its_array_its_sore_and_its_own_part() -> None:
    model = _model()
    system = SatSystemConfig(array=SatArrayConfig(rows=4, cols=4, max_reduction=16),
                             sore_lanes=4, sore_m=4)
    own = 100 + 0.5 * 512
    expected = model.predict(system.array) + model.predict(system.sore)
    got = model.predict(system)
    assert got.lut == pytest.approx(expected.lut + own)
    assert got.bram36 == pytest.approx(expected.bram36 + features(system)["buffer_ramb36"])


def test_the_packaged_model_is_the_fit_of_the_preset_grid_with_its_provenance() -> None:
    model = load_model()
    assert model.provenance["command"] == "sparsa synth fit"
    assert model.provenance["yosys"].startswith("Yosys")
    assert len(model.grid) == len(RESOURCE_FIT_GRID)
    for config, point in zip(RESOURCE_FIT_GRID, model.grid, strict=True):
        assert point["block"] == block_of(config)
        assert point["features"] == pytest.approx(features(config))
        assert len(point["verilog_sha256"]) == 64
        assert set(RESOURCES) <= set(point["resources"])
        predicted = model.predict(config)
        assert all(point["predicted"][r] == pytest.approx(getattr(predicted, r), abs=0.06)
                   for r in RESOURCES)
    assert RESOURCE_CHECK_CONFIG not in RESOURCE_FIT_GRID
    # The stored coefficients are the least-squares fit of the stored points.
    for block in ("sat-array", "sore", "topk", "weight-update"):
        rows = [(p["features"], p["resources"]) for p in model.grid if p["block"] == block]
        refit = fit_coefficients(block, rows)
        for resource in RESOURCES:
            assert refit[resource] == pytest.approx(model.coefficients(block)[resource],
                                                    rel=1e-6, abs=1e-6)


def test_a_missing_model_file_says_how_to_regenerate_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="regenerate it with `sparsa synth fit`"):
        load_model(tmp_path / "none.json")


def test_utilisation_sums_parts_and_rejects_what_does_not_fit() -> None:
    parts = {"array": ResourceEstimate(1_000_000.2, 10, 6000, 0),
             "sore": ResourceEstimate(200_000, 10, 0, 0),
             "buffers": ResourceEstimate(0, 0, 0, 2160, 960)}
    u = Utilisation(target="vcu1525", capacity=VCU1525, parts=parts, notes={})
    assert u.total.rounded() == {"lut": 1_200_001, "ff": 20, "dsp": 6000, "bram36": 2160,
                                 "uram": 960}
    assert u.shares["bram36"] == 1.0 and math.isclose(u.shares["dsp"], 6000 / 6840)
    assert not u.fits
    with pytest.raises(ValueError, match=r"^the design does not fit vcu1525: LUT 1,200,001 "
                       r"predicted, 1,182,240 available \(resource model"):
        u.check()
    assert "LUT 1,200,001 of 1,182,240 (101.5%)" in u.summary()
    assert u.to_dict()["fits"] is False
    small = Utilisation(target="vcu1525", capacity=VCU1525, parts={"sore": parts["sore"]},
                        notes={})
    small.check()
    with pytest.raises(ValueError, match="target asic has no bram36, dsps, ffs, luts, uram"):
        Utilisation(target="asic", capacity={"multipliers": 3}, parts={}, notes={})
