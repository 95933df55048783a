"""Compare the engine's responses with the golden model and its cycles with the cycle model.

Pure Python (no cocotb): :func:`check_response` and :func:`check_order` return a list of
problems (empty when all is well) so that a run can carry on and report every mismatch.
"""


from sparsa.config.topk import TopKConfig
from sparsa.models.golden.topk import topk
from sparsa.sim.rtl.records import Timeline
from sparsa.sim.rtl.topk.codec import DoutBeat
from sparsa.sim.rtl.topk.stimulus import Request

__all__ = ["check_order", "check_response", "expected_pairs"]


def expected_pairs(config: TopKConfig, request: Request) -> list[tuple[int, int]]:
    """The golden (index, value) pairs of a valid request, indices ascending."""
    indices, kept = topk(list(request.values), request.k, width=config.width, signed=config.signed)
    return list(zip(indices.tolist(), kept.tolist(), strict=True))


def check_response(config: TopKConfig, request: Request, beats: list[DoutBeat]) -> list[str]:
    """Problems with the dout beats answering ``request`` (the last one has ``last`` set)."""
    lanes = config.lanes
    if request.is_error(config):
        beat = beats[0]
        if len(beats) != 1 or not beat.error or beat.count != 0 or not beat.last:
            return [f"error request must get one beat error=1 count=0 last=1, got {len(beats)}"]
        return []
    problems = []
    want_beats = max(1, -(-request.k // lanes))
    if len(beats) != want_beats:
        problems.append(f"expected {want_beats} dout beats, got {len(beats)}")
    if any(b.error for b in beats):
        problems.append("error flag set on a valid request")
    for i, beat in enumerate(beats[:-1]):
        if beat.count != lanes:
            problems.append(f"beat {i} is not the last but has count={beat.count} != P={lanes}")
    if not 0 <= beats[-1].count <= lanes:
        problems.append(f"last beat count={beats[-1].count} outside 0..{lanes}")
    got = [pair for b in beats for pair in zip(b.index[: b.count], b.value[: b.count], strict=True)]
    want = expected_pairs(config, request)
    if got != want:
        problems.append(f"kept pairs differ:\n    expected {want}\n    got      {got}")
    return problems


def check_order(previous: Timeline | None, current: Timeline) -> list[str]:
    """Problems with the one-request-at-a-time handshake order between two requests."""
    if previous is None or current.cmd_edge is None:
        return []
    problems = []
    if previous.out and current.cmd_edge <= previous.out[-1].edge:
        problems.append("cmd accepted before the previous response had finished")
    din = previous.inputs.get("din")
    if din and current.cmd_edge <= din[-1]:
        problems.append("cmd accepted before all din beats of the previous request")
    return problems
