"""SpAtten at workload scale: DRAM traffic and time of a trace
(:mod:`sparsa.models.algorithms.spatten_trace`).

Every row of a trace is one head of one layer at one iteration, run in one of two modes
(:data:`sparsa.dataflow.spatten_workloads.MODES`, spatten.md 1.5):

* **generation** (GPT-2, the default): the row is one query, processed as SpAtten does in
  generation: fetch the query and the surviving keys, Q x K, softmax, possibly refetch the K
  LSBs and recompute, local-V top-k, fetch the surviving values, prob x V, write the output;
* **summarization** (BERT): the row is one head whose N_q = N_k queries (the tokens alive at that
  layer: cascade token pruning removes a token's query with its key) all reuse the head's
  surviving K and V, loaded once into the K and V SRAMs; each query runs the same steps as in
  generation on chip. Static quantization only: a row with requant on is an error (BERT uses no
  LSB refetch, spatten.md 1.4). The format records one value count per head, the V rows its
  queries use (what is loaded), and each query is modelled as keeping that many (exact without
  local V pruning; with it, an upper bound on each query's own count).

Below, N_q = 1 in generation.

**Bytes per row** (spatten.md 1.5), by tensor class of
:data:`sparsa.sim.network.dram.TENSOR_CLASSES`, with N_k = ``key_fetch_num``,
N_v = ``value_fetch_num``, D the head dimension:

* ``k_msb``: N_k rows of D elements at ``quant_key_bit`` bits (read);
* ``k_lsb``: on a requant row (``if_requant``) N_k rows of D elements at ``auto_requant_incre``
  (4) bits, the separate LSB plane (spatten.md 1.4, 2.5: only the K LSBs are refetched);
* ``v_msb``: N_v rows of D elements at ``quant_value_bit`` bits (read);
* ``q``: N_q D-vectors at ``quant_query_bit`` bits (read);
* ``outputs``: N_q D-vectors at :data:`OUTPUT_BITS` (12, the datapath's ``attention_out`` width,
  spatten.md 1.5, 2.1) (write).

A width of -1 (unquantized: the dense traces) counts :data:`UNQUANTIZED_BITS` (32, FP32), and
such a row's output is FP32 too, so a dense trace costs exactly the dense FP32 baseline.

**Transfers and bursts.** A transfer is one fetch address of the released RTL's fetcher
(spatten.md 2.4): ``fused`` rows of D elements of one plane, where ``fused`` is the smallest
number of rows that fills whole bursts, at most :data:`RTL_MAX_FUSED_ROWS` (2). At D = 64 and
32-byte bursts this is the RTL's fetch profiles: 4 and 8 bits one row (32 and 64 B), 6 bits two
rows (96 B). N rows take floor(N / fused) such transfers and one more for the N mod fused rows
left over (a lone 6-bit row: 48 B asked, 64 B moved); Q and the output are one transfer of one
vector each. :class:`sparsa.sim.network.dram.DramTraffic` rounds every transfer up to whole
bursts.

**Attribution of the DRAM reduction** (:func:`simulate`'s ``chain``). Five byte counts, each
adding one technique to the previous one, all with the rules above:

0. dense FP32: every head of every layer at every iteration of the trace fetches all L keys and
   values, K, V, Q and outputs at 32 bits, no LSB refetch (in summarization, L queries);
1. + head pruning: only the (iteration, layer, head) rows of the trace;
2. + token pruning: N_k = N_v = ``key_fetch_num`` (and N_q in summarization);
3. + local V pruning: N_v = ``value_fetch_num``;
4. + progressive quantization: the trace's widths, the 12-bit output and the LSB refetches.

Head pruning comes first because a pruned head has no fetch count in the trace. Each factor is
bytes(i - 1) / bytes(i), so the four factors multiply to bytes(0) / bytes(4), the total
reduction, exactly (:attr:`SpattenResult.chain`).

In generation each row is one query, as the released RTL's testbench replays the traces
(spatten.md 4.1), the prompt's iteration 0 included.

**Fit** (summarization): a head's K (and its V) of N_k (N_v) rows of D elements at the on-chip
width (:data:`OUTPUT_BITS`) must fit one half of the target's double-buffered ``key`` (``value``)
SRAM (``sram_bytes``; 2 x 1,024 x 64 x 12 bits on spatten-asic, spatten.md 2.6).

**Time** (:func:`simulate`). The DRAM and the attention core work on different rows at once,
in (iteration, layer, head) order, as SpAtten pipelines heads (spatten.md 2.1): the DRAM moves
the row's bytes at the target's sustained bandwidth
(:func:`sparsa.sim.network.dram.transfer_cycles`); by default (:class:`RtlCoreCycles`) the
project's RTL-validated pipelined core runs the rows' queries back to back, its front,
normalize unit, local-V top-k engines and values unit each on a different query, and a row's
compute is the time it adds to the core's run (:attr:`CorePipeline.cycles`); the units' busy
cycles show where the time goes (:attr:`SpattenResult.core_units`). With another core function
(such as :func:`paper_datapath_cycles`) a row's compute is max(core, top-k) cycles per query, the
local-V top-k (``topk_cycles``) counted beside the core. A row's DRAM transfer is double-buffered
against the previous row's compute (the K and V SRAMs are double-buffered, spatten.md 2.6), so
the total is :func:`sparsa.sim.network.dram.overlap` of the two. In summarization a row's
compute is its N_q queries', and its transfer (K and V of the head, its queries and outputs)
overlaps the previous head's compute: the next head's K and V fill the other half of the SRAMs.
Not modelled: the token top-k after each layer (SpAtten's second engine, which the pipelined
core uses for local V pruning too) and the FC layers (SpAtten measures attention only,
spatten.md 3).

**Energy** (:attr:`SpattenResult.energy_j`, :func:`sparsa.sim.network.energy.energy_breakdown` with
the target's table): ``mac_int12`` per multiply of Q x K and prob x V, N_q D (N_k (1 + requant)
+ N_v) per row (the recompute included; the datapath is 12 bits wide, spatten.md 2.1);
``dram_read_bit`` / ``dram_write_bit`` per bit moved (whole bursts); ``sram_write_bit`` once per
bit fetched and ``sram_read_bit`` once per bit fetched and used by a query: in generation the
fetched data passes through the fetcher's data FIFOs (K and V are not kept in SRAM, spatten.md
1.5; an assumption about what buffers them); in summarization each of the N_q queries reads the
head's K and V from the SRAMs; ``topk_element`` per score entering a top-k engine: N_k per local-V
top-k (N_q of them per row; with :class:`RtlCoreCycles` on every row, its engines answering a
query that prunes no V row too, else on the rows whose N_v < N_k) and L per token top-k
(``if_topk`` rows). Static power times the
simulated time (0 where the target gives none).

**Throughput.** The op count is 2 ops per multiply-accumulate of Q x K and prob x V over the
kept keys and values, 2 N_q D (N_k + N_v) per row (recomputes on requant rows are not counted);
GOP/s is that over the simulated time.

**The paper's figures** (:func:`format_table`, :meth:`SpattenResult.to_dict`) are set beside a
pruned or quantized trace's, GPT-2's beside a generation run and BERT's beside a summarization
run; a trace to which no technique applies (:attr:`SpattenResult.dense_baseline`, such as the
public GPT-2 Medium PTB trace) is the dense baseline those figures are measured against, and is
presented as such, without them.
"""

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.dataflow.spatten_workloads import GENERATION, MODES, SUMMARIZATION
from sparsa.models.algorithms.spatten_trace import UNQUANTIZED, SpattenTrace
from sparsa.sim.blocks.attention_core import Command, pipeline_timing
from sparsa.sim.blocks.topk import TopKCycleModel, TopKCycles
from sparsa.sim.network.dram import DramTraffic, overlap, transfer_cycles
from sparsa.sim.network.energy import energy_breakdown
from sparsa.sim.network.target import DramSpec, Target

__all__ = [
    "CORE_UNITS",
    "OUTPUT_BITS",
    "PAPER_BERT_GOPS",
    "PAPER_DRAM_REDUCTION",
    "PAPER_GPT2_GOPS",
    "PAPER_REFETCH_FRACTION",
    "PAPER_TECHNIQUE_FACTORS",
    "PAPER_TOKEN_V_AVERAGE",
    "RTL_MAX_FUSED_ROWS",
    "TECHNIQUES",
    "UNQUANTIZED_BITS",
    "CoreCycleFn",
    "CorePipeline",
    "LayerResult",
    "LocalVTopK",
    "RtlCoreCycles",
    "SpattenResult",
    "TechniqueFactor",
    "TopKCycleFn",
    "busy_units",
    "core_bound_summary",
    "format_core_bound",
    "format_table",
    "fused_rows",
    "paper_datapath_cycles",
    "row_bytes",
    "simulate",
]

OUTPUT_BITS = 12
"""Width of ``attention_out``, the on-chip data width (paper, spatten.md 1.5 and 2.1)."""

UNQUANTIZED_BITS = 32
"""Width of an unquantized (-1) field: FP32, the dense baseline that the paper's 5.1x implies
(spatten.md 1.5, inferred there)."""

RTL_MAX_FUSED_ROWS = 2
"""Rows one fetch of the released RTL may fuse (``maxFusedMatrix = 2``, spatten.md 2.4, 2.6)."""

PAPER_GPT2_GOPS = 430.0
"""The paper's throughput on the 8 GPT-2 benchmarks, 0.43 TFLOPS (spatten.md 2.7, 6)."""

PAPER_BERT_GOPS = 1610.0
"""The paper's throughput on the 22 BERT benchmarks, 1.61 TFLOPS, compute-bound (spatten.md 2.7,
6)."""

PAPER_DRAM_REDUCTION = 10.0
"""The paper's DRAM access reduction, average over all 30 benchmarks (spatten.md 1.5, 3)."""

PAPER_TECHNIQUE_FACTORS = {
    "token + local V pruning": 3.8,
    "head pruning": 1.1,
    "progressive quantization": 5.1,
}
"""The paper's per-technique DRAM reductions (spatten.md 1.1, 1.2, 1.4, 1.5): token plus local V
pruning on the GPT-2 benchmarks, head pruning averaged, progressive quantization on top of
pruning."""

PAPER_TOKEN_V_AVERAGE = 1.9
"""The paper's token plus local V pruning, average over all 30 benchmarks; it gives no BERT-only
figure (spatten.md 1.1)."""

PAPER_REFETCH_FRACTION = 0.059
"""Fraction of inputs that needed the LSB refetch, on average (paper section III-D, spatten.md
1.4)."""

TECHNIQUES = ("head pruning", "token pruning", "local V pruning", "progressive quantization")
"""The attribution chain, in order (see the module docstring)."""

READS = ("k_msb", "k_lsb", "v_msb", "q")
WRITES = ("outputs",)
CLASSES = READS + WRITES

CoreCycleFn = Callable[[SpattenTrace, Target], np.ndarray]
"""Cycles of the attention core for one query of each row: ``core_cycles(trace, target)`` -> int
array (in generation a row is one query)."""

TopKCycleFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Cycles of the local-V top-k engine per request: ``topk_cycles(n, k)`` -> int array."""


def _check_mode(mode: object) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")
    return mode


def _queries(tokens: np.ndarray, mode: str) -> np.ndarray:
    """N_q of rows whose heads see ``tokens`` tokens: 1 in generation, the tokens in
    summarization."""
    return np.ones_like(tokens) if mode == GENERATION else tokens


def fused_rows(head_dim: int, bits: np.ndarray, burst_bytes: int) -> np.ndarray:
    """Rows of D elements per transfer: the fewest that fill whole bursts, at most 2.

    Parameters
    ----------
    head_dim : int
        D.
    bits : numpy.ndarray
        Width of the plane, per row.
    burst_bytes : int
        The DRAM's burst.

    Returns
    -------
    numpy.ndarray
        min(W / gcd(D x bits, W), :data:`RTL_MAX_FUSED_ROWS`) per entry, with W the burst in
        bits (8 x ``burst_bytes``).
    """
    burst_bits = 8 * burst_bytes
    fewest = burst_bits // np.gcd(head_dim * bits, burst_bits)
    return np.minimum(fewest, RTL_MAX_FUSED_ROWS)


def _burst_rounded(spec: DramSpec, sizes: np.ndarray) -> np.ndarray:
    """Bytes moved by one transfer of each size, counted by :class:`DramTraffic` itself (one
    count per distinct size) so that the burst rule is written once, in
    :mod:`sparsa.sim.network.dram`."""
    unique, inverse = np.unique(sizes, return_inverse=True)
    moved = np.empty(len(unique), dtype=np.int64)
    for i, size in enumerate(unique.tolist()):
        one = DramTraffic(spec)
        one.add("q", "read", size)  # the class and direction do not change the rounding
        moved[i] = one.bytes()
    return moved[inverse.reshape(-1)]


@dataclass(frozen=True)
class _Transfers:
    """Some transfers of one tensor class for every row: how many, and their size in bytes."""

    count: np.ndarray
    size: np.ndarray


def _plane(spec: DramSpec, head_dim: int, rows: np.ndarray, bits: np.ndarray, *,
           fuse: bool) -> tuple[_Transfers, _Transfers]:
    """The full transfers of ``fused`` rows each, and the one holding the leftover rows."""
    per = fused_rows(head_dim, bits, spec.burst_bytes) if fuse else np.ones_like(bits)
    leftover = rows % per
    return (_Transfers(count=rows // per, size=-(-(per * head_dim * bits) // 8)),
            _Transfers(count=(leftover > 0).astype(np.int64),
                       size=-(-(leftover * head_dim * bits) // 8)))


def _planes(spec: DramSpec, head_dim: int, *, keys: np.ndarray, key_bits: np.ndarray,
            lsb_keys: np.ndarray, lsb_bits: np.ndarray, values: np.ndarray,
            value_bits: np.ndarray, queries: np.ndarray, query_bits: np.ndarray,
            output_bits: np.ndarray) -> dict[str, tuple[_Transfers, ...]]:
    return {
        "k_msb": _plane(spec, head_dim, keys, key_bits, fuse=True),
        "k_lsb": _plane(spec, head_dim, lsb_keys, lsb_bits, fuse=True),
        "v_msb": _plane(spec, head_dim, values, value_bits, fuse=True),
        "q": _plane(spec, head_dim, queries, query_bits, fuse=False),
        "outputs": _plane(spec, head_dim, queries, output_bits, fuse=False),
    }


def _bytes(spec: DramSpec, planes: dict[str, tuple[_Transfers, ...]]) -> dict[str, np.ndarray]:
    return {cls: sum(t.count * _burst_rounded(spec, t.size) for t in parts)
            for cls, parts in planes.items()}


def _bits(widths: np.ndarray) -> np.ndarray:
    return np.where(widths == UNQUANTIZED, UNQUANTIZED_BITS, widths)


def _trace_planes(trace: SpattenTrace, spec: DramSpec,
                  mode: str) -> dict[str, tuple[_Transfers, ...]]:
    """The transfers of each row as the trace ran it."""
    unquantized = trace.key_bits == UNQUANTIZED
    return _planes(
        spec, trace.head_dim,
        keys=trace.key_fetch, key_bits=_bits(trace.key_bits),
        lsb_keys=np.where(trace.requant, trace.key_fetch, 0), lsb_bits=_bits(trace.requant_bits),
        values=trace.value_fetch, value_bits=_bits(trace.value_bits),
        queries=_queries(trace.key_fetch, mode), query_bits=_bits(trace.query_bits),
        output_bits=np.where(unquantized, UNQUANTIZED_BITS, OUTPUT_BITS),
    )


def row_bytes(trace: SpattenTrace, spec: DramSpec, *,
              mode: str = GENERATION) -> dict[str, np.ndarray]:
    """Burst-rounded DRAM bytes of every row of ``trace``, by tensor class.

    Parameters
    ----------
    trace : SpattenTrace
    spec : DramSpec
    mode : str
        One of :data:`sparsa.dataflow.spatten_workloads.MODES`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``k_msb``, ``k_lsb``, ``v_msb``, ``q`` (reads) and ``outputs`` (writes), int64 per row
        (formulas in the module docstring).
    """
    return _bytes(spec, _trace_planes(trace, spec, _check_mode(mode)))


def _fp32_bytes(spec: DramSpec, head_dim: int, keys: np.ndarray, values: np.ndarray,
                queries: np.ndarray) -> np.ndarray:
    """Bytes per row of unquantized rows fetching ``keys`` keys, ``values`` values and
    ``queries`` queries."""
    fp32 = np.full_like(keys, UNQUANTIZED_BITS)
    planes = _planes(spec, head_dim, keys=keys, key_bits=fp32, lsb_keys=np.zeros_like(keys),
                     lsb_bits=fp32, values=values, value_bits=fp32, queries=queries,
                     query_bits=fp32, output_bits=fp32)
    return sum(_bytes(spec, planes).values())


@dataclass(frozen=True)
class TechniqueFactor:
    """One link of the attribution chain.

    Attributes
    ----------
    technique : str
        One of :data:`TECHNIQUES`.
    bytes_without, bytes_with : int
        DRAM bytes before and after adding the technique to the previous ones.
    """

    technique: str
    bytes_without: int
    bytes_with: int

    @property
    def factor(self) -> float:
        """bytes_without / bytes_with."""
        return self.bytes_without / self.bytes_with


def _chain(trace: SpattenTrace, spec: DramSpec, actual: int,
           mode: str) -> tuple[TechniqueFactor, ...]:
    _, seq_len = trace.iteration_seq_len()
    d = trace.head_dim
    kept = _queries(trace.key_fetch, mode)
    stages = [
        int(_fp32_bytes(spec, d, seq_len, seq_len, _queries(seq_len, mode)).sum())
        * trace.layers * trace.heads,
        int(_fp32_bytes(spec, d, trace.seq_len, trace.seq_len,
                        _queries(trace.seq_len, mode)).sum()),
        int(_fp32_bytes(spec, d, trace.key_fetch, trace.key_fetch, kept).sum()),
        int(_fp32_bytes(spec, d, trace.key_fetch, trace.value_fetch, kept).sum()),
        actual,
    ]
    return tuple(TechniqueFactor(name, before, after)
                 for name, before, after in zip(TECHNIQUES, stages, stages[1:], strict=False))


def _resource(target: Target, name: str) -> int:
    if name not in target.resources:
        raise ValueError(f"target {target.name!r} has no resource {name!r}, which the SpAtten "
                         f"model needs; its resources are {sorted(target.resources)}")
    return target.resources[name]


def _keys_per_cycle(head_dim: int, multipliers: int, name: str) -> int:
    if head_dim > multipliers or multipliers % head_dim:
        raise ValueError(f"head dimension {head_dim} must divide the {multipliers} multipliers "
                         f"of {name!r} (SpAtten packs {name} / D vectors per line)")
    return multipliers // head_dim


def paper_datapath_cycles(trace: SpattenTrace, target: Target) -> np.ndarray:
    """Attention-core cycles per row: the paper's datapath bound, NOT validated against an RTL.

    The paper's Q x K array (``qk_multipliers`` of the target, 512) takes one SRAM line of that
    many elements per cycle, i.e. 512 / D keys (8 scores per cycle at D = 64); the prob x V array
    (``pv_multipliers``, 512) likewise 512 / D values per cycle (spatten.md 2.1, 2.2). Softmax
    keeps pace (8 per cycle). A requant row runs Q x K twice (spatten.md 1.4, 2.1 step 6). The
    two arrays are separate pipeline stages, so a row holds the core for the longer of the two:

        max(ceil(N_k / (512 / D)) x (1 + requant), ceil(N_v / (512 / D)))

    Pipeline fill latencies are not counted (a throughput bound).
    """
    d = trace.head_dim
    qk = _keys_per_cycle(d, _resource(target, "qk_multipliers"), "qk_multipliers")
    pv = _keys_per_cycle(d, _resource(target, "pv_multipliers"), "pv_multipliers")
    qk_cycles = -(-trace.key_fetch // qk) * (1 + trace.requant.astype(np.int64))
    return np.maximum(qk_cycles, -(-trace.value_fetch // pv))


class LocalVTopK:
    """Local-V top-k cycles from the project's RTL-validated top-k cycle model
    (:mod:`sparsa.sim.blocks.topk`).

    A request keeps the k = N_v largest of the n = N_k attention scores of a row. Its cycles
    are data-dependent; here each request runs on a freshly reset engine (LFSR at the config's
    seed) on n scores drawn uniformly over the config's value range from a generator seeded with
    ``seed``, so its cycles are a function of (n, k) alone and every distinct pair is modelled
    once (exactly what a per-row call would give).

    Parameters
    ----------
    config : TopKConfig
        The engine.
    seed : int
        Seed of the score generator.
    """

    def __init__(self, config: TopKConfig, *, seed: int = 0) -> None:
        if not isinstance(config, TopKConfig):
            raise ValueError(f"config must be a TopKConfig, not {config!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
        self.config = config
        self.seed = seed
        self._cache: dict[tuple[int, int], TopKCycles] = {}

    @classmethod
    def for_target(cls, target: Target, head_dim: int) -> "LocalVTopK":
        """SpAtten's engine on ``target``: Q x K's scores per cycle as lanes (``qk_multipliers``
        / D, 8 at D = 64) and the target's ``topk_comparators`` (16), spatten.md 2.3; the other
        parameters are :class:`TopKConfig`'s defaults (capacity 1,024, the paper's context)."""
        lanes = _keys_per_cycle(head_dim, _resource(target, "qk_multipliers"), "qk_multipliers")
        return cls(TopKConfig(lanes=lanes, comparators=_resource(target, "topk_comparators")))

    def request(self, n: int, k: int) -> TopKCycles:
        """Cycles of one request, by phase
        (:meth:`sparsa.sim.blocks.topk.TopKCycleModel.request`)."""
        if (n, k) not in self._cache:
            if not 1 <= k <= n <= self.config.capacity:
                raise ValueError(f"a local-V top-k keeps 1 <= k <= n of n <= capacity "
                                 f"{self.config.capacity} scores, not k = {k} of n = {n}")
            lo, hi = self.config.value_range
            scores = torch.randint(lo, hi + 1, (n,),
                                   generator=torch.Generator().manual_seed(self.seed))
            self._cache[n, k] = TopKCycleModel(self.config).request(scores, k)
        return self._cache[n, k]

    def cycles(self, n: int, k: int) -> int:
        """Cycles of one request (from the ``cmd`` transfer to the last output beat)."""
        return self.request(n, k).total

    def __call__(self, n: np.ndarray, k: np.ndarray) -> np.ndarray:
        pairs, inverse = np.unique(np.stack([n, k]), axis=1, return_inverse=True)
        table = np.array([self.cycles(a, b) for a, b in pairs.T.tolist()], dtype=np.int64)
        return table[inverse.reshape(-1)]


CORE_UNITS = ("front", "normalize", "local-V top-k", "values")
"""The pipelined attention core's units (:mod:`sparsa.sim.blocks.attention_core`): the front
(Q x K, the exp sum, the requant decision and refetch), the normalize unit, the local-V top-k
engines (all of them together) and the values unit (prob x V and the answer)."""


@dataclass(frozen=True)
class CorePipeline:
    """The pipelined core's time on a trace, per row.

    Attributes
    ----------
    cycles : numpy.ndarray
        Per row (in the trace's row order), the edges from the previous row's last answer to
        its own (its first query's latency included for the first row run); they add up to the
        core's time for the whole trace.
    busy : dict of str to numpy.ndarray
        Per unit of :data:`CORE_UNITS`, its busy cycles per row.
    engines : int
        Local-V top-k engines of the core.
    """

    cycles: np.ndarray
    busy: dict[str, np.ndarray]
    engines: int


class RtlCoreCycles:
    """Attention-core cycles of each row from the RTL-validated pipeline model
    (:func:`sparsa.sim.blocks.attention_core.pipeline_timing`).

    The rows' queries run, in the order the simulator runs the rows, on
    :class:`sparsa.hw.attention.attention_core.AttentionCore` with the target's
    ``qk_multipliers`` per array, ``topk_engines`` local-V top-k engines with
    ``topk_comparators`` each, D = the trace's head dimension and room for the trace's longest
    context (at least 1,024 keys): the front, the normalize unit, the engines and the values
    unit work on consecutive queries at once, with K and V already on chip (memory latency 1:
    the fetcher fills the K and V SRAMs, whose DRAM time the simulator counts separately and
    overlaps). Each local-V top-k runs on seeded random probabilities per distinct (n, k), as
    :class:`LocalVTopK` does. The cycles do not depend on the bit widths, so dense rows cost the
    same as quantized ones. The target's two top-k engines both serve local V pruning here: the
    token top-k at the end of each layer is not modelled (:func:`simulate`).

    Parameters
    ----------
    comparators : int, optional
        Comparators per array of the core's top-k engines; default the target's
        ``topk_comparators``.
    engines : int, optional
        Local-V top-k engines; default the target's ``topk_engines``.
    seed : int
        Seed of the probabilities fed to the top-k model.
    """

    __name__ = "rtl_core_cycles"  # the name results record (SpattenResult.core_model)

    def __init__(self, *, comparators: int | None = None, engines: int | None = None,
                 seed: int = 0) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
        self.comparators = comparators
        self.engines = engines
        self.seed = seed

    def core_config(self, trace: SpattenTrace, target: Target) -> AttentionCoreConfig:
        """The core that runs ``trace`` on ``target``."""
        longest = max(1024, int(trace.key_fetch.max()))
        multipliers = _resource(target, "qk_multipliers")
        comparators = (_resource(target, "topk_comparators") if self.comparators is None
                       else self.comparators)
        engines = _resource(target, "topk_engines") if self.engines is None else self.engines
        try:
            return AttentionCoreConfig(
                attention=AttentionConfig(dim=trace.head_dim, msb_bits=8, max_tokens=longest),
                multipliers=multipliers, comparators=comparators, topk_engines=engines)
        except ValueError as error:
            raise ValueError(f"the trace does not fit the RTL attention core on target "
                             f"{target.name!r}: {error}") from None

    def pipeline(self, trace: SpattenTrace, target: Target, order: np.ndarray,
                 queries: np.ndarray) -> CorePipeline:
        """The core's time on the rows run in ``order`` (indices into the trace), each with its
        ``queries`` (N_q) queries one after the other."""
        config = self.core_config(trace, target)
        topk = LocalVTopK(config.topk, seed=self.seed)
        commands, rows = [], []
        for row in order.tolist():
            n, k = int(trace.key_fetch[row]), int(trace.value_fetch[row])
            command = Command(n=n, v_keep=k, requant=bool(trace.requant[row]),
                              topk=topk.request(n, k))
            commands += [command] * int(queries[row])
            rows += [row] * int(queries[row])
        timings = pipeline_timing(config, commands)
        cycles = np.zeros(len(trace), dtype=np.int64)
        busy = {unit: np.zeros(len(trace), dtype=np.int64) for unit in CORE_UNITS}
        previous = 0
        for row, command, timing in zip(rows, commands, timings, strict=True):
            cycles[row] += timing.out - previous
            previous = timing.out
            busy["front"][row] += timing.front
            busy["normalize"][row] += timing.normalize
            busy["local-V top-k"][row] += command.topk.total
            busy["values"][row] += timing.values
        return CorePipeline(cycles=cycles, busy=busy, engines=config.topk_engines)


@dataclass(frozen=True)
class LayerResult:
    """Totals of one layer over all iterations and heads of a trace."""

    layer: int
    rows: int
    keys: int
    values: int
    dram_bytes: int
    dram_cycles: int
    core_cycles: int
    topk_cycles: int


@dataclass(frozen=True)
class SpattenResult:
    """DRAM traffic, its attribution, and time of one trace on one target.

    Attributes
    ----------
    model, target : str
        Names of the trace's workload and of the target.
    rows, iterations, layers, heads, head_dim : int
        Shape of the trace.
    mode : str
        How the rows ran, one of :data:`sparsa.dataflow.spatten_workloads.MODES`.
    queries : int
        N_q summed over rows (the rows in generation).
    traffic : DramTraffic
        The run's DRAM traffic (per class, direction and channel).
    fp32_bytes : int
        Dense FP32 baseline (stage 0 of the chain).
    dense_trace_bytes : int or None
        Bytes of the dense trace given to :func:`simulate`, if any.
    chain : tuple of TechniqueFactor
        The attribution chain, in :data:`TECHNIQUES` order.
    ops : int
        2 N_q D (N_k + N_v) summed over rows.
    dram_cycles, core_cycles, topk_cycles : int
        Each unit's busy cycles summed over rows (not overlapped): the DRAM, the core (with
        :class:`RtlCoreCycles`, the time the pipelined core takes for the rows), the local-V
        top-k engines (all of them together).
    core_units : dict of str to int, or None
        Busy cycles of each unit of the pipelined core (:data:`CORE_UNITS`) with
        :class:`RtlCoreCycles`; None with another core model.
    topk_engines : int
        Local-V top-k engines that share ``topk_cycles``.
    cycles, stall_cycles : int
        Total cycles of the pipeline (:func:`sparsa.sim.network.dram.overlap`) and the part spent
        waiting for DRAM beyond the compute.
    clock_hz : float
    core_model : str
        Name of the core cycle function (the default, :class:`RtlCoreCycles`, is RTL-validated).
    per_layer : tuple of LayerResult
    energy_j : dict of str to float
        Joules per action of :data:`sparsa.sim.network.energy.ACTIONS`, ``static`` and ``total``.
    """

    model: str
    target: str
    rows: int
    iterations: int
    layers: int
    heads: int
    head_dim: int
    mode: str
    queries: int
    traffic: DramTraffic
    fp32_bytes: int
    dense_trace_bytes: int | None
    chain: tuple[TechniqueFactor, ...]
    ops: int
    dram_cycles: int
    core_cycles: int
    topk_cycles: int
    core_units: dict[str, int] | None
    topk_engines: int
    cycles: int
    stall_cycles: int
    clock_hz: float
    core_model: str
    per_layer: tuple[LayerResult, ...]
    energy_j: dict[str, float]

    @property
    def dram_bytes(self) -> int:
        """Bytes moved (whole bursts), reads and writes."""
        return self.traffic.bytes()

    @property
    def bytes_by_class(self) -> dict[str, int]:
        """Bytes moved per tensor class of the SpAtten model."""
        return {cls: self.traffic.bytes(cls) for cls in CLASSES}

    @property
    def reduction(self) -> float:
        """DRAM reduction against the dense FP32 baseline."""
        return self.fp32_bytes / self.dram_bytes

    @property
    def dense_baseline(self) -> bool:
        """Whether no technique of the chain saves a byte: the trace is a dense baseline (no
        pruning, FP32), which the paper's figures are measured against, not comparable with."""
        return all(f.bytes_without == f.bytes_with for f in self.chain)

    def paper(self) -> dict[str, object]:
        """The paper's figures this result stands beside (see the module docstring)."""
        source = "SpAtten paper (Wang et al., HPCA 2021): Section V, Table II, Fig. 13"
        if self.dense_baseline:
            return {"source": source, "dense_baseline": True,
                    "comparison": "none: the paper's figures are of pruned and quantized "
                    "workloads, measured against a dense baseline such as this one"}
        if self.mode == SUMMARIZATION:
            return {"source": source, "dense_baseline": False, "bert_gops": PAPER_BERT_GOPS,
                    "dram_reduction": PAPER_DRAM_REDUCTION,
                    "technique_factors": {
                        "token + local V pruning": PAPER_TOKEN_V_AVERAGE,
                        "head pruning": PAPER_TECHNIQUE_FACTORS["head pruning"]}}
        return {"source": source, "dense_baseline": False, "gpt2_gops": PAPER_GPT2_GOPS,
                "dram_reduction": PAPER_DRAM_REDUCTION,
                "technique_factors": dict(PAPER_TECHNIQUE_FACTORS)}

    @property
    def reduction_vs_dense_trace(self) -> float | None:
        """DRAM reduction against the dense trace, if one was given."""
        if self.dense_trace_bytes is None:
            return None
        return self.dense_trace_bytes / self.dram_bytes

    @property
    def seconds(self) -> float:
        """Simulated time."""
        return self.cycles / self.clock_hz

    @property
    def gops(self) -> float:
        """Throughput in GOP/s (ops as defined in the module docstring)."""
        return self.ops / self.seconds / 1e9

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary, the paper's figures labelled as such."""
        return {
            "model": self.model,
            "target": self.target,
            "shape": {"rows": self.rows, "iterations": self.iterations, "layers": self.layers,
                      "heads": self.heads, "head_dim": self.head_dim, "mode": self.mode,
                      "queries": self.queries},
            "dram": {
                "bytes": self.dram_bytes,
                "bytes_by_class": self.bytes_by_class,
                "traffic": self.traffic.to_dict(),
                "fp32_baseline_bytes": self.fp32_bytes,
                "dense_trace_bytes": self.dense_trace_bytes,
                "reduction_vs_fp32": self.reduction,
                "reduction_vs_dense_trace": self.reduction_vs_dense_trace,
                "chain": [{"technique": f.technique, "bytes_without": f.bytes_without,
                           "bytes_with": f.bytes_with, "factor": f.factor}
                          for f in self.chain],
            },
            "time": {
                "core_model": self.core_model,
                "clock_hz": self.clock_hz,
                "cycles": self.cycles,
                "stall_cycles": self.stall_cycles,
                "dram_cycles": self.dram_cycles,
                "core_cycles": self.core_cycles,
                "topk_cycles": self.topk_cycles,
                "core_units": self.core_units,
                "topk_engines": self.topk_engines,
                "seconds": self.seconds,
                "ops": self.ops,
                "gops": self.gops,
            },
            "energy_j": self.energy_j,
            "per_layer": [asdict(layer) for layer in self.per_layer],
            "paper": self.paper(),
        }


def _check_cycles(cycles: object, rows: int, name: str) -> np.ndarray:
    array = np.asarray(cycles)
    if (array.shape != (rows,) or array.dtype == np.bool_
            or not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must return an array of {rows} integers (one per row), not "
                         f"one of shape {array.shape} and dtype {array.dtype}")
    if (array < 0).any():
        raise ValueError(f"{name} must return non-negative cycles, not {array.min()}")
    return array.astype(np.int64)


def _check_dense(trace: SpattenTrace, dense: SpattenTrace) -> None:
    for name in ("layers", "heads", "head_dim"):
        if getattr(dense, name) != getattr(trace, name):
            raise ValueError(f"the dense trace has {name} = {getattr(dense, name)}, the trace "
                             f"{getattr(trace, name)}; they must describe the same model")
    ids, seq_len = trace.iteration_seq_len()
    dense_ids, dense_seq_len = dense.iteration_seq_len()
    if not (np.array_equal(ids, dense_ids) and np.array_equal(seq_len, dense_seq_len)):
        raise ValueError("the dense trace must have the same iterations and context lengths as "
                         "the trace")


def _check_summarization(trace: SpattenTrace, target: Target) -> None:
    """Static quantization only, and each head's K and V fit half their SRAM."""
    requant = np.flatnonzero(trace.requant_bits != UNQUANTIZED)
    if requant.size:
        row = int(requant[0])
        raise ValueError(f"row {row}: auto_requant_incre = {trace.requant_bits[row]}; "
                         f"summarization runs static quantization only (SpAtten uses no LSB "
                         f"refetch for BERT, spatten.md 1.4); allowed: {UNQUANTIZED}")
    for sram, rows in (("key", trace.key_fetch), ("value", trace.value_fetch)):
        if sram not in target.sram_bytes:
            raise ValueError(f"target {target.name!r} has no {sram!r} SRAM (sram_bytes), "
                             f"which summarization loads K and V into; its SRAMs are "
                             f"{sorted(target.sram_bytes)}")
        half = target.sram_bytes[sram] // 2
        need = -(-(rows * trace.head_dim * OUTPUT_BITS) // 8)
        over = np.flatnonzero(need > half)
        if over.size:
            row = int(over[0])
            raise ValueError(f"row {row}: {rows[row]} rows of D = {trace.head_dim} at "
                             f"{OUTPUT_BITS} bits take {need[row]:,} B, more than half the "
                             f"{sram} SRAM of {target.name!r} ({half:,} of "
                             f"{target.sram_bytes[sram]:,} B, double-buffered), which "
                             f"summarization loads them into once per head")


def simulate(
    trace: SpattenTrace,
    target: Target,
    *,
    mode: str = GENERATION,
    dense: SpattenTrace | None = None,
    core_cycles: RtlCoreCycles | CoreCycleFn | None = None,
    topk_cycles: TopKCycleFn | None = None,
) -> SpattenResult:
    """DRAM traffic, attribution and time of ``trace`` on ``target``.

    Parameters
    ----------
    trace : SpattenTrace
    target : Target
        Clock, DRAM and (for the defaults) ``qk_multipliers``, ``pv_multipliers`` and
        ``topk_comparators`` resources, e.g. ``load_target("spatten-asic")``; in summarization
        also ``key`` and ``value`` SRAMs.
    mode : str
        How the rows run, one of :data:`sparsa.dataflow.spatten_workloads.MODES`
        (:func:`sparsa.dataflow.spatten_workloads.mode_of` gives a model's).
    dense : SpattenTrace, optional
        The dense trace of the same workload (same model shape, iterations and context
        lengths), a second baseline.
    core_cycles : RtlCoreCycles or callable, optional
        Default: :class:`RtlCoreCycles`, the project's RTL-validated pipelined core, its local-V
        top-k engines included. Else attention-core cycles of one query of each row,
        ``core_cycles(trace, target)``, such as :func:`paper_datapath_cycles`, the paper's
        datapath bound (not RTL-validated), with a separate local-V top-k (``topk_cycles``).
    topk_cycles : callable, optional
        Beside a ``core_cycles`` function: local-V top-k cycles per request,
        ``topk_cycles(n, k)`` on the rows whose value_fetch_num < key_fetch_num (other rows run
        no top-k). Default: :meth:`LocalVTopK.for_target`.

    Returns
    -------
    SpattenResult

    Raises
    ------
    ValueError
        For a bad argument; in summarization, a row with requant on, or a head whose K or V
        does not fit half its SRAM.
    """
    if not isinstance(trace, SpattenTrace):
        raise ValueError(f"trace must be a SpattenTrace, not {type(trace).__name__}")
    if not isinstance(target, Target):
        raise ValueError(f"target must be a Target, not {type(target).__name__}")
    _check_mode(mode)
    if mode == SUMMARIZATION:
        _check_summarization(trace, target)
    spec = target.dram
    queries = _queries(trace.key_fetch, mode)
    planes = _trace_planes(trace, spec, mode)
    traffic = DramTraffic(spec)
    for cls, parts in planes.items():
        direction = "write" if cls in WRITES else "read"
        sizes = np.concatenate([t.size for t in parts])
        counts = np.concatenate([t.count for t in parts])
        unique, index = np.unique(sizes, return_inverse=True)
        totals = np.bincount(index.reshape(-1), weights=counts, minlength=len(unique))
        for size, count in zip(unique.tolist(), totals.astype(np.int64).tolist(), strict=True):
            if count:
                traffic.add(cls, direction, size, transfers=count)
    per_class = _bytes(spec, planes)
    per_row = sum(per_class.values())
    if dense is not None:
        if not isinstance(dense, SpattenTrace):
            raise ValueError(f"dense must be a SpattenTrace or None, not {dense!r}")
        _check_dense(trace, dense)
    dense_bytes = (None if dense is None
                   else int(sum(row_bytes(dense, spec, mode=mode).values()).sum()))

    sizes, index = np.unique(per_row, return_inverse=True)
    dram = np.array([transfer_cycles(spec, size, target.clock_hz) for size in sizes.tolist()],
                    dtype=np.int64)[index]
    if core_cycles is None:
        core_cycles = RtlCoreCycles()
    order = np.lexsort((trace.head, trace.layer, trace.iteration))
    pruned = trace.value_fetch < trace.key_fetch
    pipeline = None
    if isinstance(core_cycles, RtlCoreCycles):
        if topk_cycles is not None:
            raise ValueError("topk_cycles goes with a core_cycles function: the RTL core "
                             "(RtlCoreCycles) times its own local-V top-k engines")
        # The pipelined core: each row costs the time it adds to the run, its local-V top-k
        # included (the engines work beside the other units).
        pipeline = core_cycles.pipeline(trace, target, order, queries)
        core = compute = pipeline.cycles
        topk = pipeline.busy["local-V top-k"]
        engines = pipeline.engines
    else:
        core = _check_cycles(core_cycles(trace, target), len(trace), "core_cycles")
        if topk_cycles is None:
            topk_cycles = LocalVTopK.for_target(target, trace.head_dim)
        topk = np.zeros(len(trace), dtype=np.int64)
        if pruned.any():
            topk[pruned] = _check_cycles(topk_cycles(trace.key_fetch[pruned],
                                                     trace.value_fetch[pruned]),
                                         int(pruned.sum()), "topk_cycles")
        compute = queries * np.maximum(core, topk)
        core, topk = queries * core, queries * topk
        engines = 1
    total, stall = overlap(compute[order], dram[order])

    def by_layer(values: np.ndarray) -> np.ndarray:
        return np.bincount(trace.layer, weights=values, minlength=trace.layers).astype(np.int64)

    layer_columns = [by_layer(np.ones(len(trace))), by_layer(trace.key_fetch),
                     by_layer(trace.value_fetch), by_layer(per_row), by_layer(dram),
                     by_layer(core), by_layer(topk)]
    per_layer = tuple(LayerResult(layer, *(int(c[layer]) for c in layer_columns))
                      for layer in range(trace.layers))
    chain = _chain(trace, spec, traffic.bytes(), mode)
    read_bits = 8 * sum(traffic.bytes(cls) for cls in READS)
    used_bytes = (queries * (per_class["k_msb"] + per_class["k_lsb"] + per_class["v_msb"])
                  + per_class["q"])
    macs = queries * trace.head_dim * (trace.key_fetch * (1 + trace.requant.astype(np.int64))
                                       + trace.value_fetch)
    selecting = np.ones(len(trace), dtype=bool) if pipeline is not None else pruned
    topk_elements = ((queries * trace.key_fetch)[selecting].sum()
                     + trace.seq_len[trace.token_topk].sum())
    energy = energy_breakdown(target.energy, {
        "mac_int12": int(macs.sum()),
        "dram_read_bit": read_bits,
        "dram_write_bit": 8 * sum(traffic.bytes(cls) for cls in WRITES),
        "sram_write_bit": read_bits,
        "sram_read_bit": 8 * int(used_bytes.sum()),
        "topk_element": int(topk_elements),
    }, seconds=total / target.clock_hz, static_w=target.static_w)
    return SpattenResult(
        model=trace.model,
        target=target.name,
        rows=len(trace),
        iterations=len(trace.iterations),
        layers=trace.layers,
        heads=trace.heads,
        head_dim=trace.head_dim,
        mode=mode,
        queries=int(queries.sum()),
        traffic=traffic,
        fp32_bytes=chain[0].bytes_without,
        dense_trace_bytes=dense_bytes,
        chain=chain,
        ops=int((2 * queries * trace.head_dim * (trace.key_fetch + trace.value_fetch)).sum()),
        dram_cycles=int(dram.sum()),
        core_cycles=int(core.sum()),
        topk_cycles=int(topk.sum()),
        core_units=(None if pipeline is None
                    else {unit: int(cycles.sum()) for unit, cycles in pipeline.busy.items()}),
        topk_engines=engines,
        cycles=total,
        stall_cycles=stall,
        clock_hz=target.clock_hz,
        core_model=getattr(core_cycles, "__name__", repr(core_cycles)),
        per_layer=per_layer,
        energy_j=energy,
    )


def _rows(header: tuple[str, ...], align: str, rows: list[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _paper_rows(r: SpattenResult) -> list[str]:
    """This model's figures beside the paper's, or the dense baseline's note."""
    if r.dense_baseline:
        return [f"Dense baseline: no technique applies to this trace (every factor of the "
                f"chain is 1.00x), so the paper's figures, measured on pruned and quantized "
                f"workloads against such a baseline, are not set beside it; it runs at "
                f"{r.gops:.1f} GOP/s here.", ""]
    factors = {f.technique: f.factor for f in r.chain}
    paper = PAPER_TECHNIQUE_FACTORS
    token_v = f"{factors['token pruning'] * factors['local V pruning']:.2f}x"
    rows = [("DRAM reduction vs dense FP32", f"{r.reduction:.2f}x",
             f"{PAPER_DRAM_REDUCTION}x (average of 30 benchmarks)")]
    if r.mode == SUMMARIZATION:
        rows += [
            ("token + local V pruning", token_v,
             f"{PAPER_TOKEN_V_AVERAGE}x (average of 30 benchmarks; no BERT-only figure)"),
            ("head pruning", f"{factors['head pruning']:.2f}x", f"{paper['head pruning']}x"),
            ("static quantization", f"{factors['progressive quantization']:.2f}x",
             "no figure (BERT uses static quantization only)"),
            ("throughput", f"{r.gops:.1f} GOP/s",
             f"{PAPER_BERT_GOPS:.0f} GOP/s (BERT, 22 benchmarks)"),
        ]
    else:
        rows += [
            ("token + local V pruning", token_v, f"{paper['token + local V pruning']}x (GPT-2)"),
            ("head pruning", f"{factors['head pruning']:.2f}x", f"{paper['head pruning']}x"),
            ("progressive quantization", f"{factors['progressive quantization']:.2f}x",
             f"{paper['progressive quantization']}x"),
            ("throughput", f"{r.gops:.1f} GOP/s", f"{PAPER_GPT2_GOPS:.0f} GOP/s (GPT-2)"),
        ]
    return _rows(("figure", "this model", "paper (its figures)"), ("---", "---:", "---:"), rows)


def core_bound_summary(bound: SpattenResult) -> dict[str, float]:
    """The figures of a run with :func:`paper_datapath_cycles` for the core (JSON-ready)."""
    return {"cycles": bound.cycles, "core_cycles": bound.core_cycles, "gops": bound.gops}


def busy_units(time: Mapping[str, object]) -> tuple[str, str]:
    """The busiest unit of a run and every unit's busy cycles, as text: the attention core,
    the DRAM, each local-V top-k engine and, with :class:`RtlCoreCycles`, the core's other
    units.

    Parameters
    ----------
    time : mapping
        The run's ``core_cycles``, ``dram_cycles``, ``topk_cycles``, ``topk_engines`` and
        ``core_units``, as in :meth:`SpattenResult.to_dict`'s ``time``.
    """
    units = {"attention core": time["core_cycles"], "DRAM": time["dram_cycles"]}
    engines = time["topk_engines"]
    units["local-V top-k" + (f" (each of {engines} engines)" if engines > 1 else "")] = (
        -(-time["topk_cycles"] // engines))
    units.update({f"core {unit}": cycles for unit, cycles in (time["core_units"] or {}).items()
                  if unit != "local-V top-k"})
    busy = ", ".join(f"{unit} {cycles:,}" for unit, cycles in units.items()) + " busy cycles"
    return max(units, key=units.__getitem__), busy


def format_core_bound(result: SpattenResult, bound: SpattenResult) -> str:
    """Where ``result``'s time goes, and ``bound``, the same trace with the paper's datapath
    bound for the core (:func:`paper_datapath_cycles`), beside it: a measured reason for a gap
    to the paper's throughput."""
    busiest, busy = busy_units({name: getattr(result, name) for name in (
        "core_cycles", "dram_cycles", "topk_cycles", "topk_engines", "core_units")})
    return (f"Busiest unit: the {busiest} ({busy}). With the paper's datapath bound for the "
            "core instead (Q x K and prob x V at the arrays' rates, no latencies, softmax free, "
            f"one local-V top-k engine beside them): {bound.cycles:,} cycles, "
            f"{bound.gops:.1f} GOP/s.")


def format_table(result: SpattenResult) -> str:
    """A readable Markdown summary: traffic by class, the attribution chain, time (with the
    core's stages when known), energy, and the paper's figures beside this model's (labelled as
    the paper's; none beside a dense baseline, :attr:`SpattenResult.dense_baseline`)."""
    r = result
    mode = ("" if r.mode == GENERATION else
            f"; summarization: {r.queries:,} queries, each head's K and V loaded once for all "
            "its queries")
    lines = [
        f"SpAtten: {r.model} on {r.target}: {r.rows} rows ({r.iterations} iterations, "
        f"{r.layers} layers x {r.heads} heads, D = {r.head_dim}){mode}; core cycles from "
        f"`{r.core_model}`"
        + {paper_datapath_cycles.__name__: " (paper datapath bound, not RTL-validated)",
           RtlCoreCycles().__name__: " (the project's attention core, RTL-validated)"}.get(
               r.core_model, ""),
        "",
    ]
    traffic = [(cls, f"{n:,}", f"{n / r.dram_bytes:.1%}") for cls, n in r.bytes_by_class.items()]
    traffic.append(("total", f"{r.dram_bytes:,}", "100.0%"))
    traffic.append(("dense FP32 baseline", f"{r.fp32_bytes:,}", f"{r.reduction:.2f}x more"))
    if r.dense_trace_bytes is not None:
        traffic.append(("dense trace", f"{r.dense_trace_bytes:,}",
                        f"{r.reduction_vs_dense_trace:.2f}x more"))
    lines += _rows(("DRAM traffic", "bytes", "share"), ("---", "---:", "---:"), traffic)
    # BERT runs static quantization only: the last step of its chain is that.
    rename = {"progressive quantization": "static quantization"} if r.mode == SUMMARIZATION \
        else {}
    chain = [(rename.get(f.technique, f.technique), f"{f.bytes_without:,}", f"{f.bytes_with:,}",
              f"{f.factor:.2f}x") for f in r.chain]
    chain.append(("all (product)", f"{r.fp32_bytes:,}", f"{r.dram_bytes:,}",
                  f"{r.reduction:.2f}x"))
    lines += _rows(("technique (in order)", "bytes without", "bytes with", "reduction"),
                   ("---", "---:", "---:", "---:"), chain)
    lines += _rows(("time", "cycles"), ("---", "---:"), [
        ("DRAM busy (sum over rows)", f"{r.dram_cycles:,}"),
        ("attention core busy", f"{r.core_cycles:,}"),
        ("local-V top-k busy" + (f" ({r.topk_engines} engines together)"
                                 if r.topk_engines > 1 else ""), f"{r.topk_cycles:,}"),
        ("total, pipelined", f"{r.cycles:,}"),
        ("of which waiting for DRAM", f"{r.stall_cycles:,}"),
    ])
    if r.core_units is not None:
        rows = [(unit, f"{cycles:,}", f"{cycles / r.core_cycles:.1%}")
                for unit, cycles in r.core_units.items()]
        rows[CORE_UNITS.index("local-V top-k")] = (
            f"local-V top-k (each of {r.topk_engines})",
            f"{-(-r.core_units['local-V top-k'] // r.topk_engines):,}",
            f"{r.core_units['local-V top-k'] / r.topk_engines / r.core_cycles:.1%}")
        lines += _rows(("attention core unit", "busy cycles", "of the core's time"),
                       ("---", "---:", "---:"), rows)
    energy = [(action, f"{joules * 1e3:.4g}", f"{joules / r.energy_j['total']:.1%}")
              for action, joules in r.energy_j.items() if joules and action != "total"]
    energy.append(("total", f"{r.energy_j['total'] * 1e3:.4g}", "100.0%"))
    lines += _rows(("energy", "mJ", "share"), ("---", "---:", "---:"), energy)
    lines += _paper_rows(r)
    lines += _rows(
        ("layer", "rows", "keys", "values", "DRAM bytes", "DRAM cycles", "core cycles",
         "top-k cycles"), ("---:",) * 8,
        [(x.layer, x.rows, f"{x.keys:,}", f"{x.values:,}", f"{x.dram_bytes:,}",
          f"{x.dram_cycles:,}", f"{x.core_cycles:,}", f"{x.topk_cycles:,}")
         for x in r.per_layer])
    return "\n".join(lines).rstrip() + "\n"
