"""Named training workloads: a CNN of the zoo, its input size, and its layers' GEMMs."""

from collections.abc import Callable

import torch
from torch import nn

from sparsa.config.sat import NMPattern
from sparsa.models.algorithms.bdwp import BDWPConfig, sparsify
from sparsa.models.zoo.cnn import LayerGemm, layer_gemms, resnet18, resnet50, small_cnn, vgg16

__all__ = ["CNN_WORKLOADS", "training_layers"]

# name -> (constructor, input shape of one sample). ImageNet-size inputs for the published
# networks, as SAT evaluates them; the small CNN takes 8x8 digits.
CNN_WORKLOADS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "resnet18": (resnet18, (3, 224, 224)),
    "resnet50": (resnet50, (3, 224, 224)),
    "vgg16": (vgg16, (3, 224, 224)),
    "small-cnn": (small_cnn, (1, 8, 8)),
}


def training_layers(name: str, *, batch: int, pattern: NMPattern | None) -> list[LayerGemm]:
    """The layers (with their three GEMM shapes) of workload ``name`` at ``batch``.

    With a ``pattern``, every eligible layer becomes a BDWP layer (first and last layers stay
    dense, see :func:`sparsa.models.algorithms.bdwp.sparsify`); its ``pattern`` field is then set.
    The model is built on the meta device, so no weights are allocated.
    """
    if name not in CNN_WORKLOADS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(CNN_WORKLOADS)}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be a positive integer, not {batch!r}")
    build, shape = CNN_WORKLOADS[name]
    with torch.device("meta"):
        model = build()
        if pattern is not None:
            sparsify(model, BDWPConfig(mode="bdwp", pattern=pattern))
    return layer_gemms(model, shape, batch=batch)
