"""Upper and lower bounds on a network's Lipschitz constant (article eqs. (3)-(8)).

The upper bound multiplies, layer by layer, each linear map's operator norm by the
largest derivative of the activation that follows it. A lower bound is any measured
local slope: a Jacobian's spectral norm at a point, or a finite-difference ratio
``|f(x) - f(y)| / |x - y|``.
"""

from __future__ import annotations

import warnings

import numpy as np

from lipnb import validation
from lipnb._keras_compat import producer
from lipnb.norms import spectral_norm
from lipnb.validation import number, one_of, positive_int, to_numpy

__all__ = [
    "ACTIVATION_LIPSCHITZ",
    "activation_lipschitz",
    "lipschitz_upper_bound",
    "jacobian_spectral_norms",
    "finite_difference_ratios",
    "lipschitz_lower_bound",
    "normalized_layer_sigmas",
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
    # Rounded up, never down: a bound must not be low. gelu: max of Phi(x) + x phi(x),
    # 1.128904 at x = sqrt(2); its tanh approximation (keras.ops.gelu's and jax.nn.gelu's
    # default) peaks at 1.128993. silu: max of s(x) + x s(x)(1 - s(x)), 1.099839 at x ~ 2.40.
    "gelu": 1.1290,
    "silu": 1.0999,
    "swish": 1.0999,
}


def activation_lipschitz(activation) -> float:
    """The largest absolute derivative of an activation: a name, or Keras's function of it.

    Raises:
        ValueError: any other activation. A callable is trusted only if it is Keras's own
            function of a name in ``lipnb.ACTIVATION_LIPSCHITZ``: a user function, a
            ``functools.partial`` or a layer used as an activation may have any slope
            (``partial(leaky_relu, negative_slope=5)`` has 5), and a bound that guessed
            would certify what is not so.
    """

    known = ", ".join(sorted(ACTIVATION_LIPSCHITZ))
    if isinstance(activation, str):
        if activation not in ACTIVATION_LIPSCHITZ:
            raise ValueError(f"unknown activation {activation!r}: its derivative bound is not in "
                             f"lipnb.ACTIVATION_LIPSCHITZ ({known})")
        return ACTIVATION_LIPSCHITZ[activation]
    if activation is None:
        return 1.0  # Keras's default: linear
    name = getattr(activation, "__name__", None)
    if name in ACTIVATION_LIPSCHITZ and any(activation is f for f in _library_functions(name)):
        return ACTIVATION_LIPSCHITZ[name]
    raise ValueError(f"cannot bound the activation {activation!r}: lipnb knows the slopes of {known} only, by name "
                     f"or as the function of that name in keras.activations, keras.ops, tf.nn, jax.nn or "
                     f"torch.nn.functional (with its default parameters); use a layer it bounds instead "
                     f"(e.g. keras.layers.LeakyReLU(negative_slope))")


# The libraries' own functions of these names have the slopes of the table at their
# default parameters (tf.keras 2's hard_sigmoid, slope 0.2, is not one of them).
_BACKEND_ACTIVATIONS = ("relu", "relu6", "elu", "tanh", "sigmoid", "softplus", "softsign", "gelu", "silu",
                        "swish", "leaky_relu")


def _library_functions(name):
    """The functions called ``name`` in Keras, and in the backend libraries already loaded."""
    import sys

    import keras

    found = [getattr(keras.ops, name, None)]
    try:
        found.append(keras.activations.get(name))
    except ValueError:
        pass
    if name in _BACKEND_ACTIVATIONS:
        for module in ("tensorflow.nn", "jax.nn", "torch.nn.functional"):
            top, *path = module.split(".")
            namespace = sys.modules.get(top)  # never import a backend just to compare
            for attribute in path:
                namespace = getattr(namespace, attribute, None)
            found.append(getattr(namespace, name, None))
    return [f for f in found if f is not None]


_NEUTRAL_LAYERS = {"InputLayer", "Dropout", "Flatten", "Reshape", "GaussianNoise", "GaussianDropout",
                   "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D", "ZeroPadding1D",
                   "ZeroPadding2D", "Cropping1D", "Cropping2D", "Permute", "Identity",
                   "GroupSort", "MaxMin"}  # permutations per input: 1-Lipschitz


def _layer_lipschitz(layer, input_shape, conv_method="exact") -> float:
    """Upper bound on one single-input layer's Lipschitz constant (2-norms)."""
    import keras

    from lipnb.layers import SpectralNormalization

    kind = type(layer).__name__
    if kind in _NEUTRAL_LAYERS:
        return 1.0
    if isinstance(layer, SpectralNormalization):
        if layer.mode == "operator" and conv_method == "exact":
            # The operator the layer normalizes by is its convolution on this input size,
            # transposed ones included.
            if not isinstance(layer.layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                                            keras.layers.Conv2DTranspose, keras.layers.Conv1DTranspose)):
                raise ValueError(f"lipschitz_upper_bound cannot bound layer {layer.name!r} wrapping "
                                 f"{type(layer.layer).__name__}")
            return _operator_norm(layer) * activation_lipschitz(layer.layer.activation)
        kernel = keras.ops.convert_to_numpy(layer.normalized_weight(training=False))
        return _linear_lipschitz(layer.layer, kernel, input_shape, conv_method)
    if isinstance(layer, keras.layers.SpectralNormalization):
        # Keras's wrapper computes with whatever kernel is stored (it normalizes the
        # stored kernel only during training calls), so bound that kernel as is.
        return _linear_lipschitz(layer.layer, layer.layer.kernel.numpy(), input_shape, conv_method)
    if isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)):
        return _linear_lipschitz(layer, layer.kernel.numpy(), input_shape, conv_method)
    if isinstance(layer, keras.layers.Activation):
        return activation_lipschitz(layer.activation)
    if kind == "ReLU":  # x from the threshold up (capped at max_value), negative_slope * (x - threshold) below
        if float(layer.threshold) != 0.0:  # it jumps from 0 to the threshold there: no Lipschitz constant
            raise ValueError(f"lipschitz_upper_bound: {layer.name!r} (ReLU with threshold={layer.threshold}) is "
                             f"discontinuous at its threshold, so no Lipschitz bound exists")
        return max(1.0, abs(float(layer.negative_slope)))
    if kind == "ELU":  # alpha * (exp(x) - 1) for x < 0: slope up to |alpha| just below 0
        return max(1.0, abs(float(layer.alpha)))
    if kind == "LeakyReLU":
        return max(1.0, abs(float(layer.negative_slope)))
    if kind in ("AveragePooling1D", "AveragePooling2D"):
        pool, strides = tuple(layer.pool_size), tuple(layer.strides)
        if pool != strides:
            raise ValueError(f"lipschitz_upper_bound supports non-overlapping pooling only ({layer.name!r})")
        return _average_pool_norm(layer, pool, input_shape)
    if kind in ("MaxPooling1D", "MaxPooling2D"):
        if tuple(layer.pool_size) != tuple(layer.strides):
            raise ValueError(f"lipschitz_upper_bound supports non-overlapping pooling only ({layer.name!r})")
        return 1.0
    if kind in ("GlobalAveragePooling1D", "GlobalAveragePooling2D"):
        dims = _spatial_dims(layer, input_shape)
        if any(d is None for d in dims):
            return 1.0
        return 1.0 / float(np.sqrt(np.prod(dims)))
    if kind in ("GlobalMaxPooling1D", "GlobalMaxPooling2D"):
        return 1.0
    if kind == "Rescaling":  # x * scale + offset: a scalar (or per-channel) scale
        return float(np.max(np.abs(np.asarray(layer.scale, dtype=np.float64))))
    if kind == "BatchNormalization":  # affine at inference: gamma / sqrt(var + eps)
        scale = np.ones(layer.moving_variance.shape) if layer.gamma is None else np.abs(layer.gamma.numpy())
        return float(np.max(scale / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)))
    raise ValueError(f"lipschitz_upper_bound cannot bound layer {layer.name!r} of type {kind}")


def _spatial_dims(layer, input_shape):
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    return tuple(input_shape[1:-1] if channels_last else input_shape[2:])


def _window_norm(real: int, before: int, after: int, k: int, replicate: bool) -> float:
    """l2 norm of the weights of one average-pooling window that covers ``real`` inputs
    and hangs ``before``/``after`` places over the border (``before + real + after = k``).

    Keras's TensorFlow and JAX backends average over the real inputs only (weights
    1/real); its PyTorch backend may pad by repeating the edge inputs and divide by k, so
    an edge input weighs (1 + its padding)/k; there the larger of the two bounds either.
    """
    own = 1.0 / np.sqrt(real)
    if not replicate or before == after == 0:
        return own
    counts = np.ones(real)
    counts[0] += before
    counts[-1] += after
    return max(own, float(np.linalg.norm(counts)) / k)


def _average_pool_norm(layer, pool, input_shape) -> float:
    """Operator norm of a non-overlapping average pooling: windows share no input, so the
    norm is the largest window's weight norm, a product over the spatial axes."""
    if layer.padding == "valid":
        return 1.0 / float(np.sqrt(np.prod(pool)))  # every window is full
    dims = _spatial_dims(layer, input_shape)
    if any(d is None for d in dims):
        return 1.0  # unknown size: no window's weights exceed norm 1 (one input, weight at most 1)
    import keras

    replicate = keras.backend.backend() == "torch"
    norm = 1.0
    for d, k in zip(dims, pool):
        d, windows = int(d), -(-int(d) // k)
        pad = windows * k - d
        before, after = pad // 2, pad - pad // 2  # Keras puts the smaller half first
        if windows == 1:
            norm *= _window_norm(d, before, after, k, replicate)
        else:
            norm *= max(1.0 / np.sqrt(k), _window_norm(k - before, before, 0, k, replicate),
                        _window_norm(k - after, 0, after, k, replicate))
    return float(norm)


def _operator_norm(sn_layer) -> float:
    """Exact norm of the operator a ``mode="operator"`` SpectralNormalization layer computes
    with: its wrapped convolution with the normalized kernel, on the layer's input size."""
    import keras

    from lipnb import backend
    from lipnb.conv import conv_operator_norm
    from lipnb.operators import NumpyView, top_singular_pair

    inner = sn_layer.layer
    w = sn_layer.normalized_weight(training=False)
    if not type(inner).__name__.endswith("Transpose") and all(d == 1 for d in inner.dilation_rate):
        # numpy in float64 on every backend
        return conv_operator_norm(keras.ops.convert_to_numpy(w).astype(np.float64),
                                  tuple(sn_layer.vector.shape[1:]), inner.strides, inner.padding)
    # Transposed (or dilated) convolutions: the layer's own operator, in the widest float
    # the backend has. In float32 (JAX without x64) round-off could put the norm a few
    # parts in 1e8 low; a bound must not be low, so raise it by 1e-6 relative then.
    wide = backend.float64()
    op = NumpyView(sn_layer.operator(keras.ops.cast(w, wide)), wide)
    start = np.random.default_rng(0).standard_normal(op.in_shape)
    sigma, _ = top_singular_pair(op, start, tol=1e-10, what="the operator norm of a SpectralNormalization layer")
    return sigma if wide == "float64" else sigma * (1 + 1e-6)


def _linear_lipschitz(layer, kernel, input_shape, conv_method="exact") -> float:
    import keras

    if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)):
        raise ValueError(f"lipschitz_upper_bound cannot bound layer {layer.name!r} of type {type(layer).__name__}")
    act = activation_lipschitz(layer.activation)
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
        from lipnb.conv import conv_operator_norm, conv_operator_norm_bound

        if layer.data_format != "channels_last" or any(d != 1 for d in layer.dilation_rate) \
                or getattr(layer, "groups", 1) != 1:
            raise ValueError(f"lipschitz_upper_bound supports channels_last, undilated, ungrouped "
                             f"convolutions only ({layer.name!r})")
        if type(layer).__name__.endswith("Transpose"):
            raise ValueError(f"lipschitz_upper_bound does not bound transposed convolutions ({layer.name!r})")
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"layer {layer.name!r} needs a known input size for its operator norm")
        if conv_method == "certified":
            norm = conv_operator_norm_bound(kernel, input_shape[1:], layer.strides, layer.padding)
        else:
            norm = conv_operator_norm(kernel, input_shape[1:], layer.strides, layer.padding)
        return norm * act
    return spectral_norm(kernel) * act


def lipschitz_upper_bound(model, conv_method: str = "exact") -> float:
    """Upper bound on a Keras model's Lipschitz constant (2-norms).

    Walks the model's graph from its input: each layer multiplies the bound by its
    operator norm times its activation's derivative bound. Convolutions use their true
    operator norm on the layer's input size, not the reshaped-kernel norm:
    ``conv_method="exact"`` computes it by Lanczos to 1e-9 relative accuracy;
    ``"certified"`` uses the FFT norm on the zero-padded canvas, a guaranteed but looser
    bound. A residual ``Add`` (or ``Subtract``) sums its branches'
    bounds, ``Average`` averages them and ``Concatenate`` takes the root of the sum of
    squares. ``lipnb.SpectralNormalization`` layers contribute the norm of ``W/sigma``.

    Supported: Dense, Conv1D/2D, SpectralNormalization of those, activations, dropout
    and reshaping layers, non-overlapping pooling, BatchNormalization (inference),
    Add/Subtract/Average/Concatenate and nested models, for single-input models.

    Raises:
        ValueError: a layer this function cannot bound, or a model with several inputs.
    """
    import keras

    one_of(conv_method, "conv_method", ("exact", "certified"))
    if isinstance(model, keras.Sequential) and not model.built:
        raise ValueError("the model is not built: call it once or give it a keras.Input")
    inputs = getattr(model, "inputs", None)
    if inputs is None:  # a subclassed model has no graph to walk
        raise ValueError(f"lipschitz_upper_bound needs a Sequential or functional model (a graph of "
                         f"layers); {type(model).__name__} is a subclassed model without one")
    if len(inputs) != 1:
        raise ValueError(f"lipschitz_upper_bound needs a single-input model, got {len(inputs)} inputs")
    memo = {id(inputs[0]): 1.0}

    def bound(tensor) -> float:
        if id(tensor) in memo:
            return memo[id(tensor)]
        op, parents = producer(tensor)
        kind = type(op).__name__
        if kind in ("Add", "Subtract"):
            value = sum(bound(t) for t in parents)
        elif kind == "Average":
            value = sum(bound(t) for t in parents) / len(parents)
        elif kind == "Concatenate":
            value = float(np.sqrt(sum(bound(t) ** 2 for t in parents)))
        elif len(parents) != 1:
            raise ValueError(f"lipschitz_upper_bound cannot combine the inputs of {op.name!r} ({kind})")
        elif isinstance(op, keras.Model):
            value = lipschitz_upper_bound(op, conv_method) * bound(parents[0])
        else:
            value = _layer_lipschitz(op, tuple(parents[0].shape), conv_method) * bound(parents[0])
        memo[id(tensor)] = value
        return value

    outputs = model.outputs
    return float(max(bound(t) for t in outputs))


def _check_batch(x, name="x") -> np.ndarray:
    return validation.batch(x, name)


def jacobian_spectral_norms(model, x, batch_size: int = 256) -> np.ndarray:
    """Spectral norm of the input-output Jacobian at each point of ``x``.

    Each value is a lower bound on the model's Lipschitz constant.

    Args:
        model: a Keras model mapping a batch ``(n, ...)`` to outputs ``(n, ...)``.
        x: inputs, shape ``(n, ...)``.

    Returns:
        ``np.ndarray`` of shape ``(n,)``.
    """
    from keras import ops

    from lipnb import backend

    arr = _check_batch(x)
    batch_size = positive_int(batch_size, "batch_size")
    n_out = int(np.prod(ops.shape(model(arr[:1], training=False))[1:]))

    def jacobian(xb):
        # Examples are independent at inference: one Jacobian per example, (n, outputs, inputs).
        n = ops.shape(xb)[0]
        jac = backend.input_jacobian(lambda t: ops.reshape(model(t, training=False), (n, -1)), xb)
        return ops.reshape(jac, (n, n_out, -1))

    if backend.name() == "jax":
        # Eagerly, JAX dispatches (and first compiles) every op of every gradient on its
        # own, which on a GPU costs far more than the gradients; traced once, it does not.
        # TensorFlow's eager gradients are fast, and its recorded values stay as they were.
        # The weights go in as arguments, not constants: every model of one architecture
        # then compiles to the same program, which JAX's compilation cache reuses.
        jacobian = backend.compile_stateful(jacobian, model.variables)
    norms = []
    for start in range(0, len(arr), batch_size):
        jac = ops.convert_to_numpy(jacobian(arr[start:start + batch_size]))
        norms.append(np.linalg.norm(jac.astype(np.float64), ord=2, axis=(1, 2)))
    return np.concatenate(norms)


def finite_difference_ratios(model, x1, x2) -> np.ndarray:
    """``|f(x1) - f(x2)| / |x1 - x2|`` per pair, each a lower bound on the constant."""
    a, b = _check_batch(x1, "x1"), _check_batch(x2, "x2")
    if a.shape != b.shape:
        raise ValueError(f"x1 and x2 must have the same shape, got {a.shape} and {b.shape}")
    fa = to_numpy(model(a, training=False)).astype(np.float64).reshape(len(a), -1)
    fb = to_numpy(model(b, training=False)).astype(np.float64).reshape(len(b), -1)
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
    from keras import ops

    from lipnb import backend

    steps = positive_int(steps, "steps")
    learning_rate = number(learning_rate, "learning_rate", minimum=0.0, strict=True)
    radius = number(radius, "radius", minimum=0.0, strict=True)
    arr = _check_batch(x)
    best = float(np.max(jacobian_spectral_norms(model, arr)))
    rng = np.random.default_rng(seed)
    d0 = rng.standard_normal(arr.shape).astype(np.float32)
    d0 *= radius / np.linalg.norm(d0.reshape(len(d0), -1), axis=1).reshape((-1,) + (1,) * (arr.ndim - 1))
    xv, dv = keras.Variable(arr), keras.Variable(d0)
    opt = keras.optimizers.Adam(learning_rate)
    opt.build([xv, dv])

    def ratios():
        # float32 outputs: under mixed precision the model returns float16.
        fy = ops.reshape(ops.cast(model(xv + dv, training=False), "float32"), (len(arr), -1))
        fx = ops.reshape(ops.cast(model(xv, training=False), "float32"), (len(arr), -1))
        ratio = ops.norm(fy - fx, axis=1) / ops.norm(ops.reshape(dv, (len(arr), -1)), axis=1)
        return -ops.sum(ratio), ratio

    def ascent_step():
        (_, ratio), grads = backend.value_and_grad(ratios, [xv, dv])
        opt.apply_gradients(zip(grads, [xv, dv]))
        return ratio

    # One traced step instead of eager op dispatch (tf.function; jax.jit over the ascent's
    # state, the points, the directions and Adam's slots, and over the model's weights, so
    # that models of one architecture share one compiled program).
    ascent_step = backend.compile_stateful(ascent_step, [xv, dv, *opt.variables, *model.variables])
    for _ in range(steps):
        ratios_now = ops.convert_to_numpy(ascent_step())
        finite = ratios_now[np.isfinite(ratios_now)]
        if finite.size:
            best = max(best, float(np.max(finite)))
    final = ops.convert_to_numpy(xv)
    if np.all(np.isfinite(final)):
        best = max(best, float(np.max(jacobian_spectral_norms(model, final))))
    else:
        warnings.warn(f"lipschitz_lower_bound: the ascent diverged (learning_rate={learning_rate:g} too large?); "
                      f"the bound is the largest slope found before it did", RuntimeWarning, stacklevel=2)
    return best


def normalized_layer_sigmas(model) -> dict:
    """Exact spectral norm of each spectrally normalized layer's weight, as trained.

    For every ``lipnb.SpectralNormalization`` in ``model`` (nested models included) this
    is ``sigma(W / sigma_estimate)`` with the stored power-iteration vector as it is, the
    quantity SN-GAN reports staying within 1-1.05. ``mode="matrix"`` layers are measured
    on the reshaped kernel they normalize; ``mode="operator"`` layers by their operator
    norm on the layer's input size.

    Returns:
        ``{layer name: sigma}`` in model order.

    Raises:
        ValueError: the model has no spectrally normalized layer.
    """
    import keras

    from lipnb.layers import SpectralNormalization

    sigmas = {}

    def visit(layer):
        if isinstance(layer, SpectralNormalization):
            if layer.mode == "operator":  # the operator the layer normalizes by, whatever its kind of convolution
                sigmas[layer.name] = _operator_norm(layer)
            else:
                w = keras.ops.convert_to_numpy(layer.normalized_weight(training=False)).astype(np.float64)
                sigmas[layer.name] = spectral_norm(w)
        elif isinstance(layer, keras.Model):
            for sub in layer.layers:
                visit(sub)

    for layer in (model.layers if isinstance(model, keras.Model) else [model]):
        visit(layer)
    if not sigmas:
        raise ValueError(f"{getattr(model, 'name', model)!r} has no lipnb.SpectralNormalization layer")
    return sigmas
