"""From a Lipschitz bound to a robustness certificate (article eqs. (1)-(3), l2 threat model).

If a classifier's logits ``f`` are ``L``-Lipschitz in the l2 norm, the logit gap between
classes ``i`` and ``j``, ``g = f_i - f_j = (e_i - e_j)^T f``, is ``sqrt(2) L``-Lipschitz,
because ``|e_i - e_j| = sqrt(2)``. A perturbation ``delta`` changes ``g`` by at most
``sqrt(2) L |delta|``, so the predicted class ``i`` stays on top while ``sqrt(2) L |delta|``
is smaller than its margin ``m = f_i(x) - max_{j != i} f_j(x)``. The certified radius is
therefore ``m / (sqrt(2) L)``: no perturbation smaller than that can change the prediction.

The certificate is only as sound as ``L``. By default it comes from
:func:`lipnb.lipschitz_upper_bound`, which multiplies exact operator norms (convolutions
included) and, for ``lipnb.SpectralNormalization`` layers, the exact norm of ``W/sigma``
as the layer computes it, not the 1 it aims at.
"""

from __future__ import annotations

import math

import numpy as np

from lipnb import validation
from lipnb._keras_compat import set_untracked
from lipnb.validation import number, positive_int, to_numpy

__all__ = ["certified_radius", "certified_accuracy", "logit_margins", "margin_attack", "attack_flips",
           "flip_radius"]


def _lipschitz(model, lipschitz) -> float:
    if lipschitz is not None:
        return number(lipschitz, "lipschitz", minimum=0.0, strict=True)
    from lipnb.bounds import lipschitz_upper_bound

    try:
        return lipschitz_upper_bound(model)
    except ValueError as err:
        raise ValueError(f"cannot certify {getattr(model, 'name', model)!r}: lipnb cannot bound its Lipschitz "
                         f"constant ({err}). Pass lipschitz= with a bound you trust") from err


def logit_margins(model, x, batch_size: int = 1024):
    """``(predicted class, margin)`` per example: the top logit minus the runner-up.

    Raises:
        ValueError: inputs that are not a finite batch, or a model with fewer than two
            outputs per example.
    """
    from lipnb.models import predict

    arr = validation.batch(x, keep_dtype=True)  # the model's own input dtype (float64 models stay exact)
    logits = np.asarray(predict(model, arr, batch_size=batch_size), np.float64).reshape(len(arr), -1)
    if logits.shape[1] < 2:
        raise ValueError(f"a certificate needs one logit per class (at least 2), got {logits.shape[1]}")
    top2 = np.sort(logits, axis=1)[:, -2:]
    return np.argmax(logits, axis=1), top2[:, 1] - top2[:, 0]


def certified_radius(model, x, lipschitz: float | None = None, batch_size: int = 1024) -> np.ndarray:
    """Per-example l2 radius ``m / (sqrt(2) L)`` within which the prediction cannot change.

    Args:
        model: a Keras classifier that outputs logits (no softmax: the bound is on logits).
        x: inputs, a batch ``(n, ...)``.
        lipschitz: an l2 Lipschitz bound ``L`` of the logits; by default
            ``lipnb.lipschitz_upper_bound(model)``. A value below the true constant gives
            unsound certificates.
        batch_size: rows per forward pass.

    Returns:
        ``np.ndarray`` of shape ``(n,)``; 0 where the top two logits tie, and ``inf``
        where they do not but the bound is 0 (constant logits).

    Raises:
        ValueError: a model lipnb cannot bound (and no ``lipschitz``), bad inputs, or a
            non-positive ``lipschitz``.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
        >>> _ = model.layers[0].kernel.assign(np.array([[1.0, -1.0], [0.0, 0.0]], "float32"))
        >>> [round(float(r), 6) for r in certified_radius(model, np.array([[0.5, 3.0]], "float32"))]
        [0.5]
    """
    lipschitz_bound = _lipschitz(model, lipschitz)
    _, margins = logit_margins(model, x, batch_size=batch_size)
    return _radii(margins, lipschitz_bound)


def _radii(margins, lipschitz_bound):
    """``m / (sqrt(2) L)``: 0 where the top two logits tie; infinite for constant logits
    (``L = 0``, a model whose every kernel is zero), whose prediction nothing can change."""
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = margins / (math.sqrt(2.0) * lipschitz_bound)
    return np.where(margins > 0, radius, 0.0)


def certified_accuracy(model, x, y, eps, lipschitz: float | None = None, batch_size: int = 1024):
    """Share of examples classified correctly with a certified radius above ``eps``.

    Such an example keeps its correct label under every l2 perturbation of norm up to
    ``eps``. At ``eps = 0`` this is the clean accuracy, less exact ties.

    Args:
        eps: one radius (>= 0), or a 1-D sequence of radii: a whole certified-accuracy
            curve from one forward pass.

    Returns:
        A float for one radius; ``np.ndarray`` of shape ``(len(eps),)`` for a sequence.
    """
    try:
        grid = to_numpy(eps) if hasattr(eps, "shape") else np.asarray(eps, dtype=object)
    except ValueError as err:  # a ragged nesting
        raise ValueError(f"eps must be a number or a non-empty 1-D sequence of numbers, got {eps!r}") from err
    if grid.ndim == 0:
        radii, single = [number(grid.item(), "eps", minimum=0.0)], True
    elif grid.ndim == 1 and len(grid) > 0:
        radii, single = [number(e, f"eps[{i}]", minimum=0.0) for i, e in enumerate(grid.tolist())], False
    else:
        raise ValueError(f"eps must be a number or a non-empty 1-D sequence of numbers, got shape {grid.shape}")
    predicted, margins = logit_margins(model, x, batch_size=batch_size)
    labels = validation.labels(y, len(predicted))
    radius = _radii(margins, _lipschitz(model, lipschitz))
    correct = predicted == labels
    shares = np.array([np.mean(correct & (radius > e)) for e in radii])
    return float(shares[0]) if single else shares


def margin_attack(model, x, radius, steps: int = 50, step_size: float | None = None) -> np.ndarray:
    """Projected gradient descent on the margin, each example inside its own l2 ball.

    Minimizes ``f_c(x') - max_{j != c} f_j(x')``, with ``c`` the class predicted at ``x``,
    over ``|x' - x| <= radius`` (per example): the direct way to break a certificate, more
    so than ascending a cross-entropy loss. A point whose prediction changes inside its
    certified radius proves the certificate unsound.

    Args:
        model: a Keras classifier that outputs logits.
        x: inputs, a batch ``(n, ...)``.
        radius: a scalar or one radius per example (>= 0).
        steps: gradient steps (>= 1).
        step_size: l2 length of each step, per example; ``2.5 * radius / steps`` by default.

    Returns:
        The perturbed inputs, float32, each within its radius of ``x``.
    """
    from keras import ops

    steps = positive_int(steps, "steps")
    x0 = validation.batch(x)
    n = len(x0)
    r = np.broadcast_to(np.asarray(radius, np.float64), (n,)).astype(np.float32)
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("radius must be finite and >= 0")
    shape = (n,) + (1,) * (x0.ndim - 1)
    if step_size is not None:
        step_size = number(step_size, "step_size", minimum=0.0, strict=True)
    size = (2.5 * r / steps if step_size is None else np.full(n, step_size, np.float32)).reshape(shape)
    classes, _ = logit_margins(model, x0)
    n_classes = to_numpy(model(x0[:1], training=False)).reshape(1, -1).shape[1]
    onehot = ops.convert_to_tensor(np.eye(n_classes, dtype=np.float32)[classes])

    gradient = _margin_gradient(model)

    def norms(a):
        return np.sqrt(np.sum(np.square(a.reshape(n, -1), dtype=np.float64), axis=1)).reshape(shape)

    xa = x0.copy()
    for _ in range(steps):
        g = to_numpy(gradient(xa, onehot))
        xa = xa - size * g / np.maximum(norms(g), 1e-12)
        d = xa - x0
        xa = (x0 + d * np.minimum(1.0, r.reshape(shape) / np.maximum(norms(d), 1e-12))).astype(np.float32)
    return xa


def _margin_gradient(model):
    """``gradient(x, onehot)``: the input gradient of the margin of the classes ``onehot``.

    On JAX it is traced once per model and batch shape, with the weights as arguments, and
    kept on the model: eagerly JAX dispatches every op of every step on its own (on a GPU,
    far more costly than the step), and a new trace per attack would repeat the tracing.
    """
    from keras import ops

    from lipnb import backend

    def margin(t, onehot):
        logits = ops.reshape(ops.cast(model(t, training=False), "float32"), (ops.shape(t)[0], -1))
        top = ops.sum(logits * onehot, axis=1)
        others = ops.max(logits - 1e9 * onehot, axis=1)
        return top - others

    def gradient(t, onehot):
        return backend.input_gradient(lambda u: margin(u, onehot), t)[1]

    if backend.name() != "jax":
        return gradient
    kept = getattr(model, "_lipnb_margin_gradient", None)
    if kept is None:
        kept = backend.compile_stateful(gradient, model.variables)
        set_untracked(model, "_lipnb_margin_gradient", kept)  # a cache, not a tracked attribute of the model
    return kept


def attack_flips(model, x, radius, steps: int = 50, step_size: float | None = None) -> np.ndarray:
    """Whether :func:`margin_attack` inside ``radius`` changes each example's prediction.

    Inside a sound certified radius this is never true; its mean over examples is the
    share of certificates an attack breaks (the arguments are :func:`margin_attack`'s).

    Returns:
        One boolean per example.
    """
    x = validation.batch(x)
    classes, _ = logit_margins(model, x)
    attacked = margin_attack(model, x, radius, steps=steps, step_size=step_size)
    return logit_margins(model, attacked)[0] != classes


def flip_radius(model, x, lower, upper: float, bisections: int = 8, steps: int = 50) -> np.ndarray:
    """The smallest radius at which :func:`margin_attack` flips each prediction, by bisection.

    An attack gives an upper bound on the distance to the nearest input with another
    prediction, where a certificate gives a lower bound: their ratio bounds from above
    what the certificate gives away. Each example's interval ``[lower, upper]`` is halved
    ``bisections`` times, keeping the half where the attack first flips the prediction
    (this assumes that an attack which succeeds at a radius also succeeds at larger ones;
    whatever is returned is a radius at which a flip was found).

    Args:
        model: a Keras classifier that outputs logits.
        x: inputs, a batch ``(n, ...)``.
        lower: where the search starts, a scalar or one per example (>= 0), for example
            the certified radius.
        upper: the largest radius tried (> every ``lower``).
        bisections: halvings of each interval (>= 1).
        steps: gradient steps of each attack.

    Returns:
        One radius per example, ``inf`` where no radius up to ``upper`` flipped it.
    """
    bisections = positive_int(bisections, "bisections")
    x = validation.batch(x)
    lo = np.broadcast_to(np.asarray(lower, np.float64), (len(x),)).copy()
    upper = number(upper, "upper", minimum=0.0, strict=True)
    if not np.all(np.isfinite(lo)) or np.any(lo < 0) or np.any(lo >= upper):
        raise ValueError(f"lower must be finite, >= 0 and below upper={upper:g}")
    hi = np.full(len(x), upper)
    found = attack_flips(model, x, hi, steps=steps)
    for _ in range(bisections):
        mid = (lo + hi) / 2
        flipped = attack_flips(model, x, mid, steps=steps)
        found |= flipped
        hi, lo = np.where(flipped, mid, hi), np.where(flipped, lo, mid)
    return np.where(found, hi, np.inf)
