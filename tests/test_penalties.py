"""lipnb.penalties: the gradient penalty and the spectral-norm regularizer."""

import keras
import numpy as np
import pytest
from keras import ops

import lipnb

RNG = np.random.default_rng(1)


def linear_critic(a):
    critic = keras.Sequential([keras.Input((len(a),)), keras.layers.Dense(1, use_bias=False)])
    critic.layers[0].set_weights([np.asarray(a, "float32").reshape(-1, 1)])
    return critic


@pytest.mark.parametrize("scale", [0.3, 2.5])
def test_gradient_penalty_on_a_linear_critic(scale):
    a = RNG.standard_normal(5)
    a *= scale / np.linalg.norm(a)
    critic = linear_critic(a)
    real, fake = RNG.standard_normal((2, 16, 5)).astype("float32")
    two, norms = lipnb.gradient_penalty(critic, real, fake, return_norms=True)
    one = lipnb.gradient_penalty(critic, real, fake, one_sided=True)
    assert float(two) == pytest.approx((scale - 1) ** 2, rel=1e-5)
    assert float(one) == pytest.approx(max(scale - 1, 0) ** 2, rel=1e-5, abs=1e-12)
    np.testing.assert_allclose(ops.convert_to_numpy(norms), scale, rtol=1e-5)


def test_gradient_penalty_images_conditional_and_differentiable():
    images = keras.Input((6, 6, 1))
    labels = keras.Input((3,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(images), labels])
    critic = keras.Model([images, labels], keras.layers.Dense(1)(keras.layers.Dense(8, activation="tanh")(h)))
    real, fake = RNG.standard_normal((2, 4, 6, 6, 1)).astype("float32")
    y = ops.convert_to_tensor(np.eye(3, dtype="float32")[RNG.integers(0, 3, 4)])
    (gp, norms), grads = lipnb.backend.value_and_grad(
        lambda: lipnb.gradient_penalty(critic, real, fake, extra_inputs=[y], return_norms=True, seed=3),
        critic.trainable_variables)
    assert norms.shape == (4,) and all(g is not None for g in grads[:2])  # double backprop reaches weights
    eps = np.full(4, 0.25, "float32")
    x_hat = ops.convert_to_tensor(0.25 * real + 0.75 * fake)
    _, grad = lipnb.backend.input_gradient(lambda x: critic([x, y]), x_hat)
    ref = np.linalg.norm(ops.convert_to_numpy(grad).reshape(4, -1), axis=1)
    _, norms = lipnb.gradient_penalty(critic, real, fake, extra_inputs=[y], epsilon=eps, return_norms=True)
    np.testing.assert_allclose(ops.convert_to_numpy(norms), ref, rtol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        lipnb.gradient_penalty(critic, real, fake[:2], extra_inputs=[y])


def test_spectral_norm_regularizer_tracks_sigma_and_round_trips():
    reg = lipnb.SpectralNormRegularizer(0.5)
    w = keras.Variable(RNG.standard_normal((20, 8)).astype("float32"))
    for _ in range(60):
        value = reg(w)
    assert float(value) == pytest.approx(0.5 * np.linalg.svd(w.numpy(), compute_uv=False)[0] ** 2, rel=1e-4)
    _, (grad,) = lipnb.backend.value_and_grad(lambda: (reg(w), None), [w])
    u, s, vt = np.linalg.svd(w.numpy())
    np.testing.assert_allclose(ops.convert_to_numpy(grad), 0.5 * 2 * s[0] * np.outer(u[:, 0], vt[0]),
                               rtol=1e-3, atol=1e-4)
    clone = lipnb.SpectralNormRegularizer.from_config(reg.get_config())
    assert clone.l == 0.5 and clone.power_iterations == 1
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_regularizer=reg)])
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 3)), epochs=2, verbose=0)  # works inside fit's graph
    with pytest.raises(ValueError, match="l must"):
        lipnb.SpectralNormRegularizer(-1.0)
    with pytest.raises(ValueError, match="power_iterations"):
        lipnb.SpectralNormRegularizer(0.1, power_iterations=0)


def test_gradient_penalty_names_empty_batches_and_misshapen_weights():
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    real = np.ones((4, 2), "float32")
    with pytest.raises(ValueError, match="empty"):
        lipnb.gradient_penalty(critic, real[:0], real[:0])
    for epsilon in (np.full(3, 0.5, "float32"), np.full((4, 2), 0.5, "float32")):
        with pytest.raises(ValueError, match="epsilon must be one weight per example"):
            lipnb.gradient_penalty(critic, real, 0 * real, epsilon=epsilon)
    one = lipnb.gradient_penalty(critic, real, 0 * real, epsilon=np.full(4, 0.5, "float32"))
    for epsilon in (np.full((4, 1), 0.5, "float32"), np.float32(0.5), np.full(1, 0.5, "float32")):
        assert float(lipnb.gradient_penalty(critic, real, 0 * real, epsilon=epsilon)) == pytest.approx(float(one))
    for epsilon in (np.full(4, 0.5, "float32"),):
        assert np.isfinite(float(lipnb.gradient_penalty(critic, real, 0 * real, epsilon=epsilon)))
