"""One GEMM on the SAT accelerator system, as the network simulator costs it: the program the
compiler makes for it, built from the GEMM's shape (:func:`sparsa.dataflow.sat_program.plan_shape`,
laid out by :func:`sparsa.dataflow.sat_program.emit_layer`: the same instructions and addresses
:func:`sparsa.dataflow.sat_program.compile_gemm` gives operands of that shape), timed by the
system's cycle model (:func:`sparsa.sim.blocks.sat_system.program_timing`, exact against the
RTL)."""

from dataclasses import dataclass

from sparsa.config.sat import Dataflow
from sparsa.config.sat_system import INSTRUCTION_BITS, Opcode, SatSystemConfig, StoreMode, encode
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
                 base: int = 0) -> list[int]:
    """The program (END last) of one repetition of ``op`` with pre-generated weights, raw
    stores and resident operands, laid out from ``base`` (module docstring); it may be longer
    than the system's ``program_depth``.

    Raises
    ------
    ValueError
        For a GEMM the compiler cannot plan (its message).
    """
    return _emit(config, _plan(config, op, dataflow), base)


@dataclass(frozen=True)
class SystemGemm:
    """One repetition of a GEMM run on the system (:func:`system_gemm`).

    Attributes
    ----------
    dataflow : Dataflow
    tiles, instructions : int
        Of its program (END included).
    a_loads : int
        LOADs of A (fewer than the tiles where A tiles stay on chip).
    a_bytes, b_bytes, program_bytes : int
        Bytes its LOADs of A and of B and its instruction fetch read.
    timing : SystemTiming
        The cycle model's run: cycles, array-busy cycles, bytes read and written.
    """

    dataflow: Dataflow
    tiles: int
    instructions: int
    a_loads: int
    a_bytes: int
    b_bytes: int
    program_bytes: int
    timing: SystemTiming


def system_gemm(config: SatSystemConfig, op: GemmOp, dataflow: Dataflow, *,
                read_latency: int) -> SystemGemm | None:
    """The system's run of one repetition of ``op`` (:func:`gemm_program` from address 0),
    its memory answering reads ``read_latency`` cycles after their address; None when the
    program does not fit the instruction memory (``program_depth``).

    Raises
    ------
    ValueError
        For a GEMM the compiler cannot plan (its message).
    """
    layer = _plan(config, op, dataflow)
    if layer.instructions + 1 > config.program_depth:
        return None
    program = _emit(config, layer, 0)
    loaded, a_loads = [0, 0], 0
    for steps in layer.steps:
        for _, fields, data in steps:
            loaded[fields["buffer"]] += len(data)
            a_loads += fields["buffer"] == 0
    timing = program_timing(config, program, program_addr=0, read_latency=read_latency)
    return SystemGemm(dataflow, len(layer.tiles), len(program), a_loads, *loaded,
                      transfer_bytes(config, len(program), INSTRUCTION_BITS), timing)


def _plan(config: SatSystemConfig, op: GemmOp, dataflow: Dataflow) -> PlannedLayer:
    return plan_shape(config, (op.rows, op.entries, op.cols), op.pattern, dataflow)


def _emit(config: SatSystemConfig, layer: PlannedLayer, base: int) -> list[int]:
    """The layer's program, END last, laid out from ``base`` (whatever its length)."""
    length = layer.instructions + 1
    image = ProgramImage(config.replace(program_depth=max(length, config.program_depth)),
                         base, length)
    program, _ = emit_layer(layer, image, store=StoreRule(StoreMode.RAW))
    return [*program, encode(Opcode.END)]
