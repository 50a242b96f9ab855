"""The author's DCGAN setting on digits (lipnb.dcgan): his SN, BatchNorm's moments, the
critic, and the compiled-once trainer."""

import keras
import numpy as np
import pytest
from keras import ops

import lipnb
from lipnb.dcgan import DCGANCritic, DigitWGAN, batch_moments, per_call_sn


def test_per_call_sn_divides_by_a_power_estimate_that_never_exceeds_sigma():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3, 4, 8)).astype("float32")
    matrix = w.reshape(-1, 8)
    sigma = np.linalg.norm(matrix, 2)
    estimate = np.linalg.norm(w) / np.linalg.norm(ops.convert_to_numpy(per_call_sn(w, iterations=5)))
    assert estimate <= sigma * (1 + 1e-5)  # a power estimate is a lower bound
    assert estimate > 0.8 * sigma
    many = np.linalg.norm(w) / np.linalg.norm(ops.convert_to_numpy(per_call_sn(w, iterations=200)))
    assert many == pytest.approx(sigma, rel=1e-4)
    with pytest.raises(ValueError, match="iterations"):
        per_call_sn(w, iterations=0)


def test_batch_moments_are_the_population_moments():
    h = np.random.default_rng(1).standard_normal((16, 2, 2, 3)).astype("float32")
    mean, var = batch_moments(h, (0, 1, 2))
    np.testing.assert_allclose(ops.convert_to_numpy(mean), h.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(var), h.var(axis=(0, 1, 2)), rtol=1e-5)


@pytest.mark.parametrize("batchnorm, spectral", [(True, False), (True, True), (False, False)])
def test_dcgan_critic_scores_images_and_round_trips_its_config(batchnorm, spectral):
    critic = DCGANCritic((4, 8, 8), batchnorm=batchnorm, spectral=spectral, seed=3)
    x = np.random.default_rng(2).uniform(size=(5, 8, 8, 1)).astype("float32")
    scores = ops.convert_to_numpy(critic(x))
    assert scores.shape == (5, 1) and np.all(np.isfinite(scores))
    again = DCGANCritic.from_config(critic.get_config())
    again.build(x.shape)
    for target, source in zip(again.weights, critic.weights):
        target.assign(source.value)
    np.testing.assert_allclose(ops.convert_to_numpy(again(x)), scores, rtol=1e-6)
    # The seed fixes the weights.
    twin = DCGANCritic((4, 8, 8), batchnorm=batchnorm, spectral=spectral, seed=3)
    twin.build(x.shape)
    for a, b in zip(twin.weights, critic.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a.value), ops.convert_to_numpy(b.value))
    assert len(critic.gammas) == (2 if batchnorm else 0)


def test_dcgan_critic_rejects_bad_input():
    with pytest.raises(ValueError, match="images"):
        DCGANCritic((4,))(np.zeros((3, 8), "float32"))
    with pytest.raises(ValueError, match="filters"):
        DCGANCritic(())
    with pytest.raises(ValueError, match="sn_iterations"):
        DCGANCritic(sn_iterations=0)


def _tiny_gan(**kwargs):
    def small_generator(seed):
        return lipnb.image_generator(latent_dim=4, hidden=(8,), seed=seed)

    return DigitWGAN(**kwargs, batch=8, n_critic=2, latent_dim=4, filters=(4, 8, 8),
                     generator_factory=small_generator)


def test_digit_wgan_seed_results_do_not_depend_on_earlier_runs():
    """The step is compiled once per arm; each run must start from its own seed's fresh
    weights and optimizer state, so a seed run second gives what it gives run first."""
    images = np.random.default_rng(0).uniform(size=(40, 8, 8, 1)).astype("float32")

    def evaluate(generator):
        return {"mean": float(np.mean(ops.convert_to_numpy(generator(np.ones((4, 4), "float32")))))}

    first = _tiny_gan(batchnorm=False, spectral=False, gp_weight=10.0)
    alone = first.run(images, seed=2, steps=4, eval_every=2, evaluate=evaluate)
    assert [r["step"] for r in alone] == [0, 2, 4] and [r["critic_steps"] for r in alone] == [0, 4, 8]
    assert alone[0]["mean"] != alone[-1]["mean"]  # it trained
    second = _tiny_gan(batchnorm=False, spectral=False, gp_weight=10.0)
    second.run(images, seed=1, steps=3, eval_every=3, evaluate=evaluate)
    step = second._step
    after_another = second.run(images, seed=2, steps=4, eval_every=2, evaluate=evaluate)
    assert second._step is step  # the compiled step was reused
    assert after_another == alone


@pytest.mark.parametrize("arm", [dict(batchnorm=False, spectral=False, gp_weight=10.0),
                                 dict(batchnorm=True, spectral=True, gp_weight=0.0)], ids=["gp", "author's sn"])
def test_digit_wgan_run_many_gives_each_seed_what_run_gives_it(arm):
    """Side by side on JAX (one by one elsewhere), each seed's records and trained generator
    must be those of run(), up to the rounding of batched arithmetic."""
    images = np.random.default_rng(0).uniform(size=(40, 8, 8, 1)).astype("float32")

    def evaluate(generator):
        return {"mean": float(np.mean(ops.convert_to_numpy(generator(np.ones((4, 4), "float32")))))}

    together = _tiny_gan(**arm).run_many(images, seeds=[3, 1, 2], steps=5, eval_every=2, evaluate=evaluate,
                                         batched=keras.backend.backend() == "jax")
    alone = _tiny_gan(**arm)
    for seed, (records, weights) in zip([3, 1, 2], together):
        expected = alone.run(images, seed=seed, steps=5, eval_every=2, evaluate=evaluate)
        assert [r["step"] for r in records] == [r["step"] for r in expected] == [0, 2, 4]
        np.testing.assert_allclose([r["mean"] for r in records], [r["mean"] for r in expected], rtol=1e-4, atol=1e-6)
        for a, b in zip(weights, alone.generator.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="at least one seed"):
        alone.run_many(images, seeds=[], steps=1, eval_every=1, evaluate=evaluate)


def test_digit_wgan_rejects_bad_input():
    gan = _tiny_gan(batchnorm=True, spectral=True, gp_weight=0.0)
    images = np.zeros((10, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="steps"):
        gan.run(images, seed=0, steps=0, eval_every=1, evaluate=lambda g: {})
    with pytest.raises(ValueError, match="4-D"):
        gan.run(images[..., 0], seed=0, steps=1, eval_every=1, evaluate=lambda g: {})
    bad = images.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        gan.run(bad, seed=0, steps=1, eval_every=1, evaluate=lambda g: {})
    with pytest.raises(ValueError, match="gp_weight"):
        DigitWGAN(batchnorm=True, spectral=False, gp_weight=-1.0)
    assert keras.backend.backend() in lipnb.backend.SUPPORTED
