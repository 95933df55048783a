"""The attention core's answers against the golden model (pure Python, no simulator).

:class:`ImportanceState` replays the core's token and head importance accumulators through the
golden functions, query by query, and gives each good query its expected
:class:`~sparsa.models.golden.attention.AttentionResult`. The checks are functions that return
a list of problems (empty when all is well), so a run can carry on and report every mismatch:
:func:`check_query` compares what the core sent on its four output streams with the golden
result, :func:`check_transfers` when it consumed the command's operand beats and the memory's
answers.
"""

from dataclasses import dataclass, field
from typing import Any

import torch

from sparsa.config.attention_core import AttentionCoreConfig, CommandStatus
from sparsa.models.golden.attention import AttentionResult, attend_one_query
from sparsa.sim.rtl.attention_core.stimulus import Operands, QuerySpec

__all__ = [
    "ImportanceState",
    "Observed",
    "check_query",
    "check_transfers",
    "expected_inputs",
    "saturated",
]


class ImportanceState:
    """The golden copy of the core's importance accumulators (all zero after reset).

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
    """What the core did for one command: the decoded beats of each output stream, and the
    cycles (rising-edge numbers) of the command's transfers.

    Attributes
    ----------
    lsb_req, v_req, keys : list of dict
        The decoded beats of these streams sent before the command's ``out`` beat.
    out : dict or None
        The decoded ``out`` beat.
    cmd_cycle, out_cycle : int or None
        Transfer cycles of the ``cmd`` and ``out`` beats.
    inputs : dict of str to list of int
        Transfer cycles of the command's beats on ``q``, ``k_msb``, ``k_lsb`` and ``v``.
    """

    lsb_req: list[dict[str, Any]] = field(default_factory=list)
    v_req: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    out: dict[str, Any] | None = None
    cmd_cycle: int | None = None
    out_cycle: int | None = None
    inputs: dict[str, list[int]] = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        """Cycles from the ``cmd`` transfer to the ``out`` transfer."""
        assert self.cmd_cycle is not None and self.out_cycle is not None
        return self.out_cycle - self.cmd_cycle

    def describe(self) -> str:
        """Transfer cycles relative to the ``cmd`` transfer, for failure reports."""
        if self.cmd_cycle is None:
            return "cmd never transferred"
        parts = [
            f"{stream} {c[0] - self.cmd_cycle}..{c[-1] - self.cmd_cycle} ({len(c)} beats)"
            for stream, c in self.inputs.items()
        ]
        out = "none" if self.out_cycle is None else self.out_cycle - self.cmd_cycle
        return f"cycles after cmd: {', '.join(parts) or 'no operand beats'}, out {out}"


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
        if (
            out["error"] != CommandStatus.REJECTED
            or out["requant"]
            or out["head_importance"]
            or any(out["out"])
        ):
            problems.append(f"a rejected command must get error=1 and zeros, got {out}")
        for name in ("lsb_req", "v_req", "keys"):
            if getattr(observed, name):
                problems.append(
                    f"a rejected command sent {len(getattr(observed, name))} {name} beats"
                )
        return problems
    problems = []
    if out["error"] != CommandStatus.ACCEPTED:
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


def expected_inputs(
    config: AttentionCoreConfig, spec: QuerySpec, observed: Observed
) -> dict[str, int]:
    """Beats the command must consume per input stream: one ``q`` beat and ceil(n / E)
    ``k_msb`` beats for a good command, one memory answer per request beat it sent; none for a
    rejected command."""
    good = not spec.is_error(config)
    return {
        "q": int(good),
        "k_msb": -(-spec.n // config.lanes) if good else 0,
        "k_lsb": len(observed.lsb_req),
        "v": len(observed.v_req),
    }


def check_transfers(
    observed: Observed, inputs: dict[str, int], previous: Observed | None
) -> list[str]:
    """Problems with when the command's beats crossed: its command and its ``out`` beat after
    the previous command's (``previous``), exactly ``inputs`` beats per input stream
    (:func:`expected_inputs`), each after the command and no later than its ``out`` beat."""
    if observed.cmd_cycle is None or observed.out_cycle is None:
        return ["cmd or out beat missing"]
    problems = []
    if previous is not None and previous.cmd_cycle is not None and previous.out_cycle is not None:
        if observed.cmd_cycle <= previous.cmd_cycle:
            problems.append("cmd accepted before the previous command")
        if observed.out_cycle <= previous.out_cycle:
            problems.append("out beat sent before the previous command's")
    for stream, want in inputs.items():
        cycles = observed.inputs.get(stream, [])
        if any(not observed.cmd_cycle < c <= observed.out_cycle for c in cycles):
            problems.append(f"{stream} beats transferred outside the command's span")
        if len(cycles) != want:
            problems.append(f"{len(cycles)} {stream} beats consumed, expected {want}")
    return problems


def saturated(config: AttentionCoreConfig, result: AttentionResult) -> dict[str, bool]:
    """Whether the query left a token or its head's importance at its accumulator's maximum."""
    att = config.attention
    return {
        "token importance saturated": bool(
            (result.token_importance == (1 << att.token_importance_bits) - 1).any()
        ),
        "head importance saturated": result.head_importance == (1 << att.head_importance_bits) - 1,
    }
