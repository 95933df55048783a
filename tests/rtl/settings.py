"""What the pytest side tells the cocotb module, carried in environment variables."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hw.topk_config import TopKConfig

from .configs import config_from_json, config_to_json
from .stimulus import Request

__all__ = ["DEFAULT_CYCLE_MODEL", "TbSettings"]

DEFAULT_CYCLE_MODEL = "sim.topk:TopKCycleModel"
_PREFIX = "SPARSA_TOPK_"


@dataclass(frozen=True)
class TbSettings:
    """Settings of one simulator launch of :mod:`tb_topk`.

    Attributes
    ----------
    label : str
        Name of the configuration (for reports).
    config : TopKConfig
        The engine's configuration.
    seed : int
        Seed of the request plan and of the stall and junk generators.
    requests : int
        Requests in the random plan.
    summary : Path
        Where the cocotb module writes its JSON summary.
    cycle_model : str
        ``"module:attribute"`` of the cycle model class.
    replay : tuple of Request, optional
        Run exactly these requests, without stalls, instead of a random plan.
    """

    label: str
    config: TopKConfig
    seed: int
    requests: int
    summary: Path
    cycle_model: str = DEFAULT_CYCLE_MODEL
    replay: tuple[Request, ...] | None = None

    def to_env(self) -> dict[str, str]:
        """Environment variables carrying these settings."""
        env = {
            "LABEL": self.label,
            "CONFIG": config_to_json(self.config),
            "SEED": str(self.seed),
            "REQUESTS": str(self.requests),
            "SUMMARY": str(self.summary),
            "CYCLE_MODEL": self.cycle_model,
        }
        if self.replay is not None:
            env["REPLAY"] = json.dumps([[r.n, r.k, list(r.values)] for r in self.replay])
        return {_PREFIX + key: value for key, value in env.items()}

    @classmethod
    def from_env(cls) -> "TbSettings":
        """Read the settings written by :meth:`to_env` from ``os.environ``."""
        env = {k.removeprefix(_PREFIX): v for k, v in os.environ.items() if k.startswith(_PREFIX)}
        config = config_from_json(env["CONFIG"])
        replay = None
        if "REPLAY" in env:
            replay = tuple(
                Request(
                    n=n, k=k, values=tuple(v), pattern="replay", junk=(0,) * (-n % config.lanes)
                )
                for n, k, v in json.loads(env["REPLAY"])
            )
        return cls(
            label=env["LABEL"],
            config=config,
            seed=int(env["SEED"]),
            requests=int(env["REQUESTS"]),
            summary=Path(env["SUMMARY"]),
            cycle_model=env["CYCLE_MODEL"],
            replay=replay,
        )
