"""Explicit training loops whose every step can be inspected."""

from __future__ import annotations

import numpy as np

from lipnb.validation import positive_int

__all__ = ["evaluation_chunks", "l2_penalty", "parameter_trajectory"]


def l2_penalty(model, l2: float):
    """``l2 * sum ||W||_F^2`` over the model's kernels (article eqs. (11)-(12)); biases excluded."""
    from keras import ops

    # Variables whose own name ends in "kernel" (kernel, depthwise_kernel, pointwise_kernel,
    # recurrent_kernel, in wrappers too): judged by the variable's name, not its path, so a
    # layer whose own name contains "kernel" does not bring its bias along.
    kernels = [v for v in model.trainable_variables if v.path.rsplit("/", 1)[-1].endswith("kernel")]
    if not kernels:
        raise ValueError(f"l2_penalty: {getattr(model, 'name', model)!r} has no trainable kernel")
    return l2 * ops.sum(ops.stack([ops.sum(ops.square(k)) for k in kernels]))


def parameter_trajectory(model, optimizer, x, y, steps: int, batch_size: int = 64,
                         l2: float = 0.0, seed: int = 0) -> np.ndarray:
    """Train with cross-entropy (+ optional l2 penalty); return all parameters after each step.

    The minibatch sequence depends on ``seed`` only, so two models trained with the
    same seed see the same batches and their trajectories can be compared step by step.

    Returns:
        ``np.ndarray`` of shape ``(steps + 1, n_parameters)``; row 0 is the start.
    """
    import keras
    from keras import ops

    from lipnb import backend

    steps = positive_int(steps, "steps")
    dtype = model.trainable_variables[0].dtype
    x = np.asarray(x, dtype=dtype)
    y = np.asarray(y)
    order = np.random.default_rng(seed).integers(0, len(x), size=(int(steps), batch_size))
    # Compute the loss in the model's dtype: Keras losses default to float32, whose
    # round-off would otherwise swamp float64 comparisons between trajectories.
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)
    variables = model.trainable_variables
    optimizer.build(variables)

    def batch_loss(xb, yb):
        loss = loss_fn(yb, model(xb, training=True))
        if l2:
            loss = loss + ops.cast(l2_penalty(model, l2), loss.dtype)
        return loss, None

    def step(xb, yb):
        _, grads = backend.value_and_grad(lambda: batch_loss(xb, yb), variables)
        optimizer.apply_gradients(zip(grads, variables))
        return 0

    step = backend.compile_stateful(step, list(model.variables) + list(optimizer.variables))

    def flat():
        return np.concatenate([ops.convert_to_numpy(v).ravel() for v in model.trainable_variables])

    trajectory = [flat()]
    for idx in order:
        step(x[idx], y[idx])
        trajectory.append(flat())
    return np.stack(trajectory)


def evaluation_chunks(steps: int, every: int):
    """Split ``steps`` training steps at every ``every``-th step, where a run is evaluated.

    Yields ``(chunk, done, evaluate)``: the steps to run in one compiled call, the steps
    done after it, and whether an evaluation is due then (not after a last, partial
    chunk). A loop of compiled calls then stops exactly where the evaluations fall.

    >>> list(evaluation_chunks(7, 3))
    [(3, 3, True), (3, 6, True), (1, 7, False)]
    """
    steps, every = positive_int(steps, "steps"), positive_int(every, "every")
    done = 0
    while done < steps:
        chunk = min(every - done % every, steps - done)
        done += chunk
        yield chunk, done, done % every == 0
