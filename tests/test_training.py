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


@pytest.mark.parametrize("steps, every, expected", [
    (7, 3, [(3, 3, True), (3, 6, True), (1, 7, False)]),
    (6, 3, [(3, 3, True), (3, 6, True)]),
    (2, 5, [(2, 2, False)]),
    (3, 1, [(1, 1, True), (1, 2, True), (1, 3, True)]),
])
def test_evaluation_chunks_stop_where_evaluations_fall(steps, every, expected):
    assert list(lipnb.training.evaluation_chunks(steps, every)) == expected


def test_evaluation_chunks_reject_zero():
    with pytest.raises(ValueError, match="steps"):
        list(lipnb.training.evaluation_chunks(0, 3))
    with pytest.raises(ValueError, match="every"):
        list(lipnb.training.evaluation_chunks(3, 0))


def test_l2_penalty_takes_kernels_only_whatever_the_layer_names():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="kernel_layer", bias_initializer="ones")])
    kernel = model.layers[0].kernel
    expected = 0.5 * float(np.sum(keras.ops.convert_to_numpy(kernel) ** 2))
    assert float(lipnb.l2_penalty(model, 0.5)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="no trainable kernel"):
        lipnb.l2_penalty(keras.Sequential([keras.Input((3,)), keras.layers.Rescaling(2.0)]), 0.5)


def test_l2_penalty_counts_every_kind_of_kernel():
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.SeparableConv2D(3, 3, bias_initializer="ones")])
    layer = model.layers[0]
    expected = sum(float(np.sum(keras.ops.convert_to_numpy(k) ** 2))
                   for k in (layer.depthwise_kernel, layer.pointwise_kernel))
    assert float(lipnb.l2_penalty(model, 1.0)) == pytest.approx(expected, rel=1e-6)
