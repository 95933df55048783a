"""Tests of the held-out split of the bundled digits in
:mod:`sparsa.models.experiments.accuracy_data`."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sparsa.models.experiments.accuracy_data import DIGITS_SPLIT_SEED, load_digits_split


@pytest.fixture(scope="module")
def raw() -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    return digits.images.astype(np.float32), digits.target


def test_split_is_disjoint_complete_and_labelled_from_the_source(raw: tuple) -> None:
    _, labels = raw
    split = load_digits_split()
    train, test = split.train_indices.tolist(), split.test_indices.tolist()
    assert not set(train) & set(test)
    assert sorted(train + test) == list(range(len(labels)))
    assert (len(train), len(test)) == (1347, 450)  # 25 % held out, rounded up
    assert split.train_labels.tolist() == labels[train].tolist()
    assert split.test_labels.tolist() == labels[test].tolist()
    assert split.image_shape == (1, 8, 8) and split.num_classes == 10
    assert split.train_images.dtype == split.test_images.dtype == torch.float32


def test_split_is_stratified(raw: tuple) -> None:
    _, labels = raw
    split = load_digits_split()
    per_class = np.bincount(labels)
    held_out = np.bincount(split.test_labels.numpy(), minlength=10)
    assert np.all(np.abs(held_out - 0.25 * per_class) <= 1), (held_out, per_class)


def test_normalisation_uses_the_training_pixels_only(raw: tuple) -> None:
    images, _ = raw
    split = load_digits_split()
    train, test = split.train_indices.numpy(), split.test_indices.numpy()
    assert split.mean == pytest.approx(float(images[train].mean()), rel=1e-6)
    assert split.std == pytest.approx(float(images[train].std()), rel=1e-6)
    assert split.mean != pytest.approx(float(images[test].mean()), rel=1e-4)
    expected = (images[test] - split.mean) / split.std
    np.testing.assert_allclose(split.test_images.squeeze(1).numpy(), expected, rtol=1e-6)
    assert float(split.train_images.mean()) == pytest.approx(0, abs=1e-5)
    assert float(split.train_images.std(unbiased=False)) == pytest.approx(1, rel=1e-5)


def test_same_seed_same_split_other_seed_other_split() -> None:
    first, again = load_digits_split(), load_digits_split(seed=DIGITS_SPLIT_SEED)
    assert torch.equal(first.test_indices, again.test_indices)
    assert torch.equal(first.train_images, again.train_images)
    other = load_digits_split(seed=DIGITS_SPLIT_SEED + 1)
    assert not torch.equal(first.test_indices, other.test_indices)
    smaller = load_digits_split(test_fraction=0.1)
    assert len(smaller.test_labels) == 180 and len(smaller.train_labels) == 1617


@pytest.mark.parametrize("fraction", [0, 1, 0.001, 0.999, -0.2, True, float("nan"), "0.25"])
def test_bad_test_fraction(fraction: object) -> None:
    with pytest.raises(
        ValueError,
        match=r"test_fraction must be a number in \(0, 1\) that "
        r"leaves at least 10 of the 1797 images",
    ):
        load_digits_split(test_fraction=fraction)


@pytest.mark.parametrize("seed", [-1, 1.5, True, None])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        load_digits_split(seed=seed)
