"""lipnb.models: warm_up."""

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
