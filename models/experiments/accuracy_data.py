"""Image data for the accuracy experiments, with no download at run time.

The data set is scikit-learn's bundled ``load_digits``: 1,797 grey 8x8 images of the digits 0-9
(pixel values 0 to 16), read from the files that ship inside the scikit-learn wheel. It is split
once into a training and a held-out part, stratified by class and seeded, so that every run of
an experiment sees the same two disjoint sets. Images are normalised with the mean and standard
deviation of the training pixels only (one scalar each), so nothing about the held-out images
leaks into training.
"""

from dataclasses import dataclass
from math import ceil, isfinite

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sparsa.config.checks import is_int

__all__ = ["DIGITS_SPLIT_SEED", "DIGITS_TEST_FRACTION", "ImageSplit", "load_digits_split"]

DIGITS_TEST_FRACTION = 0.25  # 450 of the 1,797 images are held out
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True, kw_only=True, eq=False)
class ImageSplit:
    """A labelled image set split into disjoint training and held-out parts.

    Attributes
    ----------
    name : str
        Data set and split, for reports.
    train_images, test_images : torch.Tensor
        Normalised float32 images of shape ``(count, channels, height, width)``.
    train_labels, test_labels : torch.Tensor
        int64 class labels, 0 to ``num_classes - 1``.
    train_indices, test_indices : torch.Tensor
        int64 positions of the images in the source data set (disjoint; together all of it).
    mean, std : float
        The training-pixel statistics used to normalise both parts.
    num_classes : int
        Number of classes.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_indices: torch.Tensor
    test_indices: torch.Tensor
    mean: float
    std: float
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        return tuple(self.train_images.shape[1:])


def load_digits_split(
    *, test_fraction: float = DIGITS_TEST_FRACTION, seed: int = DIGITS_SPLIT_SEED
) -> ImageSplit:
    """scikit-learn's 8x8 digits, split stratified by class and normalised by the training part.

    Parameters
    ----------
    test_fraction : float
        Share of the images held out (rounded up to whole images, as scikit-learn does); both
        parts must hold at least one image per class.
    seed : int
        Seed of the split (``random_state`` of ``sklearn.model_selection.train_test_split``); the
        same seed gives the same split on every call.

    Returns
    -------
    ImageSplit
        Images of shape ``(count, 1, 8, 8)``.

    Raises
    ------
    ValueError
        If ``test_fraction`` leaves a part with fewer images than classes, or ``seed`` is not a
        non-negative integer.
    """
    digits = load_digits()
    images, labels = digits.images.astype(np.float32), digits.target.astype(np.int64)
    count, classes = len(labels), len(digits.target_names)
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float)
        or not isfinite(test_fraction)
        or not 0 < test_fraction < 1
        or not classes <= ceil(test_fraction * count) <= count - classes
    ):
        raise ValueError(
            f"test_fraction must be a number in (0, 1) that leaves at least "
            f"{classes} of the {count} images (one per class) in each part, "
            f"not {test_fraction!r}"
        )
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    train, test = train_test_split(
        np.arange(count), test_size=test_fraction, stratify=labels, random_state=seed
    )
    train, test = np.sort(train), np.sort(test)
    mean, std = float(images[train].mean()), float(images[train].std())

    def normalised(indices: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((images[indices] - mean) / std).unsqueeze(1)

    return ImageSplit(
        name=f"sklearn digits 8x8, stratified split seed {seed}, {len(train)} train / "
        f"{len(test)} held out",
        train_images=normalised(train),
        train_labels=torch.from_numpy(labels[train]),
        test_images=normalised(test),
        test_labels=torch.from_numpy(labels[test]),
        train_indices=torch.from_numpy(train),
        test_indices=torch.from_numpy(test),
        mean=mean,
        std=std,
        num_classes=classes,
    )
