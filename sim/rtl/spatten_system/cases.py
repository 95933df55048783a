"""End-to-end cases of the SpAtten system: seeded GPT-2-shaped runs and faulty ones, their golden
runs, and the comparison of what the Verilated system did with the golden model, the cycle
model and the trace simulator.

:func:`random_case` draws a run (:func:`sparsa.dataflow.spatten_program.random_run`) and its
golden result; :func:`fault_cases` builds runs that must stop on each fault. :func:`compare`
checks one result: every output record, requant flag, head importance and kept list against
the golden run, the error register, the beats on every port against what the run must move,
the counters against the beats, and returns the cycles of the system, of the cycle model and of
the trace simulator beside each other.
"""

import dataclasses
from dataclasses import dataclass

from sparsa.config.spatten_system import (
    DESCRIPTOR_BITS,
    Fault,
    SpattenSystemConfig,
)
from sparsa.dataflow.spatten_program import (
    RunImage,
    build_image,
    descriptor_bytes,
    random_run,
    read_results,
    run_trace,
)
from sparsa.models.golden.spatten_system import LayerRun, LayerSettings, run_layers
from sparsa.sim.blocks.spatten_system import SpattenSystemCycleModel, run_cycles
from sparsa.sim.network.spatten_system import predict_system
from sparsa.sim.rtl.spatten_system.run import RunResult

__all__ = ["CaseResult", "SpattenCase", "compare", "fault_cases", "random_case"]


@dataclass(frozen=True)
class SpattenCase:
    """A run with its DRAM image and what the golden model says it does.

    Attributes
    ----------
    expect : tuple of (Fault, int)
        The fault and layer the system must stop with (``NONE``, 0 for a good run); the golden
        run then covers the layers before that layer.
    """

    name: str
    image: RunImage
    runs: tuple[LayerRun, ...]
    settings: tuple[LayerSettings, ...]
    expect: tuple[Fault, int] = (Fault.NONE, 0)


@dataclass(frozen=True)
class CaseResult:
    """One case as the system ran it and as the models predict it.

    Attributes
    ----------
    rtl, model, trace : int or None
        Cycles: measured by the bench from the start's register write to the interrupt, the
        cycle model's on the same data, the trace simulator's from the run's trace (None for a
        faulty run).
    counted : int
        The system's own ``cycles`` counter (from the start to done).
    failures : tuple of str
        Every difference found.
    """

    name: str
    rtl: int
    counted: int
    model: int | None
    trace: int | None
    failures: tuple[str, ...]
    requants: int
    commands: int
    bytes_read: int
    bytes_written: int


def random_case(config: SpattenSystemConfig, *, layers: int, tokens: int, heads: int,
                seed: int) -> SpattenCase:
    """A seeded good run.

    A faulty run leaves the engines' pivot LFSRs where its layers left them, which the cycle
    model does not follow: run faulty cases after the good ones whose cycles count."""
    tensors, settings = random_run(config, layers=layers, tokens=tokens, heads=heads, seed=seed)
    runs = run_layers(config, tensors, settings, tokens=tokens, heads=heads)
    image = build_image(config, tensors, settings, tokens=tokens, heads=heads)
    return SpattenCase(name=f"seed {seed}: {layers} layers, {tokens} tokens, {heads} heads",
                       image=image, runs=tuple(runs), settings=tuple(settings))


def fault_cases(config: SpattenSystemConfig, *, seed: int) -> list[SpattenCase]:
    """Runs that stop on each fault: no tokens at the start, a layer 1 that keeps no token, a
    layer 0 whose MSB setting the core lacks, V rows past the end of the memory at layer 0
    (run them after the good cases:
    :func:`random_case`)."""
    tensors, settings = random_run(config, layers=2, tokens=24, heads=4, seed=seed)
    good = build_image(config, tensors, settings, tokens=24, heads=4)
    first = run_layers(config, tensors[:1], settings[:1], tokens=24, heads=4)
    bad_keep = [settings[0], dataclasses.replace(settings[1], token_keep=0)]
    keep_image = build_image(config, tensors, bad_keep, tokens=24, heads=4)
    bad_bits = [dataclasses.replace(settings[0], msb_bits=5), settings[1]]
    bits_image = build_image(config, tensors, bad_bits, tokens=24, heads=4)
    far = bytearray(good.image)  # layer 0's descriptor with V past the memory
    far[good.table:good.table + DESCRIPTOR_BITS // 8] = descriptor_bytes(
        dataclasses.replace(good.regions[0], v=1 << (config.axi.addr_width - 1)), settings[0])
    return [
        SpattenCase("no token at the start", dataclasses.replace(good, tokens=0), (), (),
                    (Fault.START, 0)),
        SpattenCase("layer 1 keeps no token", keep_image, tuple(first), tuple(settings[:1]),
                    (Fault.DESCRIPTOR, 1)),
        SpattenCase("layer 0 asks the core for MSB setting 5", bits_image, (), (),
                    (Fault.DESCRIPTOR, 0)),
        SpattenCase("V past the memory", dataclasses.replace(good, image=bytes(far)), (), (),
                    (Fault.DRAM, 0)),
    ]


def _traffic(config: SpattenSystemConfig, case: SpattenCase) -> dict[str, int]:
    """The beats each port must move for the case's (completed) layers."""
    refused = case.expect[0] is Fault.DESCRIPTOR  # its descriptor was read
    beats = {"q": config.descriptor_words * (len(case.runs) + refused), "k_msb": 0, "k_lsb": 0,
             "v": 0, "wr": 0}
    for run, s in zip(case.runs, case.settings, strict=True):
        n, alive = len(run.tokens), len(run.heads)
        beats["q"] += alive * config.row_words("q")
        beats["k_msb"] += alive * n * config.row_words("k_msb")
        beats["k_lsb"] += sum(a.requant for a in run.answers) * n * config.row_words("k_lsb")
        beats["v"] += sum(len(a.v_rows) for a in run.answers) * config.row_words("v")
        beats["wr"] += (alive * config.output_words + config.list_words(s.token_keep)
                        + config.list_words(s.head_keep))
    return beats


def compare(config: SpattenSystemConfig, case: SpattenCase, result: RunResult, *,
            model: SpattenSystemCycleModel, latency: int) -> CaseResult:
    """Check ``result`` against ``case`` (module docstring). ``model`` is fed the case's layers
    (it keeps the engines' state from case to case, as the system does); a faulty run's
    cycles are not predicted."""
    failures = []
    code, layer = result.registers["error"] & 0xF, result.registers["error"] >> 8 & 0xFFFF
    if (code, layer) != (int(case.expect[0]), case.expect[1]):
        failures.append(f"{case.name}: error {Fault(code).name} at layer {layer}, expected "
                        f"{case.expect[0].name} at layer {case.expect[1]}")
    if result.registers["status"] != (0b110 if case.expect[0] else 0b010):
        failures.append(f"{case.name}: status {result.registers['status']:#05b}")
    if result.irq_after_clear:
        failures.append(f"{case.name}: irq still high after its clear")
    got = read_results(config, case.image, result.memory, [r.heads for r in case.runs],
                       [(s.token_keep, s.head_keep) for s in case.settings])
    for index, (run, written) in enumerate(zip(case.runs, got, strict=True)):
        for a in run.answers:
            expected = (tuple(a.out.tolist()), a.requant, a.head_importance)
            if written.outputs[a.head] != expected:
                failures.append(f"{case.name}: layer {index} head {a.head}: wrote "
                                f"{written.outputs[a.head]}, golden {expected}")
        if (written.kept_tokens, written.kept_heads) != (run.kept_tokens, run.kept_heads):
            failures.append(f"{case.name}: layer {index} kept {written.kept_tokens} / "
                            f"{written.kept_heads}, golden {run.kept_tokens} / {run.kept_heads}")
    word = config.axi.word_bytes
    counters = {name: result.counter(name) for name in (
        "commands", "requants", "bytes_read", "bytes_written", "cycles", "prune")}
    requants = sum(a.requant for r in case.runs for a in r.answers)
    if case.expect[0] in (Fault.NONE, Fault.DESCRIPTOR):
        traffic = _traffic(config, case)
        if result.beats != traffic:
            failures.append(f"{case.name}: beats per port {result.beats}, the run moves "
                            f"{traffic}")
        commands = sum(len(r.heads) for r in case.runs)
        if (counters["commands"], counters["requants"]) != (commands, requants):
            failures.append(f"{case.name}: counted {counters['commands']} commands and "
                            f"{counters['requants']} requants, golden {commands} and "
                            f"{requants}")
    if counters["bytes_read"] != word * sum(v for p, v in result.beats.items() if p != "wr"):
        failures.append(f"{case.name}: bytes_read {counters['bytes_read']} against the beats")
    if counters["bytes_written"] != word * result.beats["wr"]:
        failures.append(f"{case.name}: bytes_written {counters['bytes_written']} against the "
                        f"beats")
    predicted = trace = None
    if case.expect[0] is Fault.NONE:
        layers = [model.layer(r, s) for r, s in zip(case.runs, case.settings, strict=True)]
        predicted = run_cycles(config, layers, latency)
        trace = predict_system(run_trace(config, case.runs, case.settings), config,
                               latency=latency).cycles
    return CaseResult(name=case.name, rtl=result.cycles, counted=counters["cycles"],
                      model=predicted, trace=trace,
                      failures=tuple(failures), requants=counters["requants"],
                      commands=counters["commands"], bytes_read=counters["bytes_read"],
                      bytes_written=counters["bytes_written"])
