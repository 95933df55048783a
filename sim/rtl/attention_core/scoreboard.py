"""The attention core's answers against the golden model (pure Python, no simulator).

:class:`ImportanceState` replays the core's token and head importance accumulators through the
golden functions, query by query, and gives each good query its expected
:class:`~sparsa.models.golden.attention.AttentionResult`. :func:`check_query` compares what the core
sent on its four output streams with it and returns a list of problems (empty when all is
well), so a run can carry on and report every mismatch. Shared by the amaranth.sim bench
(:mod:`sparsa.sim.rtl.attention_core.bench`) and the cocotb bench (``tests/rtl``).
"""

from dataclasses import dataclass, field
from typing import Any

import torch

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.models.golden.attention import AttentionResult, attend_one_query
from sparsa.sim.rtl.attention_core.stimulus import Operands, QuerySpec

__all__ = ["ImportanceState", "Observed", "check_query"]


class ImportanceState:
    """The golden copy of the core's importance accumulators (all zero after configuration).

    Parameters
    ----------
    config : AttentionCoreConfig
    """

    def __init__(self, config: AttentionCoreConfig) -> None:
        self.config = config
        self.tokens = torch.zeros(config.max_tokens, dtype=torch.int64)
        self.heads = [0] * config.heads

    def attend(self, spec: QuerySpec, operands: Operands) -> AttentionResult:
        """The golden result of a good query; the accumulators are updated as the core's."""
        golden = self.config.golden(spec.msb_bits)
        msb, lsb = operands.planes(self.config, spec.msb_bits)
        n = spec.n
        tokens = torch.zeros(n, dtype=torch.int64) if spec.clear_tokens else self.tokens[:n]
        result = attend_one_query(
            operands.q,
            msb,
            lsb,
            operands.v,
            golden,
            threshold=spec.threshold,
            v_keep=spec.v_keep,
            score_shift=spec.score_shift,
            token_importance=tokens.clone(),
            head_importance=0 if spec.clear_head else self.heads[spec.head],
        )
        self.tokens[:n] = result.token_importance
        self.heads[spec.head] = result.head_importance
        return result


@dataclass
class Observed:
    """What the core sent for one command: the decoded beats of each output stream."""

    lsb_req: list[dict[str, Any]] = field(default_factory=list)
    v_req: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    out: dict[str, Any] | None = None


def _requested(beats: list[dict[str, Any]], lanes: int, name: str) -> tuple[list[int], list[str]]:
    rows, problems = [], []
    for i, beat in enumerate(beats):
        if not 1 <= beat["count"] <= lanes:
            problems.append(f"{name} beat {i} has count {beat['count']} outside 1..{lanes}")
        rows += beat["index"][: beat["count"]]
    return rows, problems


def _check_keys(
    config: AttentionCoreConfig, n: int, result: AttentionResult, beats: list[dict[str, Any]]
) -> list[str]:
    lanes = config.lanes
    want_beats = -(-n // lanes)
    problems = []
    if len(beats) != want_beats:
        problems.append(f"{len(beats)} keys beats, expected {want_beats}")
    for i, beat in enumerate(beats):
        want_count = min(lanes, n - i * lanes)
        if beat["count"] != want_count or beat["last"] != (i == want_beats - 1):
            problems.append(
                f"keys beat {i}: count={beat['count']} last={beat['last']}, "
                f"expected count={want_count} last={int(i == want_beats - 1)}"
            )
    importance = [x for b in beats for x in b["importance"][: b["count"]]]
    if importance != result.token_importance.tolist():
        problems.append(
            f"token importance differs:\n    expected "
            f"{result.token_importance.tolist()}\n    got      {importance}"
        )
    if config.emit_probs:
        probs = [x for b in beats for x in b["prob"][: b["count"]]]
        if probs != result.probs.tolist():
            problems.append(
                f"probabilities differ:\n    expected {result.probs.tolist()}\n    got      {probs}"
            )
    return problems


def check_query(
    config: AttentionCoreConfig, spec: QuerySpec, result: AttentionResult | None, observed: Observed
) -> list[str]:
    """Problems with the core's answer to ``spec`` (``result`` is None for a rejected one)."""
    out = observed.out
    if out is None:
        return ["no out beat"]
    if result is None:
        problems = []
        if not out["error"] or out["requant"] or out["head_importance"] or any(out["out"]):
            problems.append(f"a rejected command must get error=1 and zeros, got {out}")
        for name in ("lsb_req", "v_req", "keys"):
            if getattr(observed, name):
                problems.append(
                    f"a rejected command sent {len(getattr(observed, name))} {name} beats"
                )
        return problems
    problems = []
    if out["error"]:
        problems.append("error flag set on a good command")
    if bool(out["requant"]) != result.requant:
        problems.append(f"requant={out['requant']}, golden {int(result.requant)}")
    if out["out"] != result.out.tolist():
        problems.append(
            f"attention output differs:\n    expected {result.out.tolist()}\n"
            f"    got      {out['out']}"
        )
    if out["head_importance"] != result.head_importance:
        problems.append(
            f"head importance {out['head_importance']}, golden {result.head_importance}"
        )
    for name, want in (("lsb_req", result.k_lsb_rows), ("v_req", result.v_rows)):
        rows, bad = _requested(getattr(observed, name), config.lanes, name)
        problems += bad
        if rows != want.tolist():
            problems.append(
                f"{name} rows differ from the golden ones:\n    expected "
                f"{want.tolist()}\n    got      {rows}"
            )
    problems += _check_keys(config, spec.n, result, observed.keys)
    return problems
