"""Network-scale simulation of one SAT training iteration on a target.

The iteration is the list of training GEMMs of :func:`sparsa.dataflow.sat_schedule.training_gemms`
(FF forward, then BP and WU backward), each cut into the array's tiles and placed on the
RTL-validated timeline of the array (:class:`sparsa.sim.blocks.sat_array.ArrayTimeline`, fed by the
closed-form runs of :func:`sparsa.dataflow.sat_schedule.plan_gemm`), its operands moved by the DRAM
model of the target, and the N:M weight copies of every sparse layer produced by the SORE
(:func:`sparsa.sim.blocks.sore.stream_cycles`, RTL-validated). For the floating-point formats the
weights are then updated by the weight-update engine (:mod:`sparsa.sim.blocks.weight_update`,
the AMP optimizer step).

The number format is the array's ``dtype`` (:class:`sparsa.config.formats.NumberFormat`). The PE
array's cycles do not depend on it (a floating-point PE multiply-adds in one cycle, as an
integer one does); what it changes is the bytes: activations, errors, weight gradients, dense
weights and the values of compressed weights move at the operand width (1 byte for int8, 2 for
int16, fp16 and bf16), N:M indices at ceil(log2 M) bits whatever the format, and the MAC energy
is the format's (``mac_<dtype>``).

Composition rules (each one a modelling choice, stated here and in the report):

* **Dependences.** The GEMMs run in list order on one array. A GEMM whose operand another GEMM
  produces waits until that GEMM's answer has left the array: every FF waits for the previous
  FF; every BP and WU waits for the latest BP before it (the one that produced its output
  gradient; for the last layer, the last FF). This is conservative for branching networks (a
  block's shortcut and main path are chained too). A WU and the BP around it are independent.
* **Interleave mapping** (a technique that can be switched off): the array takes the next tile
  while the previous one drains (:mod:`sparsa.hw.sat.sat_array`), so consecutive independent tiles,
  those of one GEMM and those of a BP and a WU, overlap; a dependent GEMM still waits as above.
  Switched off, the array answers each tile in full before it takes the next.
* **Double buffering.** A GEMM's operand transfers overlap its compute tile by tile: with t the
  transfer and c the compute cycles of one of its n equal tiles, it takes
  t + (n - 1) max(c, t) + c cycles (the first load and the last compute are exposed); c sums to
  the cycles the GEMM adds to the array's timeline; the excess is counted as DRAM stall.
* **Offline scheduling** (a technique that can be switched off): before the run, each GEMM gets
  a dataflow (OS or WS) and a loop order (A or B resident). The scheduler builds candidate
  schedules (every GEMM output-stationary with the weights resident, and, for each of the four
  cost models with and without pre-generation and interleave, the schedule that picks, GEMM
  after GEMM, the choice that adds the fewest cycles to the timeline so far) and keeps the
  fastest under the run's own model. Switched off, every GEMM runs output-stationary with the
  weights resident. Because the candidates do not depend on the switches, switching any
  technique off never makes a run faster.
* **Pre-generation** (a technique that can be switched off): the SORE produces the FF- and
  BP-grouped compressed copies of every sparse layer's weights right after the weight update,
  beside the array; its cycles count only where they exceed the backward pass's array time, and
  the copies are written to DRAM and read back by FF and BP. Switched off, the SORE runs on the
  critical path before each sparse layer's FF, reading the dense weights, and again before its
  BP, and its output goes straight to the array.
* **Buffers.** The target's on-chip memory is split evenly between the A (weights), B
  (activations or errors) and output buffers (an assumption); a whole operand that fits its
  buffer is read from DRAM once. A run sized by a SAT system (``simulate_iteration``'s
  ``system``) takes instead the system's own A and B buffers (rows times row bits; a B row
  counted as one dense activation beat, one value per lane), its array and its SORE, the design
  the RTL builds (without a SORE, the host makes the compressed copies: their DRAM traffic
  counts, their time does not), and reaches the DRAM through the system's one AXI4
  master (:func:`system_dram`): at most one ``data_width`` word per cycle at the target's
  clock. The model counts reads and writes against that one figure, where the port's read and
  write channels are separate, so it overstates the time of a port-bound GEMM by at most the
  share of its bytes that are writes.
* **Programs** (a run sized by a SAT system). The system runs each GEMM as a program of its
  own (:mod:`sparsa.sim.network.sat_system_gemm`: the compiler's program for the GEMM's shape,
  pre-generated weights, timed by the system's cycle model, which the RTL tests hold exact, with
  the memory answering a read ``read_latency`` cycles after its address), or, where that
  program is longer than the instruction memory (``program_depth``), as the programs of its
  parts, one after another (:mod:`sparsa.dataflow.sat_parts`; the host's work between them is
  not counted). Its cycles, array-busy cycles and bytes are its programs', times the GEMM's
  repetitions, and the offline schedule picks its dataflow by the programs' cycles; GEMMs run
  one after another (no interleave across programs). With pre-generation off on a system with
  a SORE, a sparse layer's FF and BP programs GENERATE its weights from the dense ones (the
  SORE's time is then in their cycles, and its traffic is dense weights). A GEMM the compiler
  cannot plan (a tile the buffers cannot hold) keeps the analytic model above, at the
  system's sizes.
* **Weight update** (fp16 and bf16: NVIDIA AMP mixed precision). After the last GEMM, the
  weight-update engine (``weight_update``, by default :data:`NETWORK_WEIGHT_UPDATE` in the
  array's format) runs one step over every weight of the network, on the critical path and
  overlapping nothing: one step, because AMP skips the whole iteration when any gradient
  overflows, and the engine decides the skip from all the gradients of a step before it writes
  any weight (so no layer can be updated before the last WU GEMM); nothing overlaps it, because
  the array's next work (the next iteration's FF) needs the updated weights (pipelining the
  update with the next iteration's first layers is not modelled). The step is a clean one (not
  skipped). Its DRAM traffic, per weight: the check pass reads the half-precision gradient; the
  update pass reads it again with the FP32 master weight and momentum and the mask bit, and
  writes the FP32 master weight and momentum and the half-precision copy that the next
  iteration's GEMMs and SORE read (``weights``). Each tensor is one vector over all layers. Its
  time is the engine's exact cycles (:func:`sparsa.sim.blocks.weight_update.step_cycles`) with
  each pass stretched by the cycles its DRAM transfer takes beyond the pass's beats
  (:class:`WeightUpdateResult`). The SORE writes each sparse layer's mask (one bit per weight)
  for the engine to read. Biases and normalisation parameters are not updated (they are not
  GEMM weights). Integer formats: no update is modelled (the engine is floating-point only),
  as before.
* **Resources.** The design's LUTs, FFs, DSPs and block RAM are predicted by the resource
  model fitted to synthesis (:mod:`sparsa.sim.network.resources`, :func:`network_utilisation`:
  the array, the SORE, the weight-update engine, the system's controller and AXI master, and
  the buffers, which take all of the target's block RAM and URAM as above) and reported as
  shares of the target's; ``sparsa simulate sat`` rejects a design that does not fit.
* Not modelled: the conversion of outputs to the operand format (integer requantization, or the
  rounding of FP32 accumulators to half precision), which the output buffer is assumed to do
  on the fly.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from math import ceil

from sparsa.config.formats import FP32
from sparsa.config.presets import (
    DEFAULT_WEIGHT_UPDATE,
    SAT_NETWORK_ARRAY,
    SAT_SORE_LANES,
    SYSTEM_READ_LATENCY,
)
from sparsa.config.sat import BdwpPass, Dataflow, NMPattern, SatArrayConfig, SoreConfig
from sparsa.config.sat_system import SatSystemConfig
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.dataflow.sat_schedule import PHASES, GemmOp, GemmPlan, plan_gemm, training_gemms
from sparsa.hw.export import config_json
from sparsa.models.golden.sat_system import row_bits
from sparsa.sim.blocks.sat_array import ArrayTimeline
from sparsa.sim.blocks.sore import stream_cycles
from sparsa.sim.blocks.weight_update import beats, step_cycles
from sparsa.sim.network.dram import DramTraffic, transfer_cycles
from sparsa.sim.network.energy import energy_breakdown, sore_group_scale
from sparsa.sim.network.resources import (
    CAPACITY_KEYS,
    ResourceEstimate,
    Utilisation,
    features,
    load_model,
)
from sparsa.sim.network.sat_system_gemm import SystemGemm, system_gemm
from sparsa.sim.network.target import DramSpec, Target

__all__ = [
    "ALL_TECHNIQUES",
    "DEFAULT_ARRAY",
    "NETWORK_WEIGHT_UPDATE",
    "SORE_LANES",
    "GemmResult",
    "SatResult",
    "Techniques",
    "WeightUpdateResult",
    "double_buffered_cycles",
    "layer_weights",
    "network_utilisation",
    "simulate_iteration",
    "simulate_weight_update",
    "system_dram",
]

# The array and SORE of the network simulations (sparsa.config.presets gives their sources).
DEFAULT_ARRAY = SAT_NETWORK_ARRAY
SORE_LANES = SAT_SORE_LANES
NETWORK_WEIGHT_UPDATE = DEFAULT_WEIGHT_UPDATE.replace(lanes=16)
"""The weight-update engine of the network simulations: the block's default
(:data:`sparsa.config.presets.DEFAULT_WEIGHT_UPDATE`) with 16 lanes; its ``dtype`` is replaced
by the array's. 16 lanes: the update pass moves 20.125 bytes per element (reads: FP32 master weight
and momentum 4 + 4, half-precision gradient 2, mask bit 1/8; writes: 4 + 4 and the half copy
2), and the VCU1525's DRAM sustains 4 x 19.2 GB/s x 0.9 = 69.12 GB/s, 345.6 bytes per cycle at
its 200 MHz: 17.2 elements per cycle, of which 16 is the largest power of two (16 x 20.125 =
322 bytes per cycle). The check pass (2 bytes per element) is then bound by the engine. The
pipeline stages and loss-scale settings are the block default's."""


@dataclass(frozen=True, kw_only=True)
class Techniques:
    """Dataflow techniques switched on (all by default) for the ablation (see the module
    docstring for what each one does)."""

    interleave: bool = True
    pregen: bool = True
    offline_schedule: bool = True


ALL_TECHNIQUES = Techniques()


def double_buffered_cycles(compute: int, transfer: int, tiles: int) -> int:
    """Cycles of ``tiles`` equal tiles whose transfers overlap the previous tile's compute."""
    if tiles < 1:
        raise ValueError(f"tiles must be at least 1, not {tiles!r}")
    c, t = compute / tiles, transfer / tiles
    return ceil(t + (tiles - 1) * max(c, t) + c)


@dataclass(frozen=True)
class GemmResult:
    """One GEMM of the iteration as simulated."""

    layer: str
    phase: str
    dataflow: str
    a_resident: bool
    tiles: int
    compute_cycles: int  # cycles the GEMM adds to the array's timeline
    cycles: int  # with the exposed DRAM transfers
    macs: int
    issued_macs: int
    dram_bytes: int
    sram_read_bits: int
    programs: int = 0  # the system's programs it runs as, each repetition (module docstring,
    # *programs*); 0 when the analytic model costs it

    @property
    def stall_cycles(self) -> int:
        return self.cycles - self.compute_cycles


@dataclass(frozen=True)
class WeightUpdateResult:
    """One step of the weight-update engine over the network's weights (module docstring).

    Attributes
    ----------
    config : WeightUpdateConfig
    elements : int
        Weights updated: the step's count.
    engine_cycles : int
        The step's cycles with its inputs never late
        (:func:`sparsa.sim.blocks.weight_update.step_cycles`, a clean step).
    check_dram_cycles, update_dram_cycles : int
        Cycles the check pass's and the update pass's DRAM transfers take at the sustained
        bandwidth (burst-rounded bytes).
    cycles : int
        The step's cycles on the critical path: ``engine_cycles`` plus, for each pass, the cycles
        its transfer takes beyond its beats.
    """

    config: WeightUpdateConfig
    elements: int
    engine_cycles: int
    check_dram_cycles: int
    update_dram_cycles: int
    cycles: int

    @property
    def beats(self) -> int:
        """Beats of one pass: ceil(elements / lanes)."""
        return beats(self.config, self.elements)

    @property
    def dram_stall_cycles(self) -> int:
        """Cycles the engine waits for DRAM."""
        return self.cycles - self.engine_cycles

    @property
    def bound(self) -> str:
        """``"dram"`` when DRAM stretches a pass, else ``"engine"``."""
        return "dram" if self.dram_stall_cycles else "engine"

    def to_dict(self) -> dict[str, object]:
        """Everything, JSON-ready."""
        return {
            "config": config_json(self.config),
            "elements": self.elements,
            "beats": self.beats,
            "engine_cycles": self.engine_cycles,
            "check_dram_cycles": self.check_dram_cycles,
            "update_dram_cycles": self.update_dram_cycles,
            "cycles": self.cycles,
            "dram_stall_cycles": self.dram_stall_cycles,
            "bound": self.bound,
        }


def layer_weights(layer: object) -> int:
    """Weights of a layer (``sparsa.models.zoo.cnn.LayerGemm``): groups x cout/groups x K."""
    return layer.groups * layer.ff.m * layer.ff.k


def simulate_weight_update(
    config: WeightUpdateConfig, elements: int, target: Target, traffic: DramTraffic
) -> WeightUpdateResult:
    """One clean step of the weight-update engine over ``elements`` weights on ``target``.

    Adds its DRAM traffic to ``traffic``: the check pass reads the half-precision gradients;
    the update pass reads them again with the FP32 master weights and momentum and the mask bits
    and writes the FP32 master weights and momentum and the half-precision copies, each tensor
    one transfer of ``elements`` values. A pass takes its beats or its transfer's cycles at the
    sustained bandwidth, whichever is longer (module docstring).
    """
    half, fp32 = config.dtype.bytes, FP32.width // 8
    check, update = DramTraffic(target.dram), DramTraffic(target.dram)
    check.add("gradients", "read", elements * half)
    update.add("master_weights", "read", elements * fp32)
    update.add("momentum", "read", elements * fp32)
    update.add("gradients", "read", elements * half)
    update.add("masks", "read", ceil(elements / 8))
    update.add("master_weights", "write", elements * fp32)
    update.add("momentum", "write", elements * fp32)
    update.add("weights", "write", elements * half)
    traffic.merge(check)
    traffic.merge(update)
    b = beats(config, elements)
    engine = step_cycles(config, count=elements, skipped=False).period
    check_dram, update_dram = (
        transfer_cycles(target.dram, t.bytes(), target.clock_hz) for t in (check, update)
    )
    cycles = engine + max(0, check_dram - b) + max(0, update_dram - b)
    return WeightUpdateResult(config, elements, engine, check_dram, update_dram, cycles)


@dataclass
class SatResult:
    """A simulated training iteration.

    Attributes
    ----------
    model, pattern, target : str
    batch : int
    clock_hz : float
    gemms : list of GemmResult
    sore_cycles : int
        SORE cycles of the iteration.
    sore_exposed_cycles : int
        The part of them on the critical path.
    traffic : DramTraffic
    energy_j : dict
        Joules per action, static and total.
    array : SatArrayConfig
    techniques : Techniques
    phase_cycles : dict
        Cycles of the GEMMs of each phase (FF, BP, WU).
    weight_update : WeightUpdateResult or None
        The weight-update engine's step (floating-point formats; None for the integers).
    resources : sparsa.sim.network.resources.Utilisation or None
        The design's predicted resources on the target (:func:`network_utilisation`; None
        for a target that is not an FPGA).
    """

    model: str
    pattern: str
    target: str
    batch: int
    clock_hz: float
    gemms: list[GemmResult]
    sore_cycles: int
    sore_exposed_cycles: int
    traffic: DramTraffic
    energy_j: dict[str, float]
    array: SatArrayConfig
    techniques: Techniques
    phase_cycles: dict[str, int] = field(default_factory=dict)
    weight_update: WeightUpdateResult | None = None
    resources: Utilisation | None = None

    @property
    def weight_update_cycles(self) -> int:
        """Cycles of the weight-update step (0 when there is none)."""
        return 0 if self.weight_update is None else self.weight_update.cycles

    @property
    def cycles(self) -> int:
        return (
            sum(g.cycles for g in self.gemms) + self.sore_exposed_cycles + self.weight_update_cycles
        )

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def macs(self) -> int:
        return sum(g.macs for g in self.gemms)

    @property
    def stall_cycles(self) -> dict[str, int]:
        """Cycles beyond the array's compute, by cause (the weight-update step's own cycles are
        not a stall; the cycles it waits for DRAM are ``weight_update_dram``)."""
        wu = 0 if self.weight_update is None else self.weight_update.dram_stall_cycles
        return {
            "dram": sum(g.stall_cycles for g in self.gemms),
            "sore": self.sore_exposed_cycles,
            "weight_update_dram": wu,
        }

    @property
    def utilisation(self) -> float:
        """Dense-equivalent MACs over the array's MAC slots in the iteration's cycles (above 1
        where N:M sparsity skips MACs; :attr:`busy_share` is the array's own)."""
        return self.macs / (self.cycles * self.array.rows * self.array.cols)

    @property
    def busy_share(self) -> float:
        """The share of the iteration's cycles the array holds a tile (the GEMMs' compute
        cycles over all cycles; at most 1)."""
        return sum(g.compute_cycles for g in self.gemms) / self.cycles

    def to_dict(self) -> dict[str, object]:
        """Everything, JSON-ready."""
        return {
            "model": self.model,
            "pattern": self.pattern,
            "target": self.target,
            "batch": self.batch,
            "clock_hz": self.clock_hz,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "macs": self.macs,
            "utilisation": self.utilisation,
            "busy_share": self.busy_share,
            "stall_cycles": self.stall_cycles,
            "sore_cycles": self.sore_cycles,
            "phase_cycles": self.phase_cycles,
            "weight_update": None if self.weight_update is None else self.weight_update.to_dict(),
            "energy_j": self.energy_j,
            "resources": None if self.resources is None else self.resources.to_dict(),
            "dram": self.traffic.to_dict(),
            "array": config_json(self.array),
            "techniques": asdict(self.techniques),
            "gemms": [asdict(g) for g in self.gemms],
        }


_BASELINE = (Dataflow.OS, True)  # output-stationary, weights resident: the unscheduled choice


def _producers(ops: list[GemmOp]) -> list[int | None]:
    """For each GEMM, the index of the GEMM whose answer it waits for (module docstring)."""
    last_ff = last_bp = None
    producers: list[int | None] = []
    for i, op in enumerate(ops):
        if op.phase == "FF":
            producers.append(last_ff)
            last_ff = i
        else:
            producers.append(last_bp if last_bp is not None else last_ff)
            if op.phase == "BP":
                last_bp = i
    return producers


class _Plans:
    """Every plan the scheduler may try, made once: per GEMM, option (dataflow, A resident),
    whether A is read dense from DRAM, and whether the array interleaves."""

    def __init__(
        self, ops: list[GemmOp], array: SatArrayConfig, target: Target, buffers: tuple[int, int]
    ) -> None:
        self.ops, self.array, self.target, self.buffers = ops, array, target, buffers
        self.arrays = {flag: array.replace(interleave=flag) for flag in (False, True)}
        self._cache: dict[tuple[int, tuple[Dataflow, bool], bool, bool], tuple[GemmPlan, int]] = {}
        self._moved: dict[int, int] = {}  # DRAM cycles by bytes moved

    def options(self, i: int) -> list[tuple[Dataflow, bool]]:
        pattern = self.ops[i].pattern
        ws = pattern is None or self.array.rows >= pattern.n
        dataflows = tuple(Dataflow) if ws else (Dataflow.OS,)
        return [(d, r) for d in dataflows for r in (True, False)]

    def get(
        self, i: int, option: tuple[Dataflow, bool], pregen: bool, interleave: bool
    ) -> tuple[GemmPlan, int]:
        """The plan and its DRAM transfer cycles."""
        op = self.ops[i]
        dense_a = op.phase in ("FF", "BP") and op.pattern is not None and not pregen
        key = (i, option, dense_a, interleave)
        if key not in self._cache:
            plan = plan_gemm(
                op,
                self.arrays[interleave],
                dataflow=option[0],
                a_resident=option[1],
                a_buffer_bytes=self.buffers[0],
                b_buffer_bytes=self.buffers[1],
                a_dense_in_dram=dense_a,
            )
            if plan.bytes not in self._moved:
                self._moved[plan.bytes] = transfer_cycles(
                    self.target.dram, plan.bytes, self.target.clock_hz
                )
            self._cache[key] = (plan, self._moved[plan.bytes])
        return self._cache[key]


def _place(
    timeline: ArrayTimeline, ends: list[int], producer: int | None, plan: GemmPlan, moved: int
) -> tuple[int, int, int]:
    """Issue a GEMM's tiles on ``timeline`` after its producer's answer (``ends`` holds the end
    edge of every GEMM placed before); return its end edge, its compute cycles (what it adds to
    the timeline) and its double-buffered cycles."""
    before = timeline.end_edge
    not_before = None if producer is None else ends[producer] + 1
    end = timeline.issue_run(
        plan.first, plan.last, span=plan.span, tiles=plan.tiles, not_before=not_before
    )
    return end, end - before, double_buffered_cycles(end - before, moved, plan.tiles)


def _greedy(
    plans: _Plans, producers: list[int | None], pregen: bool, interleave: bool
) -> list[tuple[Dataflow, bool]]:
    """GEMM after GEMM, the option that adds the fewest cycles to the timeline so far."""
    timeline, ends, choice = ArrayTimeline(plans.arrays[interleave]), [], []
    for i, producer in enumerate(producers):
        best = None
        for option in plans.options(i):
            trial = timeline.copy()
            end, _, cycles = _place(
                trial, ends, producer, *plans.get(i, option, pregen, interleave)
            )
            if best is None or cycles < best[0]:
                best = (cycles, option, trial, end)
        _, option, timeline, end = best
        choice.append(option)
        ends.append(end)
    return choice


def _evaluate(
    plans: _Plans,
    producers: list[int | None],
    choice: list[tuple[Dataflow, bool]],
    techniques: Techniques,
) -> list[tuple[GemmPlan, int, int]]:
    """Each GEMM's plan, compute cycles and double-buffered cycles under ``techniques``."""
    timeline, ends, placed = ArrayTimeline(plans.arrays[techniques.interleave]), [], []
    for i, (producer, option) in enumerate(zip(producers, choice, strict=True)):
        plan, moved = plans.get(i, option, techniques.pregen, techniques.interleave)
        end, compute, cycles = _place(timeline, ends, producer, plan, moved)
        ends.append(end)
        placed.append((plan, compute, cycles))
    return placed


def _programs(system: SatSystemConfig, ops: list[GemmOp], plans: _Plans,
              techniques: Techniques, read_latency: int) -> list[SystemGemm | None]:
    """Each GEMM's program on ``system`` (module docstring, *programs*): of the dataflows the
    array runs it in, the one whose programs take the fewest cycles (offline scheduling; OS
    without it); its sparse weights pre-generated, or, with pre-generation off on a system
    with a SORE, built by the SORE from the dense ones (GENERATE); None where the compiler
    cannot plan it."""
    runs: dict[tuple, SystemGemm | None] = {}
    chosen: list[SystemGemm | None] = []
    for i, op in enumerate(ops):
        sparse = op.phase in ("FF", "BP") and op.pattern is not None
        generate = (BdwpPass[op.phase] if sparse and not techniques.pregen
                    and system.sore is not None else None)
        dataflows = (dict.fromkeys(d for d, _ in plans.options(i))
                     if techniques.offline_schedule else [_BASELINE[0]])
        found = []
        for dataflow in dataflows:
            key = (op.rows, op.reduction, op.cols, op.pattern, dataflow, generate)
            if key not in runs:
                try:
                    runs[key] = system_gemm(system, op, dataflow, read_latency=read_latency,
                                            generate=generate)
                except ValueError:  # a tile the buffers cannot hold: the analytic model's
                    runs[key] = None
            if runs[key] is not None:
                found.append(runs[key])
        chosen.append(min(found, key=lambda run: run.timing.cycles) if found else None)
    return chosen


def _program_result(op: GemmOp, run: SystemGemm, fed_bits: int, traffic: DramTraffic,
                    classes: tuple[str, str, str]) -> GemmResult:
    """A GEMM costed by its program: ``op.count`` runs of ``run``, its traffic added to
    ``traffic`` (A, B and output under ``classes``; a compressed A's values and indices
    together, as the system's A rows hold them; the instructions as ``program``)."""
    k, timing = op.count, run.timing
    traffic.add(classes[0], "read", run.a_bytes * k)
    traffic.add(classes[1], "read", run.b_bytes * k)
    traffic.add("program", "read", run.program_bytes * k)
    traffic.add(classes[2], "write", timing.bytes_written * k)
    return GemmResult(op.layer, op.phase, run.dataflow.name, run.a_loads < run.tiles,
                      run.tiles * k, timing.array_busy * k, timing.cycles * k, op.macs,
                      k * op.rows * op.entries * op.cols,
                      (timing.bytes_read + timing.bytes_written) * k, fed_bits * k,
                      programs=run.parts)


def network_utilisation(
    array: SatArrayConfig,
    pattern: NMPattern | None,
    target: Target,
    weight_update: WeightUpdateConfig | None = None,
    system: SatSystemConfig | None = None,
) -> Utilisation | None:
    """The predicted resources (:mod:`sparsa.sim.network.resources`) of the design an iteration runs
    on, against ``target``'s, or None for a target without an FPGA ``[resources]`` table.

    The parts: the PE ``array``; the SORE of ``SORE_LANES`` lanes for ``pattern``'s M (a
    dense run's design keeps the SORE of the array's largest M); for the floating-point
    formats the weight-update engine (``weight_update``, by default
    :data:`NETWORK_WEIGHT_UPDATE` in the array's format); the controller and AXI master of the
    SAT system at its default word width; and the A, B and output buffers, which the
    simulation assumes take all of the target's block RAM and URAM (module docstring).

    With ``system`` (whose array ``array`` is), the SORE is the system's (none without one) and
    the controller, AXI master and buffers are the system's, its buffers' block RAM included.
    """
    if not set(CAPACITY_KEYS.values()) <= set(target.resources):
        return None
    model = load_model()
    m = array.max_m if pattern is None else pattern.m
    sore = SoreConfig(lanes=SORE_LANES, m=m, dtype=array.dtype) if system is None else system.sore
    built = SatSystemConfig() if system is None else system
    control = {k: v for k, v in features(built).items()
               if k in ("fixed", "axi_bit") or system is not None}
    parts = {"array": model.predict(array)}
    notes = {"array": f"{array.rows} x {array.cols} {array.dtype.value} PEs"}
    if sore is not None:
        parts["sore"] = model.predict(sore)
        notes["sore"] = f"{sore.lanes} lanes, M = {sore.m}"
    if array.dtype.is_float:
        if weight_update is None:
            weight_update = NETWORK_WEIGHT_UPDATE.replace(dtype=array.dtype)
        parts["weight_update"] = model.predict(weight_update)
        notes["weight_update"] = f"{weight_update.lanes} lanes"
    parts["control"] = model.predict_features("sat-accelerator", control)
    notes["control"] = (f"the SAT system's controller, registers and {built.axi.data_width}-bit "
                        "AXI master" + ("" if system is None else ", and its buffers"))
    if system is None:
        memory = {k: target.resources[CAPACITY_KEYS[k]] for k in ("bram36", "uram")}
        parts["buffers"] = ResourceEstimate(0, 0, 0, **memory)
        notes["buffers"] = "all of the target's block RAM and URAM (the simulation's assumption)"
    return Utilisation(target=target.name, capacity=dict(target.resources), parts=parts,
                       notes=notes)


def system_dram(system: SatSystemConfig, target: Target) -> DramSpec:
    """The target's DRAM as ``system`` reaches it: one channel of the AXI4 master's peak,
    ``data_width`` bits per cycle at the target's clock, where that is below the memory's
    peak (the memory's efficiency still applies); the target's DRAM otherwise."""
    port = system.axi.word_bytes * target.clock_hz
    if port >= target.dram.peak_bytes_per_s:
        return target.dram
    return replace(target.dram, channels=1, channel_bytes_per_s=port)


def _sized_by(system: SatSystemConfig, array: SatArrayConfig,
              layers: list) -> tuple[SatArrayConfig, tuple[int, int], int]:
    """The array, the A and B buffer bytes and the SORE lanes of a run on ``system``."""
    if not isinstance(system, SatSystemConfig):
        raise ValueError(f"system must be a SatSystemConfig, not {system!r}")
    if array is not DEFAULT_ARRAY:
        raise ValueError("give the array or the system (whose array it is), not both")
    patterns = {layer.pattern for layer in layers if layer.pattern is not None}
    for p in patterns if system.sore is not None else ():
        if p.m != system.sore_m:
            raise ValueError(f"the system's SORE groups M = {system.sore_m} weights, the layers' "
                             f"pattern {p} needs M = {p.m}")
    # A B row holds one activation beat: a dense operand's one value per lane (the
    # conservative figure for every layer; an N:M layer's beat holds M).
    buffers = (system.a_rows * row_bits(system, "a") // 8,
               system.b_rows * system.compact_bits(1) // 8)
    return system.array, buffers, system.sore_lanes


def simulate_iteration(
    layers: list,
    *,
    model: str,
    pattern: NMPattern | None,
    target: Target,
    batch: int,
    techniques: Techniques = ALL_TECHNIQUES,
    array: SatArrayConfig = DEFAULT_ARRAY,
    weight_update: WeightUpdateConfig | None = None,
    system: SatSystemConfig | None = None,
    read_latency: int = SYSTEM_READ_LATENCY,
    progress: Callable[[str], None] | None = None,
) -> SatResult:
    """Simulate one training iteration.

    Parameters
    ----------
    layers : list of sparsa.models.zoo.cnn.LayerGemm
        The network's layers at this batch, in forward order; layers with a ``pattern`` are the
        BDWP (N:M) ones.
    model, pattern : str, NMPattern or None
        Names for the result.
    target : sparsa.sim.network.target.Target
    batch : int
    techniques : Techniques
    array : SatArrayConfig
        Its ``dtype`` is the iteration's number format. The SORE has ``SORE_LANES`` lanes and
        is built for the pattern's group size M; the array's own ``interleave`` is replaced by
        ``techniques.interleave``.
    weight_update : WeightUpdateConfig, optional
        The weight-update engine of a floating-point iteration, in the array's format (default:
        :data:`NETWORK_WEIGHT_UPDATE` in the array's format); ignored for the integer formats.
    system : SatSystemConfig, optional
        Size the run from this SAT system instead of the target's on-chip memory: its array
        (``array`` must then be left at its default), its A and B buffers (rows times row bits,
        in place of the thirds of the target's memory) and its SORE (which a run with N:M
        layers needs, with M = ``sore_m``). The DRAM stays the target's. Each GEMM whose
        program fits the system's instruction memory is costed by its program (module
        docstring, *programs*).
    read_latency : int
        With ``system``: cycles from a read address to its first beat, the memory of the
        programs' cycle model (default :data:`sparsa.config.presets.SYSTEM_READ_LATENCY`).
    progress : callable, optional
    """
    w_bytes = array.dtype.bytes
    if array.dtype.is_float:
        if weight_update is None:
            weight_update = NETWORK_WEIGHT_UPDATE.replace(dtype=array.dtype)
        elif weight_update.dtype is not array.dtype:
            raise ValueError(
                f"the weight-update engine's dtype ({weight_update.dtype.value}) must be the "
                f"array's ({array.dtype.value})"
            )
    sore_lanes = SORE_LANES
    if system is None:
        # Assumption: the on-chip memory is split evenly between the A, B and output buffers.
        third = sum(target.sram_bytes.values()) // 3
        buffers = (third, third)
    else:
        array, buffers, sore_lanes = _sized_by(system, array, layers)
        target = replace(target, dram=system_dram(system, target))
    ops = training_gemms(layers)
    plans = _Plans(ops, array, target, buffers)
    producers = _producers(ops)
    sore_by_layer: dict[str, int] = {}
    for layer in layers:
        if layer.pattern is None:
            continue
        if sore_lanes == 0:  # a system without a SORE: the host makes the copies
            continue
        sore = SoreConfig(lanes=sore_lanes, m=layer.pattern.m, dtype=array.dtype)
        tiles = layer.groups * ceil(layer.cout / sore.m) * ceil(layer.ff.k / sore.lanes)
        sore_by_layer[layer.name] = stream_cycles(sore, n=layer.pattern.n, copies=3,
                                                  count=tiles)
    sore_cycles = sum(sore_by_layer.values())

    def total(placed: list[tuple[GemmPlan, int, int]]) -> int:
        backward = sum(c for (p, _, c) in placed if p.op.phase != "FF")
        exposed = max(0, sore_cycles - backward) if techniques.pregen else sore_cycles
        return sum(c for (_, _, c) in placed) + exposed

    candidates = [[_BASELINE] * len(ops)]
    if techniques.offline_schedule:
        for pregen in (True, False):
            for interleave in (True, False):
                schedule = _greedy(plans, producers, pregen, interleave)
                if schedule not in candidates:
                    candidates.append(schedule)
    placed = min((_evaluate(plans, producers, c, techniques) for c in candidates), key=total)
    programs: list[SystemGemm | None] = [None] * len(ops)
    if system is not None:
        programs = _programs(system, ops, plans, techniques, read_latency)

    traffic = DramTraffic(target.dram)
    gemms, phase_cycles = [], dict.fromkeys(PHASES, 0)
    for i, (op, (plan, compute, cycles), program) in enumerate(zip(ops, placed, programs,
                                                                    strict=True)):
        sparse_weights = op.phase in ("FF", "BP") and op.pattern is not None
        # the SORE builds the weights from the dense ones on the way in
        generated = sparse_weights and not techniques.pregen and sore_lanes > 0
        a_class = "compressed_weights" if sparse_weights and not generated else "weights"
        if op.phase == "WU":
            a_class = "gradients"
        b_class = "activations" if op.phase in ("FF", "WU") else "gradients"
        out_class = "activations" if op.phase == "FF" else "gradients"
        if program is not None:
            fed = plans.get(i, (program.dataflow, True), techniques.pregen,
                            techniques.interleave)[0]
            gemms.append(_program_result(op, program, fed.a_fed_bits + fed.b_fed_bits,
                                         traffic, (a_class, b_class, out_class)))
            phase_cycles[op.phase] += gemms[-1].cycles
            continue
        if sparse_weights and not techniques.pregen:
            # The SORE compresses on the way in: the array's A traffic is the dense weights.
            traffic.add("weights", "read", plan.a_bytes)
        elif sparse_weights:
            reads = plan.a_reads * op.count
            traffic.add("compressed_weights", "read", reads * op.rows * op.entries * w_bytes)
            traffic.add(
                "indices", "read", reads * ceil(op.rows * op.entries * op.pattern.index_width / 8)
            )
        else:
            traffic.add(a_class, "read", plan.a_bytes)
        traffic.add(b_class, "read", plan.b_bytes)
        traffic.add(out_class, "write", plan.out_bytes)
        gemms.append(
            GemmResult(
                op.layer,
                op.phase,
                plan.dataflow.name,
                plan.a_resident,
                plan.tiles,
                compute,
                cycles,
                op.macs,
                op.count * op.rows * op.entries * op.cols,
                plan.bytes,
                plan.a_fed_bits + plan.b_fed_bits,
            )
        )
        phase_cycles[op.phase] += cycles
    for layer in layers:
        if layer.pattern is not None and techniques.pregen:
            dense = layer.groups * layer.cout * layer.ff.k * w_bytes
            copy = layer.groups * layer.cout * layer.ff.k // layer.pattern.m * layer.pattern.n
            traffic.add("weights", "read", dense)
            traffic.add("compressed_weights", "write", 2 * copy * w_bytes)
            traffic.add("indices", "write", 2 * ceil(copy * layer.pattern.index_width / 8))
        if layer.pattern is not None and array.dtype.is_float:
            traffic.add("masks", "write", ceil(layer_weights(layer) / 8))  # for the update
    loaded = traffic.bytes(direction="read")  # into the on-chip buffers
    update = None
    if array.dtype.is_float:
        elements = sum(layer_weights(layer) for layer in layers)
        update = simulate_weight_update(weight_update, elements, target, traffic)
    backward = phase_cycles["BP"] + phase_cycles["WU"]
    if techniques.pregen:
        exposed = max(0, sore_cycles - backward)
    else:  # the programs of a layer whose FF and BP GENERATE their weights hold its SORE time
        analytic = {g.layer for g in gemms if g.phase in ("FF", "BP") and not g.programs}
        exposed = sum(c for name, c in sore_by_layer.items() if name in analytic)
    result = SatResult(
        model,
        "dense" if pattern is None else str(pattern),
        target.name,
        batch,
        target.clock_hz,
        gemms,
        sore_cycles,
        exposed,
        traffic,
        {},
        array.replace(interleave=techniques.interleave),
        techniques,
        phase_cycles,
        update,
        network_utilisation(array.replace(interleave=techniques.interleave), pattern, target,
                            weight_update, system),
    )
    # Energy counts: MACs the array issues (compressed entries), DRAM bits both ways, on-chip
    # buffer writes of everything loaded from DRAM (the weight-update engine streams, so its
    # traffic is excluded), buffer reads of every operand fed to the array, SORE groups (FF and
    # BP copies), and the elements the weight-update engine computes (every lane of every beat).
    counts = {
        f"mac_{array.dtype.value}": sum(g.issued_macs for g in gemms),
        "dram_read_bit": 8 * traffic.bytes(direction="read"),
        "dram_write_bit": 8 * traffic.bytes(direction="write"),
        "sram_write_bit": 8 * loaded,
        "sram_read_bit": sum(g.sram_read_bits for g in gemms),
        "sore_group": sum(
            layer.groups * layer.cout * layer.ff.k // layer.pattern.m * 2
            * sore_group_scale(layer.pattern.m, array.dtype.width)
            for layer in layers
            if layer.pattern is not None
        ),
        "wu_element": 0 if update is None else update.beats * update.config.lanes,
    }
    result.energy_j = energy_breakdown(
        target.energy, counts, seconds=result.seconds, static_w=target.static_w
    )
    if progress:
        progress(f"{model} {result.pattern}: {result.cycles} cycles")
    return result
