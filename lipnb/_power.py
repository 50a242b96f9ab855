"""Persistent power-iteration vectors for penalties and constraints (article eq. (15))."""

from __future__ import annotations

from keras import ops


class PersistentVectors:
    """One right singular vector per variable, kept between calls, created on first use.

    Args:
        seed: first component of the stateless seed of each start vector.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._vectors = {}

    def _store(self, key, out_dim):
        import tensorflow as tf

        if key not in self._vectors:
            with tf.init_scope():  # created once, eagerly, even when first called in a graph
                start = tf.random.stateless_normal((1, out_dim), seed=(self.seed, len(self._vectors)))
                self._vectors[key] = tf.Variable(start / tf.norm(start), trainable=False,
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
        store = self._store(key, int(m.shape[-1]))
        right, ms = ops.convert_to_tensor(store), ops.stop_gradient(m)
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
