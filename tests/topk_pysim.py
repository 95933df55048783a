"""Drive :class:`hw.topk.TopKEngine` in ``amaranth.sim``: requests in, responses and cycles out."""

import random
from dataclasses import dataclass

from amaranth.sim import Simulator

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
    """Run ``(values, k)`` requests back to back; random stalls and back-pressure if seeded."""
    dut = TopKEngine(config)
    rng = random.Random(stall_seed)
    stalls = stall_seed is not None
    P = config.lanes
    responses: list[Response] = []

    async def bench(ctx):
        ctx.set(dut.dout.ready, 0)
        await ctx.tick()
        for values, k in requests:
            n = len(values)
            beats = [values[i : i + P] for i in range(0, n, P)]
            beats = [b + [0] * (P - len(b)) for b in beats]
            cmd_sent = False
            sent = 0
            cycle = 0
            start = None
            got_idx: list[int] = []
            got_val: list[int] = []
            nbeats = 0
            while True:
                cmd_valid = not cmd_sent and not (stalls and rng.random() < 0.3)
                din_valid = sent < len(beats) and not (stalls and rng.random() < 0.3)
                ready = not (stalls and rng.random() < 0.3)
                ctx.set(dut.cmd.valid, cmd_valid)
                ctx.set(dut.cmd.payload, {"n": n, "k": k})
                ctx.set(dut.din.valid, din_valid)
                if sent < len(beats):
                    ctx.set(dut.din.payload, beats[sent])
                ctx.set(dut.dout.ready, ready)
                cmd_fire = cmd_valid and ctx.get(dut.cmd.ready)
                din_fire = din_valid and ctx.get(dut.din.ready)
                out_fire = ready and ctx.get(dut.dout.valid)
                out = ctx.get(dut.dout.payload) if out_fire else None
                await ctx.tick()
                cycle += 1
                if cmd_fire:
                    cmd_sent, start = True, cycle
                if din_fire:
                    sent += 1
                if out is not None:
                    nbeats += 1
                    cnt = out.count
                    got_idx += [out.index[i] for i in range(cnt)]
                    got_val += [out.value[i] for i in range(cnt)]
                    if out.last:
                        responses.append(
                            Response(got_idx, got_val, bool(out.error), nbeats, cycle - start)
                        )
                        break
                if cycle > 100_000:
                    raise AssertionError(f"engine hung on request n={n} k={k}")
        ctx.set(dut.cmd.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return responses
