"""Tests of the CNN workloads and their GEMM lists in :mod:`sparsa.models.zoo.cnn`.

The ImageNet-size models are built on the meta device (shapes only) where no arithmetic is
needed; forward passes use 32x32 inputs. Random tensors come from seeded generators; messages
name the seed.
"""

import pytest
import torch
from torch import nn

from sparsa.config.sat import NMPattern
from sparsa.models.algorithms.bdwp import BDWPConfig, BDWPConv2d, BDWPLinear, sparsify
from sparsa.models.golden.nm_sparsity import gemm_matrix, is_nm_sparse
from sparsa.models.zoo.cnn import (
    Bottleneck,
    GemmShape,
    LayerGemm,
    layer_gemms,
    resnet18,
    resnet50,
    small_cnn,
    vgg16,
)

# Published parameter counts (1000 classes), equal to torchvision's models.
PARAMETERS = {
    "resnet18": (lambda: resnet18(), 11_689_512),
    "resnet50": (lambda: resnet50(), 25_557_032),
    "vgg16": (lambda: vgg16(), 138_357_544),
    "vgg16_bn": (lambda: vgg16(batch_norm=True), 138_365_992),
}
# Multiply-accumulates of one 224x224 image's forward pass (the commonly quoted GMACs).
MACS_224 = {"resnet18": 1_814_073_344, "resnet50": 4_089_184_256, "vgg16": 15_470_264_320}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", PARAMETERS)
def test_parameter_counts(name: str) -> None:
    build, expected = PARAMETERS[name]
    with torch.device("meta"):
        assert count(build()) == expected


@pytest.mark.parametrize("build", [resnet18, resnet50], ids=lambda f: f.__name__)
def test_resnet_forward_on_small_inputs(build: type) -> None:
    torch.manual_seed(0)
    model = build(num_classes=10).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10) and bool(y.isfinite().all()), "seed=0"


def test_resnet_cifar_stem_and_input_channels() -> None:
    torch.manual_seed(0)
    model = resnet18(num_classes=5, in_channels=1, cifar_stem=True).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 1, 8, 8))
    assert y.shape == (2, 5) and bool(y.isfinite().all()), "seed=0"


def test_resnet_stages() -> None:
    with torch.device("meta"):
        model = resnet50()
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    # v1.5: the stride of the first block of stages 2-4 sits on the 3x3 conv.
    strided = [b for b in blocks if b.body[3].stride == (2, 2)]
    assert len(strided) == 3 and all(b.body[0].stride == (1, 1) for b in strided)
    assert model.fc.in_features == 2048
    with torch.device("meta"):
        stem = resnet18(cifar_stem=True).features[0]
    assert (stem.kernel_size, stem.stride) == ((3, 3), (1, 1))


def test_vgg16_forward_at_small_width() -> None:
    torch.manual_seed(1)
    for batch_norm in (False, True):
        model = vgg16(num_classes=7, in_channels=1, batch_norm=batch_norm, width=1 / 16).eval()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        assert [c.out_channels for c in convs] == [4, 4, 8, 8, 16, 16, 16, 32, 32, 32, 32, 32, 32]
        assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == batch_norm
        with torch.no_grad():
            y = model(torch.randn(2, 1, 32, 32))
        assert y.shape == (2, 7), "seed=1"


def test_small_cnn_forward() -> None:
    torch.manual_seed(2)
    model = small_cnn().eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10), "seed=2"
        assert small_cnn(num_classes=4, in_channels=3)(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer, not 0"):
        resnet18(num_classes=0)
    with pytest.raises(ValueError, match=r"in_channels must be a positive integer, not True"):
        small_cnn(in_channels=True)
    with pytest.raises(ValueError, match=r"width must be a number in \(0, 1\], not 0"):
        vgg16(width=0)
    with pytest.raises(ValueError, match=r"width must be a number in \(0, 1\], not 2"):
        vgg16(width=2)


def layers_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@pytest.mark.parametrize("pattern", [NMPattern(2, 8), NMPattern(1, 16)], ids=str)
def test_sparsify_resnets_keeps_only_the_stem_and_the_classifier_dense(pattern: NMPattern) -> None:
    with torch.device("meta"):
        for build, convs in ((resnet18, 20), (resnet50, 53)):
            model = build()
            skipped = sparsify(model, BDWPConfig(pattern=pattern))
            assert skipped.keys() == {"features.0", "fc"}
            layers = layers_of(model)
            assert len(layers) == convs + 1
            sparse = [n for n, m in layers if isinstance(m, BDWPConv2d | BDWPLinear)]
            assert len(sparse) == convs - 1
            assert count(model) == PARAMETERS[build.__name__][1]


def test_sparsify_vgg16_and_small_cnn() -> None:
    with torch.device("meta"):
        model = vgg16()
    skipped = sparsify(model, BDWPConfig(pattern=NMPattern(2, 8)))
    assert skipped.keys() == {"features.0", "classifier.6"}
    assert isinstance(model.classifier[0], BDWPLinear)
    model = small_cnn()
    skipped = sparsify(model, BDWPConfig(pattern=NMPattern(4, 16)), first_layer=True)
    assert "K = Cin*kh*kw = 9" in skipped["features.0"] and skipped.keys() == {
        "features.0", "classifier.2"}
    assert sum(isinstance(m, BDWPConv2d | BDWPLinear) for m in model.modules()) == 3


@pytest.mark.parametrize("name", MACS_224)
def test_layer_gemms_of_the_imagenet_models(name: str) -> None:
    with torch.device("meta"):
        model = PARAMETERS[name][0]()
    for batch in (1, 3):
        records = layer_gemms(model, (3, 224, 224), batch)
        assert sum(r.macs for r in records) == batch * MACS_224[name]
        for r in records:
            assert r.ff.macs == r.bp.macs == r.wu.macs == r.macs
            assert (r.ff.m, r.ff.k) == (r.cout, r.cin * r.kh * r.kw)
            assert r.ff.n == batch * r.out_h * r.out_w


def test_layer_gemms_records() -> None:
    torch.manual_seed(3)
    model = resnet18(num_classes=10)
    before = {n: p.clone() for n, p in model.state_dict().items()}
    sparsify(model, BDWPConfig(mode="srste", pattern=NMPattern(2, 4)))
    records = layer_gemms(model, (3, 64, 64), batch=4)
    assert len(records) == 21 and records[-1].name == "fc"
    assert records[0] == LayerGemm(
        name="features.0", kind="conv", cout=64, cin=3, kh=7, kw=7, stride=(2, 2), groups=1,
        in_h=64, in_w=64, out_h=32, out_w=32, mode="dense", pattern=None,
        ff=GemmShape(64, 147, 4096), bp=GemmShape(147, 64, 4096), wu=GemmShape(64, 4096, 147),
    )
    down = next(r for r in records if r.name == "features.6.shortcut.0")
    assert (down.kh, down.stride, down.in_h, down.out_h) == (1, (2, 2), 16, 8)
    assert (down.mode, down.pattern) == ("srste", NMPattern(2, 4))
    assert records[-1].ff == GemmShape(10, 512, 4)
    assert records[-1].wu == GemmShape(10, 4, 512)
    # The real parameters and buffers are untouched (the pass ran on the meta device).
    after = model.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before), "seed=3"


def test_layer_gemms_of_grouped_convs_and_token_linears() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(8, 16, 3, padding=1, groups=4)
            self.proj = nn.Linear(16, 32)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(self.conv(x).flatten(2).transpose(1, 2))  # (B, H*W tokens, 16)

    conv, proj = layer_gemms(Tokens(), (8, 5, 6), batch=2)
    assert (conv.groups, conv.ff, conv.bp) == (4, GemmShape(4, 18, 60), GemmShape(18, 4, 60))
    assert conv.macs == 4 * 4 * 18 * 60
    assert (proj.kind, proj.ff) == ("linear", GemmShape(32, 16, 60))


def test_layer_gemms_lists_every_call() -> None:
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    records = layer_gemms(model, (4,), batch=5)
    assert [r.name for r in records] == ["0", "0"]
    assert records[0].ff == GemmShape(4, 4, 5)


def test_layer_gemms_arguments_are_checked() -> None:
    model = small_cnn()
    with pytest.raises(ValueError, match=r"input_shape must be .* not \(1, 0, 8\)"):
        layer_gemms(model, (1, 0, 8))
    with pytest.raises(ValueError, match=r"input_shape must be .* not '1x8x8'"):
        layer_gemms(model, "1x8x8")
    with pytest.raises(ValueError, match=r"batch must be a positive integer, not 0"):
        layer_gemms(model, (1, 8, 8), batch=0)


def test_small_cnn_trains_with_bdwp() -> None:
    seed = 4
    torch.manual_seed(seed)
    model = small_cnn(num_classes=4)
    pattern = NMPattern(2, 4)
    skipped = sparsify(model, BDWPConfig(pattern=pattern))
    assert skipped.keys() == {"features.0", "classifier.2"}
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 1, 8, 8, generator=gen)
    labels = torch.randint(0, 4, (16,), generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"seed={seed}: losses {losses}"
    sparse = [m for m in model.modules() if isinstance(m, BDWPConv2d | BDWPLinear)]
    assert len(sparse) == 3
    for layer in sparse:
        fmask, bmask = layer.masks()
        w = layer.weight.detach()
        assert is_nm_sparse(gemm_matrix(w * fmask), pattern), f"seed={seed}"
        assert is_nm_sparse(gemm_matrix(w * bmask).t(), pattern), f"seed={seed}"
