"""DRAM images of SpAtten system runs (:mod:`sparsa.config.spatten_system`), and the results read
back from them.

:func:`build_image` lays a run out: the descriptor table, then per layer its Q rows, its K MSB,
K LSB and V planes (max_tokens rows per head), its output records and its kept lists, each
region starting on a 4 KiB page. :func:`read_results` parses what the system wrote.
:func:`random_run` draws a seeded GPT-2-shaped run (per-head query and key scales, so that some
heads are flat and refetch their LSBs and others are peaked).
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sparsa.config.attention import LSB_BITS
from sparsa.config.dram_layout import pack_bytes, unpack_bytes
from sparsa.config.spatten_system import (
    DESCRIPTOR_BITS,
    LIST_ENTRY_BITS,
    SpattenSystemConfig,
    encode_descriptor,
)
from sparsa.models.algorithms.spatten_trace import UNQUANTIZED, SpattenTrace
from sparsa.models.golden.spatten_system import LayerRun, LayerSettings, LayerTensors

__all__ = ["PAGE", "LayerRegions", "RunImage", "SystemResult", "build_image",
           "descriptor_bytes", "random_run", "read_results", "run_trace"]

PAGE = 4096
"""Every region starts on a page."""


@dataclass(frozen=True)
class LayerRegions:
    """Byte addresses of one layer's regions."""

    q: int
    k_msb: int
    k_lsb: int
    v: int
    out: int
    kept: int


@dataclass(frozen=True)
class RunImage:
    """A run's DRAM image and what the host writes into the registers."""

    image: bytes
    table: int
    layers: int
    tokens: int
    heads: int
    regions: tuple[LayerRegions, ...]


@dataclass(frozen=True)
class SystemResult:
    """What one layer wrote: per head (by head id) its output values, requant flag and head
    importance; the kept token and head lists."""

    outputs: dict[int, tuple[tuple[int, ...], bool, int]]
    kept_tokens: tuple[int, ...]
    kept_heads: tuple[int, ...]


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


class _Allocator:
    def __init__(self) -> None:
        self.top = 0

    def take(self, size: int) -> int:
        addr = self.top
        self.top += -(-size // PAGE) * PAGE
        return addr


def build_image(config: SpattenSystemConfig, layers: Sequence[LayerTensors],
                settings: Sequence[LayerSettings], *, tokens: int, heads: int) -> RunImage:
    """The DRAM image of a run of ``layers`` from ``tokens`` tokens and ``heads`` heads.

    Every tensor has ``config.core.heads`` heads and ``config.core.max_tokens`` tokens or fewer;
    rows past a tensor's tokens are left zero.
    """
    core, word_bytes = config.core, config.axi.word_bytes
    alloc = _Allocator()
    table = alloc.take(len(layers) * DESCRIPTOR_BITS // 8)
    chunks: dict[int, bytes] = {}
    regions = []
    for tensors, s in zip(layers, settings, strict=True):
        place = {}
        for plane in ("q", "k_msb", "k_lsb", "v"):
            stride = config.row_words(plane) * word_bytes
            rows = 1 if plane == "q" else core.max_tokens
            addr = place[plane] = alloc.take(core.heads * rows * stride)
            tensor = getattr(tensors, plane)
            bits = config.element_bits(plane)
            body = bytearray(core.heads * rows * stride)
            for h in range(tensor.shape[0]):
                for t in range(1 if plane == "q" else tensor.shape[1]):
                    row = tensor[h] if plane == "q" else tensor[h, t]
                    offset = (h * rows + t) * stride
                    mask = (1 << bits) - 1
                    body[offset:offset + stride] = pack_bytes(
                        [int(x) & mask for x in row.tolist()], bits, config.axi.data_width)
            chunks[addr] = bytes(body)
        out = alloc.take(core.heads * config.output_words * word_bytes)
        kept = alloc.take((config.list_words(core.max_tokens) + config.list_words(core.heads))
                          * word_bytes)
        regions.append(LayerRegions(out=out, kept=kept, **place))
        chunks[table + (len(regions) - 1) * DESCRIPTOR_BITS // 8] = descriptor_bytes(
            regions[-1], s)
    image = bytearray(alloc.top)
    for addr, chunk in chunks.items():
        image[addr:addr + len(chunk)] = chunk
    return RunImage(image=bytes(image), table=table, layers=len(layers), tokens=tokens,
                    heads=heads, regions=tuple(regions))


def descriptor_bytes(regions: LayerRegions, settings: LayerSettings) -> bytes:
    """A layer's descriptor as it lies in DRAM: its regions' addresses and its settings."""
    desc = encode_descriptor(
        q_addr=regions.q, k_msb_addr=regions.k_msb, k_lsb_addr=regions.k_lsb, v_addr=regions.v,
        out_addr=regions.out, kept_addr=regions.kept, **dataclasses.asdict(settings))
    return desc.to_bytes(DESCRIPTOR_BITS // 8, "little")


def read_results(config: SpattenSystemConfig, run: RunImage, memory: bytes,
                 answered: Sequence[Sequence[int]], kept: Sequence[tuple[int, int]]
                 ) -> list[SystemResult]:
    """Parse what the system wrote into ``memory`` (the DRAM after the run).

    Parameters
    ----------
    answered : per layer, the heads whose output records to read (the first layers of the run
        when it stopped early)
    kept : per layer, (token_keep, head_keep)
    """
    core, word_bytes = config.core, config.axi.word_bytes
    att = core.attention
    results = []
    for regions, heads, (token_keep, head_keep) in zip(run.regions[:len(answered)], answered,
                                                       kept, strict=True):
        outputs = {}
        size = config.output_words * word_bytes
        for h in heads:
            record = memory[regions.out + h * size:][:size]
            values = tuple(_signed(v, att.out_bits)
                           for v in unpack_bytes(record, att.out_bits, core.dim))
            meta = int.from_bytes(record[-word_bytes:], "little")
            outputs[h] = (values, bool(meta & 1), meta >> 32)
        token_bytes = config.list_words(token_keep) * word_bytes
        head_bytes = config.list_words(head_keep) * word_bytes
        lists = memory[regions.kept:][:token_bytes + head_bytes]
        kept_tokens = unpack_bytes(lists[:token_bytes], LIST_ENTRY_BITS, token_keep)
        kept_heads = unpack_bytes(lists[token_bytes:], LIST_ENTRY_BITS, head_keep)
        results.append(SystemResult(outputs=outputs, kept_tokens=tuple(kept_tokens),
                                    kept_heads=tuple(kept_heads)))
    return results


def random_run(config: SpattenSystemConfig, *, layers: int, tokens: int, heads: int,
               seed: int, keep: float = 0.75, v_keep: float = 0.5,
               msb_bits: Sequence[int] = (8, 6)) -> tuple[list[LayerTensors],
                                                          list[LayerSettings]]:
    """A seeded run: each layer keeps ``keep`` of its tokens and heads (at least one; the last
    layer keeps every head),
    ``v_keep`` of its V rows, and takes its MSB setting from ``msb_bits`` in turn; the
    threshold is set so that roughly the flatter half of the heads refetch."""
    core = config.core
    gen = torch.Generator().manual_seed(seed)
    tensors, settings = [], []
    n, alive = tokens, heads
    for index in range(layers):
        b = msb_bits[index % len(msb_bits)]
        full = b + LSB_BITS
        top = (1 << (full - 1)) - 1
        scale = torch.rand(core.heads, 1, 1, generator=gen) * 0.9 + 0.1
        q = (torch.randn(core.heads, core.dim, generator=gen) * top * 0.4 * scale[:, 0])
        k = torch.randn(core.heads, core.max_tokens, core.dim, generator=gen) * top * 0.4 * scale
        v = torch.randn(core.heads, core.max_tokens, core.dim, generator=gen) * top * 0.3
        q, k, v = (x.round().clamp(-top - 1, top).long() for x in (q, k, v))
        tensors.append(LayerTensors(q=q, k_msb=k >> LSB_BITS, k_lsb=k & ((1 << LSB_BITS) - 1),
                                    v=v))
        att = core.golden(b)
        shift = att.qk_acc_width - att.score_bits - 4  # a mix of flat and peaked heads
        last = index == layers - 1  # no next layer: its heads all stay
        settings.append(LayerSettings(
            token_keep=max(1, round(n * keep)),
            head_keep=alive if last else max(1, round(alive * keep)),
            v_keep=max(0, round(n * v_keep)), msb_bits=b,
            threshold=(1 << att.prob_bits) // 4, score_shift=max(0, shift)))
        n, alive = settings[-1].token_keep, settings[-1].head_keep
    return tensors, settings


def run_trace(config: SpattenSystemConfig, runs: Sequence[LayerRun],
              settings: Sequence[LayerSettings], *, model: str = "spatten-system"
              ) -> SpattenTrace:
    """A golden run as a trace in the public SpAtten format (one iteration, a row per layer and
    alive head in the order the system runs them): the keys and V rows each head fetched, its
    requant flag, the MSB setting (Q and V at b + 4 bits), the threshold as a fraction of 1 and
    the token top-k after each layer's last head."""
    core = config.core
    columns: dict[str, list] = {name: [] for name in (
        "layer", "head", "key_fetch", "value_fetch", "key_bits", "query_bits", "value_bits",
        "requant_threshold", "requant", "token_topk", "topk")}
    for index, (run, s) in enumerate(zip(runs, settings, strict=True)):
        for place, answer in enumerate(run.answers):
            last = place == len(run.answers) - 1
            for name, value in (
                ("layer", index), ("head", answer.head), ("key_fetch", answer.n),
                ("value_fetch", s.v_keep), ("key_bits", s.msb_bits),
                ("query_bits", s.msb_bits + LSB_BITS), ("value_bits", s.msb_bits + LSB_BITS),
                ("requant_threshold", s.threshold / (1 << core.attention.prob_bits)),
                ("requant", answer.requant), ("token_topk", last),
                ("topk", s.token_keep if last else UNQUANTIZED)):
                columns[name].append(value)
    rows = len(columns["layer"])
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    return SpattenTrace(
        model=model, config=None, layers=len(runs), heads=core.heads, head_dim=core.dim,
        iteration=np.zeros(rows, dtype=np.int64), seq_len=np.full(rows, len(runs[0].tokens)),
        requant_bits=np.full(rows, LSB_BITS), accumulate_importance=np.ones(rows, dtype=bool),
        rescale_importance=np.zeros(rows, dtype=bool), **arrays)
