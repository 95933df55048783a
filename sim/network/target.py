"""Accelerator targets as data: clock, DRAM, on-chip buffers, resources and energy coefficients.

A target is a TOML file. The built-in ones are ``sim/network/targets/<name>.toml`` (read
relative to this module, so they work from the editable checkout); a user's file has the same
schema::

    name = "..."            # str
    description = "..."     # str
    clock_hz = 2.0e8        # accelerator clock, > 0
    static_w = 0.0          # static power in watts, >= 0

    [dram]                  # DramSpec: every field required
    kind = "DDR4-2400"
    channels = 4            # int > 0
    channel_bytes_per_s = 19.2e9
    burst_bytes = 64        # int > 0
    efficiency = 0.9        # 0 < e <= 1
    read_pj_per_bit = 20.3
    write_pj_per_bit = 20.3

    [sram_bytes]            # buffer name -> bytes (int > 0)
    [resources]             # resource name -> count (int >= 0)
    [energy]                # every action of sparsa.sim.network.energy.ACTIONS but the DRAM
                            # ones -> pJ (> 0)

The energy table's ``dram_read_bit`` and ``dram_write_bit`` are the ``[dram]`` table's
``read_pj_per_bit`` and ``write_pj_per_bit`` (written once, there). Floats may be written as
integers; integers may not be written as floats. Every figure carries
its source in a comment: the comment lines directly above a key (no blank line between) and the
comment at the end of its line become ``Target.sources[<dotted key>]``, e.g.
``sources["dram.channels"]`` (and ``EnergyTable.sources[<action>]`` for the energy table).
Comments are read from single-line keys and table headers.
"""

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from numbers import Real
from pathlib import Path

from sparsa.sim.network.energy import ACTIONS, EnergyTable

__all__ = ["TARGETS_DIR", "DramSpec", "Target", "list_targets", "load_target"]

# The built-in targets: package data, read through importlib.resources.
TARGETS_DIR = Path(str(resources.files(__package__) / "targets"))


@dataclass(frozen=True)
class _Rule:
    """What a field may hold: a type and, for numbers, a lower and an optional upper bound."""

    kind: type  # int, float (ints accepted) or str
    low: float | None = None
    low_included: bool = False
    high: float | None = None  # included

    def describe(self) -> str:
        """Text of the rule, for error messages ("a positive integer", ...)."""
        if self.kind is str:
            return "a string"
        noun = "integer" if self.kind is int else "number"
        if self.low == 0 and self.high is None:
            return f"a {'non-negative' if self.low_included else 'positive'} {noun}"
        low = "<=" if self.low_included else "<"
        return f"a {noun} with {self.low} {low} x <= {self.high}"

    def check(self, path: str, value: object) -> None:
        """Raise ValueError naming ``path`` unless ``value`` follows the rule."""
        if self.kind is str:
            ok = isinstance(value, str)
        else:
            number = Real if self.kind is float else int
            ok = (isinstance(value, number) and not isinstance(value, bool)
                  and math.isfinite(value)
                  and (self.low is None or value > self.low
                       or (self.low_included and value == self.low))
                  and (self.high is None or value <= self.high))
        if not ok:
            raise ValueError(f"{path} must be {self.describe()}, not {value!r}")


_TEXT = _Rule(str)
_POSITIVE_INT = _Rule(int, 0)
_POSITIVE = _Rule(float, 0)

_DRAM_RULES = {
    "kind": _TEXT,
    "channels": _POSITIVE_INT,
    "channel_bytes_per_s": _POSITIVE,
    "burst_bytes": _POSITIVE_INT,
    "efficiency": _Rule(float, 0, high=1),
    "read_pj_per_bit": _POSITIVE,
    "write_pj_per_bit": _POSITIVE,
}
_TOP_RULES = {
    "name": _TEXT,
    "description": _TEXT,
    "clock_hz": _POSITIVE,
    "static_w": _Rule(float, 0, low_included=True),
}
# Rule for every entry of the tables with free keys.
_ENTRY_RULES = {
    "sram_bytes": _POSITIVE_INT,
    "resources": _Rule(int, 0, low_included=True),
    "energy": _POSITIVE,
}
_TABLES = ("dram", "sram_bytes", "resources", "energy")
# Energy actions whose figure is a [dram] field.
_DRAM_ACTIONS = {"dram_read_bit": "read_pj_per_bit", "dram_write_bit": "write_pj_per_bit"}


def _check_rules(values: Mapping[str, object], rules: Mapping[str, _Rule], prefix: str) -> None:
    for name, rule in rules.items():
        rule.check(prefix + name, values[name])


def _check_entries(table: str, values: Mapping[str, object]) -> None:
    for key, value in values.items():
        _ENTRY_RULES[table].check(f"{table}.{key}", value)


def _floats(obj: object, rules: Mapping[str, _Rule]) -> None:
    """Store the float fields of a frozen dataclass as floats (a TOML file may write 200)."""
    for name, rule in rules.items():
        if rule.kind is float:
            object.__setattr__(obj, name, float(getattr(obj, name)))


@dataclass(frozen=True)
class DramSpec:
    """Off-chip memory of a target.

    Parameters
    ----------
    kind : str
        Memory standard and speed, e.g. ``"DDR4-2400"`` or ``"HBM2"``.
    channels : int
        Independent channels (pseudo-channels for HBM2 where the controller drives them
        independently).
    channel_bytes_per_s : float
        Peak bandwidth of one channel.
    burst_bytes : int
        Smallest transfer, also the alignment: a transfer moves whole bursts.
    efficiency : float
        Fraction of the peak sustained by streaming access, 0 < e <= 1.
    read_pj_per_bit, write_pj_per_bit : float
        Energy of one bit read or written.
    """

    kind: str
    channels: int
    channel_bytes_per_s: float
    burst_bytes: int
    efficiency: float
    read_pj_per_bit: float
    write_pj_per_bit: float

    def __post_init__(self) -> None:
        _check_rules({f.name: getattr(self, f.name) for f in fields(self)}, _DRAM_RULES, "")
        _floats(self, _DRAM_RULES)

    @property
    def peak_bytes_per_s(self) -> float:
        """Peak bandwidth of all channels together."""
        return self.channels * self.channel_bytes_per_s


@dataclass(frozen=True)
class Target:
    """An accelerator platform: clock, DRAM, on-chip buffers, resources and energies.

    Parameters
    ----------
    name : str
        Short name (a built-in target's name is its file name).
    description : str
        One line saying what the target is.
    clock_hz : float
        Accelerator clock (for an FPGA a setting; the file says why its default was chosen).
    dram : DramSpec
    sram_bytes : dict of str to int
        Named on-chip buffers and their sizes in bytes (for an FPGA, its BRAM and URAM data
        capacity).
    resources : dict of str to int
        Resource counts (FPGA: ``luts``, ``ffs``, ``dsps``, ``bram36``, ``uram``; an ASIC: its
        multipliers and so on).
    energy : EnergyTable
    static_w : float
        Static power in watts, charged over the run time.
    sources : dict of str to str
        Where each figure comes from, by dotted key (``"dram.channels"``, ``"energy.mac_int8"``).
    """

    name: str
    description: str
    clock_hz: float
    dram: DramSpec
    sram_bytes: dict[str, int]
    resources: dict[str, int]
    energy: EnergyTable
    static_w: float
    sources: dict[str, str]

    def __post_init__(self) -> None:
        _check_rules({k: getattr(self, k) for k in _TOP_RULES}, _TOP_RULES, "")
        _floats(self, _TOP_RULES)
        for table in ("sram_bytes", "resources"):
            _check_entries(table, getattr(self, table))
        if not isinstance(self.dram, DramSpec):
            raise ValueError(f"dram must be a DramSpec, not {self.dram!r}")
        if not isinstance(self.energy, EnergyTable):
            raise ValueError(f"energy must be an EnergyTable, not {self.energy!r}")
        for table in ("sram_bytes", "resources", "sources"):
            object.__setattr__(self, table, dict(getattr(self, table)))


def list_targets() -> list[str]:
    """Names of the built-in targets, sorted."""
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def _target_file(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, str) and not name_or_path.endswith(".toml") \
            and "/" not in name_or_path and "\\" not in name_or_path:
        if name_or_path not in list_targets():
            raise ValueError(f"unknown target {name_or_path!r}; the built-in targets are "
                             f"{list_targets()} (or give the path of a .toml file)")
        return TARGETS_DIR / f"{name_or_path}.toml"
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"target file {str(path)!r} does not exist")
    return path


def _check_keys(table: Mapping[str, object], required: tuple[str, ...], prefix: str) -> None:
    for key in required:
        if key not in table:
            raise ValueError(f"{prefix}{key} is missing")
    for key in table:
        if key not in required:
            raise ValueError(f"{prefix}{key} is not a known field; the fields here are "
                             f"{list(required)}")


def _key_path(line: str) -> tuple[str, ...] | None:
    """Dotted key of a one-line ``key = value`` or ``[table]`` (no comment), or None."""
    if line.lstrip().startswith("["):
        try:
            parsed = tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            return None
        path: tuple[str, ...] = ()
        while isinstance(parsed, dict) and len(parsed) == 1:
            (key, parsed), = parsed.items()
            path += (key,)
        return path
    for i, char in enumerate(line):
        if char == "=":
            try:
                parsed = tomllib.loads(line[:i] + "= 0")
            except tomllib.TOMLDecodeError:
                continue
            path = ()
            while isinstance(parsed, dict):
                (key, parsed), = parsed.items()
                path += (key,)
            return path
    return None


def _split_comment(line: str) -> tuple[str, str]:
    """Split a line into its TOML part and its end-of-line comment ("" when it has none)."""
    for i, char in enumerate(line):
        if char == "#":
            try:
                tomllib.loads(line[:i])
            except tomllib.TOMLDecodeError:
                continue
            return line[:i], line[i + 1:].strip()
    return line, ""


def _comment_sources(text: str) -> dict[str, str]:
    """Sources by dotted key: the comment block directly above each key plus its line comment."""
    sources: dict[str, str] = {}
    table: tuple[str, ...] = ()
    block: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped[1:].strip())
            continue
        if stripped:
            body, comment = _split_comment(line)
            path = _key_path(body)
            if path is not None:
                if body.lstrip().startswith("["):
                    table = path
                    key = path
                else:
                    key = table + path
                source = " ".join([*block, comment]).strip()
                if source:
                    sources[".".join(key)] = source
        block = []
    return sources


def _parse(data: dict[str, object], sources: dict[str, str]) -> Target:
    """Validate a parsed target file and build the :class:`Target` (errors name dotted keys)."""
    _check_keys(data, (*_TOP_RULES, *_TABLES), "")
    for table in _TABLES:
        if not isinstance(data[table], dict):
            raise ValueError(f"{table} must be a table, not {data[table]!r}")
    _check_rules(data, _TOP_RULES, "")
    dram = data["dram"]
    _check_keys(dram, tuple(_DRAM_RULES), "dram.")
    _check_rules(dram, _DRAM_RULES, "dram.")
    _check_keys(data["energy"], tuple(a for a in ACTIONS if a not in _DRAM_ACTIONS), "energy.")
    for table in _ENTRY_RULES:
        _check_entries(table, data[table])
    energy = dict(data["energy"])
    energy_sources = {a: sources[f"energy.{a}"] for a in energy if f"energy.{a}" in sources}
    for action, field in _DRAM_ACTIONS.items():
        energy[action] = dram[field]
        if f"dram.{field}" in sources:
            energy_sources[action] = sources[f"dram.{field}"]
    return Target(
        name=data["name"],
        description=data["description"],
        clock_hz=data["clock_hz"],
        dram=DramSpec(**dram),
        sram_bytes=data["sram_bytes"],
        resources=data["resources"],
        energy=EnergyTable(pj=energy, sources=energy_sources),
        static_w=data["static_w"],
        sources=sources,
    )


def load_target(name_or_path: str | Path) -> Target:
    """Load a built-in target by name, or a user's target file by path.

    Parameters
    ----------
    name_or_path : str or Path
        A name of :func:`list_targets`, or the path of a TOML file (a ``Path``, or a string
        ending in ``.toml`` or containing a path separator).

    Raises
    ------
    ValueError
        For an unknown name, a missing file, bad TOML, or a missing, unknown, mistyped or
        out-of-range field; the message names the file and the field's dotted key.
    """
    path = _target_file(name_or_path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not TOML's
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}: "
                         f"{error.object[error.start:error.start + 1]!r}); a target file is "
                         "UTF-8 TOML") from None
    try:
        return _parse(tomllib.loads(text), _comment_sources(text))
    except ValueError as error:  # tomllib.TOMLDecodeError is a ValueError
        raise ValueError(f"{path}: {error}") from None
