"""Tests of the attention core's configuration and bit-exact golden functions.

Every random case is drawn from ``random.Random(seed)`` (tensors from a ``torch.Generator``
seeded alike); a failure message names the seed.
"""

import math
import random
from fractions import Fraction

import pytest
import torch

from sparsa.config.attention import DIMS, LSB_BITS, MSB_BITS, AttentionConfig
from sparsa.models.golden.attention import (
    attend_one_query,
    exp_lut,
    fixed_softmax,
    head_importance_update,
    local_v_prune,
    msb_only,
    prob_times_v,
    qk_scores,
    quantize,
    reassemble,
    requant_decision,
    softmax_error_bound,
    split_planes,
    token_importance_update,
)
from sparsa.models.golden.topk import topk

CONFIG = AttentionConfig()
# A few formats besides the default: coarse and fine tables, wide and narrow probabilities.
SOFTMAX_CONFIGS = [
    CONFIG,
    AttentionConfig(exp_lut_bits=4, exp_frac_bits=12, prob_bits=8, max_tokens=1024),
    AttentionConfig(
        score_bits=16,
        score_frac_bits=8,
        exp_lut_bits=10,
        exp_frac_bits=24,
        log2e_frac_bits=24,
        prob_bits=16,
    ),
    AttentionConfig(score_bits=8, score_frac_bits=2, log2e_frac_bits=12, prob_bits=6),
]


def signed_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def random_ints(gen: torch.Generator, lo: int, hi: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randint(lo, hi + 1, shape, generator=gen, dtype=torch.int64)


def random_query(
    seed: int, max_keys: int
) -> tuple[random.Random, torch.Generator, AttentionConfig, torch.Tensor, torch.Tensor]:
    """A seeded case: its generators, a config of random D and MSB setting, and a
    full-precision query and 1 to ``max_keys`` keys."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    config = CONFIG.replace(dim=rng.choice(DIMS), msb_bits=rng.choice(MSB_BITS))
    lo, hi = signed_range(config.total_bits)
    n = rng.randint(1, max_keys)
    q = random_ints(gen, lo, hi, (config.dim,))
    k = random_ints(gen, lo, hi, (n, config.dim))
    return rng, gen, config, q, k


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dim": 48}, r"dim must be one of \(32, 64, 128\), not 48"),
        ({"msb_bits": 5}, r"msb_bits must be one of \(4, 6, 8, 10, 12\), not 5"),
        ({"lsb_bits": 3}, r"lsb_bits must be 4, not 3"),
        ({"score_bits": 17}, r"score_bits must be an integer from 8 to 16, not 17"),
        ({"score_frac_bits": 12}, r"score_frac_bits must be an integer from 0 to 11, not 12"),
        ({"exp_lut_bits": 1}, r"exp_lut_bits must be an integer from 2 to 12, not 1"),
        ({"log2e_frac_bits": 7}, r"log2e_frac_bits must be an integer from 8 to 24, not 7"),
        ({"prob_bits": True}, r"prob_bits must be an integer from 4 to 16, not True"),
        ({"out_bits": 30}, r"out_bits must be an integer from 8 to 24, not 30"),
        (
            {"msb_bits": 4, "prob_bits": 4, "out_bits": 14},
            r"out_bits must be an integer from 8 to 13, not 14",
        ),
        ({"max_tokens": 0}, r"max_tokens must be an integer from 1 to 65535, not 0"),
        ({"exp_frac_bits": 8, "max_tokens": 200}, r"exp_frac_bits = 8 is too few"),
    ],
)
def test_config_rejects_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CONFIG.replace(**changes)


def test_config_widths() -> None:
    c = AttentionConfig(dim=64, msb_bits=6)
    assert c.total_bits == 10
    assert c.qk_acc_width == 26
    assert c.prob_width == 13
    assert c.out_shift == 12 + 10 + 1 - 12
    assert c.log2e_fixed == round(math.log2(math.e) * 2**20)
    assert c.exp_sum_width == 21 + 10
    with pytest.raises(AttributeError):
        c.dim = 32  # type: ignore[misc]


# --- quantization and planes ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_quantize_is_symmetric_and_within_half_a_step(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    bits = random.Random(seed).choice([8, 10, 12, 14, 16])
    x = torch.randn(300, generator=gen, dtype=torch.float64) * 3
    q, scale = quantize(x, bits)
    qmax = (1 << (bits - 1)) - 1
    assert int(q.abs().max()) == qmax, f"seed {seed}"
    assert float((q.double() * scale - x).abs().max()) <= scale / 2 * (1 + 1e-12), f"seed {seed}"
    q2, _ = quantize(x, bits, scale=scale / 4)  # saturates symmetrically
    assert int(q2.min()) == -qmax and int(q2.max()) == qmax, f"seed {seed}"


def test_quantize_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"bits must be an integer from 2 to 32, not 1"):
        quantize(torch.zeros(3), 1)
    with pytest.raises(ValueError, match=r"scale must be a finite number > 0, not -1.0"):
        quantize(torch.zeros(3), 8, scale=-1.0)
    q, scale = quantize(torch.zeros(3), 8)
    assert q.tolist() == [0, 0, 0] and scale == 1.0


@pytest.mark.parametrize("msb_bits", MSB_BITS)
def test_planes_round_trip_every_code(msb_bits: int) -> None:
    config = CONFIG.replace(msb_bits=msb_bits)
    lo, hi = signed_range(config.total_bits)
    q = torch.arange(lo, hi + 1)
    msb, lsb = split_planes(q, config)
    assert (
        int(msb.min()) == signed_range(msb_bits)[0] and int(msb.max()) == signed_range(msb_bits)[1]
    )
    assert int(lsb.min()) == 0 and int(lsb.max()) == (1 << LSB_BITS) - 1
    assert torch.equal(reassemble(msb, lsb, config), q)
    assert torch.equal(msb_only(msb, config), q - lsb)  # q rounded down to a multiple of 16
    assert torch.equal(msb_only(msb, config), torch.div(q, 16, rounding_mode="floor") * 16)


def test_planes_reject_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"q: value 512 at index 1 is outside the 10-bit signed"):
        split_planes(torch.tensor([0, 512]), CONFIG)
    with pytest.raises(ValueError, match=r"lsb: value 16 at index 0 .* range 0..15"):
        reassemble(torch.tensor([0]), torch.tensor([16]), CONFIG)
    with pytest.raises(ValueError, match=r"msb: value -33 at index 0 .* range -32..31"):
        msb_only(torch.tensor([-33]), CONFIG)


# --- Q x K ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_qk_scores_match_python_integers(seed: int) -> None:
    rng, _, config, q, k = random_query(seed, 40)
    if rng.random() < 0.3:  # extremes: the largest dot products
        lo, _ = signed_range(config.total_bits)
        q[:] = lo
        k[0] = lo
    shift = rng.randint(0, config.qk_acc_width)
    got = qk_scores(q, k, config, score_shift=shift)
    smin, smax = signed_range(config.score_bits)
    for i in range(len(k)):
        dot = sum(int(a) * int(b) for a, b in zip(q, k[i], strict=True))
        assert -(1 << (config.qk_acc_width - 1)) <= dot < 1 << (config.qk_acc_width - 1)
        want = min(max(math.floor(dot / 2**shift + 0.5), smin), smax)
        assert int(got[i]) == want, f"seed {seed}: key {i}, dot {dot}, shift {shift}"


def test_qk_scores_reject_bad_arguments() -> None:
    q = torch.zeros(64, dtype=torch.int64)
    k = torch.zeros(3, 64, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"score_shift must be an integer from 0 to 26, not 27"):
        qk_scores(q, k, CONFIG, score_shift=27)
    with pytest.raises(ValueError, match=r"k_rows must have shape \(n, 64\), got \(3, 32\)"):
        qk_scores(q, k[:, :32], CONFIG, score_shift=0)
    with pytest.raises(ValueError, match=r"q must have 64 elements, got 32"):
        qk_scores(q[:32], k, CONFIG, score_shift=0)


# --- softmax -------------------------------------------------------------------------------


def reference_softmax(scores: list[int], config: AttentionConfig) -> list[int]:
    """The steps of :func:`fixed_softmax`'s docstring on Python integers, one term at a time."""
    c = config
    m = max(scores)
    shift = c.score_frac_bits + c.log2e_frac_bits - c.exp_lut_bits
    terms = []
    for s in scores:
        y = ((m - s) * c.log2e_fixed + (1 << shift >> 1)) >> shift
        e, f = min(y >> c.exp_lut_bits, c.exp_frac_bits + 2), y % (1 << c.exp_lut_bits)
        lut = math.floor(2.0 ** (c.exp_frac_bits - f / 2**c.exp_lut_bits) + 0.5)
        terms.append((lut + (1 << e >> 1)) >> e)
    total = sum(terms)
    return [math.floor(Fraction(x * 2**c.prob_bits, total) + Fraction(1, 2)) for x in terms]


def random_scores(
    rng: random.Random, gen: torch.Generator, config: AttentionConfig
) -> tuple[torch.Tensor, str]:
    """n from 1 to max_tokens scores of one of several shapes, and the shape's name."""
    lo, hi = signed_range(config.score_bits)
    n = rng.choice(
        [1, 2, 3, rng.randint(1, 64), rng.randint(1, config.max_tokens), config.max_tokens]
    )
    kind = rng.choice(["uniform", "flat", "peaked", "extreme", "ties", "gaussian"])
    if kind == "uniform":
        s = random_ints(gen, lo, hi, (n,))
    elif kind == "flat":  # logits within about 1 of each other
        base = rng.randint(lo, hi - (1 << config.score_frac_bits))
        s = random_ints(gen, base, base + (1 << config.score_frac_bits), (n,))
    elif kind == "peaked":  # one score far above the rest
        s = random_ints(gen, lo, lo + (hi - lo) // 2, (n,))
        s[rng.randrange(n)] = rng.randint(hi - 64, hi)
    elif kind == "extreme":
        s = torch.tensor([rng.choice([lo, hi, hi - 1, lo + 1]) for _ in range(n)])
    elif kind == "ties":
        pool = [rng.randint(lo, hi) for _ in range(rng.randint(1, 4))]
        s = torch.tensor([rng.choice(pool) for _ in range(n)])
    else:  # logits of standard deviation 1 to 8
        sigma = rng.uniform(1, 8) * 2**config.score_frac_bits
        s = (torch.randn(n, generator=gen, dtype=torch.float64) * sigma).round()
        s = s.clamp(lo, hi).to(torch.int64)
    return s, kind


@pytest.mark.parametrize("config_index", range(len(SOFTMAX_CONFIGS)))
def test_fixed_softmax_matches_its_specification(config_index: int) -> None:
    config = SOFTMAX_CONFIGS[config_index]
    for seed in range(60):
        rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed)
        s, kind = random_scores(rng, gen, config)
        s = s[:40]
        got = fixed_softmax(s, config).tolist()
        assert got == reference_softmax(s.tolist(), config), f"seed {seed} ({kind})"


@pytest.mark.parametrize("config_index", range(len(SOFTMAX_CONFIGS)))
def test_fixed_softmax_error_bound_and_exact_properties(config_index: int) -> None:
    config = SOFTMAX_CONFIGS[config_index]
    ulp = 2.0**-config.prob_bits
    for seed in range(150):
        rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed)
        s, kind = random_scores(rng, gen, config)
        n = s.numel()
        what = f"seed {seed} ({kind}, n = {n}, config {config_index})"
        p = fixed_softmax(s, config)
        exact = torch.softmax(s.double() / 2**config.score_frac_bits, dim=0)
        err = (p.double() * ulp - exact).abs()
        bound = softmax_error_bound(exact, config)
        assert bool((err <= bound).all()), f"{what}: error {float((err - bound).max())} over"
        r = config.exp_relative_error
        a = 2.0**-config.exp_frac_bits
        uniform = ulp / 2 + (r / 2 + n * a) / (1 - r - (n - 1) * a)
        assert float(bound.max()) <= uniform, what
        # exact properties
        assert int(p.min()) >= 0 and int(p.max()) <= 1 << config.prob_bits, what
        assert 2 * abs(int(p.sum()) - (1 << config.prob_bits)) <= n, what
        order = torch.argsort(s)
        assert bool((p[order].diff() >= 0).all()), f"{what}: not monotonic"
        assert int(p[s == s.max()].min()) == int(p.max()), what
        for value in s.unique():
            assert p[s == value].unique().numel() == 1, f"{what}: tie at {int(value)}"


def test_fixed_softmax_special_cases() -> None:
    one = 1 << CONFIG.prob_bits
    assert fixed_softmax(torch.tensor([-2048]), CONFIG).tolist() == [one]
    assert fixed_softmax(torch.tensor([5] * 8), CONFIG).tolist() == [one // 8] * 8
    assert fixed_softmax(torch.tensor([2047, -2048]), CONFIG).tolist() == [one, 0]
    lut = exp_lut(CONFIG)
    assert lut.numel() == 1 << CONFIG.exp_lut_bits
    assert int(lut[0]) == 1 << CONFIG.exp_frac_bits
    assert int(lut[-1]) > 1 << (CONFIG.exp_frac_bits - 1)
    assert bool((lut.diff() <= 0).all())
    with pytest.raises(ValueError, match=r"n = 0 keys is outside the range 1..1024"):
        fixed_softmax(torch.zeros(0, dtype=torch.int64), CONFIG)
    with pytest.raises(ValueError, match=r"n = 1025 keys is outside the range 1..1024"):
        fixed_softmax(torch.zeros(1025, dtype=torch.int64), CONFIG)
    with pytest.raises(ValueError, match=r"scores: value 2048 .* range -2048..2047"):
        fixed_softmax(torch.tensor([2048]), CONFIG)


# --- decision, pruning, prob x V, importance -----------------------------------------------


def test_requant_decision() -> None:
    p = torch.tensor([400, 409, 100])
    assert requant_decision(p, 410, CONFIG)
    assert not requant_decision(p, 409, CONFIG)
    assert not requant_decision(p, 0, CONFIG)
    assert requant_decision(torch.tensor([4095]), 4096, CONFIG)
    for bad in (-1, 4097, 0.1, True):
        with pytest.raises(
            ValueError,
            match=r"threshold must be an integer from 0 to 4096 \(0 to 1 "
            r"with 12 fractional bits\), not",
        ):
            requant_decision(p, bad, CONFIG)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"probs: value 8192 at index 0 .* range 0..8191"):
        requant_decision(torch.tensor([8192]), 1, CONFIG)


@pytest.mark.parametrize("seed", range(20))
def test_local_v_prune_is_topk_with_earliest_ties(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 50)
    p = torch.tensor([rng.choice([0, 7, 7, 100, 4096]) for _ in range(n)])
    keep = rng.randint(0, n)
    got = local_v_prune(p, keep, CONFIG)
    assert torch.equal(got, topk(p, keep, width=13, signed=False)[0]), f"seed {seed}"
    ranked = sorted(range(n), key=lambda i: (-int(p[i]), i))[:keep]
    assert got.tolist() == sorted(ranked), f"seed {seed}"


@pytest.mark.parametrize("seed", range(20))
def test_prob_times_v_matches_python_integers(seed: int) -> None:
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    config = CONFIG.replace(msb_bits=rng.choice(MSB_BITS), dim=32)
    lo, hi = signed_range(config.total_bits)
    n = rng.randint(1, 30)
    p = fixed_softmax(random_ints(gen, -200, 200, (n,)), config)
    v = random_ints(gen, lo, hi, (n, config.dim))
    kept = local_v_prune(p, rng.randint(0, n), config)
    got = prob_times_v(p, v, kept, config)
    omin, omax = signed_range(config.out_bits)
    for d in range(config.dim):
        acc = sum(int(p[i]) * int(v[i, d]) for i in kept.tolist())
        assert abs(acc) < 1 << (config.pv_acc_width - 1), f"seed {seed}"
        want = min(max(math.floor(acc / 2**config.out_shift + 0.5), omin), omax)
        assert int(got[d]) == want, f"seed {seed}: element {d}"


def test_prob_times_v_saturates_and_validates() -> None:
    config = CONFIG.replace(dim=32, out_bits=8)  # out_shift = 15: output range +-1024 V units
    p = torch.tensor([4096, 4096])
    v = torch.full((2, 32), 511)
    assert prob_times_v(p, v, torch.tensor([0, 1]), config).tolist() == [127] * 32
    assert prob_times_v(p, -v, torch.tensor([0, 1]), config).tolist() == [-128] * 32
    assert prob_times_v(p, v, torch.tensor([0]), config).tolist() == [64] * 32
    with pytest.raises(ValueError, match=r"kept must be distinct indices in the range 0..1"):
        prob_times_v(p, v, torch.tensor([0, 0]), config)
    with pytest.raises(ValueError, match=r"v_rows has 2 rows for 1 probabilities"):
        prob_times_v(p[:1], v, torch.tensor([0]), config)


def test_importance_accumulators_saturate() -> None:
    config = CONFIG.replace(token_importance_bits=13, head_importance_bits=10)
    acc = torch.tensor([0, 8000, 8191])
    p = torch.tensor([100, 4096, 1])
    assert token_importance_update(acc, p, config).tolist() == [100, 8191, 8191]
    out = torch.tensor([-5, 7] + [0] * 62)
    assert head_importance_update(3, out, config) == 15
    assert head_importance_update(1020, out, config) == 1023
    with pytest.raises(ValueError, match=r"acc: value 8192 at index 0 .* range 0..8191"):
        token_importance_update(torch.tensor([8192]), torch.tensor([0]), config)
    with pytest.raises(
        ValueError,
        match=r"head importance acc must be an integer in the range "
        r"0..1023, not 1024",
    ):
        head_importance_update(1024, out, config)


# --- the composed flow ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(24))
def test_attend_one_query_composes_the_steps(seed: int) -> None:
    rng, gen, config, q, k = random_query(seed, 64)
    n = len(k)
    v = random_ints(gen, *signed_range(config.total_bits), (n, config.dim))
    k_msb, k_lsb = split_planes(k, config)
    threshold = rng.choice([0, 1 << config.prob_bits, rng.randint(0, 1 << config.prob_bits)])
    keep = rng.randint(0, n)
    shift = rng.randint(config.qk_acc_width - config.score_bits - 2, config.qk_acc_width - 4)
    acc = random_ints(gen, 0, 1000, (n,))
    res = attend_one_query(
        q,
        k_msb,
        k_lsb,
        v,
        config,
        threshold=threshold,
        v_keep=keep,
        score_shift=shift,
        token_importance=acc,
        head_importance=7,
    )
    what = f"seed {seed}"
    msb_scores = qk_scores(q, msb_only(k_msb, config), config, score_shift=shift)
    assert torch.equal(res.msb_scores, msb_scores), what
    assert torch.equal(res.msb_probs, fixed_softmax(msb_scores, config)), what
    assert res.requant == (int(res.msb_probs.max()) < threshold), what
    final_k = k if res.requant else msb_only(k_msb, config)
    assert torch.equal(res.scores, qk_scores(q, final_k, config, score_shift=shift)), what
    assert torch.equal(res.probs, fixed_softmax(res.scores, config)), what
    assert res.k_lsb_rows.tolist() == (list(range(n)) if res.requant else []), what
    assert torch.equal(res.v_rows, local_v_prune(res.probs, keep, config)), what
    assert res.v_rows.numel() == keep, what
    assert torch.equal(res.out, prob_times_v(res.probs, v, res.v_rows, config)), what
    assert torch.equal(res.token_importance, acc + res.probs), what
    assert res.head_importance == 7 + int(res.out.abs().sum()), what
    # The output reads only the fetched V rows.
    v_other = v.clone()
    unfetched = torch.ones(n, dtype=torch.bool)
    unfetched[res.v_rows] = False
    v_other[unfetched] = 0
    assert torch.equal(prob_times_v(res.probs, v_other, res.v_rows, config), res.out), what


def test_attend_one_query_threshold_extremes() -> None:
    gen = torch.Generator().manual_seed(0)
    q = random_ints(gen, -512, 511, (64,))
    k_msb = random_ints(gen, -32, 31, (10, 64))
    k_lsb = random_ints(gen, 0, 15, (10, 64))
    v = random_ints(gen, -512, 511, (10, 64))
    never = attend_one_query(q, k_msb, k_lsb, v, CONFIG, threshold=0, v_keep=3, score_shift=14)
    assert not never.requant and never.k_lsb_rows.numel() == 0
    assert never.token_importance.tolist() == never.probs.tolist()
    always = attend_one_query(
        q, k_msb, k_lsb, v, CONFIG, threshold=1 << 12, v_keep=3, score_shift=14
    )
    assert always.requant and always.k_lsb_rows.tolist() == list(range(10))
