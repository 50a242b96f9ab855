"""lipnb's one linear-operator core: every spectral norm in the library goes through here.

The article's eq. (15) alternates ``u <- W v / |W v|`` and ``v <- W^T u / |W^T u|``. It
needs nothing from ``W`` but the map and its adjoint, so lipnb writes it once, over
operators that provide exactly those two:

- :class:`MatrixOperator`: a matrix (a kernel reshaped to ``(-1, out)``) acting on row
  vectors; ``.T`` is its adjoint map. It works on numpy arrays (the float64 norms) and
  on backend tensors (the layer, the regularizer, the projection) alike.
- :class:`ConvOperator`: a Keras convolution (strided, dilated or transposed) on a fixed
  input size, in backend ops, for the layer's in-graph iteration.
- :class:`ZeroPaddedConv`: a zero-padded, strided convolution in float64 numpy, the
  reference behind :func:`lipnb.conv_operator_norm`. It stays apart from
  :class:`ConvOperator` because a norm must be float64 on every backend (JAX computes in
  float32 unless x64 is on); a test checks that the two agree.

On top of them: :func:`power_step` (one iteration of eq. (15)),
:func:`top_singular_pair` (Lanczos through ARPACK, falling back to power iteration; a
zero operator gives 0) and :class:`PersistentVectors` (SN-GAN's vector kept between
training steps, for the regularizer and the projection).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from lipnb.validation import number

__all__ = ["MatrixOperator", "ConvOperator", "ZeroPaddedConv", "NumpyView", "norm", "unit", "power_step",
           "ConvergenceMonitor", "top_singular_pair", "PersistentVectors", "ensure_vectors"]


def _namespace(x):
    """numpy for numpy arrays (float64 norms), ``keras.ops`` for backend tensors."""
    return np if isinstance(x, np.ndarray) else ops


def norm(x):
    """The Euclidean norm of all of ``x``, in ``x``'s namespace."""
    xp = _namespace(x)
    return xp.sqrt(xp.sum(xp.square(x)))


def unit(x, eps: float = 1e-12):
    """``(x / max(|x|, eps), |x|)``; a zero vector stays zero."""
    size = norm(x)
    return x / _namespace(x).maximum(size, eps), size


class MatrixOperator:
    """``x -> M x`` for a matrix ``M`` of shape ``(rows, cols)``, on row vectors ``(1, cols)``.

    For a layer kernel ``M`` is the kernel reshaped to ``(-1, out)``, so the vector the
    layer stores lives in ``R^out``. ``M`` may be a numpy array or a backend tensor; the
    products are computed in its namespace and keep its dtype.
    """

    def __init__(self, m):
        if len(m.shape) != 2:
            raise ValueError(f"MatrixOperator needs a matrix, got shape {tuple(m.shape)}")
        self.m = m
        self.in_shape, self.out_shape = (1, int(m.shape[1])), (1, int(m.shape[0]))

    @classmethod
    def of_kernel(cls, w):
        """The operator of a kernel read as ``(prod(shape[:-1]), shape[-1])`` (SN-GAN's reading)."""
        return cls(_namespace(w).reshape(w, (-1, w.shape[-1])))

    def forward(self, x):
        # (M x^T)^T by reshapes rather than x @ M^T: a transpose of the kernel is a copy
        # and one more op per training step, and its gradient another.
        xp = _namespace(self.m)
        return xp.reshape(xp.matmul(self.m, xp.reshape(x, (-1, 1))), (1, -1))

    def adjoint(self, y):
        return _namespace(self.m).matmul(y, self.m)

    @property
    def T(self):  # noqa: N802 (the usual name of a transpose)
        return _Adjoint(self)


class _Adjoint:
    """The adjoint map of an operator: forward and adjoint swapped."""

    def __init__(self, op):
        self.op, self.in_shape, self.out_shape = op, op.out_shape, op.in_shape

    def forward(self, x):
        return self.op.adjoint(x)

    def adjoint(self, y):
        return self.op.forward(y)

    @property
    def T(self):  # noqa: N802
        return self.op


class ConvOperator:
    """A Keras convolution with kernel ``w`` on inputs of shape ``in_shape = (1, *spatial, C)``.

    ``forward`` is the convolution the layer computes (``ops.conv``, or
    ``ops.conv_transpose`` for a transposed layer), without bias. ``adjoint`` is its
    transpose: on TensorFlow the matching ``conv_transpose``/``convolution`` pair, which
    its gradient kernels are; elsewhere the backend's vector-Jacobian product of
    ``forward``, which is the adjoint by definition for a linear map.
    """

    def __init__(self, w, in_shape, out_shape, *, strides, padding: str, dilation_rate,
                 transposed: bool = False, output_padding=None):
        self.w, self.in_shape, self.out_shape = w, tuple(in_shape), tuple(out_shape)
        self.strides, self.padding, self.dilation_rate = list(strides), padding, list(dilation_rate)
        self.transposed, self.output_padding = bool(transposed), output_padding

    @classmethod
    def of_layer(cls, layer, w, in_shape):
        """The operator of a Keras ``Conv*``/``Conv*Transpose`` layer, with kernel ``w``."""
        out_shape = (1, *layer.compute_output_shape(tuple(in_shape))[1:])
        transposed = type(layer).__name__.endswith("Transpose")
        return cls(w, in_shape, out_shape, strides=layer.strides, padding=layer.padding,
                   dilation_rate=layer.dilation_rate, transposed=transposed,
                   output_padding=getattr(layer, "output_padding", None) if transposed else None)

    def _tf_conv(self, x, transposed_op, output_shape):
        import tensorflow as tf

        padding = self.padding.upper()
        if transposed_op:
            return tf.nn.conv_transpose(x, self.w, output_shape=output_shape, strides=self.strides,
                                        padding=padding, dilations=self.dilation_rate)
        return tf.nn.convolution(x, self.w, strides=self.strides, padding=padding, dilations=self.dilation_rate)

    def forward(self, x):
        from lipnb import backend

        if backend.name() == "tensorflow":
            return self._tf_conv(x, self.transposed, self.out_shape)
        if self.transposed:
            return ops.conv_transpose(x, self.w, strides=self.strides, padding=self.padding,
                                      output_padding=self.output_padding, dilation_rate=self.dilation_rate)
        return ops.conv(x, self.w, strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)

    def adjoint(self, y):
        from lipnb import backend

        if backend.name() == "tensorflow":
            return self._tf_conv(y, not self.transposed, self.in_shape)
        return backend.linear_adjoint(self.forward, self.in_shape, y, dtype=y.dtype)

    @property
    def T(self):  # noqa: N802
        return _Adjoint(self)


class NumpyView:
    """A backend-tensor operator seen as a numpy one (for ARPACK), computing in ``dtype``."""

    def __init__(self, op, dtype):
        self.op, self.dtype, self.in_shape, self.out_shape = op, dtype, op.in_shape, op.out_shape

    def forward(self, x):
        return np.asarray(ops.convert_to_numpy(self.op.forward(ops.convert_to_tensor(x, self.dtype))), np.float64)

    def adjoint(self, y):
        return np.asarray(ops.convert_to_numpy(self.op.adjoint(ops.convert_to_tensor(y, self.dtype))), np.float64)


def _pads(spatial, ks, strides, padding):
    """Output sizes and (before, after) zero padding of Keras's "same"/"valid" convolutions."""
    if padding == "valid":
        out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, ks, strides))
        if any(o < 1 for o in out):
            raise ValueError(f"a 'valid' convolution with kernel {tuple(ks)} has no output on an input of "
                             f"size {tuple(spatial)}; use a larger input or 'same' padding")
        return out, [(0, 0)] * len(spatial)
    out = tuple(-(-n // s) for n, s in zip(spatial, strides))
    pads = []
    for n, k, s, o in zip(spatial, ks, strides, out):
        total = max((o - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return out, pads


class ZeroPaddedConv:
    """A zero-padded, strided convolution and its adjoint, in float64 numpy.

    ``forward`` and ``adjoint`` take batches ``(n, *spatial, C)``. The adjoint scatters
    each output back through the kernel taps it came from, so ``<A x, y> = <x, A^T y>``
    exactly (up to rounding), with no framework involved.
    """

    def __init__(self, k: np.ndarray, spatial, strides, padding: str):
        self.k, self.spatial, self.strides = k, tuple(spatial), tuple(strides)
        self.out_spatial, self.pads = _pads(self.spatial, k.shape[:-2], self.strides, padding)
        self.padded = tuple(n + b + a for n, (b, a) in zip(self.spatial, self.pads))
        self.in_shape = (1, *self.spatial, k.shape[-2])
        self.out_shape = (1, *self.out_spatial, k.shape[-1])

    def _window(self, offsets):
        return (slice(None),) + tuple(slice(o, o + s * (n - 1) + 1, s)
                                      for o, s, n in zip(offsets, self.strides, self.out_spatial))

    def forward(self, x):
        x = np.pad(np.reshape(x, (-1, *self.in_shape[1:])), [(0, 0)] + self.pads + [(0, 0)])
        out = np.zeros((len(x), *self.out_spatial, self.k.shape[-1]))
        for offsets in np.ndindex(*self.k.shape[:-2]):
            out += x[self._window(offsets)] @ self.k[offsets]
        return out

    def adjoint(self, y):
        y = np.reshape(y, (-1, *self.out_shape[1:]))
        grad = np.zeros((len(y), *self.padded, self.k.shape[-2]))
        for offsets in np.ndindex(*self.k.shape[:-2]):
            grad[self._window(offsets)] += y @ self.k[offsets].T
        crop = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in zip(self.spatial, self.pads))
        return grad[crop]

    @property
    def T(self):  # noqa: N802
        return _Adjoint(self)


def power_step(op, x, eps: float = 1e-12):
    """One iteration of eq. (15) from the unit vector ``x``, in ``x``'s namespace.

    Returns:
        ``(x_next, u, growth)``: ``u = A x / |A x|``, ``x_next = A^T u / |A^T u|`` and
        ``growth = |A^T u|``, a lower bound on the top singular value that converges to
        it. ``growth`` is 0 only when ``A x = 0`` (a zero map, or ``x`` in its null space),
        and then ``x_next`` is the zero vector. Gradients flow through all of it; callers
        that hold the vectors constant stop them.
    """
    u, _ = unit(op.forward(x), eps)
    x_next, growth = unit(op.adjoint(u), eps)
    return x_next, u, growth


class ConvergenceMonitor:
    """Decides when a geometrically converging sequence has converged.

    Power iteration's changes shrink by a factor ``q`` per step (``(s2/s1)^4`` for the
    estimate, ``(s2/s1)^2`` for the vector). A small change alone is not convergence when
    ``q`` is close to 1, so the error left is extrapolated as ``change / (1 - q)``, with
    ``q`` the largest ratio of successive changes over a recent window.
    """

    def __init__(self, tol: float, window: int = 5):
        number(tol, "tol", minimum=0.0, strict=True)
        self.tol, self.window = float(tol), int(window)
        self.changes: list[float] = []

    def converged(self, change: float, scale: float = 1.0) -> bool:
        """Record the latest change; True once the extrapolated error is below tol * scale."""
        self.changes.append(float(change))
        if change == 0.0 and len(self.changes) > 1:
            return True
        recent = self.changes[-self.window - 1:]
        if len(recent) <= self.window:
            return False
        ratios = [b / a for a, b in zip(recent, recent[1:]) if a > 0]
        q = max(ratios) if ratios else 1.0
        return q < 1.0 and change / (1.0 - q) <= self.tol * abs(scale)


def _probe(op):
    """A fixed random input, and whether ``op`` maps it to zero (then ``op`` is the zero map,
    up to probability 0)."""
    probe = np.random.default_rng(12345).standard_normal(op.in_shape)
    return probe, not np.any(np.asarray(op.forward(probe)))


def _null_start(op, what, restart):
    """The start vector is in ``op``'s null space: 0 is then the right answer only for the
    zero map. Returns a new start, or None for the zero map; raises if ``restart`` is off."""
    probe, zero_map = _probe(op)
    if zero_map:
        return None
    if not restart:
        raise ValueError(f"{what}: the start vector lies in the null space of the operator (its image is zero), "
                         f"so power iteration cannot leave it and would return 0 for a nonzero operator; "
                         f"start from another vector (u0=None: a random one)")
    return probe


def _power_method(op, x, tol, max_iterations, what, restart=True):
    x, _ = unit(x)
    monitor, previous = ConvergenceMonitor(tol), 0.0
    for _ in range(max_iterations):
        x_next, _, growth = power_step(op, x)
        growth = float(growth)
        if growth == 0.0:  # only from a start in the null space: every later iterate has a nonzero image
            fresh = _null_start(op, what, restart)
            if fresh is None:  # the zero map: any unit vector is a top singular vector
                return 0.0, x
            x, _ = unit(fresh)
            continue
        x = x_next
        if monitor.converged(abs(growth - previous), growth):
            break
        previous = growth
    else:
        warnings.warn(f"{what}: power iteration stopped at max_iterations={max_iterations} before reaching "
                      f"tol={tol:g}; the estimate is a lower bound that may be off by more", RuntimeWarning,
                      stacklevel=4)  # the caller of the public function that called top_singular_pair
    return float(unit(op.forward(x))[1]), x


def top_singular_pair(op, start, *, tol: float = 1e-10, max_iterations: int = 2000, method: str = "lanczos",
                      what: str = "top_singular_pair", restart: bool = True):
    """The largest singular value of a float64 numpy operator and its right singular vector.

    Args:
        op: an operator with numpy ``forward``/``adjoint`` and ``in_shape``/``out_shape``.
        start: start vector of ``op.in_shape`` (any scale; not orthogonal to the answer).
        tol: relative tolerance.
        max_iterations: cap on Lanczos restarts' iterations, and on power iterations.
        method: ``"lanczos"`` (ARPACK, robust to the clustered top singular values that
            make power iteration crawl: notebook 04) or ``"power"`` (eq. (15) only).
        what: the caller's name, for the warning when power iteration stops early.
        restart: what to do with a start in the operator's null space, from which neither
            method can leave: start again from a fixed random vector (True), or raise
            ValueError (False: the caller chose the start and should hear of it).

    Returns:
        ``(sigma, v)`` with ``v`` a unit vector of ``op.in_shape``; for a zero operator,
        ``(0.0, the start scaled to unit length)``.
    """
    start = np.asarray(start, np.float64).reshape(op.in_shape)
    n_in, n_out = int(np.prod(op.in_shape)), int(np.prod(op.out_shape))
    if method == "lanczos" and min(n_in, n_out) >= 2:  # ARPACK needs k=1 < min(shape)
        from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, svds

        linear = LinearOperator((n_out, n_in), dtype=np.float64,
                                matvec=lambda x: np.ravel(op.forward(np.reshape(x, op.in_shape))),
                                rmatvec=lambda y: np.ravel(op.adjoint(np.reshape(y, op.out_shape))))
        image = linear.matvec(start.ravel())
        if not np.any(image) and np.any(start):  # a start in the null space: the same rule as power iteration
            fresh = _null_start(op, what, restart)
            if fresh is None:
                return 0.0, start / np.linalg.norm(start)
            start = fresh
            image = linear.matvec(start.ravel())
        v0 = start.ravel() if n_in <= n_out else image  # svds starts on the smaller side
        if np.any(v0):
            try:
                _, s, vt = svds(linear, k=1, tol=tol, maxiter=max_iterations, v0=v0)
                return float(s[0]), vt[0].reshape(op.in_shape)
            except (ArpackNoConvergence, ArpackError):  # fall back to power iteration
                pass
    return _power_method(op, start, tol, max_iterations, what, restart)


class PersistentVectors:
    """One right singular vector per variable, kept between calls, created on first use.

    This is SN-GAN's trick for the regularizer and the projection: the weights move
    little per step, so one iteration of eq. (15) from last step's vector tracks the norm.

    Args:
        seed: first component of the stateless seed of each start vector.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._vectors = {}
        self._paths = {}  # id(variable) -> its path, for the variables ensure() was given

    def _store(self, key, out_dim):
        from lipnb import backend

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

    def ensure(self, w) -> keras.Variable:
        """The vector of Keras variable ``w``, created now (eagerly) if it does not exist,
        with the start it would get on first use: a compiled step can then carry it."""
        self._paths[id(w)] = w.path
        return self._store(w.path, int(w.shape[-1]))  # the kernel read as (-1, out): MatrixOperator.of_kernel

    def _key(self, w, shape):
        """Keras variables by path; others by id and shape, since an id can be reused once
        its variable is gone (a vector of the wrong length would break the product; one of
        the right length is only a start, which iteration fixes)."""
        path = getattr(w, "path", None)
        if path is not None:
            return path
        from lipnb._keras_compat import get_stateless_scope

        # In a stateless scope Keras hands a regularizer the variable's current value, not
        # the variable: find which variable holds it.
        scope = get_stateless_scope()
        if scope is not None:
            for variable_id, value in scope.state_mapping.items():
                if value is w and variable_id in self._paths:
                    return self._paths[variable_id]
        return (id(w), shape)

    def iterate(self, w, iterations: int):
        """Run eq. (15) on ``w`` read as an ``(in, out)`` matrix; store and return the vectors.

        Returns:
            ``(op, left, right)``: the float32 :class:`MatrixOperator` (differentiable in
            ``w``) and the unit vectors ``left`` (1, in) and ``right`` (1, out), held
            constant for gradients, so that :meth:`estimate` is the norm estimate with
            gradient ``left^T right``.
        """
        from lipnb import backend
        from lipnb._keras_compat import in_stateless_scope

        x = ops.cast(w, "float32")
        if len(x.shape) < 2:
            raise ValueError(f"need a kernel of rank >= 2, got shape {x.shape}")
        op = MatrixOperator.of_kernel(x)
        key = self._key(w, tuple(op.m.shape))  # one vector per variable
        constant = MatrixOperator(ops.stop_gradient(op.m))
        persists = key in self._vectors and backend.carries_state()
        if not persists and (backend.is_traced(constant.m) or in_stateless_scope()):
            # No vector can persist to the next step here: inside a traced JAX step that
            # does not carry state outside the model (Keras's own trainer), or where the
            # vector does not exist yet and no variable may be created (a jitted step;
            # Keras's shape inference on PyTorch). One iteration from a fixed start would
            # estimate nothing: use the exact top singular pair instead. lipnb's compiled
            # steps create the vectors first (ensure_vectors) and carry them.
            u, _, vt = ops.svd(constant.m, full_matrices=False)
            return op, ops.stop_gradient(ops.reshape(u[:, 0], (1, -1))), ops.stop_gradient(vt[:1])
        store = self._store(key, op.in_shape[1])
        right = ops.convert_to_tensor(store)
        for _ in range(iterations):
            right, left, _ = power_step(constant, right)
        store.assign(right)
        return op, ops.stop_gradient(left), ops.stop_gradient(right)

    @staticmethod
    def estimate(op, left, right):
        """``left^T M right``: differentiable in ``M``, with the vectors held constant."""
        return ops.sum(op.forward(right) * left)


def ensure_vectors(model) -> list:
    """Create the persistent vectors of every lipnb regularizer and constraint on
    ``model``'s trainable variables (``SpectralNormRegularizer``, ``SpectralProjection``),
    in variable order, as first use would; return them in that order.

    lipnb's compiled steps on JAX carry these vectors from step to step only if they exist
    before the step is traced; otherwise the regularizer and the projection fall back to
    exact norms. Two models of one architecture return twin lists.
    """
    vectors = []
    for variable in model.trainable_variables:
        for attached in (getattr(variable, "regularizer", None), getattr(variable, "constraint", None)):
            store = getattr(attached, "_vectors", None)
            if isinstance(store, PersistentVectors) and len(variable.shape) >= 2:
                vectors.append(store.ensure(variable))
    return vectors
