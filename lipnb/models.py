"""Small models the notebooks train."""

from __future__ import annotations

from typing import Sequence

import keras

__all__ = ["digits_mlp", "fit_classifier", "accuracy"]


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
    if not hidden or any(int(h) < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty list of positive widths, got {hidden!r}")
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


def fit_classifier(model, x_train, y_train, epochs: int, batch_size: int = 64,
                   optimizer=None, seed: int = 0) -> dict:
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

    Returns:
        ``{"loss": [...]}``, the mean training loss of each epoch.
    """
    import numpy as np
    import tensorflow as tf

    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    x = tf.constant(np.asarray(x_train, dtype=model.inputs[0].dtype if model.inputs else "float32"))
    y = tf.constant(np.asarray(y_train, dtype=np.int32))
    n = int(x.shape[0])
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size!r}")
    steps = n // batch_size
    optimizer = optimizer or keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    @tf.function
    def run_epoch(order):
        total = tf.constant(0.0, tf.float32)
        for i in tf.range(steps):
            idx = order[i]
            with tf.GradientTape() as tape:
                loss = loss_fn(tf.gather(y, idx), model(tf.gather(x, idx), training=True))
                if model.losses:
                    loss = loss + tf.cast(tf.add_n(model.losses), loss.dtype)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total += tf.cast(loss, tf.float32)
        return total / steps

    rng = np.random.default_rng(seed)
    history = []
    for _ in range(int(epochs)):
        order = rng.permutation(n)[: steps * batch_size].reshape(steps, batch_size)
        history.append(float(run_epoch(tf.constant(order, tf.int32))))
    return {"loss": history}


def accuracy(model, x, y, batch_size: int = 1024) -> float:
    """Share of inputs whose argmax logit equals the label."""
    import numpy as np

    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(y)))
