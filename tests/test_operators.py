"""lipnb.operators: the one operator core behind every norm (runs on TensorFlow and JAX)."""

import keras
import numpy as np
import pytest
from keras import ops

import lipnb
from lipnb.operators import (
    ConvOperator,
    MatrixOperator,
    NumpyView,
    PersistentVectors,
    ZeroPaddedConv,
    power_step,
    top_singular_pair,
)

RNG = np.random.default_rng(0)


def inner(a, b):
    return float(np.sum(np.asarray(ops.convert_to_numpy(a), np.float64) * np.asarray(ops.convert_to_numpy(b),
                                                                                      np.float64)))


@pytest.mark.parametrize("as_tensor", [False, True])
def test_matrix_operator_and_its_adjoint(as_tensor):
    m = RNG.standard_normal((5, 3))
    op = MatrixOperator(ops.convert_to_tensor(m, "float32") if as_tensor else m)
    x, y = RNG.standard_normal((1, 3)), RNG.standard_normal((1, 5))
    if as_tensor:
        x, y = ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(y, "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(op.forward(x)), ops.convert_to_numpy(x) @ m.T, rtol=1e-5)
    assert inner(op.forward(x), y) == pytest.approx(inner(x, op.adjoint(y)), rel=1e-5)
    assert op.T.in_shape == (1, 5) and op.T.T is op
    np.testing.assert_allclose(ops.convert_to_numpy(op.T.forward(y)), ops.convert_to_numpy(op.adjoint(y)))


CONV_LAYERS = [
    (lambda: keras.layers.Conv2D(3, 3, padding="same"), (1, 6, 6, 2)),
    (lambda: keras.layers.Conv2D(3, 3, strides=2, padding="valid"), (1, 7, 7, 2)),
    (lambda: keras.layers.Conv2D(3, 3, dilation_rate=2, padding="same"), (1, 8, 8, 2)),
    (lambda: keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same"), (1, 4, 4, 2)),
    (lambda: keras.layers.Conv1D(3, 5, strides=2, padding="same"), (1, 9, 2)),
]


@pytest.mark.parametrize("make_layer, in_shape", CONV_LAYERS)
def test_conv_operator_adjoint_is_the_transpose(make_layer, in_shape):
    layer = make_layer()
    layer.build(in_shape)
    op = ConvOperator.of_layer(layer, layer.kernel, in_shape)
    x = ops.convert_to_tensor(RNG.standard_normal(in_shape), "float32")
    y = ops.convert_to_tensor(RNG.standard_normal(op.out_shape), "float32")
    assert tuple(op.forward(x).shape) == op.out_shape
    assert tuple(op.adjoint(y).shape) == op.in_shape
    assert inner(op.forward(x), y) == pytest.approx(inner(x, op.adjoint(y)), rel=1e-4)
    # The forward map is the layer's own (without bias).
    layer.bias.assign(np.zeros(layer.bias.shape, "float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(op.forward(x)), ops.convert_to_numpy(layer(x)), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "same"), (1, "valid"), (2, "valid")])
def test_the_float64_reference_and_the_layer_operator_agree(strides, padding):
    """The two convolutions in the core (numpy float64 for norms, backend ops for training)."""
    k = RNG.standard_normal((3, 3, 2, 4))
    in_shape = (1, 7, 7, 2)
    reference = ZeroPaddedConv(k, (7, 7), (strides, strides), padding)
    layer = keras.layers.Conv2D(4, 3, strides=strides, padding=padding, use_bias=False)
    layer.build(in_shape)
    view = NumpyView(ConvOperator.of_layer(layer, ops.convert_to_tensor(k, "float32"), in_shape), "float32")
    assert view.out_shape == reference.out_shape
    x, y = RNG.standard_normal(in_shape), RNG.standard_normal(reference.out_shape)
    np.testing.assert_allclose(view.forward(x), reference.forward(x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(view.adjoint(y), reference.adjoint(y), rtol=1e-4, atol=1e-4)


def test_power_step_is_the_same_on_numpy_and_on_tensors_and_converges():
    m = RNG.standard_normal((6, 4))
    sigma = np.linalg.svd(m, compute_uv=False)[0]
    x = RNG.standard_normal((1, 4))
    xt = ops.convert_to_tensor(x, "float32")
    for _ in range(60):
        x, _, growth = power_step(MatrixOperator(m), x)
        xt, _, growth_t = power_step(MatrixOperator(ops.convert_to_tensor(m, "float32")), xt)
    assert float(growth) == pytest.approx(sigma, rel=1e-9)
    assert float(growth_t) == pytest.approx(sigma, rel=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(xt), x, atol=1e-4)


def test_top_singular_pair_matches_svd_and_gives_zero_for_a_zero_map():
    m = RNG.standard_normal((9, 7))
    _, s, vt = np.linalg.svd(m)
    for method in ("lanczos", "power"):
        sigma, v = top_singular_pair(MatrixOperator(m), np.ones((1, 7)), method=method)
        assert sigma == pytest.approx(s[0], rel=1e-8)
        assert abs(float(v.ravel() @ vt[0])) == pytest.approx(1.0, abs=1e-6)
    k = RNG.standard_normal((3, 3, 2, 2))
    conv = ZeroPaddedConv(k, (6, 6), (1, 1), "same")
    dense = lipnb.conv_operator_matrix(k, (6, 6), padding="same")
    assert top_singular_pair(conv, np.ones(conv.in_shape))[0] == pytest.approx(np.linalg.svd(dense)[1][0], rel=1e-8)
    for method in ("lanczos", "power"):
        assert top_singular_pair(MatrixOperator(np.zeros((4, 3))), np.ones((1, 3)), method=method)[0] == 0.0
        assert top_singular_pair(ZeroPaddedConv(np.zeros((3, 3, 1, 1)), (5, 5), (1, 1), "same"),
                                 np.ones((1, 5, 5, 1)), method=method)[0] == 0.0
    # A map from or to one dimension (ARPACK cannot take it) is exact after one step.
    assert top_singular_pair(MatrixOperator(np.array([[3.0], [4.0]])), np.ones((1, 1)))[0] == pytest.approx(5.0)


def test_power_method_that_misses_its_tolerance_says_so():
    m = np.diag([1.0, 0.999, 0.5])  # a gap of 0.1%: far too slow for 5 iterations
    with pytest.warns(RuntimeWarning, match="before reaching tol"):
        top_singular_pair(MatrixOperator(m), np.ones((1, 3)), method="power", max_iterations=5)


def test_the_layer_the_regularizer_and_power_iteration_run_the_same_step():
    """One training call of the SN layer, one regularizer evaluation and one step of
    lipnb.power_iteration all equal power_step: notebook 04's checks test the layer's code."""
    w = RNG.standard_normal((5, 3)).astype("float32")
    v0 = RNG.standard_normal((1, 3)).astype("float32")
    v0 /= np.linalg.norm(v0)
    expected = power_step(MatrixOperator(w.astype(np.float64)), v0.astype(np.float64))[0]

    sn = lipnb.SpectralNormalization(keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(w)))
    sn.build((None, 5))
    sn.vector.assign(v0)
    sn(np.ones((2, 5), "float32"), training=True)
    np.testing.assert_allclose(ops.convert_to_numpy(sn.vector.value), expected, atol=1e-5)

    store = PersistentVectors(seed=0)  # the regularizer's and the projection's vectors
    variable = keras.Variable(w)
    store._store(variable.path, 3).assign(v0)
    _, _, right = store.iterate(variable, 1)
    np.testing.assert_allclose(ops.convert_to_numpy(right), expected, atol=1e-5)

    # power_iteration starts on the rows: its u after one step is the step on W^T.
    u0 = RNG.standard_normal(5)
    result = lipnb.power_iteration(w.astype(np.float64), iterations=1, u0=u0)
    u_expected = power_step(MatrixOperator(w.astype(np.float64)).T, (u0 / np.linalg.norm(u0))[None])[0]
    np.testing.assert_allclose(result.u, u_expected.ravel(), rtol=1e-12)


def stored_vectors_follow(store, variables):
    """Every variable has a stored vector, close to its kernel's top right singular vector."""
    for variable in variables:
        w = ops.convert_to_numpy(variable.value).astype(np.float64).reshape(-1, variable.shape[-1])
        top = np.linalg.svd(w)[2][0]
        v = ops.convert_to_numpy(store._vectors[variable.path].value).ravel()
        assert abs(top @ v) / np.linalg.norm(v) > 0.95


def test_compiled_training_carries_the_regularizer_vectors():
    """fit_classifier's compiled loop (a traced scan on JAX) iterates the SN regularizer's
    stored vectors from step to step, as eager training does, instead of falling back to
    exact norms: the vectors exist afterwards and track the trained kernels."""
    regularizer = lipnb.SpectralNormRegularizer(1e-2)
    model = lipnb.digits_mlp(hidden=(16,), input_dim=6, classes=3, kernel_regularizer=regularizer, seed=0)
    x = RNG.standard_normal((96, 6)).astype("float32")
    lipnb.fit_classifier(model, x, (x[:, 0] > 0).astype("int32"), epochs=20, batch_size=32, seed=0)
    kernels = [layer.kernel for layer in model.layers]
    assert len(regularizer._vectors._vectors) == len(kernels)
    stored_vectors_follow(regularizer._vectors, kernels)


def test_compiled_wgan_steps_carry_the_projection_vectors():
    """Likewise the spectral projection of the "constraint" regime inside train_wgan."""
    x, _ = lipnb.eight_gaussians(512, np.random.default_rng(0))
    gan, _ = lipnb.train_wgan(x, "constraint", 30, lambda g: {}, hidden=(8, 8), batch_size=32, eval_every=30,
                              learning_rate=1e-3)
    kernels = [layer.kernel for layer in gan.critic.layers if hasattr(layer, "kernel")]
    assert len(kernels) == 3
    for kernel in kernels:
        stored_vectors_follow(kernel.constraint._vectors, [kernel])


@pytest.mark.parametrize("method", ["lanczos", "power"])
@pytest.mark.parametrize("m, start", [
    (np.array([[1.0, -1.0], [2.0, -2.0], [0.0, 0.0]]), np.array([1.0, 1.0])),  # fewer inputs than outputs
    (np.array([[1.0, -1.0, 0.0], [2.0, -2.0, 0.0]]), np.array([1.0, 1.0, 3.0])),  # more: ARPACK starts on the image
])
def test_top_singular_pair_restarts_from_a_start_in_the_null_space(method, m, start):
    top = np.array([1.0, -1.0] + [0.0] * (m.shape[1] - 2)) / np.sqrt(2.0)  # the top right singular vector
    sigma, v = top_singular_pair(MatrixOperator(m), start, method=method)
    assert sigma == pytest.approx(np.linalg.norm(m, 2), rel=1e-9)
    assert abs(float(np.ravel(v) @ top)) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="null space"):
        top_singular_pair(MatrixOperator(m), start, method=method, restart=False)
    sigma, v = top_singular_pair(MatrixOperator(np.zeros_like(m)), start, method=method)
    assert sigma == 0.0 and np.allclose(np.ravel(v), start / np.linalg.norm(start))  # a zero map keeps the start
