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


def _largest_slope_by_finite_differences(model, shape, rng, pairs=400, scale=0.05):
    """The largest |f(x) - f(y)| / |x - y| over random nearby pairs: a lower bound on L."""
    x = rng.standard_normal((pairs, *shape)).astype("float32")
    y = x + scale * rng.standard_normal(x.shape).astype("float32")
    return float(np.max(lipnb.finite_difference_ratios(model, x, y)))


@pytest.mark.parametrize("layer, slope", [
    (lambda: keras.layers.ELU(alpha=3.0), 3.0),
    (lambda: keras.layers.ReLU(negative_slope=2.5), 2.5),
    (lambda: keras.layers.LeakyReLU(negative_slope=4.0), 4.0),
])
def test_parametrized_activation_layers_count_their_slope(layer, slope):
    model = keras.Sequential([keras.Input((3,)), layer()])
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(slope)
    # The bound is attained near 0 from below: a bound of 1 would be broken here.
    found = _largest_slope_by_finite_differences(model, (3,), np.random.default_rng(0), scale=1e-3)
    assert 1.2 < found <= slope * (1 + 1e-3)


def test_a_thresholded_relu_is_discontinuous_and_named():
    model = keras.Sequential([keras.Input((3,)), keras.layers.ReLU(threshold=0.5)])
    x = np.full((1, 3), 0.5, "float32")
    jump = keras.ops.convert_to_numpy(model(x + 1e-3) - model(x - 1e-3))  # about 0.5 across a step of 2e-3
    assert np.all(jump > 0.4)
    with pytest.raises(ValueError, match="discontinuous"):
        lipnb.lipschitz_upper_bound(model)


def test_activations_lipnb_cannot_vouch_for_are_errors_not_guesses():
    import functools

    for activation in (functools.partial(keras.activations.leaky_relu, negative_slope=5.0),
                       keras.layers.LeakyReLU(5.0), lambda x: 3.0 * x):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation=activation)])
        with pytest.raises(ValueError, match="cannot bound the activation"):
            lipnb.lipschitz_upper_bound(model)
    with pytest.raises(ValueError, match="unknown activation"):
        lipnb.activation_lipschitz("mish")
    # Keras's own functions, by name or by object, and the backend library's, are known.
    # As a user reaches them (``import tensorflow as tf; tf.nn.relu``), which need not put
    # "tensorflow.nn" into sys.modules.
    library = {"tensorflow": lambda: __import__("tensorflow").nn, "jax": lambda: __import__("jax").nn,
               "torch": lambda: __import__("torch").nn.functional}[keras.backend.backend()]()
    for activation in ("relu", keras.activations.relu, keras.ops.relu, library.relu, "gelu", keras.ops.gelu, None):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation=activation)])
        ratio = lipnb.lipschitz_upper_bound(model) / lipnb.spectral_norm(model.layers[0].kernel)
        assert ratio == pytest.approx(lipnb.ACTIVATION_LIPSCHITZ[getattr(activation, "__name__", activation)
                                                                 or "linear"])


def _layer_matrix(model, shape):
    """The dense matrix of a linear model on inputs of ``shape`` (columns: images of the basis)."""
    n = int(np.prod(shape))
    out = keras.ops.convert_to_numpy(model(np.eye(n, dtype="float32").reshape(n, *shape)))
    return out.reshape(n, -1).T.astype(np.float64)


@pytest.mark.parametrize("length, expected", [(4, 2 ** -0.5), (3, 1.0), (5, 1.0), (6, 2 ** -0.5), (1, 1.0)])
def test_same_padded_average_pooling_counts_its_partial_edge_windows(length, expected):
    model = keras.Sequential([keras.Input((length, 1)), keras.layers.AveragePooling1D(2, padding="same")])
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(expected)
    assert np.linalg.norm(_layer_matrix(model, (length, 1)), 2) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("shape, pool, data_format", [((5, 7, 2), (3, 2), "channels_last"),
                                                      ((2, 5, 4), (4, 3), "channels_first"),
                                                      ((5, 5, 1), (2, 2), "channels_last")])
def test_pooling_bounds_hold_in_two_dimensions_and_both_layouts(shape, pool, data_format):
    """Never below the layer's exact norm (on every backend: Keras's PyTorch backend pads
    average pooling's edge windows differently, and the bound allows for both)."""
    for layer in (keras.layers.AveragePooling2D(pool, padding="same", data_format=data_format),
                  keras.layers.GlobalAveragePooling2D(data_format=data_format)):
        model = keras.Sequential([keras.Input(shape), layer])
        exact = np.linalg.norm(_layer_matrix(model, shape), 2)
        assert exact <= lipnb.lipschitz_upper_bound(model) * (1 + 1e-6)
        if keras.backend.backend() != "torch":  # exact on TensorFlow and JAX
            assert lipnb.lipschitz_upper_bound(model) == pytest.approx(exact, rel=1e-6)


def test_operator_mode_transposed_convolution_is_measured_as_it_computes():
    sn = lipnb.SpectralNormalization(keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same",
                                                                  use_bias=False), mode="operator")
    model = keras.Sequential([keras.Input((3, 3, 2)), sn])
    # A new kernel and the stored vector left as it was: the layer's norm is no longer 1.
    sn.layer.kernel.assign(np.random.default_rng(3).standard_normal(tuple(sn.layer.kernel.shape)).astype("float32"))
    exact = float(np.linalg.norm(_layer_matrix(model, (3, 3, 2)), 2))
    assert abs(exact - 1.0) > 0.01
    assert list(lipnb.normalized_layer_sigmas(model).values())[0] == pytest.approx(exact, rel=1e-5)
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(exact, rel=1e-5)


def test_spectrally_normalized_embedding_is_a_clear_error():
    model = keras.Sequential([keras.Input((4,), dtype="int32"),
                              lipnb.SpectralNormalization(keras.layers.Embedding(10, 3))])
    with pytest.raises(ValueError, match="cannot bound layer"):
        lipnb.lipschitz_upper_bound(model)


def test_bound_helpers_reject_bad_arguments():
    model = linear_model(RNG.standard_normal((3, 2)))
    x = RNG.standard_normal((4, 3)).astype("float32")
    for kwargs, match in ((dict(radius=0.0), "radius"), (dict(radius=-1.0), "radius"),
                          (dict(learning_rate=float("nan")), "learning_rate"),
                          (dict(learning_rate=-1.0), "learning_rate")):
        with pytest.raises(ValueError, match=match):
            lipnb.lipschitz_lower_bound(model, x, steps=2, **kwargs)
    with pytest.raises(ValueError, match="batch_size"):
        lipnb.jacobian_spectral_norms(model, x, batch_size=0)
    with pytest.raises(ValueError, match="non-empty batch"):
        lipnb.jacobian_spectral_norms(model, np.zeros((0, 3), "float32"))
    with pytest.raises(ValueError, match="non-empty batch"):
        lipnb.finite_difference_ratios(model, np.zeros((0, 3), "float32"), np.zeros((0, 3), "float32"))


def test_a_diverging_ascent_warns_and_keeps_what_it_found():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    x = RNG.standard_normal((4, 3)).astype("float32")
    with pytest.warns(RuntimeWarning, match="diverged"):
        found = lipnb.lipschitz_lower_bound(model, x, steps=3, learning_rate=1e30)
    assert np.isfinite(found) and found <= lipnb.lipschitz_upper_bound(model) * (1 + 1e-5)


def test_activation_table_is_never_below_the_largest_slope():
    """The table is rounded up: gelu (exact, and the tanh approximation that keras.ops.gelu
    and jax.nn.gelu use by default) and silu peak just above 1.1289 and 1.0998. The
    functions in float64 numpy (Keras's formulas), so that float32 round-off on a backend
    without float64 cannot blur the slopes."""
    from scipy.special import erf, expit

    x = np.linspace(-6.0, 6.0, 400_001)
    formulas = {
        "gelu": [0.5 * x * (1 + erf(x / np.sqrt(2.0))),
                 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))],
        "silu": [x * expit(x)], "sigmoid": [expit(x)], "tanh": [np.tanh(x)], "softplus": [np.logaddexp(0.0, x)],
    }
    for name, curves in formulas.items():
        for y in curves:
            slope = float(np.max(np.abs(np.diff(y) / np.diff(x))))
            assert slope <= lipnb.ACTIVATION_LIPSCHITZ[name] * (1 + 1e-9), (name, slope)
    assert max(float(np.max(np.diff(y) / np.diff(x))) for y in formulas["gelu"]) > 1.12899  # the peak is there
