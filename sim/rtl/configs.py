"""Configurations the RTL tests run, and the JSON form that carries any of them to the simulator.

Top-k engine (:data:`TOPK_CONFIGS`): small (capacity 64 to 256) to keep the Verilator builds
and the simulations short, yet together they cover both lane counts, both widths, signed and
unsigned values, every comparator count from 1 to 32, both pivot modes, and capacities that are
not a multiple of P or C.

SAT PE array (:data:`SAT_ARRAY_CONFIGS`): square and non-square arrays with more rows than
columns and the reverse, INT8 and INT16, every supported M (2, 4, 8, 16) and N from 1 to 4,
``max_reduction`` small enough that the extreme-value GEMMs reach the top of the accumulators
(one of them not a power of two), and the array with interleave mapping (two of them) and
without (one).

SORE (:data:`SORE_CONFIGS`): every M (2, 4, 8, 16), INT8 and INT16, SAT's own 32 lanes, a lane
count that is not a power of two, and few lanes beside M.
"""

import dataclasses
import hashlib
import importlib
import json
import typing
import zlib
from enum import Enum
from typing import Any

from sparsa.config.sat import IntFormat, NMPattern, SatArrayConfig, SoreConfig
from sparsa.config.topk import PivotMode, TopKConfig

__all__ = [
    "SAT_ARRAY_CONFIGS",
    "SORE_CONFIGS",
    "TOPK_CONFIGS",
    "config_from_json",
    "config_hash",
    "config_to_json",
    "default_seed",
]

TOPK_CONFIGS: dict[str, TopKConfig] = {
    "p8w8u-c1-middle-n64": TopKConfig(
        lanes=8, width=8, signed=False, comparators=1, capacity=64, pivot=PivotMode.MIDDLE
    ),
    "p8w16s-c2-lfsr-n128": TopKConfig(
        lanes=8, width=16, signed=True, comparators=2, capacity=128, pivot=PivotMode.LFSR
    ),
    "p16w8s-c4-middle-n256": TopKConfig(
        lanes=16, width=8, signed=True, comparators=4, capacity=256, pivot=PivotMode.MIDDLE
    ),
    "p16w16u-c16-lfsr-n256": TopKConfig(
        lanes=16,
        width=16,
        signed=False,
        comparators=16,
        capacity=256,
        pivot=PivotMode.LFSR,
        seed=0x0001,
    ),
    "p8w16s-c8-lfsr-n100": TopKConfig(
        lanes=8,
        width=16,
        signed=True,
        comparators=8,
        capacity=100,
        pivot=PivotMode.LFSR,
        seed=0xBEEF,
    ),
    "p16w8u-c32-middle-n200": TopKConfig(
        lanes=16, width=8, signed=False, comparators=32, capacity=200, pivot=PivotMode.MIDDLE
    ),
}


def _patterns(text: str) -> tuple[NMPattern, ...]:
    return tuple(NMPattern.parse(p) for p in text.split())


SAT_ARRAY_CONFIGS: dict[str, SatArrayConfig] = {
    "r8c8-int8": SatArrayConfig(
        rows=8,
        cols=8,
        patterns=_patterns("2:4 2:8 1:4 1:8 4:8"),
        dtype=IntFormat.INT8,
        max_reduction=64,
    ),
    "r4c6-int16": SatArrayConfig(
        rows=4,
        cols=6,
        patterns=_patterns("1:2 3:8 4:16"),
        dtype=IntFormat.INT16,
        max_reduction=128,
        interleave=False,
    ),
    "r5c3-int8": SatArrayConfig(
        rows=5, cols=3, patterns=_patterns("2:4 1:16"), dtype=IntFormat.INT8, max_reduction=48
    ),
}

SORE_CONFIGS: dict[str, SoreConfig] = {
    "l32m8-int8": SoreConfig(lanes=32, m=8, dtype=IntFormat.INT8),
    "l16m16-int16": SoreConfig(lanes=16, m=16, dtype=IntFormat.INT16),
    "l12m4-int16": SoreConfig(lanes=12, m=4, dtype=IntFormat.INT16),
    "l6m2-int8": SoreConfig(lanes=6, m=2, dtype=IntFormat.INT8),
}


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(kind: Any, value: Any) -> Any:
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_decode(item, v) for v in value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{
            f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind)
        })
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    return value


def config_to_json(config: Any) -> str:
    """Serialise a configuration dataclass to canonical JSON: its class and its fields.

    Enums are written as their values and nested dataclasses (such as N:M patterns) as objects,
    so any frozen block configuration of ``hw`` round-trips through :func:`config_from_json`.
    """
    kind = type(config)
    name = f"{kind.__module__}:{kind.__qualname__}"
    return json.dumps({"class": name, "fields": _encode(config)}, sort_keys=True)


def config_from_json(text: str) -> Any:
    """Inverse of :func:`config_to_json` (the fields are decoded by their type hints)."""
    data = json.loads(text)
    module, _, name = data["class"].partition(":")
    return _decode(getattr(importlib.import_module(module), name), data["fields"])


def config_hash(config: Any) -> str:
    """Short stable digest of the fields of ``config``, used to name its build folder."""
    return hashlib.sha256(json.dumps(_encode(config), sort_keys=True).encode()).hexdigest()[:12]


def default_seed(name: str) -> int:
    """Fixed seed of the configuration called ``name`` (so CI runs are reproducible)."""
    return zlib.crc32(name.encode())
