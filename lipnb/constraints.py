"""Post-step projections with Keras constraint semantics.

Keras applies ``kernel_constraint`` *after* each optimizer step, to the stored weight;
the forward pass and its gradient never see the projection. That is the behaviour the
article criticizes (section "The Keras detail") and notebook 08 compares with true
reparameterization (``lipnb.SpectralNormalization``).
"""

from __future__ import annotations

import keras
from keras import ops

from lipnb.operators import PersistentVectors
from lipnb.validation import number, one_of, positive_int

__all__ = ["WeightClip", "FrobeniusBall", "SpectralProjection"]


@keras.saving.register_keras_serializable(package="lipnb")
class WeightClip(keras.constraints.Constraint):
    """Clip every entry to ``[-c, c]`` (the original WGAN's critic constraint)."""

    def __init__(self, c: float = 0.01):
        self.c = number(c, "c", minimum=0.0, strict=True)

    def __call__(self, w):
        return ops.clip(w, -self.c, self.c)

    def get_config(self):
        return {"c": self.c}


@keras.saving.register_keras_serializable(package="lipnb")
class FrobeniusBall(keras.constraints.Constraint):
    """Project onto ``|W|_F <= radius``; this also bounds ``|W|_2`` by ``radius`` (eq. (10))."""

    def __init__(self, radius: float = 1.0):
        self.radius = number(radius, "radius", minimum=0.0, strict=True)

    def __call__(self, w):
        norm = ops.sqrt(ops.sum(ops.square(w)))
        return w * ops.minimum(1.0, self.radius / ops.maximum(norm, 1e-12))

    def get_config(self):
        return {"radius": self.radius}


@keras.saving.register_keras_serializable(package="lipnb")
class SpectralProjection(keras.constraints.Constraint):
    """Rescale ``W`` after each step by its (reshaped-kernel) spectral norm.

    The norm is estimated by ``power_iterations`` steps of eq. (15) from a vector that
    persists between steps (one per variable), as in SN-GAN.

    Args:
        max_norm: the norm to hold ``W`` at (> 0).
        power_iterations: iterations per step (>= 1).
        mode: ``"clip"`` scales by ``min(1, max_norm / sigma)``: a projection onto the ball
            ``sigma <= max_norm``, which leaves smaller weights alone. ``"divide"`` scales by
            ``max_norm / sigma`` every step, so ``sigma = max_norm`` always: the article's
            ``W <- W / |W|_2`` applied as a Keras constraint.
    """

    MODES = ("clip", "divide")

    def __init__(self, max_norm: float = 1.0, power_iterations: int = 1, mode: str = "clip"):
        self.max_norm = number(max_norm, "max_norm", minimum=0.0, strict=True)
        self.power_iterations = positive_int(power_iterations, "power_iterations")
        self.mode = one_of(mode, "mode", self.MODES)
        self._vectors = PersistentVectors(seed=1)

    def __call__(self, w):
        sigma = PersistentVectors.estimate(*self._vectors.iterate(w, self.power_iterations))
        scale = self.max_norm / ops.maximum(sigma, 1e-12)
        if self.mode == "clip":
            scale = ops.minimum(1.0, scale)
        return w * ops.cast(scale, w.dtype)

    def get_config(self):
        return {"max_norm": self.max_norm, "power_iterations": self.power_iterations, "mode": self.mode}
