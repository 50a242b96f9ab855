import keras
import numpy as np
import pytest

import lipnb


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
    np.testing.assert_allclose(ta, tb, atol=1e-13)
    with pytest.raises(ValueError, match="steps"):
        lipnb.parameter_trajectory(a, keras.optimizers.SGD(0.1), x, y, steps=0)


def test_rescaled_logits_multiply_the_bound():
    w = np.random.default_rng(2).standard_normal((5, 3))
    base = linear_model(w)
    scaled = keras.Sequential([keras.Input((5,)), base.layers[0], keras.layers.Rescaling(-4.0, offset=1.0)])
    exact = np.linalg.svd(w, compute_uv=False)[0]
    assert lipnb.lipschitz_upper_bound(scaled) == pytest.approx(4 * exact, rel=1e-5)


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


def test_normalized_layer_sigmas_are_one_after_warm_up_and_move_after_a_step():
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              lipnb.SpectralNormalization(keras.layers.Conv2D(3, 3, padding="same"),
                                                          mode="operator"),
                              keras.layers.Flatten(), lipnb.SpectralNormalization(keras.layers.Dense(2))])
    sigmas = lipnb.normalized_layer_sigmas(model)
    assert len(sigmas) == 2 and all(s == pytest.approx(1.0, abs=1e-5) for s in sigmas.values())
    dense = model.layers[-1].layer
    dense.kernel.assign(dense.kernel.numpy() * np.linspace(1, 3, dense.kernel.shape[-1]))  # stale vector
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
