"""CNN workloads in plain PyTorch (ResNet-18/50, VGG-16, a small CNN) and their GEMM lists.

The ImageNet models have the published shapes (same layers and parameter counts as the
torchvision models: ResNet-18 11,689,512, ResNet-50 25,557,032, VGG-16 138,357,544 parameters
with 1000 classes); no weights are downloaded. ResNet-50 is "v1.5" (the stride of a downsampling
bottleneck sits on its 3x3 conv). VGG-16 is configuration "D" **without** batch norm unless
``batch_norm=True``. :func:`layer_gemms` turns any model into the list of training GEMMs of its
Conv2d and Linear layers, the workload of the SAT simulator;
:func:`sparsa.models.algorithms.bdwp.sparsify` turns any of these models into an N:M sparse one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import torch
from torch import nn
from torch.func import functional_call

from sparsa.config.checks import is_int
from sparsa.config.sat import NMPattern
from sparsa.models.algorithms.bdwp import BDWPConv2d, BDWPLinear

__all__ = [
    "VGG",
    "VGG16_LAYERS",
    "Bottleneck",
    "GemmShape",
    "LayerGemm",
    "ResNet",
    "ResidualBlock",
    "SmallCNN",
    "SmallResNet",
    "layer_gemms",
    "resnet8",
    "resnet18",
    "resnet50",
    "small_cnn",
    "vgg16",
]

# VGG-16 ("D"): output channels of each 3x3 conv, "M" for a 2x2 max pool.
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")


def _check_counts(num_classes: int, in_channels: int) -> None:
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]


class ResidualBlock(nn.Module):
    """ResNet basic block: two 3x3 convs (the first with the stride) and a shortcut.

    Parameters
    ----------
    cin, planes : int
        Input channels and planes (output channels: ``planes * expansion``).
    stride : int
        Stride of the block; a 1x1 conv + BN shortcut is used when the shape changes.
    """

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.body = nn.Sequential(*self._body(cin, planes, stride))
        self.shortcut = (nn.Sequential(*_conv_bn(cin, cout, 1, stride))
                         if stride != 1 or cin != cout else nn.Identity())

    @staticmethod
    def _body(cin: int, planes: int, stride: int) -> list[nn.Module]:
        return [*_conv_bn(cin, planes, 3, stride), nn.ReLU(inplace=True),
                *_conv_bn(planes, planes, 3)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class Bottleneck(ResidualBlock):
    """ResNet bottleneck: 1x1 reduce, 3x3 (with the stride, "v1.5"), 1x1 expand to 4x planes."""

    expansion = 4

    @staticmethod
    def _body(cin: int, planes: int, stride: int) -> list[nn.Module]:
        return [*_conv_bn(cin, planes, 1), nn.ReLU(inplace=True),
                *_conv_bn(planes, planes, 3, stride), nn.ReLU(inplace=True),
                *_conv_bn(planes, planes * Bottleneck.expansion, 1)]


class ResNet(nn.Module):
    """ResNet with the ImageNet stem (7x7/2 conv, 3x3/2 max pool) or a CIFAR stem.

    Parameters
    ----------
    block : type
        :class:`ResidualBlock` or :class:`Bottleneck`.
    depths : sequence of int
        Blocks in each of the four stages (64, 128, 256, 512 planes).
    num_classes, in_channels : int
        Classifier outputs and input channels.
    cifar_stem : bool
        A 3x3/1 stem conv and no max pool, for 32x32 inputs.
    """

    def __init__(self, block: type[ResidualBlock], depths: Sequence[int], *,
                 num_classes: int = 1000, in_channels: int = 3, cifar_stem: bool = False) -> None:
        super().__init__()
        _check_counts(num_classes, in_channels)
        stem = ([*_conv_bn(in_channels, 64, 3), nn.ReLU(inplace=True)] if cifar_stem
                else [*_conv_bn(in_channels, 64, 7, 2), nn.ReLU(inplace=True),
                      nn.MaxPool2d(3, 2, 1)])
        layers: list[nn.Module] = []
        cin = 64
        for stage, depth in enumerate(depths):
            planes = 64 << stage
            for i in range(depth):
                layers.append(block(cin, planes, 2 if stage and not i else 1))
                cin = planes * block.expansion
        self.features = nn.Sequential(*stem, *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet18(*, num_classes: int = 1000, in_channels: int = 3,
             cifar_stem: bool = False) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2); 11,689,512 parameters with 1000 classes."""
    return ResNet(ResidualBlock, (2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels,
                  cifar_stem=cifar_stem)


def resnet50(*, num_classes: int = 1000, in_channels: int = 3,
             cifar_stem: bool = False) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3); 25,557,032 parameters with 1000 classes."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_channels=in_channels,
                  cifar_stem=cifar_stem)


class VGG(nn.Module):
    """VGG: 3x3 convs (with bias) and max pools, 7x7 adaptive average pool, three FC layers.

    Parameters
    ----------
    layers : sequence of int or "M"
        Conv output channels and pools, for example :data:`VGG16_LAYERS`.
    num_classes, in_channels : int
        Classifier outputs and input channels.
    batch_norm : bool
        Batch norm after every conv (the published VGG-16 has none).
    width : float
        Multiplier of every conv's channels and of the 4096-wide hidden FC layers (at least 1
        channel each); 1 gives the published shapes, a small width a quick test model.
    """

    def __init__(self, layers: Sequence[int | str], *, num_classes: int = 1000,
                 in_channels: int = 3, batch_norm: bool = False, width: float = 1.0) -> None:
        super().__init__()
        _check_counts(num_classes, in_channels)
        if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width <= 1:
            raise ValueError(f"width must be a number in (0, 1], not {width!r}")
        features: list[nn.Module] = []
        cin = in_channels
        for item in layers:
            if item == "M":
                features.append(nn.MaxPool2d(2))
                continue
            cout = max(1, round(item * width))
            features.append(nn.Conv2d(cin, cout, 3, padding=1))
            if batch_norm:
                features.append(nn.BatchNorm2d(cout))
            features.append(nn.ReLU(inplace=True))
            cin = cout
        hidden = max(1, round(4096 * width))
        self.features = nn.Sequential(*features, nn.AdaptiveAvgPool2d(7), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(cin * 49, hidden), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def vgg16(*, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          width: float = 1.0) -> VGG:
    """VGG-16 (configuration "D"); 138,357,544 parameters with 1000 classes (138,365,992 with
    batch norm)."""
    return VGG(VGG16_LAYERS, num_classes=num_classes, in_channels=in_channels,
               batch_norm=batch_norm, width=width)


class _SmallNet(nn.Module):
    """What the small networks share: conv3x3(in, 16)-BN-ReLU, the subclass's :meth:`_body`,
    global average pool, then the subclass's classifier (:meth:`_add_classifier`) on the 64
    features left.

    Parameters
    ----------
    num_classes, in_channels : int
        Classifier outputs and input channels.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        _check_counts(num_classes, in_channels)
        self.features = nn.Sequential(
            *_conv_bn(in_channels, 16, 3), nn.ReLU(inplace=True), *self._body(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self._add_classifier(num_classes)

    def _body(self) -> list[nn.Module]:
        raise NotImplementedError

    def _add_classifier(self, num_classes: int) -> None:
        raise NotImplementedError


class SmallCNN(_SmallNet):
    """A CNN of five GEMM layers for quick experiments (8x8 digits, 32x32 images, size >= 2).

    conv3x3(in, 16)-BN-ReLU, conv3x3(16, 32)-BN-ReLU, 2x2 max pool, conv3x3(32, 64)-BN-ReLU,
    global average pool, FC(64, 64)-ReLU, FC(64, classes). Every layer but the first and the
    last has K and Cout multiples of 16, so all of them can be N:M sparse for any M. Takes
    ``num_classes`` and ``in_channels``, keyword-only (classifier outputs and input channels).
    """

    def _body(self) -> list[nn.Module]:
        return [*_conv_bn(16, 32, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                *_conv_bn(32, 64, 3), nn.ReLU(inplace=True)]

    def _add_classifier(self, num_classes: int) -> None:
        self.classifier = nn.Sequential(nn.Linear(64, 64), nn.ReLU(inplace=True),
                                        nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def small_cnn(*, num_classes: int = 10, in_channels: int = 1) -> SmallCNN:
    """The :class:`SmallCNN` (defaults: 10 classes, 1 input channel, as for 8x8 digits)."""
    return SmallCNN(num_classes=num_classes, in_channels=in_channels)


class SmallResNet(_SmallNet):
    """ResNet-8 for small images: the 6n+2 CIFAR ResNet of He et al. with n = 1.

    conv3x3(in, 16)-BN-ReLU, three stages of one :class:`ResidualBlock` (16, 32, 64 planes;
    stride 2 from the second stage, 1x1 conv + BN projection shortcuts where the shape
    changes), global average pool, FC(64, classes). Every layer but the first and the last has
    K and Cout multiples of 16, so all of them can be N:M sparse for any M. Takes
    ``num_classes`` and ``in_channels``, keyword-only (classifier outputs and input channels).
    """

    def _body(self) -> list[nn.Module]:
        return [ResidualBlock(16, 16), ResidualBlock(16, 32, 2), ResidualBlock(32, 64, 2)]

    def _add_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet8(*, num_classes: int = 10, in_channels: int = 1) -> SmallResNet:
    """The :class:`SmallResNet` (defaults: 10 classes, 1 input channel, as for 8x8 digits)."""
    return SmallResNet(num_classes=num_classes, in_channels=in_channels)


@dataclass(frozen=True)
class GemmShape:
    """An ``m x k`` by ``k x n`` matrix product (k is the reduction dimension)."""

    m: int
    k: int
    n: int

    @property
    def macs(self) -> int:
        """Multiply-accumulates: m * k * n."""
        return self.m * self.k * self.n


@dataclass(frozen=True, kw_only=True)
class LayerGemm:
    """One call of a Conv2d or Linear layer and its three training GEMMs.

    With K = (cin / groups) * kh * kw (the im2col order of :mod:`sparsa.models.golden.nm_sparsity`)
    and N = batch * out_h * out_w (for a Linear: the number of input rows):

    * ``ff``: ``Y = W A``, shape (cout / groups, K, N);
    * ``bp``: ``E_in = W^T E_out``, shape (K, cout / groups, N), before col2im;
    * ``wu``: ``dW = E_out A^T``, shape (cout / groups, N, K).

    A grouped convolution runs ``groups`` independent GEMMs of each shape. ``mode`` and
    ``pattern`` come from a BDWP layer's config (``"dense"`` and None for plain layers).
    """

    name: str
    kind: str
    cout: int
    cin: int
    kh: int
    kw: int
    stride: tuple[int, int]
    groups: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    mode: str
    pattern: NMPattern | None
    ff: GemmShape
    bp: GemmShape
    wu: GemmShape

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one of the three GEMMs (all three have the same)."""
        return self.groups * self.ff.macs


def _record(name: str, layer: nn.Conv2d | nn.Linear, x: torch.Tensor,
            y: torch.Tensor) -> LayerGemm:
    if isinstance(layer, nn.Conv2d):
        kind, groups, cout, cin = "conv", layer.groups, layer.out_channels, layer.in_channels
        (kh, kw), stride = layer.kernel_size, tuple(layer.stride)
        (in_h, in_w), (out_h, out_w) = x.shape[-2:], y.shape[-2:]
        n = y.numel() // cout
    else:
        kind, groups, cout, cin = "linear", 1, layer.out_features, layer.in_features
        kh = kw = in_h = in_w = out_h = out_w = 1
        stride = (1, 1)
        n = x.numel() // cin
    k, rows = cin // groups * kh * kw, cout // groups
    sparse = isinstance(layer, BDWPConv2d | BDWPLinear) and layer.config.mode != "dense"
    return LayerGemm(
        name=name, kind=kind, cout=cout, cin=cin, kh=kh, kw=kw, stride=stride,
        groups=groups, in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w,
        mode=layer.config.mode if sparse else "dense",
        pattern=layer.config.pattern if sparse else None,
        ff=GemmShape(rows, k, n), bp=GemmShape(k, rows, n), wu=GemmShape(rows, n, k),
    )


def layer_gemms(model: nn.Module, input_shape: Sequence[int], batch: int = 1) -> list[LayerGemm]:
    """The training GEMMs of every Conv2d and Linear call of one forward pass, in call order.

    The forward pass runs on the meta device (no arithmetic, no memory, the model's parameters
    untouched), so it is fast even for VGG-16 at 224x224.

    Parameters
    ----------
    model : nn.Module
        Any model taking one tensor of shape ``(batch, *input_shape)``.
    input_shape : sequence of int
        Shape of one sample, for example ``(3, 224, 224)``.
    batch : int
        Batch size (part of every GEMM's N).

    Returns
    -------
    list of LayerGemm
        One record per layer call (a layer called twice appears twice).

    Raises
    ------
    ValueError
        If ``input_shape`` or ``batch`` is not made of positive integers.
    """
    if isinstance(input_shape, str | bytes) or not isinstance(input_shape, Sequence) or not (
        input_shape and all(is_int(d) and d > 0 for d in input_shape)
    ):
        raise ValueError(f"input_shape must be a non-empty sequence of positive integers, "
                         f"not {input_shape!r}")
    if not is_int(batch) or batch < 1:
        raise ValueError(f"batch must be a positive integer, not {batch!r}")
    tensors = dict(chain(model.named_parameters(), model.named_buffers()))
    dtype = next((t.dtype for t in tensors.values() if t.dtype.is_floating_point), torch.float32)
    records: list[LayerGemm] = []
    handles = [
        layer.register_forward_hook(
            lambda layer, args, out, name=name: records.append(_record(name, layer, args[0], out))
        )
        for name, layer in model.named_modules() if isinstance(layer, nn.Conv2d | nn.Linear)
    ]
    try:
        meta = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
        x = torch.empty((batch, *input_shape), dtype=dtype, device="meta")
        with torch.no_grad():
            functional_call(model, meta, (x,))
    finally:
        for handle in handles:
            handle.remove()
    return records
