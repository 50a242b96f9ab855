"""Matrix norms behind the article's Lipschitz bounds (article eqs. (7)-(20)).

All functions accept numpy arrays or TensorFlow tensors/variables in float32 or
float64. A kernel of rank above 2 is read as an ``(in_dim, out_dim)`` matrix by
flattening every axis but the last, as the article's Keras code does
(``K.reshape(w, (-1, K.int_shape(w)[-1]))``). For convolutions this is the
*reshaped-kernel* norm, not the operator norm of the convolution: see
``lipnb.conv_operator_norm`` for the latter.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from lipnb.operators import MatrixOperator, power_step, top_singular_pair
from lipnb.validation import one_of, positive_int, to_numpy

__all__ = [
    "as_matrix",
    "frobenius_norm",
    "spectral_norm",
    "stable_rank",
    "power_iteration",
    "PowerIterationResult",
]


def as_matrix(w, name: str = "w") -> np.ndarray:
    """Validate ``w`` and return it as a 2-D floating numpy matrix.

    Args:
        w: array-like or TF tensor/variable of rank >= 2.
        name: how error messages refer to the argument.

    Returns:
        ``np.ndarray`` of shape ``(prod(w.shape[:-1]), w.shape[-1])``. float32 and
        float64 inputs keep their dtype; other numeric inputs become float64.

    Raises:
        ValueError: rank below 2, an empty matrix, or non-finite entries.
    """
    arr = to_numpy(w)
    if arr.dtype.name == "bfloat16" or arr.dtype.name.startswith("float8"):
        arr = arr.astype(np.float32)  # ml_dtypes' low-precision floats: numeric, but not numpy numbers
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have rank >= 2 (a matrix or a layer kernel), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite entries (NaN or inf)")
    if arr.ndim > 2:
        arr = arr.reshape(-1, arr.shape[-1])
    return arr


def frobenius_norm(w) -> float:
    """Frobenius norm ``sqrt(sum_ij w_ij^2)`` (article eq. (9)).

    It bounds the spectral norm from above (eq. (10)); penalizing its square is
    l2 regularization (eqs. (11)-(12)).

    Example:
        >>> frobenius_norm([[3.0, 0.0], [0.0, 4.0]])
        5.0
    """
    m = as_matrix(w)
    scale = float(np.max(np.abs(m)))
    if scale == 0.0:
        return 0.0
    # Rescale first so squares of huge or tiny entries neither overflow nor underflow.
    return scale * float(np.sqrt(np.sum(np.square(m / scale, dtype=np.float64))))


@dataclasses.dataclass(frozen=True)
class PowerIterationResult:
    """Outcome of :func:`power_iteration`.

    Attributes:
        sigma: the final estimate ``u^T W v`` of the largest singular value.
        u: unit left vector, shape ``(rows,)``.
        v: unit right vector, shape ``(cols,)``.
        history: estimate after each iteration of (15), shape ``(iterations,)``.
    """

    sigma: float
    u: np.ndarray
    v: np.ndarray
    history: np.ndarray

    @property
    def iterations(self) -> int:
        return int(self.history.shape[0])


def _start_vector(rows: int, u0, dtype, seed: int) -> np.ndarray:
    if u0 is None:
        # A random start is orthogonal to the top singular vector with probability 0;
        # the article's all-ones start is not (see notebook 04), so it is opt-in.
        u = np.random.default_rng(seed).standard_normal(rows)
    elif isinstance(u0, str):
        if u0 != "ones":
            raise ValueError(f"u0 must be None, 'ones' or a vector, got {u0!r}")
        u = np.ones(rows)
    else:
        u = np.asarray(to_numpy(u0), dtype=np.float64).reshape(-1)
        if u.shape[0] != rows:
            raise ValueError(f"u0 must have length {rows} (rows of the matrix), got {u.shape[0]}")
        if not np.all(np.isfinite(u)):
            raise ValueError("u0 has non-finite entries")
    norm = np.linalg.norm(u)
    if norm == 0.0:
        raise ValueError("u0 must not be the zero vector")
    return (u / norm).astype(dtype)


def power_iteration(w, iterations: int = 20, u0=None, *, seed: int = 0) -> PowerIterationResult:
    """Estimate the largest singular value of ``w`` with article eq. (15).

    One iteration is ``v <- W^T u / |W^T u|``, ``u <- W v / |W v|``, and the estimate
    is ``sigma = u^T W v``. After ``r`` iterations the vector error shrinks like
    ``(s2/s1)^(2r)`` and the estimate's like ``(s2/s1)^(4r)``.

    Args:
        w: matrix or kernel (rank >= 2), numpy or TF, float32/float64.
        iterations: number of iterations of (15), >= 1.
        u0: start vector of length ``rows``; ``None`` (a seeded Gaussian vector) or
            ``"ones"`` (the article's choice).
        seed: seed of the Gaussian start when ``u0`` is None.

    Returns:
        :class:`PowerIterationResult` with ``sigma``, ``u``, ``v`` and ``history``.

    Raises:
        ValueError: bad ``w`` (see :func:`as_matrix`), ``iterations < 1`` or a bad ``u0``.

    Warns:
        RuntimeWarning: ``u0`` is orthogonal to the range of a nonzero ``w``; the result
            then keeps the literal outcome of eq. (15), an estimate of 0.

    Example:
        >>> r = power_iteration([[2.0, 0.0], [0.0, 1.0]], iterations=30)
        >>> round(r.sigma, 6)
        2.0
    """
    m = as_matrix(w)
    iterations = positive_int(iterations, "iterations")
    rows, cols = m.shape
    u = _start_vector(rows, u0, m.dtype, seed)
    v = np.zeros(cols, dtype=m.dtype)
    history = np.zeros(iterations, dtype=np.float64)
    scale = float(np.max(np.abs(m)))
    if scale == 0.0:
        return PowerIterationResult(0.0, u, v, history)
    # The iteration starts on the rows, so it runs on the adjoint map W^T: each step takes
    # u to v = W^T u / |W^T u| and back to u = W v / |W v|, with the estimate |W v| = u^T W v.
    op = MatrixOperator(m / m.dtype.type(scale)).T  # scale invariance and no overflow in the products
    sigma = 0.0
    for i in range(iterations):
        u_next, v_next, growth = power_step(op, u.reshape(1, -1))
        if growth == 0.0:  # u orthogonal to the range of W (W is not zero): eq. (15) is stuck at 0
            warnings.warn("power_iteration: the start vector u0 is orthogonal to the range of w (W^T u0 = 0), so "
                          "eq. (15) cannot leave it and the estimate stays 0, although w is not zero; start from "
                          "another vector (u0=None: a random one)", RuntimeWarning, stacklevel=2)
            history[i:] = 0.0
            break
        u, v = u_next.reshape(-1), v_next.reshape(-1)
        sigma = float(growth) * scale
        history[i] = sigma
    return PowerIterationResult(sigma, u, v, history)


def spectral_norm(
    w,
    method: str = "svd",
    *,
    tol: float = 1e-7,
    max_iterations: int = 2000,
    u0=None,
    seed: int = 0,
) -> float:
    """Spectral norm ``|W|_2 = max |Wx|/|x|`` (article eq. (7)): the largest singular value.

    Args:
        w: matrix or kernel (rank >= 2), numpy or TF, float32/float64.
        method: ``"svd"`` (exact, LAPACK) or ``"power"`` (iterate eq. (15) until the
            relative error extrapolated from the geometric decay of the changes falls
            below ``tol`` (see :class:`lipnb.operators.ConvergenceMonitor`); at most ``max_iterations``
            times).
        tol: relative tolerance for ``method="power"``.
        max_iterations: cap for ``method="power"``.
        u0, seed: start of the power iteration (see :func:`power_iteration`).

    Returns:
        The norm as a Python float; 0.0 for a zero matrix.

    Raises:
        ValueError: bad ``w``, an unknown ``method``, or, for ``method="power"``, a ``u0``
            orthogonal to the range of a nonzero ``w`` (the iteration would return 0).

    Example:
        >>> spectral_norm([[0.0, 1.0], [0.0, 0.0]])  # eigenvalues are 0; the norm is 1
        1.0
    """
    m = as_matrix(w)
    one_of(method, "method", ("svd", "power"))
    scale = float(np.max(np.abs(m)))
    if scale == 0.0:
        return 0.0
    a = m / m.dtype.type(scale)
    if method == "svd":
        return float(np.linalg.svd(a, compute_uv=False)[0]) * scale
    max_iterations = positive_int(max_iterations, "max_iterations")
    # Iterate in float64 whatever the input: in float32 the estimate's round-off noise
    # (about 1e-7 relative) can look like convergence long before a tight tol is met.
    op = MatrixOperator(a.astype(np.float64)).T
    start = _start_vector(a.shape[0], u0, np.float64, seed)
    sigma, _ = top_singular_pair(op, start, tol=tol, max_iterations=max_iterations, method="power",
                                 what="spectral_norm(method='power')", restart=False)
    return sigma * scale


def stable_rank(w) -> float:
    """``|W|_F^2 / |W|_2^2`` of the (reshaped) kernel: between 1 and ``rank(W)``.

    It counts the directions that carry the matrix's energy. A layer whose stable rank
    falls toward 1 has collapsed onto its top singular direction (notebook 08).
    """
    m = as_matrix(w).astype(np.float64)
    s = np.linalg.svd(m, compute_uv=False)
    if s[0] == 0:
        raise ValueError("the stable rank of a zero matrix is undefined")
    return float(np.sum(s ** 2) / s[0] ** 2)
