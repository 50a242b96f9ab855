"""Lipschitz layers for Keras 3: spectral normalization as a true reparameterization.

``SpectralNormalization`` differs from ``keras.layers.SpectralNormalization`` where that
one falls short (see the project README):

* the trainable variable stays the raw kernel ``W``; the forward pass computes with
  ``W / sigma(W)`` and the gradient flows through ``sigma = x^T W u`` (the power-iteration
  vectors are held constant), as in the article's ``add_weight`` fix and SN-GAN;
* the persistent vector is warmed up when the layer is built, so the first call is
  already normalized, even with ``training=False``;
* it iterates only when ``training=True``; at inference it normalizes with the stored
  vector and changes no state;
* ``mode="operator"`` normalizes a convolution by its true operator norm on the layer's
  input size, not by the norm of the reshaped kernel.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lipnb._keras_compat import (
    in_stateless_scope,
    no_autocast,
    outside_traced_function,
    stored_weight,
    swapped_attribute,
)
from lipnb.operators import ConvOperator, MatrixOperator, NumpyView, norm, power_step, top_singular_pair
from lipnb.validation import integer, number, one_of, positive_int

__all__ = ["SpectralNormalization", "GroupSort", "MaxMin"]

_CONV_TYPES = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")


def _find_weight(layer):
    """The attribute of ``layer`` that stores its kernel (or embedding) variable."""
    found = stored_weight(layer)
    if found is not None:
        return found
    raise ValueError(
        f"SpectralNormalization needs a layer with a kernel or embeddings variable "
        f"(Dense, Conv*, Conv*Transpose, Embedding, ...); {type(layer).__name__} "
        f"{layer.name!r} has none"
    )


def _read_float32(variable):
    """A variable's value in float32, bypassing mixed-precision autocasting."""
    with no_autocast():
        return ops.cast(ops.convert_to_tensor(variable), "float32")


@keras.saving.register_keras_serializable(package="lipnb")
class SpectralNormalization(keras.layers.Wrapper):
    """Reparameterizes a layer's kernel as ``W / sigma(W)`` (Miyato et al., 2018).

    Args:
        layer: a Keras layer with a ``kernel`` (Dense, Conv1D/2D/3D, Conv*Transpose,
            EinsumDense) or ``embeddings`` (Embedding).
        power_iterations: iterations of eq. (15) per ``training=True`` call (>= 1), or
            ``"auto"``: iterate until the estimate of sigma changes by less than
            ``tol`` (relative) from one iteration to the next, at most
            ``max_iterations`` times. One iteration is SN-GAN's choice; under Adam it
            lets the stored vector lag the weights, so the layer's true norm drifts above
            1 (notebooks 04, 05 and 09). "auto" brings the vector up to date at every
            training call. The estimate settles slowly when the top two singular values
            are close, so it can stop short by more than ``tol``. And the optimizer
            step after the call still moves the weights away from the vector. How far
            each choice drifts, and what "auto" costs per step, is measured by
            ``benchmarks/bench_layers.py`` (``benchmarks/results/layers.md``, quoted in
            the README). For an exact certificate, call :meth:`warm_up`
            (``lipnb.warm_up(model)``) after training.
        tol: the relative change that stops ``"auto"`` (> 0).
        max_iterations: the cap of ``"auto"`` (>= 1).
        mode: ``"matrix"`` normalizes by the spectral norm of the kernel reshaped to
            ``(prod(shape[:-1]), shape[-1])`` (SN-GAN, Keras, PyTorch); ``"operator"``
            (convolutions only) by the norm of the convolution acting on inputs of the
            layer's input size, which makes the layer exactly 1-Lipschitz.
        warmup_iterations: iteration cap of the warm-up that sets the stored vector to
            the top singular vector when the layer is built (see :meth:`warm_up`).
        eps: floor of vector norms, to avoid division by zero.
        **kwargs: base layer arguments. A ``dtype`` policy given here is applied to the
            wrapped layer too, so its variables and output follow it; without one the
            wrapper takes the wrapped layer's policy. The stored vector is float32 always.

    Call arguments:
        inputs: the wrapped layer's inputs.
        training: iterate and update the stored vector only when True.

    Example:
        >>> import numpy as np
        >>> dense = SpectralNormalization(keras.layers.Dense(4))
        >>> y = dense(np.ones((2, 3), "float32"))   # already normalized
    """

    def __init__(self, layer, power_iterations: int | str = 1, mode: str = "matrix",
                 warmup_iterations: int = 500, eps: float = 1e-12, tol: float = 1e-4, max_iterations: int = 20,
                 **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"layer must be a keras Layer, got {type(layer).__name__}")
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = layer.dtype_policy
        super().__init__(layer, **kwargs)
        # One policy for wrapper and wrapped layer: the wrapped call computes the output,
        # so a policy given to the wrapper must reach it (Keras's own wrappers behave so).
        layer.dtype_policy = self.dtype_policy
        if power_iterations != "auto":
            power_iterations = positive_int(power_iterations, "power_iterations")
        self.power_iterations = power_iterations
        self.tol = number(tol, "tol", minimum=0.0, strict=True)
        self.max_iterations = positive_int(max_iterations, "max_iterations")
        self.warmup_iterations = positive_int(warmup_iterations, "warmup_iterations")
        one_of(mode, "mode", ("matrix", "operator"))
        if mode == "operator" and (type(layer).__name__ not in _CONV_TYPES
                                   or getattr(layer, "data_format", None) != "channels_last"
                                   or getattr(layer, "groups", 1) != 1):
            raise ValueError("mode='operator' needs an ungrouped channels_last convolution layer, "
                             f"got {type(layer).__name__} {layer.name!r}")
        if mode == "operator" and getattr(layer, "padding", None) == "causal":
            # The operator is built from Keras's conv ops, which have no causal padding.
            raise ValueError(f"mode='operator' supports 'same' and 'valid' padding; {layer.name!r} is causal")
        if (mode == "operator" and keras.backend.backend() == "tensorflow"
                and any(d != 1 for d in getattr(layer, "dilation_rate", (1,)))):
            # TensorFlow's CPU kernels have no dilated transpose, the operator's adjoint.
            raise ValueError(f"mode='operator' on TensorFlow supports undilated convolutions only; {layer.name!r} "
                             f"has dilation_rate={layer.dilation_rate}")
        number(eps, "eps", minimum=0.0, strict=True)
        self.mode = mode
        self.eps = float(eps)
        self._warmed_up = False

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        # The warm-up below reads the kernel, so it must exist with a value now (see
        # outside_traced_function); without this a model with no Input layer fails.
        with outside_traced_function():
            self._build_eagerly(input_shape)

    def _build_eagerly(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self._weight_name, weight = _find_weight(self.layer)
        if self.mode == "operator" and any(d is None for d in input_shape[1:]):
            raise ValueError(f"mode='operator' needs a fully known input shape, got {input_shape}")
        self._operator_input_shape = (1, *input_shape[1:])
        vector_shape = self.operator(weight).in_shape
        self.vector = self.add_weight(
            name="power_vector", shape=vector_shape, dtype="float32", trainable=False,
            initializer=keras.initializers.RandomNormal(seed=0),
            # All replicas compute the same update from the same mirrored kernel;
            # keep replica 0's so the copies stay bit-identical.
            aggregation="only_first_replica",
            autocast=False,  # stays float32 under mixed precision
        )
        self.built = True
        self._warmed_up = False
        # Inside a keras.StatelessScope variables stay uninitialized until the scope
        # exits; the warm-up then waits for the first call that can read them.
        if not in_stateless_scope():
            self.warm_up()

    def warm_up(self, iterations: int | None = None) -> float:
        """Set the stored vector to the top singular vector; call again after ``set_weights``.

        Uses Lanczos (ARPACK) on the same operator the layer normalizes by, which
        resolves the clustered top singular values that make power iteration crawl
        (convolutions often have them; notebook 04). Falls back to ``iterations`` steps of
        eq. (15) if ARPACK does not converge.

        Returns:
            The spectral norm with the new vector.
        """
        from lipnb import backend

        iterations = positive_int(iterations or self.warmup_iterations, "iterations")
        with backend.init_scope():
            w = _read_float32(self._weight())
            if not np.all(np.isfinite(ops.convert_to_numpy(w))):
                raise ValueError(f"{self.name}: the wrapped layer's {self._weight_name} has non-finite entries")
            # ARPACK in float64 on the very operator the layer normalizes by; it falls back
            # to power iteration (and warns if that misses the tolerance).
            wide = backend.float64()  # float32 on JAX without x64
            op = self.operator(ops.cast(w, wide))
            if isinstance(op, MatrixOperator):
                op = MatrixOperator(ops.convert_to_numpy(op.m).astype("float64"))
            else:
                op = NumpyView(op, wide)
            start = ops.convert_to_numpy(self.vector.value * 1.0)  # a tensor: a variable's __array__ warns
            _, v = top_singular_pair(op, start, tol=1e-10, max_iterations=iterations,
                                     what=f"{type(self).__name__}.warm_up")
            v = ops.convert_to_tensor(v, "float32")
            self.vector.assign(v)
            self._warmed_up = True
            return float(ops.convert_to_numpy(self._sigma(w, v)))  # detached (PyTorch)

    # --------------------------------------------------------- linear algebra
    def _weight(self):
        return getattr(self.layer, self._weight_name)

    def operator(self, w):
        """The linear map the layer is normalized by, with kernel ``w``.

        ``mode="matrix"``: the kernel reshaped to ``(-1, out)``; ``mode="operator"``: the
        wrapped convolution itself on the layer's input size.
        """
        if self.mode == "matrix":
            return MatrixOperator.of_kernel(w)
        return ConvOperator.of_layer(self.layer, w, self._operator_input_shape)

    def _iterate(self, w, v, n):
        """n iterations of eq. (15) (``"auto"``: until converged); the new unit vector."""
        op = self.operator(ops.stop_gradient(w))
        if n == "auto":
            return ops.stop_gradient(self._iterate_to_tolerance(op, v))
        for _ in range(n):
            v, _, _ = power_step(op, v, self.eps)
        return ops.stop_gradient(v)

    def _iterate_to_tolerance(self, op, v):
        # A graph loop (tf.while_loop, lax.while_loop) that stops once the estimate moves
        # by less than tol: a step of training moves the weights little, so it usually
        # stops after a few iterations, and the cost is paid only where the vector lags.
        def step(i, v, previous, growth):
            v_next, _, g = power_step(op, v, self.eps)
            return i + 1, v_next, growth, ops.cast(g, "float32")

        def going(i, v, previous, growth):
            return ops.logical_or(i < 2, ops.abs(growth - previous) > self.tol * growth)

        start = (ops.convert_to_tensor(0, "int32"), v, ops.convert_to_tensor(-1.0, "float32"),
                 ops.convert_to_tensor(0.0, "float32"))
        return ops.while_loop(going, step, start, maximum_iterations=self.max_iterations)[1]

    def _sigma(self, w, v):
        """sigma = |A v| for the stored unit v; differentiable in w only."""
        return norm(self.operator(w).forward(v))

    def normalized_weight(self, training=False):
        """``W / sigma`` in float32; updates the stored vector when ``training``."""
        w = _read_float32(self._weight())
        v = ops.convert_to_tensor(self.vector)
        if training:
            v = self._iterate(w, v, self.power_iterations)
            self.vector.assign(v)
        sigma = ops.maximum(self._sigma(w, ops.stop_gradient(v)), self.eps)
        return w / sigma

    # ------------------------------------------------------------------- call
    def call(self, inputs, training=None):
        if not self._warmed_up and not in_stateless_scope():
            self.warm_up()  # deferred from build; lifted out of any tf.function trace
        w_sn = ops.cast(self.normalized_weight(training=bool(training)), self.layer.compute_dtype)
        # Swap the normalized tensor in for the duration of the wrapped call, so the layer's
        # own call (bias, activation, padding, dilation, ...) runs unchanged on W / sigma.
        with swapped_attribute(self.layer, self._weight_name, w_sn):
            return self.layer.call(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(power_iterations=self.power_iterations, mode=self.mode,
                      warmup_iterations=self.warmup_iterations, eps=self.eps, tol=self.tol,
                      max_iterations=self.max_iterations)
        return config


def _check_group_axis(layer, input_shape):
    axis = layer.axis if layer.axis >= 0 else len(input_shape) + layer.axis
    if not 0 < axis < len(input_shape):
        raise ValueError(f"{type(layer).__name__}: axis {layer.axis} is not a feature axis of inputs of "
                         f"shape {tuple(input_shape)}")
    return axis


@keras.saving.register_keras_serializable(package="lipnb")
class GroupSort(keras.layers.Layer):
    """Sorts the features in groups of ``group_size`` (Anil, Lucas & Grosse 2019).

    Within each group of consecutive features along ``axis`` the values are sorted in
    ascending order. Per input the layer is a permutation, so its Jacobian is orthogonal:
    it is 1-Lipschitz and, unlike relu, keeps the norm of every gradient passing through
    it. A network of norm-constrained layers with these activations can therefore reach
    slope 1, where the same network with relu loses gradient norm layer by layer.
    ``group_size=2`` is the MaxMin activation up to the order of the features.

    Args:
        group_size: features per group (>= 2); must divide the size of ``axis``.
        axis: the feature axis (default the last).

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(GroupSort(2)(np.array([[3.0, 1.0, -1.0, 2.0]], "float32")))
        array([[ 1.,  3., -1.,  2.]], dtype=float32)
    """

    def __init__(self, group_size: int = 2, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = positive_int(group_size, "group_size")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (1 would be the identity), got {group_size}")
        self.axis = integer(axis, "axis")  # a plain int, so that get_config stays JSON

    def build(self, input_shape):
        axis = _check_group_axis(self, input_shape)
        size = input_shape[axis]
        if size is None or size % self.group_size:
            raise ValueError(f"GroupSort: the size of axis {self.axis} ({size}) must be a known multiple of "
                             f"group_size {self.group_size}")
        self.built = True

    def call(self, inputs):
        axis = self.axis if self.axis >= 0 else len(inputs.shape) + self.axis
        moved = ops.moveaxis(inputs, axis, -1)
        shape = ops.shape(moved)
        grouped = ops.reshape(moved, (*shape[:-1], shape[-1] // self.group_size, self.group_size))
        ordered = ops.reshape(ops.sort(grouped, axis=-1), shape)
        return ops.moveaxis(ordered, -1, axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "axis": self.axis}


@keras.saving.register_keras_serializable(package="lipnb")
class MaxMin(keras.layers.Layer):
    """Splits the features along ``axis`` into two halves a, b and returns [max(a, b), min(a, b)].

    The MaxMin activation of Anil, Lucas & Grosse (2019): like :class:`GroupSort` with
    groups of two (pairing feature i with feature i + n/2), a permutation per input, so
    1-Lipschitz and gradient-norm preserving.

    Args:
        axis: the feature axis (default the last); its size must be even.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(MaxMin()(np.array([[3.0, -1.0, 1.0, 2.0]], "float32")))
        array([[ 3.,  2.,  1., -1.]], dtype=float32)
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = integer(axis, "axis")  # a plain int, so that get_config stays JSON

    def build(self, input_shape):
        axis = _check_group_axis(self, input_shape)
        if input_shape[axis] is None or input_shape[axis] % 2:
            raise ValueError(f"MaxMin: the size of axis {self.axis} ({input_shape[axis]}) must be known and even")
        self.built = True

    def call(self, inputs):
        a, b = ops.split(inputs, 2, axis=self.axis)
        return ops.concatenate([ops.maximum(a, b), ops.minimum(a, b)], axis=self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
