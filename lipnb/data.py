"""Data sets that need no download."""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits_split"]


def load_digits_split(seed: int = 0, test_fraction: float = 0.25, flatten: bool = True):
    """scikit-learn's 8x8 digits, scaled to [0, 1] and split with a stratified shuffle.

    Args:
        seed: seed of the split.
        test_fraction: share of the 1797 images held out, in (0, 1).
        flatten: return (n, 64) vectors; otherwise (n, 8, 8, 1) images.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: float32 images and int32 labels.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
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
