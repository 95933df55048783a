"""The attention core's generated Verilog against the golden model and the cycle model.

One test per configuration of :data:`sparsa.config.presets.ATTENTION_CONFIGS`: the harness
builds (or reuses) the Verilator simulator and runs :data:`QUERIES` seeded commands (directed
corner cases, the memory latencies the cycle model covers, then random batches, half of them
with idle sources, a slower memory and back-pressure) through the same code as ``sparsa verify
attention-core``: at least :data:`MIN_GOOD` of them (head, query) cases the core must accept
(peaked and flat distributions, so both requant paths; ties, extremes, every MSB setting),
rejected commands of every kind. Every answer, every requested K LSB and V row and, in batches
without stalls, every command's cycles are checked. Override with ``SPARSA_RTL_QUERIES`` and
``SPARSA_RTL_SEED``; a failure leaves its replay file in ``build/verify/`` (``sparsa verify
attention-core --replay FILE`` reruns it).
"""

import os
from pathlib import Path

import pytest

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.presets import ATTENTION_CONFIGS
from sparsa.sim.blocks.attention_core import MAX_MEMORY_LATENCY
from sparsa.sim.rtl.attention_core.stimulus import SLOW_MEMORY
from sparsa.sim.rtl.configs import default_seed
from sparsa.sim.rtl.verify import load_replay, verify

QUERIES = 290  # per configuration, rejected commands included
MIN_GOOD = 250  # (head, query) cases per configuration: 1,000 in all
MIN_CYCLE_CHECKS = 50  # per configuration: over 200 in all
SMALL = AttentionCoreConfig(  # few keys: a quick amaranth.sim run
    attention=AttentionConfig(dim=32, msb_bits=8, prob_bits=10, max_tokens=20),
    multipliers=64,
    comparators=2,
    heads=3,
)


def _check(result) -> None:
    assert result.ok, result.line() + "\n" + "\n".join(result.scoreboard.failures)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", list(ATTENTION_CONFIGS))
def test_attention_core_rtl(name: str) -> None:
    config = ATTENTION_CONFIGS[name]
    seed = int(os.environ.get("SPARSA_RTL_SEED", default_seed(name)))
    queries = int(os.environ.get("SPARSA_RTL_QUERIES", QUERIES))
    result = verify("attention-core", config, cases=queries, seed=seed, backend="verilator",
                    replay_out=Path("build/verify") / f"attention-core-{name}-replay.json")
    print(result.line())
    _check(result)
    s = result.scoreboard
    good = s.cases - s.counts["rejected"]
    assert s.cases >= queries and s.counts["rejected"] > 0, result.line()
    assert good >= min(MIN_GOOD, queries * 4 // 5), result.line()
    assert 0 < s.counts["requantized"] < good, f"both requant paths must occur: {result.line()}"
    assert s.cycle_checks >= min(MIN_CYCLE_CHECKS, queries // 4), result.line()
    assert s.counts["stalled cases"] > 0, result.line()
    latencies = {lat for lat in range(1, SLOW_MEMORY + 1) if s.counts.get(f"memory latency {lat}")}
    assert latencies >= set(range(1, MAX_MEMORY_LATENCY + 1)), f"{latencies}: {result.line()}"
    assert max(latencies) > MAX_MEMORY_LATENCY, f"no slow memory: {result.line()}"


@pytest.mark.rtl
def test_both_backends_take_the_same_cycles() -> None:
    # One plan, stalls and a slow memory included, on amaranth.sim and on Verilator: the same
    # beats at the same cycles (the digest covers every output beat's payload and cycle).
    config, seed = ATTENTION_CONFIGS["d32-m64-n64"], 5
    runs = [verify("attention-core", config, cases=86, seed=seed, backend=b)
            for b in ("amaranth", "verilator")]
    for result in runs:
        _check(result)
    amaranth, verilator = (r.scoreboard for r in runs)
    assert amaranth.counts["stalled cases"] > 0, f"seed={seed}"
    assert (amaranth.cases, amaranth.cycles, amaranth.digest) == (
        verilator.cases, verilator.cycles, verilator.digest), f"seed={seed}"


def test_a_replay_file_reruns_the_failing_batch(tmp_path: Path) -> None:
    # A cycle model deliberately wrong at memory latency 2 makes that directed batch fail; the
    # replay file then holds it alone and runs it again (amaranth.sim, no Verilator needed).
    from sparsa.sim.rtl.attention_core import block as core_block

    right = core_block.query_cycles

    def wrong(*args, **kwargs):
        cycles = right(*args, **kwargs)
        late = kwargs["memory_latency"] == 2
        return type(cycles)(**{**vars(cycles), "output": cycles.output + late})

    config, seed = SMALL, 3
    replay = tmp_path / "replay.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_block, "query_cycles", wrong)
        result = verify("attention-core", config, cases=1, seed=seed, backend="amaranth",
                        stalls=False, replay_out=replay)
        s = result.scoreboard
        assert not result.ok and s.cycle_mismatches > 0 and not s.mismatches, f"seed={seed}"
        assert result.replay == str(replay)
        block, replayed_config, replayed_seed, batches = load_replay(replay)
        assert (block.name, replayed_config, replayed_seed) == ("attention-core", config, seed)
        assert [(b.memory_latency, b.stalls.none) for b in batches] == [(2, True)]
        again = verify("attention-core", None, cases=1, seed=0, backend="amaranth", replay=replay)
        assert again.scoreboard.cycle_mismatches == s.cycle_mismatches, f"seed={seed}"
    fixed = verify("attention-core", None, cases=1, seed=0, backend="amaranth", replay=replay)
    _check(fixed)
