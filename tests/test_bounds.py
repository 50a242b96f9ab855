"""lipnb.bounds: Lipschitz upper and lower bounds of models, Jacobian norms, normalized-layer sigmas."""

import keras
import numpy as np
import pytest

import lipnb

RNG = np.random.default_rng(1)


def linear_model(w):
    model = keras.Sequential([keras.Input((w.shape[0],)), keras.layers.Dense(w.shape[1], use_bias=False)])
    model.layers[0].set_weights([w.astype(np.float32)])
    return model


def test_linear_model_bounds_are_exact():
    w = np.random.default_rng(0).standard_normal((6, 4))
    model = linear_model(w)
    exact = np.linalg.svd(w, compute_uv=False)[0]
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(exact, rel=1e-5)
    norms = lipnb.jacobian_spectral_norms(model, np.random.default_rng(1).standard_normal((5, 6)))
    np.testing.assert_allclose(norms, exact, rtol=1e-5)
    assert lipnb.lipschitz_lower_bound(model, np.zeros((4, 6)), steps=3) == pytest.approx(exact, rel=1e-4)


def test_mlp_bounds_are_ordered():
    model = lipnb.digits_mlp(hidden=(16, 16), activation="tanh", seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (32, 64)).astype(np.float32)
    upper = lipnb.lipschitz_upper_bound(model)
    manual = np.prod([np.linalg.svd(l.kernel.numpy(), compute_uv=False)[0] for l in model.layers])
    assert upper == pytest.approx(manual, rel=1e-5)
    lower = lipnb.lipschitz_lower_bound(model, x, steps=10)
    ratios = lipnb.finite_difference_ratios(model, x, x[::-1] + 0.01)
    assert ratios.max() <= upper and lower <= upper


def test_activation_table_and_sigmoid_factor():
    assert lipnb.activation_lipschitz("sigmoid") == 0.25
    assert lipnb.activation_lipschitz(keras.activations.relu) == 1.0
    with pytest.raises(ValueError, match="unknown activation 'mystery'"):
        lipnb.activation_lipschitz("mystery")
    model = lipnb.digits_mlp(hidden=(8,), activation="sigmoid", seed=0)
    plain = np.prod([lipnb.spectral_norm(l.kernel) for l in model.layers])
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(0.25 * plain, rel=1e-6)


def test_unsupported_layer_is_named():
    model = keras.Sequential([keras.Input((4,)), keras.layers.LayerNormalization(name="ln")])
    with pytest.raises(ValueError, match="'ln' of type LayerNormalization"):
        lipnb.lipschitz_upper_bound(model)


def test_bad_inputs():
    model = linear_model(np.eye(3))
    with pytest.raises(ValueError, match="rank >= 2"):
        lipnb.jacobian_spectral_norms(model, np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        lipnb.jacobian_spectral_norms(model, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="coincide"):
        lipnb.finite_difference_ratios(model, np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="steps"):
        lipnb.lipschitz_lower_bound(model, np.ones((2, 3)), steps=0)


def test_rescaled_logits_multiply_the_bound():
    w = np.random.default_rng(2).standard_normal((5, 3))
    base = linear_model(w)
    scaled = keras.Sequential([keras.Input((5,)), base.layers[0], keras.layers.Rescaling(-4.0, offset=1.0)])
    exact = np.linalg.svd(w, compute_uv=False)[0]
    assert lipnb.lipschitz_upper_bound(scaled) == pytest.approx(4 * exact, rel=1e-5)


def test_normalized_layer_sigmas_are_one_after_warm_up_and_move_after_a_step():
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              lipnb.SpectralNormalization(keras.layers.Conv2D(
                                  3, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(0)),
                                  mode="operator"),
                              keras.layers.Flatten(), lipnb.SpectralNormalization(keras.layers.Dense(
                                  2, kernel_initializer=keras.initializers.GlorotUniform(1)))])
    sigmas = lipnb.normalized_layer_sigmas(model)
    assert len(sigmas) == 2 and all(s == pytest.approx(1.0, abs=1e-5) for s in sigmas.values())
    dense = model.layers[-1].layer
    dense.kernel.assign(dense.kernel.numpy() * np.linspace(1, 10, dense.kernel.shape[-1]))  # stale vector
    assert list(lipnb.normalized_layer_sigmas(model).values())[-1] != pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="no lipnb.SpectralNormalization"):
        lipnb.normalized_layer_sigmas(linear_model(np.eye(2)))


def test_subclassed_model_gets_a_value_error():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Sub()
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="subclassed model"):
        lipnb.lipschitz_upper_bound(model)


def test_lower_bound_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)])
        lower = lipnb.lipschitz_lower_bound(model, np.random.default_rng(0).standard_normal((8, 4)), steps=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(lower) and lower > 0


def test_upper_bound_handles_convolutions_and_residual_blocks():
    inp = keras.Input((8,))
    dense = keras.layers.Dense(8, activation="relu", use_bias=False)
    out = keras.layers.Add()([inp, dense(inp)])
    block = keras.Model(inp, out)
    w = RNG.standard_normal((8, 8)).astype("float32")
    dense.set_weights([w])
    assert lipnb.lipschitz_upper_bound(block) == pytest.approx(1 + lipnb.spectral_norm(w), rel=1e-6)

    conv = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.AveragePooling2D(2), keras.layers.Flatten(), keras.layers.Dense(1)])
    upper = lipnb.lipschitz_upper_bound(conv)
    x = RNG.standard_normal((16, 8, 8, 2)).astype("float32")
    assert lipnb.lipschitz_lower_bound(conv, x, steps=20) <= upper
    k = conv.layers[0].kernel.numpy()
    pool = 0.5  # 2x2 average pooling
    reshaped_bound = lipnb.spectral_norm(k) * pool * lipnb.spectral_norm(conv.layers[3].kernel)
    assert upper > reshaped_bound  # conv-aware: the reshaped-kernel product would be too small
    sn = keras.Sequential([keras.Input((6,)), lipnb.SpectralNormalization(keras.layers.Dense(4)),
                           keras.layers.ReLU(), lipnb.SpectralNormalization(keras.layers.Dense(1))])
    assert lipnb.lipschitz_upper_bound(sn) == pytest.approx(1.0, abs=1e-4)


def test_input_jacobian_is_each_examples_jacobian():
    """tanh(x W) per example: J = diag(1 - tanh^2) W^T, shape (n, outputs, *input shape)."""
    w = RNG.standard_normal((6, 5)).astype(np.float32)
    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    fn = lambda t: keras.ops.tanh(keras.ops.matmul(keras.ops.reshape(t, (4, 6)), w))  # noqa: E731
    jac = keras.ops.convert_to_numpy(lipnb.backend.input_jacobian(fn, x))
    assert jac.shape == (4, 5, 2, 3)
    slope = 1 - np.tanh(x.reshape(4, 6) @ w) ** 2
    expected = slope[:, :, None] * w.T[None]
    np.testing.assert_allclose(jac.reshape(4, 5, 6), expected, rtol=1e-4, atol=1e-6)
    # And the spectral norms built on it, for a model whose outputs are an image.
    conv = keras.Sequential([keras.Input((5, 5, 1)), keras.layers.Conv2D(2, 3, padding="same", use_bias=False)])
    exact = lipnb.conv_operator_norm(keras.ops.convert_to_numpy(conv.layers[0].kernel), (5, 5), padding="same")
    np.testing.assert_allclose(lipnb.jacobian_spectral_norms(conv, RNG.standard_normal((3, 5, 5, 1))), exact,
                               rtol=1e-4)
