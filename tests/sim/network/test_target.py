"""Targets as data: the built-in files, their sources, and errors in a user's file."""

import dataclasses
import re
from pathlib import Path

import pytest

from sparsa.sim.network.energy import ACTIONS
from sparsa.sim.network.target import TARGETS_DIR, DramSpec, Target, list_targets, load_target

BUILT_IN = ("spatten-asic", "u280", "vcu1525")
DRAM_ACTIONS = {"dram_read_bit": "read_pj_per_bit", "dram_write_bit": "write_pj_per_bit"}


def test_list_targets_names_the_files_sorted():
    assert list_targets() == sorted(BUILT_IN)
    assert list_targets() == sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_loads_and_every_figure_has_a_source(name):
    target = load_target(name)
    assert isinstance(target, Target)
    assert target.name == name
    keys = ["clock_hz", "static_w"]
    keys += [f"dram.{f.name}" for f in dataclasses.fields(DramSpec)]
    keys += [f"{table}.{key}" for table in ("sram_bytes", "resources")
             for key in getattr(target, table)]
    keys += [f"energy.{a}" for a in ACTIONS if a not in DRAM_ACTIONS]
    missing = [k for k in keys if not target.sources.get(k)]
    assert not missing, f"{name}: figures without a source comment: {missing}"
    assert set(target.energy.sources) == set(ACTIONS)


@pytest.mark.parametrize("name", BUILT_IN)
def test_dram_energies_are_the_dram_table(name):
    target = load_target(name)
    for action, field in DRAM_ACTIONS.items():
        assert target.energy.pj[action] == getattr(target.dram, field)
        assert target.energy.sources[action] == target.sources[f"dram.{field}"]


def test_vcu1525_figures():
    target = load_target("vcu1525")
    assert target.resources == {"luts": 1_182_240, "ffs": 2_364_480, "dsps": 6_840,
                                "bram36": 2_160, "uram": 960}
    assert target.dram.kind == "DDR4-2400"
    assert target.dram.channels == 4
    assert target.dram.channel_bytes_per_s == 19.2e9
    assert target.dram.peak_bytes_per_s == pytest.approx(76.8e9, rel=1e-15)
    assert target.clock_hz == 200e6


def test_u280_figures():
    target = load_target("u280")
    assert target.dram.kind == "HBM2"
    assert target.dram.channels == 32
    assert target.dram.peak_bytes_per_s == 460e9
    assert target.resources["luts"] == 1_303_680
    assert target.resources["dsps"] == 9_024


def test_spatten_asic_figures():
    target = load_target("spatten-asic")
    assert target.clock_hz == 1e9
    assert target.resources["multipliers"] == 1_024
    assert target.resources["qk_multipliers"] + target.resources["pv_multipliers"] == 1_024
    assert target.dram.kind == "HBM2"
    assert target.dram.channels == 16
    assert target.dram.peak_bytes_per_s == 512e9
    assert target.dram.burst_bytes == 32
    assert target.sram_bytes["key"] == target.sram_bytes["value"] == 196_608
    assert target.energy.pj["dram_read_bit"] == 3.9


@pytest.mark.parametrize("name", ["u280", "vcu1525"])
def test_fpga_buffers_are_their_blocks_data_bytes(name):
    target = load_target(name)
    assert target.sram_bytes["bram36"] == target.resources["bram36"] * 4_096
    assert target.sram_bytes["uram"] == target.resources["uram"] * 32_768


@pytest.mark.parametrize("name", ["u280", "vcu1525"])
def test_fpga_on_chip_energies_are_the_asic_bases_times_the_stated_factor(name):
    fpga, asic = load_target(name).energy.pj, load_target("spatten-asic").energy.pj
    on_chip = [a for a in ACTIONS if a not in DRAM_ACTIONS and not a.startswith("sram")]
    for action in on_chip:
        assert fpga[action] == pytest.approx(14 * asic[action], abs=0.01), action
    assert fpga["sram_read_bit"] == 14 * 10 / 64  # Horowitz 8 KB point, not the 196 KB one


def test_a_copy_of_a_built_in_loads_the_same(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text((TARGETS_DIR / "vcu1525.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_target(path) == load_target("vcu1525")
    assert load_target(str(path)) == load_target("vcu1525")


def test_a_byte_order_mark_is_read_and_other_encodings_are_named(tmp_path):
    text = (TARGETS_DIR / "vcu1525.toml").read_text(encoding="utf-8")
    marked = tmp_path / "bom.toml"
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_target(marked) == load_target("vcu1525")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(text.encode() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.toml: not UTF-8 text \(byte \d+: b'\\xe9'\)"):
        load_target(latin)


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of vcu1525.toml with the line ``old`` replaced by ``new``."""
    text = (TARGETS_DIR / "vcu1525.toml").read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(old)}$", re.MULTILINE)
    assert len(pattern.findall(text)) == 1, old
    path = tmp_path / "user.toml"
    path.write_text(pattern.sub(new, text), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "field", "says"), [
    ("channels = 4", "", "dram.channels", "is missing"),
    ("clock_hz = 200e6", "", "clock_hz", "is missing"),
    ("mac_int8 = 4.2  # estimate: (8-bit mult 0.2 + 32-bit add 0.1 pJ) x 14", "",
     "energy.mac_int8", "is missing"),
    ("channels = 4", "channels = -4", "dram.channels", "positive integer"),
    ("channels = 4", "channels = 0", "dram.channels", "positive integer"),
    ("clock_hz = 200e6", "clock_hz = -2e8", "clock_hz", "positive number"),
    ("static_w = 0.0", "static_w = -1.0", "static_w", "non-negative number"),
    ("efficiency = 0.9", "efficiency = 1.5", "dram.efficiency", "0 < x <= 1"),
    ("efficiency = 0.9", "efficiency = 0", "dram.efficiency", "0 < x <= 1"),
    ("bram36 = 8847360", "bram36 = 0", "sram_bytes.bram36", "positive integer"),
    ("uram = 960  # UltraRAM blocks (sat.md §7 [C])", "uram = -1", "resources.uram",
     "non-negative integer"),
    ("sram_read_bit = 2.1875", "sram_read_bit = 0.0", "energy.sram_read_bit", "positive"),
    ("channels = 4", "channels = 4\nbanks = 16", "dram.banks", "not a known field"),
    ("static_w = 0.0", "static_w = 0.0\nvoltage = 0.85", "voltage", "not a known field"),
    ("sram_read_bit = 2.1875", "sram_read_bit = 2.1875\nsram_leak_bit = 1.0",
     "energy.sram_leak_bit", "not a known field"),
    ("sram_read_bit = 2.1875", "sram_read_bit = 2.1875\ndram_read_bit = 20.3",
     "energy.dram_read_bit", "not a known field"),
    ("channels = 4", "channels = 4.0", "dram.channels", "integer"),
    ("channels = 4", 'channels = "4"', "dram.channels", "integer"),
    ('kind = "DDR4-2400"', "kind = 2400", "dram.kind", "string"),
    ("clock_hz = 200e6", 'clock_hz = "200 MHz"', "clock_hz", "number"),
    ("luts = 1182240  # CLB LUTs, Vivado utilisation report for xcvu9p (sat.md §7 [C])",
     "luts = 1.5e6", "resources.luts", "integer"),
    ("sore_group = 189.46", "sore_group = true", "energy.sore_group", "number"),
])
def test_user_file_errors_name_the_file_and_the_field(tmp_path, old, new, field, says):
    path = _edited(tmp_path, old, new)
    with pytest.raises(ValueError) as info:
        load_target(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(rf"(^|\W){re.escape(field)}\W", message), message
    assert says in message


def test_a_table_that_is_not_a_table(tmp_path):
    path = _edited(tmp_path, "[resources]", "resources = 3\n[other]")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*resources"):
        load_target(path)


def test_bad_toml_names_the_file(tmp_path):
    path = _edited(tmp_path, "channels = 4", "channels = = 4")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_target(path)


def test_unknown_names_and_missing_files():
    with pytest.raises(ValueError, match=r"unknown target 'vcu118'.*spatten-asic"):
        load_target("vcu118")
    with pytest.raises(ValueError, match=r"does not exist"):
        load_target("no/such/target.toml")


def test_sources_come_from_comment_blocks_and_line_comments(tmp_path):
    text = (TARGETS_DIR / "vcu1525.toml").read_text(encoding="utf-8")
    text = text.replace('kind = "DDR4-2400"', 'kind = "DDR4 #2400"  # the speed grade')
    path = tmp_path / "user.toml"
    path.write_text(text, encoding="utf-8")
    target = load_target(path)
    assert target.dram.kind == "DDR4 #2400"
    assert target.sources["dram.kind"].endswith("sat.md §7 [C]). the speed grade")
    assert target.sources["resources.uram"] == "UltraRAM blocks (sat.md §7 [C])"
    assert target.sources["resources.dsps"].startswith("DSP48E2 slices (sat.md §7: from a")
    # A blank line ends a comment block: the [energy] header's block is not mac_int8's.
    assert target.sources["energy.mac_int8"].startswith("estimate:")


def test_direct_construction_is_validated():
    spec = load_target("vcu1525").dram
    with pytest.raises(ValueError, match=r"^channels must be a positive integer, not 0$"):
        dataclasses.replace(spec, channels=0)
    with pytest.raises(ValueError, match=r"^efficiency must be"):
        dataclasses.replace(spec, efficiency=1.01)
    target = load_target("vcu1525")
    with pytest.raises(ValueError, match=r"^clock_hz must be a positive number"):
        dataclasses.replace(target, clock_hz=0)
    with pytest.raises(ValueError, match=r"^sram_bytes\.x must be a positive integer"):
        dataclasses.replace(target, sram_bytes={"x": -1})
    faster = dataclasses.replace(target, clock_hz=300e6)
    assert faster.clock_hz == 300e6 and faster.dram == target.dram


def test_floats_may_be_written_as_integers(tmp_path):
    path = _edited(tmp_path, "clock_hz = 200e6", "clock_hz = 200_000_000")
    target = load_target(path)
    assert target == load_target("vcu1525")
    assert isinstance(target.clock_hz, float)
