"""The components the RTL tests build, each with its cocotb module and cycle model."""

from amaranth.lib import wiring

from sparsa.config.sat import SatArrayConfig, SoreConfig
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["SAT_ARRAY", "SORE"]


def make_sat_array(config: SatArrayConfig) -> wiring.Component:
    """SAT's PE array of ``config``."""
    from sparsa.hw.sat.sat_array import SatArray

    return SatArray(config)


def make_sore(config: SoreConfig) -> wiring.Component:
    """SAT's SORE of ``config``."""
    from sparsa.hw.sat.sore import Sore

    return Sore(config)


SAT_ARRAY = RtlTarget(
    toplevel="sat_array",
    factory=make_sat_array,
    test_module="sparsa.sim.rtl.sat_array.tb",
    cycle_model="sparsa.sim.blocks.sat_array:tile_cycles",
)
SORE = RtlTarget(
    toplevel="sore",
    factory=make_sore,
    test_module="sparsa.sim.rtl.sore.tb",
    cycle_model="sparsa.sim.blocks.sore:last_beat_cycles",
)
