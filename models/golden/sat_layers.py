"""Bit-exact golden of layers the SAT accelerator system runs as one program: the FF pass of a
chain of linear layers (or 1 x 1 convolutions) with the STORE's requantization and ReLU between
them (:mod:`sparsa.dataflow.sat_chain` compiles it).

Layer ``l``: ``Y_l = (W_l o M_l) X_l`` as the array computes it
(:func:`sparsa.models.golden.sat.gemm_ff`, the floating-point partial sums in the tiles' order:
``chunk`` entries per tile, the array's interleaved lanes), then each entry converted as a STORE
converts it (:func:`sparsa.models.golden.sat_system.convert_entries`: the rounding shift and
saturation to the array's integer format, or FP32 rounded to FP16 or BF16, and ReLU), which is
``X_{l + 1}``. The last layer's entries are converted by its own store mode.
"""

from collections.abc import Sequence

import torch

from sparsa.config.sat import NMPattern
from sparsa.config.sat_system import SatSystemConfig, StoreMode
from sparsa.models.golden.sat import gemm_ff
from sparsa.models.golden.sat_system import convert_entries

__all__ = ["chain_ff", "requantize"]


def requantize(config: SatSystemConfig, y: torch.Tensor, mode: StoreMode, shift: int,
               relu: bool) -> torch.Tensor:
    """``y`` (int64 results, or FP32 bit patterns) as a STORE in ``mode`` writes it: int64
    values (two's complement of the stored width) for integers, bit patterns for floating
    point.

    Raises
    ------
    ValueError
        For a mode or shift the system cannot take.
    """
    mask = (1 << config.out_width) - 1
    bits = config.store_bits(mode)
    rows = [convert_entries(config, mode, shift, [int(v) & mask for v in row], relu)
            for row in y.tolist()]
    out = torch.tensor(rows, dtype=torch.int64).reshape(y.shape)
    if not config.array.dtype.is_float:
        out = out - (out >> (bits - 1) << bits)
    return out


def chain_ff(config: SatSystemConfig, layers: Sequence[tuple[torch.Tensor, NMPattern | None,
                                                               int, bool]],
             x: torch.Tensor, *, chunks: Sequence[int], store_mode: StoreMode = StoreMode.RAW
             ) -> list[torch.Tensor]:
    """Each layer's stored output for the chain ``layers`` ((W, pattern, shift, relu) each) on
    input ``x``: the activations every layer but the last writes for the next (the array's
    format), then the last layer's Y in ``store_mode``.

    Parameters
    ----------
    config : SatSystemConfig
    layers : sequence of (W, pattern, shift, relu)
    x : 2-D integer tensor
        The first layer's input, ``K x cols``.
    chunks : sequence of int
        Each layer's reduction entries per tile (floating point; the compiled layers'
        ``chunk``).
    store_mode : StoreMode
        How the last layer's Y is stored.

    Raises
    ------
    ValueError
        For mismatched lengths, or what :func:`gemm_ff` and :func:`requantize` refuse.
    """
    if len(chunks) != len(layers):
        raise ValueError(f"one chunk per layer: {len(chunks)} chunks for {len(layers)} layers")
    lanes = config.array.add_latency  # an OS tile's interleaved partial sums
    outputs = []
    for i, ((w, pattern, shift, relu), chunk) in enumerate(zip(layers, chunks, strict=True)):
        y = gemm_ff(w, x, pattern, config.array, chunk=chunk, lanes=lanes)
        mode = store_mode if i == len(layers) - 1 else config.operand_mode
        x = requantize(config, y, mode, shift, relu)
        outputs.append(x)
    return outputs
