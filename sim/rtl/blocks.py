"""Every block the RTL harness verifies, by its one name (the ``sparsa verify`` word)."""

from sparsa.sim.rtl.attention_core.block import AttentionCoreBlock
from sparsa.sim.rtl.harness import Block
from sparsa.sim.rtl.sat_array.block import SatArrayBlock
from sparsa.sim.rtl.sore.block import SoreBlock
from sparsa.sim.rtl.topk.block import TopKBlock
from sparsa.sim.rtl.weight_update.block import WeightUpdateBlock

__all__ = ["BLOCKS"]

BLOCKS: dict[str, Block] = {
    block.name: block
    for block in (TopKBlock(), SatArrayBlock(), SoreBlock(), AttentionCoreBlock(),
                  WeightUpdateBlock())
}
