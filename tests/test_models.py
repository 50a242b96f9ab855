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


def regularized_classifier(seed):
    init = keras.initializers.GlorotUniform
    return keras.Sequential([keras.Input((6,)),
                             keras.layers.Dense(8, activation="tanh", kernel_initializer=init(seed),
                                                kernel_regularizer=keras.regularizers.L2(1e-2)),
                             lipnb.SpectralNormalization(keras.layers.Dense(3, kernel_initializer=init(seed + 1)))])


def test_fit_classifiers_gives_each_model_what_fit_classifier_gives_it():
    """Own data and seeds, a regularizer, an SN layer (state the step writes) and an extra
    loss: side by side on JAX, each model must end where it would alone, up to the rounding
    of batched arithmetic; one by one elsewhere, exactly."""
    x, y = classification_data()
    data = [(x, y), (x[::-1].copy(), y[::-1].copy()), (-x, y)]
    extra = lambda model, xb, yb: 1e-3 * keras.ops.sum(keras.ops.square(model(xb, training=True)))  # noqa: E731
    optimizer = lambda: keras.optimizers.SGD(5e-2, momentum=0.9)  # noqa: E731
    together = [regularized_classifier(s) for s in (1, 2, 3)]
    histories = lipnb.fit_classifiers(together, data, epochs=4, batch_size=16, optimizer=optimizer, seeds=[7, 8, 9],
                                      extra_loss=extra, batched=keras.backend.backend() == "jax")
    for s, model, (xs, ys), seed, history in zip((1, 2, 3), together, data, (7, 8, 9), histories):
        alone = regularized_classifier(s)
        expected = lipnb.fit_classifier(alone, xs, ys, epochs=4, batch_size=16, optimizer=optimizer(), seed=seed,
                                        extra_loss=extra)
        np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-4)
        for a, b in zip(model.weights, alone.weights):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                       rtol=1e-4, atol=1e-5)


def test_fit_classifiers_trains_extra_losses_with_their_own_state_side_by_side():
    """One extra loss per model, each with its own random stream (a gradient penalty's
    interpolation weights, notebook 05), listed in `variables`: side by side on JAX each
    model must still draw from its own stream, as it does alone."""
    x, y = classification_data()

    def penalty(seed):
        draws = keras.random.SeedGenerator(seed)

        def extra(model, xb, yb):
            noise = keras.random.uniform(keras.ops.shape(xb), seed=draws)
            return 1e-2 * keras.ops.mean(keras.ops.square(model(xb * noise, training=True)))
        extra.variables = [draws.state]
        return extra

    seeds = (1, 2, 3)
    together = [regularized_classifier(s) for s in seeds]
    histories = lipnb.fit_classifiers(together, [(x, y)] * 3, epochs=3, batch_size=16, seeds=seeds,
                                      extra_loss=[penalty(10 + s) for s in seeds],
                                      batched=keras.backend.backend() == "jax")
    for s, model, history in zip(seeds, together, histories):
        alone = regularized_classifier(s)
        expected = lipnb.fit_classifier(alone, x, y, epochs=3, batch_size=16, seed=s, extra_loss=penalty(10 + s))
        np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-4)
        for a, b in zip(model.weights, alone.weights):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                       rtol=1e-4, atol=1e-5)
    # Side by side, a list of different functions or of state that does not match is an error.
    models = [regularized_classifier(s) for s in seeds[:2]]
    other = lambda model, xb, yb: 0.0  # noqa: E731
    other.variables = []
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="different functions"):
            lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, extra_loss=[penalty(1), other], batched=True)
        lopsided = penalty(2)
        lopsided.variables = []
        with pytest.raises(ValueError, match="match in number and shapes"):
            lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, extra_loss=[penalty(1), lopsided], batched=True)
        forgetful = [penalty(1), penalty(2)]
        for extra in forgetful:
            extra.variables = []
        with pytest.raises(ValueError, match="not in `variables`"):
            lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, extra_loss=forgetful, batched=True)


def test_fit_classifiers_rejects_bad_input():
    x, y = classification_data()
    models = [small_classifier(0), small_classifier(1)]
    with pytest.raises(ValueError, match="at least one model"):
        lipnb.fit_classifiers([], [], epochs=1)
    with pytest.raises(ValueError, match="one \\(x, y\\) per model"):
        lipnb.fit_classifiers(models, [(x, y)], epochs=1)
    with pytest.raises(ValueError, match="seeds"):
        lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, seeds=[0])
    with pytest.raises(ValueError, match="extra losses"):
        lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, extra_loss=[None])
    with pytest.raises(ValueError, match="one by one unless"):
        lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, extra_loss=[None, None], batched=True)
    with pytest.raises(ValueError, match="fresh optimizer"):
        lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, optimizer=keras.optimizers.Adam())
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="same shapes"):
            lipnb.fit_classifiers(models, [(x, y), (x[:50], y[:50])], epochs=1, batched=True)
        draws = keras.random.SeedGenerator(0)
        stateful = lambda model, xb, yb: keras.ops.sum(keras.random.uniform((1,), seed=draws))  # noqa: E731
        with pytest.raises(ValueError, match="not in `variables`"):
            lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, extra_loss=stateful, batched=True)
    else:
        with pytest.raises(ValueError, match="JAX backend"):
            lipnb.fit_classifiers(models, [(x, y)] * 2, epochs=1, batched=True)


def test_fit_classifier_rejects_bad_input():
    x, y = classification_data()
    with pytest.raises(ValueError, match="epochs"):
        lipnb.fit_classifier(small_classifier(0), x, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        lipnb.fit_classifier(small_classifier(0), x, y, epochs=1, batch_size=1000)


def small_conv_classifier(seed):
    init = keras.initializers.GlorotUniform
    return keras.Sequential([keras.Input((6, 6, 1)),
                             keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh",
                                                 kernel_initializer=init(seed)),
                             keras.layers.Flatten(),
                             lipnb.SpectralNormalization(keras.layers.Dense(3, kernel_initializer=init(seed + 1)))])


def image_data():
    x, y = classification_data()
    images = np.random.default_rng(3).standard_normal((96, 6, 6, 1)).astype("float32")
    images[:, :3, :3, 0] += x[:, :1, None]  # the label's evidence in one corner
    return images, y


def on_jax_cpu() -> bool:
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


def count_stepwise_loops(monkeypatch) -> list:
    """Record every loop that lipnb.backend turns into a Python loop over the compiled step."""
    from lipnb import backend

    made, original = [], backend._stepwise
    monkeypatch.setattr(backend, "_stepwise", lambda *a, **k: made.append(k.get("step_axis", 0)) or original(*a, **k))
    return made


@pytest.mark.parametrize("make_model, data", [(small_classifier, classification_data),
                                               (small_conv_classifier, image_data)], ids=["dense", "conv"])
def test_a_scanned_step_equals_the_same_step_called_in_a_loop(make_model, data, monkeypatch):
    """compile_stateful(..., scan=True) runs many steps in one call, with the same numbers.
    On JAX's CPU a convolutional step loops over the compiled step instead (and only
    there): the same numbers again. The conv case leaves the SN layer's vector out of the
    variables given, so the first trace must find it and the loop must carry it."""
    from lipnb import backend

    x, y = data()
    order = np.random.default_rng(2).permutation(96)[:90].reshape(6, 15)
    conv = make_model is small_conv_classifier
    stepwise = count_stepwise_loops(monkeypatch)

    def train(scan):
        model = make_model(7)
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        lipnb.warm_up(model)
        step = lipnb.models.classifier_step(model, optimizer)
        given = model.trainable_variables if conv else model.variables
        compiled = backend.compile_stateful(step, list(given) + list(optimizer.variables), scan=scan)
        if scan:
            losses = keras.ops.convert_to_numpy(compiled((order,), x, y))
        else:
            losses = np.array([keras.ops.convert_to_numpy(compiled(idx, x, y)) for idx in order])
        return losses, [keras.ops.convert_to_numpy(v) for v in model.variables]

    (looped, looped_state), (scanned, scanned_state) = train(False), train(True)
    assert stepwise == ([0] if conv and on_jax_cpu() else [])
    assert scanned.shape == (6,)
    np.testing.assert_allclose(scanned, looped, rtol=1e-5)
    for a, b in zip(scanned_state, looped_state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_only_convolutional_steps_leave_the_compiled_loop_on_a_cpu():
    """XLA:CPU runs a convolution's gradients inside a compiled loop many times slower
    than alone, so there a scan over such steps loops in Python instead; a scan over dense
    steps stays one compiled loop, and accelerators keep it for every step. (JAX is in
    the environment whatever Keras's backend, so this runs on all of them.)"""
    import jax

    from lipnb import backend

    def loss(w, x, convolve):
        if convolve:
            x = jax.lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        else:
            x = x.reshape(len(x), -1)[:, :18] @ w.reshape(18, 4)
        return jax.numpy.sum(x ** 2)

    def scanned(convolve):
        def body(w, _):  # the gradient nested in a jitted call inside the scan, as in a training step
            return w - 0.1 * jax.jit(jax.grad(loss), static_argnums=2)(w, x, convolve), None
        return jax.jit(lambda w: jax.lax.scan(body, w, None, length=3)[0]).trace(w)

    w, x = np.ones((3, 3, 2, 4), "float32"), np.ones((5, 4, 4, 2), "float32")
    conv, dense = scanned(True), scanned(False)
    assert backend._convolves(conv.jaxpr) and not backend._convolves(dense.jaxpr)
    assert backend._slow_in_loops(conv) == (jax.default_backend() == "cpu")
    assert not backend._slow_in_loops(dense)


def test_convolutional_classifiers_side_by_side_end_where_they_would_alone(monkeypatch):
    """fit_classifiers side by side (JAX) with convolutions, which on a CPU loop over the
    vmapped step: each model ends where fit_classifier takes it alone."""
    stepwise = count_stepwise_loops(monkeypatch)
    x, y = image_data()
    data = [(x, y), (x[::-1].copy(), y[::-1].copy())]
    together = [small_conv_classifier(s) for s in (1, 2)]
    histories = lipnb.fit_classifiers(together, data, epochs=3, batch_size=16, seeds=[4, 5],
                                      batched=keras.backend.backend() == "jax")
    for s, model, (xs, ys), seed, history in zip((1, 2), together, data, (4, 5), histories):
        alone = small_conv_classifier(s)
        expected = lipnb.fit_classifier(alone, xs, ys, epochs=3, batch_size=16, seed=seed)
        np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-4)
        for a, b in zip(model.weights, alone.weights):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                       rtol=1e-4, atol=1e-5)
    assert stepwise == ([1, 0, 0] if on_jax_cpu() else [])  # side by side (steps on axis 1), then each alone


def test_an_empty_compiled_loop_is_a_clear_error():
    """A loop of zero steps, or per-step arrays of different lengths, is an error that says
    so on every backend (side by side too, on JAX)."""
    from lipnb import backend

    x, y = classification_data()
    model = small_classifier(0)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    state = list(model.variables) + list(optimizer.variables)
    loop = backend.compile_stateful(lipnb.models.classifier_step(model, optimizer), state, scan=True)
    with pytest.raises(ValueError, match="at least one step"):
        loop((np.zeros((0, 15), "int32"),), x, y)
    with pytest.raises(ValueError, match="non-empty tuple"):
        loop((), x, y)
    if keras.backend.backend() == "jax":
        batched = backend.compile_batched(lipnb.models.classifier_step(model, optimizer), state)
        values = [keras.ops.stack([v.value] * 2) for v in state]
        with pytest.raises(ValueError, match="at least one step"):
            batched(values, (np.zeros((2, 0, 15), "int32"),), np.stack([x, x]), np.stack([y, y]))


def test_side_by_side_default_and_its_override(monkeypatch):
    """Side by side by default only on JAX with an accelerator; LIPNB_SIDE_BY_SIDE forces
    either way (1 on JAX only), and anything else is an error that names the variable."""
    jax_backend = keras.backend.backend() == "jax"
    monkeypatch.delenv("LIPNB_SIDE_BY_SIDE", raising=False)
    if jax_backend:
        import jax

        assert lipnb.backend.side_by_side() == (jax.default_backend() != "cpu")
    else:
        assert lipnb.backend.side_by_side() is False
    monkeypatch.setenv("LIPNB_SIDE_BY_SIDE", "0")
    assert lipnb.backend.side_by_side() is False
    monkeypatch.setenv("LIPNB_SIDE_BY_SIDE", "1")
    if jax_backend:
        assert lipnb.backend.side_by_side() is True
    else:
        with pytest.raises(ValueError, match="needs Keras's JAX backend"):
            lipnb.backend.side_by_side()
    monkeypatch.setenv("LIPNB_SIDE_BY_SIDE", "yes")
    with pytest.raises(ValueError, match="LIPNB_SIDE_BY_SIDE must be"):
        lipnb.backend.side_by_side()


def test_batched_resolves_a_request_against_the_backend(monkeypatch):
    """One rule for train_wgans, fit_classifiers and run_many: a request stands (side by
    side off JAX is an error), no request takes the default, and unstackable runs never
    go side by side by default."""
    monkeypatch.setenv("LIPNB_SIDE_BY_SIDE", "0")
    assert lipnb.backend.batched(None) is False and lipnb.backend.batched(False) is False
    if keras.backend.backend() == "jax":
        assert lipnb.backend.batched(True) is True
        monkeypatch.setenv("LIPNB_SIDE_BY_SIDE", "1")
        assert lipnb.backend.batched(None) is True and lipnb.backend.batched(None, stackable=False) is False
    else:
        with pytest.raises(ValueError, match="runs on the JAX backend"):
            lipnb.backend.batched(True)


def test_accuracy_and_fit_classifier_check_their_labels():
    model = lipnb.digits_mlp(hidden=(8,), seed=0)
    x = np.random.default_rng(0).standard_normal((20, 64)).astype("float32")
    y = np.arange(20) % 10
    assert lipnb.accuracy(model, x, y) == lipnb.accuracy(model, x, y[:, None])  # (n, 1) labels are fine
    for bad in (y[:1], y[:19], np.stack([y, y], 1)):
        with pytest.raises(ValueError, match="one integer label per example"):
            lipnb.accuracy(model, x, bad)
    lipnb.fit_classifier(model, x, y[:, None], epochs=1, batch_size=4)  # a column of labels is fine
    for bad in (y[:10], np.concatenate([y, y]), np.stack([y, y], 1)):
        with pytest.raises(ValueError, match="one integer label per example"):
            lipnb.fit_classifier(model, x, bad, epochs=1, batch_size=4)
    for batch_size in (32.0, True, 0, 21):
        with pytest.raises(ValueError, match="batch_size"):
            lipnb.fit_classifier(model, x, y, epochs=1, batch_size=batch_size)
    with pytest.raises(ValueError, match="no examples"):
        lipnb.fit_classifier(model, x[:0], y[:0], epochs=1, batch_size=4)


@pytest.mark.parametrize("hidden", ["64", (2.9,), (), (0,), 16])
def test_digits_mlp_needs_integer_widths(hidden):
    with pytest.raises(ValueError, match="hidden"):
        lipnb.digits_mlp(hidden=hidden)
