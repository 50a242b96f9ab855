"""Argument checks shared by every lipnb module: one wording for one kind of mistake.

Each check returns the value in its canonical type, or raises ``ValueError`` with a
message that names the argument, says what it must be, and shows what it got.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["positive_int", "nonnegative_int", "integer", "widths", "int_tuple", "number", "one_of", "open_fraction",
           "numpy_rng", "batch", "labels", "twin_variables"]


def positive_int(value, name: str) -> int:
    """An integer >= 1 (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value!r}")
    return int(value)


def nonnegative_int(value, name: str) -> int:
    """An integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def integer(value, name: str) -> int:
    """Any integer, negative ones too (an axis); numpy integers count, bools do not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def widths(value, name: str = "hidden") -> tuple[int, ...]:
    """A non-empty sequence of positive integer layer widths (2.7 is not a width)."""
    if isinstance(value, str) or not hasattr(value, "__len__") or not len(value) or any(
            isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in value):
        raise ValueError(f"{name} must be a non-empty list of positive integer widths, got {value!r}")
    return tuple(int(h) for h in value)


def int_tuple(value, name: str, length: int, *, minimum: int = 1) -> tuple[int, ...]:
    """``length`` integers of at least ``minimum``, from a tuple or list, or one integer
    repeated (a stride of 2 is (2, 2) in 2-D)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * length
    if not isinstance(value, (tuple, list)) or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value):
        raise ValueError(f"{name} must be an integer or a tuple of {length} integers, got {value!r}")
    out = tuple(int(v) for v in value)
    if len(out) != length or any(v < minimum for v in out):
        raise ValueError(f"{name} must be {length} integers >= {minimum}, got {value!r}")
    return out


def number(value, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """A finite real number, at least ``minimum`` (above it when ``strict``).

    A 0-d array or backend scalar tensor counts as its value.
    """
    if getattr(value, "shape", None) == () and not isinstance(value, numbers.Number):
        value = to_numpy(value).item()
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))
    if ok and minimum is not None:
        ok = float(value) > minimum if strict else float(value) >= minimum
    if not ok:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def one_of(value, name: str, choices):
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(repr(c) for c in choices)}")
    return value


def open_fraction(value, name: str) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def numpy_rng(rng, name: str = "rng"):
    """A numpy random generator: ``np.random.Generator``, or the legacy ``RandomState``."""
    if not isinstance(rng, (np.random.Generator, np.random.RandomState)):
        raise ValueError(f"{name} must be a numpy Generator (np.random.default_rng(seed)), got {rng!r}")
    return rng


def batch(x, name: str = "x", *, keep_dtype: bool = False) -> np.ndarray:
    """``x`` as a finite float32 numpy batch ``(n, ...)`` with ``n >= 1`` (with
    ``keep_dtype``, in its own dtype: float64 inputs of a float64 model stay exact).

    A single example without its batch axis is an error, not a guess: per-example norms
    would otherwise run over its features.
    """
    arr = to_numpy(x)
    if arr.ndim < 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty batch (rank >= 2; one example: {name}[None]), "
                         f"got shape {arr.shape}")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite entries")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr if keep_dtype else arr.astype(np.float32, copy=False)


def labels(y, n: int, name: str = "y", *, dtype=None) -> np.ndarray:
    """``y`` as ``n`` labels, shape ``(n,)``; a column ``(n, 1)`` counts as its labels.

    Anything else (a wrong length, two labels per example) is an error rather than a
    reshape that would pair examples with the wrong labels.
    """
    arr = to_numpy(y)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"{name} must hold one integer label per example, shape ({n},), got {arr.shape}")
    return arr


def to_numpy(x):
    """A numpy array of ``x``: an array-like, a backend tensor or a Keras variable.

    Backend values go through ``keras.ops.convert_to_numpy``, which detaches a PyTorch
    tensor that requires grad and moves GPU values to the host (``np.asarray`` does
    neither). Other values are left to ``np.asarray``.
    """
    if isinstance(x, np.ndarray):
        return x
    import keras

    if isinstance(x, keras.Variable):
        x = x.value
    if hasattr(x, "numpy") or type(x).__module__.split(".")[0] in ("torch", "jax", "jaxlib", "tensorflow"):
        return np.asarray(keras.ops.convert_to_numpy(x))
    return np.asarray(x)


def twin_variables(sources, targets):
    """``sources`` and ``targets`` as lists, checked to pair variables of equal shapes: the
    variables of two models of one architecture, in the same order."""
    sources, targets = list(sources), list(targets)
    if len(sources) != len(targets):
        raise RuntimeError(f"cannot copy {len(sources)} variables into {len(targets)}: not the same architecture")
    for src, dst in zip(sources, targets):
        if tuple(src.shape) != tuple(dst.shape):
            raise RuntimeError(f"cannot copy {src.path} {tuple(src.shape)} into {dst.path} {tuple(dst.shape)}: "
                               "not the same architecture")
    return sources, targets
