"""Seeded requests on the top-k engine's RTL in ``amaranth.sim``, against the golden model and
the cycle model.

:func:`run_requests` drives :class:`sparsa.hw.topk.topk.TopKEngine` (cycle by cycle, through
:func:`sparsa.sim.rtl.amaranth_streams.drive`) and decodes its answers; :func:`run_check` runs seeded random
requests (rejected ones included) once without stalls, comparing every answer with
:func:`sparsa.models.golden.topk.topk` and its cycles with :class:`sparsa.sim.blocks.topk.TopKCycleModel`, and once with
idle sources and a back-pressured sink, comparing the answers only.
"""

import random
from dataclasses import dataclass

from sparsa.config.checks import is_int
from sparsa.config.topk import TopKConfig
from sparsa.hw.topk.topk import TopKEngine
from sparsa.models.golden.topk import topk
from sparsa.sim.blocks.topk import TopKCycleModel
from sparsa.sim.rtl.amaranth_streams import drive
from sparsa.sim.rtl.rtl_check import RtlCheck

__all__ = [
    "ERROR_RATE",
    "Response",
    "is_error",
    "random_requests",
    "response_problems",
    "run_check",
    "run_requests",
]

ERROR_RATE = 0.1  # share of requests that break the contract (n = 0, n > capacity, k > n)


@dataclass
class Response:
    """What the engine answered to one request, and the cycles from cmd to the last beat."""

    indices: list[int]
    values: list[int]
    error: bool
    beats: int
    cycles: int


def run_requests(
    config: TopKConfig,
    requests: list[tuple[list[int], int]],
    *,
    stall_seed: int | None = None,
) -> list[Response]:
    """Run ``(values, k)`` requests back to back on one freshly reset engine.

    Parameters
    ----------
    config : TopKConfig
    requests : list of (values, k)
        n = len(values); the last din beat of a request is padded with zeros.
    stall_seed : int, optional
        When given, sources idle and the sink refuses beats at random (see
        :func:`sparsa.sim.rtl.amaranth_streams.drive`).
    """
    P = config.lanes
    cmds, beats = [], []
    for values, k in requests:
        cmds.append({"n": len(values), "k": k})
        padded = list(values) + [0] * (-len(values) % P)
        beats += [padded[i : i + P] for i in range(0, len(padded), P)]
    trace = drive(
        TopKEngine(config),
        {"cmd": cmds, "din": beats},
        "dout",
        lasts=len(requests),
        stall_seed=stall_seed,
    )
    responses, current = [], []
    for cycle, out in zip(trace.cycles["dout"], trace.outputs, strict=True):
        current.append(out)
        if out.last:
            start = trace.cycles["cmd"][len(responses)]
            indices = [o.index[i] for o in current for i in range(o.count)]
            values = [o.value[i] for o in current for i in range(o.count)]
            responses.append(
                Response(indices, values, bool(out.error), len(current), cycle - start)
            )
            current = []
    return responses


def is_error(config: TopKConfig, n: int, k: int) -> bool:
    """Whether the engine must answer ``(n, k)`` with a single error beat."""
    return n == 0 or n > config.capacity or k > n


def random_requests(
    config: TopKConfig, rng: random.Random, count: int
) -> list[tuple[list[int], int]]:
    """``count`` requests: uniform values, n from 1 to the capacity, k from 0 to n; about
    :data:`ERROR_RATE` of them break the contract."""
    lo, hi = config.value_range
    requests = []
    for _ in range(count):
        n = rng.randint(1, config.capacity)
        k = rng.randint(0, n)
        if rng.random() < ERROR_RATE:
            n, k = rng.choice([(0, 0), (config.capacity + 1, 1), (n, n + 1)])
        requests.append(([rng.randint(lo, hi) for _ in range(n)], k))
    return requests


def response_problems(
    config: TopKConfig, values: list[int], k: int, response: Response
) -> list[str]:
    """Differences between ``response`` and the golden answer to ``(values, k)``."""
    if is_error(config, len(values), k):
        if response.error and response.indices == [] and response.beats == 1:
            return []
        return [f"expected one empty error beat, got {response}"]
    idx, val = topk(values, k, width=config.width, signed=config.signed)
    problems = []
    if response.error:
        problems.append("error flag set on a good request")
    if response.indices != idx.tolist() or response.values != val.tolist():
        problems.append(f"top-k differs: expected indices {idx.tolist()}, got {response.indices}")
    if response.beats != max(1, -(-k // config.lanes)):
        problems.append(f"{response.beats} dout beats for k={k}")
    return problems


def run_check(config: TopKConfig, *, requests: int, seed: int) -> RtlCheck:
    """Run ``requests`` seeded requests without stalls and as many with stalls, each run on a
    freshly reset engine, and count what differs from the golden and the cycle model.

    Returns
    -------
    RtlCheck
        Counts ``rejected`` and ``stalled`` requests besides the cases.
    """
    if not is_int(requests) or requests < 1:
        raise ValueError(f"requests must be a positive integer, not {requests!r}")
    check = RtlCheck(block="topk", config=repr(config), seed=seed)
    rng = random.Random(seed)
    for stall_seed in (None, seed):
        batch = random_requests(config, rng, requests)
        model = TopKCycleModel(config)  # the engine's LFSR starts afresh with each run
        responses = run_requests(config, batch, stall_seed=stall_seed)
        for i, ((values, k), response) in enumerate(zip(batch, responses, strict=True)):
            where = (
                f"{'stalled ' if stall_seed is not None else ''}request {i} n={len(values)} k={k}"
            )
            check.count("rejected", int(is_error(config, len(values), k)))
            check.answer(response_problems(config, values, k, response), where)
            if stall_seed is None:
                check.cycles(response.cycles, model.request(values, k).total, where)
            else:
                check.count("stalled")
    return check
