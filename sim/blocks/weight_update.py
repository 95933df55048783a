"""Cycle model of SAT's weight-update vector engine (:class:`sparsa.hw.sat.weight_update.
WeightUpdate`).

With the inputs valid whenever the engine wants them and every output always ready, a step of
``count`` elements, B = ceil(count / lanes) beats, takes, counted in clock edges from the one
that transfers its command (edge 0):

* the check pass: its B ``grads`` beats transfer at edges 1 to B;
* the decision: the status beat is registered at edge B + 1 and transferred at edge B + 2;
* a skipped or empty step (count = 0) is then over: the next command transfers at edge B + 2;
* otherwise the update pass: its B ``data`` beats transfer at edges B + 2 to 2B + 1; each leaves
  the pipeline ``T`` = :func:`sparsa.hw.sat.weight_update.pipeline_latency` (2 Lm + 4 La + 1)
  edges after it entered, so the last output beats transfer at edge 2B + 1 + T and the next
  command at edge 2B + 2 + T.

So a step costs B + 2 cycles when skipped and 2B + T + 2 when applied; one pass over the data
would take B + T + 1 (the second read of the gradients is the price of deciding the skip before
any weight is written). Steps run back to back with no overlap: the engine takes a command only
when the previous step is over.
"""

from dataclasses import dataclass

from sparsa.config.checks import is_int
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.sat.weight_update import pipeline_latency

__all__ = ["StepCycles", "beats", "step_cycles"]


@dataclass(frozen=True)
class StepCycles:
    """Edges of one step, counted from the one that transfers its command (the edge of the
    status beat, of the last output beats, and the earliest for the next command).

    Attributes
    ----------
    status : int
        The edge that transfers the status beat.
    last_output : int or None
        The edge that transfers the last ``weights``, ``momentum`` and ``copies`` beats; None
        for a step with no update pass (skipped or empty).
    period : int
        The edge that transfers the next command: the step's cost in cycles.
    """

    status: int
    last_output: int | None
    period: int


def beats(config: WeightUpdateConfig, count: int) -> int:
    """Beats of one pass over ``count`` elements: ceil(count / lanes).

    Raises
    ------
    ValueError
        For a count outside 0 to ``config.max_count``.
    """
    if not is_int(count) or not 0 <= count <= config.max_count:
        raise ValueError(f"count must be an integer from 0 to {config.max_count}, not {count!r}")
    return -(-count // config.lanes)


def step_cycles(config: WeightUpdateConfig, *, count: int, skipped: bool) -> StepCycles:
    """The edges of one step of ``count`` elements, exactly as the RTL takes them when nothing
    stalls (see the module docstring).

    Parameters
    ----------
    config : WeightUpdateConfig
    count : int
        Elements of the step (0 to ``config.max_count``).
    skipped : bool
        Whether some gradient of the step is Inf or NaN
        (:func:`sparsa.models.golden.weight_update.found_overflow`).
    """
    b = beats(config, count)
    if skipped or b == 0:
        return StepCycles(status=b + 2, last_output=None, period=b + 2)
    last = 2 * b + 1 + pipeline_latency(config)
    return StepCycles(status=b + 2, last_output=last, period=last + 1)
