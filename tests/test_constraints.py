"""lipnb.constraints: weight clipping, the Frobenius ball and the spectral projection."""

import keras
import numpy as np
import pytest
from keras import ops

import lipnb

RNG = np.random.default_rng(1)


def test_constraints_project_after_the_step():
    w = ops.convert_to_tensor(RNG.standard_normal((10, 6)).astype("float32") * 3)
    assert float(ops.max(ops.abs(lipnb.WeightClip(0.1)(w)))) == pytest.approx(0.1)
    assert np.linalg.norm(ops.convert_to_numpy(lipnb.FrobeniusBall(2.0)(w))) == pytest.approx(2.0, rel=1e-5)
    proj = lipnb.SpectralProjection(1.0, power_iterations=50)
    assert np.linalg.svd(ops.convert_to_numpy(proj(w)), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3)
    small = w / 100
    # inside the ball: unchanged
    np.testing.assert_array_equal(ops.convert_to_numpy(proj(small)), ops.convert_to_numpy(small))
    layer = keras.layers.Dense(6, kernel_constraint=lipnb.SpectralProjection(0.5, power_iterations=20))
    model = keras.Sequential([keras.Input((10,)), layer])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    model.fit(RNG.standard_normal((32, 10)), 10 * RNG.standard_normal((32, 6)), epochs=3, verbose=0)
    assert np.linalg.svd(layer.kernel.numpy(), compute_uv=False)[0] <= 0.5 * 1.01
    for cls, arg in ((lipnb.WeightClip, 0), (lipnb.FrobeniusBall, -1), (lipnb.SpectralProjection, 0)):
        with pytest.raises(ValueError, match="> 0"):
            cls(arg)


def test_spectral_projection_divide_mode_holds_the_norm_exactly():
    small = np.diag([0.5, 0.2, 0.1]).astype("float32")
    clip = lipnb.SpectralProjection(1.0, power_iterations=50)
    divide = lipnb.SpectralProjection(1.0, power_iterations=50, mode="divide")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clip(keras.Variable(small))), small, rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(divide(keras.Variable(small))), small / 0.5, rtol=1e-5)
    big = np.random.default_rng(0).normal(size=(6, 4)).astype("float32") * 3
    for constraint in (clip, divide):
        out = keras.ops.convert_to_numpy(constraint(keras.Variable(big)))
        assert lipnb.spectral_norm(out) == pytest.approx(1.0, rel=1e-4)
    again = lipnb.SpectralProjection.from_config(divide.get_config())
    assert again.mode == "divide"
    with pytest.raises(ValueError, match="unknown mode"):
        lipnb.SpectralProjection(1.0, mode="scale")
