"""Spectral-norm regularizer, gradient penalty, constraints, conv operator norms, model bounds."""

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


@pytest.mark.parametrize("kshape, spatial", [((3, 3, 2, 4), (6, 6)), ((1, 1, 3, 3), (4, 5)),
                                             ((5, 5, 1, 2), (8, 8)), ((3, 2, 4), (10,))])
def test_fft_norm_matches_dense_operator_svd(kshape, spatial):
    k = RNG.standard_normal(kshape)
    exact = np.linalg.svd(lipnb.conv_operator_matrix(k, spatial, padding="circular"), compute_uv=False)[0]
    assert lipnb.conv_operator_norm(k, spatial) == pytest.approx(exact, rel=1e-10)
    reshaped = lipnb.spectral_norm(k)
    # Both sides may be equal (a 1x1 kernel): the round-off tolerance goes on the larger side.
    assert reshaped <= exact * (1 + 1e-9) and exact <= np.sqrt(np.prod(kshape[:-2])) * reshaped * (1 + 1e-9)


@pytest.mark.parametrize("strides, padding", [(1, "same"), (1, "valid"), (2, "same"), (2, "valid")])
def test_power_norm_matches_dense_operator_svd(strides, padding):
    k = RNG.standard_normal((3, 3, 2, 3))
    dense = lipnb.conv_operator_matrix(k, (7, 7), strides=strides, padding=padding)
    exact = np.linalg.svd(dense, compute_uv=False)[0]
    assert lipnb.conv_operator_norm(k, (7, 7), strides=strides, padding=padding) == pytest.approx(exact, rel=1e-5)
    assert lipnb.conv_operator_norm_bound(k, (7, 7), strides=strides, padding=padding) >= exact * (1 - 1e-12)


def test_constant_kernel_reaches_sqrt_khkw():
    k = np.ones((3, 3, 1, 1))
    assert lipnb.conv_operator_norm(k, (8, 8)) / lipnb.spectral_norm(k) == pytest.approx(3.0)


def test_conv_norm_bad_inputs():
    with pytest.raises(ValueError, match="rank 3"):
        lipnb.conv_operator_norm(np.ones((3, 3)), (4, 4))
    with pytest.raises(ValueError, match="stride 1"):
        lipnb.conv_operator_norm(np.ones((3, 3, 1, 1)), (4, 4), strides=2)
    with pytest.raises(ValueError, match="padding"):
        lipnb.conv_operator_norm(np.ones((3, 3, 1, 1)), (4, 4), padding="reflect")
    with pytest.raises(ValueError, match="non-finite"):
        lipnb.conv_operator_norm(np.full((3, 3, 1, 1), np.nan), (4, 4))
    with pytest.raises(ValueError, match="channels"):
        lipnb.conv_operator_norm(np.ones((3, 3, 2, 1)), (4, 4, 3))
    with pytest.raises(ValueError, match="larger than the input"):
        lipnb.conv_operator_norm(np.ones((5, 5, 1, 1)), (3, 3))


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


def test_zero_kernels_have_norm_zero():
    # ARPACK cannot start from the zero vector a zero kernel maps everything to.
    assert lipnb.conv_operator_norm(np.zeros((3, 3, 2, 2)), (8, 8), padding="same") == 0.0
    assert lipnb.conv_operator_norm(np.zeros((3, 3, 2, 2)), (8, 8), padding="valid", method="power") == 0.0
    model = keras.Sequential([keras.Input((8, 8, 2)),
                              keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros")])
    assert lipnb.lipschitz_upper_bound(model) == 0.0


def test_valid_convolution_on_an_input_smaller_than_the_kernel_is_named():
    with pytest.raises(ValueError, match="has no output on an input of size"):
        lipnb.conv_operator_norm(np.ones((3, 3, 1, 1)), (2, 2), padding="valid")
