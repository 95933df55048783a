"""Check the weight-update engine's answers: pure functions that return a list of problems
(empty when all is well), so that a run carries on and reports every mismatch.

:func:`expected_step` is the golden answer of one step from the scale state before it
(:mod:`sparsa.models.golden.weight_update`: the skip rule on the counted gradients, the scale
rule, and the element contract on every lane, padding lanes included); :func:`check_status` and
:func:`check_outputs` compare the engine's status beat and output beats with it bit for bit;
:func:`check_transfers` checks which input beats a step consumed, and when, and the order of
the steps; :func:`check_cycles` compares an unstalled step's edges with
:func:`sparsa.sim.blocks.weight_update.step_cycles`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.models.golden.weight_update import (
    ScaleState,
    found_overflow,
    next_scale,
    update_elements,
)
from sparsa.sim.blocks.weight_update import step_cycles
from sparsa.sim.rtl.weight_update.codec import OUTPUTS, LanesBeat, StatusBeat
from sparsa.sim.rtl.weight_update.stimulus import WeightStep

__all__ = [
    "MAX_LISTED",
    "Expected",
    "StepEdges",
    "check_cycles",
    "check_outputs",
    "check_status",
    "check_transfers",
    "expected_step",
]

MAX_LISTED = 4  # differing elements listed per output stream and failure


@dataclass(frozen=True)
class Expected:
    """The golden answer of one step.

    Attributes
    ----------
    skipped : bool
        A counted gradient is Inf or NaN.
    before, state : ScaleState
        The scale state before and after the step (``state`` is what the status beat carries).
    outputs : dict of str to tuple of int, or None
        Per output stream (:data:`~sparsa.sim.rtl.weight_update.codec.OUTPUTS`), every lane's
        pattern, padding lanes included; None for a step without an update pass (skipped or
        empty).
    """

    skipped: bool
    before: ScaleState
    state: ScaleState
    outputs: dict[str, tuple[int, ...]] | None


def expected_step(config: WeightUpdateConfig, state: ScaleState, step: WeightStep) -> Expected:
    """The golden answer of ``step`` when the scale state before it is ``state``."""
    skipped = found_overflow(step.grads[: step.count], config.dtype)
    outputs = None
    if not skipped and step.count:
        values = update_elements(step.weights, step.momentum, step.grads, step.masks,
                                 step.hyper, state.scale_log2, config.dtype)
        outputs = {port: tuple(int(x) for x in v) for port, v in zip(OUTPUTS, values, strict=True)}
    return Expected(skipped, state, next_scale(config, state, skipped), outputs)


def check_status(expected: Expected, beat: StatusBeat) -> list[str]:
    """Problems with a step's ``status`` beat: skipped, the scale and the clean count after the
    step."""
    want = (expected.skipped, expected.state.scale_log2, expected.state.clean)
    got = (beat.skipped, beat.scale_log2, beat.clean)
    if got == want:
        return []
    before = expected.before
    return [f"status {beat.describe()}, golden skipped={int(want[0])} scale_log2={want[1]} "
            f"clean={want[2]} (before the step: scale_log2={before.scale_log2} "
            f"clean={before.clean})"]


def check_outputs(
    config: WeightUpdateConfig,
    step: WeightStep,
    expected: Expected,
    beats: Mapping[str, Sequence[LanesBeat]],
) -> list[str]:
    """Problems with the ``weights``, ``momentum`` and ``copies`` beats a step produced: one
    beat per ``data`` beat on each (none for a step without an update pass), every lane equal
    to the golden pattern."""
    problems = []
    count = step.beats(config) if expected.outputs is not None else 0
    for port in OUTPUTS:
        got = beats[port]
        if len(got) != count:
            problems.append(f"{len(got)} {port} beats, expected {count}")
        if expected.outputs is None or not got:
            continue
        flat = [v for beat in got for v in beat.values]
        want = expected.outputs[port]
        wrong = [i for i, (g, w) in enumerate(zip(flat, want, strict=False)) if g != w]
        if wrong:
            listed = "; ".join(_element(step, port, i, flat[i], want[i], config.lanes)
                               for i in wrong[:MAX_LISTED])
            problems.append(f"{port}: {len(wrong)} elements differ: {listed}")
    return problems


def _element(step: WeightStep, port: str, i: int, got: int, want: int, lanes: int) -> str:
    width = 4 if port == "copies" else 8
    padding = " (padding)" if i >= step.count else ""
    return (f"[{i}] (beat {i // lanes} lane {i % lanes}{padding}) got {got:#0{width + 2}x}, "
            f"golden {want:#0{width + 2}x}, inputs w={step.weights[i]:#010x} "
            f"v={step.momentum[i]:#010x} g={step.grads[i]:#06x} m={step.masks[i]}")


@dataclass
class StepEdges:
    """The edges of one step's transfers (filled in as they happen).

    Attributes
    ----------
    cmd : int or None
        Its ``cmd`` beat.
    inputs : dict of str to list of int
        Its ``grads`` and ``data`` beats.
    status : int or None
        Its ``status`` beat.
    outputs : dict of str to list of int
        Its beats on each of :data:`~sparsa.sim.rtl.weight_update.codec.OUTPUTS`.
    """

    cmd: int | None = None
    inputs: dict[str, list[int]] = field(default_factory=dict)
    status: int | None = None
    outputs: dict[str, list[int]] = field(default_factory=dict)

    def record(self, stream: str, edge: int) -> None:
        """Note an input transfer (``cmd``, ``grads`` or ``data``) at ``edge``."""
        if stream == "cmd":
            self.cmd = edge
        else:
            self.inputs.setdefault(stream, []).append(edge)

    @property
    def end(self) -> int:
        """The step's last transfer: its last output beat, else its status beat."""
        assert self.status is not None
        return max([self.status, *(e for edges in self.outputs.values() for e in edges)])

    def describe(self) -> str:
        """The edges relative to the cmd transfer, for failure reports."""
        if self.cmd is None:
            return "cmd never transferred"
        cmd = self.cmd

        def span(edges: list[int]) -> str:
            return f"{edges[0] - cmd}..{edges[-1] - cmd} ({len(edges)})" if edges else "none"

        parts = [f"{s} {span(self.inputs.get(s, []))}" for s in ("grads", "data")]
        parts.append(f"status {None if self.status is None else self.status - cmd}")
        parts += [f"{p} {span(self.outputs.get(p, []))}" for p in OUTPUTS]
        return "edges after cmd: " + ", ".join(parts)


def check_transfers(
    config: WeightUpdateConfig,
    step: WeightStep,
    expected: Expected,
    edges: StepEdges,
    previous: StepEdges | None,
) -> list[str]:
    """Problems with the input beats a step consumed and the order of its transfers.

    Its ceil(count / lanes) ``grads`` beats cross after its ``cmd`` beat and before its status
    beat; its ``data`` beats (as many for a step with an update pass, none otherwise) after its
    last ``grads`` beat, each before the output beats it produces; its ``cmd`` beat after every
    transfer of the previous step but its status beat (which may wait on back-pressure), and its
    status beat after the previous one.
    """
    assert edges.cmd is not None and edges.status is not None
    problems = []
    beats = step.beats(config)
    grads, data = edges.inputs.get("grads", []), edges.inputs.get("data", [])
    if len(grads) != beats:
        problems.append(f"{len(grads)} grads beats consumed, expected {beats}")
    if any(not edges.cmd < e < edges.status for e in grads):
        problems.append("a grads beat crossed outside the check pass (after the cmd beat, "
                        "before the status beat)")
    wanted = beats if expected.outputs is not None else 0
    if len(data) != wanted:
        problems.append(f"{len(data)} data beats consumed, expected {wanted}")
    if data and grads and min(data) <= max(grads):
        problems.append("a data beat crossed before the check pass ended")
    for port in OUTPUTS:
        out = edges.outputs.get(port, [])
        if any(d >= o for d, o in zip(data, out, strict=False)):
            problems.append(f"a {port} beat crossed before its data beat")
    if previous is not None:
        assert previous.cmd is not None and previous.status is not None
        before = max([previous.cmd, *(e for es in previous.inputs.values() for e in es),
                      *(e for es in previous.outputs.values() for e in es)])
        if edges.cmd <= before:
            problems.append(f"the cmd beat crossed {before - edges.cmd} edges before the "
                            "previous step's last transfer")
        if edges.status <= previous.status:
            problems.append("the status beat crossed before the previous step's")
    return problems


def check_cycles(
    config: WeightUpdateConfig,
    step: WeightStep,
    expected: Expected,
    edges: StepEdges,
    cmd_offset: int,
    predicted_offset: int,
) -> list[str]:
    """Problems with an unstalled step's edges against
    :func:`~sparsa.sim.blocks.weight_update.step_cycles`: its cmd edge ``cmd_offset`` after the
    batch's first (predicted: ``predicted_offset``, the periods of the steps before it), its
    status edge and its last output edges counted from its cmd edge."""
    assert edges.cmd is not None and edges.status is not None
    predicted = step_cycles(config, count=step.count, skipped=expected.skipped)
    problems = []
    if cmd_offset != predicted_offset:
        problems.append(f"cmd at edge {cmd_offset} of the batch, cycle model {predicted_offset}")
    if edges.status - edges.cmd != predicted.status:
        problems.append(f"status {edges.status - edges.cmd} edges after cmd, cycle model "
                        f"{predicted.status}")
    if predicted.last_output is not None:
        for port in OUTPUTS:
            out = edges.outputs.get(port)
            if out and out[-1] - edges.cmd != predicted.last_output:
                problems.append(f"last {port} beat {out[-1] - edges.cmd} edges after cmd, "
                                f"cycle model {predicted.last_output}")
    return problems
