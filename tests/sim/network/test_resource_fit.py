"""Fitting the resource model: the whole pipeline on synthetic syntheses, and (slow, with
Yosys) the packaged model against the synthesis of a larger configuration than its grid's."""

import shutil
from pathlib import Path

import pytest

from sparsa.config.axi import AxiConfig
from sparsa.config.formats import NumberFormat
from sparsa.config.presets import RESOURCE_CHECK_CONFIG
from sparsa.config.sat import NMPattern, SatArrayConfig, SoreConfig
from sparsa.config.sat_system import SatSystemConfig
from sparsa.hw.synthesis import Resources, SynthResult
from sparsa.sim.network import resource_fit
from sparsa.sim.network.resources import RESOURCES, ResourceModel, features, load_model

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None,
                                 reason="no yosys on PATH (.ci/run installs Debian's)")

# Synthetic "synthesis": a known linear function of each block's features.
_TRUTH = {"fixed.int8": 500.0, "pe.int8": 90.0, "pe_register_bits": 1.0, "edge_bits": 0.5,
          "skew_bits": 1.0, "fixed.fp16": 1000.0, "pe.fp16": 1200.0, "adder_stages_pe": 100.0,
          "adder_stages_col": 300.0,
          "fixed": 200.0, "lane.int8": 40.0, "lane.int16": 60.0, "comparator_bits": 0.5,
          "register_bits": 1.0, "axi_bit": 3.0}


def _fake_synthesise(config: object, out_dir: Path) -> tuple[SynthResult, str]:
    parts = [config]
    if isinstance(config, SatSystemConfig):
        parts = [config, config.array] + ([config.sore] if config.sore else [])
    lut = ff = bram = 0.0
    for part in parts:
        for name, value in features(part).items():
            if name == "buffer_ramb36":
                bram += value
                continue
            ff += _TRUTH[name] * value
            if name != "skew_bits":  # delay lines: registers only
                lut += _TRUTH[name] * value
    r = Resources(lut=round(lut), lut_memory=0, ff=round(ff), carry=0, dsp=round(lut / 100),
                  bram36=bram, uram=0)
    return SynthResult(top="t", resources=r, yosys="Yosys fake"), "0" * 64


def test_fit_model_fits_blocks_then_systems_and_records_provenance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resource_fit, "synthesise", _fake_synthesise)
    monkeypatch.setattr("sparsa.hw.synthesis.find_yosys", lambda: "Yosys fake")
    arrays = [SatArrayConfig(rows=r, cols=c, max_reduction=m)
              for r, c, m in ((1, 1, 16), (2, 2, 16), (2, 4, 64), (4, 2, 16), (3, 3, 256),
                              (4, 4, 4096))]
    arrays.append(arrays[2].replace(patterns=(NMPattern(1, 16),)))
    arrays += [SatArrayConfig(rows=r, cols=c, dtype=NumberFormat.FP16, add_latency=latency)
               for r, c, latency in ((1, 2, 1), (2, 2, 1), (2, 3, 1), (1, 2, 3), (2, 2, 3))]
    sores = [SoreConfig(lanes=lanes, m=m) for lanes, m in ((2, 2), (4, 4), (8, 4), (8, 8),
                                                             (16, 8))]
    sores.append(SoreConfig(lanes=4, m=4, dtype=NumberFormat.INT16))
    systems = [SatSystemConfig(array=arrays[1], a_rows=64, out_rows=16),
               SatSystemConfig(array=arrays[5], a_rows=4096, b_rows=256, sore_lanes=4,
                               sore_m=4, axi=AxiConfig(data_width=128))]
    seen = []
    data = resource_fit.fit_model([*arrays, *sores, *systems],
                                  progress=lambda d, t, line: seen.append((d, t)))
    assert seen[-1] == (len(arrays) + len(sores) + 2,) * 2
    assert data["command"] == "sparsa synth fit" and data["yosys"] == "Yosys fake"
    model = ResourceModel(data)
    coefs = model.coefficients("sat-array")["ff"]
    assert coefs["pe.int8"] == pytest.approx(90, abs=0.5)
    assert model.coefficients("sat-accelerator")["lut"]["axi_bit"] == pytest.approx(3, rel=0.01)
    assert model.coefficients("sat-accelerator")["bram36"] == {"buffer_ramb36": pytest.approx(1)}
    for point in data["grid"]:
        assert point["predicted"]["ff"] == pytest.approx(point["resources"]["ff"], abs=2)


@pytest.mark.slow
@needs_yosys
def test_the_model_predicts_a_larger_array_than_its_grid_within_10_percent(
    tmp_path: Path,
) -> None:
    measured = resource_fit.synthesise(RESOURCE_CHECK_CONFIG, tmp_path)[0].resources
    predicted = load_model().predict(RESOURCE_CHECK_CONFIG)
    errors = {r: (getattr(predicted, r) - getattr(measured, r)) / getattr(measured, r)
              for r in ("lut", "ff", "dsp")}
    assert all(abs(e) <= 0.10 for e in errors.values()), (measured, predicted, errors)
    assert set(RESOURCES) == {"lut", "ff", "dsp", "bram36"}
