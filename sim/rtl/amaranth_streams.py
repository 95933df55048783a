"""Drive a component's ``amaranth.lib.stream`` ports in ``amaranth.sim`` from queues.

Every input stream is fed its queue of payloads back to back (or with seeded random idle
cycles); the output stream is drained (or randomly back-pressured) until it has carried a given
number of beats with ``last`` set. The cycle of every transfer is recorded, so tests can compare
latencies with a cycle model.
"""

import random
from dataclasses import dataclass, field

from amaranth.lib import wiring
from amaranth.sim import Simulator

__all__ = ["Trace", "drive"]


@dataclass
class Trace:
    """Transfers seen in one run: per stream, the cycle of each beat; the output payloads."""

    cycles: dict[str, list[int]] = field(default_factory=dict)
    outputs: list[object] = field(default_factory=list)


def drive(
    dut: wiring.Component,
    sources: dict[str, list],
    sink: str,
    *,
    lasts: int,
    stall_seed: int | None = None,
    stall: float = 0.3,
    max_cycles: int = 200_000,
) -> Trace:
    """Run ``dut`` until ``sink`` has carried ``lasts`` beats with ``last`` set.

    Parameters
    ----------
    dut : wiring.Component
        Its members named in ``sources`` and ``sink`` are streams.
    sources : dict
        Stream name to the payloads to send, in order (anything ``ctx.set`` accepts).
    sink : str
        Output stream name; its payload must have a ``last`` field.
    lasts : int
        Stop after this many beats with ``last`` set.
    stall_seed : int, optional
        When given, each source idles and the sink refuses a beat with probability ``stall``.
    """
    rng = random.Random(stall_seed)
    stalls = stall_seed is not None
    trace = Trace(cycles={name: [] for name in [*sources, sink]})
    out = getattr(dut, sink)

    async def bench(ctx):
        sent = dict.fromkeys(sources, 0)
        cycle = 0
        seen = 0
        while seen < lasts:
            fires = []
            for name, queue in sources.items():
                port = getattr(dut, name)
                valid = sent[name] < len(queue) and not (stalls and rng.random() < stall)
                ctx.set(port.valid, valid)
                if sent[name] < len(queue):
                    ctx.set(port.payload, queue[sent[name]])
                fires.append((name, valid))
            ready = not (stalls and rng.random() < stall)
            ctx.set(out.ready, ready)
            fired = [name for name, valid in fires if valid and ctx.get(getattr(dut, name).ready)]
            payload = ctx.get(out.payload) if ready and ctx.get(out.valid) else None
            await ctx.tick()
            cycle += 1
            for name in fired:
                sent[name] += 1
                trace.cycles[name].append(cycle)
            if payload is not None:
                trace.cycles[sink].append(cycle)
                trace.outputs.append(payload)
                seen += payload.last
            if cycle > max_cycles:
                raise AssertionError(f"no end after {max_cycles} cycles: {sent} sent, "
                                     f"{seen} of {lasts} answers")
        for name in sources:
            ctx.set(getattr(dut, name).valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return trace
