"""Bit-exact golden functions of the SpAtten attention core, one (head, query) at a time.

These are what the future RTL computes, value for value, on int64 tensors. With
T = ``msb_bits + lsb_bits``, S = ``score_bits``, F = ``score_frac_bits``, L = ``log2e_frac_bits``,
G = ``exp_lut_bits``, W = ``exp_frac_bits`` and P = ``prob_bits`` of an
:class:`~sparsa.config.attention.AttentionConfig`:

* **Elements** of Q, K and V are T-bit two's-complement integers (linear symmetric quantization,
  :func:`quantize`). K and V are stored as two planes (:func:`split_planes`): the MSB plane, the
  top ``msb_bits`` bits (signed, ``q >> 4``), and the LSB plane, the low 4 bits (unsigned,
  ``q & 15``). Before an LSB fetch the core computes with :func:`msb_only` = ``msb << 4``, which
  is q rounded toward minus infinity to a multiple of 16.
* **Q x K** (:func:`qk_scores`): exact dot products in ``qk_acc_width`` = 2T + log2(D) signed
  bits (never saturates), then a run-time right shift with rounding half up and saturation to
  S-bit signed **scores** with F fractional bits (the logit is s / 2**F).
* **Softmax** (:func:`fixed_softmax`): see its docstring; **probabilities** are unsigned with
  P fractional bits in P + 1 bit words (0 to 2**P).
* **Requant decision** (:func:`requant_decision`): max probability < a run-time threshold in the
  probability format.
* **Local V pruning** (:func:`local_v_prune`): the ``keep`` largest probabilities by
  :func:`sparsa.models.golden.topk.topk` (ties to the earliest index).
* **Prob x V** (:func:`prob_times_v`): exact in ``pv_acc_width`` signed bits, then a right
  shift by ``out_shift`` with rounding half up and saturation to ``out_bits`` signed.
* **Importance** (:func:`token_importance_update`, :func:`head_importance_update`): unsigned
  accumulators that saturate at their all-ones value.

Rounding half up of x >> s means (x + 2**(s-1)) >> s with an arithmetic shift (s = 0: x).
"""

import math
from dataclasses import dataclass
from functools import cache

import torch

from sparsa.config.attention import LSB_BITS, AttentionConfig, exp_lut_table
from sparsa.config.checks import is_int
from sparsa.models.golden.topk import check_values, topk

__all__ = [
    "AttentionResult",
    "attend_one_query",
    "exp_lut",
    "fixed_softmax",
    "head_importance_update",
    "local_v_prune",
    "msb_only",
    "prob_times_v",
    "qk_scores",
    "quantize",
    "reassemble",
    "requant_decision",
    "softmax_error_bound",
    "split_planes",
    "token_importance_update",
]


def _signed_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _round_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """x >> shift rounded half up (toward plus infinity on ties)."""
    return (x + (1 << (shift - 1))) >> shift if shift else x


def _saturate(x: torch.Tensor, width: int) -> torch.Tensor:
    lo, hi = _signed_range(width)
    return x.clamp(lo, hi)


def _vector(values: torch.Tensor, name: str, *, width: int, signed: bool) -> torch.Tensor:
    try:
        return check_values(values, width=width, signed=signed)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def _rows(values: torch.Tensor, name: str, *, dim: int, width: int) -> torch.Tensor:
    t = torch.as_tensor(values)
    if t.dim() != 2 or t.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {tuple(t.shape)}")
    return _vector(t.reshape(-1), name, width=width, signed=True).reshape(t.shape)


def _n_keys(n: int, config: AttentionConfig) -> None:
    if not 1 <= n <= config.max_tokens:
        raise ValueError(f"n = {n} keys is outside the range 1..{config.max_tokens}")


def quantize(x: torch.Tensor, bits: int, scale: float | None = None) -> tuple[torch.Tensor, float]:
    """Linear symmetric quantization of a float tensor to ``bits``-bit signed integers.

    q = clamp(round(x / scale), -(2**(bits-1) - 1), 2**(bits-1) - 1), rounding half to even
    (``torch.round``); the most negative code is never produced, so the range is symmetric.

    Parameters
    ----------
    x : torch.Tensor
        Float values.
    bits : int
        Width of the result, 2 to 32 (T = msb_bits + lsb_bits for Q, K and V).
    scale : float, optional
        Real value of one step (> 0). Default: max|x| / (2**(bits-1) - 1), or 1 if x is all 0.

    Returns
    -------
    q, scale : torch.Tensor, float
        int64 codes and the scale used (x is approximately q * scale).
    """
    if not isinstance(bits, int) or not 2 <= bits <= 32:
        raise ValueError(f"bits must be an integer from 2 to 32, not {bits!r}")
    qmax = (1 << (bits - 1)) - 1
    if scale is None:
        peak = float(x.abs().max()) if x.numel() else 0.0
        scale = peak / qmax if peak > 0 else 1.0
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, not {scale!r}")
    q = torch.round(x.double() / scale).clamp(-qmax, qmax).to(torch.int64)
    return q, scale


def split_planes(q: torch.Tensor, config: AttentionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Split T-bit signed codes into the MSB plane (signed, ``q >> 4``) and LSB plane (``q & 15``).

    The MSB plane holds ``msb_bits``-bit signed values, the LSB plane 4-bit unsigned values;
    :func:`reassemble` is the exact inverse.
    """
    shape = torch.as_tensor(q).shape
    t = _vector(torch.as_tensor(q).reshape(-1), "q", width=config.total_bits, signed=True)
    t = t.reshape(shape)
    return t >> LSB_BITS, t & ((1 << LSB_BITS) - 1)


def reassemble(msb: torch.Tensor, lsb: torch.Tensor, config: AttentionConfig) -> torch.Tensor:
    """Concatenate an MSB plane and an LSB plane: msb * 16 + lsb, T-bit signed."""
    m, l_ = torch.as_tensor(msb), torch.as_tensor(lsb)
    if m.shape != l_.shape:
        raise ValueError(f"msb shape {tuple(m.shape)} differs from lsb shape {tuple(l_.shape)}")
    _vector(m.reshape(-1), "msb", width=config.msb_bits, signed=True)
    _vector(l_.reshape(-1), "lsb", width=LSB_BITS, signed=False)
    return (m.to(torch.int64) << LSB_BITS) | l_.to(torch.int64)


def msb_only(msb: torch.Tensor, config: AttentionConfig) -> torch.Tensor:
    """The T-bit value the core uses before an LSB fetch: msb << 4 (LSBs zero)."""
    m = torch.as_tensor(msb)
    _vector(m.reshape(-1), "msb", width=config.msb_bits, signed=True)
    return m.to(torch.int64) << LSB_BITS


def qk_scores(
    q: torch.Tensor, k_rows: torch.Tensor, config: AttentionConfig, *, score_shift: int
) -> torch.Tensor:
    """Scores of one query against n keys.

    Each dot product of T-bit signed elements is exact in ``qk_acc_width`` = 2T + log2(D)
    signed bits. The score is that sum shifted right by ``score_shift``, rounded half up and
    saturated to S-bit signed; it has F fractional bits. The host picks the quantization scales
    and ``score_shift`` so that s_q * s_k / sqrt(D) = 2**(score_shift - F), which folds the
    1/sqrt(D) factor into the scale as SpAtten does.

    Parameters
    ----------
    q : (D,) int64 tensor
        Full-precision query, T-bit signed.
    k_rows : (n, D) int64 tensor
        Keys, T-bit signed (full precision, or :func:`msb_only` values).
    score_shift : int
        Run-time right shift, 0 to ``qk_acc_width``.

    Returns
    -------
    (n,) int64 tensor of S-bit signed scores.
    """
    qv = _vector(q, "q", width=config.total_bits, signed=True)
    if qv.numel() != config.dim:
        raise ValueError(f"q must have {config.dim} elements, got {qv.numel()}")
    k = _rows(k_rows, "k_rows", dim=config.dim, width=config.total_bits)
    if not isinstance(score_shift, int) or not 0 <= score_shift <= config.qk_acc_width:
        raise ValueError(
            f"score_shift must be an integer from 0 to {config.qk_acc_width}, not {score_shift!r}"
        )
    dots = (k * qv).sum(dim=1)
    return _saturate(_round_shift(dots, score_shift), config.score_bits)


@cache
def exp_lut(config: AttentionConfig) -> torch.Tensor:
    """The 2**G-entry table LUT[f] = round(2**W * 2**(-f / 2**G)), rounding half up.

    Entries are unsigned W + 1 bit integers from 2**(W-1) + 1 to 2**W (LUT[0] = 2**W), each
    within 1/2 of the exact value.
    """
    return torch.tensor(exp_lut_table(config), dtype=torch.int64)


def fixed_softmax(scores: torch.Tensor, config: AttentionConfig) -> torch.Tensor:
    """Softmax of n scores in fixed point.

    Steps, all on integers:

    1. d_i = max(s) - s_i, unsigned S bits (F fractional bits).
    2. y_i = (d_i * K) >> (F + L - G) rounded half up, with K = ``log2e_fixed`` =
       round(log2(e) * 2**L): the base-2 exponent d_i * log2(e) with G fractional bits,
       unsigned, S - F + 1 + G bits.
    3. e_i = min(y_i >> G, W + 2), f_i = y_i mod 2**G; the exp term
       x_i = LUT[f_i] >> e_i rounded half up (:func:`exp_lut`), unsigned W + 1 bits with W
       fractional bits, approximating 2**-(y_i / 2**G). Clamping e at W + 2 changes nothing
       (the term is already 0 there); the maximum score's term is exactly 2**W.
    4. sum = sum of x_i, unsigned ``exp_sum_width`` bits (never overflows for n <= max_tokens),
       at least 2**W.
    5. p_i = (x_i * 2**P) / sum rounded to nearest, ties up:
       (x_i * 2**(P+1) + sum) // (2 * sum). Unsigned P + 1 bits, 0 to 2**P; no saturation.

    Error bound (:func:`softmax_error_bound`). Let p_i be the exact softmax of the logits
    s_i / 2**F. Step 2 misses d_i * log2(e) / 2**F by at most
    delta = 2**-(G+1) + (2**S - 1) * 2**-(F+L+1) (rounding plus the error <= 2**-(L+1) of K times
    d_i < 2**S / 2**F), so the real term 2**-(y_i/2**G) is within a relative r = 2**delta - 1
    of the exact e^-(d_i/2**F) (``exp_relative_error``). The table entry's rounding (<= 1/2,
    shifted) and the shift's rounding (<= 1/2) add at most a = 2**-W absolutely. So every term
    is t_i (1 + rho_i) + alpha_i with |rho_i| <= r, |alpha_i| <= a, the maximum's term being
    exactly 1, and the exact sums satisfy sum/2**W >= 1 and >= E(1 - r - (n-1) a) with E the
    exact sum of the t_i. Expanding the ratio,
    |x_i / sum - p_i| <= kappa (2 r p_i (1 - p_i) + (1 + (n - 1) p_i) a)
    with kappa = 1 / (1 - r - (n - 1) a), and the final rounding adds 2**-(P+1):

        |p_i(fixed) / 2**P - p_i| <= 2**-(P+1) + kappa (2 r p_i (1 - p_i) + (1 + (n-1) p_i) a)
                                  <= 2**-(P+1) + kappa (r / 2 + n * 2**-W).

    With the defaults (S = 12, F = 6, L = 20, G = 8, W = 20, P = 12) r = 1.376e-3 and the
    uniform bound is 3.3 ulp of 2**-12 at n = 1, 3.6 ulp at n = 64 and 7.3 ulp at n = 1024.

    Exact properties: the sum of the p_i is within n/2 ulp of 2**P (each rounding is below
    half an ulp and the x_i / sum add up to 1); s_i >= s_j implies p_i >= p_j, so ties get
    equal probabilities and the maximum score the maximum probability.

    Parameters
    ----------
    scores : (n,) int64 tensor
        S-bit signed scores with F fractional bits, 1 <= n <= max_tokens.

    Returns
    -------
    (n,) int64 tensor of probabilities, unsigned P + 1 bits with P fractional bits.
    """
    s = _vector(scores, "scores", width=config.score_bits, signed=True)
    _n_keys(s.numel(), config)
    d = s.max() - s
    shift = config.score_frac_bits + config.log2e_frac_bits - config.exp_lut_bits
    y = _round_shift(d * config.log2e_fixed, shift)
    e = (y >> config.exp_lut_bits).clamp(max=config.exp_shift_max)
    f = y & ((1 << config.exp_lut_bits) - 1)
    terms = _round_shift_each(exp_lut(config)[f], e)
    total = terms.sum()
    return (terms * (1 << (config.prob_bits + 1)) + total) // (2 * total)


def _round_shift_each(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """x >> shift rounded half up, element by element (shift >= 0)."""
    half = torch.where(shift > 0, torch.ones_like(shift) << (shift - 1).clamp(min=0), 0)
    return (x + half) >> shift


def softmax_error_bound(probs: torch.Tensor, config: AttentionConfig) -> torch.Tensor:
    """Bound on |fixed_softmax(s)_i / 2**P - softmax(s / 2**F)_i|, given the exact p_i.

    Returns 2**-(P+1) + kappa (2 r p_i (1 - p_i) + (1 + (n - 1) p_i) 2**-W), float64, per
    element; see :func:`fixed_softmax` for the derivation.
    """
    p = torch.as_tensor(probs, dtype=torch.float64)
    n = p.numel()
    _n_keys(n, config)
    r = config.exp_relative_error
    a = 2.0**-config.exp_frac_bits
    kappa = 1 / (1 - r - (n - 1) * a)
    return 2.0 ** -(config.prob_bits + 1) + kappa * (2 * r * p * (1 - p) + (1 + (n - 1) * p) * a)


def _check_probs(probs: torch.Tensor, config: AttentionConfig) -> torch.Tensor:
    return _vector(probs, "probs", width=config.prob_width, signed=False)


def requant_decision(probs: torch.Tensor, threshold: int, config: AttentionConfig) -> bool:
    """Whether the LSBs must be fetched: max(probs) < threshold.

    ``threshold`` is a run-time value in the probability format (unsigned, P fractional bits),
    0 to 2**P, i.e. 0 to 1. SpAtten's typical 0.1 is round(0.1 * 2**P).
    """
    p = _check_probs(probs, config)
    if p.numel() == 0:
        raise ValueError("probs must hold at least one element")
    top = 1 << config.prob_bits
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 <= threshold <= top:
        raise ValueError(
            f"threshold must be an integer from 0 to {top} (0 to 1 with {config.prob_bits} "
            f"fractional bits), not {threshold!r}"
        )
    return bool(p.max() < threshold)


def local_v_prune(probs: torch.Tensor, keep: int, config: AttentionConfig) -> torch.Tensor:
    """Indices of the ``keep`` (0 to n) largest probabilities, ties to the earliest index.

    Bit-exact :func:`sparsa.models.golden.topk.topk` on (P + 1)-bit unsigned values; indices in
    increasing order.
    """
    p = _check_probs(probs, config)
    return topk(p, keep, width=config.prob_width, signed=False)[0]


def prob_times_v(
    probs: torch.Tensor, v_rows: torch.Tensor, kept: torch.Tensor, config: AttentionConfig
) -> torch.Tensor:
    """Attention output: sum over kept rows i of p_i * v_i, requantized.

    The products ((P + 1)-bit unsigned times T-bit signed) are summed exactly in
    ``pv_acc_width`` = T + P + 1 + ceil(log2(max_tokens)) signed bits. Each output element is
    that sum shifted right by ``out_shift`` = P + T + 1 - out_bits, rounded half up and saturated
    to ``out_bits`` signed: units of 2**(T + 1 - out_bits) V steps, range twice V's.

    Parameters
    ----------
    probs : (n,) int64 tensor
        Probabilities (P + 1 bits unsigned).
    v_rows : (n, D) int64 tensor
        Values, T-bit signed; only the kept rows are read.
    kept : (k,) int64 tensor
        Distinct indices 0 to n - 1 (from :func:`local_v_prune`).

    Returns
    -------
    (D,) int64 tensor, ``out_bits`` signed.
    """
    p = _check_probs(probs, config)
    v = _rows(v_rows, "v_rows", dim=config.dim, width=config.total_bits)
    n = p.numel()
    _n_keys(n, config)
    if v.shape[0] != n:
        raise ValueError(f"v_rows has {v.shape[0]} rows for {n} probabilities")
    idx = _vector(kept, "kept", width=63, signed=False)
    if idx.numel() and (int(idx.max()) >= n or idx.unique().numel() != idx.numel()):
        raise ValueError(
            f"kept must be distinct indices in the range 0..{n - 1}, got {idx.tolist()}"
        )
    acc = (p[idx, None] * v[idx]).sum(dim=0)
    return _saturate(_round_shift(acc, config.out_shift), config.out_bits)


def token_importance_update(
    acc: torch.Tensor, probs: torch.Tensor, config: AttentionConfig
) -> torch.Tensor:
    """Add each key's probability to its cumulative importance.

    ``acc`` holds ``token_importance_bits``-bit unsigned values, one per key; the result is
    min(acc + p, 2**token_importance_bits - 1) element by element (saturating).
    """
    p = _check_probs(probs, config)
    a = _vector(acc, "acc", width=config.token_importance_bits, signed=False)
    if a.shape != p.shape:
        raise ValueError(f"acc has {a.numel()} entries for {p.numel()} probabilities")
    return (a + p).clamp(max=(1 << config.token_importance_bits) - 1)


def head_importance_update(acc: int, out: torch.Tensor, config: AttentionConfig) -> int:
    """Add the head's output magnitude sum(|out_d|) to its importance.

    ``acc`` is ``head_importance_bits``-bit unsigned; the result is
    min(acc + sum |out_d|, 2**head_importance_bits - 1) (saturating).
    """
    o = _vector(out, "out", width=config.out_bits, signed=True)
    top = (1 << config.head_importance_bits) - 1
    if not is_int(acc) or not 0 <= acc <= top:
        raise ValueError(
            f"head importance acc must be an integer in the range 0..{top}, not {acc!r}"
        )
    return min(acc + int(o.abs().sum()), top)


@dataclass(frozen=True)
class AttentionResult:
    """Outcome of :func:`attend_one_query`.

    Attributes
    ----------
    msb_scores, msb_probs : torch.Tensor
        Scores and probabilities of the MSB-only pass.
    requant : bool
        Whether the LSBs were fetched and everything recomputed.
    scores, probs : torch.Tensor
        The final scores and probabilities (equal to the MSB-only ones when not requant).
    k_lsb_rows : torch.Tensor
        Indices of the K rows whose LSB plane is fetched: all n when ``requant``, else none.
    v_rows : torch.Tensor
        Indices of the V rows fetched (kept by local V pruning), increasing.
    out : torch.Tensor
        (D,) attention output, ``out_bits`` signed.
    token_importance : torch.Tensor
        Updated per-key importance accumulators.
    head_importance : int
        Updated head importance accumulator.
    """

    msb_scores: torch.Tensor
    msb_probs: torch.Tensor
    requant: bool
    scores: torch.Tensor
    probs: torch.Tensor
    k_lsb_rows: torch.Tensor
    v_rows: torch.Tensor
    out: torch.Tensor
    token_importance: torch.Tensor
    head_importance: int


def attend_one_query(
    q: torch.Tensor,
    k_msb: torch.Tensor,
    k_lsb: torch.Tensor,
    v: torch.Tensor,
    config: AttentionConfig,
    *,
    threshold: int,
    v_keep: int,
    score_shift: int,
    token_importance: torch.Tensor | None = None,
    head_importance: int = 0,
) -> AttentionResult:
    """SpAtten's flow for one (head, query).

    MSB-only scores -> softmax -> requant decision; if the maximum probability is below
    ``threshold``, fetch the K LSB planes, reassemble full-precision keys, recompute the scores
    and softmax once. Then keep the ``v_keep`` largest probabilities (local V pruning), fetch
    those V rows, compute prob x V and update the token and head importance accumulators
    (zero-initialised when not given).

    Parameters
    ----------
    q : (D,) int64 tensor
        Full-precision query, T-bit signed.
    k_msb, k_lsb : (n, D) int64 tensors
        The K planes (``msb_bits`` signed, 4-bit unsigned).
    v : (n, D) int64 tensor
        Full-precision values, T-bit signed.
    threshold, v_keep, score_shift : int
        As for :func:`requant_decision`, :func:`local_v_prune`, :func:`qk_scores`.
    """
    msb_scores = qk_scores(q, msb_only(k_msb, config), config, score_shift=score_shift)
    msb_probs = fixed_softmax(msb_scores, config)
    n = msb_scores.numel()
    requant = requant_decision(msb_probs, threshold, config)
    if requant:
        k_full = reassemble(k_msb, k_lsb, config)
        scores = qk_scores(q, k_full, config, score_shift=score_shift)
        probs = fixed_softmax(scores, config)
        k_lsb_rows = torch.arange(n)
    else:
        scores, probs = msb_scores, msb_probs
        k_lsb_rows = torch.zeros(0, dtype=torch.int64)
    kept = local_v_prune(probs, v_keep, config)
    out = prob_times_v(probs, v, kept, config)
    if token_importance is None:
        token_importance = torch.zeros(n, dtype=torch.int64)
    return AttentionResult(
        msb_scores=msb_scores,
        msb_probs=msb_probs,
        requant=requant,
        scores=scores,
        probs=probs,
        k_lsb_rows=k_lsb_rows,
        v_rows=kept,
        out=out,
        token_importance=token_importance_update(token_importance, probs, config),
        head_importance=head_importance_update(head_importance, out, config),
    )
