"""Drive :class:`hw.topk.TopKEngine` in ``amaranth.sim``: requests in, responses and cycles out."""

from dataclasses import dataclass

from hw.stream_sim import drive
from hw.topk import TopKEngine
from hw.topk_config import TopKConfig


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
    """Run ``(values, k)`` requests back to back on one freshly reset engine."""
    P = config.lanes
    cmds, beats = [], []
    for values, k in requests:
        cmds.append({"n": len(values), "k": k})
        padded = list(values) + [0] * (-len(values) % P)
        beats += [padded[i : i + P] for i in range(0, len(padded), P)]
    trace = drive(TopKEngine(config), {"cmd": cmds, "din": beats}, "dout",
                  lasts=len(requests), stall_seed=stall_seed)
    responses, current = [], []
    for cycle, out in zip(trace.cycles["dout"], trace.outputs, strict=True):
        current.append(out)
        if out.last:
            start = trace.cycles["cmd"][len(responses)]
            indices = [o.index[i] for o in current for i in range(o.count)]
            values = [o.value[i] for o in current for i in range(o.count)]
            responses.append(Response(indices, values, bool(out.error), len(current),
                                      cycle - start))
            current = []
    return responses
