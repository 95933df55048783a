"""Top-k engine configurations the RTL tests run, and their JSON form for the simulator.

The configurations are small (capacity 64 to 256) to keep the Verilator builds and the
simulations short, yet together cover both lane counts, both widths, signed and unsigned
values, every comparator count from 1 to 32, both pivot modes, and capacities that are not a
multiple of P or C.
"""

import hashlib
import json
from dataclasses import asdict

from hw.topk_config import PivotMode, TopKConfig

__all__ = ["RTL_CONFIGS", "config_from_json", "config_hash", "config_to_json"]

RTL_CONFIGS: dict[str, TopKConfig] = {
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


def config_to_json(config: TopKConfig) -> str:
    """Serialise ``config`` to canonical JSON (sorted keys, pivot by its value)."""
    fields = asdict(config)
    fields["pivot"] = config.pivot.value
    return json.dumps(fields, sort_keys=True)


def config_from_json(text: str) -> TopKConfig:
    """Inverse of :func:`config_to_json`."""
    fields = json.loads(text)
    fields["pivot"] = PivotMode(fields["pivot"])
    return TopKConfig(**fields)


def config_hash(config: TopKConfig) -> str:
    """Short stable digest of ``config``, used to name its build folder."""
    return hashlib.sha256(config_to_json(config).encode()).hexdigest()[:12]
