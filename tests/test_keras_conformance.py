"""lipnb's layers under Keras's own layer-conformance harness, and the deferred-build path.

``keras.src.testing.TestCase.run_layer_test`` is what Keras runs on its own layers: build,
symbolic and eager calls, weight counts, serialization, a compiled training step and a
mixed-precision check. It is a private module, so it is used here only, and only on the
Keras version pinned in constraints.txt: a Keras upgrade fails the first test below until
someone has checked that the harness still means the same thing.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

import lipnb

ROOT = Path(__file__).resolve().parent.parent


def _pinned(package):
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def test_harness_is_used_on_the_pinned_keras_only():
    assert keras.__version__ == _pinned("keras"), (
        "keras.src.testing is private: re-check tests/test_keras_conformance.py against "
        f"Keras {keras.__version__}, then update the pin")


@pytest.fixture
def harness():
    from keras.src import testing

    case = testing.TestCase(methodName="run_layer_test")
    case.setUp()
    yield case
    case.doCleanups()


RNG = np.random.default_rng(0)

# (id, wrapped layer factory, input data, expected output shape, trainable weights,
#  operator mode allowed)
WRAPPED = [
    ("dense", lambda: keras.layers.Dense(2), RNG.uniform(size=(10, 3, 4)), (10, 3, 2), 2, False),
    ("conv1d", lambda: keras.layers.Conv1D(3, 3, padding="same"), RNG.normal(size=(4, 9, 2)), (4, 9, 3), 2, True),
    ("conv2d-same", lambda: keras.layers.Conv2D(3, 3, padding="same"), RNG.normal(size=(4, 6, 6, 2)),
     (4, 6, 6, 3), 2, True),
    ("conv2d-valid", lambda: keras.layers.Conv2D(3, 3, padding="valid"), RNG.normal(size=(4, 6, 6, 2)),
     (4, 4, 4, 3), 2, True),
    ("conv2d-strided", lambda: keras.layers.Conv2D(3, 3, strides=2, padding="same"),
     RNG.normal(size=(4, 7, 7, 2)), (4, 4, 4, 3), 2, True),
    ("conv2d-transpose", lambda: keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
     RNG.normal(size=(4, 4, 4, 2)), (4, 8, 8, 3), 2, True),
    ("embedding", lambda: keras.layers.Embedding(10, 4), RNG.integers(0, 10, size=(10,)), (10, 4), 1, False),
]
CASES = [pytest.param(make, x, shape, n_trainable, mode, id=f"{name}-{mode}")
         for name, make, x, shape, n_trainable, operator_ok in WRAPPED
         for mode in (("matrix", "operator") if operator_ok else ("matrix",))]


@pytest.mark.parametrize("make_layer, x, output_shape, n_trainable, mode", CASES)
def test_spectral_normalization_passes_the_keras_layer_harness(harness, make_layer, x, output_shape,
                                                              n_trainable, mode):
    is_embedding = x.dtype.kind == "i"
    harness.run_layer_test(
        lipnb.SpectralNormalization,
        init_kwargs={"layer": make_layer(), "mode": mode},
        input_data=x.astype("int32" if is_embedding else "float32"),
        expected_output_shape=output_shape,
        expected_num_trainable_weights=n_trainable,
        expected_num_non_trainable_weights=1,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=False,
        # Keras skips training for its own Embedding case: the harness's loss is sum(y),
        # whose gradient w.r.t. an embedding table has no useful direction, but a step
        # is still well defined, so run it.
        run_training_check=True,
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("make_layer, x, output_shape, n_trainable, mode", CASES)
def test_dtype_policy_sets_variables_and_output(make_layer, x, output_shape, n_trainable, mode, dtype):
    is_embedding = x.dtype.kind == "i"
    layer = lipnb.SpectralNormalization(make_layer(), mode=mode, dtype=dtype)
    y = layer(x.astype("int32" if is_embedding else "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    assert layer.layer.dtype_policy.name == dtype
    for weight in layer.layer.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == dtype
    # the power vector is bookkeeping for sigma, kept in float32 whatever the policy
    assert keras.backend.standardize_dtype(layer.vector.dtype) == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))))


def test_float16_policy_matches_the_float32_layer():
    x = RNG.uniform(size=(5, 4)).astype("float32")
    ref = lipnb.SpectralNormalization(keras.layers.Dense(3))
    half = lipnb.SpectralNormalization(keras.layers.Dense(3), dtype="float16")
    ref(x), half(x)
    half.set_weights([w.astype("float16") for w in ref.get_weights()])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(half(x)).astype("float32"),
                               keras.ops.convert_to_numpy(ref(x)), rtol=1e-2, atol=1e-2)


def test_wrapper_without_dtype_keeps_the_wrapped_layers_policy():
    inner = keras.layers.Dense(2, dtype="mixed_float16")
    layer = lipnb.SpectralNormalization(inner)
    assert layer.dtype_policy.name == "mixed_float16"
    y = layer(np.ones((2, 3), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert keras.backend.standardize_dtype(inner.kernel.dtype) == "float32"


# --------------------------------------------------------------- deferred build
@pytest.mark.parametrize("make_layer, x, output_shape, n_trainable, mode", CASES)
@pytest.mark.parametrize("first", ["fit", "predict"])
def test_model_without_input_layer_builds_on_first_use(make_layer, x, output_shape, n_trainable, mode,
                                                      first):
    is_embedding = x.dtype.kind == "i"
    x = x.astype("int32" if is_embedding else "float32")
    model = keras.Sequential([lipnb.SpectralNormalization(make_layer(), mode=mode)])
    model.compile("rmsprop", loss="mse")
    y = np.zeros(output_shape, "float32")
    if first == "fit":
        model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    else:
        model.predict(x, batch_size=len(x), verbose=0)
        model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    sn = model.layers[0]
    # after first use the stored vector is a warmed-up unit vector, not the raw init,
    # and inference computes with W / sigma (sigma of the normalized weight is 1)
    vector = keras.ops.convert_to_numpy(sn.vector)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    if mode == "matrix":
        w = keras.ops.convert_to_numpy(sn.normalized_weight())
        sigma = np.linalg.svd(w.reshape(-1, w.shape[-1]).astype(np.float64), compute_uv=False)[0]
        # one rmsprop step moved W after the warm-up; the stored vector lags by one step
        assert sigma == pytest.approx(1.0, abs=0.05)
    out = model.predict(x, batch_size=len(x), verbose=0)
    assert out.shape == output_shape and np.all(np.isfinite(out))


def test_deferred_build_warms_up_before_the_first_output():
    """A model built without Input predicts with W / sigma(W) from its very first call."""
    x = RNG.normal(size=(6, 5)).astype("float32")
    model = keras.Sequential([lipnb.SpectralNormalization(keras.layers.Dense(4, use_bias=False))])
    out = model.predict(x, verbose=0)
    w = keras.ops.convert_to_numpy(model.layers[0].layer.kernel).astype(np.float64)
    expected = x @ (w / np.linalg.svd(w, compute_uv=False)[0])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_build_inside_a_stateless_scope_warms_up_at_the_first_call():
    """Variables created in a StatelessScope have no value until it exits; the warm-up waits."""
    x = RNG.normal(size=(3, 5)).astype("float32")
    sn = lipnb.SpectralNormalization(keras.layers.Dense(4, use_bias=False))
    with keras.StatelessScope():
        sn.build(x.shape)
    assert not sn._warmed_up
    out = keras.ops.convert_to_numpy(sn(x, training=False))
    assert sn._warmed_up
    w = keras.ops.convert_to_numpy(sn.layer.kernel).astype(np.float64)
    np.testing.assert_allclose(out, x @ (w / np.linalg.svd(w, compute_uv=False)[0]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["in_stateless_scope", "get_stateless_scope", "no_autocast",
                                  "outside_traced_function", "producer", "swapped_attribute", "stored_weight",
                                  "set_untracked"])
def test_private_keras_apis_still_behave(name):
    """lipnb._keras_compat wraps private Keras APIs; fail here, not silently, if they change."""
    from lipnb import _keras_compat

    if name == "in_stateless_scope":
        assert not _keras_compat.in_stateless_scope()
        with keras.StatelessScope():
            assert _keras_compat.in_stateless_scope()
    elif name == "get_stateless_scope":
        # lipnb.backend reads and extends the active scope's state_mapping (id -> value)
        v = keras.Variable(np.ones(2, "float32"))
        assert _keras_compat.get_stateless_scope() is None
        with keras.StatelessScope(state_mapping=[(v, np.zeros(2, "float32"))]) as scope:
            assert _keras_compat.get_stateless_scope() is scope
            assert id(v) in scope.state_mapping
            v.assign(np.full(2, 5.0, "float32"))
            np.testing.assert_allclose(keras.ops.convert_to_numpy(scope.get_current_value(v)), [5.0, 5.0])
        np.testing.assert_allclose(v.numpy(), [1.0, 1.0])
    elif name == "no_autocast":
        v = keras.Variable(np.ones(2, "float32"))
        from keras.src.backend.common.variables import AutocastScope
        with AutocastScope("float16"):
            assert keras.backend.standardize_dtype(keras.ops.convert_to_tensor(v).dtype) == "float16"
            with _keras_compat.no_autocast():
                assert keras.backend.standardize_dtype(keras.ops.convert_to_tensor(v).dtype) == "float32"
    elif name == "producer":
        x = keras.Input((3,))
        hidden = keras.layers.Dense(4, name="first")(x)
        y = keras.layers.Add(name="sum")([hidden, hidden])
        layer, parents = _keras_compat.producer(y)
        assert layer.name == "sum" and [p is hidden for p in parents] == [True, True]
        layer, parents = _keras_compat.producer(hidden)
        assert layer.name == "first" and parents[0] is x
    elif name == "swapped_attribute":
        dense = keras.layers.Dense(2, use_bias=False)
        dense.build((None, 3))
        kernel, weights = dense.__dict__["_kernel"], len(dense.weights)
        doubled = keras.ops.convert_to_tensor(kernel) * 2.0
        x = np.ones((1, 3), "float32")
        with _keras_compat.swapped_attribute(dense, "_kernel", doubled):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(dense.call(x)),
                                       2.0 * keras.ops.convert_to_numpy(x @ kernel.value), rtol=1e-6)
        assert dense.__dict__["_kernel"] is kernel and len(dense.weights) == weights  # restored, nothing tracked
    elif name == "stored_weight":
        # every layer type SpectralNormalization wraps keeps its weight where lipnb looks
        for layer, shape, weight in ((keras.layers.Dense(2), (None, 3), "kernel"),
                                     (keras.layers.Conv2D(2, 3), (None, 5, 5, 1), "kernel"),
                                     (keras.layers.Conv1DTranspose(2, 3), (None, 5, 1), "kernel"),
                                     (keras.layers.Embedding(4, 2), (None, 3), "embeddings")):
            layer.build(shape)
            found = _keras_compat.stored_weight(layer)
            assert found is not None and found[1] is getattr(layer, weight), type(layer).__name__
        assert _keras_compat.stored_weight(keras.layers.ReLU()) is None
    elif name == "set_untracked":
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        before = len(model.variables)
        _keras_compat.set_untracked(model, "_lipnb_cache", keras.Variable(np.ones(2, "float32")))
        assert model._lipnb_cache is not None and len(model.variables) == before  # not tracked as a weight
    else:
        import tensorflow as tf

        created = []

        @tf.function
        def make():
            if not created:  # a layer builds once, on the first trace
                with _keras_compat.outside_traced_function():
                    created.append(keras.Variable(np.full(2, 3.0, "float32")))
                    created.append(float(keras.ops.sum(created[0])))  # readable at once
            return created[0].value + created[1]

        np.testing.assert_allclose(make().numpy(), [9.0, 9.0])


JAX_TRAINER_STATE = """
import keras, numpy as np
from lipnb import _keras_compat
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(keras.optimizers.SGD(0.1), "mse")
model.optimizer.build(model.trainable_variables)
model.make_train_function()
state = _keras_compat.jax_trainer_state(model)
assert len(state) == 4, len(state)
x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
before = model.layers[0].kernel.numpy().copy()
_, state = model.train_function(state, iter([(x, y)]))
_keras_compat.set_jax_trainer_state(model, state)
assert not np.allclose(model.layers[0].kernel.numpy(), before), "the step's update did not reach the model"
print("ok")
"""


def test_private_jax_trainer_state_still_behaves():
    """lipnb.gan.time_train_steps drives a JAX model's compiled step with Keras's private
    state accessors (in _keras_compat): fail here if a Keras release changes them."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", JAX_TRAINER_STATE], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


# ------------------------------------------------------------- GroupSort / MaxMin
@pytest.mark.parametrize("layer_cls, kwargs, shape", [
    (lipnb.GroupSort, {"group_size": 2}, (6, 8)),
    (lipnb.GroupSort, {"group_size": 4}, (3, 5, 8)),
    (lipnb.GroupSort, {"group_size": 2, "axis": 1}, (3, 4, 5)),
    (lipnb.MaxMin, {}, (6, 8)),
    (lipnb.MaxMin, {"axis": -1}, (2, 4, 4, 6)),
], ids=["groupsort2", "groupsort4-3d", "groupsort-axis1", "maxmin", "maxmin-4d"])
def test_groupsort_layers_pass_the_keras_layer_harness(harness, layer_cls, kwargs, shape):
    harness.run_layer_test(
        layer_cls, init_kwargs=kwargs, input_data=RNG.normal(size=shape).astype("float32"),
        expected_output_shape=shape, expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0, expected_num_losses=0, supports_masking=False,
        # the harness's loss is sum(y), which a permutation leaves constant: no weights to train
        run_training_check=False)


@pytest.mark.parametrize("layer", [lipnb.GroupSort(2), lipnb.GroupSort(4), lipnb.MaxMin()],
                         ids=["groupsort2", "groupsort4", "maxmin"])
def test_groupsort_layers_preserve_gradient_norm(layer):
    """Each is a permutation per input: every vector-Jacobian product keeps its norm; relu does not."""
    import tensorflow as tf

    x = tf.constant(RNG.normal(size=(16, 12)).astype("float32"))
    upstream = tf.constant(RNG.normal(size=(16, 12)).astype("float32"))
    for activation, preserves in ((layer, True), (keras.layers.ReLU(), False)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = activation(x)
        g = tape.gradient(y, x, output_gradients=upstream).numpy()
        ratio = np.linalg.norm(g, axis=1) / np.linalg.norm(upstream.numpy(), axis=1)
        if preserves:
            np.testing.assert_allclose(ratio, 1.0, rtol=1e-6)
            # and the output is a permutation of the input, row by row
            np.testing.assert_allclose(np.sort(keras.ops.convert_to_numpy(y), 1), np.sort(x.numpy(), 1))
        else:
            assert ratio.max() < 1.0


def test_groupsort_values_and_a_1_lipschitz_network():
    x = np.array([[3.0, 1.0, -1.0, 2.0]], "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(lipnb.GroupSort(2)(x)), [[1.0, 3.0, -1.0, 2.0]])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(lipnb.GroupSort(4)(x)), [[-1.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(lipnb.MaxMin()(x)), [[3.0, 2.0, -1.0, 1.0]])
    model = keras.Sequential([keras.Input((6,)), lipnb.SpectralNormalization(keras.layers.Dense(8)),
                              lipnb.MaxMin(), lipnb.SpectralNormalization(keras.layers.Dense(8)),
                              lipnb.GroupSort(4), lipnb.SpectralNormalization(keras.layers.Dense(1))])
    assert lipnb.lipschitz_upper_bound(model) == pytest.approx(1.0, abs=1e-5)


def test_groupsort_save_and_load(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6), lipnb.GroupSort(3), lipnb.MaxMin()])
    x = RNG.normal(size=(5, 4)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6)
    assert restored.layers[1].group_size == 3


@pytest.mark.parametrize("make, match", [
    (lambda: lipnb.GroupSort(1), "group_size must be >= 2"),
    (lambda: lipnb.GroupSort(2.5), "group_size"),
    (lambda: lipnb.GroupSort(2, axis="last"), "axis must be an integer"),
    (lambda: lipnb.GroupSort(3)(np.ones((2, 4), "float32")), "multiple of group_size 3"),
    (lambda: lipnb.MaxMin()(np.ones((2, 5), "float32")), "even"),
    (lambda: lipnb.MaxMin(axis=0)(np.ones((2, 4), "float32")), "not a feature axis"),
])
def test_groupsort_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
