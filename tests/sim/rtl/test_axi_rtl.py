"""The AXI4 engines and the AXI4-Lite register file on Verilator, against cocotbext-axi."""

import pytest

from sparsa.config.axi import AxiConfig
from sparsa.config.registers import Access, BitField, Register, RegisterMap
from sparsa.sim.rtl.axi.engines import run_engine

pytestmark = pytest.mark.rtl

# 64-bit words keep the simulated memory small; 8-beat bursts make every transfer several.
NARROW = AxiConfig(data_width=64, addr_width=32, max_burst=8, max_reads=4, max_writes=3)
WIDE = AxiConfig(data_width=512, addr_width=40, max_burst=64, max_reads=8, max_writes=8)


def _passes(summary: dict, seed: int) -> None:
    assert not summary["failures"], f"seed {seed}: " + "; ".join(summary["failures"])


@pytest.mark.parametrize("kind", ["reader", "writer"])
@pytest.mark.parametrize(
    ("config", "latency", "stall"),
    [(NARROW, 3, 0.0), (NARROW, 20, 0.3), (WIDE, 40, 0.0), (WIDE, 7, 0.5)],
    ids=["narrow-fast", "narrow-latency-stalls", "wide-latency", "wide-stalls"],
)
def test_engine_moves_every_word_in_cut_bursts(kind, config, latency, stall) -> None:
    seed = 7 + latency
    summary = run_engine(kind, config, seed=seed, count=24, latency=latency, stall=stall)
    _passes(summary, seed)
    assert summary["transfers"] >= 10 and summary["bursts"] > summary["transfers"]


def test_reads_overlap_the_latency_up_to_the_limit() -> None:
    latency = 30
    summary = run_engine("reader", NARROW, seed=3, count=12, latency=latency)
    _passes(summary, 3)
    assert summary["most_in_flight"] == NARROW.max_reads
    # max_reads bursts in flight: one burst per max(beats, (latency + beats) / max_reads) cycles
    # at best; one at a time, latency + beats.
    beats, bursts = NARROW.max_burst, summary["bursts"]
    overlapped = bursts * max(beats, (latency + beats) / NARROW.max_reads)
    assert summary["cycles"] < 1.15 * overlapped < bursts * (latency + beats) / 3


REGISTERS = RegisterMap((
    Register("control", 0x0, Access.RW, "control", (BitField("start", 0, 1, "start"),)),
    Register("status", 0x4, Access.RO, "status"),
    Register("irq", 0x8, Access.W1C, "interrupts"),
    Register("scratch", 0x10, Access.RW, "scratch", reset=0x1234),
))


def test_register_file_follows_its_map() -> None:
    summary = run_engine("registers", REGISTERS, seed=11, count=60)
    _passes(summary, 11)
