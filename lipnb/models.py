"""Small models the notebooks train."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from lipnb.validation import labels, positive_int, widths

__all__ = ["digits_mlp", "conv_critic", "fit_classifier", "fit_classifiers", "classifier_step", "accuracy"]


def digits_mlp(hidden: Sequence[int] = (64, 64), activation: str = "relu",
               kernel_regularizer=None, input_dim: int = 64, classes: int = 10,
               seed: int = 0, dtype: str = "float32") -> keras.Sequential:
    """A dense classifier for 8x8 digits that outputs logits.

    Args:
        hidden: widths of the hidden layers.
        activation: hidden activation (its derivative bound enters the Lipschitz bound).
        kernel_regularizer: applied to every kernel, e.g. ``keras.regularizers.L2``.
        input_dim, classes: input and output sizes.
        seed: seed of the Glorot initializers.
        dtype: variable and compute dtype, e.g. "float64" for round-off-free comparisons.
    """
    hidden = widths(hidden)
    layers = [keras.Input((input_dim,), dtype=dtype)]
    for i, width in enumerate(hidden):
        layers.append(keras.layers.Dense(
            int(width), activation=activation, kernel_regularizer=kernel_regularizer,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            name=f"dense_{i}", dtype=dtype))
    layers.append(keras.layers.Dense(
        classes, kernel_regularizer=kernel_regularizer,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden)),
        name="logits", dtype=dtype))
    return keras.Sequential(layers)


CRITIC_NORMALIZATIONS = (None, "lipnb", "lipnb-operator", "keras")


def conv_critic(input_shape=(8, 8, 1), filters: Sequence[int] = (32, 64), normalization=None,
                outputs: int = 1, seed: int = 0, name: str = "critic") -> keras.Sequential:
    """A small convolutional critic (or classifier) for 8x8 images.

    Conv 3x3 (same) -> leaky relu -> conv 3x3 stride 2 (same) -> leaky relu -> flatten ->
    dense. No normalization layers: a gradient penalty is per example (WGAN-GP).

    Args:
        normalization: None; ``"lipnb"`` (``lipnb.SpectralNormalization``, reshaped-kernel
            norm as in SN-GAN); ``"lipnb-operator"`` (convolutions normalized by their
            operator norm); ``"keras"`` (``keras.layers.SpectralNormalization``).
        outputs: units of the last dense layer (1 for a critic).
    """
    from lipnb.layers import SpectralNormalization

    if normalization not in CRITIC_NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {CRITIC_NORMALIZATIONS}, got {normalization!r}")
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731

    def wrap(layer, conv):
        if normalization == "keras":
            return keras.layers.SpectralNormalization(layer)
        if normalization == "lipnb":
            return SpectralNormalization(layer)
        if normalization == "lipnb-operator":
            return SpectralNormalization(layer, mode="operator" if conv else "matrix")
        return layer

    layers = [keras.Input(input_shape)]
    for i, f in enumerate(filters):
        layers.append(wrap(keras.layers.Conv2D(int(f), 3, strides=1 if i == 0 else 2, padding="same",
                                               activation="leaky_relu", kernel_initializer=init(i)), True))
    layers += [keras.layers.Flatten(),
               wrap(keras.layers.Dense(outputs, kernel_initializer=init(len(filters))), False)]
    return keras.Sequential(layers, name=name)


def classifier_step(model, optimizer, extra_loss=None):
    """One minibatch step of cross-entropy training, written once for every backend.

    Returns ``step(idx, x, y)``: it takes rows ``idx`` of ``x`` and ``y``, applies one
    ``optimizer`` update to ``model``'s trainable weights (loss: cross-entropy of the
    logits, plus the model's regularization losses, plus ``extra_loss(model, xb, yb)``
    if given) and returns the loss. Compile it with
    :func:`lipnb.backend.compile_stateful` (``scan=True`` runs many steps in one call);
    the optimizer must be built on ``model.trainable_variables`` first.
    """
    from lipnb import backend

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    def batch_loss(xb, yb):
        loss = loss_fn(yb, model(xb, training=True))
        if model.losses:
            loss = loss + ops.cast(ops.sum(ops.stack(model.losses)), loss.dtype)
        if extra_loss is not None:
            loss = loss + ops.cast(extra_loss(model, xb, yb), loss.dtype)
        return loss, None

    def step(idx, x, y):
        xb, yb = ops.take(x, idx, axis=0), ops.take(y, idx, axis=0)
        (loss, _), grads = backend.value_and_grad(lambda: batch_loss(xb, yb), variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return step


def fit_classifier(model, x_train, y_train, epochs: int, batch_size: int = 64,
                   optimizer=None, seed: int = 0, extra_loss=None) -> dict:
    """Train a logits classifier with cross-entropy (plus the model's regularization losses).

    One compiled call per epoch runs all its minibatches, which is several times faster
    than ``model.fit`` for the small models of the notebooks. Each epoch visits a seeded
    permutation of the data in full batches (the last partial batch is dropped).

    Args:
        model: Keras model producing logits.
        x_train, y_train: training inputs and integer labels.
        epochs: passes over the data (>= 1).
        batch_size: minibatch size, at most the number of examples.
        optimizer: a Keras optimizer; Adam(1e-3) when None.
        seed: seed of the shuffling, so runs repeat exactly.
        extra_loss: optional ``f(model, x_batch, y_batch) -> scalar`` added to the loss
            inside the gradient tape (e.g. a gradient penalty).

    Returns:
        ``{"loss": [...]}``, the mean training loss of each epoch.
    """
    import numpy as np

    from lipnb import backend

    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    x_np = np.asarray(x_train, dtype=model.inputs[0].dtype if model.inputs else "float32")
    n = len(x_np)
    if n == 0:
        raise ValueError("x_train holds no examples")
    y_np = labels(y_train, n, "y_train", dtype=np.int32)
    if batch_size > n:
        raise ValueError(f"batch_size must be in [1, {n}] (the number of examples), got {batch_size!r}")
    steps = n // batch_size
    optimizer = optimizer or keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables
    rng = np.random.default_rng(seed)
    history = []
    if backend.name() != "tensorflow":
        from lipnb.operators import ensure_vectors

        optimizer.build(variables)
        _warm_up_spectral_layers(model)
        # All epochs in one compiled call: a step of these small models takes microseconds,
        # and a dispatch per step (a host round trip on a GPU) would cost more than the step.
        # The regularizers' and constraints' power-iteration vectors are state it carries.
        train = backend.compile_stateful(classifier_step(model, optimizer, extra_loss),
                                         list(model.variables) + list(optimizer.variables) + ensure_vectors(model),
                                         scan=True)
        orders = np.concatenate([rng.permutation(n)[: steps * batch_size].reshape(steps, batch_size)
                                 for _ in range(int(epochs))])
        losses = ops.convert_to_numpy(train((orders,), x_np, y_np)).reshape(int(epochs), steps)
        return {"loss": [float(v) for v in losses.astype(np.float64).mean(axis=1)]}

    import tensorflow as tf

    x, y = tf.constant(x_np), tf.constant(y_np)

    @tf.function
    def run_epoch(order):
        total = tf.constant(0.0, tf.float32)
        for i in tf.range(steps):
            # One step at a time (graph loops may otherwise overlap independent work of
            # successive iterations). Set while hunting run-to-run differences that turned
            # out to come from elsewhere (see lipnb.dcgan); kept, as it costs nothing here.
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)
            idx = order[i]
            with tf.GradientTape() as tape:
                loss = loss_fn(tf.gather(y, idx), model(tf.gather(x, idx), training=True))
                if model.losses:
                    loss = loss + tf.cast(tf.add_n(model.losses), loss.dtype)
                if extra_loss is not None:
                    loss = loss + tf.cast(extra_loss(model, tf.gather(x, idx), tf.gather(y, idx)), loss.dtype)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total += tf.cast(loss, tf.float32)
        return total / steps

    for _ in range(int(epochs)):
        order = rng.permutation(n)[: steps * batch_size].reshape(steps, batch_size)
        history.append(float(run_epoch(tf.constant(order, tf.int32))))
    return {"loss": history}


def fit_classifiers(models, data, epochs: int, batch_size: int = 64, optimizer=None, seeds=None,
                    extra_loss=None, batched: bool | None = None) -> list:
    """:func:`fit_classifier` for many models of one architecture, each with its own data
    and seed.

    With ``batched`` (JAX only; the default on JAX with a GPU, see
    :func:`lipnb.backend.side_by_side`) they train side by side: one compiled call
    runs every epoch of every model, each model one slice of a stacked state
    (:func:`lipnb.backend.compile_batched`), so each computes what it would alone, up to
    the rounding of batched arithmetic (a test checks this), and the program is traced
    and compiled once, not once per model. Otherwise they train one after another.

    Args:
        models: Keras models producing logits, all of one architecture (variables of the
            same shapes, in the same order).
        data: one ``(x_train, y_train)`` per model, all of the same shapes.
        epochs, batch_size: as in :func:`fit_classifier`.
        optimizer: ``None`` (Adam(1e-3) for each model) or a function of no arguments
            that returns a fresh optimizer, called once per model.
        seeds: one shuffling seed per model (default ``0, 1, ...``).
        extra_loss: as in :func:`fit_classifier`: one function for every model, or a list
            of one per model. Side by side a shared one is traced once, on the first model,
            so it may not keep state of its own (a seed generator of its own, say): that is
            an error there. A list trains side by side only when every item lists its
            state in a ``variables`` attribute, in the same shapes (each its own seed
            generator's ``state``, say): the first item is traced, and each model gets its
            own item's state, so the items must be one function that differs only in that
            state (made by one factory). A list without it trains one by one.

    Returns:
        One ``{"loss": [...]}`` per model, in order.
    """
    import numpy as np

    from lipnb import backend
    from lipnb.validation import twin_variables

    models, data = list(models), list(data)
    if not models:
        raise ValueError("fit_classifiers needs at least one model")
    if len(data) != len(models):
        raise ValueError(f"got {len(models)} models but {len(data)} data sets; give one (x, y) per model")
    seeds = list(range(len(models))) if seeds is None else list(seeds)
    if len(seeds) != len(models):
        raise ValueError(f"got {len(models)} models but {len(seeds)} seeds")
    if optimizer is not None and not callable(optimizer):
        raise ValueError("optimizer must be None or a function that returns a fresh optimizer for each model, "
                         f"got {optimizer!r}")
    make_optimizer = optimizer or (lambda: keras.optimizers.Adam(1e-3))
    per_model = isinstance(extra_loss, (list, tuple))
    if per_model and len(extra_loss) != len(models):
        raise ValueError(f"got {len(models)} models but {len(extra_loss)} extra losses")
    extras = list(extra_loss) if per_model else [extra_loss] * len(models)
    extra_states = [list(getattr(e, "variables", None) or []) for e in extras] if per_model else None
    stackable = not per_model or all(hasattr(e, "variables") for e in extras)
    if not stackable and batched:
        raise ValueError("models with one extra loss each train one by one unless each extra loss lists its state "
                         "in a `variables` attribute; or give one shared extra_loss to train them side by side")
    if per_model and stackable and len({getattr(e, "__code__", type(e)) for e in extras}) > 1:
        # Side by side only the first is traced: the others may differ in state, not in code.
        if batched:
            raise ValueError("extra losses train side by side only as one function (one factory's closures) that "
                             "differs in its `variables`; these are different functions")
        stackable = False
    if not backend.batched(batched, stackable) or len(models) == 1:
        return [fit_classifier(m, x, y, epochs, batch_size=batch_size, optimizer=make_optimizer(), seed=s,
                               extra_loss=e) for m, (x, y), s, e in zip(models, data, seeds, extras)]
    epochs = positive_int(epochs, "epochs")
    xs = [np.asarray(x, dtype=models[0].inputs[0].dtype if models[0].inputs else "float32") for x, _ in data]
    if len({x.shape for x in xs}) > 1:
        raise ValueError("the data sets of fit_classifiers must all have the same shapes")
    n = len(xs[0])
    if n == 0:
        raise ValueError("the data sets of fit_classifiers hold no examples")
    ys = [labels(y, n, f"the labels of data set {i}", dtype=np.int32) for i, (_, y) in enumerate(data)]
    batch_size = positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must be in [1, {n}] (the number of examples), got {batch_size!r}")
    steps = n // batch_size
    from lipnb.operators import ensure_vectors

    optimizers = [make_optimizer() for _ in models]
    states = []
    for model, opt in zip(models, optimizers):
        opt.build(model.trainable_variables)
        _warm_up_spectral_layers(model)
        states.append(list(model.variables) + list(opt.variables) + ensure_vectors(model))
    if per_model:  # each model's own extra loss state, stacked like its weights
        shapes = [[tuple(v.shape) for v in extra_state] for extra_state in extra_states]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("side by side, the extra losses' `variables` must match in number and shapes; "
                             f"got {shapes}")
        for state, extra_state in zip(states, extra_states):
            state.extend(extra_state)
    for state in states[1:]:
        twin_variables(state, states[0])
    train = backend.compile_batched(classifier_step(models[0], optimizers[0], extras[0]), states[0])
    orders = np.stack([np.concatenate([rng.permutation(n)[: steps * batch_size].reshape(steps, batch_size)
                                       for _ in range(epochs)])
                       for rng in (np.random.default_rng(s) for s in seeds)])
    values = [ops.stack([state[i].value for state in states]) for i in range(len(states[0]))]
    losses, values = train(values, (orders,), np.stack(xs), np.stack(ys))
    for i, state in enumerate(states):
        for variable, value in zip(state, values):
            variable.assign(value[i])
    losses = ops.convert_to_numpy(losses).astype(np.float64).reshape(len(models), epochs, steps)
    return [{"loss": [float(v) for v in run.mean(axis=1)]} for run in losses]


def warm_up(model, only_unwarmed: bool = False) -> dict:
    """Set every ``lipnb.SpectralNormalization`` vector in ``model`` (nested models too) to
    the exact top singular vector of its layer's weight, so each layer divides by its exact
    norm. Do this before reading a Lipschitz bound or a certificate off a trained model: the
    vectors training leaves behind lag the weights (notebooks 04, 06, 08, 09).

    Args:
        model: a Keras model or layer.
        only_unwarmed: skip layers that were warmed up already.

    Returns:
        ``{layer name: spectral norm of its weight}`` for the layers warmed up.
    """
    from lipnb.layers import SpectralNormalization

    sigmas, stack, seen = {}, [model], set()
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, SpectralNormalization) and layer.built and not (only_unwarmed and layer._warmed_up):
            sigmas[layer.name] = layer.warm_up()
        stack.extend(getattr(layer, "layers", []))
    return sigmas


def _warm_up_spectral_layers(model):
    """Warm up every lipnb SN layer that has not been, before a compiled step runs.

    A functional model builds its layers symbolically, where the warm-up must wait for a
    first eager call; on JAX every training call is traced, so it is done here instead.
    """
    warm_up(model, only_unwarmed=True)


def predict(model, x, batch_size: int = 1024):
    """``model(x, training=False)`` over batches, as one numpy array.

    Calls the model directly instead of ``model.predict``. Keras's ``predict`` feeds
    arrays through a tf.data pipeline; under TensorFlow's op determinism (which
    :func:`lipnb.seed_everything` turns on) a last partial batch makes TF 2.21 log a
    spurious "NodeDef mentions attribute use_unbounded_threadpool" error for every call.

    Args:
        model: a Keras model or layer.
        x: inputs with the batch on the first axis.
        batch_size: rows per call (>= 1).

    Returns:
        The outputs, concatenated along the first axis.
    """
    import numpy as np

    batch_size = positive_int(batch_size, "batch_size")
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"x must hold at least one example, got shape {x.shape}")
    parts = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts, axis=0)


def accuracy(model, x, y, batch_size: int = 1024) -> float:
    """Share of inputs whose argmax logit equals the label.

    Raises:
        ValueError: ``y`` is not one label per example (shape ``(n,)``, or ``(n, 1)``).
    """
    import numpy as np

    logits = predict(model, x, batch_size=batch_size)
    return float(np.mean(np.argmax(logits, axis=-1) == labels(y, len(logits))))
