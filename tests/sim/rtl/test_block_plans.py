"""Every block's plan is seeded, and drops its stalls (and nothing else) on request."""

import pytest

from sparsa.config.sat import SoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.sim.rtl.blocks import BLOCKS

# Small configurations of the blocks whose cases compare by value, and cases enough for
# random (stalled) batches after the directed ones.
CONFIGS = {
    "topk": (TopKConfig(lanes=2, comparators=1, capacity=16, width=8), 400),
    "sore": (SoreConfig(lanes=4, m=2), 60),
    "weight-update": (WeightUpdateConfig(lanes=2, init_scale_log2=1, max_scale_log2=2,
                                         growth_interval=2), 80),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_plan_is_seeded_and_without_stalls_on_request(name: str) -> None:
    block, (config, count) = BLOCKS[name], CONFIGS[name]
    stalled = block.plan(config, 3, count, stalls=True)
    again, other = (block.plan(config, seed, count, stalls=True) for seed in (3, 4))
    assert stalled == again != other
    calm = block.plan(config, 3, count, stalls=False)
    assert [b.cases for b in calm] == [b.cases for b in stalled]
    assert all(b.stalls.none for b in calm) and not all(b.stalls.none for b in stalled)
    assert [b.seed for b in stalled] == [3 + i for i in range(len(stalled))]
