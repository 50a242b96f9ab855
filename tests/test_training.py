"""lipnb.training: parameter trajectories."""

import keras
import numpy as np
import pytest

import lipnb


def test_parameter_trajectory_sgd_matches_weight_decay(x64):
    with x64():  # a float64 comparison (JAX computes in float64 only with x64 on)
        _parameter_trajectory_sgd_matches_weight_decay()


def _parameter_trajectory_sgd_matches_weight_decay():
    x, y, _, _ = lipnb.load_digits_split()
    a = lipnb.digits_mlp(hidden=(8,), seed=0, dtype="float64")
    b = lipnb.digits_mlp(hidden=(8,), seed=0, dtype="float64")
    ta = lipnb.parameter_trajectory(a, keras.optimizers.SGD(0.1), x, y, steps=5, l2=1e-2)
    opt = keras.optimizers.SGD(0.1, weight_decay=2e-2)
    opt.exclude_from_weight_decay(var_names=["bias"])
    tb = lipnb.parameter_trajectory(b, opt, x, y, steps=5)
    assert ta.shape == (6, 64 * 8 + 8 + 8 * 10 + 10) and ta.dtype == np.float64
    # Keras's PyTorch optimizer computes weight decay's factor 1 - wd * lr in float32 (its
    # learning rate's dtype) for float64 variables too: 7e-8 apart after 5 steps.
    np.testing.assert_allclose(ta, tb, atol=1e-6 if keras.backend.backend() == "torch" else 1e-13)
    with pytest.raises(ValueError, match="steps"):
        lipnb.parameter_trajectory(a, keras.optimizers.SGD(0.1), x, y, steps=0)
