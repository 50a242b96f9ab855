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


def test_random_perturbation_and_pgd_check_their_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="batch"):
        lipnb.random_perturbation(np.zeros(64, "float32"), 0.5, rng)  # one example without its batch axis
    with pytest.raises(ValueError, match="Generator"):
        lipnb.random_perturbation(np.zeros((2, 64), "float32"), 0.5, 0)
    one = lipnb.random_perturbation(np.zeros((1, 64), "float32"), 0.5, rng)
    assert np.linalg.norm(one) == pytest.approx(0.5, rel=1e-6)
    legacy = lipnb.random_perturbation(np.zeros((1, 64), "float32"), 0.5, np.random.RandomState(0))
    assert np.linalg.norm(legacy) == pytest.approx(0.5, rel=1e-6)
    model = lipnb.digits_mlp(hidden=(8,), seed=0)
    x, y = np.zeros((2, 64), "float32"), np.zeros(2, "int32")
    for step_size in (float("nan"), -0.1, 0.0):
        with pytest.raises(ValueError, match="step_size"):
            lipnb.pgd(model, x, y, 0.5, steps=2, step_size=step_size)


def test_gradient_attacks_need_a_batch_and_one_label_per_example():
    # One example without its batch axis would have its per-example norms taken over its
    # features; labels of the wrong length would pair examples with other labels.
    model = lipnb.digits_mlp(hidden=(8,), seed=0)
    x, y = np.zeros((3, 64), "float32"), np.zeros(3, "int32")
    for attack in (lambda x, y: lipnb.fgsm(model, x, y, 0.1), lambda x, y: lipnb.pgd(model, x, y, 0.1, steps=1)):
        with pytest.raises(ValueError, match="non-empty batch"):
            attack(x[0], y[0])
        with pytest.raises(ValueError, match="non-empty batch"):
            attack(x[:0], y[:0])
        with pytest.raises(ValueError, match="non-finite"):
            attack(np.full_like(x, np.nan), y)
        with pytest.raises(ValueError, match="one integer label per example"):
            attack(x, y[:2])
        np.testing.assert_array_equal(attack(x, y[:, None]), attack(x, y))  # a column of labels is fine
