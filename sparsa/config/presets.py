"""Every named configuration, once: the CLI, the benches, the simulators and the tests take
their configurations and defaults from here.

The RTL test configurations are small (to keep the Verilator builds and simulations short) yet
cover the corners of each block:

- Top-k engine (:data:`TOPK_CONFIGS`): both lane counts, both widths, signed and unsigned
  values, every comparator count from 1 to 32, both pivot modes, and capacities that are not a
  multiple of P or C.
- SAT PE array (:data:`SAT_ARRAY_CONFIGS`): square and non-square arrays with more rows than
  columns and the reverse, INT8 and INT16, every supported M (2, 4, 8, 16) and N from 1 to 4,
  ``max_reduction`` small enough that the extreme-value GEMMs reach the top of the accumulators
  (one of them not a power of two), with interleave mapping and without; FP16 and BF16 with
  the one-cycle FP32 adder and with pipelined ones of 3 and 2 stages (``-a3``, ``-a2``; the
  3-row one small enough that a WS tile after an OS one waits for the OS rows to leave).
- SORE (:data:`SORE_CONFIGS`): every M (2, 4, 8, 16), INT8 and INT16, SAT's own 32 lanes, a
  lane count that is not a power of two, and few lanes beside M.
- Attention core (:data:`ATTENTION_CONFIGS`), each running the MSB settings 4, 6 and 8 at run
  time: D = 32 and 64 with 64 and 128 multipliers (E = 1, 2 and 4 rows per beat), small buffers
  (64 to 128 keys, one count not a multiple of E), both pivot modes, with and without the
  probabilities on ``keys``, a head count that is not a power of two (so a head field can be
  rejected), and narrow importance accumulators so that they saturate within a run.
- Weight-update engine (:data:`WEIGHT_UPDATE_CONFIGS`): FP16 and BF16, 3, 4 and 8 lanes (3 is
  not a power of two), the shallowest pipeline (1-cycle units), the default one and a deep one,
  growth after 2 to 4 clean steps and loss-scale bounds a few steps apart (so every run meets
  both), from S = 2^0 (1/S = 1) up to 2^126 (1/S is FP32's smallest normal number, so unscaled
  gradients underflow), and a ``max_count`` small enough that a step of the largest count runs.

The top-k, SAT array, attention core and weight-update test configurations are built from their
names, which spell out their main fields, so that a name cannot disagree with its configuration.

The defaults beside them: the configuration ``sparsa verilog`` and ``sparsa verify`` elaborate
when no flag changes it (:data:`BLOCK_DEFAULTS`), the SAT design of the network simulations
(:data:`SAT_NETWORK_ARRAY`, :data:`SAT_SORE_LANES`), the targets and batch of the studies, the
SpAtten workload sizes, the resource model's grid of syntheses and its check
(:data:`RESOURCE_FIT_GRID`, :data:`RESOURCE_CHECK_CONFIG`), and the sizes and seeds of the
benchmarks and of ``sparsa verify``.
"""

import re

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.axi import AxiConfig
from sparsa.config.formats import NumberFormat
from sparsa.config.sat import NMPattern, SatArrayConfig, SoreConfig
from sparsa.config.sat_system import SatSystemConfig
from sparsa.config.spatten_system import SpattenSystemConfig
from sparsa.config.topk import PivotMode, TopKConfig
from sparsa.config.weight_update import WeightUpdateConfig

__all__ = [
    "ATTENTION_CONFIGS",
    "BERT_SEQ_LEN",
    "BLOCK_DEFAULTS",
    "DEFAULT_ATTENTION_CORE",
    "DEFAULT_SAT_ARRAY",
    "DEFAULT_SAT_SYSTEM",
    "DEFAULT_SORE",
    "DEFAULT_TOPK",
    "DEFAULT_WEIGHT_UPDATE",
    "GPT2_GENERATED",
    "GPT2_PROMPT",
    "REPORT_RTL_CHECKS",
    "RESOURCE_CHECK_CONFIG",
    "RESOURCE_FIT_GRID",
    "RTL_TEST_CONFIGS",
    "SAT_ABLATION_MODEL",
    "SAT_ABLATION_PATTERN",
    "SAT_ARRAY_CONFIGS",
    "SAT_BATCH",
    "SAT_BENCH_SEED",
    "SAT_NETWORK_ARRAY",
    "SAT_SORE_LANES",
    "SAT_STUDY_MODELS",
    "SAT_STUDY_PATTERNS",
    "SAT_SYSTEM_CONFIGS",
    "SAT_TARGET",
    "SORE_CONFIGS",
    "SPATTEN_BERT_POLICY",
    "SPATTEN_RUN_SHAPE",
    "SPATTEN_TARGET",
    "SYSTEM_DEFAULTS",
    "SYSTEM_READ_LATENCY",
    "TOPK_BENCH_SEED",
    "TOPK_BENCH_TRIALS",
    "TOPK_CONFIGS",
    "VERIFY_BACKEND",
    "VERIFY_BACKENDS",
    "VERIFY_CASES",
    "VERIFY_JOBS",
    "VERIFY_SEED",
    "WEIGHT_UPDATE_CONFIGS",
]


def _topk(name: str, **more: int) -> TopKConfig:
    """The top-k configuration that ``name`` spells out: ``p<lanes>w<width><s|u>`` (signed or
    unsigned) ``-c<comparators>-<pivot>-n<capacity>``; ``more`` sets the other fields."""
    match = re.fullmatch(r"p(\d+)w(\d+)([su])-c(\d+)-(middle|lfsr)-n(\d+)", name)
    if match is None:
        raise ValueError(f"not a top-k configuration name: {name!r}")
    lanes, width, sign, comparators, pivot, capacity = match.groups()
    return TopKConfig(
        lanes=int(lanes),
        width=int(width),
        signed=sign == "s",
        comparators=int(comparators),
        capacity=int(capacity),
        pivot=PivotMode[pivot.upper()],
        **more,
    )


TOPK_CONFIGS: dict[str, TopKConfig] = {
    name: _topk(name, **more)
    for name, more in (
        ("p8w8u-c1-middle-n64", {}),
        ("p8w16s-c2-lfsr-n128", {}),
        ("p16w8s-c4-middle-n256", {}),
        ("p16w16u-c16-lfsr-n256", {"seed": 0x0001}),
        ("p8w16s-c8-lfsr-n100", {"seed": 0xBEEF}),
        ("p16w8u-c32-middle-n200", {}),
    )
}


def _patterns(text: str) -> tuple[NMPattern, ...]:
    return tuple(NMPattern.parse(p) for p in text.split())


def _sat_array(name: str, patterns: str, **more: object) -> SatArrayConfig:
    """The SAT array configuration that ``name`` spells out, ``r<rows>c<cols>-<dtype>``, or
    ``r<rows>c<cols>-<dtype>-a<add_latency>`` for a pipelined FP32 adder, with the N:M
    ``patterns`` (space-separated); ``more`` sets the other fields."""
    formats = "|".join(f.value for f in NumberFormat)
    match = re.fullmatch(rf"r(\d+)c(\d+)-({formats})(?:-a(\d+))?", name)
    if match is None:
        raise ValueError(f"not a SAT array configuration name: {name!r}")
    rows, cols, dtype, add_latency = match.groups()
    return SatArrayConfig(
        rows=int(rows), cols=int(cols), patterns=_patterns(patterns), dtype=NumberFormat(dtype),
        add_latency=int(add_latency or 1), **more,
    )


SAT_ARRAY_CONFIGS: dict[str, SatArrayConfig] = {
    name: _sat_array(name, patterns, **more)
    for name, patterns, more in (
        ("r8c8-int8", "2:4 2:8 1:4 1:8 4:8", {"max_reduction": 64}),
        ("r4c6-int16", "1:2 3:8 4:16", {"max_reduction": 128, "interleave": False}),
        ("r5c3-int8", "2:4 1:16", {"max_reduction": 48}),
        ("r4c4-fp16", "2:4 1:8", {"max_reduction": 64}),
        ("r4c5-bf16", "2:8 1:2", {"max_reduction": 40, "interleave": False}),
        ("r4c4-fp16-a3", "2:4 1:8", {"max_reduction": 64}),
        ("r3c5-bf16-a2", "2:8 1:2", {"max_reduction": 40}),
    )
}

SORE_CONFIGS: dict[str, SoreConfig] = {
    "l32m8-int8": SoreConfig(lanes=32, m=8, dtype=NumberFormat.INT8),
    "l16m16-int16": SoreConfig(lanes=16, m=16, dtype=NumberFormat.INT16),
    "l12m4-int16": SoreConfig(lanes=12, m=4, dtype=NumberFormat.INT16),
    "l6m2-int8": SoreConfig(lanes=6, m=2, dtype=NumberFormat.INT8),
    "l16m8-fp16": SoreConfig(lanes=16, m=8, dtype=NumberFormat.FP16),
    "l8m4-bf16": SoreConfig(lanes=8, m=4, dtype=NumberFormat.BF16),
}


def _attention_core(
    name: str, importance_bits: tuple[int, int], formats: dict[str, int], **core: object
) -> AttentionCoreConfig:
    """The attention core configuration that ``name`` spells out,
    ``d<dim>-m<multipliers>-n<max_tokens>``, for MSB settings up to 8 bits: ``importance_bits``
    are the widths of the token and of the head importance accumulators, ``formats`` sets other
    :class:`AttentionConfig` fields and ``core`` other :class:`AttentionCoreConfig` fields."""
    match = re.fullmatch(r"d(\d+)-m(\d+)-n(\d+)", name)
    if match is None:
        raise ValueError(f"not an attention core configuration name: {name!r}")
    dim, multipliers, max_tokens = (int(g) for g in match.groups())
    token_bits, head_bits = importance_bits
    attention = AttentionConfig(
        dim=dim,
        msb_bits=8,
        max_tokens=max_tokens,
        token_importance_bits=token_bits,
        head_importance_bits=head_bits,
        **formats,
    )
    return AttentionCoreConfig(attention=attention, multipliers=multipliers, **core)


ATTENTION_CONFIGS: dict[str, AttentionCoreConfig] = {
    name: _attention_core(name, importance_bits, formats, **core)
    for name, importance_bits, formats, core in (
        ("d32-m64-n64", (15, 18), {}, {"comparators": 4, "heads": 4}),
        (
            "d32-m128-n90",
            (13, 16),
            {"prob_bits": 10},
            {"comparators": 16, "pivot": PivotMode.MIDDLE, "heads": 5, "emit_probs": False,
             "topk_engines": 3},
        ),
        (
            "d64-m64-n64",
            (16, 20),
            {},
            {"comparators": 2, "heads": 16, "seed": 0xBEEF, "topk_engines": 1},
        ),
        (
            "d64-m128-n128",
            (14, 24),
            {"score_bits": 14, "score_frac_bits": 7},
            {"comparators": 8, "heads": 3},
        ),
    )
}


def _weight_update(name: str, **more: int) -> WeightUpdateConfig:
    """The weight-update configuration that ``name`` spells out,
    ``l<lanes>-<dtype>-m<multiplier_stages>a<adder_stages>-g<growth_interval>``, with the
    loss-scale exponents ``s<min_scale_log2>-<init_scale_log2>-<max_scale_log2>``; ``more``
    sets the other fields."""
    match = re.fullmatch(r"l(\d+)-(fp16|bf16)-m(\d)a(\d)-g(\d+)-s(\d+)-(\d+)-(\d+)", name)
    if match is None:
        raise ValueError(f"not a weight-update configuration name: {name!r}")
    lanes, dtype, mul, add, growth, low, start, high = match.groups()
    return WeightUpdateConfig(
        lanes=int(lanes), dtype=dtype, multiplier_stages=int(mul),
        adder_stages=int(add), growth_interval=int(growth), min_scale_log2=int(low),
        init_scale_log2=int(start), max_scale_log2=int(high), **more,
    )


WEIGHT_UPDATE_CONFIGS: dict[str, WeightUpdateConfig] = {
    name: _weight_update(name, **more)
    for name, more in (
        ("l4-fp16-m3a3-g3-s0-2-4", {}),
        ("l3-bf16-m1a1-g2-s123-124-126", {"max_count": 40}),
        ("l8-fp16-m2a4-g4-s14-16-17", {}),
    )
}

# The SAT design of the network simulations, and the targets and batch of the studies.

SAT_NETWORK_ARRAY = SatArrayConfig(
    rows=32,
    cols=32,
    patterns=_patterns("2:4 4:8 1:4 2:8 1:8"),
    dtype=NumberFormat.FP16,
    max_reduction=8192,
)
"""The PE array of the SAT network simulations: FP16 operands with FP32 accumulation, the
paper's training arithmetic (sat.md 3), with the AMP weight update on FP32 master weights.
SAT's own array size is not public (sat.md 3.3); 32 x 32 PEs (1,024 MACs, within the XCVU9P's
6,840 DSP48E2) are this project's assumption."""
SAT_SORE_LANES = 32
"""SORE lanes of the SAT network simulations: SAT's reported 32 (sat.md 3.1)."""
SAT_TARGET = "vcu1525"
"""Target of the SAT studies: the paper's Xilinx VCU1525 (XCVU9P)."""
SPATTEN_TARGET = "spatten-asic"
"""Target of the SpAtten studies: the paper's ASIC with HBM2."""
SAT_BATCH = 32
"""Batch of a SAT training iteration and of the CNN software baselines."""
SYSTEM_READ_LATENCY = 40
"""Cycles from a read address to its first beat in the DDR model of ``sparsa run sat`` and
``sparsa run spatten`` and of the network simulator's runs sized by a SAT system (a DDR4 row
miss and the controller's queues at 200 MHz are of this order)."""
SPATTEN_RUN_SHAPE = {"layers": 3, "tokens": 64, "heads": 8}
"""The GPT-2-shaped run of ``sparsa run spatten``: layers, tokens and heads at its start."""
SAT_STUDY_MODELS = ("resnet18", "resnet50", "vgg16")
"""The networks of the SAT training study (speedups over dense at each pattern)."""
SAT_STUDY_PATTERNS = _patterns("2:4 2:8 1:8")
"""The N:M patterns of the SAT training study."""
SAT_ABLATION_MODEL = "resnet50"
"""The network of the SAT technique ablation."""
SAT_ABLATION_PATTERN = NMPattern(2, 8)
"""The pattern of the SAT technique ablation."""

# The default configuration of each block: what `sparsa verilog BLOCK` and `sparsa verify BLOCK`
# elaborate when no flag changes it.

DEFAULT_TOPK = TopKConfig()
"""The top-k engine: :class:`~sparsa.config.topk.TopKConfig`'s own defaults (SpAtten's 8 lanes,
16 comparators, 1,024 16-bit signed scores)."""
DEFAULT_SAT_ARRAY = SatArrayConfig(
    rows=8, cols=8, patterns=_patterns("2:4 2:8"), dtype=NumberFormat.INT8, max_reduction=4096
)
"""The SAT PE array: 8 x 8 INT8 PEs, 2:4 and 2:8 besides dense."""
DEFAULT_SORE = SoreConfig(lanes=SAT_SORE_LANES, m=8, dtype=NumberFormat.INT8)
"""The SORE: SAT's 32 lanes, groups of 8 INT8 weights."""
DEFAULT_ATTENTION_CORE = AttentionCoreConfig(
    attention=AttentionConfig(dim=64, msb_bits=8, max_tokens=1024),
    multipliers=512,
    comparators=16,
    heads=16,
)
"""SpAtten's attention core: D = 64, 512 multipliers per array, MSB settings up to 8 bits,
1,024 keys per query, 16 comparators, 16 heads."""
DEFAULT_WEIGHT_UPDATE = WeightUpdateConfig()
"""SAT's weight-update engine: :class:`~sparsa.config.weight_update.WeightUpdateConfig`'s own
defaults (8 lanes, FP16 gradients and copies, AMP's initial scale 2^16 and growth interval
2,000, scale bounds 2^0 to 2^24, 3-stage FP32 units)."""

DEFAULT_SAT_SYSTEM = SatSystemConfig(array=DEFAULT_SAT_ARRAY)
"""The SAT accelerator of ``sparsa verilog sat-accelerator`` (the default array, 512-bit DDR4
words of the VCU1525, 1,024-row buffers)."""

_SMALL_SYSTEM = SatSystemConfig(
    array=SatArrayConfig(rows=4, cols=4, max_reduction=16),
    axi=AxiConfig(data_width=64, addr_width=32, max_burst=16, max_reads=4),
    a_rows=64, b_rows=64, out_rows=16, program_depth=256, dram_bytes=1 << 20,
)
SAT_SYSTEM_CONFIGS: dict[str, SatSystemConfig] = {
    # 4 x 4 arrays on 64-bit words: several tiles and bursts per GEMM of a test's size.
    "r4c4-int8-w64": _SMALL_SYSTEM,
    "r4c4-fp16-w64": _SMALL_SYSTEM.replace(
        array=_SMALL_SYSTEM.array.replace(dtype=NumberFormat.FP16)),
    # The same with a 3-stage pipelined FP32 adder in every PE.
    "r4c4-fp16-a3-w64": _SMALL_SYSTEM.replace(
        array=_SMALL_SYSTEM.array.replace(dtype=NumberFormat.FP16, add_latency=3)),
    # Wide words and long tiles: the loads hide behind the array's work.
    "r4c4-int8-w512": _SMALL_SYSTEM.replace(
        array=_SMALL_SYSTEM.array.replace(max_reduction=64),
        axi=AxiConfig(data_width=512, addr_width=32, max_burst=16)),
    # The report's: a 4 x 4 INT8 array on 128-bit words, buffers for a small CNN's layers.
    "r4c4-int8-w128": SatSystemConfig(
        array=SatArrayConfig(rows=4, cols=4, max_reduction=64),
        axi=AxiConfig(data_width=128, addr_width=32, max_burst=16),
        a_rows=256, b_rows=256, out_rows=64, program_depth=4096, dram_bytes=1 << 24),
    # A SORE in the datapath (GENERATE): 2:4 tiles of 4 x 4 weights on the small system.
    "r4c4-int8-w64-sore4": _SMALL_SYSTEM.replace(sore_lanes=4, sore_m=4),
    # An 8 x 8 INT8 array with an 8-lane SORE of groups of 8 (2:8 tiles of 8 x 8 weights).
    "r8c8-int8-w128-sore8": SatSystemConfig(
        array=SatArrayConfig(rows=8, cols=8, patterns=_patterns("2:4 2:8"),
                             dtype=NumberFormat.INT8, max_reduction=64),
        axi=AxiConfig(data_width=128, addr_width=32, max_burst=16),
        a_rows=256, b_rows=256, out_rows=64, program_depth=4096, dram_bytes=1 << 24,
        sore_lanes=8, sore_m=8),
}
"""Named SAT accelerator systems of the tests and the report (small buffers, 1 to 16 MiB of
DRAM; the 4 x 4 arrays built on Verilator in a minute each; the ``-sore`` ones, one of them an
8 x 8 array, with a SORE in the datapath for GENERATE)."""

SYSTEM_DEFAULTS: dict[str, object] = {"sat-accelerator": DEFAULT_SAT_SYSTEM,
                                       "spatten-accelerator": SpattenSystemConfig()}
"""System name (the command line's word) to its default configuration."""

BLOCK_DEFAULTS: dict[str, object] = {
    "topk": DEFAULT_TOPK,
    "sat-array": DEFAULT_SAT_ARRAY,
    "sore": DEFAULT_SORE,
    "attention-core": DEFAULT_ATTENTION_CORE,
    "weight-update": DEFAULT_WEIGHT_UPDATE,
}
"""Block name (the command line's word) to its default configuration."""

# SpAtten's workload sizes (spatten.md 3).

GPT2_PROMPT = 992
"""Prompt tokens already in the KV cache when GPT-2 generation runs (spatten.md 3)."""
GPT2_GENERATED = 32
"""Generated tokens of a GPT-2 run (spatten.md 3)."""
BERT_SEQ_LEN = 128
"""Default BERT sentence length. SpAtten uses each task's average dev-set sentence length, but
the reference (spatten.md 3) gives no per-task values, so this is only a default: 128 is the
usual maximum sequence length of GLUE fine-tuning, not a measured average."""
SPATTEN_BERT_POLICY: dict[str, object] = {"token_keep": (0.8, 0.5), "head_keep": (0.9, 0.8),
                                          "msb_bits": 8, "quantize_v": True}
"""SpAtten's settings for the default BERT runs (``sparsa simulate spatten --model bert-base``;
keyword arguments of :class:`sparsa.models.algorithms.spatten_pruning.SpattenPolicy`). An
assumption: the paper gives no per-task ratios (spatten.md 3). Token keep 0.8 falling to 0.5
keeps about 0.71 of the keys over BERT-Base's layers (1.4x fewer; the paper's 1.9x token + local
V average over all 30 benchmarks, with 3.8x on its 8 GPT-2 ones, leaves 1.2x (arithmetic) to
1.5x (geometric) for BERT, derived); head keep 0.9 falling to 0.8 about 1.1x fewer heads (the
paper's average, spatten.md 1.2); K and V quantized statically to the 8-bit MSB plane (8 + 4 is
one of the common settings, and BERT uses static quantization only, spatten.md 1.4); no local V
pruning (in summarization K and V are loaded once per head, so it saves no DRAM access)."""

# The resource model's grid (sparsa.sim.network.resources): small configurations, synthesised
# one at a time by `sparsa synth fit` (about 13 minutes with Yosys 0.23 on two cores).

RESOURCE_FIT_GRID: tuple[object, ...] = (
    # PE arrays: per format at least two sizes (fixed and per-PE terms), square and not (the
    # edge and skew terms), one with groups of 16 (the per-PE register bits), and a 3-stage
    # FP32 adder at two sizes (its per-PE and per-column terms).
    *(_sat_array(name, "2:4 2:8") for name in (
        "r2c2-int8", "r2c4-int8", "r4c2-int8", "r4c4-int8", "r1c1-int16", "r2c2-int16",
        "r2c4-int16", "r1c2-fp16", "r2c2-fp16", "r1c2-bf16", "r2c2-bf16", "r1c2-fp16-a3",
        "r2c2-fp16-a3")),
    _sat_array("r2c4-int8", "2:4 1:16"),
    # SOREs: every M up to 8 and 2 to 8 lanes in INT8, and one SORE of each other kind of
    # magnitude (16-bit integers; FP16, as BF16, 16-bit patterns).
    *(SoreConfig(lanes=lanes, m=m, dtype=NumberFormat(dtype)) for lanes, m, dtype in (
        (2, 2, "int8"), (4, 4, "int8"), (8, 4, "int8"), (8, 8, "int8"), (4, 4, "fp16"),
        (4, 4, "int16"))),
    # Top-k engines: comparators, lanes and capacity varied (the last one's buffers in block
    # RAM, the others' in LUT-RAM).
    *(_topk(name) for name in ("p8w16s-c4-lfsr-n128", "p8w16s-c4-lfsr-n256",
                                "p8w16s-c8-lfsr-n256", "p8w16s-c16-lfsr-n256",
                                "p16w16s-c4-lfsr-n256", "p8w8s-c8-lfsr-n1024")),
    # Weight-update engines of 1 and 2 lanes (the default pipeline, FP16).
    *(WeightUpdateConfig(lanes=lanes) for lanes in (1, 2)),
    # Systems (2 x 2 INT8 arrays) on 64- and 128-bit words with buffers of different depths.
    SatSystemConfig(array=SatArrayConfig(rows=2, cols=2, max_reduction=16),
                    axi=AxiConfig(data_width=64, addr_width=32, max_burst=16, max_reads=4),
                    a_rows=64, b_rows=64, out_rows=16, program_depth=256, dram_bytes=1 << 20),
    SatSystemConfig(array=SatArrayConfig(rows=2, cols=2, max_reduction=64),
                    axi=AxiConfig(data_width=128, addr_width=32, max_burst=16),
                    a_rows=1024, b_rows=512, out_rows=256, program_depth=1024,
                    dram_bytes=1 << 24),
)
"""The configurations whose synthesis the resource model is fitted to (none of them
:data:`RESOURCE_CHECK_CONFIG`)."""
RESOURCE_CHECK_CONFIG = DEFAULT_SAT_ARRAY
"""The larger configuration the resource model is validated on (the default 8 x 8 INT8 array
with 2:4 and 2:8, not in the grid): the model must predict its LUTs, FFs and DSPs within 10%."""

# Sizes and seeds of the benchmarks and of `sparsa verify`.

TOPK_BENCH_TRIALS = 100
"""Random requests per point of the top-k parallelism sweep."""
TOPK_BENCH_SEED = 1
"""Seed of the top-k sweep's random requests."""
SAT_BENCH_SEED = 1
"""Seed of the random operands of the SAT array's layer bench."""
VERIFY_CASES = 1000
"""Seeded cases of one ``sparsa verify`` run."""
VERIFY_SEED = 1
"""Seed of the case plan and the stalls of ``sparsa verify``."""
VERIFY_BACKENDS = ("amaranth", "verilator")
"""Simulators ``sparsa verify`` runs on: amaranth.sim, or the generated Verilog on Verilator."""
VERIFY_BACKEND = "verilator"
"""Simulator of ``sparsa verify`` by default."""
VERIFY_JOBS = 1
"""Processes of ``sparsa verify``."""
RTL_TEST_CONFIGS = {
    "topk": TOPK_CONFIGS,
    "sore": SORE_CONFIGS,
    "sat-array": SAT_ARRAY_CONFIGS,
    "attention-core": ATTENTION_CONFIGS,
    "weight-update": WEIGHT_UPDATE_CONFIGS,
}
"""Every block's named RTL test configurations (``sparsa verify BLOCK --preset NAME``)."""
REPORT_RTL_CHECKS = {
    "topk": (TopKConfig(capacity=128), 100, 300),
    "sore": (SoreConfig(lanes=8, m=8), 100, 300),
    "sat-array": (SAT_ARRAY_CONFIGS["r8c8-int8"], 100, 300),
    "attention-core": (ATTENTION_CONFIGS["d32-m64-n64"], 40, 150),
}
"""The report's amaranth.sim checks: per block, the configuration (the default's number formats
at sizes that simulate quickly) and the cases of a quick and of a full report."""
