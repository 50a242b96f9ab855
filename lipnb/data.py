"""Data sets that need no download."""

from __future__ import annotations

import numpy as np

from lipnb.validation import nonnegative_int, numpy_rng, open_fraction, positive_int

__all__ = ["load_digits_split", "validation_split", "eight_gaussians", "twentyfive_gaussians", "swiss_roll",
           "class_mixture"]


def load_digits_split(seed: int = 0, test_fraction: float = 0.25, flatten: bool = True):
    """scikit-learn's 8x8 digits, scaled to [0, 1] and split with a stratified shuffle.

    Args:
        seed: seed of the split.
        test_fraction: share of the 1797 images held out, in (0, 1).
        flatten: return (n, 64) vectors; otherwise (n, 8, 8, 1) images.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: float32 images and int32 labels.
    """
    test_fraction = open_fraction(test_fraction, "test_fraction")
    seed = nonnegative_int(seed, "seed")  # None would draw a new split at every call
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    x = x.reshape(len(x), -1) if flatten else x[..., None]
    y = digits.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return x_tr, y_tr, x_te, y_te


def validation_split(x, y, fraction: float = 0.2, seed: int = 0):
    """Hold out a stratified share of a training set for choosing hyperparameters.

    Hyperparameters are chosen on the held-out part, never on the test set.

    Args:
        x, y: training inputs and integer labels.
        fraction: share held out, in (0, 1).
        seed: seed of the split.

    Returns:
        ``(x_fit, y_fit, x_val, y_val)``.
    """
    fraction = open_fraction(fraction, "fraction")
    seed = nonnegative_int(seed, "seed")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    from sklearn.model_selection import train_test_split

    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)
    return x_fit, y_fit, x_val, y_val


def _check_n(n, rng=None):
    if rng is not None:
        numpy_rng(rng)
    return positive_int(n, "n")


def eight_gaussians(n: int, rng: np.random.Generator, scale: float = 2.0, std: float = 0.02):
    """n points from 8 Gaussians on a circle of radius ``scale`` (WGAN-GP's toy setting).

    Returns:
        ``(points, centers)``: float32 ``(n, 2)`` samples and the ``(8, 2)`` mode centers.
    """
    n = _check_n(n, rng)
    angles = np.arange(8) * np.pi / 4
    centers = scale * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    idx = rng.integers(0, 8, n)
    return (centers[idx] + std * rng.standard_normal((n, 2))).astype(np.float32), centers


def twentyfive_gaussians(n: int, rng: np.random.Generator, spacing: float = 2.0, std: float = 0.05):
    """n points from a 5x5 grid of Gaussians (spacing 2, std 0.05, as in WGAN-GP's code)."""
    n = _check_n(n, rng)
    grid = (np.arange(5) - 2) * spacing
    centers = np.array([(a, b) for a in grid for b in grid], dtype=np.float64)
    idx = rng.integers(0, 25, n)
    return (centers[idx] + std * rng.standard_normal((n, 2))).astype(np.float32), centers


def swiss_roll(n: int, rng: np.random.Generator, noise: float = 0.25, scale: float = 7.5):
    """n points of a 2-D Swiss roll, scaled to about [-2, 2]^2 (WGAN-GP's toy setting)."""
    n = _check_n(n, rng)
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))
    return (points / scale).astype(np.float32), None


def class_mixture(n: int, k: int, rng: np.random.Generator, radius: float = 2.0, std: float = 0.05):
    """n labelled points from K Gaussians evenly spaced on a circle, one class per Gaussian.

    Returns:
        ``(points, labels, centers)``: ``(n, 2)`` float32, ``(n,)`` int32 and ``(k, 2)``.
    """
    n = _check_n(n, rng)
    k = positive_int(k, "k")
    angles = 2 * np.pi * np.arange(k) / k
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = rng.integers(0, k, n)
    points = centers[labels] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int32), centers
