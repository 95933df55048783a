"""One GEMM on the SAT accelerator system, as the network simulator costs it: the program the
compiler makes for it, built from the GEMM's shape (:func:`sparsa.dataflow.sat_program.plan_shape`,
laid out by :func:`sparsa.dataflow.sat_program.emit_layer`: the same instructions and addresses
:func:`sparsa.dataflow.sat_program.compile_gemm` gives operands of that shape), timed by the
system's cycle model (:func:`sparsa.sim.blocks.sat_system.program_timing`, exact against the
RTL). A GEMM whose program does not fit the instruction memory runs as the programs of its parts
(:mod:`sparsa.dataflow.sat_parts`, as :func:`sparsa.dataflow.sat_parts.compile_gemm_parts`
compiles it), one after another: its cycles are the sum of theirs, each part's program timed
from address 0 like a GEMM's (parts of one shape are timed once)."""

from collections import Counter
from dataclasses import dataclass, fields

from sparsa.config.sat import BdwpPass, Dataflow
from sparsa.config.sat_system import INSTRUCTION_BITS, Opcode, SatSystemConfig, StoreMode, encode
from sparsa.dataflow.sat_parts import plan_parts
from sparsa.dataflow.sat_program import (
    PlannedLayer,
    ProgramImage,
    StoreRule,
    emit_layer,
    plan_shape,
)
from sparsa.dataflow.sat_schedule import GemmOp
from sparsa.models.golden.sat_system import transfer_bytes
from sparsa.sim.blocks.sat_system import SystemTiming, program_timing

__all__ = ["SystemGemm", "gemm_program", "system_gemm"]


def gemm_program(config: SatSystemConfig, op: GemmOp, dataflow: Dataflow, *,
                 base: int = 0, generate: BdwpPass | None = None) -> list[int]:
    """The program (END last) of one repetition of ``op`` with pre-generated weights (with
    ``generate``, the copy the SORE builds them as), raw stores and resident operands, laid
    out from ``base`` (module docstring); it may be longer than the system's
    ``program_depth``.

    Raises
    ------
    ValueError
        For a GEMM the compiler cannot plan (its message).
    """
    return _emit(config, plan_shape(config, (op.rows, op.entries, op.cols), op.pattern,
                                    dataflow, generate=generate), base)


@dataclass(frozen=True)
class SystemGemm:
    """One repetition of a GEMM run on the system (:func:`system_gemm`), all its parts together.

    Attributes
    ----------
    dataflow : Dataflow
    parts : int
        Programs it runs as (1 when its program fits the instruction memory).
    tiles, instructions : int
        Of its programs (END included).
    a_loads : int
        LOADs (or GENERATEs) of A (fewer than the tiles where A tiles stay on chip).
    a_bytes, b_bytes, program_bytes : int
        Bytes its LOADs (or GENERATEs) of A and its LOADs of B and its instruction fetches
        read.
    timing : SystemTiming
        The cycle model's runs of its programs, summed: cycles, array-busy cycles, bytes read
        and written (``gemm_ends`` empty).
    """

    dataflow: Dataflow
    parts: int
    tiles: int
    instructions: int
    a_loads: int
    a_bytes: int
    b_bytes: int
    program_bytes: int
    timing: SystemTiming


def system_gemm(config: SatSystemConfig, op: GemmOp, dataflow: Dataflow, *,
                read_latency: int, generate: BdwpPass | None = None) -> SystemGemm:
    """The system's run of one repetition of ``op``: its parts' programs
    (:func:`sparsa.dataflow.sat_parts.plan_parts`; one, the GEMM's, when it fits the
    instruction memory) from address 0, one after another, the memory answering reads
    ``read_latency`` cycles after their address; A pre-generated, or, with ``generate``, the
    copy the SORE builds from the dense weights (GENERATE).

    Raises
    ------
    ValueError
        For a GEMM the compiler cannot plan (its message).
    """
    plan = plan_parts(config, (op.rows, op.entries, op.cols), op.pattern, dataflow,
                      generate=generate)
    total = SystemTiming()
    tiles = instructions = a_loads = a_bytes = b_bytes = program_bytes = 0
    for shape, count in Counter(part.shape for part in plan.parts).items():
        layer = plan.plans[shape]
        program = _emit(config, layer, 0)
        timing = program_timing(config, program, program_addr=0, read_latency=read_latency)
        for name in (f.name for f in fields(SystemTiming) if f.name != "gemm_ends"):
            setattr(total, name, getattr(total, name) + count * getattr(timing, name))
        tiles += count * len(layer.tiles)
        instructions += count * len(program)
        program_bytes += count * transfer_bytes(config, len(program), INSTRUCTION_BITS)
        a, b, a_count = layer.loads
        a_bytes += count * a
        b_bytes += count * b
        a_loads += count * a_count
    return SystemGemm(dataflow, len(plan.parts), tiles, instructions, a_loads, a_bytes,
                      b_bytes, program_bytes, total)


def _emit(config: SatSystemConfig, layer: PlannedLayer, base: int) -> list[int]:
    """The layer's program, END last, laid out from ``base`` (whatever its length)."""
    length = layer.instructions + 1
    image = ProgramImage(config.replace(program_depth=max(length, config.program_depth)),
                         base, length)
    program, _ = emit_layer(layer, image, store=StoreRule(StoreMode.RAW))
    return [*program, encode(Opcode.END)]
