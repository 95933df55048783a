"""cocotb bench of the AXI4 engines and the AXI4-Lite register file (run by
:func:`sparsa.sim.rtl.axi.engines.run_engine`).

The engines run against :class:`~sparsa.sim.rtl.axi.dram.Dram` filled with seeded random bytes.
Each cycle the bench drives its streams (idle and back-pressure drawn with probability
``stall``), waits for the values to settle and records every handshake: commands, words,
bursts on AR or AW, the bursts in flight. It then checks the words against the memory (reads)
or the memory against the words (writes), the bursts against
:meth:`~sparsa.config.axi.AxiConfig.bursts`, the ``last`` and ``done`` beats, that no answer
reports an error and that no more bursts were in flight than the configuration allows. The
register-file bench drives ``cocotbext-axi``'s AXI4-Lite master.
"""

import random
from collections import deque
from typing import Any

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from sparsa.config.axi import AxiConfig
from sparsa.config.registers import Access, RegisterMap
from sparsa.sim.rtl.axi.dram import Dram
from sparsa.sim.rtl.axi.host import reset
from sparsa.sim.rtl.benches import bench_params, write_summary
from sparsa.sim.rtl.configs import config_from_json

CYCLE_LIMIT = 2_000_000


def _fire(dut: Any, prefix: str) -> bool:
    return bool(getattr(dut, f"{prefix}valid").value) and bool(getattr(dut, f"{prefix}ready").value)


class _Recorder:
    """Bursts seen on one address channel and the most in flight at once."""

    def __init__(self, config: AxiConfig) -> None:
        self.bursts: list[tuple[int, int]] = []
        self.in_flight = 0
        self.most = 0
        self._config = config

    def address(self, dut: Any, channel: str) -> None:
        if _fire(dut, f"m_axi_{channel}"):
            addr = int(getattr(dut, f"m_axi_{channel}addr").value)
            beats = int(getattr(dut, f"m_axi_{channel}len").value) + 1
            self.bursts.append((addr, beats))
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def expected(self, transfers: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [b for addr, words in transfers for b in self._config.bursts(addr, words)]


def _offer(dut: Any, port: str, queue: deque, rng: random.Random, stall: float, value) -> None:
    """Put ``queue``'s head on stream ``port`` unless it holds a beat or the source idles."""
    if not int(getattr(dut, f"{port}__valid").value) and queue and rng.random() >= stall:
        getattr(dut, f"{port}__payload").value = value(queue[0])
        getattr(dut, f"{port}__valid").value = 1


def _taken(dut: Any, port: str, fired: bool, queue: deque) -> None:
    """After the edge: drop the beat ``port`` transferred."""
    if fired:
        queue.popleft()
        getattr(dut, f"{port}__valid").value = 0


def _payload(config: AxiConfig, addr: int, words: int) -> int:
    return addr | words << config.addr_width


async def _read_bench(dut: Any, config: AxiConfig, p: dict[str, Any], dram: Dram) -> dict:
    rng = random.Random(p["seed"])
    stall = p["stall"]
    w = config.word_bytes
    transfers = [tuple(t) for t in p["transfers"]]
    waiting = deque(transfers)
    received: list[tuple[int, int, int]] = []
    total = sum(words for _, words in transfers)
    seen = _Recorder(config)
    cycles = 0
    while len(received) < total and cycles < CYCLE_LIMIT:
        _offer(dut, "cmd", waiting, rng, stall, lambda t: _payload(config, *t))
        dut.data__ready.value = int(rng.random() >= stall)
        await ReadOnly()
        fired_cmd = _fire(dut, "cmd__")
        if _fire(dut, "data__"):
            word = int(dut.data__payload.value)
            data_bits = config.data_width
            received.append((word & ((1 << data_bits) - 1), word >> data_bits & 1,
                             word >> (data_bits + 1) & 1))
        seen.address(dut, "ar")
        if _fire(dut, "m_axi_r") and int(dut.m_axi_rlast.value):
            seen.in_flight -= 1
        await RisingEdge(dut.clk)
        cycles += 1
        _taken(dut, "cmd", fired_cmd, waiting)
    failures = []
    if len(received) < total:
        failures.append(f"hung: {len(received)} of {total} words after {cycles} cycles")
    position = 0
    for addr, words in transfers:
        got = received[position : position + words]
        position += words
        for i, (value, last, error) in enumerate(got):
            want = int.from_bytes(dram.read(addr + i * w, w), "little")
            if value != want or last != (i == words - 1) or error:
                failures.append(
                    f"transfer ({addr:#x}, {words}) word {i}: got {value:#x} last={last} "
                    f"error={error}, want {want:#x} last={int(i == words - 1)}"
                )
                break
    if seen.bursts != seen.expected(transfers):
        failures.append(f"bursts {seen.bursts[:8]}... differ from {seen.expected(transfers)[:8]}")
    if seen.most > config.max_reads:
        failures.append(f"{seen.most} reads in flight, more than max_reads = {config.max_reads}")
    return {"failures": failures, "transfers": len(transfers), "words": total,
            "bursts": len(seen.bursts), "most_in_flight": seen.most, "cycles": cycles}


async def _write_bench(dut: Any, config: AxiConfig, p: dict[str, Any], dram: Dram) -> dict:
    rng = random.Random(p["seed"])
    stall = p["stall"]
    w = config.word_bytes
    transfers = [tuple(t) for t in p["transfers"]]
    before = dram.read(0, p["memory_bytes"])
    expected = bytearray(before)
    words = deque()
    for addr, count in transfers:
        for i in range(count):
            value = rng.getrandbits(config.data_width)
            words.append(value)
            expected[addr + i * w : addr + (i + 1) * w] = value.to_bytes(w, "little")
    commands = deque(transfers)
    done: list[int] = []
    seen = _Recorder(config)
    cycles = 0
    while len(done) < len(transfers) and cycles < CYCLE_LIMIT:
        _offer(dut, "cmd", commands, rng, stall, lambda t: _payload(config, *t))
        _offer(dut, "data", words, rng, stall, lambda word: word)
        dut.done__ready.value = int(rng.random() >= stall)
        await ReadOnly()
        fired_cmd, fired_data = _fire(dut, "cmd__"), _fire(dut, "data__")
        if _fire(dut, "done__"):
            done.append(int(dut.done__payload.value))
        seen.address(dut, "aw")
        if _fire(dut, "m_axi_b"):
            seen.in_flight -= 1
        await RisingEdge(dut.clk)
        cycles += 1
        _taken(dut, "cmd", fired_cmd, commands)
        _taken(dut, "data", fired_data, words)
    failures = []
    if len(done) < len(transfers):
        failures.append(f"hung: {len(done)} of {len(transfers)} transfers done after {cycles}")
    if any(done):
        failures.append(f"done beats report errors: {done}")
    after = dram.read(0, p["memory_bytes"])
    if after != bytes(expected):
        first = next(i for i in range(len(after)) if after[i] != expected[i])
        failures.append(f"memory differs first at byte {first:#x}")
    if seen.bursts != seen.expected(transfers):
        failures.append(f"bursts {seen.bursts[:8]}... differ from {seen.expected(transfers)[:8]}")
    if seen.most > config.max_writes:
        failures.append(f"{seen.most} writes in flight, more than max_writes = {config.max_writes}")
    return {"failures": failures, "transfers": len(transfers),
            "words": sum(c for _, c in transfers), "bursts": len(seen.bursts),
            "most_in_flight": seen.most, "cycles": cycles}


async def _register_bench(dut: Any, regs: RegisterMap, p: dict[str, Any]) -> dict:
    rng = random.Random(p["seed"])
    host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    model = {r.name: r.reset for r in regs if r.access is not Access.RO}
    failures = []
    accesses = 0
    mapped = {r.offset for r in regs}
    unmapped = next(a for a in range(0, 1 << regs.addr_width, 4) if a not in mapped)
    for _ in range(p["count"]):
        r = rng.choice(regs.registers)
        port = getattr(dut, r.name)
        if r.access is Access.RO:
            value = rng.getrandbits(32) & r.mask
            port.value = value
            await RisingEdge(dut.clk)
            answer = await host.write(r.offset, rng.randbytes(4))
            if answer.resp != AxiResp.SLVERR:
                failures.append(f"write to read-only {r.name} answered {answer.resp}")
            model_value = value
        elif r.access is Access.RW:
            value, strobe = rng.getrandbits(32), rng.choice([0xF, 0xF, 0x1, 0x6, 0x8])
            data = value.to_bytes(4, "little")
            first = (strobe & -strobe).bit_length() - 1
            count = strobe.bit_length() - first
            await host.write(r.offset + first, data[first : first + count])
            mask = sum(0xFF << 8 * i for i in range(first, first + count))
            model[r.name] = (model[r.name] & ~mask) | (value & mask & r.mask)
            model_value = model[r.name]
        else:  # W1C: the hardware sets bits for a cycle, the host clears some
            bits = rng.getrandbits(32) & r.mask
            await RisingEdge(dut.clk)
            getattr(dut, f"{r.name}_set").value = bits
            await RisingEdge(dut.clk)
            getattr(dut, f"{r.name}_set").value = 0
            model[r.name] |= bits
            clear = rng.getrandbits(32)
            await host.write(r.offset, clear.to_bytes(4, "little"))
            model[r.name] &= ~clear
            model_value = model[r.name]
        got = await host.read_dword(r.offset)
        accesses += 2
        if got != model_value:
            failures.append(f"{r.name}: read {got:#x}, want {model_value:#x}")
        if r.access is not Access.RO and int(port.value) != model_value:
            failures.append(f"{r.name}: port holds {int(port.value):#x}, want {model_value:#x}")
    read = await host.read(unmapped, 4)
    written = await host.write(unmapped, b"\1\2\3\4")
    if read.resp != AxiResp.SLVERR or written.resp != AxiResp.SLVERR:
        failures.append(f"unmapped offset {unmapped:#x} answered {read.resp}, {written.resp}")
    return {"failures": failures, "accesses": accesses + 2}


@cocotb.test()
async def engine_bench(dut: Any) -> None:
    """Run the bench the parameters name and write its summary."""
    p = bench_params()
    config = config_from_json(p["config"])
    await reset(dut)
    if p["kind"] == "registers":
        summary = await _register_bench(dut, config, p)
    else:
        dram = Dram(dut, size=p["memory_bytes"], latency=p["latency"], stall=p["stall"],
                    seed=p["seed"])
        dram.write(0, random.Random(p["seed"] ^ 0x5A5A).randbytes(p["memory_bytes"]))
        bench = _read_bench if p["kind"] == "reader" else _write_bench
        summary = await bench(dut, config, p, dram)
    write_summary(summary)
