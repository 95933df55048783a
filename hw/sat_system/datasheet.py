"""The SAT accelerator's datasheet (Markdown) and the sidecar data of its interfaces, generated
from its configuration, register map and instruction set, so they cannot drift from the RTL.
The parts every design's datasheet has come from :func:`sparsa.hw.datasheet.datasheet`."""

from collections.abc import Mapping

from sparsa.config import sat_system as isa
from sparsa.hw import datasheet as sheet
from sparsa.hw.sat.sat_array import acts_layout, runtime_patterns, weights_layout

__all__ = ["datasheet", "interface_json"]

_FAULTS = {
    isa.Fault.NONE: "The program ended at its END.",
    isa.Fault.OPCODE: "An unknown opcode.",
    isa.Fault.ADDRESS: "A transfer (or the program) reaches past dram_bytes or is not "
                       "word-aligned.",
    isa.Fault.BUFFER: "Rows past the end of a buffer, or a transfer of zero rows.",
    isa.Fault.GEMM: "A pattern the array lacks, a length of zero or not in whole groups of N, "
                "more rows than the array, an output-stationary length over max_reduction.",
    isa.Fault.STORE_MODE: "A store mode the array's format cannot take, or a shift it forbids.",
    isa.Fault.TOKEN: "A token to or from a unit that is no neighbour (LOAD's previous side, "
                 "STORE's next side, any token on END).",
    isa.Fault.PROGRAM: "Zero instructions, more than program_depth, or no END.",
    isa.Fault.DRAM: "The memory answered a read or a write with an error (index: the LOAD or "
                "STORE that saw it; 0 for the program's own read).",
    isa.Fault.SORE: "GENERATE on a system without a SORE, with n outside 1 to M - 1, or with lanes "
                "past the array's.",
}


def interface_json(config: isa.SatSystemConfig) -> dict[str, object]:
    """The register map, the instruction fields, the fault codes and the store modes."""
    return {
        "registers": isa.SAT_SYSTEM_REGISTERS.data(),
        "instruction_bits": isa.INSTRUCTION_BITS,
        "instructions": {op.name: {name: {"lsb": lsb, "width": width}
                                   for name, (lsb, width) in isa.FIELDS[op].items()}
                         for op in isa.Opcode},
        "faults": {f.name: int(f) for f in isa.Fault},
        "store_modes": {m.name: {"code": int(m), "bits": config.store_bits(m)}
                        for m in config.store_modes()},
        "row_bits": _row_bits(config),
    }


def _row_bits(config: isa.SatSystemConfig) -> dict[str, int]:
    arr = config.array
    return {"A": weights_layout(arr).size, "B": acts_layout(arr).size,
            "output": arr.cols * config.out_width, "instruction": isa.INSTRUCTION_BITS}


def datasheet(config: isa.SatSystemConfig, sidecar: Mapping[str, object]) -> sheet.Datasheet:
    """The datasheet of the accelerator elaborated from ``config``, whose export wrote
    ``sidecar``."""
    arr, axi = config.array, config.axi
    patterns = ", ".join(f"{i}: {p or 'dense'}" for i, p in enumerate(runtime_patterns(arr)))
    rows = _row_bits(config)
    entry = "FP32" if arr.dtype.is_float else "two's complement"
    sore_text = ("none (GENERATE is refused)" if config.sore is None else
                 f"{config.sore.lanes} lanes, groups of M = {config.sore.m} (GENERATE)")
    summary = sheet.table(["what", "value"], [
        ("PE array", f"{arr.rows} x {arr.cols}, {arr.dtype.value} operands, patterns {patterns}, "
                     f"max_reduction {arr.max_reduction}, "
                     f"interleave {'on' if arr.interleave else 'off'}"),
        ("output-buffer entries", f"{config.out_width} bits ({entry})"),
        ("buffers (rows x bits)", f"A {config.a_rows} x {rows['A']}, B {config.b_rows} x "
                                  f"{rows['B']}, output {config.out_rows} x {rows['output']}"),
        ("instruction memory", f"{config.program_depth} x {isa.INSTRUCTION_BITS} bits"),
        ("AXI4 master `m_axi`", f"{axi.data_width}-bit data, {axi.addr_width}-bit address, "
                                f"ID {axi.id_width} bits (0 sent), INCR bursts of at most "
                                f"{axi.max_burst} beats, {axi.max_reads} reads and "
                                f"{axi.max_writes} writes in flight"),
        ("DRAM reach", f"bytes 0 to {config.dram_bytes - 1:#x}"),
        ("AXI4-Lite slave `s_axil`", f"32-bit data, {isa.SAT_SYSTEM_REGISTERS.addr_width}-bit "
                                     "address"),
        ("SORE in the datapath", sore_text),
        ("interrupt", "`irq`, high while `irq_status.done` and `control.irq_enable`"),
    ])
    running = (
        "1. Write the program and its operands into DRAM. Every transfer is a packed bit stream",
        "   of equal rows from bit 0 of a word-aligned address (row i at bits i x row bits",
        "   onwards, words little-endian, the last one padded with zeros).",
        "2. Write `program_lo`, `program_hi` and `program_len`.",
        "3. Write 1 to `control.start` (with `control.irq_enable` to get the interrupt).",
        "4. Wait for `irq` (or poll `status.done`), read `status` and `error`, write 1 to",
        "   `irq_status.done` to clear the interrupt. The counters hold the run's figures until",
        "   the next start.",
    )
    instructions = [
        f"Each instruction is {isa.INSTRUCTION_BITS} bits; bits 3:0 are the opcode, bits 7:4 the",
        "tokens: `pop_prev` (4), `pop_next` (5), `push_prev` (6), `push_next` (7). The units",
        "are LOAD, GEMM and STORE in that order: a unit's previous and next neighbours. An",
        "instruction waits until every token it pops is there, runs, then pushes its tokens.",
        "Counts are counts (not minus one).",
        "",
    ]
    for op in isa.Opcode:
        fields = [(sheet.bit_range(lsb, w), f"`{n}`")
                  for n, (lsb, w) in isa.FIELDS[op].items() if lsb >= 8]
        instructions += [f"### {op.name} ({int(op)})", "", _OPCODE_DOCS[op], ""]
        if fields:
            instructions += [*sheet.table(["bits", "field"], fields), ""]
    row_formats = (
        f"* A row (one `weights` beat): {max(arr.rows, arr.cols)} "
        f"entries, each a {arr.dtype.width}-bit value then a "
        f"{arr.max_m.bit_length() - 1}-bit index in its group, lane 0 at bit 0 "
        f"({rows['A']} bits).",
        f"* B row (one `acts` beat): {max(arr.rows, arr.cols)} groups of {arr.max_m} "
        f"{arr.dtype.width}-bit values, lane 0 at bit 0 ({rows['B']} bits).",
        f"* Output row: {arr.cols} entries of {config.out_width} bits.",
    )
    store_modes = sheet.table(
        ["code", "mode", "bits per value", "rule"],
        [(int(mode), mode.name, config.store_bits(mode), _STORE_RULES[mode])
         for mode in config.store_modes()])
    faults = (*sheet.table(["code", "fault", "meaning"],
                           [(int(f), f.name, doc) for f, doc in _FAULTS.items()]),
              "", "A fault stops the dispatch: what was dispatched finishes, then `status.done`",
              "and `status.error` are set. The accelerator is ready for the next start.")
    return sheet.datasheet(sidecar, title="the SAT accelerator", summary=summary, sections=[
        sheet.Section("Running a program", running),
        sheet.Section("Registers", (isa.SAT_SYSTEM_REGISTERS.markdown(),)),
        sheet.Section("Instructions", tuple(instructions)),
        sheet.Section("Row formats", row_formats),
        sheet.Section("Store modes", tuple(store_modes)),
        sheet.Section("Faults (`error.code`)", faults),
    ])


_STORE_RULES = {
    isa.StoreMode.RAW: "the entry as it is; shift 0",
    isa.StoreMode.INT8: "(entry + 2^(shift-1)) >> shift, saturated; shift below out_width",
    isa.StoreMode.INT16: "(entry + 2^(shift-1)) >> shift, saturated; shift below out_width",
    isa.StoreMode.FP16: "FP32 rounded to nearest even; shift 0",
    isa.StoreMode.BF16: "FP32 rounded to nearest even; shift 0",
}

_OPCODE_DOCS = {
    isa.Opcode.END: "Ends the program once every unit is idle.",
    isa.Opcode.LOAD: (
        "Reads `rows` rows from DRAM at `addr` into buffer A (`buffer` 0) or B (1) from row "
        "`row`. Into B with `slots` k > 0 (1 or a pattern's M), each DRAM row is compact, k "
        "values per lane (value s of lane l at bit (l k + s) W), written into the first k "
        "slots of each lane of the beat, the others zero; `slots` 0 reads whole beats."),
    isa.Opcode.GEMM: (
        "Runs one PE-array tile: the command (`dataflow` 0 OS / 1 WS, `pattern`, `length`, "
        "`rows`), reading A from `a_row` and B from `b_row`, writing (`accumulate` 0) or adding "
        "(1) its answer beats to the output buffer from `out_row`."),
    isa.Opcode.STORE: (
        "Writes `rows` output-buffer rows from `row` to DRAM at `addr`, converted by `mode` and "
        "`shift`, negative values as zero with `relu` 1. With `group` g > 0 (1 or a pattern's "
        "M; `mode` the array's format) it writes the next layer's compact activation rows "
        "instead (a LOAD with `slots` g reads them): row j holds output rows jg to jg + g - 1, "
        "value c of output row jg + s in slot s of lane c."),
    isa.Opcode.SYNC: (
        "GEMM's unit: waits until every earlier GEMM has written its last answer beat, then "
        "pops and pushes its tokens (a STORE's token on to the LOADs that read what it "
        "wrote)."),
    isa.Opcode.GENERATE: (
        "Runs the SORE in the datapath (a system with `sore_lanes` > 0; LOAD's unit and "
        "tokens): reads a dense tile of M rows (output channels) of L weights at `addr`, keeps "
        "`n` of every group of M and writes the FF (`copy` 0) or BP (`copy` 1) copy into buffer "
        "A from row `row`, lanes from `lane` on: FF, entry t of channel i to lane `lane` + i of "
        "row `row` + t (L / M x n rows); BP, survivor t of the M channels at position l to lane "
        "`lane` + l of row `row` + t (n rows)."),
}
