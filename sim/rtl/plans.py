"""Seeded draws that the blocks' stimulus modules share (pure Python, no simulator).

:func:`alternating_plan` lays out a plan of directed cases and random batches of good and bad cases,
every other one stalled; :func:`random_size` draws the size of a case (a token or value count) with
extra weight on the sizes near a beat boundary.
"""

import random
from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

from sparsa.sim.rtl.stalls import Stalls, random_stalls

__all__ = ["PlanBatch", "alternating_plan", "random_size"]

Case = TypeVar("Case")


class PlanBatch(NamedTuple, Generic[Case]):
    """Cases run back to back under one stall setting (a batch of a plan, before the harness
    seeds it: :func:`sparsa.sim.rtl.harness.seeded_batches`)."""

    cases: tuple[Case, ...]
    stalls: Stalls


def alternating_plan(
    directed: Sequence[Case],
    count: int,
    *,
    size: int,
    good: Callable[[], Case],
    bad: Callable[[], Case],
    bad_rate: float,
    rng: random.Random,
    sources: Sequence[str],
    stalled_first: bool,
) -> list[PlanBatch[Case]]:
    """The batches of a plan of at least ``count`` cases.

    The ``directed`` cases come first, as one batch without stalls. Random batches follow until
    the plan holds ``count`` cases, each of at least ``size`` cases (or of the cases still
    wanted, when fewer): ``good()`` ones, each after a ``bad()`` one with probability
    ``bad_rate``. Every other random batch gets random idle cycles on ``sources`` and
    back-pressure (drawn from ``rng`` after its cases), the first of them when
    ``stalled_first``; the others have no stalls.
    """
    batches = [PlanBatch(tuple(directed), Stalls())]
    remaining = count - len(directed)
    while remaining > 0:
        cases: list[Case] = []
        while len(cases) < min(size, remaining):
            if rng.random() < bad_rate:
                cases.append(bad())
            cases.append(good())
        stalled = len(batches) % 2 == stalled_first
        stalls = random_stalls(rng, sources) if stalled else Stalls()
        batches.append(PlanBatch(tuple(cases), stalls))
        remaining -= len(cases)
    return batches


def random_size(
    rng: random.Random, cap: int, lanes: int, *, odds: tuple[float, float, float], short: int
) -> int:
    """A size from 1 to ``cap``: with the cumulative ``odds``, any size, a short one (at most
    ``short`` beats of ``lanes``), one within a beat of ``cap``; otherwise 1 or ``cap``."""
    kind = rng.random()
    if kind < odds[0]:
        return rng.randint(1, cap)
    if kind < odds[1]:
        return rng.randint(1, min(cap, short * lanes))
    if kind < odds[2]:
        return rng.randint(max(1, cap - lanes), cap)
    return rng.choice((1, cap))
