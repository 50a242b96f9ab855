"""lipnb.metrics: Wasserstein distances, mode and class coverage, Frechet distance, critic slopes."""

import itertools

import keras
import numpy as np
import pytest

import lipnb

DATA, CENTERS = lipnb.eight_gaussians(4000, np.random.default_rng(0))


def test_wasserstein1_is_exact():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    brute = min(np.mean(np.linalg.norm(a - b[list(p)], axis=1)) for p in itertools.permutations(range(6)))
    assert lipnb.wasserstein1(a, b) == pytest.approx(brute)
    assert lipnb.wasserstein1(a, a + np.array([3.0, 4.0])) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="same shape"):
        lipnb.wasserstein1(a, b[:3])


def test_mode_and_class_metrics():
    stats = lipnb.mode_statistics(CENTERS[[0, 0, 1]] + 0.01, CENTERS, std=0.02)
    assert stats["modes_covered"] == 2 and stats["high_quality_fraction"] == 1.0
    far = lipnb.mode_statistics(np.full((4, 2), 10.0), CENTERS, std=0.02)
    assert far["modes_covered"] == 0 and far["high_quality_fraction"] == 0.0
    cover = lipnb.class_coverage([0, 0, 1, 1], 4)
    assert cover["classes_covered"] == 2 and cover["entropy"] == pytest.approx(np.log(2))
    f = np.random.default_rng(0).standard_normal((500, 3))
    assert lipnb.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert lipnb.frechet_distance(f, f + 2.0) == pytest.approx(12.0, rel=1e-6)


def test_critic_gradient_norms_of_a_linear_critic():
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    critic.layers[0].set_weights([np.array([[3.0], [4.0]], "float32")])
    np.testing.assert_allclose(lipnb.critic_gradient_norms(critic, np.zeros((5, 2))), 5.0, rtol=1e-6)


def test_critic_slopes_logs_every_region_and_catches_a_steep_critic():
    gan = lipnb.WGAN(lipnb.mlp_generator(seed=0), lipnb.make_critic("none", seed=0), regime="none")
    # A linear critic of slope 5 everywhere: every region reports 5 and is entirely off-norm.
    linear = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    linear.layers[0].set_weights([np.array([[3.0], [4.0]], "float32")])
    gan.critic = linear
    slopes = lipnb.critic_slopes(gan, DATA, points=64)
    assert set(slopes) == {f"slope_{r}_{s}" for r in ("real", "interpolates", "far")
                           for s in ("median", "max", "off")}
    for region in ("real", "interpolates", "far"):
        assert slopes[f"slope_{region}_median"] == pytest.approx(5.0, rel=1e-6)
        assert slopes[f"slope_{region}_off"] == 1.0
    assert lipnb.critic_slopes(gan, DATA, points=64) == slopes  # same points at every call


def test_critic_slopes_rejects_bad_input():
    gan = lipnb.WGAN(lipnb.mlp_generator(seed=0), lipnb.make_critic("none", seed=0), regime="none")
    with pytest.raises(ValueError, match="non-empty"):
        lipnb.critic_slopes(gan, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="far_low < far_high"):
        lipnb.critic_slopes(gan, DATA, far_low=1.0, far_high=1.0)
    conditional = lipnb.WGAN(lipnb.mlp_generator(num_classes=3, seed=0),
                             lipnb.make_critic("none", num_classes=3, seed=0), regime="none", num_classes=3)
    with pytest.raises(ValueError, match="conditional"):
        lipnb.critic_slopes(conditional, DATA)


def test_sliced_wasserstein1_and_noise_floor():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 2))
    assert lipnb.sliced_wasserstein1(a, a) == 0.0
    # A shift by t moves every projection by |t cos(angle)|: the mean over angles is 2|t|/pi.
    shifted = lipnb.sliced_wasserstein1(a, a + np.array([0.3, 0.0]), projections=256)
    assert shifted == pytest.approx(0.3 * 2 / np.pi, rel=1e-3)
    b = rng.normal(size=(500, 2)) + 1.0
    assert lipnb.sliced_wasserstein1(a, b) <= lipnb.wasserstein1(a, b)
    a5, b5 = rng.normal(size=(200, 5)), rng.normal(size=(200, 5))
    assert lipnb.sliced_wasserstein1(a5, b5, seed=1) == lipnb.sliced_wasserstein1(a5, b5, seed=1)
    floor = lipnb.noise_floor(lipnb.eight_gaussians, 256, repeats=5, seed=2)
    assert floor.shape == (5,) and np.all(floor > 0)
    np.testing.assert_array_equal(floor, lipnb.noise_floor(lipnb.eight_gaussians, 256, repeats=5, seed=2))
    # The floor shrinks with the sample size.
    assert np.median(lipnb.noise_floor(lipnb.eight_gaussians, 2048, repeats=5)) < np.median(floor)
    with pytest.raises(ValueError, match="same shape"):
        lipnb.sliced_wasserstein1(a, b[:10])
    with pytest.raises(ValueError, match="projections"):
        lipnb.sliced_wasserstein1(a, b, projections=0)
    with pytest.raises(ValueError, match="repeats"):
        lipnb.noise_floor(lipnb.eight_gaussians, 10, repeats=0)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    from scipy import linalg

    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 6))
    b = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6)) + 0.5
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(ca @ cb)
    root = root[0] if isinstance(root, tuple) else root
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * np.real(root))
    assert lipnb.frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)
    assert lipnb.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_steps_to_target_and_log_area():
    records = [{"critic_steps": 0, "test": 4.0}, {"critic_steps": 50, "test": 2.0},
               {"critic_steps": 100, "test": 0.5}, {"critic_steps": 150, "test": 1.0}]
    assert lipnb.steps_to_target(records, 1.0, censored=200) == 100.0
    assert lipnb.steps_to_target(records, 0.1, censored=200) == 200.0  # never reached: censored
    assert lipnb.log_area(records, 1.0) == pytest.approx(np.mean(np.log([2.0, 0.5, 1.0])))
    with pytest.raises(ValueError, match="floor"):
        lipnb.log_area(records, 0.0)
    with pytest.raises(ValueError, match="at least one record"):
        lipnb.log_area(records[:1], 1.0)


def test_digit_quality_scores_real_digits_near_the_floor_and_noise_far_above():
    scorer = lipnb.DigitQuality(seed=0, epochs=2)
    x_train, y_train, x_test, _ = lipnb.load_digits_split(seed=0, flatten=False)
    real = scorer(x_train[:scorer.test_size], y_train[:scorer.test_size])
    assert real["fd"] == pytest.approx(scorer.floor)
    assert 0 <= real["label_accuracy"] <= 1
    noise = scorer(np.random.default_rng(0).uniform(size=(scorer.test_size, 64)))
    assert noise["fd"] > 5 * scorer.floor and "label_accuracy" not in noise
    with pytest.raises(ValueError, match="one entry per image"):
        scorer(x_test[:10], np.zeros(3))


def test_metric_arguments_are_checked():
    centers = np.array([[0.0, 0.0], [1.0, 0.0]])
    for std in (-1.0, float("nan"), 0.0):
        with pytest.raises(ValueError, match="std"):
            lipnb.mode_statistics(np.zeros((3, 2)), centers, std=std)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        lipnb.noise_floor(lipnb.eight_gaussians, 2.7)
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="batch_size"):
        lipnb.critic_gradient_norms(critic, np.zeros((3, 2)), batch_size=0)
    with pytest.raises(ValueError, match="non-empty batch"):
        lipnb.critic_gradient_norms(critic, np.zeros((0, 2)))
