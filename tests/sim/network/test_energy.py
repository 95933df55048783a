"""Energy model: per-action energies times counts plus static power, with its breakdown."""

import math

import numpy as np
import pytest

from sparsa.sim.network.energy import ACTIONS, EnergyTable, energy_breakdown
from sparsa.sim.network.target import list_targets, load_target

TABLE = EnergyTable(pj={a: float(i + 1) for i, a in enumerate(ACTIONS)}, sources={})


@pytest.mark.parametrize("name", list_targets())
def test_breakdown_sums_to_the_total(name):
    target = load_target(name)
    rng = np.random.default_rng(len(name))
    for _ in range(20):
        counts = {a: float(rng.integers(0, 10**12)) for a in ACTIONS if rng.random() < 0.7}
        seconds = float(rng.random())
        joules = energy_breakdown(target.energy, counts, seconds=seconds, static_w=3.5)
        assert list(joules) == [*ACTIONS, "static", "total"]
        assert joules["total"] == math.fsum(v for k, v in joules.items() if k != "total")
        assert joules["static"] == 3.5 * seconds


def test_each_action_is_its_count_times_its_energy():
    joules = energy_breakdown(TABLE, {"mac_int8": 1e12, "dram_read_bit": 8}, seconds=2.0,
                              static_w=0.5)
    dram = 8 * TABLE.pj["dram_read_bit"] * 1e-12
    assert joules["mac_int8"] == pytest.approx(1.0)  # 1e12 x 1 pJ
    assert joules["dram_read_bit"] == pytest.approx(dram)
    assert joules["topk_element"] == 0.0
    assert joules["static"] == 1.0
    assert joules["total"] == pytest.approx(2.0 + dram)


def test_numpy_counts_are_accepted():
    joules = energy_breakdown(TABLE, {"sore_group": np.int64(10)}, seconds=np.float64(0),
                              static_w=0)
    assert joules["sore_group"] == pytest.approx(10 * TABLE.pj["sore_group"] * 1e-12)


@pytest.mark.parametrize(("counts", "kwargs", "message"), [
    ({"mac_int4": 1}, {}, "counts has an unknown action 'mac_int4'"),
    ({"mac_int8": -1}, {}, r"counts\['mac_int8'\] must be a non-negative number"),
    ({"mac_int8": float("nan")}, {}, r"counts\['mac_int8'\] must be a non-negative number"),
    ({"mac_int8": True}, {}, r"counts\['mac_int8'\] must be a non-negative number"),
    ({}, {"seconds": -1.0}, "seconds must be a non-negative number"),
    ({}, {"static_w": float("inf")}, "static_w must be a non-negative number"),
])
def test_breakdown_rejects_bad_input(counts, kwargs, message):
    arguments = {"seconds": 1.0, "static_w": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        energy_breakdown(TABLE, counts, **arguments)


def test_table_needs_every_action_and_only_known_ones():
    pj = dict(TABLE.pj)
    del pj["sore_group"]
    with pytest.raises(ValueError, match=r"pj is missing the actions \['sore_group'\]"):
        EnergyTable(pj=pj, sources={})
    with pytest.raises(ValueError, match="pj has an unknown action 'mac_int4'"):
        EnergyTable(pj={**TABLE.pj, "mac_int4": 1.0}, sources={})
    with pytest.raises(ValueError, match=r"pj\['mac_fp16'\] must be a positive number"):
        EnergyTable(pj={**TABLE.pj, "mac_fp16": 0.0}, sources={})
    with pytest.raises(ValueError, match="sources has an unknown action 'x'"):
        EnergyTable(pj=TABLE.pj, sources={"x": "somewhere"})


@pytest.mark.parametrize("name", list_targets())
def test_every_target_prices_every_action_with_a_source(name):
    energy = load_target(name).energy
    assert list(energy.pj) == list(ACTIONS)
    assert all(energy.pj[a] > 0 and energy.sources[a] for a in ACTIONS)


def test_sore_groups_scale_with_their_size_and_width() -> None:
    """The targets price a group of eight 8-bit weights; other groups follow the same
    derivation (comparisons at the weights' width, register bits written)."""
    from sparsa.sim.network.energy import sore_group_scale

    assert sore_group_scale(8, 8) == 1.0
    # M = 8, 16-bit: 224 comparisons at 2 x 0.03 pJ and 1,325 register bits at 0.009 pJ.
    assert sore_group_scale(8, 16) == pytest.approx((224 * 0.06 + 1325 * 0.009) / 13.533)
    assert sore_group_scale(4, 8) < sore_group_scale(8, 8) < sore_group_scale(16, 8)
    assert sore_group_scale(8, 8) < sore_group_scale(8, 16)
