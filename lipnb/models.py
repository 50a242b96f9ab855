"""Small models the notebooks train."""

from __future__ import annotations

from typing import Sequence

import keras

__all__ = ["digits_mlp", "fit_classifier", "accuracy"]


def digits_mlp(hidden: Sequence[int] = (64, 64), activation: str = "relu",
               kernel_regularizer=None, input_dim: int = 64, classes: int = 10,
               seed: int = 0) -> keras.Sequential:
    """A dense classifier for 8x8 digits that outputs logits.

    Args:
        hidden: widths of the hidden layers.
        activation: hidden activation (its derivative bound enters the Lipschitz bound).
        kernel_regularizer: applied to every kernel, e.g. ``keras.regularizers.L2``.
        input_dim, classes: input and output sizes.
        seed: seed of the Glorot initializers.
    """
    if not hidden or any(int(h) < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty list of positive widths, got {hidden!r}")
    layers = [keras.Input((input_dim,))]
    for i, width in enumerate(hidden):
        layers.append(keras.layers.Dense(
            int(width), activation=activation, kernel_regularizer=kernel_regularizer,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            name=f"dense_{i}"))
    layers.append(keras.layers.Dense(
        classes, kernel_regularizer=kernel_regularizer,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden)),
        name="logits"))
    return keras.Sequential(layers)


def fit_classifier(model, x_train, y_train, epochs: int, batch_size: int = 64,
                   optimizer=None, seed: int = 0) -> dict:
    """Train a logits classifier with cross-entropy; return its per-epoch history.

    Args:
        model: Keras model producing logits.
        x_train, y_train: training inputs and integer labels.
        epochs: passes over the data (>= 1).
        batch_size: minibatch size.
        optimizer: a Keras optimizer; Adam(1e-3) when None.
        seed: seed of the shuffling, so runs repeat exactly.
    """
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, epochs=int(epochs), batch_size=batch_size,
                        shuffle=True, verbose=0)
    return history.history


def accuracy(model, x, y, batch_size: int = 1024) -> float:
    """Share of inputs whose argmax logit equals the label."""
    import numpy as np

    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(y)))
