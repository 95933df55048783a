"""Energy model: per-action energies times counts, plus static power times time.

A target's energy table (:class:`EnergyTable`, the ``[energy]`` table of its TOML file, see
:mod:`sparsa.sim.network.target`) gives the energy of one action in picojoules, each with its
source. The actions (:data:`ACTIONS`) are:

* ``mac_int8``, ``mac_int12``, ``mac_int16``, ``mac_fp16``, ``mac_bf16``, ``mac_fp32``: one
  multiply-accumulate with operands of that format (the accumulator is whatever the target's
  comment states);
* ``sram_read_bit``, ``sram_write_bit``: one bit read from or written to an on-chip buffer;
* ``dram_read_bit``, ``dram_write_bit``: one bit moved from or to DRAM (count burst-rounded
  bytes, :meth:`sparsa.sim.network.dram.DramTraffic.bytes`, times 8);
* ``sore_group``: one N:M group reduced by a SORE lane for one copy (SAT; the figure is for
  groups of M = 8 8-bit weights, as the target's comment derives it; other group sizes and
  widths count as :func:`sore_group_scale` of such groups);
* ``wu_element``: one element through the update pass of SAT's weight-update engine
  (:mod:`sparsa.hw.sat.weight_update`): its five FP32 multiplies and four FP32 adds (the
  check pass's Inf/NaN test and the rounding to half precision are not counted);
* ``topk_element``: one element entering a top-k engine, all its quick-select rounds and the
  final filter included (SpAtten).

:func:`energy_breakdown` turns counts into joules per action, static energy and the total.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real

__all__ = ["ACTIONS", "EnergyTable", "energy_breakdown", "sore_group_scale"]

ACTIONS = (
    "mac_int8",
    "mac_int12",
    "mac_int16",
    "mac_fp16",
    "mac_bf16",
    "mac_fp32",
    "sram_read_bit",
    "sram_write_bit",
    "dram_read_bit",
    "dram_write_bit",
    "sore_group",
    "wu_element",
    "topk_element",
)

PJ = 1e-12  # joules per picojoule

# The terms of the targets' derivation of ``sore_group`` (hw/sat/sore.py micro-architecture,
# Horowitz ISSCC'14): a magnitude comparison costs an adder of its width, 0.03 pJ at 8 bits
# (linear in the width), and a register bit written 0.009 pJ.
_COMPARE_8BIT_PJ = 0.03
_REGISTER_BIT_PJ = 0.009


def _sore_group_pj(m: int, width: int) -> float:
    """A group of M ``width``-bit weights reduced for one copy: each of the M steps compares
    every pair of the M - 1 held magnitudes and the new one with each held one; every step
    shifts the M - 1 slots of (value, index) entries, the output register takes them once and
    the group's M weights are loaded once."""
    compares = m * ((m - 1) * (m - 2) // 2 + (m - 1))
    entry = width + (m.bit_length() - 1)
    register_bits = m * (m - 1) * entry + (m - 1) * entry + m * width
    return compares * _COMPARE_8BIT_PJ * width / 8 + register_bits * _REGISTER_BIT_PJ


def sore_group_scale(m: int, width: int) -> float:
    """The energy of reducing a group of M ``width``-bit weights for one copy, in units of
    the ``sore_group`` the targets price (M = 8, 8-bit weights: 13.533 pJ before the FPGA
    factor)."""
    return _sore_group_pj(m, width) / _sore_group_pj(8, 8)


def _is_number(x: object) -> bool:
    """True for a finite real number (numpy scalars included) that is not a ``bool``."""
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class EnergyTable:
    """Energy of one action of each kind on one target.

    Parameters
    ----------
    pj : dict of str to float
        Picojoules per action, one positive entry for every action in :data:`ACTIONS`.
    sources : dict of str to str
        Where each figure comes from (action -> text), for the actions that have a source.
    """

    pj: dict[str, float]
    sources: dict[str, str]

    def __post_init__(self) -> None:
        missing = [a for a in ACTIONS if a not in self.pj]
        if missing:
            raise ValueError(f"pj is missing the actions {missing} (every action of {ACTIONS} "
                             f"needs an energy)")
        for action, value in self.pj.items():
            if action not in ACTIONS:
                raise ValueError(f"pj has an unknown action {action!r}; the actions are "
                                 f"{ACTIONS}")
            if not _is_number(value) or value <= 0:
                raise ValueError(f"pj[{action!r}] must be a positive number of picojoules, "
                                 f"not {value!r}")
        for action in self.sources:
            if action not in self.pj:
                raise ValueError(f"sources has an unknown action {action!r}; the actions are "
                                 f"{ACTIONS}")
        object.__setattr__(self, "pj", {a: float(self.pj[a]) for a in ACTIONS})
        object.__setattr__(self, "sources", dict(self.sources))


def energy_breakdown(table: EnergyTable, counts: Mapping[str, float], *, seconds: float,
                     static_w: float) -> dict[str, float]:
    """Return the energy in joules of every action, of static power, and their total.

    Parameters
    ----------
    table : EnergyTable
        The target's per-action energies.
    counts : mapping of str to float
        How many times each action happened (actions of :data:`ACTIONS`; absent ones count 0).
    seconds : float
        Run time, which static power is charged over.
    static_w : float
        Static power in watts (the target's ``static_w``).

    Returns
    -------
    dict of str to float
        Joules for every action of :data:`ACTIONS` (in that order), then ``"static"`` and
        ``"total"``, the exact sum (:func:`math.fsum`) of all the others.

    Raises
    ------
    ValueError
        For an unknown action, a negative or non-finite count, seconds or power.
    """
    for action, count in counts.items():
        if action not in ACTIONS:
            raise ValueError(f"counts has an unknown action {action!r}; the actions are "
                             f"{ACTIONS}")
        if not _is_number(count) or count < 0:
            raise ValueError(f"counts[{action!r}] must be a non-negative number, not {count!r}")
    for name, value in (("seconds", seconds), ("static_w", static_w)):
        if not _is_number(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    joules = {a: counts.get(a, 0) * table.pj[a] * PJ for a in ACTIONS}
    joules["static"] = static_w * seconds
    joules["total"] = math.fsum(joules.values())
    return joules
