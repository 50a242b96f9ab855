"""Persistent power-iteration vectors for penalties and constraints (article eq. (15))."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lipnb import backend


class PersistentVectors:
    """One right singular vector per variable, kept between calls, created on first use.

    Args:
        seed: first component of the stateless seed of each start vector.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._vectors = {}

    def _store(self, key, out_dim):
        if key not in self._vectors:
            with backend.init_scope():  # created once, eagerly, even when first called in a graph
                if backend.name() == "tensorflow":
                    import tensorflow as tf

                    start = tf.random.stateless_normal((1, out_dim), seed=(self.seed, len(self._vectors)))
                else:
                    start = np.random.default_rng((self.seed, len(self._vectors))).standard_normal((1, out_dim))
                start = ops.convert_to_tensor(start, "float32")
                self._vectors[key] = keras.Variable(start / ops.norm(start), trainable=False,
                                                    name="power_iteration_vector")
        return self._vectors[key]

    def iterate(self, w, iterations: int):
        """Run eq. (15) on ``w`` read as an ``(in, out)`` matrix; store and return the vectors.

        Returns:
            ``(m, left, right)``: the float32 matrix (differentiable) and the unit vectors
            ``left`` (1, in) and ``right`` (1, out), held constant for gradients, so that
            ``left @ m @ right.T`` is the norm estimate with gradient ``left^T right``.
        """
        x = ops.cast(w, "float32")
        if len(x.shape) < 2:
            raise ValueError(f"need a kernel of rank >= 2, got shape {x.shape}")
        m = ops.reshape(x, (-1, x.shape[-1]))
        # One vector per variable: Keras variables by path; others by id and shape, since
        # an id can be reused once its variable is gone (a vector of the wrong length would
        # break the product; one of the right length is only a start, which iteration fixes).
        key = getattr(w, "path", None) or (id(w), tuple(m.shape))
        ms = ops.stop_gradient(m)
        if backend.is_traced(ms):
            # Inside a jitted JAX step no vector can persist to the next step (state
            # outside the model is not carried), and one iteration from a fixed start
            # would estimate nothing: use the exact top singular pair instead.
            u, _, vt = ops.svd(ms, full_matrices=False)
            return m, ops.stop_gradient(ops.reshape(u[:, 0], (1, -1))), ops.stop_gradient(vt[:1])
        store = self._store(key, int(m.shape[-1]))
        right = ops.convert_to_tensor(store)
        for _ in range(iterations):
            left = ops.matmul(right, ops.transpose(ms))
            left = left / ops.maximum(ops.norm(left), 1e-12)
            right = ops.matmul(left, ms)
            right = right / ops.maximum(ops.norm(right), 1e-12)
        store.assign(right)
        return m, ops.stop_gradient(left), ops.stop_gradient(right)

    @staticmethod
    def estimate(m, left, right):
        return ops.sum(ops.matmul(ops.matmul(left, m), ops.transpose(right)))
