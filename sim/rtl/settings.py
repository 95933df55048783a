"""What the pytest side tells a cocotb module, carried in environment variables."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparsa.sim.rtl.configs import config_from_json, config_to_json

__all__ = ["TbSettings"]

_PREFIX = "SPARSA_TB_"


@dataclass(frozen=True)
class TbSettings:
    """Settings of one simulator launch of a cocotb module.

    Attributes
    ----------
    label : str
        Name of the configuration (for reports).
    config : dataclass
        The component's configuration (any of :mod:`configs`).
    seed : int
        Seed of the plan and of the stall and junk generators.
    count : int
        Size of the random plan, in the cocotb module's unit (requests, GEMMs, ...).
    summary : Path
        Where the cocotb module writes its JSON summary.
    cycle_model : str
        ``"module:attribute"`` of the cycle model.
    replay : JSON-able, optional
        Run exactly this, without stalls, instead of a random plan (the cocotb module decodes
        it).
    """

    label: str
    config: Any
    seed: int
    count: int
    summary: Path
    cycle_model: str
    replay: Any = None

    def to_env(self) -> dict[str, str]:
        """Environment variables carrying these settings."""
        env = {
            "LABEL": self.label,
            "CONFIG": config_to_json(self.config),
            "SEED": str(self.seed),
            "COUNT": str(self.count),
            "SUMMARY": str(self.summary),
            "CYCLE_MODEL": self.cycle_model,
        }
        if self.replay is not None:
            env["REPLAY"] = json.dumps(self.replay)
        return {_PREFIX + key: value for key, value in env.items()}

    @classmethod
    def from_env(cls) -> "TbSettings":
        """Read the settings written by :meth:`to_env` from ``os.environ``."""
        env = {k.removeprefix(_PREFIX): v for k, v in os.environ.items() if k.startswith(_PREFIX)}
        return cls(
            label=env["LABEL"],
            config=config_from_json(env["CONFIG"]),
            seed=int(env["SEED"]),
            count=int(env["COUNT"]),
            summary=Path(env["SUMMARY"]),
            cycle_model=env["CYCLE_MODEL"],
            replay=json.loads(env["REPLAY"]) if "REPLAY" in env else None,
        )
