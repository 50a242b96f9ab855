"""lipnb.models: warm_up and fit_classifier; lipnb.backend.compile_stateful's scan (TF and JAX)."""

import keras
import numpy as np
import pytest

import lipnb


def test_warm_up_sets_every_nested_layer_to_its_exact_norm():
    inner = keras.Sequential([keras.Input((5,)), lipnb.SpectralNormalization(keras.layers.Dense(4), name="a")])
    model = keras.Sequential([keras.Input((5,)), inner, lipnb.SpectralNormalization(keras.layers.Dense(3), name="b")])
    for layer in (inner.layers[0], model.layers[1]):
        layer.vector.assign(np.ones(layer.vector.shape, "float32"))  # a stale vector
        layer.layer.kernel.assign(np.random.default_rng(0).standard_normal(layer.layer.kernel.shape))
    sigmas = lipnb.warm_up(model)
    assert set(sigmas) == {"a", "b"}
    for layer in (inner.layers[0], model.layers[1]):
        w = keras.ops.convert_to_numpy(layer.layer.kernel).astype(np.float64)
        assert sigmas[layer.name] == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-5)
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(1.0, abs=1e-5)
    assert lipnb.warm_up(model, only_unwarmed=True) == {}


def small_classifier(seed):
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh",
                                                                   kernel_initializer=keras.initializers.GlorotUniform(seed)),
                             lipnb.SpectralNormalization(keras.layers.Dense(3, kernel_initializer=keras.initializers
                                                                            .GlorotUniform(seed + 1)))])


def classification_data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 1).astype("int32")


def test_fit_classifier_learns_and_repeats_exactly():
    x, y = classification_data()
    runs = []
    for _ in range(2):
        model = small_classifier(3)
        history = lipnb.fit_classifier(model, x, y, epochs=12, batch_size=32, seed=5,
                                       optimizer=keras.optimizers.Adam(3e-2))
        runs.append((history["loss"], [keras.ops.convert_to_numpy(v) for v in model.weights]))
    assert len(runs[0][0]) == 12 and runs[0][0][-1] < 0.7 * runs[0][0][0]
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    assert lipnb.accuracy(model, x, y) > 0.7


def test_fit_classifier_rejects_bad_input():
    x, y = classification_data()
    with pytest.raises(ValueError, match="epochs"):
        lipnb.fit_classifier(small_classifier(0), x, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        lipnb.fit_classifier(small_classifier(0), x, y, epochs=1, batch_size=1000)


def test_a_scanned_step_equals_the_same_step_called_in_a_loop():
    """compile_stateful(..., scan=True) runs many steps in one call, with the same numbers."""
    from lipnb import backend

    x, y = classification_data()
    order = np.random.default_rng(2).permutation(96)[:90].reshape(6, 15)

    def train(scan):
        model = small_classifier(7)
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        lipnb.warm_up(model)
        step = lipnb.models.classifier_step(model, optimizer)
        compiled = backend.compile_stateful(step, list(model.variables) + list(optimizer.variables), scan=scan)
        if scan:
            losses = keras.ops.convert_to_numpy(compiled((order,), x, y))
        else:
            losses = np.array([keras.ops.convert_to_numpy(compiled(idx, x, y)) for idx in order])
        return losses, [keras.ops.convert_to_numpy(v) for v in model.variables]

    (looped, looped_state), (scanned, scanned_state) = train(False), train(True)
    assert scanned.shape == (6,)
    np.testing.assert_allclose(scanned, looped, rtol=1e-5)
    for a, b in zip(scanned_state, looped_state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
