"""Bidirectional N:M weight pruning (BDWP) for Linear and Conv2d: the float reference.

Each training GEMM of a layer with dense weight W (see :mod:`sparsa.models.golden.nm_sparsity` for
the GEMM view and the mask rules) runs as follows; both masks are recomputed from the current dense
W on every forward call, and the dense W is what the optimizer updates:

=========  ======================  =======================  ===================================
mode       FF: ``Y = W' A``        BP: ``E_in = W''^T E``   WU: ``dW``
=========  ======================  =======================  ===================================
dense      W                       W                        ``E A^T``
srste      W * Mf                  W * Mf                   ``E A^T + decay (1 - Mf) W``
bdwp       W * Mf                  W * Mb                   ``E A^T + decay (1 - Mf) W``
=========  ======================  =======================  ===================================

``Mf`` is the forward mask (groups along K = Cin*kh*kw), ``Mb`` the backward mask (groups along
Cout). SR-STE (forward-only N:M) passes the gradient of the pruned weight straight through to
the dense one and adds its decay term (``decay = 2e-4`` as in SR-STE); BDWP does the same but
also prunes W^T in the input-gradient GEMM. Options of :class:`BDWPConfig`: derive ``Mb`` from
``W * Mf`` instead of W (``backward_source="forward"``, Bi-Mask style: ``Mb`` is the backward
mask of ``W * Mf`` intersected with ``Mf``, so the BP weights are a subset of the FF weights and
a Cout group with fewer than N forward survivors keeps fewer than N), and mask the weight
gradient with ``Mf`` (``mask_weight_grad=True``, applied before the decay term is added).
"""

from dataclasses import dataclass, replace
from math import isfinite

import torch
from torch import nn
from torch.nn import functional
from torch.nn.grad import conv2d_input, conv2d_weight

from sparsa.config.sat import NMPattern
from sparsa.models.golden.nm_sparsity import backward_mask, forward_mask

__all__ = [
    "BACKWARD_SOURCES",
    "DEFAULT_PATTERN",
    "MODES",
    "SRSTE_DECAY",
    "BDWPConfig",
    "BDWPConv2d",
    "BDWPLinear",
    "bdwp_conv2d",
    "bdwp_linear",
    "sparsify",
    "training_masks",
]

MODES = ("dense", "srste", "bdwp")
BACKWARD_SOURCES = ("dense", "forward")
SRSTE_DECAY = 2e-4
DEFAULT_PATTERN = NMPattern(2, 8)  # the pattern of SAT's headline result


@dataclass(frozen=True, kw_only=True)
class BDWPConfig:
    """How a layer trains: dense, SR-STE (forward-only N:M) or BDWP (forward and backward N:M).

    Parameters
    ----------
    mode : str
        One of :data:`MODES`.
    pattern : NMPattern
        The N:M pattern of both masks (ignored in dense mode).
    decay : float
        SR-STE decay coefficient of the term ``decay * (1 - Mf) * W`` added to the weight
        gradient in the sparse modes; 0 disables it.
    mask_weight_grad : bool
        Multiply the weight gradient by ``Mf`` (before adding the decay term) in the sparse
        modes. Dense mode is a plain layer: it ignores ``pattern``, ``decay`` and this.
    backward_source : str
        ``"dense"``: ``Mb`` from the dense W; ``"forward"``: ``backward_mask(W * Mf) & Mf``.
    """

    mode: str = "bdwp"
    pattern: NMPattern = DEFAULT_PATTERN
    decay: float = SRSTE_DECAY
    mask_weight_grad: bool = False
    backward_source: str = "dense"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if not isinstance(self.pattern, NMPattern):
            raise ValueError(f"pattern must be an NMPattern (for example NMPattern(2, 8)), "
                             f"not {self.pattern!r}")
        if (isinstance(self.decay, bool) or not isinstance(self.decay, int | float)
                or not isfinite(self.decay) or self.decay < 0):
            raise ValueError(f"decay must be a finite number >= 0, not {self.decay!r}")
        if not isinstance(self.mask_weight_grad, bool):
            raise ValueError(f"mask_weight_grad must be True or False, "
                             f"not {self.mask_weight_grad!r}")
        if self.backward_source not in BACKWARD_SOURCES:
            raise ValueError(f"backward_source must be one of {BACKWARD_SOURCES}, "
                             f"not {self.backward_source!r}")

    def replace(self, **changes: object) -> "BDWPConfig":
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return replace(self, **changes)


def _bp_mask(weight: torch.Tensor, fmask: torch.Tensor, config: BDWPConfig) -> torch.Tensor:
    """Mask of W in the input-gradient GEMM, given the forward mask (sparse modes only)."""
    if config.mode == "srste":
        return fmask
    if config.backward_source == "dense":
        return backward_mask(weight, config.pattern)
    return backward_mask(weight * fmask, config.pattern) & fmask


def training_masks(weight: torch.Tensor, config: BDWPConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks that the FF and BP GEMMs apply to ``weight`` under ``config``.

    Parameters
    ----------
    weight : torch.Tensor
        Dense Linear ``(Cout, Cin)`` or Conv2d ``(Cout, Cin, kh, kw)`` weight.
    config : BDWPConfig
        Mode, pattern and options.

    Returns
    -------
    fmask, bmask : torch.Tensor
        Boolean masks of ``weight``'s shape: all True in dense mode; ``Mf`` twice in srste mode;
        ``Mf`` and ``Mb`` in bdwp mode.
    """
    if config.mode == "dense":
        ones = torch.ones(weight.shape, dtype=torch.bool, device=weight.device)
        return ones, ones
    fmask = forward_mask(weight, config.pattern)
    return fmask, _bp_mask(weight, fmask, config)


@dataclass(frozen=True)
class _LinearGemms:
    """The three GEMMs of ``y = x W^T + b`` (x of shape ``(..., Cin)``)."""

    def forward(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return functional.linear(x, w, b)

    def input_grad(self, grad: torch.Tensor, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return grad @ w

    def weight_grad(self, grad: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return grad.reshape(-1, w.shape[0]).t() @ x.reshape(-1, w.shape[1])

    def bias_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.reshape(-1, grad.shape[-1]).sum(0)


@dataclass(frozen=True)
class _Conv2dGemms:
    """The three GEMMs of a batched, ungrouped 2-D convolution."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    def forward(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return functional.conv2d(x, w, b, self.stride, self.padding, self.dilation)

    def input_grad(self, grad: torch.Tensor, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return conv2d_input(x.shape, w, grad, self.stride, self.padding, self.dilation)

    def weight_grad(self, grad: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return conv2d_weight(x, w.shape, grad, self.stride, self.padding, self.dilation)

    def bias_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sum((0, 2, 3))


class _BDWPFunction(torch.autograd.Function):
    """FF with ``W * Mf``, BP with ``W * Mb`` (or ``Mf``), WU dense plus the options.

    ``Mf`` is computed by the forward pass; ``Mb`` by the backward pass, from the weights the
    forward pass saved (autograd rejects a backward after they changed in place).
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        gemms: _LinearGemms | _Conv2dGemms,
        config: BDWPConfig,
    ) -> torch.Tensor:
        fmask = forward_mask(weight, config.pattern)
        ctx.save_for_backward(x, weight, fmask)
        ctx.gemms, ctx.config = gemms, config
        return gemms.forward(x, weight * fmask, bias)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, weight, fmask = ctx.saved_tensors
        gemms, config = ctx.gemms, ctx.config
        dx = dw = db = None
        # Mixed precision: the GEMMs take the gradient's format (bfloat16 under autocast), the
        # masks come from the float32 weights and the weight gradient returns to their format.
        if ctx.needs_input_grad[0]:
            masked = (weight * _bp_mask(weight, fmask, config)).to(grad.dtype)
            dx = gemms.input_grad(grad, masked, x)
        if ctx.needs_input_grad[1]:
            dw = gemms.weight_grad(grad, x.to(grad.dtype), weight).to(weight.dtype)
            if config.mask_weight_grad:
                dw = dw * fmask
            if config.decay:
                dw = dw + config.decay * weight.masked_fill(fmask, 0)
        if ctx.needs_input_grad[2]:
            db = gemms.bias_grad(grad)
        return dx, dw, db, None, None


def _check_config(config: object) -> BDWPConfig:
    if not isinstance(config, BDWPConfig):
        raise ValueError(f"config must be a BDWPConfig, not {config!r}")
    return config


def bdwp_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, config: BDWPConfig
) -> torch.Tensor:
    """``torch.nn.functional.linear`` trained under ``config`` (the GEMMs of the module docstring).

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(..., Cin)``.
    weight, bias : torch.Tensor
        Dense ``(Cout, Cin)`` weight and optional ``(Cout,)`` bias.
    config : BDWPConfig
        Mode, pattern and options.
    """
    if _check_config(config).mode == "dense":
        return functional.linear(x, weight, bias)
    return _BDWPFunction.apply(x, weight, bias, _LinearGemms(), config)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an integer or a pair of integers, not {value!r}")
    return pair


def bdwp_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    config: BDWPConfig,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> torch.Tensor:
    """``torch.nn.functional.conv2d`` (groups = 1, zero padding) trained under ``config``.

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(B, Cin, H, W)`` or unbatched ``(Cin, H, W)``.
    weight, bias : torch.Tensor
        Dense ``(Cout, Cin, kh, kw)`` weight and optional ``(Cout,)`` bias.
    config : BDWPConfig
        Mode, pattern and options.
    stride, padding, dilation : int or pair of int
        As for ``torch.nn.functional.conv2d``.
    """
    gemms = _Conv2dGemms(_pair(stride, "stride"), _pair(padding, "padding"),
                         _pair(dilation, "dilation"))
    if _check_config(config).mode == "dense":
        return gemms.forward(x, weight, bias)
    if x.dim() == 3:
        return _BDWPFunction.apply(x.unsqueeze(0), weight, bias, gemms, config).squeeze(0)
    return _BDWPFunction.apply(x, weight, bias, gemms, config)


def _unsupported(layer: nn.Linear | nn.Conv2d, config: BDWPConfig) -> str | None:
    """Why ``layer`` cannot train under ``config``, or None if it can."""
    if config.mode == "dense":
        return None
    weight_shape = tuple(layer.weight.shape)
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            return f"groups = {layer.groups} (sparse modes need groups = 1)"
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            return (f"padding {layer.padding!r} with padding_mode {layer.padding_mode!r} "
                    f"(sparse modes need integer zero padding)")
    k, m = layer.weight[0].numel(), config.pattern.m
    if k % m:
        return f"K = Cin*kh*kw = {k} of weight {weight_shape} is not a multiple of M = {m}"
    if config.mode == "bdwp" and weight_shape[0] % m:
        return f"Cout = {weight_shape[0]} of weight {weight_shape} is not a multiple of M = {m}"
    return None


def _checked_config(layer: nn.Linear | nn.Conv2d, config: object) -> BDWPConfig:
    reason = _unsupported(layer, _check_config(config))
    if reason:
        raise ValueError(f"{type(layer).__name__} cannot train in {config.mode} mode with "
                         f"pattern {config.pattern}: {reason}")
    return config


class _Configured:
    """The ``config`` property shared by the BDWP layers: validated against the layer."""

    @property
    def config(self) -> BDWPConfig:
        """Mode, pattern and options of the layer."""
        return self._config

    @config.setter
    def config(self, config: BDWPConfig) -> None:
        self._config = _checked_config(self, config)


class BDWPLinear(_Configured, nn.Linear):
    """``nn.Linear`` whose GEMMs follow a :class:`BDWPConfig` (parameters and init unchanged).

    Parameters
    ----------
    in_features, out_features, bias, device, dtype
        As for ``nn.Linear``.
    config : BDWPConfig
        Mode, pattern and options; may be reassigned later (``layer.config = ...``), and is
        checked against the layer (sparse modes need Cin % M == 0; bdwp also Cout % M == 0).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        config: BDWPConfig,
    ) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self.config = config

    @classmethod
    def from_dense(cls, layer: nn.Linear, config: BDWPConfig) -> "BDWPLinear":
        """A BDWP layer that takes over ``layer``'s parameters (the same Parameter objects, so
        an optimizer built on ``layer`` keeps working)."""
        new = cls(layer.in_features, layer.out_features, layer.bias is not None, device="meta",
                  dtype=layer.weight.dtype, config=config)
        new.weight, new.bias = layer.weight, layer.bias
        return new

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (forward, backward) masks of the current weights (:func:`training_masks`)."""
        return training_masks(self.weight, self.config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bdwp_linear(x, self.weight, self.bias, self.config)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.config.mode}, pattern={self.config.pattern}"


class BDWPConv2d(_Configured, nn.Conv2d):
    """``nn.Conv2d`` whose GEMMs follow a :class:`BDWPConfig` (parameters and init unchanged).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
    device, dtype
        As for ``nn.Conv2d``.
    config : BDWPConfig
        Mode, pattern and options; may be reassigned later. The sparse modes need groups = 1,
        integer zero padding, Cin*kh*kw % M == 0 and (bdwp) Cout % M == 0.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        config: BDWPConfig,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)
        self.config = config

    @classmethod
    def from_dense(cls, layer: nn.Conv2d, config: BDWPConfig) -> "BDWPConv2d":
        """A BDWP layer that takes over ``layer``'s parameters (the same Parameter objects)."""
        new = cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                  layer.padding, layer.dilation, layer.groups, layer.bias is not None,
                  layer.padding_mode, device="meta", dtype=layer.weight.dtype, config=config)
        new.weight, new.bias = layer.weight, layer.bias
        return new

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (forward, backward) masks of the current weights (:func:`training_masks`)."""
        return training_masks(self.weight, self.config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.mode == "dense":
            return super().forward(x)
        return bdwp_conv2d(x, self.weight, self.bias, self.config, stride=self.stride,
                           padding=self.padding, dilation=self.dilation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.config.mode}, pattern={self.config.pattern}"


def sparsify(
    model: nn.Module, config: BDWPConfig, *, first_layer: bool = False, last_layer: bool = False
) -> dict[str, str]:
    """Replace, in place, every eligible ``nn.Conv2d`` and ``nn.Linear`` by its BDWP version.

    A layer is eligible when it can run N:M in both directions (whatever ``config.mode``, so the
    mode can be changed later through ``layer.config``): Cin*kh*kw and Cout multiples of M, and
    for convolutions groups = 1 and integer zero padding. The first and last layers (in
    ``named_modules`` order, counting every Conv2d and Linear) stay dense unless asked. The new
    layers take over the original parameters (same Parameter objects).

    Parameters
    ----------
    model : nn.Module
        The model; must not hold BDWP layers yet.
    config : BDWPConfig
        Configuration given to every replaced layer.
    first_layer, last_layer : bool
        Also sparsify the first / last layer when eligible.

    Returns
    -------
    dict of str to str
        The layers left as they were: qualified name to the reason.

    Raises
    ------
    ValueError
        If ``config`` is not a :class:`BDWPConfig` or ``model`` already holds a BDWP layer.
    """
    strict = _check_config(config).replace(mode="bdwp")
    layers = [(name, layer) for name, layer in model.named_modules(remove_duplicate=False)
              if isinstance(layer, nn.Linear | nn.Conv2d)]
    for name, layer in layers:
        if isinstance(layer, BDWPLinear | BDWPConv2d):
            raise ValueError(f"model already holds the BDWP layer {name!r}; set its .config "
                             f"instead of sparsifying again")
    skipped = {}
    for i, (name, layer) in enumerate(layers):
        if type(layer) not in (nn.Linear, nn.Conv2d):
            reason = f"{type(layer).__name__} (only plain nn.Linear and nn.Conv2d are replaced)"
        elif i == 0 and not first_layer:
            reason = "first layer (kept dense; first_layer=True sparsifies it)"
        elif i == len(layers) - 1 and not last_layer:
            reason = "last layer (kept dense; last_layer=True sparsifies it)"
        elif not name:
            reason = "the model itself (use BDWPLinear/BDWPConv2d.from_dense)"
        else:
            reason = _unsupported(layer, strict)
        if reason:
            skipped[name] = reason
            continue
        parent_name, _, child = name.rpartition(".")
        bdwp = BDWPLinear if isinstance(layer, nn.Linear) else BDWPConv2d
        setattr(model.get_submodule(parent_name), child, bdwp.from_dense(layer, config))
    return skipped
