"""The top-k engine in the RTL harness: its plan, its drive, its checks (both backends).

Each batch's cmd and din beats are queued at once on independent sources, so din beats are
offered as early as the engine takes them; every response (the dout beats up to ``last``) is
compared with :func:`sparsa.models.golden.topk.topk`, the handshake order with the previous
request is checked, and the cycles of every request of an unstalled batch are compared with
:class:`sparsa.sim.blocks.topk.TopKCycleModel` (fed every request in RTL order, since its LFSR
carries over from request to request).
"""

from typing import Any

from amaranth.lib import wiring

from sparsa.config.topk import TopKConfig
from sparsa.hw.topk.topk import TopKEngine
from sparsa.sim.blocks.topk import TopKCycleModel
from sparsa.sim.rtl.harness import Answers, Batch, Bench, Block, seeded_batches
from sparsa.sim.rtl.stalls import Stalls
from sparsa.sim.rtl.topk.codec import TopKCodec
from sparsa.sim.rtl.topk.scoreboard import check_order, check_response
from sparsa.sim.rtl.topk.stimulus import SOURCES, Request, make_plan

__all__ = ["TopKBlock", "cycle_bound"]


def cycle_bound(config: TopKConfig, request: Request, stalls: Stalls) -> int:
    """Generous number of cycles within which a request must be answered (else: a hang).

    Quick-select streams at most about n^2 / 2 candidates through C comparators in all, with a
    few cycles per round; error requests only consume their beats.
    """
    n, beats = request.n, -(-request.n // config.lanes)
    select = 0 if request.is_error(config) else n * n // config.comparators + 16 * n
    cycles = 8 * beats + select + 1000
    return cycles if stalls.none else 10 * cycles


class TopKBlock(Block):
    """SpAtten's top-k engine (:class:`~sparsa.hw.topk.topk.TopKEngine`)."""

    name = "topk"
    config_type = TopKConfig
    sources = SOURCES
    sinks = ("dout",)

    def elaborate(self, config: TopKConfig) -> wiring.Component:
        return TopKEngine(config)

    def new_state(self, config: TopKConfig) -> TopKCycleModel:
        return TopKCycleModel(config)

    def plan(self, config: TopKConfig, seed: int, count: int, *, stalls: bool) -> list[Batch]:
        return seeded_batches(make_plan(config, seed, count), seed, stalls=stalls)

    def batch_to_json(self, batch: Batch) -> Any:
        return batch.to_json(
            requests=[[r.n, r.k, list(r.values), r.pattern, list(r.junk)] for r in batch.cases]
        )

    def batch_from_json(self, config: TopKConfig, data: Any) -> Batch:
        requests = (
            Request(n=n, k=k, values=tuple(values), pattern=pattern, junk=tuple(junk))
            for n, k, values, pattern, junk in data["requests"]
        )
        return Batch.from_json(data, requests)

    async def run_batch(self, bench: Bench, batch: Batch) -> None:
        config: TopKConfig = bench.config
        codec = TopKCodec(config)
        scoreboard, runner = bench.scoreboard, bench.runner
        timelines = bench.timelines(len(batch.cases))
        predictions = []
        for number, request in enumerate(batch.cases):
            # The cycle model is stateful (LFSR): it sees every request in RTL order.
            predictions.append(bench.state.request(list(request.values), request.k))
            bench.sources["cmd"].push(codec.cmd(request.n, request.k), number)
            for lanes in request.din_beats(config):
                bench.sources["din"].push(codec.din(lanes), number)
        responses = Answers(bench.sinks["dout"], codec.dout)
        for number, request in enumerate(batch.cases):

            def where(number: int = number, request: Request = request) -> str:
                return (
                    f"topk request #{number} ({batch.stalls.describe()}) n={request.n} "
                    f"k={request.k} pattern={request.pattern} values={list(request.values)}"
                )

            response = await responses.wait(
                runner, number, max_cycles=cycle_bound(config, request, batch.stalls),
                what=where())
            timelines[number].out = response
            problems = check_response(config, request, response)
            problems += check_order(timelines[number - 1] if number else None, timelines[number])
            scoreboard.answer(problems, where)
            scoreboard.count("error requests", int(request.is_error(config)))
            scoreboard.count(f"pattern {request.pattern}")
            if batch.stalls.none:
                measured = timelines[number].measured_cycles
                scoreboard.check_cycles(measured, predictions[number].total, where)
        # Nothing may be left unconsumed, nor answered twice.
        await bench.drain(max_cycles=4 * config.capacity + 16, what="topk: draining inputs")
        responses.close(scoreboard, f"topk ({batch.stalls.describe()})", "response")
