"""Datasheets of exported designs, generated from their JSON sidecars.

:func:`datasheet` writes what every exported block and system shares, read from the sidecar
that :func:`sparsa.hw.export.export_verilog` writes: the configuration, the clock and the reset,
the stream handshake rule, every port, every payload field with its bits and its number format,
and the encoding of every enumeration. What only a design knows (its requests, the meaning of
its fields, its timing, a system's registers) it supplies as :class:`Section` s and field notes.
The result is the Markdown text and the same facts as data for the sidecar (:class:`Datasheet`).
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Datasheet", "Field", "Section", "bit_range", "datasheet", "field_paths", "table"]

CLOCK = "clk"
RESET = "rst"
_PAYLOAD, _VALID = "__payload", "__valid"
_LANE_NAMES = "ijkl"  # the lanes of an array in a field's path: [i], inside it [j], ...

_CLOCK_TEXT = (
    "Every register is clocked by the rising edge of `{clk}`. `{rst}` is synchronous and "
    "active high: at a rising edge of `{clk}` with `{rst}` high every register takes its reset "
    "value, which is also its power-up value (a Verilog initialiser). Memories (block RAM) keep "
    "their contents through a reset. Hold `{rst}` high for at least one edge before the first "
    "transfer."
)
_STREAM_TEXT = (
    "Every stream `S` is `S__payload`, `S__valid` and `S__ready` (`amaranth.lib.stream`). A beat "
    "transfers at a rising edge where `S__valid` and `S__ready` are both high. A producer that "
    "raises `S__valid` holds it high, with a stable payload, until the transfer; no `valid` "
    "waits for a `ready`. A `ready` may depend on the `valid`s. Any input may stall and any "
    "output may be back-pressured at any time; the block then waits."
)


@dataclass(frozen=True)
class Field:
    """What a datasheet says of one payload field beyond its bits.

    Parameters
    ----------
    format : str
        Its number format, e.g. ``"unsigned Q1.12"`` or ``"IEEE binary16 bit pattern"``.
    meaning : str
        What it holds.
    """

    format: str
    meaning: str = ""


@dataclass(frozen=True)
class Section:
    """A design's own section of its datasheet: a ``##`` heading and Markdown lines, and, for
    the sidecar, the section's figures as data (e.g. a table's ``columns`` and ``rows``)."""

    title: str
    lines: tuple[str, ...]
    data: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Datasheet:
    """A design's datasheet: the Markdown text (``<name>.md``) and its facts as data (the
    sidecar's ``datasheet`` entry: ``clock``, ``reset``, ``stream_rule``, ``fields`` and the
    sections' data by title)."""

    markdown: str
    data: Mapping[str, object]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def bit_range(lsb: int, width: int) -> str:
    """``msb:lsb``, or the bit alone for a one-bit field."""
    return f"{lsb}" if width == 1 else f"{lsb + width - 1}:{lsb}"


def _flat(config: Mapping[str, object], prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted name, value) of every field of a configuration, nested ones included."""
    for key, value in config.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _fields(layout: Mapping[str, object], path: str, lsb: int = 0,
            lanes: tuple[tuple[int, str], ...] = ()) -> Iterator[tuple[str, str, object]]:
    """(path, lsb, field) of every leaf field of a payload ``layout``. An array's elements are
    one row: ``[i]`` in the path (``[j]`` one level down) and the stride in the lsb."""
    fields: Sequence[Mapping[str, object]] = layout["fields"]  # type: ignore[assignment]
    if layout["kind"] == "array":
        lane = _LANE_NAMES[len(lanes)]
        fields, names = fields[:1], [f"[{lane}]"]
        lanes += ((int(fields[0]["width"]), lane),)  # type: ignore[call-overload]
    else:
        names = [f".{f['name']}" for f in fields]
    for field, name in zip(fields, names, strict=True):
        at = lsb + int(field["offset"])  # type: ignore[call-overload]
        if "layout" in field:
            yield from _fields(field["layout"], path + name, at, lanes)  # type: ignore[arg-type]
        else:
            terms = [str(at)] if at or not lanes else []
            terms += [f"{stride} {lane}" for stride, lane in lanes]
            yield path + name, " + ".join(terms), field


def field_paths(sidecar: Mapping[str, object]) -> list[str]:
    """The paths of every leaf payload field of the sidecar's streams, as a datasheet names them
    (``cmd.n``, ``dout.index[i]``; ``din[i]`` for an array payload, ``cmd`` for a plain one)."""
    return [path for _, rows in _payloads(sidecar) for path, _, _ in rows]


def _payloads(sidecar: Mapping[str, object]
              ) -> list[tuple[Mapping[str, object], list[tuple[str, str, Mapping[str, object]]]]]:
    found = []
    for port in sidecar["ports"]:  # type: ignore[attr-defined]
        if not port["name"].endswith(_PAYLOAD):
            continue
        stream = port["name"].removesuffix(_PAYLOAD)
        rows = (list(_fields(port["layout"], stream)) if "layout" in port
                else [(stream, "0", port)])
        found.append((port, rows))
    return found


def _default_format(field: Mapping[str, object]) -> str:
    if "enum" in field:
        return f"enum `{field['enum']}`"
    if field["width"] == 1:
        return "flag"
    return f"two's-complement INT{field['width']}" if field["signed"] else "unsigned integer"


def _holds(port: Mapping[str, object]) -> str:
    """What a port holds, in a few words."""
    name = str(port["name"])
    stream, _, member = name.rpartition("__")
    if name == CLOCK:
        return "clock, rising edge"
    if name == RESET:
        return "reset, synchronous, active high"
    if member in ("valid", "ready"):
        return f"`{stream}` handshake"
    if member == "payload" and "layout" in port:
        kind = port["layout"]["kind"]  # type: ignore[index]
        values = f"{port['number_format']}; " if "number_format" in port else ""
        return f"{kind} payload of `{stream}` ({values}fields below)"
    return str(port.get("number_format", _default_format(port)))


def datasheet(
    sidecar: Mapping[str, object],
    *,
    title: str,
    summary: Sequence[str],
    fields: Mapping[str, Field] | None = None,
    sections: Sequence[Section] = (),
) -> Datasheet:
    """The datasheet of the design whose sidecar is ``sidecar``.

    Parameters
    ----------
    sidecar : mapping
        The JSON sidecar of the design (:func:`sparsa.hw.export.export_verilog`).
    title : str
        The design in a few words, e.g. ``"the top-k engine"``.
    summary : sequence of str
        Lines of Markdown after the title: what the design does.
    fields : mapping of str to Field, optional
        The format and meaning of payload fields, by path (:func:`field_paths`); a field
        without an entry is described by its bits (``flag``, ``unsigned integer``,
        ``two's-complement INTn``, or its enumeration).
    sections : sequence of Section
        The design's own sections, after the common ones.

    Raises
    ------
    ValueError
        If ``fields`` names a field the sidecar's payloads do not have.
    """
    fields = fields or {}
    unknown = set(fields) - set(field_paths(sidecar))
    if unknown:
        raise ValueError(f"fields not in the payloads of {sidecar['name']}: {sorted(unknown)}")
    ports: Sequence[Mapping[str, object]] = sidecar["ports"]  # type: ignore[assignment]
    names = {port["name"] for port in ports}
    payloads = [
        (port, [{"field": path, "lsb": lsb, "width": field["width"],
                 "format": fields[path].format if path in fields else _default_format(field),
                 "meaning": fields[path].meaning if path in fields else ""}
                for path, lsb, field in rows])
        for port, rows in _payloads(sidecar)
    ]
    data: dict[str, object] = {}
    lines = [
        f"# {sidecar['name']}: {title}",
        "",
        "Generated by sparsa from the configuration below and the JSON sidecar beside it: the",
        "ports, fields and codes are the ones the RTL is elaborated from.",
        "",
        *summary,
        "",
        "## Configuration",
        "",
        f"`{sidecar['config_class']}`:",
        "",
        *table(["field", "value"], [(f"`{k}`", v) for k, v in _flat(sidecar["config"])]),
        "",
    ]
    if CLOCK in names:
        data["clock"] = {"port": CLOCK, "edge": "rising"}
        lines += ["## Clock and reset", "",
                  _CLOCK_TEXT.format(clk=CLOCK, rst=RESET) if RESET in names else
                  f"Every register is clocked by the rising edge of `{CLOCK}`; there is no reset.",
                  ""]
    if RESET in names:
        data["reset"] = {"port": RESET, "synchronous": True, "active": "high"}
    if any(name.endswith(_VALID) for name in names):
        data["stream_rule"] = _STREAM_TEXT
        lines += ["## Streams", "", _STREAM_TEXT, ""]
    lines += ["## Ports", "",
              *table(["port", "dir", "bits", "holds"],
                     [(f"`{p['name']}`", p["dir"], p["width"], _holds(p)) for p in ports]),
              ""]
    if payloads:
        lines += ["## Payload fields", "",
                  "The lowest bit of each field within the payload and its width; `[i]` is lane",
                  "i of an array (`[j]` of an array inside it), its lsb a function of i.", ""]
    for port, rows in payloads:
        lines += [f"### `{port['name']}` ({port['width']} bits)", "",
                  *table(["field", "lsb", "bits", "format", "meaning"],
                         [(f"`{r['field']}`", r["lsb"], r["width"], r["format"], r["meaning"])
                          for r in rows]),
                  ""]
    data["fields"] = [row for _, rows in payloads for row in rows]
    enums: Mapping[str, Mapping[str, int]] = sidecar.get("enums", {})  # type: ignore[assignment]
    if enums:
        lines += ["## Enumerations", ""]
    for enum, members in enums.items():
        lines += [f"### `{enum}`", "",
                  *table(["code", "name"], [(code, f"`{name}`") for name, code in members.items()]),
                  ""]
    for section in sections:
        lines += [f"## {section.title}", "", *section.lines, ""]
    data["sections"] = {s.title: s.data for s in sections if s.data is not None}
    return Datasheet("\n".join(lines), data)
