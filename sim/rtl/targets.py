"""The components the RTL tests build, each with its cocotb module and cycle model."""

from amaranth.lib import wiring

from sparsa.config.sat import SoreConfig
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["SORE"]


def make_sore(config: SoreConfig) -> wiring.Component:
    """SAT's SORE of ``config``."""
    from sparsa.hw.sat.sore import Sore

    return Sore(config)


SORE = RtlTarget(
    toplevel="sore",
    factory=make_sore,
    test_module="sparsa.sim.rtl.sore.tb",
    cycle_model="sparsa.sim.blocks.sore:last_beat_cycles",
)
