"""The SpAtten accelerator's datasheet (Markdown) and the sidecar data of its interfaces,
generated from its configuration, register map and descriptor format, so they cannot drift from
the RTL. The parts every design's datasheet has come from :func:`sparsa.hw.datasheet.datasheet`."""

from collections.abc import Mapping

from sparsa.config import spatten_system as spec
from sparsa.hw import datasheet as sheet

__all__ = ["datasheet", "interface_json"]

_FAULTS = {
    spec.Fault.NONE: "Every layer ran.",
    spec.Fault.START: "n_0 outside 1 to max_tokens, H_0 outside 1 to heads, no layers, or a "
                      "table address past the address width.",
    spec.Fault.DESCRIPTOR: "token_keep outside 1 to n, head_keep outside 1 to the alive heads, "
                           "v_keep above n, an MSB setting the core lacks, a score shift above "
                           "2 (b + 4) + log2 D, a threshold above 2^P, or an address past the "
                           "address width.",
    spec.Fault.DRAM: "The memory answered a read or a write with an error (the layer's answers "
                     "drain first).",
}


def interface_json(config: spec.SpattenSystemConfig) -> dict[str, object]:
    """The register map, the descriptor fields, the fault codes and the row sizes."""
    return {
        "registers": spec.SPATTEN_SYSTEM_REGISTERS.data(),
        "descriptor_bits": spec.DESCRIPTOR_BITS,
        "descriptor": {name: {"lsb": lsb, "width": width}
                       for name, (lsb, width) in spec.DESCRIPTOR_FIELDS.items()},
        "faults": {f.name: int(f) for f in spec.Fault},
        "row_words": {plane: config.row_words(plane) for plane in spec.PLANES},
        "output_words": config.output_words,
    }


def datasheet(config: spec.SpattenSystemConfig,
              sidecar: Mapping[str, object]) -> sheet.Datasheet:
    """The datasheet of the accelerator elaborated from ``config``, whose export wrote
    ``sidecar``."""
    core, axi = config.core, config.axi
    att = core.attention
    summary = sheet.table(["what", "value"], [
        ("attention core", f"D = {core.dim}, E = {core.lanes} rows per cycle, MSB settings "
                           f"{', '.join(map(str, core.msb_settings))}, up to {core.max_tokens} "
                           f"tokens and {core.heads} heads, {core.topk_engines} local-V top-k "
                           f"engines of {core.comparators} comparators"),
        ("pruning top-k", f"{config.pruning_topk.lanes} lanes, {core.comparators} comparators, "
                          f"{config.importance_bits}-bit importance"),
        ("AXI4 read masters", ", ".join(f"`m_axi_{p}`" for p in spec.PLANES)
         + f": {axi.data_width}-bit data, {axi.addr_width}-bit address, {axi.max_reads} row "
           "reads in flight each"),
        ("AXI4 write master `m_axi_wr`", f"{axi.data_width}-bit data, {axi.max_writes} writes "
                                         "in flight"),
        ("rows in DRAM (words)", ", ".join(f"{p} {config.row_words(p)}" for p in spec.PLANES)
         + f"; output record {config.output_words}"),
        ("AXI4-Lite slave `s_axil`", f"32-bit data, "
                                     f"{spec.SPATTEN_SYSTEM_REGISTERS.addr_width}-bit address"),
        ("interrupt", "`irq`, high while `irq_status.done` and `control.irq_enable`"),
    ])
    running = (
        "1. Write each layer's Q, K MSB, K LSB and V rows (one row per head for Q, per head and",
        f"   token for the others at (h x {core.max_tokens} + t) rows from the plane's address)",
        "   and the table of layer descriptors into DRAM. A row starts on a word and fills",
        "   whole words, element i at bits i x w onwards.",
        "2. Write `table_lo`, `table_hi`, `layers`, `tokens` (n_0) and `heads` (H_0).",
        "3. Write 1 to `control.start` (with `control.irq_enable` to get the interrupt).",
        "4. Wait for `irq`, read `status` and `error`, write 1 to `irq_status.done`. Each layer",
        f"   has written an output record per alive head ({config.output_words} words at "
        "`out_addr` + h x its size: the",
        f"   {core.dim} outputs of {att.out_bits} bits, then a word with the requant flag in "
        "bit 0 and the head importance from bit 32) and its kept lists at `kept_addr`",
        f"   ({spec.LIST_ENTRY_BITS}-bit tokens, then from the next word the heads).",
    )
    descriptor = sheet.table(["bits", "field"], [
        (sheet.bit_range(lsb, width), f"`{name}`")
        for name, (lsb, width) in spec.DESCRIPTOR_FIELDS.items()])
    faults = sheet.table(["code", "fault", "meaning"],
                         [(int(f), f.name, doc) for f, doc in _FAULTS.items()])
    return sheet.datasheet(sidecar, title="the SpAtten accelerator", summary=summary, sections=[
        sheet.Section("Running layers", running),
        sheet.Section("Registers", (spec.SPATTEN_SYSTEM_REGISTERS.markdown(),)),
        sheet.Section(f"Layer descriptor ({spec.DESCRIPTOR_BITS} bits)", tuple(descriptor)),
        sheet.Section("Faults (`error.code`)", tuple(faults)),
    ])
