"""lipnb.SpectralNormalization against exact computations, and its Keras behaviour."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

import lipnb

RNG = np.random.default_rng(0)


def exact_sigma(w):
    w = np.asarray(w, dtype=np.float64)
    return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


def test_first_inference_call_is_already_normalized():
    x = RNG.standard_normal((5, 7)).astype("float32")
    sn = lipnb.SpectralNormalization(keras.layers.Dense(4))
    y = ops.convert_to_numpy(sn(x, training=False))  # the very first call, in inference mode
    w, b = sn.layer.kernel.numpy(), sn.layer.bias.numpy()
    np.testing.assert_allclose(y, x @ (w / exact_sigma(w)) + b, rtol=1e-5, atol=1e-6)


def test_trainable_variable_is_the_raw_kernel_and_inference_changes_nothing():
    sn = lipnb.SpectralNormalization(keras.layers.Dense(3))
    x = RNG.standard_normal((4, 6)).astype("float32")
    sn(x)
    assert [v.path.split("/")[-1] for v in sn.trainable_variables] == ["kernel", "bias"]
    kernel, vector = sn.layer.kernel.numpy().copy(), sn.vector.numpy().copy()
    sn(x, training=False)
    sn(x)
    np.testing.assert_array_equal(sn.layer.kernel.numpy(), kernel)  # never overwritten
    np.testing.assert_array_equal(sn.vector.numpy(), vector)        # no iteration at inference
    sn.layer.kernel.assign(kernel + RNG.standard_normal(kernel.shape).astype("float32"))
    sn(x, training=True)
    assert not np.array_equal(sn.vector.numpy(), vector)             # iterates in training


def test_gradient_matches_autodiff_of_exact_normalization(x64):
    x = RNG.standard_normal((6, 5)).astype("float32")
    sn = lipnb.SpectralNormalization(keras.layers.Dense(4))
    sn(x)
    _, (grad,) = lipnb.backend.value_and_grad(
        lambda: (ops.sum(ops.sin(sn(x, training=False))), None), [sn.layer.kernel])
    grad = ops.convert_to_numpy(grad)
    w = sn.layer.kernel.numpy().astype(np.float64)
    b = ops.convert_to_tensor(sn.layer.bias.numpy().astype(np.float64))  # numpy + torch tensor: a TypeError

    def exact(w):
        sigma = ops.svd(w, compute_uv=False)[0]
        return ops.sum(ops.sin(ops.matmul(x.astype(np.float64), w / sigma) + b))

    with x64():  # the reference in float64 (JAX computes in it only with x64 on)
        _, ref = lipnb.backend.input_gradient(exact, ops.convert_to_tensor(w, "float64"))
        ref = ops.convert_to_numpy(ref)
    assert ref.dtype == np.float64
    np.testing.assert_allclose(grad, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make_layer, x", [
    (lambda: keras.layers.Conv1D(3, 3, padding="same"), RNG.standard_normal((2, 9, 4))),
    (lambda: keras.layers.Conv2D(5, 3, strides=2, padding="valid"), RNG.standard_normal((2, 9, 9, 3))),
    (lambda: keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same"), RNG.standard_normal((2, 5, 5, 3))),
    (lambda: keras.layers.Embedding(12, 5), RNG.integers(0, 12, (2, 4))),
    (lambda: keras.layers.Dense(3, activation="tanh"), RNG.standard_normal((2, 4, 6))),
], ids=["conv1d", "conv2d", "conv2d-transpose", "embedding", "dense-3d"])
def test_layer_types_compute_with_w_over_sigma(make_layer, x):
    x = x.astype("float32" if x.dtype.kind == "f" else "int32")
    sn = lipnb.SpectralNormalization(make_layer())
    y = ops.convert_to_numpy(sn(x))
    plain = make_layer()
    plain(x)
    weights = [w.numpy() for w in sn.layer.weights]
    weights[0] = weights[0] / exact_sigma(weights[0])
    plain.set_weights(weights)
    np.testing.assert_allclose(y, ops.convert_to_numpy(plain(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make_layer, shape, strides, padding", [
    (lambda: keras.layers.Conv2D(3, 3, padding="same"), (6, 6, 2), 1, "same"),
    (lambda: keras.layers.Conv2D(3, 3, strides=2, padding="valid"), (7, 7, 2), 2, "valid"),
])
def test_operator_mode_makes_the_convolution_1_lipschitz(make_layer, shape, strides, padding):
    sn = lipnb.SpectralNormalization(make_layer(), mode="operator")
    sn(np.zeros((1, *shape), "float32"))
    k = ops.convert_to_numpy(sn.normalized_weight())
    dense = lipnb.conv_operator_matrix(k, shape[:2], strides=strides, padding=padding)
    assert np.linalg.svd(dense, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-4)
    # the reshaped-kernel normalization is not 1-Lipschitz as an operator
    sm = lipnb.SpectralNormalization(make_layer())
    sm(np.zeros((1, *shape), "float32"))
    km = ops.convert_to_numpy(sm.normalized_weight())
    dense = lipnb.conv_operator_matrix(km, shape[:2], strides=strides, padding=padding)
    assert np.linalg.svd(dense, compute_uv=False)[0] > 1.05


def test_config_and_keras_file_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        lipnb.SpectralNormalization(keras.layers.Conv2D(4, 3, activation="relu"), power_iterations=2,
                                    mode="operator"),
        keras.layers.Flatten(),
        lipnb.SpectralNormalization(keras.layers.Dense(1)),
    ])
    x = RNG.standard_normal((3, 8, 8, 1)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, np.ones((3, 1)), epochs=2, verbose=0)
    model.save(tmp_path / "critic.keras")
    loaded = keras.models.load_model(tmp_path / "critic.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-6)
    layer = loaded.layers[0]
    assert isinstance(layer, lipnb.SpectralNormalization)
    assert (layer.power_iterations, layer.mode) == (2, "operator")
    np.testing.assert_array_equal(layer.vector.numpy(), model.layers[0].vector.numpy())
    clone = lipnb.SpectralNormalization.from_config(model.layers[2].get_config())
    assert clone.power_iterations == 1 and clone.mode == "matrix"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    x = RNG.standard_normal((4, 6)).astype("float32")
    keras.mixed_precision.set_global_policy(policy)
    try:
        sn = lipnb.SpectralNormalization(keras.layers.Dense(3))
        y = sn(x, training=True)
        assert keras.backend.standardize_dtype(y.dtype) == policy.split("_")[1]
        assert sn.vector.dtype == "float32" and sn.layer.kernel.dtype == "float32"
        w, b = sn.layer.kernel.numpy(), sn.layer.bias.numpy()
        _, (grad,) = lipnb.backend.value_and_grad(
            lambda: (ops.sum(ops.cast(sn(x, training=True), "float32")), None), [sn.layer.kernel])
        assert keras.backend.standardize_dtype(grad.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(y, "float32")), x @ (w / exact_sigma(w)) + b,
                               rtol=3e-2, atol=3e-2)


@pytest.mark.tensorflow_only  # tf.distribute.MirroredStrategy
def test_mirrored_strategy_keeps_replicas_consistent():
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, lipnb
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = keras.Sequential([keras.Input((6,)), lipnb.SpectralNormalization(keras.layers.Dense(8)),
                                      keras.layers.ReLU(), lipnb.SpectralNormalization(keras.layers.Dense(1))])
            model.compile(keras.optimizers.SGD(0.1), "mse")
        rng = np.random.default_rng(0)
        model.fit(rng.standard_normal((64, 6)), rng.standard_normal((64, 1)), batch_size=16, epochs=2, verbose=0)
        for layer in (model.layers[0], model.layers[2]):
            copies = [v.numpy() for v in strategy.experimental_local_results(layer.vector.value)]
            assert len(copies) == 2 and np.array_equal(copies[0], copies[1]), copies
            w = layer.layer.kernel.numpy()
            sigma_hat = np.linalg.norm(copies[0] @ w.T)
            exact = np.linalg.svd(w, compute_uv=False)[0]
            assert abs(sigma_hat / exact - 1) < 1e-2, (sigma_hat, exact)
        print("replicas consistent")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "replicas consistent" in out.stdout, out.stderr[-3000:]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="kernel or embeddings"):
        lipnb.SpectralNormalization(keras.layers.Flatten())(np.ones((2, 3), "float32"))
    for bad in (0, -1, 1.5, True, "fast"):
        with pytest.raises(ValueError, match="power_iterations"):
            lipnb.SpectralNormalization(keras.layers.Dense(2), power_iterations=bad)
    with pytest.raises(ValueError, match="tol"):
        lipnb.SpectralNormalization(keras.layers.Dense(2), power_iterations="auto", tol=0.0)
    with pytest.raises(ValueError, match="max_iterations"):
        lipnb.SpectralNormalization(keras.layers.Dense(2), power_iterations="auto", max_iterations=0)
    with pytest.raises(ValueError, match="mode"):
        lipnb.SpectralNormalization(keras.layers.Dense(2), mode="exact")
    with pytest.raises(ValueError, match="convolution"):
        lipnb.SpectralNormalization(keras.layers.Dense(2), mode="operator")
    with pytest.raises(ValueError, match="keras Layer"):
        lipnb.SpectralNormalization(np.eye(2))


@pytest.mark.parametrize("mode", ["matrix", "operator"])
def test_auto_iterations_converge_in_one_training_call(mode):
    """power_iterations="auto" iterates (in a graph loop) until sigma's estimate settles:
    from a random vector, one training call leaves the layer normalized to about tol, where
    one iteration leaves it far above 1; max_iterations=1 is one iteration."""
    if mode == "matrix":
        x = np.ones((2, 24), "float32")
        make = lambda **kw: lipnb.SpectralNormalization(keras.layers.Dense(  # noqa: E731
            16, kernel_initializer=keras.initializers.GlorotUniform(0)), **kw)
    else:
        x = np.ones((2, 6, 6, 2), "float32")
        make = lambda **kw: lipnb.SpectralNormalization(keras.layers.Conv2D(  # noqa: E731
            3, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(0)), mode="operator", **kw)
    sigmas, vectors, start = {}, {}, None
    for name, kwargs in (("one", {}), ("auto", dict(power_iterations="auto", tol=1e-6, max_iterations=200)),
                         ("capped", dict(power_iterations="auto", max_iterations=1))):
        layer = make(**kwargs)
        model = keras.Sequential([keras.Input(x.shape[1:]), layer])
        if start is None:
            start = np.random.default_rng(0).standard_normal(layer.vector.shape).astype("float32")
        layer.vector.assign(start)
        model(x, training=True)
        sigmas[name] = max(lipnb.normalized_layer_sigmas(model).values())
        vectors[name] = ops.convert_to_numpy(layer.vector.value * 1.0)
    assert sigmas["auto"] < 1 + 1e-3 < 1.01 < sigmas["one"]
    np.testing.assert_allclose(vectors["capped"], vectors["one"], atol=1e-6)
    config = make(power_iterations="auto", tol=1e-3, max_iterations=7).get_config()
    assert (config["power_iterations"], config["tol"], config["max_iterations"]) == ("auto", 1e-3, 7)


def test_operator_mode_names_the_convolutions_it_cannot_build():
    with pytest.raises(ValueError, match="causal"):
        lipnb.SpectralNormalization(keras.layers.Conv1D(2, 3, padding="causal"), mode="operator")
    dilated = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same")
    if keras.backend.backend() == "tensorflow":  # no dilated transposed convolution there
        with pytest.raises(ValueError, match="undilated"):
            lipnb.SpectralNormalization(dilated, mode="operator")
    else:
        layer = lipnb.SpectralNormalization(dilated, mode="operator")
        model = keras.Sequential([keras.Input((6, 6, 1)), layer])
        assert list(lipnb.normalized_layer_sigmas(model).values())[0] == pytest.approx(1.0, rel=1e-4)


def test_warm_up_refuses_a_kernel_with_nan():
    layer = lipnb.SpectralNormalization(keras.layers.Dense(3))
    layer.build((None, 4))
    layer.layer.kernel.assign(np.full((4, 3), np.nan, "float32"))
    with pytest.raises(ValueError, match="non-finite"):
        layer.warm_up()


def test_group_axis_accepts_numpy_integers():
    assert lipnb.GroupSort(2, axis=np.int64(-1)).get_config()["axis"] == -1
    assert lipnb.MaxMin(axis=np.int32(1)).get_config()["axis"] == 1
