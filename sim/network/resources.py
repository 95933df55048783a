"""The resource model: LUTs, FFs, DSP48E2 slices and block RAM of any configuration of the SAT
PE array, the SORE, the top-k engine, the weight-update engine and the SAT accelerator system,
predicted without synthesis, for the simulators and design-space sweeps to reject designs that
do not fit a target.

Each block's resources are a linear function of features computed from its configuration
(:func:`features`): fixed overheads, a count of units (PEs, SORE lanes, weight-update lanes)
per number format, and register bits of the structures that scale with the configuration
(per-PE registers, the array's edge and skew lines, SORE slots and comparators, top-k
comparators and lanes, buffer words). The coefficients are not written here: they are fitted
to synthesis (Yosys ``synth_xilinx -family xcup``, :mod:`sparsa.hw.synthesis`) of a grid of
small configurations (:data:`sparsa.config.presets.RESOURCE_FIT_GRID`) by least squares, one
fit per block and resource, and stored with their provenance (each grid point's
configuration, measured resources, Verilog digest, the Yosys version, the date and the command
that regenerates them) in ``resource_model.json`` beside this module
(:mod:`sparsa.sim.network.resource_fit` writes it).

The system is a composition: its array and SORE as above, plus a controller and AXI overhead
(fixed and per AXI data bit) and its four buffers, whose block RAM is fitted per RAMB36 that
the buffer's geometry needs (:func:`ramb36_blocks`). Every prediction is what Yosys would
report, not what Vivado would.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from math import comb
from pathlib import Path
from typing import Any

from sparsa.config.sat import SatArrayConfig, SoreConfig
from sparsa.config.sat_system import INSTRUCTION_BITS, SatSystemConfig
from sparsa.config.topk import TopKConfig
from sparsa.config.weight_update import WeightUpdateConfig

__all__ = [
    "BLOCK_NAMES",
    "CAPACITY_KEYS",
    "LUTRAM_DEPTH",
    "MODEL_FILE",
    "RESOURCES",
    "ResourceEstimate",
    "ResourceModel",
    "Utilisation",
    "block_of",
    "features",
    "fit_coefficients",
    "load_model",
    "ramb36_blocks",
    "uses_feature",
]

RESOURCES = ("lut", "ff", "dsp", "bram36")
"""The predicted resources (names as :class:`sparsa.hw.synthesis.Resources` spells them)."""
CAPACITY_KEYS = {"lut": "luts", "ff": "ffs", "dsp": "dsps", "bram36": "bram36", "uram": "uram"}
"""Each resource's key in a target's ``[resources]`` table (an FPGA target has all five)."""
MODEL_FILE = Path(str(resources.files(__package__) / "resource_model.json"))
"""The fitted coefficients and their provenance (package data)."""
BLOCK_NAMES = {SatArrayConfig: "sat-array", SoreConfig: "sore", TopKConfig: "topk",
               WeightUpdateConfig: "weight-update", SatSystemConfig: "sat-accelerator"}
"""Configuration type to the block's name (the ``sparsa synth`` word)."""
# (depth, width) of a RAMB36E2 in simple dual-port mode (Xilinx UG573: 36 Kb as 32K x 1 up to
# 512 x 72).
_RAMB36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
LUTRAM_DEPTH = 64
"""Memories of at most this many words are taken to map to LUT-RAM (a RAM64M holds 64 words,
Xilinx UG574), deeper ones to block RAM: only the deeper ones count in a ``buffer_ramb36``
feature."""
# Features that enter only the fits of some resources: the block RAM a block's buffers need
# enters only (and alone) its block-RAM fit; delay lines are registers without logic.
_ONLY = {"buffer_ramb36": ("bram36",), "skew_bits": ("ff",)}


@dataclass(frozen=True)
class ResourceEstimate:
    """Resources of a design on UltraScale+ (predicted, or the sum of parts).

    Attributes
    ----------
    lut, ff, dsp, bram36 : float
        LUTs (logic and LUT-RAM), flip-flops, DSP48E2 slices, block RAM in RAMB36 equivalents.
    uram : float
        URAM288 blocks (the model predicts none; a design's assumed buffers may use them).
    """

    lut: float
    ff: float
    dsp: float
    bram36: float
    uram: float = 0.0

    def __add__(self, other: "ResourceEstimate") -> "ResourceEstimate":
        return ResourceEstimate(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def rounded(self) -> dict[str, float]:
        """Whole LUTs, FFs, DSPs and URAMs, block RAM to the half (a RAMB18)."""
        return {k: (math.ceil(2 * v) / 2 if k == "bram36" else math.ceil(v))
                for k, v in asdict(self).items()}

    def shares(self, capacity: Mapping[str, int]) -> dict[str, float]:
        """Each resource as a share of a device's ``capacity`` (a target's ``[resources]``
        table: ``luts``, ``ffs``, ``dsps``, ``bram36``, ``uram``)."""
        used = self.rounded()
        return {ours: used[ours] / capacity[theirs] for ours, theirs in CAPACITY_KEYS.items()}

    def overflow(self, capacity: Mapping[str, int]) -> list[tuple[str, float, int]]:
        """The resources beyond ``capacity``: (name, predicted amount, capacity) each."""
        used = self.rounded()
        return [(ours, used[ours], capacity[theirs]) for ours, theirs in CAPACITY_KEYS.items()
                if used[ours] > capacity[theirs]]


_LABELS = {"lut": "LUT", "ff": "FF", "dsp": "DSP48E2", "bram36": "RAMB36", "uram": "URAM"}


def _amount(value: float) -> str:
    """A resource count with thousands separators, a half block RAM as ``.5``."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass(frozen=True)
class Utilisation:
    """A design's predicted resources, part by part, against a target's capacity.

    Parameters
    ----------
    target : str
        The target's name.
    capacity : dict of str to int
        Its ``[resources]`` table (``luts``, ``ffs``, ``dsps``, ``bram36``, ``uram``).
    parts : dict of str to ResourceEstimate
        The design's parts (``array``, ``sore``, ...), each predicted or assumed.
    notes : dict of str to str
        How each part was sized, by part.
    """

    target: str
    capacity: dict[str, int]
    parts: dict[str, ResourceEstimate]
    notes: dict[str, str]

    def __post_init__(self) -> None:
        missing = sorted(set(CAPACITY_KEYS.values()) - set(self.capacity))
        if missing:
            raise ValueError(f"target {self.target} has no {', '.join(missing)} in its "
                             "[resources] table: it is not an FPGA the resource model can "
                             "check a design against")

    @property
    def total(self) -> ResourceEstimate:
        """The sum of the parts."""
        total = ResourceEstimate(0, 0, 0, 0)
        for part in self.parts.values():
            total = total + part
        return total

    @property
    def shares(self) -> dict[str, float]:
        """Each resource's share of the target's."""
        return self.total.shares(self.capacity)

    @property
    def fits(self) -> bool:
        """Whether every resource is within the target's."""
        return not self.total.overflow(self.capacity)

    def check(self) -> None:
        """Raise ``ValueError`` (one line naming each resource, the predicted amount and the
        capacity) if the design does not fit the target."""
        over = self.total.overflow(self.capacity)
        if over:
            what = "; ".join(f"{_LABELS[name]} {_amount(used)} predicted, {cap:,} available"
                             for name, used, cap in over)
            raise ValueError(f"the design does not fit {self.target}: {what} (resource "
                             "model sparsa.sim.network.resources)")

    def summary(self) -> str:
        """One line: each resource, its predicted amount, capacity and share."""
        used = self.total.rounded()
        return ", ".join(
            f"{_LABELS[name]} {_amount(used[name])} of {self.capacity[key]:,} "
            f"({self.shares[name]:.1%})" for name, key in CAPACITY_KEYS.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the target, totals, capacity, shares, fit, parts and notes."""
        return {"target": self.target, "predicted": self.total.rounded(),
                "capacity": {name: self.capacity[key] for name, key in CAPACITY_KEYS.items()},
                "shares": self.shares, "fits": self.fits,
                "parts": {k: v.rounded() for k, v in self.parts.items()}, "notes": self.notes}


def ramb36_blocks(depth: int, width: int) -> int:
    """RAMB36 blocks a ``depth`` x ``width``-bit memory needs at the best aspect ratio (none
    for one of at most :data:`LUTRAM_DEPTH` words, taken as LUT-RAM)."""
    if depth <= LUTRAM_DEPTH:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _RAMB36_SHAPES)


def _triangle(n: int) -> int:
    return n * (n - 1) // 2


def _array_features(cfg: SatArrayConfig) -> dict[str, float]:
    from sparsa.hw.sat.sat_array import acts_layout, weights_layout

    R, C, L, fmt = cfg.rows, cfg.cols, cfg.add_latency, cfg.dtype.value
    entry = weights_layout(cfg).elem_shape.size  # a compressed weight: value and index
    group = acts_layout(cfg).elem_shape.size  # an activation group of max(M) values
    acc = cfg.acc_width
    return {
        f"fixed.{fmt}": 1,
        f"pe.{fmt}": R * C,
        # Each PE's registers: its activation group, weight and shadow weight, accumulator and
        # its L output shadows.
        "pe_register_bits": R * C * (group + 2 * entry + (1 + L) * acc),
        # Per row a weight entry and an activation group come in; per column a group comes
        # in and an accumulator leaves.
        "edge_bits": R * (entry + group) + C * (group + acc),
        # The skew lines (row r delayed r steps, or r L for a WS activation row; column c c
        # steps) and the WS deskew lines (C - 1 - c steps of an accumulator).
        "skew_bits": _triangle(R) * (entry + L * group) + _triangle(C) * (group + acc),
        # A pipelined FP32 adder: its stages in every PE, its trees (one per column).
        "adder_stages_pe": R * C * (L - 1),
        "adder_stages_col": C * (L - 1),
    }


def _sore_features(cfg: SoreConfig) -> dict[str, float]:
    from sparsa.hw.sat.sore import entry_layout

    L, M, W = cfg.lanes, cfg.m, cfg.dtype.width
    # A lane ranks integers by their absolute value, floats (FP16 and BF16 alike, 16-bit
    # patterns) by the pattern without its sign: one per-lane term per kind.
    kind = "float" if cfg.dtype.is_float else cfg.dtype.value
    return {
        "fixed": 1,
        f"lane.{kind}": L,
        # Each lane compares every pair of held magnitudes and the new one with each held one.
        "comparator_bits": L * (comb(M - 1, 2) + M - 1) * W,
        # Each lane's M - 1 slots of (value, index) and the tile's two banks of M rows of L
        # weights.
        "register_bits": L * (M - 1) * entry_layout(cfg).size + 2 * M * L * W,
    }


def _topk_features(cfg: TopKConfig) -> dict[str, float]:
    W, C, R = cfg.width, cfg.comparators, cfg.row_lanes
    # The input buffer (rows of R values) and the two partition buffers (rows of C values)
    # hold up to capacity values each.
    buffers = ((math.ceil(cfg.capacity / R), R * W),) + ((math.ceil(cfg.capacity / C), C * W),) * 2
    return {
        "fixed": 1,
        "comparator_bits": C * W,
        # Routing each comparator's result to any of the C places of a partition buffer row.
        "comparator_pair_bits": C * C * W,
        "lane_bits": cfg.lanes * W,
        # A LUT-RAM buffer of at most 64 words takes LUTs by its width (UG574: a RAM64M holds
        # 64 words of 3 bits in 4 LUTs).
        "lutram_width": sum(w for d, w in buffers if d <= LUTRAM_DEPTH),
        "buffer_ramb36": sum(ramb36_blocks(depth, width) for depth, width in buffers),
    }


def _weight_update_features(cfg: WeightUpdateConfig) -> dict[str, float]:
    return {"fixed": 1, "lane": cfg.lanes}


def _system_features(cfg: SatSystemConfig) -> dict[str, float]:
    from sparsa.hw.sat.sat_array import acts_layout, weights_layout

    arr = cfg.array
    buffers = ((cfg.program_depth, INSTRUCTION_BITS), (cfg.a_rows, weights_layout(arr).size),
               (cfg.b_rows, acts_layout(arr).size), (cfg.out_rows, arr.cols * cfg.out_width))
    return {
        "fixed": 1,
        "axi_bit": cfg.axi.data_width,
        "buffer_ramb36": sum(ramb36_blocks(depth, width) for depth, width in buffers),
    }


_FEATURES = {SatArrayConfig: _array_features, SoreConfig: _sore_features,
             TopKConfig: _topk_features, WeightUpdateConfig: _weight_update_features,
             SatSystemConfig: _system_features}


def block_of(config: object) -> str:
    """The block name of ``config`` (:data:`BLOCK_NAMES`).

    Raises
    ------
    ValueError
        For a configuration the model has no block for.
    """
    name = BLOCK_NAMES.get(type(config))
    if name is None:
        known = ", ".join(t.__name__ for t in BLOCK_NAMES)
        raise ValueError(f"the resource model has no block for {type(config).__name__} "
                         f"(it knows {known})")
    return name


def features(config: object) -> dict[str, float]:
    """The model's features of ``config`` (a system's: its own part only, without its array
    and SORE), by name."""
    block_of(config)
    return _FEATURES[type(config)](config)


def uses_feature(names: list[str], resource: str, feature: str) -> bool:
    """Whether ``feature`` of a block with features ``names`` enters the fit of ``resource``.

    The block RAM of a block's buffers (``buffer_ramb36``) enters only its block-RAM fit, and
    is all that does; the register bits of delay lines (``skew_bits``) enter only the FF fit.
    """
    if feature in _ONLY:
        return resource in _ONLY[feature]
    return not (resource == "bram36" and "buffer_ramb36" in names)


def fit_coefficients(block: str, rows: list[tuple[dict[str, float], dict[str, float]]]
                     ) -> dict[str, dict[str, float]]:
    """Least-squares coefficients of ``block`` from grid ``rows`` (each resource fitted to the
    features :func:`uses_feature` lets into it).

    Parameters
    ----------
    block : str
        The block's name, for messages.
    rows : list of (features, measured)
        Each grid point's features and its measured resources (``lut``, ``ff``, ``dsp``,
        ``bram36``; for a system, what is left once its array and SORE are taken off).

    Returns
    -------
    dict
        Resource to feature to coefficient.

    Raises
    ------
    ValueError
        If the grid cannot determine every coefficient (fewer independent points than
        features).
    """
    import numpy as np

    names = sorted({name for feats, _ in rows for name in feats})
    coefficients = {}
    for resource in RESOURCES:
        used = [n for n in names if uses_feature(names, resource, n)]
        X = np.array([[feats.get(n, 0.0) for n in used] for feats, _ in rows], dtype=float)
        y = np.array([measured[resource] for _, measured in rows], dtype=float)
        rank = np.linalg.matrix_rank(X)
        if rank < len(used):
            raise ValueError(f"{block}: the grid's {len(rows)} points determine {rank} of the "
                             f"{len(used)} coefficients of {resource} ({', '.join(used)}); "
                             "add points that vary the others")
        solution = np.linalg.lstsq(X, y, rcond=None)[0]
        coefficients[resource] = {n: float(c) for n, c in zip(used, solution, strict=True)}
    return coefficients


class ResourceModel:
    """Fitted coefficients and their provenance; predicts any configuration's resources.

    Parameters
    ----------
    data : dict
        The contents of :data:`MODEL_FILE`: ``coefficients`` (block to resource to feature to
        coefficient) and the provenance (``yosys``, ``date``, ``command``, ``grid``).
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._coefficients = data["coefficients"]

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the coefficients come from: Yosys version, date, command, grid size."""
        return {"yosys": self._data["yosys"], "date": self._data["date"],
                "command": self._data["command"], "points": len(self._data["grid"])}

    @property
    def grid(self) -> list[dict[str, Any]]:
        """The fitted grid points: block, config, measured resources, Verilog digest."""
        return list(self._data["grid"])

    def coefficients(self, block: str) -> dict[str, dict[str, float]]:
        """Resource to feature to coefficient of ``block``."""
        return self._coefficients[block]

    def predict_features(self, block: str, feats: Mapping[str, float]) -> ResourceEstimate:
        """The resources of ``block`` with features ``feats`` (its own part only).

        Raises
        ------
        ValueError
            For a feature the block's fit lacks (the message names it and the formats the
            grid has).
        """
        table = self._coefficients[block]
        unknown = sorted(set(feats) - {f for coefs in table.values() for f in coefs})
        if unknown:
            known = sorted({f.partition(".")[2] for coefs in table.values() for f in coefs
                            if "." in f})
            raise ValueError(f"the resource model's {block} grid has no {', '.join(unknown)} "
                             f"(formats fitted: {', '.join(known)}); add one to the grid and "
                             "refit")
        return ResourceEstimate(**{
            r: sum(c * feats[f] for f, c in table[r].items() if f in feats) for r in RESOURCES})

    def predict(self, config: object) -> ResourceEstimate:
        """The resources of ``config``: a block's, or a system's with its array and SORE.

        Raises
        ------
        ValueError
            For a configuration type the model does not know, or one the grid never saw the
            number format of (the message names it and the formats it knows).
        """
        own = self.predict_features(block_of(config), features(config))
        if isinstance(config, SatSystemConfig):
            own = own + self.predict(config.array)
            if config.sore is not None:
                own = own + self.predict(config.sore)
        return own


@cache
def load_model(path: Path = MODEL_FILE) -> ResourceModel:
    """The model stored at ``path`` (the packaged fit by default).

    Raises
    ------
    ValueError
        If the file is missing or is not a model (the message says how to regenerate it).
    """
    try:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or not {"coefficients", "grid", "yosys", "date",
                                               "command"} <= set(data):
            raise ValueError("it lacks coefficients, grid or provenance")
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the resource model {path}: {error}; regenerate it with "
                         "`sparsa synth fit`") from None
    return ResourceModel(data)
