"""The attention core's RTL test configurations and its :class:`runner.RtlTarget`.

Four configurations (:data:`ATTENTION_CONFIGS`), each running the MSB settings 4, 6 and 8 at
run time: D = 32 and 64 with 64 and 128 multipliers (E = 1, 2 and 4 rows per beat), small
buffers (64 to 128 keys, one count not a multiple of E) to keep the Verilator builds short,
both pivot modes, with and without the probabilities on ``keys``, a head count that is not a
power of two (so a head field can be rejected), and narrow importance accumulators so that
they saturate within a run.
"""

from amaranth.lib import wiring

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["ATTENTION_CORE"]

def make_attention_core(config: AttentionCoreConfig) -> wiring.Component:
    """The attention core of ``config``."""
    from sparsa.hw.attention.attention_core import AttentionCore

    return AttentionCore(config)


ATTENTION_CORE = RtlTarget(
    toplevel="attention_core",
    factory=make_attention_core,
    test_module="sparsa.sim.rtl.attention_core.tb",
    cycle_model="sparsa.sim.blocks.attention_core:AttentionCoreCycleModel",
)
