"""Upper and lower bounds on a network's Lipschitz constant (article eqs. (3)-(8)).

The upper bound multiplies, layer by layer, each linear map's operator norm by the
largest derivative of the activation that follows it. A lower bound is any measured
local slope: a Jacobian's spectral norm at a point, or a finite-difference ratio
``|f(x) - f(y)| / |x - y|``.
"""

from __future__ import annotations

import numbers

import numpy as np

from lipnb.norms import spectral_norm

__all__ = [
    "ACTIVATION_LIPSCHITZ",
    "activation_lipschitz",
    "lipschitz_upper_bound",
    "jacobian_spectral_norms",
    "finite_difference_ratios",
    "lipschitz_lower_bound",
]

# sup_x |f'(x)| of common activations. gelu and silu overshoot 1 slightly.
ACTIVATION_LIPSCHITZ = {
    "linear": 1.0,
    "relu": 1.0,
    "relu6": 1.0,
    "leaky_relu": 1.0,
    "elu": 1.0,
    "tanh": 1.0,
    "softsign": 1.0,
    "softplus": 1.0,
    "sigmoid": 0.25,
    "hard_sigmoid": 1.0 / 6.0,
    "gelu": 1.1289,  # max of Phi(x) + x phi(x), at x = sqrt(2)
    "silu": 1.0998,  # max of s(x) + x s(x)(1 - s(x)), at x ~ 2.40
    "swish": 1.0998,
}


def activation_lipschitz(activation) -> float:
    """The largest absolute derivative of an activation (a name or a Keras function)."""
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", None)
    if name is None:
        name = "linear"
    if name not in ACTIVATION_LIPSCHITZ:
        raise ValueError(
            f"unknown activation {name!r}: its derivative bound is not in "
            f"lipnb.ACTIVATION_LIPSCHITZ ({', '.join(sorted(ACTIVATION_LIPSCHITZ))})"
        )
    return ACTIVATION_LIPSCHITZ[name]


_NEUTRAL_LAYERS = {"InputLayer", "Dropout", "Flatten", "Reshape", "GaussianNoise",
                   "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D"}


def lipschitz_upper_bound(model) -> float:
    """Product over layers of operator norm times activation-derivative bound.

    Supports sequential stacks of Dense and Activation layers (and layers that are
    1-Lipschitz at inference, such as Dropout and Flatten). The 2-norm is used on
    inputs and outputs.

    Raises:
        ValueError: a layer whose Lipschitz constant this function cannot bound.
    """
    import keras

    bound = 1.0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _NEUTRAL_LAYERS:
            continue
        if isinstance(layer, keras.layers.Dense):
            bound *= spectral_norm(layer.kernel) * activation_lipschitz(layer.activation)
        elif isinstance(layer, keras.layers.Activation):
            bound *= activation_lipschitz(layer.activation)
        else:
            raise ValueError(
                f"lipschitz_upper_bound cannot bound layer {layer.name!r} of type {kind}"
            )
    return float(bound)


def _check_batch(x, name="x") -> np.ndarray:
    arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if arr.ndim < 2:
        raise ValueError(f"{name} must be a batch of inputs (rank >= 2), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries")
    return arr.astype(np.float32)


def jacobian_spectral_norms(model, x, batch_size: int = 256) -> np.ndarray:
    """Spectral norm of the input-output Jacobian at each point of ``x``.

    Each value is a lower bound on the model's Lipschitz constant.

    Args:
        model: a Keras model mapping a batch ``(n, ...)`` to outputs ``(n, ...)``.
        x: inputs, shape ``(n, ...)``.

    Returns:
        ``np.ndarray`` of shape ``(n,)``.
    """
    import tensorflow as tf

    arr = _check_batch(x)
    norms = []
    for start in range(0, len(arr), batch_size):
        xb = tf.constant(arr[start:start + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            yb = model(xb, training=False)
        jac = tape.batch_jacobian(yb, xb).numpy()
        jac = jac.reshape(len(jac), int(np.prod(yb.shape[1:])), -1)
        norms.append(np.linalg.norm(jac.astype(np.float64), ord=2, axis=(1, 2)))
    return np.concatenate(norms)


def finite_difference_ratios(model, x1, x2) -> np.ndarray:
    """``|f(x1) - f(x2)| / |x1 - x2|`` per pair, each a lower bound on the constant."""
    a, b = _check_batch(x1, "x1"), _check_batch(x2, "x2")
    if a.shape != b.shape:
        raise ValueError(f"x1 and x2 must have the same shape, got {a.shape} and {b.shape}")
    fa = np.asarray(model(a, training=False), dtype=np.float64).reshape(len(a), -1)
    fb = np.asarray(model(b, training=False), dtype=np.float64).reshape(len(b), -1)
    dx = np.linalg.norm((a.astype(np.float64) - b).reshape(len(a), -1), axis=1)
    if np.any(dx == 0):
        raise ValueError("x1 and x2 coincide for some pair; the ratio is undefined")
    return np.linalg.norm(fa - fb, axis=1) / dx


def lipschitz_lower_bound(model, x, steps: int = 50, learning_rate: float = 0.01,
                          radius: float = 1e-2, seed: int = 0) -> float:
    """Largest local slope found by gradient ascent from the points ``x``.

    Ascends, for each start point, the finite-difference ratio
    ``|f(x + d) - f(x)| / |d|`` over both ``x`` and ``d`` (this has a gradient even
    for relu networks, whose Jacobian is piecewise constant), and also measures the
    Jacobian's spectral norm at the start and end points. Every value found is a
    lower bound on the Lipschitz constant; the largest is returned.

    Args:
        model: Keras model.
        x: start points, shape ``(n, ...)``.
        steps: ascent steps (>= 1).
        learning_rate: Adam step size for ``x`` and ``d``.
        radius: initial size of ``d``.
        seed: seed of the initial directions.
    """
    import keras
    import tensorflow as tf

    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    arr = _check_batch(x)
    best = float(np.max(jacobian_spectral_norms(model, arr)))
    rng = np.random.default_rng(seed)
    d0 = rng.standard_normal(arr.shape).astype(np.float32)
    d0 *= radius / np.linalg.norm(d0.reshape(len(d0), -1), axis=1).reshape((-1,) + (1,) * (arr.ndim - 1))
    xv, dv = tf.Variable(arr), tf.Variable(d0)
    opt = keras.optimizers.Adam(learning_rate)

    @tf.function
    def ascent_step():
        with tf.GradientTape() as tape:
            fy = tf.reshape(model(xv + dv, training=False), (len(arr), -1))
            fx = tf.reshape(model(xv, training=False), (len(arr), -1))
            ratio = tf.norm(fy - fx, axis=1) / tf.norm(tf.reshape(dv, (len(arr), -1)), axis=1)
            loss = -tf.reduce_sum(ratio)
        grads = tape.gradient(loss, [xv, dv])
        opt.apply_gradients(zip(grads, [xv, dv]))
        return ratio

    for _ in range(steps):
        ratios = ascent_step().numpy()
        finite = ratios[np.isfinite(ratios)]
        if finite.size:
            best = max(best, float(np.max(finite)))
    best = max(best, float(np.max(jacobian_spectral_norms(model, xv.numpy()))))
    return best
