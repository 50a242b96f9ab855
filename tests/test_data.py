"""lipnb.data: the stratified validation split."""

import numpy as np
import pytest

import lipnb


def test_validation_split_is_stratified_and_disjoint():
    x_tr, y_tr, _, _ = lipnb.load_digits_split(seed=0)
    x_fit, y_fit, x_val, y_val = lipnb.validation_split(x_tr, y_tr, fraction=0.2, seed=0)
    assert len(x_fit) + len(x_val) == len(x_tr) and abs(len(x_val) - 0.2 * len(x_tr)) <= 1
    assert set(np.unique(y_val)) == set(range(10))
    rows = {r.tobytes() for r in x_fit}
    assert not any(r.tobytes() in rows for r in x_val) or len(np.unique(x_tr, axis=0)) < len(x_tr)
    with pytest.raises(ValueError, match="fraction"):
        lipnb.validation_split(x_tr, y_tr, fraction=1.0)
    with pytest.raises(ValueError, match="same length"):
        lipnb.validation_split(x_tr, y_tr[:-1])


def test_splits_take_numpy_fractions_and_need_a_seed():
    x_tr, _, _, _ = lipnb.load_digits_split(seed=0, test_fraction=np.float32(0.25))
    assert len(x_tr) == len(lipnb.load_digits_split(seed=0, test_fraction=0.25)[0])
    x, y = np.zeros((40, 2)), np.arange(40) % 2
    assert len(lipnb.validation_split(x, y, np.float32(0.25), seed=0)[0]) == 30
    for seed in (None, -1, 1.5):
        with pytest.raises(ValueError, match="seed"):
            lipnb.load_digits_split(seed=seed)
    with pytest.raises(ValueError, match="Generator"):
        lipnb.eight_gaussians(3, 0)
