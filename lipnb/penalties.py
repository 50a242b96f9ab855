"""Lipschitz penalties: spectral-norm regularization (eq. (21)) and gradient penalties (eqs. (24)-(26))."""

from __future__ import annotations

import keras
from keras import ops

from lipnb.operators import PersistentVectors
from lipnb.validation import number, positive_int

__all__ = ["SpectralNormRegularizer", "gradient_penalty"]


@keras.saving.register_keras_serializable(package="lipnb")
class SpectralNormRegularizer(keras.regularizers.Regularizer):
    """``l * |W|_2^2`` (article eq. (21); Yoshida & Miyato 2017), beside ``keras.regularizers.L2``.

    ``|W|_2`` is estimated by power iteration (15) on the kernel reshaped to
    ``(prod(shape[:-1]), shape[-1])``. The vector persists between training steps, one per
    regularized variable, so one iteration per step tracks the norm (notebook 04). The
    gradient is ``2 l sigma x u^T`` with the vectors held constant.

    Args:
        l: regularization strength (>= 0).
        power_iterations: iterations per evaluation (>= 1).

    Example:
        >>> layer = keras.layers.Dense(8, kernel_regularizer=SpectralNormRegularizer(1e-3))
    """

    def __init__(self, l: float = 0.01, power_iterations: int = 1):
        number(l, "l", minimum=0.0)
        self.l = float(l)
        self.power_iterations = positive_int(power_iterations, "power_iterations")
        self._vectors = PersistentVectors(seed=0)

    def spectral_norm(self, x):
        """Current estimate of ``|x|_2``; updates the persistent vector."""
        if len(x.shape) < 2:
            raise ValueError(f"SpectralNormRegularizer needs a kernel of rank >= 2, got shape {x.shape}")
        return PersistentVectors.estimate(*self._vectors.iterate(x, self.power_iterations))

    def __call__(self, x):
        if self.l == 0.0:
            return ops.zeros((), "float32")
        sigma = self.spectral_norm(x)
        return self.l * ops.square(sigma)

    def get_config(self):
        return {"l": self.l, "power_iterations": self.power_iterations}


def gradient_penalty(critic, real, fake, one_sided: bool = False, *, extra_inputs=None,
                     epsilon=None, return_norms: bool = False, training: bool = True, seed=None):
    """The WGAN-GP penalty ``E[(|grad_x f(x_hat)| - 1)^2]`` (eq. (24)) at random interpolates.

    ``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` drawn per example (eq.
    (26)). With ``one_sided=True`` the penalty is ``E[max(|grad| - 1, 0)^2]`` (eq. (25)).
    The result is differentiable in the critic's weights (double backpropagation), so
    add it to the critic loss inside your own ``GradientTape``.

    Args:
        critic: a callable (Keras model) mapping a batch to one score per example.
        real, fake: batches of the same shape ``(n, ...)``.
        one_sided: use eq. (25) instead of (24).
        extra_inputs: list of further critic inputs (e.g. class labels of a conditional
            critic); the critic is then called as ``critic([x_hat, *extra_inputs])``.
        epsilon: optional interpolation weights, one per example (shape ``(n,)`` or
            ``(n, 1, ...)``) or one for all (a scalar); drawn when None.
        return_norms: also return the per-example gradient norms.
        training: passed to the critic.
        seed: seed for drawing ``epsilon`` (a Keras SeedGenerator or int).

    Returns:
        The scalar penalty, or ``(penalty, norms)`` when ``return_norms``.
    """
    from lipnb import backend

    real = ops.convert_to_tensor(real)
    fake = ops.cast(ops.convert_to_tensor(fake), real.dtype)
    rank = len(real.shape)
    if rank < 2:
        raise ValueError(f"real must be a batch (rank >= 2), got shape {tuple(real.shape)}")
    if tuple(real.shape) != tuple(fake.shape):
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    n = ops.shape(real)[0]
    if isinstance(n, int) and n == 0:  # a static empty batch: its mean penalty would be nan
        raise ValueError("real and fake must not be empty batches")
    if epsilon is None:
        epsilon = keras.random.uniform((n,), dtype=real.dtype, seed=seed)
    else:
        epsilon = ops.convert_to_tensor(epsilon)
        shape = tuple(epsilon.shape)
        if len(shape) > 0 and (any(d not in (1, None) for d in shape[1:])
                               or (isinstance(n, int) and shape[0] not in (None, 1, n))):
            raise ValueError(f"epsilon must be one weight per example, shape ({n},) or ({n}, 1, ...), or one "
                             f"for all (a scalar), got shape {shape}")
    epsilon = ops.cast(ops.reshape(epsilon, [-1] + [1] * (rank - 1)), real.dtype)  # a scalar broadcasts
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    extra = None if extra_inputs is None else [ops.convert_to_tensor(e) for e in extra_inputs]

    def scores_of(x):
        scores = critic(x if extra is None else [x, *extra], training=training)
        if len(scores.shape) > 1 and scores.shape[-1] not in (1, None):
            raise ValueError(f"the critic must return one score per example, got shape {tuple(scores.shape)}")
        return scores

    _, grads = backend.input_gradient(scores_of, x_hat, differentiable=True)
    grads = ops.reshape(ops.cast(grads, "float32"), (n, -1))
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=1) + 1e-12)
    excess = ops.relu(norms - 1.0) if one_sided else norms - 1.0
    penalty = ops.mean(ops.square(excess))
    return (penalty, norms) if return_norms else penalty
