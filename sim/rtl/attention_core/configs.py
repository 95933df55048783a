"""The attention core's RTL test configurations and its :class:`runner.RtlTarget`.

Four configurations (:data:`ATTENTION_CONFIGS`), each running the MSB settings 4, 6 and 8 at
run time: D = 32 and 64 with 64 and 128 multipliers (E = 1, 2 and 4 rows per beat), small
buffers (64 to 128 keys, one count not a multiple of E) to keep the Verilator builds short,
both pivot modes, with and without the probabilities on ``keys``, a head count that is not a
power of two (so a head field can be rejected), and narrow importance accumulators so that
they saturate within a run.
"""

from amaranth.lib import wiring

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.topk import PivotMode
from sparsa.sim.rtl.runner import RtlTarget

__all__ = ["ATTENTION_CONFIGS", "ATTENTION_CORE"]

ATTENTION_CONFIGS: dict[str, AttentionCoreConfig] = {
    "d32-m64-n64": AttentionCoreConfig(
        attention=AttentionConfig(
            dim=32,
            msb_bits=8,
            max_tokens=64,
            token_importance_bits=15,
            head_importance_bits=18,
        ),
        multipliers=64,
        comparators=4,
        heads=4,
    ),
    "d32-m128-n90": AttentionCoreConfig(
        attention=AttentionConfig(
            dim=32,
            msb_bits=8,
            max_tokens=90,
            prob_bits=10,
            token_importance_bits=13,
            head_importance_bits=16,
        ),
        multipliers=128,
        comparators=16,
        pivot=PivotMode.MIDDLE,
        heads=5,
        emit_probs=False,
    ),
    "d64-m64-n64": AttentionCoreConfig(
        attention=AttentionConfig(
            dim=64,
            msb_bits=8,
            max_tokens=64,
            token_importance_bits=16,
            head_importance_bits=20,
        ),
        multipliers=64,
        comparators=2,
        heads=16,
        seed=0xBEEF,
    ),
    "d64-m128-n128": AttentionCoreConfig(
        attention=AttentionConfig(
            dim=64,
            msb_bits=8,
            max_tokens=128,
            score_bits=14,
            score_frac_bits=7,
            token_importance_bits=14,
            head_importance_bits=24,
        ),
        multipliers=128,
        comparators=8,
        heads=3,
    ),
}


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
