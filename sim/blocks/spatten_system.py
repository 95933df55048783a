"""Cycle model of the SpAtten system (:class:`sparsa.hw.spatten_system.accelerator.
SpattenAccelerator`): a run's cycles from its layers' work.

A layer is a chain of phases (:func:`layer_timing`):

1. *Descriptor*: its read on the Q port, L (the memory's latency) and its words, then the
   check: :data:`DESCRIPTOR_CYCLES` + L + the descriptor's words.
2. *Heads*: the attention core's commands, one per alive head, through
   :func:`sparsa.sim.blocks.attention_core.pipeline_timing` with the system's ports as its
   :class:`~sparsa.sim.blocks.attention_core.Operands` (:class:`_Ports`):

   * every row is one read of its words; a port keeps at most ``axi.max_reads`` reads in
     flight, each answered L + :data:`ROUND_TRIP` cycles after it went, one word per cycle, so
     a port moves a row per max(its words, (L + ROUND_TRIP) / max_reads) cycles;
   * the K MSB port streams the rows of every command in order, the first L after the stream
     starts (:data:`K_FIRST_CYCLES` after the layer's first command); it runs one beat of E
     rows ahead of the front (the row reader's beat, behind which the R channel waits), so a
     front that starts its keys late takes those rows at once and the rest as they come; the
     front's keys phase ends no earlier than its last row;
   * the K LSB port starts a refetch's rows when the front asks (:data:`LSB_CYCLES` later),
     the V port a command's rows when the values unit takes its answer's first beat
     (:data:`V_CYCLES` later);
   * an ``out`` beat waits for the previous command's output record to be written
     (:data:`RECORD_CYCLES`).

   The first command reaches the core :data:`ISSUE_CYCLES` after the check.
3. *Drain*: the last output record's write answered, :data:`DRAIN_CYCLES` after the last
   ``out`` beat (the memory answers writes at once; reads carry the latency).
4. *Pruning*: for the token and then the head top-k, the command and the engine's load, its
   quick-select rounds (:class:`sparsa.sim.blocks.topk.TopKCycleModel`, the engine's own
   pivot LFSR) and its answer, one kept element per cycle: :data:`TOPK_CYCLES` + load +
   select + kept.
5. *Lists*: one entry per cycle into words, then the writes answered: :data:`LIST_CYCLES` +
   token_keep + head_keep.

A run adds :data:`FINISH_CYCLES` (the start and the interrupt). The constants were measured on
the RTL (``tests/sim/rtl/test_spatten_system_rtl.py`` asserts the model's error bound on
seeded runs; ``sparsa run spatten`` prints both).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil

from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.models.golden.spatten_system import LayerRun, LayerSettings
from sparsa.sim.blocks.attention_core import AttentionCoreCycleModel, Command, pipeline_timing
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles

__all__ = [
    "DESCRIPTOR_CYCLES",
    "DRAIN_CYCLES",
    "FINISH_CYCLES",
    "ISSUE_CYCLES",
    "K_FIRST_CYCLES",
    "LIST_CYCLES",
    "LSB_CYCLES",
    "RECORD_CYCLES",
    "ROUND_TRIP",
    "TOPK_CYCLES",
    "V_CYCLES",
    "LayerTiming",
    "LayerWork",
    "SpattenSystemCycleModel",
    "layer_timing",
    "run_cycles",
]

DESCRIPTOR_CYCLES = 4
ISSUE_CYCLES = 3
K_FIRST_CYCLES = 6
ROUND_TRIP = 1
LSB_CYCLES = 6
V_CYCLES = 8
RECORD_CYCLES = 6
DRAIN_CYCLES = 9
TOPK_CYCLES = 4
LIST_CYCLES = 9
FINISH_CYCLES = 4


@dataclass(frozen=True)
class LayerWork:
    """What one layer asks of the system.

    Attributes
    ----------
    n, alive : int
        Alive tokens and heads.
    token_keep, head_keep : int
    commands : tuple of Command
        The core's commands (:class:`~sparsa.sim.blocks.attention_core.Command`).
    tokens, heads : TopKCycles
        The pruning engine's two requests.
    """

    n: int
    alive: int
    token_keep: int
    head_keep: int
    commands: tuple[Command, ...]
    tokens: TopKCycles
    heads: TopKCycles


@dataclass(frozen=True)
class LayerTiming:
    """Cycles of one layer by phase (they add up to ``total``)."""

    descriptor: int
    heads: int
    drain: int
    pruning: int
    lists: int

    @property
    def total(self) -> int:
        """The layer's cycles."""
        return self.descriptor + self.heads + self.drain + self.pruning + self.lists


class SpattenSystemCycleModel:
    """Stateful model of one system, fed the same layers as the RTL in order: the core's
    local-V engines and the pruning engine keep their pivot LFSRs from run to run.

    Parameters
    ----------
    config : SpattenSystemConfig
    """

    def __init__(self, config: SpattenSystemConfig) -> None:
        self.config = config
        self._core = AttentionCoreCycleModel(config.core)
        self._pruner = TopKCycleModel(config.pruning_topk)

    def layer(self, run: LayerRun, settings: LayerSettings) -> LayerWork:
        """The work of one layer of a golden run."""
        commands = tuple(self._core.command(a.probs, settings.v_keep, a.requant)
                         for a in run.answers)
        tokens = self._pruner.request(list(run.token_importance), settings.token_keep)
        heads = self._pruner.request([a.head_importance for a in run.answers],
                                     settings.head_keep)
        return LayerWork(n=len(run.tokens), alive=len(run.heads),
                         token_keep=settings.token_keep, head_keep=settings.head_keep,
                         commands=commands, tokens=tokens, heads=heads)


class _Ports:
    """The system's read ports and record writer as the core's operands (module docstring)."""

    def __init__(self, config: SpattenSystemConfig, work: LayerWork, latency: int) -> None:
        self.n, self.latency = work.n, latency
        axi = config.axi
        # Cycles per row: its words, or the round trip shared by the reads in flight.
        self.words = {p: config.row_words(p) for p in ("k_msb", "k_lsb", "v")}
        self.period = {p: max(w, (latency + ROUND_TRIP) / axi.max_reads)
                       for p, w in self.words.items()}
        self.in_flight = axi.max_reads
        self.ahead = config.core.lanes  # the row reader's beat: the R channel waits behind it
        self.v_keep = [c.v_keep for c in work.commands]
        self.k_end = K_FIRST_CYCLES - ISSUE_CYCLES  # where the K stream can start
        self.out = -RECORD_CYCLES

    def _rows(self, plane: str, rows: int) -> int:
        """Cycles of ``rows`` rows of a stream that runs on (its requests ahead)."""
        return ceil(rows * self.period[plane])

    def _batches(self, plane: str, rows: int) -> int:
        """Cycles from the first to the last of ``rows`` rows' arrivals when their reads go
        out as slots free: at most ``max_reads`` in flight, each back
        L + :data:`ROUND_TRIP` after it went, one row's words per cycle."""
        batches, rest = divmod(rows - 1, self.in_flight)
        words = self.words[plane]
        return batches * max(self.latency + ROUND_TRIP, self.in_flight * words) + rest * words

    def _burst(self, plane: str, rows: int) -> int:
        """Cycles from the first request of ``rows`` rows to the last one's arrival."""
        return self.latency + self._batches(plane, rows)

    def keys(self, i: int, start: int) -> int:
        rows = self.n
        if i == 0:  # the stream starts
            flowing = self.k_end + self._burst("k_msb", rows)
        else:  # it runs on from the previous command's rows
            flowing = self.k_end + self._rows("k_msb", rows)
        # Or it waited for the front, its beat full and its reads in flight answered.
        waiting = rows - self.ahead
        resumed = start + 1 + (self.words["k_msb"] + self._batches("k_msb", waiting)
                               if waiting > 0 else 0)
        self.k_end = max(flowing, resumed)
        return self.k_end

    def lsb(self, i: int, start: int) -> int:
        return start + LSB_CYCLES + self._burst("k_lsb", self.n)

    def values(self, i: int, start: int) -> int:
        return start + V_CYCLES + self._burst("v", self.v_keep[i])

    def answer(self, i: int, ready: int) -> int:
        self.out = max(ready, self.out + RECORD_CYCLES)
        return self.out


def _topk(request: TopKCycles, kept: int) -> int:
    return TOPK_CYCLES + request.load + request.select + kept


def layer_timing(config: SpattenSystemConfig, work: LayerWork, latency: int) -> LayerTiming:
    """Cycles of one layer's phases (module docstring) at memory latency ``latency``."""
    ports = _Ports(config, work, latency)
    timings = pipeline_timing(config.core, work.commands, operands=ports)
    return LayerTiming(
        descriptor=DESCRIPTOR_CYCLES + latency + config.descriptor_words,
        heads=ISSUE_CYCLES + timings[-1].out,
        drain=DRAIN_CYCLES,
        pruning=_topk(work.tokens, work.token_keep) + _topk(work.heads, work.head_keep),
        lists=LIST_CYCLES + work.token_keep + work.head_keep,
    )


def run_cycles(config: SpattenSystemConfig, layers: Sequence[LayerWork], latency: int) -> int:
    """Cycles of a run of ``layers``, from the start to the interrupt."""
    return FINISH_CYCLES + sum(layer_timing(config, w, latency).total for w in layers)
