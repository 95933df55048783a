"""The components the RTL tests build, each with its cocotb module and cycle model."""

from amaranth.lib import wiring

from hw.sat_config import SatArrayConfig, SoreConfig
from hw.topk_config import TopKConfig

from .runner import RtlTarget

__all__ = ["SAT_ARRAY", "SORE", "TOPK"]


def make_topk(config: TopKConfig) -> wiring.Component:
    """The top-k engine of ``config``."""
    from hw.topk import TopKEngine

    return TopKEngine(config)


def make_sat_array(config: SatArrayConfig) -> wiring.Component:
    """SAT's PE array of ``config``."""
    from hw.sat_array import SatArray

    return SatArray(config)


def make_sore(config: SoreConfig) -> wiring.Component:
    """SAT's SORE of ``config``."""
    from hw.sore import Sore

    return Sore(config)


TOPK = RtlTarget(
    toplevel="topk",
    factory=make_topk,
    test_module=f"{__package__}.tb_topk",
    cycle_model="sim.topk:TopKCycleModel",
)
SAT_ARRAY = RtlTarget(
    toplevel="sat_array",
    factory=make_sat_array,
    test_module=f"{__package__}.tb_sat_array",
    cycle_model="sim.sat_array:tile_cycles",
)
SORE = RtlTarget(
    toplevel="sore",
    factory=make_sore,
    test_module=f"{__package__}.tb_sore",
    cycle_model="sim.sore:last_beat_cycles",
)
