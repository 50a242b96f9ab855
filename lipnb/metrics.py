"""Sample-quality metrics for GANs and the critic's empirical Lipschitz constant."""

from __future__ import annotations

import numpy as np

from lipnb import validation
from lipnb.validation import number, positive_int, to_numpy

__all__ = ["wasserstein1", "sliced_wasserstein1", "noise_floor", "mode_statistics", "critic_gradient_norms",
           "critic_slopes", "frechet_distance", "class_coverage", "digit_classifier", "DigitQuality",
           "steps_to_target", "log_area"]


def _points(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or len(a) == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries")
    return a


def wasserstein1(a, b) -> float:
    """Exact W1 between two empirical distributions of equal size (optimal assignment).

    With n points each and uniform weights, an optimal transport plan is a permutation
    (Birkhoff), found by the Hungarian method on the Euclidean cost matrix.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    a, b = _points(a, "a"), _points(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def sliced_wasserstein1(a, b, projections: int = 64, seed: int = 0) -> float:
    """The sliced W1 between two samples of equal size: W1 averaged over 1-D projections.

    Each projection's W1 is exact and costs a sort, so this stays cheap at sample sizes
    where the exact :func:`wasserstein1` (an assignment problem) does not. It is a metric
    on distributions (zero only for equal ones) and at most the exact W1. In 2-D the
    directions are ``projections`` evenly spaced angles, deterministic; in higher
    dimensions they are drawn uniformly on the sphere from ``seed``.
    """
    a, b = _points(a, "a"), _points(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    projections = positive_int(projections, "projections")
    d = a.shape[1]
    if d == 2:
        angles = np.pi * (np.arange(projections) + 0.5) / projections
        directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    else:
        directions = np.random.default_rng(seed).standard_normal((projections, d))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    pa, pb = np.sort(a @ directions.T, axis=0), np.sort(b @ directions.T, axis=0)
    return float(np.abs(pa - pb).mean())


def noise_floor(sample, n: int, metric=sliced_wasserstein1, repeats: int = 20, seed: int = 0) -> np.ndarray:
    """The metric between pairs of independent ``n``-point samples of the same distribution.

    A generator cannot be judged below this level at this sample size: a perfect one
    scores as two data samples do. ``sample(n, rng)`` returns ``n`` points (or a tuple
    whose first item is the points, as lipnb's toy data sets do).

    Returns:
        ``repeats`` values of the metric, one per pair.
    """
    repeats = positive_int(repeats, "repeats")
    n = positive_int(n, "n")
    rng = np.random.default_rng(seed)

    def draw():
        out = sample(int(n), rng)
        return out[0] if isinstance(out, tuple) else out

    return np.array([metric(draw(), draw()) for _ in range(int(repeats))])


def mode_statistics(samples, centers, std: float, radius_in_std: float = 3.0) -> dict:
    """Mode coverage and sample quality on a Gaussian mixture.

    A sample is high quality when it lies within ``radius_in_std * std`` of its nearest
    center; a mode is covered when it has at least one high-quality sample.

    Returns:
        ``{"modes_covered": int, "mode_fraction": float, "high_quality_fraction": float}``.
    """
    from scipy.spatial.distance import cdist

    samples, centers = _points(samples, "samples"), _points(centers, "centers")
    std = number(std, "std", minimum=0.0, strict=True)
    radius_in_std = number(radius_in_std, "radius_in_std", minimum=0.0, strict=True)
    d = cdist(samples, centers)
    nearest, dist = d.argmin(axis=1), d.min(axis=1)
    good = dist <= radius_in_std * std
    covered = np.unique(nearest[good]).size
    return {"modes_covered": int(covered), "mode_fraction": covered / len(centers),
            "high_quality_fraction": float(good.mean())}


def critic_gradient_norms(critic, x, extra_inputs=None, batch_size: int = 1024) -> np.ndarray:
    """``|grad_x f(x)|`` at each point: the critic's local slopes (1-Lipschitz: all <= 1)."""
    from keras import ops

    from lipnb import backend

    batch_size = positive_int(batch_size, "batch_size")
    x = validation.batch(x)
    out = []
    for start in range(0, len(x), batch_size):
        extra = None if extra_inputs is None else [ops.convert_to_tensor(e[start:start + batch_size])
                                                   for e in extra_inputs]
        _, g = backend.input_gradient(
            lambda xb, extra=extra: critic(xb if extra is None else [xb, *extra], training=False),
            x[start:start + batch_size])
        g = ops.convert_to_numpy(g).reshape(len(g), -1)
        out.append(np.linalg.norm(g, axis=1))
    return np.concatenate(out)


SLOPE_REGIONS = ("real", "interpolates", "far")


def critic_slopes(gan, real, *, far_low: float = -8.0, far_high: float = 8.0, points: int = 512,
                  seed: int = 0, tolerance: float = 0.2) -> dict:
    """The critic's slopes ``|grad_x f|`` now, in three regions, as flat scalars for a log.

    Regions: ``real`` (a subset of the data), ``interpolates`` (fresh
    ``eps*x_r + (1-eps)*x_g`` between those points and new samples, where a gradient
    penalty acts) and ``far`` (uniform in the box ``[far_low, far_high]^d``, where nothing
    is penalized). The points are redrawn from ``seed`` at every call, so successive calls
    during training measure the same real and far points; no random stream of the GAN is
    used, so logging the slopes leaves training unchanged. Meant for the ``evaluate`` of a
    :class:`~lipnb.gan.SampleQuality` callback, for unconditional critics.

    Returns:
        ``{"slope_<region>_median", "slope_<region>_max", "slope_<region>_off"}`` per
        region, where ``off`` is the share of points with ``| |grad f| - 1 | > tolerance``.
    """
    real = validation.batch(real, "real")
    if getattr(gan, "num_classes", None):
        raise ValueError("critic_slopes measures unconditional critics; this WGAN is conditional")
    if not far_low < far_high:
        raise ValueError(f"need far_low < far_high, got {far_low} and {far_high}")
    rng = np.random.default_rng(seed)
    n = min(positive_int(points, "points"), len(real))
    data = real[rng.choice(len(real), n, replace=False)]
    # Latents from this function's own generator: no GAN random stream is consumed.
    z = rng.standard_normal((n, gan.latent_dim)).astype(np.float32)
    fake = to_numpy(gan.generator(z, training=False)).astype(np.float32).reshape(data.shape)
    eps = rng.uniform(size=(n,) + (1,) * (data.ndim - 1)).astype(np.float32)
    places = {"real": data, "interpolates": eps * data + (1 - eps) * fake,
              "far": rng.uniform(far_low, far_high, data.shape).astype(np.float32)}
    out = {}
    for region, x in places.items():
        g = critic_gradient_norms(gan.critic, x)
        out.update({f"slope_{region}_median": float(np.median(g)), f"slope_{region}_max": float(g.max()),
                    f"slope_{region}_off": float(np.mean(np.abs(g - 1) > tolerance))})
    return out


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (as in FID)."""
    a, b = _points(features_a, "features_a"), _points(features_b, "features_b")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr sqrt(A B) = tr sqrt(A^1/2 B A^1/2), a symmetric PSD matrix: eigenvalues instead of
    # scipy's sqrtm, whose signature changed across versions (its `disp` is gone in 1.18).
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_covmean = float(np.sum(np.sqrt(np.clip(inner, 0, None))))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_covmean)


def class_coverage(predicted_labels, num_classes: int, min_share: float = 0.01) -> dict:
    """How many classes the samples cover (share >= min_share) and the label entropy (nats)."""
    labels = np.asarray(predicted_labels).astype(int)
    share = np.bincount(labels, minlength=num_classes) / max(len(labels), 1)
    nz = share[share > 0]
    return {"classes_covered": int(np.sum(share >= min_share)),
            "entropy": float(-(nz * np.log(nz)).sum()), "max_entropy": float(np.log(num_classes))}


def digit_classifier(seed: int = 0, epochs: int = 20):
    """A conv classifier of 8x8 digits and a feature extractor (its pooled conv features).

    The features are the 64 channels of the second convolution averaged over space: few
    enough for a stable covariance in the Fréchet distance on a few hundred images.

    Returns:
        ``(classifier, features, test_accuracy)``.
    """
    import keras

    from lipnb.data import load_digits_split
    from lipnb.models import accuracy, conv_critic, fit_classifier

    x_tr, y_tr, x_te, y_te = load_digits_split(seed=seed, flatten=False)
    model = conv_critic(outputs=10, seed=seed, name="digit_classifier")
    fit_classifier(model, x_tr, y_tr, epochs=epochs, seed=seed)
    # One input tensor, not a list of one: calling a list-input model with an array warns.
    features = keras.Model(model.inputs[0], keras.layers.GlobalAveragePooling2D()(model.layers[1].output))
    return model, features, accuracy(model, x_te, y_te)


class DigitQuality:
    """Scores generated 8x8 digits the way notebooks 06 and 07 do.

    Trains :func:`digit_classifier` once; then ``quality(images)`` gives the Fréchet
    distance between the classifier's features of the images and of the held-out real
    digits, and with ``labels`` also the share of images the classifier reads as their
    intended label. ``floor`` is the same distance for as many real training digits: what
    a perfect generator would score at this sample size.

    Args:
        seed: seed of the digits split and the classifier.
        epochs: classifier training epochs.
    """

    def __init__(self, seed: int = 0, epochs: int = 20):
        from lipnb.data import load_digits_split
        from lipnb.models import predict

        self.classifier, self.features, self.classifier_accuracy = digit_classifier(seed=seed, epochs=epochs)
        x_train, _, x_test, _ = load_digits_split(seed=seed, flatten=False)
        self.real_features = predict(self.features, x_test)
        self.test_size = len(x_test)
        self.floor = frechet_distance(predict(self.features, x_train[:len(x_test)]), self.real_features)

    def __call__(self, images, labels=None) -> dict:
        from lipnb.models import predict

        images = np.asarray(images, dtype=np.float32).reshape(-1, 8, 8, 1)
        scores = {"fd": frechet_distance(predict(self.features, images), self.real_features)}
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(images),):
                raise ValueError(f"labels must have one entry per image, got shape {labels.shape} for "
                                 f"{len(images)} images")
            predicted = np.argmax(predict(self.classifier, images), axis=1)
            scores["label_accuracy"] = float(np.mean(predicted == labels))
        return scores


def steps_to_target(records, target: float, censored: float, key: str = "test") -> float:
    """Critic steps at the first record whose ``key`` score is at most ``target``.

    ``records`` are :class:`lipnb.SampleQuality` records. A run that never reaches the
    target gets ``censored`` (choose one evaluation past the end, so it ranks last and
    two such runs tie).
    """
    hits = [r["critic_steps"] for r in records if r[key] <= target]
    return float(hits[0]) if hits else float(censored)


def log_area(records, floor: float, key: str = "test") -> float:
    """Mean of ``log(score / floor)`` over the records after the first (the untrained one).

    Lower is better: it rewards reaching the floor early and staying there, and it needs
    no threshold.
    """
    floor = number(floor, "floor", minimum=0.0, strict=True)
    scores = [r[key] for r in records[1:]]
    if not scores:
        raise ValueError("log_area needs at least one record after the first")
    return float(np.mean([np.log(v / floor) for v in scores]))
