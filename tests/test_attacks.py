"""lipnb.attacks: random, FGSM and PGD perturbations."""

import numpy as np
import pytest

import lipnb


def test_perturbations_have_the_requested_size():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(10, 64)).astype(np.float32)
    y = rng.integers(0, 10, 10)
    model = lipnb.digits_mlp(seed=0)
    for xp in (lipnb.random_perturbation(x, 0.5, rng), lipnb.fgsm(model, x, y, 0.5, norm="l2")):
        np.testing.assert_allclose(np.linalg.norm(xp - x, axis=1), 0.5, rtol=1e-5)
    np.testing.assert_allclose(np.abs(lipnb.fgsm(model, x, y, 0.1, norm="linf") - x).max(), 0.1, rtol=1e-5)
    assert np.linalg.norm(lipnb.pgd(model, x, y, 0.3, steps=5) - x, axis=1).max() <= 0.3 + 1e-5
    with pytest.raises(ValueError, match="epsilon"):
        lipnb.fgsm(model, x, y, -1.0)
    with pytest.raises(ValueError, match="norm"):
        lipnb.fgsm(model, x, y, 0.1, norm="l1")
