"""Input perturbations: random noise and gradient-sign (FGSM) or PGD steps."""

from __future__ import annotations

import numpy as np

from lipnb import validation
from lipnb.validation import number, one_of, positive_int

__all__ = ["random_perturbation", "loss_input_gradient", "fgsm", "pgd"]


def _check_epsilon(epsilon) -> float:
    return number(epsilon, "epsilon", minimum=0.0)


def _flat_norm(a: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a.reshape(len(a), -1), axis=1).reshape((-1,) + (1,) * (a.ndim - 1))


def random_perturbation(x, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """``x + d`` with ``d`` uniform in direction and of l2 norm exactly ``epsilon``, per example.

    ``x`` is a batch ``(n, ...)``: one perturbation per row.
    """
    epsilon = _check_epsilon(epsilon)
    x = validation.batch(x)
    rng = validation.numpy_rng(rng)
    d = rng.standard_normal(x.shape).astype(np.float32)
    return x + epsilon * d / _flat_norm(d)


def loss_input_gradient(model, x, y) -> np.ndarray:
    """Gradient of the cross-entropy (from logits) with respect to the inputs."""
    import keras

    from lipnb import backend

    x = validation.batch(x)
    labels = keras.ops.convert_to_tensor(validation.labels(y, len(x)))

    def loss(xt):
        logits = model(xt, training=False)
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    _, grad = backend.input_gradient(loss, x)
    return keras.ops.convert_to_numpy(grad)


def fgsm(model, x, y, epsilon: float, norm: str = "l2") -> np.ndarray:
    """One gradient-sign step that increases the loss (Goodfellow et al. 2015).

    Args:
        norm: ``"linf"`` adds ``epsilon * sign(g)``; ``"l2"`` rescales ``sign(g)`` to
            l2 norm ``epsilon``, so it compares with random noise of the same size.
    """
    epsilon = _check_epsilon(epsilon)
    one_of(norm, "norm", ("l2", "linf"))
    x = validation.batch(x)
    step = np.sign(loss_input_gradient(model, x, y)).astype(np.float32)
    if norm == "l2":
        step = step / np.maximum(_flat_norm(step), 1e-12)
    return x + epsilon * step


def pgd(model, x, y, epsilon: float, steps: int = 10, step_size: float | None = None) -> np.ndarray:
    """Projected gradient ascent on the loss inside the l2 ball of radius ``epsilon``."""
    epsilon = _check_epsilon(epsilon)
    steps = positive_int(steps, "steps")
    step_size = 2.5 * epsilon / steps if step_size is None else number(step_size, "step_size", minimum=0.0,
                                                                         strict=True)
    x0 = validation.batch(x)
    xa = x0.copy()
    for _ in range(int(steps)):
        g = loss_input_gradient(model, xa, y)
        xa = xa + step_size * g / np.maximum(_flat_norm(g), 1e-12)
        d = xa - x0
        xa = x0 + d * np.minimum(1.0, epsilon / np.maximum(_flat_norm(d), 1e-12))
    return xa.astype(np.float32)
