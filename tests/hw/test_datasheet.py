"""The datasheet generator's common parts, on a hand-made sidecar."""

import pytest

from sparsa.hw.datasheet import Field, Section, bit_range, datasheet, field_paths, table

SIDECAR = {
    "name": "stage",
    "config_class": "example.Config",
    "config": {"lanes": 2, "inner": {"width": 4}},
    "ports": [
        {"name": "i__payload", "dir": "in", "width": 9, "signed": False,
         "layout": {"kind": "struct", "width": 9, "fields": [
             {"name": "mode", "offset": 0, "width": 1, "signed": False, "enum": "Mode"},
             {"name": "lanes", "offset": 1, "width": 8, "signed": False,
              "layout": {"kind": "array", "width": 8, "length": 2, "fields": [
                  {"name": "0", "offset": 0, "width": 4, "signed": True},
                  {"name": "1", "offset": 4, "width": 4, "signed": True}]}}]}},
        {"name": "i__valid", "dir": "in", "width": 1, "signed": False},
        {"name": "i__ready", "dir": "out", "width": 1, "signed": False},
        {"name": "o__payload", "dir": "out", "width": 16, "signed": False,
         "number_format": "fp16"},
        {"name": "clk", "dir": "in", "width": 1, "signed": False},
        {"name": "rst", "dir": "in", "width": 1, "signed": False},
    ],
    "enums": {"Mode": {"A": 0, "B": 1}},
}


def test_fields_are_flattened_with_lanes_and_offsets() -> None:
    assert field_paths(SIDECAR) == ["i.mode", "i.lanes[i]", "o"]
    sheet = datasheet(SIDECAR, title="a stage", summary=["It stages."],
                      fields={"o": Field("IEEE binary16 bit pattern", "the answer")},
                      sections=[Section("Timing", ("one cycle",), data={"cycles": 1}),
                                Section("Notes", ("none",))])
    assert sheet.data["clock"] == {"port": "clk", "edge": "rising"}
    assert sheet.data["reset"] == {"port": "rst", "synchronous": True, "active": "high"}
    assert sheet.data["fields"][2] == {"field": "o", "lsb": "0", "width": 16,
                                       "format": "IEEE binary16 bit pattern",
                                       "meaning": "the answer"}
    assert sheet.data["sections"] == {"Timing": {"cycles": 1}}
    sheet = sheet.markdown
    assert "| `i.mode` | 0 | 1 | enum `Mode` |  |" in sheet
    assert "| `i.lanes[i]` | 1 + 4 i | 4 | two's-complement INT4 |  |" in sheet
    assert "| `o` | 0 | 16 | IEEE binary16 bit pattern | the answer |" in sheet
    assert "| `inner.width` | 4 |" in sheet and "| 1 | `B` |" in sheet
    assert "| `i__payload` | in | 9 | struct payload of `i` (fields below) |" in sheet
    assert "| `o__payload` | out | 16 | fp16 |" in sheet
    assert "`rst` is synchronous and active high" in sheet and "## Streams" in sheet
    assert sheet.index("## Enumerations") < sheet.index("## Timing\n\none cycle\n")


def test_a_field_the_payloads_lack_is_refused() -> None:
    with pytest.raises(ValueError, match=r"fields not in the payloads of stage: \['i.nope'\]"):
        datasheet(SIDECAR, title="a stage", summary=[], fields={"i.nope": Field("flag")})


def test_helpers() -> None:
    assert table(["a", "b"], [(1, "x")]) == ["| a | b |", "|---|---|", "| 1 | x |"]
    assert (bit_range(4, 1), bit_range(8, 4)) == ("4", "11:8")
