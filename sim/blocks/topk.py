"""Cycle model of the quick-select top-k engine (:class:`sparsa.hw.topk.topk.TopKEngine`).

The model replays the engine's pivot sequence on the request's values (the same stable partition
order and the same LFSR) and adds up the cycles of each phase, so it predicts the RTL's cycles
exactly; ``tests/sim/rtl`` checks that on RTL-measured requests.

Cycle accounting (ready output and input valid whenever the engine wants it), with Bin =
ceil(n / P) input beats:

* load: Bin cycles, one input beat per cycle;
* select: every quick-select round over m candidates costs ceil(m / C) + 4 cycles (pivot read,
  pivot latch, C candidates per cycle through the comparator arrays, two pipeline stages, and the
  flush-and-decide cycle);
* output: b + s + 4 cycles, where b is the input beat that holds the k-th kept element and s is 1
  when that beat's kept elements overflow the output packer into a second beat (the packer held
  f elements and the beat adds c with f + c > P), else 0. A request with k = 0 or an error has
  a 2-cycle output (response register and its transfer).

``total`` counts clock edges from the one at which the ``cmd`` beat transfers to the one at which
the final ``dout`` beat transfers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil

import torch

from sparsa.config.lfsr import lfsr_next, lfsr_pick
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.models.golden.topk import check_values, quickselect, topk

__all__ = ["ROUND_OVERHEAD", "TopKCycleModel", "TopKCycles"]

ROUND_OVERHEAD = 4  # cycles of a quick-select round besides its ceil(m / C) streaming cycles
OUTPUT_LATENCY = 4  # read, compare/compact, pack, transfer of the final pass
RESPONSE_LATENCY = 2  # load and transfer of a single-beat (empty or error) response


@dataclass(frozen=True)
class TopKCycles:
    """Cycles of one request, by phase.

    Attributes
    ----------
    load : int
        Input beats accepted (one per cycle).
    select : int
        Quick-select rounds, all included.
    output : int
        Final pass and output, up to the transfer of the last beat.
    rounds : int
        Number of quick-select rounds.
    elements : int
        Candidates streamed through the comparator arrays over all rounds.
    """

    load: int
    select: int
    output: int
    rounds: int
    elements: int

    @property
    def total(self) -> int:
        """Cycles from the ``cmd`` transfer to the final ``dout`` transfer."""
        return self.load + self.select + self.output


class TopKCycleModel:
    """Stateful cycle model of one engine instance, fed the same requests as the RTL in order.

    The state is the pivot LFSR, which starts at ``config.seed`` (the RTL's reset state) and
    steps once per quick-select round.

    Parameters
    ----------
    config : TopKConfig
    """

    def __init__(self, config: TopKConfig) -> None:
        if not isinstance(config, TopKConfig):
            raise TypeError(f"config must be a TopKConfig, not {type(config).__name__}")
        self._config = config
        self._lfsr = config.seed

    @property
    def config(self) -> TopKConfig:
        return self._config

    @property
    def lfsr_state(self) -> int:
        """LFSR state the next quick-select round will use."""
        return self._lfsr

    def _pivot(self, m: int) -> int:
        if self._config.pivot is PivotMode.MIDDLE:
            return m // 2
        pos = lfsr_pick(self._lfsr, m)
        self._lfsr = lfsr_next(self._lfsr)
        return pos

    def request(self, values: Sequence[int] | torch.Tensor, k: int) -> TopKCycles:
        """Predict the cycles of one request of ``n = len(values)`` values and its k.

        Contract violations (n = 0, n > capacity, k > n) are predicted as the RTL handles them:
        the announced beats are consumed, then a single error beat is sent.
        """
        cfg = self._config
        t = check_values(values, width=cfg.width, signed=cfg.signed)
        n = t.numel()
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative integer, not {k!r}")
        load = ceil(n / cfg.lanes)
        if n == 0 or n > cfg.capacity or k > n or k == 0:
            return TopKCycles(load, 0, RESPONSE_LATENCY, 0, 0)
        sizes = quickselect(t, k, self._pivot).round_sizes
        select = sum(ceil(m / cfg.comparators) + ROUND_OVERHEAD for m in sizes)
        kept = topk(t, k, width=cfg.width, signed=cfg.signed)[0]
        last_beat = int(kept[-1]) // cfg.lanes
        before = int((kept < last_beat * cfg.lanes).sum())
        split = int(before % cfg.lanes + (k - before) > cfg.lanes)
        output = last_beat + split + OUTPUT_LATENCY
        return TopKCycles(load, select, output, len(sizes), sum(sizes))
