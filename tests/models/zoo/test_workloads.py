"""Named CNN workloads and their layer lists."""

import pytest

from sparsa.config.sat import NMPattern
from sparsa.models.zoo.workloads import CNN_WORKLOADS, training_layers


@pytest.mark.parametrize("name", sorted(CNN_WORKLOADS))
def test_sparse_layers_keep_their_shapes_and_first_and_last_stay_dense(name):
    dense = training_layers(name, batch=2, pattern=None)
    sparse = training_layers(name, batch=2, pattern=NMPattern(2, 4))
    assert [(d.name, d.ff, d.bp, d.wu) for d in dense] == [(s.name, s.ff, s.bp, s.wu)
                                                            for s in sparse]
    assert all(d.pattern is None for d in dense)
    assert sparse[0].pattern is None and sparse[-1].pattern is None
    assert any(s.pattern == NMPattern(2, 4) for s in sparse)
    for s in sparse:
        if s.pattern is not None:
            assert s.ff.k % 4 == 0 and s.cout % 4 == 0, s.name


def test_resnet50_batch_32_is_the_published_network():
    layers = training_layers("resnet50", batch=32, pattern=None)
    assert len(layers) == 54  # 53 convolutions and the classifier
    assert sum(layer.macs for layer in layers) == 32 * 4_089_184_256


def test_bad_workload_arguments_are_named():
    with pytest.raises(ValueError, match=r"unknown model 'alexnet'; choose one of"):
        training_layers("alexnet", batch=1, pattern=None)
    with pytest.raises(ValueError, match=r"batch must be a positive integer, not 0"):
        training_layers("resnet18", batch=0, pattern=None)
