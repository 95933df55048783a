"""Verilog export of Amaranth components, with a JSON sidecar and a Verilator lint.

:func:`export_verilog` writes ``<name>.v``, ``<name>.json`` (the configuration, every port
with its direction, width and payload layout, the enumerations the ports use, and the tool
versions), ``<name>.vlt`` (the Verilator waivers for Amaranth's output, see
``hw/verilator_waivers.vlt``) and, given a datasheet maker, ``<name>.md``.
:func:`lint_verilog` runs ``verilator --lint-only -Wall`` on such a file.
"""

import dataclasses
import json
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping
from enum import Enum
from importlib import resources
from pathlib import Path

from amaranth import Const, Shape
from amaranth.back import verilog
from amaranth.lib import data, wiring

from sparsa.files import write_atomically
from sparsa.hw.datasheet import Datasheet
from sparsa.hw.toolchain import tool_versions, verilator_env

__all__ = ["config_json", "enums_json", "export_verilog", "lint_verilog", "waivers_for"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The token of hw/verilator_waivers.vlt that stands for the exported module's name.
_NAME_TOKEN = "@NAME@"

# Reading Yosys' Verilog, line by line. An identifier is simple or escaped (`\out$3 `, ended
# by white space).
_IDENT = r"(?:\\\S+|[A-Za-z_][\w$]*)"
# "input [7:0] name;", "output name;"
_PORT_DECL = re.compile(
    rf"^\s*(input|output)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?({_IDENT})\s*;$"
)
# "wire [7:0] name;" (a zero-width wire is declared "[-1:0]")
_WIRE_DECL = re.compile(rf"^\s*wire\s+(?:signed\s+)?(?:\[(-?\d+):\d+\]\s+)?({_IDENT})\s*;$")
# Tokens: sized literals (so that `4'h8` yields no identifier `h8`), port names of instance
# connections (`.out(`, not uses of a wire) and identifiers.
_TOKEN = re.compile(rf"\d*'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ_?]+|\.[A-Za-z_]\w*|{_IDENT}")
# Pure wiring: a net, a bit range of one or a constant (`other`, `other[7:0]`, `1'h1`,
# `32'd4294967295`), or a concatenation of those (`{ 1'h0, other[3:1] }`).
_WIRING = rf"(?:{_IDENT}\s*(?:\[\d+(?::\d+)?\])?|\d+'[bdh][0-9a-f]+)"
_ALIAS = re.compile(
    rf"^\s*assign\s+({_IDENT})\s*=\s*(?:{_WIRING}|\{{\s*{_WIRING}(?:\s*,\s*{_WIRING})*\s*\}})\s*;$"
)
# Names the static waivers of hw/verilator_waivers.vlt already cover: temporaries and the
# field views of data.Layout signals.
_STATICALLY_WAIVED = re.compile(r"^\$|\.|\]$")


def _unread_wires(text: str) -> list[tuple[int, str]]:
    """Line numbers (1-based) and names of the alias and zero-width wires never read by name."""
    found = []
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("module ")]
    for begin, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        module = lines[begin:end]
        uses = Counter(
            token.lstrip("\\")
            for line in module
            for token in _TOKEN.findall(line)
            if not token.startswith(".")
        )
        ports = {m.group(4) for line in module if (m := _PORT_DECL.match(line))}
        aliases = {m.group(1) for line in module if (m := _ALIAS.match(line))}
        for offset, line in enumerate(module):
            decl = _WIRE_DECL.match(line)
            if decl is None or decl.group(2) in ports:
                continue
            wire = decl.group(2)
            name = wire.lstrip("\\")
            if _STATICALLY_WAIVED.search(name):
                continue
            zero_width = decl.group(1) == "-1" and uses[name] == 1
            alias = wire in aliases and uses[name] == 2
            if zero_width or alias:
                found.append((begin + offset + 1, name))
    return found


def waivers_for(name: str, text: str) -> str:
    """Text of the Verilator waiver file for the generated Verilog ``text`` of module ``name``.

    The waivers of ``hw/verilator_waivers.vlt``, restricted to files named ``<name>.v``, and a
    per-line UNUSEDSIGNAL waiver for each wire of ``text`` that is declared and never read by
    name because it is an alias of another net (or a constant) or has width zero.
    """
    template = resources.files(__package__).joinpath("verilator_waivers.vlt").read_text()
    lines = [template.replace(_NAME_TOKEN, name)]
    lines += [
        f'lint_off -rule UNUSEDSIGNAL -file "*{name}.v" -lines {line}  // {wire}'
        for line, wire in _unread_wires(text)
    ]
    return "\n".join(lines) + "\n"


def _to_json(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


def config_json(config: object) -> dict[str, object]:
    """A configuration dataclass as JSON-ready data (enums as their values)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, not {config!r}")
    return dataclasses.asdict(
        config, dict_factory=lambda items: {key: _to_json(value) for key, value in items}
    )


def _enum(shape: object) -> type[Enum] | None:
    """The enumeration ``shape`` is, if it is one."""
    return shape if isinstance(shape, type) and issubclass(shape, Enum) else None


def _shape_json(shape: object) -> dict[str, object]:
    """The ``layout`` or ``enum`` entry of a port or field of ``shape`` (empty for neither)."""
    if isinstance(shape, data.Layout):
        return {"layout": _layout_json(shape)}
    if (enum := _enum(shape)) is not None:
        return {"enum": enum.__name__}
    return {}


def _enums_in(shape: object, found: dict[str, type[Enum]]) -> None:
    """Add the enumerations of ``shape`` and of its layout's fields, at any depth, to ``found``."""
    if (enum := _enum(shape)) is not None:
        other = found.setdefault(enum.__name__, enum)
        if other is not enum:
            raise ValueError(
                f"two enumerations named {enum.__name__!r} in one signature: "
                f"{other.__module__}.{other.__qualname__} and "
                f"{enum.__module__}.{enum.__qualname__}"
            )
    elif isinstance(shape, data.ArrayLayout):
        _enums_in(shape.elem_shape, found)
    elif isinstance(shape, data.Layout):
        for _, field in shape:
            _enums_in(field.shape, found)


def enums_json(signature: wiring.Signature) -> dict[str, dict[str, int]]:
    """Every enumeration that the ports of ``signature`` use as a shape, at any depth of their
    payload layouts: its name and its members' names and values, by name.

    Raises
    ------
    ValueError
        If two different enumerations have the same name.
    """
    found: dict[str, type[Enum]] = {}
    for _, member in signature.members.flatten():
        if member.is_port:
            _enums_in(member.shape, found)
    return {
        name: {member.name: Const.cast(member.value).value for member in enum}
        for name, enum in sorted(found.items())
    }


def _layout_json(layout: data.Layout) -> dict[str, object]:
    kind = type(layout).__name__.removesuffix("Layout").lower()
    fields = []
    for key, field in layout:
        entry: dict[str, object] = {
            "name": str(key),
            "offset": field.offset,
            "width": field.width,
            "signed": Shape.cast(field.shape).signed,
            **_shape_json(field.shape),
        }
        fields.append(entry)
    result: dict[str, object] = {"kind": kind, "width": layout.size}
    if isinstance(layout, data.ArrayLayout):
        result["length"] = layout.length
    result["fields"] = fields
    return result


def _ports_json(component: wiring.Component, name: str, text: str) -> list[dict[str, object]]:
    module = re.search(rf"^module {name}\(.*?^endmodule", text, re.DOTALL | re.MULTILINE)
    if module is None:
        raise RuntimeError(f"the generated Verilog has no module named {name!r}")
    declared = {
        m.group(4): ("in" if m.group(1) == "input" else "out",
                     int(m.group(2)) - int(m.group(3)) + 1 if m.group(2) else 1)
        for line in module.group(0).splitlines()
        if (m := _PORT_DECL.match(line))
    }
    formats = getattr(component, "number_formats", {})
    ports = []
    for path, member in component.signature.members.flatten():
        if not member.is_port:
            continue
        shape = Shape.cast(member.shape)
        entry: dict[str, object] = {
            "name": "__".join(str(part) for part in path),
            "dir": "in" if member.flow == wiring.In else "out",
            "width": shape.width,
            "signed": shape.signed,
            **_shape_json(member.shape),
        }
        if path[-1] == "payload" and path[0] in formats:
            entry["number_format"] = formats[path[0]]
        ports.append(entry)
    # Clock and reset ports of the clock domains are not signature members.
    signature_names = {entry["name"] for entry in ports}
    ports.extend(
        {"name": port, "dir": direction, "width": width, "signed": False}
        for port, (direction, width) in declared.items()
        if port not in signature_names
    )
    return ports


def export_verilog(
    component: wiring.Component,
    *,
    name: str,
    out_dir: Path | str,
    config: object,
    datasheet: Callable[[Mapping[str, object]], Datasheet] | None = None,
) -> tuple[Path, Path]:
    """Write the Verilog of ``component`` and its JSON sidecar into ``out_dir``.

    Writes ``<name>.v``, ``<name>.json``, ``<name>.vlt`` (the Verilator waivers for this
    file, so ``verilator --lint-only -Wall <name>.vlt <name>.v`` is clean) and, given a
    ``datasheet``, ``<name>.md``. Each file is
    written to a temporary file in ``out_dir`` and renamed into place, so no half-written
    output is ever left: if the export fails, none of the files is written.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design; its signature gives the ports.
    name : str
        Verilog name of the top module and stem of the files (a Verilog identifier).
    out_dir : path
        Output folder, created if missing.
    config : dataclass instance
        The configuration the component was elaborated from, recorded in the sidecar.
    datasheet : callable, optional
        Makes the datasheet from the sidecar's data (for example
        :func:`sparsa.hw.datasheet.datasheet` with the design's own sections): its Markdown
        is written as ``<name>.md`` and its data is the sidecar's ``datasheet`` entry.

    Returns
    -------
    verilog_path, json_path : pathlib.Path
        The written ``<name>.v`` and ``<name>.json``.

    Notes
    -----
    The sidecar holds ``name``, ``config_class``, ``config`` (``dataclasses.asdict`` with enums
    as their values), ``ports``, ``enums`` and ``versions``
    (:func:`sparsa.hw.toolchain.tool_versions`). Each port has the Verilog ``name`` (signature
    path joined with ``__``, e.g. ``cmd__payload``, plus the domain ports ``clk`` and ``rst``),
    ``dir`` (``"in"`` or ``"out"``), ``width``, ``signed`` and, for a
    :class:`amaranth.lib.data.Layout` payload, ``layout``: its ``kind`` (``"struct"``,
    ``"array"``, ...), ``width``, ``length`` (arrays) and ``fields``, each with ``name``,
    ``offset``, ``width``, ``signed`` and a nested ``layout`` where it has one. The payload of a
stream whose values have a number format (a component's ``number_formats``, stream name to
format, e.g. ``"bf16"`` or ``"int32"``) states it in ``number_format``. A port or field
    whose shape is an enumeration (:mod:`amaranth.lib.enum`) names it in ``enum``; ``enums``
    (:func:`enums_json`) maps the name of every enumeration the ports use to its members'
    names and values, e.g. ``{"Dataflow": {"OS": 0, "WS": 1}}``. A system top adds its
    ``interfaces`` (register map, instruction set) to the sidecar. With a ``datasheet``, the
    sidecar's ``datasheet`` (:class:`sparsa.hw.datasheet.Datasheet`) states the clock edge, the
    reset, the stream rule, every payload field's format and meaning, and the design's own
    figures (a block's latency and throughput).
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"name must be a Verilog identifier, not {name!r}")
    config_data = config_json(config)
    text = verilog.convert(component, name=name, emit_src=False)
    sidecar = {
        "name": name,
        "config_class": f"{type(config).__module__}.{type(config).__qualname__}",
        "config": config_data,
        "ports": _ports_json(component, name, text),
        "enums": enums_json(component.signature),
        **getattr(component, "interfaces", {}),
        "versions": tool_versions(),
    }
    sheet = None if datasheet is None else datasheet(sidecar)
    if sheet is not None:
        sidecar["datasheet"] = sheet.data
    sidecar_text = json.dumps(sidecar, indent=2) + "\n"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verilog_path, json_path = out / f"{name}.v", out / f"{name}.json"
    write_atomically({
        verilog_path: text,
        json_path: sidecar_text,
        out / f"{name}.vlt": waivers_for(name, text),
        **({} if sheet is None else {out / f"{name}.md": sheet.markdown}),
    })
    return verilog_path, json_path


def lint_verilog(path: Path | str) -> list[str]:
    """Lint a generated Verilog file with ``verilator --lint-only -Wall``.

    The top module is the file's stem; the waiver file ``<stem>.vlt`` beside it (as
    :func:`export_verilog` writes it) is applied when it exists.

    Returns
    -------
    list of str
        The first line of each warning or error Verilator reports; empty when clean.

    Raises
    ------
    RuntimeError
        If Verilator fails without reporting a diagnostic.
    """
    path = Path(path)
    waivers = path.with_suffix(".vlt")
    command = ["verilator", "--lint-only", "-Wall", "--top-module", path.stem]
    command += [str(waivers)] if waivers.exists() else []
    command.append(str(path))
    result = subprocess.run(command, env=verilator_env(), capture_output=True, text=True)
    messages = [
        line
        for line in result.stderr.splitlines()
        if line.startswith(("%Warning", "%Error")) and not line.startswith("%Error: Exiting")
    ]
    if result.returncode != 0 and not messages:
        raise RuntimeError(f"verilator failed on {path}:\n{result.stderr.strip()}")
    return messages
