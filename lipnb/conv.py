"""Operator norms of convolutions, which the reshaped-kernel matrix does not give.

A convolution maps an input image ``(H, W, C_in)`` to an output image; its Lipschitz
constant is the spectral norm of that linear map, not of the kernel reshaped to
``(k_h k_w C_in, C_out)``. For circular padding and stride 1 the map is block-circulant
and its singular values are those of the ``C_in x C_out`` matrices obtained from the
2-D FFT of the zero-padded kernel, one per frequency (Sedghi, Gupta & Long, 2019). For
zero padding ("same"/"valid") and strides we iterate eq. (15) on the operator itself.
"""

from __future__ import annotations

import numbers

import numpy as np

from lipnb.operators import ZeroPaddedConv, _pads, top_singular_pair
from lipnb.validation import int_tuple, number, one_of, positive_int, to_numpy

__all__ = ["conv_operator_norm", "conv_operator_matrix", "conv_operator_norm_bound"]


def _kernel_array(kernel) -> np.ndarray:
    k = to_numpy(kernel)
    if k.dtype == object or not np.issubdtype(k.dtype, np.number):
        raise ValueError(f"kernel must be numeric, got dtype {k.dtype}")
    if k.ndim not in (3, 4):
        raise ValueError(
            f"kernel must have rank 3 (k, C_in, C_out) or 4 (k_h, k_w, C_in, C_out), got shape {k.shape}"
        )
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel has non-finite entries (NaN or inf)")
    return k.astype(np.float64)


def _spatial(input_shape, k: np.ndarray) -> tuple[int, ...]:
    dims = k.ndim - 2
    if isinstance(input_shape, numbers.Integral) or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in input_shape):
        raise ValueError(f"input_shape must be a tuple of integers, got {input_shape!r}")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == dims + 1:  # channels given too
        if shape[-1] != k.shape[-2]:
            raise ValueError(f"input has {shape[-1]} channels but the kernel expects {k.shape[-2]}")
        shape = shape[:-1]
    if len(shape) != dims or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must give {dims} positive spatial sizes, got {input_shape!r}")
    return shape


def _strides(strides, dims: int) -> tuple[int, ...]:
    return int_tuple(strides, "strides", dims)


def _circular_norm(k: np.ndarray, spatial: tuple[int, ...]) -> float:
    if any(ks > s for ks, s in zip(k.shape[:-2], spatial)):
        raise ValueError(f"kernel {k.shape[:-2]} is larger than the input {spatial}")
    axes = tuple(range(len(spatial)))
    # The kernel is real, so frequencies f and -f give conjugate blocks with the same
    # singular values: the half spectrum of rfftn covers them all, at half the cost.
    transfer = np.fft.rfftn(k, s=spatial, axes=axes)  # (*spatial[:-1], n//2 + 1, C_in, C_out)
    blocks = transfer.reshape(-1, k.shape[-2], k.shape[-1])
    return float(np.linalg.svd(blocks, compute_uv=False).max())


def conv_operator_norm(kernel, input_shape, strides=1, padding: str = "circular", *,
                       method: str = "lanczos", tol: float = 1e-9, max_iterations: int = 2000,
                       seed: int = 0) -> float:
    """Spectral norm of the linear map ``x -> conv(x, kernel)`` on inputs of a given size.

    Args:
        kernel: Keras-layout kernel ``(k_h, k_w, C_in, C_out)`` or ``(k, C_in, C_out)``.
        input_shape: spatial input size ``(H, W)`` (or ``(H, W, C_in)``; 1-D: ``(L,)``).
        strides: int or tuple. Circular padding supports stride 1 only.
        padding: ``"circular"`` (exact, FFT), ``"same"`` or ``"valid"`` (zero padding as in
            Keras; an iterative method on the operator and its adjoint, to ``tol``).
        method: for ``"same"``/``"valid"``: ``"lanczos"`` (ARPACK, robust to clustered
            singular values) or ``"power"`` (eq. (15) on the operator).
        tol, max_iterations, seed: controls of the iterative method.

    Returns:
        The operator norm (a float).

    Example:
        >>> k = np.ones((3, 3, 1, 1))
        >>> conv_operator_norm(k, (8, 8))  # the constant kernel: sum of entries = 9
        9.0
    """
    k = _kernel_array(kernel)
    spatial = _spatial(input_shape, k)
    strides = _strides(strides, k.ndim - 2)
    if padding == "circular":
        if any(s != 1 for s in strides):
            raise ValueError("circular padding is exact for stride 1 only; use 'same' or 'valid'")
        return _circular_norm(k, spatial)
    if padding not in ("same", "valid"):
        one_of(padding, "padding", ("circular", "same", "valid"))
    max_iterations = positive_int(max_iterations, "max_iterations")
    number(tol, "tol", minimum=0.0, strict=True)
    one_of(method, "method", ("lanczos", "power"))
    conv = ZeroPaddedConv(k, spatial, strides, padding)
    start = np.random.default_rng(seed).standard_normal(conv.in_shape)
    sigma, _ = top_singular_pair(conv, start, tol=tol, max_iterations=max_iterations, method=method,
                                 what="conv_operator_norm")
    return sigma


def conv_operator_norm_bound(kernel, input_shape, strides=1, padding: str = "same") -> float:
    """A certified upper bound on the operator norm for zero padding and any stride.

    A zero-padded convolution is a circular one on the padded canvas, restricted to the
    input's support and cropped (and subsampled, for strides): embedding, cropping and
    subsampling all have norm at most 1, so the circular norm on the canvas bounds it.
    """
    k = _kernel_array(kernel)
    spatial = _spatial(input_shape, k)
    strides = _strides(strides, k.ndim - 2)
    if padding not in ("same", "valid", "circular"):
        one_of(padding, "padding", ("circular", "same", "valid"))
    if padding == "circular":
        return _circular_norm(k, spatial)
    if padding == "valid":
        _pads(spatial, k.shape[:-2], strides, padding)  # raises when the convolution has no output
    canvas = tuple(s + ks - 1 for s, ks in zip(spatial, k.shape[:-2]))
    return _circular_norm(k, canvas)


def conv_operator_matrix(kernel, input_shape, strides=1, padding: str = "same") -> np.ndarray:
    """The dense matrix of the convolution (for checks on small sizes only).

    Returns:
        ``(n_out, n_in)`` matrix with ``n_in = prod(input spatial) * C_in``.
    """
    k = _kernel_array(kernel)
    spatial = _spatial(input_shape, k)
    strides = _strides(strides, k.ndim - 2)
    n_in = int(np.prod(spatial)) * k.shape[-2]
    if n_in > 20000:
        raise ValueError(f"the dense operator would have {n_in} columns; use conv_operator_norm")
    basis = np.eye(n_in).reshape(n_in, *spatial, k.shape[-2])
    if padding == "circular":
        if any(s != 1 for s in strides):
            raise ValueError("circular padding supports stride 1 only")
        pads = [(0, 0)] + [(ks - 1 - (ks - 1) // 2, (ks - 1) // 2) for ks in k.shape[:-2]] + [(0, 0)]
        basis = np.pad(basis, pads, mode="wrap")
        spatial, padding = basis.shape[1:-1], "valid"
    if padding not in ("same", "valid"):
        one_of(padding, "padding", ("circular", "same", "valid"))
    out = ZeroPaddedConv(k, spatial, strides, padding).forward(basis)
    return out.reshape(n_in, -1).T
