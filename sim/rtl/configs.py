"""The JSON form that carries any block configuration to a simulator launch, and its hash
(which names the launch's build folder); the configurations themselves are in
:mod:`sparsa.config.presets`.
"""

import dataclasses
import hashlib
import importlib
import json
import typing
import zlib
from enum import Enum
from typing import Any

__all__ = [
    "config_from_json",
    "config_hash",
    "config_to_json",
    "default_seed",
]

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
