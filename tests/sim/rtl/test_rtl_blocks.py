"""Every block's generated Verilog against its golden model and its cycle model, on Verilator.

One test per block and configuration of :data:`sparsa.config.presets.RTL_TEST_CONFIGS`: the
harness builds (or reuses) the Verilator simulator and runs the block's seeded cases through
the same code as ``sparsa verify BLOCK`` (:data:`sparsa.sim.rtl.blocks.BLOCKS`), then checks
what they covered:

- topk: :data:`CASES` requests (directed corner cases, then random batches, half of them
  stalled).
- sore: commands (every N with FF, BP and both copies, every tile style at the smallest and
  largest N, every kind of rejected command, then random batches, every other one with idle
  sources and back-pressure).
- sat-array: commands, at least :data:`MIN_TILES` GEMM tiles and their rejects: FF, BP and WU
  GEMMs on every pattern and dense, both dataflows, back to back in mixed order, edge tiles, the
  accumulators' extremes and all-zero groups, junk activation lanes, every kind of rejected
  command, stalls and back-pressure (:mod:`sparsa.sim.rtl.sat_array.stimulus`); in the batches
  without stalls every command's edges are checked against the cycle model's timeline
  (:mod:`sparsa.sim.rtl.sat_array.block`).
- attention-core: commands (directed corner cases, the memory latencies the cycle model covers,
  then random batches, half of them with idle sources, a slower memory and back-pressure), at
  least :data:`MIN_GOOD_QUERIES` of them (head, query) cases the core must accept (peaked and
  flat distributions, so both requant paths; ties, extremes, every MSB setting), rejected
  commands of every kind. Every answer, every requested K LSB and V row and, in batches without
  stalls, every command's ``cmd`` and ``out`` edges are checked; more than a quarter of the
  commands must be taken before the previous one's answer (the pipeline overlaps them).
- weight-update: steps (clean steps of whole and partial beats, empty steps, every Inf and NaN
  gradient skipping a step, Inf and NaN in padding lanes, the loss scale driven to both bounds,
  special weights, momenta and hyper-parameters, pruned and kept masks, then random batches,
  every other one stalled); every status and output lane and, without stalls, every step's
  edges are checked.

Override a block's number of cases with its variable of :data:`CASES` and the seed with
``SPARSA_RTL_SEED``; a failure leaves its replay file in ``build/verify/`` (``sparsa verify
BLOCK --replay FILE`` reruns it). A second test runs one plan of each block on both backends.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sparsa.config.presets import RTL_TEST_CONFIGS
from sparsa.sim.blocks.attention_core import MAX_MEMORY_LATENCY
from sparsa.sim.rtl.attention_core.stimulus import DIRECTED_LATENCIES, SLOW_MEMORY
from sparsa.sim.rtl.blocks import BLOCKS
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.sat_array.gemms import pattern_names
from sparsa.sim.rtl.sat_array.stimulus import rejects
from sparsa.sim.rtl.verify import VerifyResult, verify

CASES = {
    "topk": ("SPARSA_RTL_REQUESTS", 600),
    "sore": ("SPARSA_RTL_COMMANDS", 300),
    "sat-array": ("SPARSA_RTL_CASES", 450),  # commands: at least 400 GEMM tiles and rejects
    "attention-core": ("SPARSA_RTL_QUERIES", 290),  # rejected commands included
    "weight-update": ("SPARSA_RTL_STEPS", 300),
}
"""Per block: the variable that overrides its cases per configuration, and their default."""
MIN_SORE_GROUPS = 500  # per configuration: over 2,000 in all
MIN_TILES = 400
MIN_SAT_CYCLE_CHECKS = 100  # per configuration
MIN_GOOD_QUERIES = 250  # (head, query) cases per configuration: 1,000 in all
MIN_CORE_CYCLE_CHECKS = 50  # per configuration: over 200 in all
BOTH_BACKENDS = {
    "topk": ("p8w8u-c1-middle-n64", 150),
    "sat-array": ("r5c3-int8", 170),
    "sore": ("l12m4-int16", 150),
    "attention-core": ("d32-m64-n64", 100),  # stalls and a slow memory included
    "weight-update": ("l3-bf16-m1a1-g2-s123-124-126", 110),
}
"""Per block: the configuration and the cases of the run on both backends."""


def _check(result: VerifyResult) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


def _topk_coverage(result: VerifyResult, config: Any, cases: int) -> None:
    assert result.scoreboard.cases >= cases and result.scoreboard.cycle_checks > cases // 3
    assert result.scoreboard.counts["stalled cases"] > 0


def _sore_coverage(result: VerifyResult, config: Any, cases: int) -> None:
    scoreboard = result.scoreboard
    counts = scoreboard.counts
    assert scoreboard.cases >= cases and counts["rejected commands"] > 0
    assert counts["stalled cases"] > 0 and scoreboard.cycle_checks >= cases // 3
    assert {f"N={n}" for n in range(1, config.m)} <= set(counts)
    assert {"copies FF", "copies BP", "copies FF+BP"} <= set(counts)
    if cases >= CASES["sore"][1]:
        assert counts["groups checked"] >= MIN_SORE_GROUPS


def _sat_array_coverage(result: VerifyResult, config: Any, cases: int) -> None:
    counts = result.scoreboard.counts
    assert result.scoreboard.cases >= cases
    assert counts["tiles"] >= min(MIN_TILES, cases * 8 // 10) and counts["stalled cases"] > 0
    assert result.scoreboard.cycle_checks >= min(MIN_SAT_CYCLE_CHECKS, cases // 4)
    assert {f"reject: {r.reason}" for r in rejects(config)} <= set(counts)
    combos = [k for k in counts if k.startswith("gemm ")]
    assert len(combos) == 2 * (2 * len(pattern_names(config)) + 1)  # FF, BP: all; WU: dense
    assert (counts.get("overlapped commands", 0) > 0) == config.interleave


def _attention_core_coverage(result: VerifyResult, config: Any, cases: int) -> None:
    s = result.scoreboard
    good = s.cases - s.counts["rejected"]
    assert s.cases >= cases and s.counts["rejected"] > 0, result.line()
    assert good >= min(MIN_GOOD_QUERIES, cases * 4 // 5), result.line()
    assert 0 < s.counts["requantized"] < good, f"both requant paths must occur: {result.line()}"
    assert s.cycle_checks >= min(MIN_CORE_CYCLE_CHECKS, cases // 4), result.line()
    assert s.counts["stalled cases"] > 0, result.line()
    assert s.counts["overlapped commands"] > cases // 4, f"no pipelining: {result.line()}"
    latencies = {lat for lat in range(1, SLOW_MEMORY + 1) if s.counts.get(f"memory latency {lat}")}
    # The directed latencies, and at least half of the model's range (random batches).
    assert latencies >= {1, *DIRECTED_LATENCIES}, f"{latencies}: {result.line()}"
    covered = latencies & set(range(1, MAX_MEMORY_LATENCY + 1))
    assert len(covered) >= MAX_MEMORY_LATENCY // 2, f"{latencies}: {result.line()}"
    assert max(latencies) > MAX_MEMORY_LATENCY, f"no slow memory: {result.line()}"


def _weight_update_coverage(result: VerifyResult, config: Any, cases: int) -> None:
    s = result.scoreboard
    counts = s.counts
    assert s.cases >= cases and s.cycle_checks >= cases // 3, result.line()
    for what in ("skipped steps", "scale halvings", "skips at the minimum scale (held)",
                 "scale growths", "growths at the maximum scale (held)", "empty steps",
                 "applied steps", "pruned elements", "stalled cases"):
        assert counts.get(what, 0) > 0, f"no {what}: {result.line()}"
    if config.lanes > 1:
        assert counts["clean steps with Inf or NaN padding"] > 0, result.line()


COVERAGE: dict[str, Callable[[VerifyResult, Any, int], None]] = {
    "topk": _topk_coverage,
    "sore": _sore_coverage,
    "sat-array": _sat_array_coverage,
    "attention-core": _attention_core_coverage,
    "weight-update": _weight_update_coverage,
}
"""Per block: what a Verilator run of ``cases`` cases must have covered."""


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize(
    ("block", "name"),
    [(block, name) for block, configs in RTL_TEST_CONFIGS.items() for name in configs],
)
def test_block_rtl(block: str, name: str) -> None:
    config = RTL_TEST_CONFIGS[block][name]
    variable, default = CASES[block]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    cases = int(os.environ.get(variable, default))
    result = verify(block, config, cases=cases, seed=seed, backend="verilator",
                    replay_out=Path("build/verify") / f"{block}-{name}-replay.json")
    print(result.line())
    _check(result)
    COVERAGE[block](result, config, cases)


@pytest.mark.rtl
@pytest.mark.parametrize("block", list(BLOCKS))
def test_both_backends_take_the_same_cycles(block: str) -> None:
    # One plan, stalls included, on amaranth.sim and on Verilator: the same beats at the
    # same cycles (the digest covers every output beat's payload and cycle).
    name, cases = BOTH_BACKENDS[block]
    config, seed = RTL_TEST_CONFIGS[block][name], 5
    runs = [verify(block, config, cases=cases, seed=seed, backend=b)
            for b in ("amaranth", "verilator")]
    for result in runs:
        _check(result)
    amaranth, verilator = (r.scoreboard for r in runs)
    assert amaranth.counts["stalled cases"] > 0, f"seed={seed}"
    if block == "sore":
        assert amaranth.counts["rejected commands"] > 0
    assert (amaranth.cases, amaranth.cycles, amaranth.digest) == (
        verilator.cases, verilator.cycles, verilator.digest), f"seed={seed}"
