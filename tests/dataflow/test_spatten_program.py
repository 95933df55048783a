"""Tests of :mod:`sparsa.dataflow.spatten_program`: the DRAM image's layout, the parsing of what
the system writes, and a run as a public-format trace."""

from sparsa.config.spatten_system import (
    DESCRIPTOR_BITS,
    DESCRIPTOR_FIELDS,
    LIST_ENTRY_BITS,
    SpattenSystemConfig,
)
from sparsa.dataflow.spatten_program import PAGE, build_image, random_run, read_results, run_trace
from sparsa.models.algorithms.spatten_trace import read_trace, write_trace
from sparsa.models.golden.spatten_system import run_layers

CONFIG = SpattenSystemConfig()


def _field(image: bytes, table: int, layer: int, name: str) -> int:
    start = table + layer * DESCRIPTOR_BITS // 8
    word = int.from_bytes(image[start:start + DESCRIPTOR_BITS // 8], "little")
    lsb, width = DESCRIPTOR_FIELDS[name]
    return word >> lsb & ((1 << width) - 1)


def _element(image: bytes, addr: int, index: int, bits: int) -> int:
    row = int.from_bytes(image[addr:addr + 64], "little")
    value = row >> (index * bits) & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def test_the_image_holds_descriptors_and_rows_where_they_say() -> None:
    tensors, settings = random_run(CONFIG, layers=2, tokens=16, heads=3, seed=2)
    run = build_image(CONFIG, tensors, settings, tokens=16, heads=3)
    assert (run.layers, run.tokens, run.heads) == (2, 16, 3)
    for layer, (regions, s) in enumerate(zip(run.regions, settings, strict=True)):
        for name in ("token_keep", "head_keep", "v_keep", "msb_bits", "threshold"):
            assert _field(run.image, run.table, layer, name) == getattr(s, name)
        assert _field(run.image, run.table, layer, "k_msb_addr") == regions.k_msb
        assert all(getattr(regions, p) % PAGE == 0 for p in ("q", "k_msb", "v", "out"))
        stride = CONFIG.row_words("k_msb") * CONFIG.axi.word_bytes
        h, t, d = 2, 5, 7  # K MSB of head 2, token 5, element 7
        addr = regions.k_msb + (h * CONFIG.core.max_tokens + t) * stride
        assert _element(run.image, addr, d, 8) == int(tensors[layer].k_msb[h, t, d])
        vstride = CONFIG.row_words("v") * CONFIG.axi.word_bytes
        addr = regions.v + (h * CONFIG.core.max_tokens + t) * vstride
        assert _element(run.image, addr, d, 12) == int(tensors[layer].v[h, t, d])


def test_results_are_read_back_from_records_and_lists() -> None:
    tensors, settings = random_run(CONFIG, layers=1, tokens=20, heads=2, seed=3)
    run = build_image(CONFIG, tensors, settings, tokens=20, heads=2)
    memory = bytearray(run.image)
    regions, word = run.regions[0], CONFIG.axi.word_bytes
    out = [(-5 + i) for i in range(CONFIG.core.dim)]
    record = sum((v & 0xFFF) << (12 * i) for i, v in enumerate(out))
    record |= (1 | 1234 << 32) << ((CONFIG.output_words - 1) * CONFIG.axi.data_width)
    size = CONFIG.output_words * word
    memory[regions.out + size:regions.out + 2 * size] = record.to_bytes(size, "little")
    tokens = [3, 7, 19]
    packed = sum(t << (LIST_ENTRY_BITS * i) for i, t in enumerate(tokens))
    memory[regions.kept:regions.kept + word] = packed.to_bytes(word, "little")
    memory[regions.kept + word:regions.kept + 2 * word] = (1).to_bytes(word, "little")
    result = read_results(CONFIG, run, bytes(memory), [[1]], [(3, 1)])[0]
    assert result.outputs[1] == (tuple(out), True, 1234)
    assert result.kept_tokens == (3, 7, 19) and result.kept_heads == (1,)


def test_a_run_becomes_a_trace_in_the_public_format(tmp_path) -> None:
    tensors, settings = random_run(CONFIG, layers=3, tokens=32, heads=4, seed=4)
    runs = run_layers(CONFIG, tensors, settings, tokens=32, heads=4)
    trace = run_trace(CONFIG, runs, settings)
    assert len(trace) == sum(len(r.heads) for r in runs)
    assert trace.key_fetch.tolist() == [len(r.tokens) for r in runs for _ in r.heads]
    assert trace.requant.tolist() == [a.requant for r in runs for a in r.answers]
    assert trace.topk[trace.token_topk].tolist() == [s.token_keep for s in settings]
    again = read_trace(write_trace(trace, tmp_path / "run.csv"))
    for column in ("key_fetch", "value_fetch", "requant", "topk", "key_bits", "head"):
        assert getattr(again, column).tolist() == getattr(trace, column).tolist(), column
