"""Compile the FF pass of a chain of layers into one program of the SAT accelerator system: one
layer's output is the next one's input, never touched by the host.

Each layer ``l`` computes ``Y_l = (W_l o M_l) X_l`` (:class:`ChainLayer`: dense weights
``C_out x K``, compressed to its pattern by the compiler, or by the system's SORE with
``sore``), output-stationary, tiled as :func:`sparsa.dataflow.sat_program.compile_gemm` tiles
a GEMM. The STOREs of every layer but the last requantize its output to the array's own format
(the layer's ``shift`` for integers, rounding to FP16 or BF16 for floating point), zero the
negative values with ``relu``, and write them as the next layer's activation beats (a STORE
with a ``group`` of the next layer's M: the corner turn). The next layer's LOADs of B read
those beats where the STOREs wrote them, one LOAD per output block of the layer before; a SYNC
between the layers carries the last STORE's token to the first LOAD of the next layer, so no
LOAD reads before the STOREs have written, and no load overwrites rows the layer before still
reads. The last layer stores its rows in ``store_mode``.

The layers' shapes must chain: layer ``l + 1``'s K is layer ``l``'s C_out, the columns (the
batch, or the pixels of a 1 x 1 convolution) are the same. Output blocks are R rows of Y, so
a group of M = g reduction positions of the next layer must not straddle two of them: R must
be a multiple of every chained layer's M, and each tile's reduction must start at a block
(its dense reduction a multiple of R); the compiler says which limit a chain breaks.
:func:`sparsa.models.golden.sat_layers.chain_ff` is the bit-exact golden.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sparsa.config.sat import BdwpPass, Dataflow, NMPattern
from sparsa.config.sat_system import Opcode, SatSystemConfig, StoreMode, encode
from sparsa.dataflow.sat_program import (
    CompiledProgram,
    OutputBlock,
    PlannedLayer,
    ProgramImage,
    StoreRule,
    check_base,
    emit_layer,
    plan_layer,
    read_blocks,
)
from sparsa.models.golden.sat import check_operands, nm_generate
from sparsa.models.golden.sat_system import check_store_mode

__all__ = ["ChainLayer", "CompiledChain", "compile_chain"]


@dataclass(frozen=True)
class ChainLayer:
    """One layer of a chain.

    Attributes
    ----------
    w : 2-D integer tensor
        Dense weights, ``C_out x K``, in the array's format.
    pattern : NMPattern or None
        The layer's N:M pattern along K (None: dense).
    shift : int
        The STORE's shift (integer arrays; 0 for floating point).
    relu : bool
        Negative outputs stored as zero.
    """

    w: torch.Tensor
    pattern: NMPattern | None = None
    shift: int = 0
    relu: bool = False


@dataclass(frozen=True)
class CompiledChain(CompiledProgram):
    """A compiled chain: the program and its image (:class:`CompiledProgram`), and per layer
    its plan, its output blocks and how its STOREs wrote them.

    Attributes
    ----------
    layers : tuple of PlannedLayer
    blocks : tuple of tuple of OutputBlock
    rules : tuple of StoreRule
    sore : bool
        The SORE built the sparse layers' weights (GENERATE).
    """

    layers: tuple[PlannedLayer, ...]
    blocks: tuple[tuple[OutputBlock, ...], ...]
    rules: tuple[StoreRule, ...]
    sore: bool = False

    def read_layer(self, dram: bytes, index: int) -> torch.Tensor:
        """Layer ``index``'s output as its STOREs left it in ``dram``: the next layer's
        activations (the array's format) for all but the last, Y for the last (int64 values, or
        bit patterns for floating point)."""
        return read_blocks(self.config, self.blocks[index], self.layers[index].shape,
                           self.rules[index], dram)

    def read_output(self, dram: bytes) -> torch.Tensor:
        """The last layer's Y (:meth:`read_layer`)."""
        return self.read_layer(dram, len(self.layers) - 1)


def compile_chain(
    config: SatSystemConfig,
    layers: Sequence[ChainLayer],
    x: torch.Tensor,
    *,
    store_mode: StoreMode = StoreMode.RAW,
    base: int = 0,
    resident: bool = True,
    sore: bool = False,
) -> CompiledChain:
    """Compile the FF pass of ``layers`` on the input ``x`` (see the module docstring).

    Parameters
    ----------
    config : SatSystemConfig
    layers : sequence of ChainLayer
        At least one; the last one's ``shift`` goes with ``store_mode``.
    x : 2-D integer tensor
        The first layer's B, ``K x cols``, in the array's format.
    store_mode : StoreMode
        How the last layer's STOREs write its Y.
    base, resident
        As for :func:`sparsa.dataflow.sat_program.compile_gemm`.
    sore : bool
        The SORE builds the sparse layers' weights from the dense ones (GENERATE); needs a
        system with a SORE whose M is each sparse layer's.

    Raises
    ------
    ValueError
        For no layers, shapes that do not chain, a pattern, shift or store mode the system
        cannot take, a chain the output blocks cannot carry (the module docstring), and what
        :func:`compile_gemm` refuses.
    """
    if not layers:
        raise ValueError("a chain needs at least one layer")
    check_base(config, base)
    rules = []
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        mode = store_mode if last else config.operand_mode
        check_store_mode(config, mode, layer.shift)
        following = None if last else layers[i + 1].pattern
        group = 0 if last else (1 if following is None else following.m)
        rules.append(StoreRule(StoreMode(mode), layer.shift, bool(layer.relu), group))
    planned: list[PlannedLayer] = []
    b = check_operands(x, config.array.dtype, "x")
    for i, layer in enumerate(layers):
        w = check_operands(layer.w, config.array.dtype, f"layer {i}'s W")
        if w.dim() != 2 or b.dim() != 2 or w.shape[1] != b.shape[0]:
            raise ValueError(f"layer {i}'s W is {tuple(w.shape)} but its input is "
                             f"{tuple(b.shape)}: W must be C_out x K with K the input's rows")
        operands, generate = _weights(config, w, layer.pattern, sore, i)
        b_from = None if i == 0 else planned[-1].blocks
        try:
            planned.append(plan_layer(config, (*operands, b), layer.pattern, Dataflow.OS,
                                      generate=generate, resident=resident, b_from=b_from))
        except ValueError as error:
            raise ValueError(f"layer {i}: {error}") from error
        b = torch.zeros(w.shape[0], b.shape[1], dtype=torch.int64)  # the next B's shape
    image = ProgramImage(config, base, sum(p.instructions for p in planned)
                         + len(planned))  # a SYNC between layers, END last
    program: list[int] = []
    blocks: list[tuple[OutputBlock, ...]] = []
    for i, (layer, rule) in enumerate(zip(planned, rules, strict=True)):
        part, out = emit_layer(layer, image, store=rule, after_sync=i > 0,
                               before_sync=i < len(planned) - 1,
                               b_from=blocks[-1] if blocks else ())
        program += part
        blocks.append(tuple(out))
        if i < len(planned) - 1:
            program.append(encode(Opcode.SYNC, pop_next=1, push_prev=1))
    program.append(encode(Opcode.END))
    return CompiledChain(config=config, base=base, image=image.finish(program),
                         program_addr=base, program=tuple(program), layers=tuple(planned),
                         blocks=tuple(blocks), rules=tuple(rules), sore=sore)


def _weights(config: SatSystemConfig, w: torch.Tensor, pattern: NMPattern | None, sore: bool,
             index: int) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                  tuple[BdwpPass, torch.Tensor] | None]:
    """A layer's compressed weights, and what GENERATE builds them from (None: LOAD)."""
    if pattern is None:
        return (w, torch.zeros_like(w)), None
    if w.shape[1] % pattern.m:
        raise ValueError(f"layer {index}'s K = {w.shape[1]} is not whole groups of M = "
                         f"{pattern.m}")
    values, indices = nm_generate(w, pattern, config.array.dtype)
    if not sore:
        return (values, indices), None
    if config.sore is None or pattern.m != config.sore_m:
        raise ValueError(f"layer {index}: the SORE builds weights of M = sore_m = "
                         f"{config.sore_m} on a system with a SORE (sore_lanes "
                         f"{config.sore_lanes}), not {pattern}")
    return (values, indices), (BdwpPass.FF, w)
