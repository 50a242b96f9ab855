"""lipnb.certify: certified radii are sound, exact where they can be, and the attack that
audits them has the power to break an unsound one (TF and JAX)."""

import keras
import numpy as np
import pytest

import lipnb

RNG = np.random.default_rng(0)


def linear_model(w, b):
    model = keras.Sequential([keras.Input((w.shape[0],)), keras.layers.Dense(w.shape[1])])
    model.layers[0].kernel.assign(w.astype("float32"))
    model.layers[0].bias.assign(b.astype("float32"))
    return model


def test_linear_certificate_never_exceeds_the_distance_to_the_decision_boundary():
    w, b = RNG.standard_normal((5, 4)), RNG.standard_normal(4)
    x = RNG.standard_normal((200, 5)).astype("float32")
    radius = lipnb.certified_radius(linear_model(w, b), x)
    logits = x.astype(np.float64) @ w + b
    c = np.argmax(logits, axis=1)
    # The nearest point where class c ties with class j is (f_c - f_j) / |w_c - w_j| away.
    gap = lambda j: logits[np.arange(200), c] - logits[:, j]  # noqa: E731
    distance = np.min([np.where(c == j, np.inf, gap(j) / np.maximum(np.linalg.norm(w[:, c] - w[:, [j]], axis=0),
                                                                     1e-30)) for j in range(4)], axis=0)
    assert np.all(radius <= distance * (1 + 1e-5))
    assert np.all(radius > 0)


def test_linear_certificate_is_exact_for_two_opposite_classes():
    """f = (u.x, -u.x): |W|_2 = sqrt(2) |u|, |w_1 - w_2| = 2 |u|: m / (sqrt(2) L) = the distance."""
    u = RNG.standard_normal(3)
    x = RNG.standard_normal((50, 3)).astype("float32")
    radius = lipnb.certified_radius(linear_model(np.stack([u, -u], axis=1), np.zeros(2)), x)
    np.testing.assert_allclose(radius, np.abs(x @ u) / np.linalg.norm(u), rtol=1e-5)


def test_flip_radius_finds_the_linear_decision_boundary():
    """Two opposite classes: the nearest flip is exactly |u.x| / |u| away, and the attack
    moves straight to it, so bisection brackets it; beyond the search, inf."""
    u = RNG.standard_normal(3)
    x = RNG.standard_normal((20, 3)).astype("float32")
    model = linear_model(np.stack([u, -u], axis=1), np.zeros(2))
    distance = np.abs(x @ u) / np.linalg.norm(u)
    upper = 2 * float(distance.max())
    found = lipnb.flip_radius(model, x, lower=lipnb.certified_radius(model, x) * 0.5, upper=upper,
                              bisections=14, steps=20)
    assert np.all(found >= distance * (1 - 1e-4))
    assert np.all(found <= distance + upper / 2 ** 14 * 1.01)
    beyond = lipnb.flip_radius(model, x, lower=0.0, upper=float(distance.min()) * 0.5, bisections=2, steps=20)
    assert np.all(np.isinf(beyond))
    with pytest.raises(ValueError, match="below upper"):
        lipnb.flip_radius(model, x, lower=1.0, upper=0.5)
    with pytest.raises(ValueError, match="bisections"):
        lipnb.flip_radius(model, x, lower=0.0, upper=1.0, bisections=0)


def test_attack_flips_exactly_the_points_beyond_the_linear_boundary():
    """Two opposite classes: a point flips iff its radius exceeds |u.x| / |u|."""
    u = RNG.standard_normal(3)
    x = RNG.standard_normal((40, 3)).astype("float32")
    model = linear_model(np.stack([u, -u], axis=1), np.zeros(2))
    distance = np.abs(x @ u) / np.linalg.norm(u)
    radius = np.where(np.arange(40) % 2 == 0, distance * 0.9, distance * 1.1)
    flips = lipnb.attack_flips(model, x, radius, steps=20)
    np.testing.assert_array_equal(flips, np.arange(40) % 2 == 1)
    with pytest.raises(ValueError, match="radius"):
        lipnb.attack_flips(model, x, -1.0)


def sn_mlp(seed):
    init = keras.initializers.GlorotUniform
    return keras.Sequential([keras.Input((6,)),
                             lipnb.SpectralNormalization(keras.layers.Dense(16, activation="relu",
                                                                            kernel_initializer=init(seed))),
                             keras.layers.Dense(8, activation="tanh", kernel_initializer=init(seed + 1)),
                             keras.layers.Dense(3, kernel_initializer=init(seed + 2))])


def sn_cnn(seed):
    return keras.Sequential([keras.Input((6, 6, 1)),
                             lipnb.SpectralNormalization(keras.layers.Conv2D(
                                 4, 3, padding="same", activation="relu",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed)), mode="operator"),
                             keras.layers.Flatten(),
                             keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed + 1))])


@pytest.mark.parametrize("build, shape", [(sn_mlp, (6,)), (sn_cnn, (6, 6, 1))], ids=["mlp", "cnn"])
def test_no_attack_breaks_a_certificate_and_an_unsound_one_breaks(build, shape):
    model = build(3)
    x = np.random.default_rng(1).standard_normal((64, *shape)).astype("float32")
    before, _ = lipnb.logit_margins(model, x)
    radius = lipnb.certified_radius(model, x)
    attacked = lipnb.margin_attack(model, x, radius * 0.999, steps=40)
    assert np.all(np.linalg.norm((attacked - x).reshape(64, -1), axis=1) <= radius * 0.999 * (1 + 1e-4) + 1e-6)
    after, _ = lipnb.logit_margins(model, attacked)
    assert np.array_equal(before, after)
    # The same attack inside radii from a bound 100 times too small (an unsound certificate)
    # must change some predictions: the check above could have failed.
    loose = lipnb.certified_radius(model, x, lipschitz=lipnb.lipschitz_upper_bound(model) / 100)
    broken, _ = lipnb.logit_margins(model, lipnb.margin_attack(model, x, loose, steps=40))
    assert np.any(broken != before)


def test_certified_accuracy_counts_correct_points_with_radius_above_eps():
    w, b = RNG.standard_normal((5, 3)), RNG.standard_normal(3)
    model = linear_model(w, b)
    x = RNG.standard_normal((100, 5)).astype("float32")
    predicted, _ = lipnb.logit_margins(model, x)
    y = predicted.copy()
    y[:20] = (y[:20] + 1) % 3  # 20 wrong labels
    radius = lipnb.certified_radius(model, x)
    assert lipnb.certified_accuracy(model, x, y, 0.0) == pytest.approx(0.8)
    eps = float(np.median(radius))
    assert lipnb.certified_accuracy(model, x, y, eps) == pytest.approx(np.mean((predicted == y) & (radius > eps)))
    assert lipnb.certified_accuracy(model, x, y, 1e9) == 0.0
    # A curve in one call: the same numbers as one call per radius.
    grid = [0.0, eps, 1e9]
    curve = lipnb.certified_accuracy(model, x, y, grid)
    assert isinstance(curve, np.ndarray) and curve.shape == (3,)
    np.testing.assert_array_equal(curve, [lipnb.certified_accuracy(model, x, y, e) for e in grid])
    np.testing.assert_array_equal(lipnb.certified_accuracy(model, x, y, np.array([eps])), [curve[1]])


def test_certificates_reject_what_they_cannot_certify():
    model = linear_model(RNG.standard_normal((5, 3)), np.zeros(3))
    x = RNG.standard_normal((4, 5)).astype("float32")
    with pytest.raises(ValueError, match="lipschitz"):
        lipnb.certified_radius(model, x, lipschitz=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        lipnb.certified_radius(model, np.full((2, 5), np.nan, "float32"))
    with pytest.raises(ValueError, match="batch"):
        lipnb.certified_radius(model, np.ones(5, "float32"))
    for bad in (np.zeros(3), np.zeros((2, 2)), np.zeros((4, 2))):  # (2, 2) would reshape to 4 labels
        with pytest.raises(ValueError, match="one integer label per example"):
            lipnb.certified_accuracy(model, x, bad, 0.1)
    column, flat = np.zeros((4, 1)), np.zeros(4)
    assert lipnb.certified_accuracy(model, x, column, 0.0) == lipnb.certified_accuracy(model, x, flat, 0.0)
    with pytest.raises(ValueError, match="eps"):
        lipnb.certified_accuracy(model, x, np.zeros(4), -1.0)
    with pytest.raises(ValueError, match=r"eps\[1\]"):
        lipnb.certified_accuracy(model, x, np.zeros(4), [0.1, float("nan")])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        lipnb.certified_accuracy(model, x, np.zeros(4), [])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        lipnb.certified_accuracy(model, x, np.zeros(4), [[0.1]])
    softmax = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="cannot certify"):
        lipnb.certified_radius(softmax, x)
    single = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="at least 2"):
        lipnb.certified_radius(single, x)
    with pytest.raises(ValueError, match="radius"):
        lipnb.margin_attack(model, x, -1.0)


def test_constant_logits_get_no_nan_radii():
    zero = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, kernel_initializer="zeros")])
    x = RNG.standard_normal((4, 3)).astype("float32")
    assert lipnb.lipschitz_upper_bound(zero) == 0.0
    np.testing.assert_array_equal(lipnb.certified_radius(zero, x), 0.0)  # all logits tie: radius 0
    zero.layers[0].bias.assign(np.array([1.0, 0.0, 0.0], "float32"))
    # Constant logits with a clear winner: nothing can change the prediction.
    np.testing.assert_array_equal(lipnb.certified_radius(zero, x), np.inf)
    assert lipnb.certified_accuracy(zero, x, np.zeros(4), [0.0, 1e6]).tolist() == [1.0, 1.0]


def test_scalar_arrays_count_as_numbers_and_ragged_eps_is_named():
    model = linear_model(RNG.standard_normal((5, 3)), np.zeros(3))
    x = RNG.standard_normal((6, 5)).astype("float32")
    y, _ = lipnb.logit_margins(model, x)
    assert lipnb.certified_accuracy(model, x, y, np.array(0.1)) == lipnb.certified_accuracy(model, x, y, 0.1)
    assert lipnb.certified_accuracy(model, x, y, keras.ops.convert_to_tensor(0.1)) == \
        lipnb.certified_accuracy(model, x, y, 0.1)
    np.testing.assert_array_equal(lipnb.certified_radius(model, x, lipschitz=np.array(2.0)),
                                  lipnb.certified_radius(model, x, lipschitz=2.0))
    with pytest.raises(ValueError, match=r"eps\[1\]"):
        lipnb.certified_accuracy(model, x, y, [0.1, [0.2, 0.3]])
    with pytest.raises(ValueError, match="step_size"):
        lipnb.margin_attack(model, x, 0.5, step_size=float("nan"))
    with pytest.raises(ValueError, match="step_size"):
        lipnb.margin_attack(model, x, 0.5, step_size=-0.1)


def test_margins_keep_the_models_input_dtype():
    # A float64 model's certificate is computed at the inputs given, not at their float32
    # roundings (a relative error of 1e-7 in every margin).
    wide = lipnb.backend.float64()  # float64 where the backend has it (JAX needs x64)
    rng = np.random.default_rng(7)  # its own draws: the shared RNG's depend on which tests ran before
    w = rng.standard_normal((5, 3))
    model = keras.Sequential([keras.Input((5,), dtype=wide), keras.layers.Dense(3, use_bias=False, dtype=wide)])
    model.layers[0].kernel.assign(w.astype(wide))
    x = rng.standard_normal((20, 5)).astype(wide)
    classes, margins = lipnb.logit_margins(model, x)
    logits = x.astype(np.float64) @ w
    top2 = np.sort(logits, axis=1)[:, -2:]
    np.testing.assert_array_equal(classes, np.argmax(logits, axis=1))
    # A margin is a difference of logits: its float32 error scales with the logits, not with it.
    scale = np.abs(logits).max()
    np.testing.assert_allclose(margins, top2[:, 1] - top2[:, 0], rtol=0,
                               atol=(1e-12 if wide == "float64" else 1e-5) * scale)
