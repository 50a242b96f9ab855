"""lipnb.gan: WGAN training, regimes, conditional inputs, timing and checkpoints."""

import keras
import numpy as np
import pytest

import lipnb

DATA, _ = lipnb.eight_gaussians(4000, np.random.default_rng(0))
HELD_OUT, _ = lipnb.eight_gaussians(256, np.random.default_rng(1))
W1 = lambda gan: {"quality": lipnb.wasserstein1(gan.sample(256), HELD_OUT)}  # noqa: E731


def train(regime, steps=10, **kwargs):
    return lipnb.train_wgan(DATA, regime, steps, W1, eval_every=steps, batch_size=64, seed=0,
                            learning_rate=1e-3, beta_1=0.5, **kwargs)


def test_wgan_training_reduces_w1_on_8_gaussians():
    gan, records = train("sn", steps=150)
    assert records[-1]["quality"] < 0.7 * records[0]["quality"]
    assert records[-1]["critic_steps"] == 150 * 5


def test_each_regime_applies_its_constraint():
    gan, _ = train("clip")
    assert all(np.abs(v.numpy()).max() <= 0.01 + 1e-7 for v in gan.critic.trainable_variables)
    gan, _ = train("constraint", steps=20)
    kernels = [v.numpy() for v in gan.critic.trainable_variables if v.path.endswith("kernel")]
    assert max(lipnb.spectral_norm(k) for k in kernels) <= 1.0 + 1e-2
    for regime in ("gp", "gp-one-sided"):
        gan, _ = train(regime)
        assert float(gan.trackers["interpolate_grad_norm"].result()) > 0  # the penalty was evaluated
    gan, _ = train("gp")
    assert float(gan.trackers["penalty"].result()) > 0
    gan, _ = train("sn")
    assert all(isinstance(l, lipnb.SpectralNormalization) for l in gan.critic.layers if l.weights)
    for layer in gan.critic.layers:
        if isinstance(layer, lipnb.SpectralNormalization):
            layer.warm_up()
    assert lipnb.lipschitz_upper_bound(gan.critic) == pytest.approx(1.0, abs=1e-5)
    gan, _ = train("keras-sn")
    kernels = [l.layer.kernel.numpy() for l in gan.critic.layers if isinstance(l, keras.layers.SpectralNormalization)]
    # Keras overwrites the kernel with W/sigma (one iteration: sigma underestimated); raw ones are near 2.
    assert len(kernels) == 4 and max(lipnb.spectral_norm(k) for k in kernels) < 1.5
    gan, _ = train("none")
    assert float(gan.trackers["penalty"].result()) == 0.0


def test_conditional_gan_and_image_critic():
    x, y, _ = lipnb.class_mixture(2000, 5, np.random.default_rng(0))
    gan, records = lipnb.train_wgan(x, "gp", 5, lambda g: {"quality": 0.0}, labels=y, num_classes=5,
                                    eval_every=5, batch_size=32)
    samples = gan.sample(10, labels=np.arange(10) % 5)
    assert samples.shape == (10, 2) and np.all(np.isfinite(samples))
    digits, _, _, _ = lipnb.load_digits_split(flatten=False)
    gan, _ = lipnb.train_wgan(digits, "sn", 3, lambda g: {"quality": 0.0}, batch_size=32, eval_every=3,
                              generator=lipnb.image_generator(latent_dim=8))
    assert gan.sample(4).shape == (4, 8, 8, 1)


def test_step_timing_reuses_compiled_steps():
    gans = {r: train(r, steps=2)[0] for r in ("gp", "sn")}
    times = lipnb.gan.time_train_steps(gans, DATA, steps=2, rounds=2, batch_size=64)
    assert set(times) == {"gp", "sn"} and all(t > 0 for t in times.values())


def test_step_timing_of_unfitted_gans_per_round():
    import keras

    gan = lipnb.WGAN(lipnb.mlp_generator(hidden=(8,)), lipnb.make_critic("sn", hidden=(8,)), regime="sn")
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    rounds = lipnb.gan.time_train_steps({"sn": gan}, DATA, steps=1, rounds=3, batch_size=16, per_round=True)
    assert rounds["sn"].shape == (3,) and np.all(rounds["sn"] > 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        lipnb.gan.time_train_steps({"sn": gan}, DATA, steps=1, warmup_steps=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown regime 'wgan'"):
        lipnb.make_critic("wgan")
    with pytest.raises(ValueError, match="n_critic"):
        lipnb.WGAN(lipnb.mlp_generator(), lipnb.make_critic("sn"), regime="sn", n_critic=0)
    with pytest.raises(ValueError, match="every"):
        lipnb.SampleQuality(W1, every=0)
    with pytest.raises(ValueError, match="positive integer"):
        lipnb.eight_gaussians(0, np.random.default_rng(0))


def test_critic_slopes_inside_training_logs():
    """Logged during training: an SN critic stays at slope <= 1 at every evaluation."""
    slopes = lambda gan: W1(gan) | lipnb.critic_slopes(gan, DATA, points=128)  # noqa: E731
    _, records = lipnb.train_wgan(DATA, "sn", 20, slopes, eval_every=10, batch_size=64, seed=0)
    assert len(records) == 3
    assert all(r[f"slope_{g}_max"] <= 1 + 1e-3 for r in records for g in ("real", "interpolates", "far"))


def test_evaluating_during_training_leaves_training_unchanged():
    """Sampling and slope logging draw from their own streams: the weights after training
    are the same whether the callback evaluates every 5 steps or only at the end."""
    often = lambda gan: W1(gan) | lipnb.critic_slopes(gan, DATA, points=64)  # noqa: E731
    gan_often, _ = lipnb.train_wgan(
        DATA, "gp", 20, often, eval_every=5, batch_size=64, seed=0, learning_rate=1e-3, beta_1=0.5)
    gan_rare, _ = train("gp", steps=20)
    for a, b in zip(gan_often.get_weights(), gan_rare.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_callback_round_trip(tmp_path):
    """fit's ModelCheckpoint saves the generator and critic weights; a fresh WGAN reloads them."""
    import keras as k

    path = tmp_path / "wgan.weights.h5"
    ckpt = k.callbacks.ModelCheckpoint(str(path), save_weights_only=True)
    gan = lipnb.WGAN(lipnb.mlp_generator(seed=0), lipnb.make_critic("sn", seed=0), regime="sn")
    gan.compile()
    gan.fit(lipnb.WGAN.dataset(DATA, 32, 5), steps_per_epoch=3, epochs=1, verbose=0, callbacks=[ckpt])
    fresh = lipnb.WGAN(lipnb.mlp_generator(seed=1), lipnb.make_critic("sn", seed=1), regime="sn")
    fresh.compile()
    fresh.load_weights(str(path))
    z = np.random.default_rng(0).standard_normal((8, 2)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fresh.generator(z)),
                               keras.ops.convert_to_numpy(gan.generator(z)), rtol=1e-6)


def test_maxmin_sn_critic_is_1_lipschitz_and_keeps_gradient_norm():
    critic = lipnb.make_critic("sn", input_shape=(2,), hidden=(16, 16), activation="maxmin", seed=3)
    assert sum(isinstance(layer, lipnb.MaxMin) for layer in critic.layers) == 2
    for layer in critic.layers:
        if isinstance(layer, lipnb.SpectralNormalization):
            layer.warm_up()
    assert lipnb.lipschitz_upper_bound(critic) <= 1 + 1e-5
    slopes = lipnb.critic_gradient_norms(critic, np.random.default_rng(0).normal(size=(64, 2)))
    assert slopes.max() <= 1 + 1e-4
    with pytest.raises(ValueError, match="activation"):
        lipnb.make_critic("sn", activation="relu")
    with pytest.raises(ValueError, match="even"):
        lipnb.make_critic("sn", hidden=(15,), activation="maxmin")


def test_hinge_loss_of_a_flat_critic_is_2():
    # A critic that outputs 0 everywhere: the hinge loss is relu(1) + relu(1) = 2, the WGAN loss 0.
    losses = {}
    for loss in lipnb.gan.LOSSES:
        critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros")])
        gan = lipnb.WGAN(lipnb.mlp_generator(hidden=(8,)), critic, regime="none", loss=loss, n_critic=1)
        gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
        out = gan.train_step(keras.ops.convert_to_tensor(DATA[:32]))
        losses[loss] = float(out["critic_loss"])
    assert losses == {"wasserstein": 0.0, "hinge": 2.0}
    with pytest.raises(ValueError, match="unknown loss"):
        lipnb.WGAN(lipnb.mlp_generator(), lipnb.make_critic("sn"), regime="sn", loss="least-squares")
    gan, records = train("sn", steps=5, loss="hinge")
    assert np.isfinite(records[-1]["quality"])


def test_train_wgan_builds_networks_of_the_given_width_and_activation():
    x = lipnb.eight_gaussians(512, np.random.default_rng(0))[0]
    gan, records = lipnb.train_wgan(x, "sn", 2, lambda g: {}, hidden=(16, 16), activation="maxmin",
                                    batch_size=32, eval_every=1, seed=0)
    widths = [l.layer.units for l in gan.critic.layers if isinstance(l, lipnb.SpectralNormalization)]
    assert widths == [16, 16, 1]
    assert any(isinstance(l, lipnb.MaxMin) for l in gan.critic.layers)
    assert [l.units for l in gan.generator.layers if isinstance(l, keras.layers.Dense)] == [16, 16, 2]
    assert len(records) == 3


def test_train_wgan_builds_the_generator_and_projection_it_is_told():
    """The generator's own widths and output activation; the constraint regime's projection
    mode (W <- W / sigma, notebook 08), each kernel holding the norm at exactly 1 after a step."""
    x = lipnb.eight_gaussians(512, np.random.default_rng(0))[0]
    settings = dict(hidden=(16, 16), generator_hidden=(8, 4), output_activation="tanh", batch_size=32,
                    eval_every=1, learning_rate=1e-2, seed=0)
    modes = lambda g: {l.kernel.constraint.mode for l in g.critic.layers  # noqa: E731
                       if isinstance(l, keras.layers.Dense)}
    lipnb.gan.clear_compiled()
    gan, _ = lipnb.train_wgan(x, "constraint", 3, lambda g: {}, projection="divide", **settings)
    dense = [l for l in gan.generator.layers if isinstance(l, keras.layers.Dense)]
    assert [l.units for l in dense] == [8, 4, 2] and dense[-1].activation is keras.activations.tanh
    # Both the WGAN returned and the compiled one that trained it divide; clipping is another
    # architecture, with a compiled WGAN of its own.
    assert modes(gan) == {"divide"} and [modes(g) for g in lipnb.gan._COMPILED.values()] == [{"divide"}]
    lipnb.train_wgan(x, "constraint", 3, lambda g: {}, **settings)
    assert sorted(map(sorted, (modes(g) for g in lipnb.gan._COMPILED.values()))) == [["clip"], ["divide"]]
    lipnb.gan.clear_compiled()
    for layer in gan.critic.layers:
        if isinstance(layer, keras.layers.Dense):
            # One power iteration per step from a tracked vector: near 1, not exactly.
            assert abs(np.linalg.norm(keras.ops.convert_to_numpy(layer.kernel), 2) - 1.0) < 0.05
    with pytest.raises(ValueError, match="'constraint' regime's"):
        lipnb.make_critic("sn", projection="divide")
    with pytest.raises(ValueError, match="projection"):
        lipnb.make_critic("constraint", projection="rescale")
    with pytest.raises(ValueError, match="'constraint' regime's"):
        lipnb.train_wgan(x, "sn", 3, lambda g: {}, projection="divide", **settings)
    with pytest.raises(ValueError, match="a critic was given"):
        lipnb.train_wgan(x, "constraint", 3, lambda g: {}, projection="divide", critic=lipnb.make_critic("none"))
    with pytest.raises(ValueError, match="a generator was given"):
        lipnb.train_wgan(x, "sn", 3, lambda g: {}, output_activation="tanh", generator=lipnb.mlp_generator())
    with pytest.raises(ValueError, match="steps"):
        lipnb.train_wgan(x, "sn", 0, lambda g: {})


@pytest.mark.parametrize("regime, conditional", [("gp", False), ("sn", False), ("gp", True), ("keras-sn", False),
                                                 ("constraint", False)])
def test_train_wgan_reuses_a_compiled_gan_without_changing_any_number(regime, conditional):
    """An architecture compiles once; each seed must still train from its own fresh state, so a
    seed trained after another gives exactly what a fresh compile gives, and the GAN it
    returns is its own (the next run does not overwrite it). Nor may the reuse shift the
    global random streams that code after the run draws from."""
    lipnb.gan.clear_compiled()
    x = DATA[:512]
    labels = (np.arange(512) % 3).astype("int32") if conditional else None
    sample_labels = np.arange(64) % 3 if conditional else None

    def evaluate(gan):
        return {"mean": float(np.mean(gan.sample(64, labels=sample_labels)))}

    kwargs = dict(hidden=(16, 16), batch_size=32, eval_every=3, gp_weight=1.0, learning_rate=1e-3,
                  labels=labels, num_classes=3 if conditional else None)
    untimed = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    draws = lambda: (np.random.random(), float(keras.random.uniform(())))  # noqa: E731
    fresh, fresh_records = lipnb.train_wgan(x, regime, 6, evaluate, seed=5, reuse_compiled=False, **kwargs)
    after_fresh = draws()
    _, compiling_records = lipnb.train_wgan(x, regime, 6, evaluate, seed=5, **kwargs)  # compiles the setting
    assert untimed(compiling_records) == untimed(fresh_records) and draws() == after_fresh
    # Another learning rate and penalty weight share the compiled step (they are variables)
    # and must not leak into the next run.
    first, _ = lipnb.train_wgan(x, regime, 4, evaluate, seed=4, **{**kwargs, "gp_weight": 5.0, "learning_rate": 3e-4})
    assert float(first.gp_weight_variable.numpy()) == 5.0
    assert float(first.critic_optimizer.learning_rate.numpy()) == pytest.approx(3e-4)
    before = [np.array(w) for w in first.get_weights()]
    reused, reused_records = lipnb.train_wgan(x, regime, 6, evaluate, seed=5, **kwargs)
    assert draws() == after_fresh
    # One compiled WGAN served all three runs (the constraint regime's projection vectors,
    # which live outside the model, are copied in and out with the rest of the state).
    assert len(lipnb.gan._COMPILED) == 1
    assert untimed(reused_records) == untimed(fresh_records)
    for a, b in zip(fresh.get_weights(), reused.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fresh.sample(8, labels=None if labels is None else labels[:8]),
                                  reused.sample(8, labels=None if labels is None else labels[:8]))
    for a, b in zip(before, first.get_weights()):  # the later run left the earlier GAN alone
        np.testing.assert_array_equal(a, b)
    lipnb.gan.clear_compiled()


@pytest.mark.parametrize("regime, conditional, extra", [
    ("gp", False, {}), ("sn", False, {}), ("gp", True, {}), ("keras-sn", False, {}), ("constraint", False, {}),
    ("constraint", False, dict(projection="divide", generator_hidden=(8,), output_activation="tanh"))],
    ids=["gp", "sn", "gp-conditional", "keras-sn", "constraint", "divide-own-generator"])
def test_train_wgans_gives_each_run_what_train_wgan_gives_it(regime, conditional, extra):
    """Runs with their own data, seeds, learning rates and penalty weights. On JAX they train
    side by side in one vmapped step: every evaluation must match the run trained alone, up
    to the rounding of batched arithmetic. Elsewhere they train one by one, exactly."""
    x = DATA[:512]
    labels = (np.arange(512) % 3).astype("int32") if conditional else None
    sample_labels = np.arange(64) % 3 if conditional else None

    def evaluate(gan):
        return {"mean": float(np.mean(gan.sample(64, labels=sample_labels)))}

    runs = [lipnb.GANRun(x, evaluate, seed=1, labels=labels, learning_rate=1e-3, gp_weight=1.0),
            lipnb.GANRun(x[::-1].copy(), evaluate, seed=2, labels=labels, learning_rate=3e-4, gp_weight=5.0),
            lipnb.GANRun(x, evaluate, seed=3, labels=labels)]
    shared = dict(hidden=(16, 16), batch_size=32, eval_every=3, num_classes=3 if conditional else None,
                  learning_rate=1e-4, gp_weight=0.5, **extra)
    together = lipnb.train_wgans(runs, regime, 7, batched=keras.backend.backend() == "jax", **shared)
    assert len(together) == 3
    for run, (gan, records) in zip(runs, together):
        alone, alone_records = lipnb.train_wgan(
            run.x, regime, 7, evaluate, labels=labels, seed=run.seed,
            **{**shared, **{k: v for k, v in (("learning_rate", run.learning_rate), ("gp_weight", run.gp_weight))
                            if v is not None}})
        assert [r["step"] for r in records] == [r["step"] for r in alone_records] == [0, 3, 6]
        assert [r["critic_steps"] for r in records] == [r["critic_steps"] for r in alone_records]
        np.testing.assert_allclose([r["mean"] for r in records], [r["mean"] for r in alone_records],
                                   rtol=1e-4, atol=1e-5)
        assert float(gan.gp_weight_variable.numpy()) == float(alone.gp_weight_variable.numpy())
        assert float(gan.critic_optimizer.iterations.numpy()) == 7 * 5


def test_train_wgans_rejects_what_it_cannot_batch():
    run = lipnb.GANRun(DATA[:256], lambda gan: {})
    with pytest.raises(ValueError, match="at least one run"):
        lipnb.train_wgans([], "sn", 2)
    with pytest.raises(ValueError, match="`critic` cannot be given"):
        lipnb.train_wgans([run], "sn", 2, critic=lipnb.make_critic("sn"))
    with pytest.raises(TypeError, match="unknown settings"):
        lipnb.train_wgans([run], "sn", 2, seed=3)
    with pytest.raises(ValueError, match="one data shape"):
        lipnb.train_wgans([run, lipnb.GANRun(np.zeros((256, 3), "float32"), lambda gan: {})], "sn", 2)
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="batched training runs on the JAX backend"):
            lipnb.train_wgans([run, run], "sn", 2, batched=True)


@pytest.mark.parametrize("build", [
    lambda seed: lipnb.mlp_generator(latent_dim=4, hidden=(8,), num_classes=3, seed=seed),
    lambda seed: lipnb.mlp_critic("sn", hidden=(8,), num_classes=3, seed=seed),
    lambda seed: lipnb.make_critic("gp", input_shape=(8, 8, 1), seed=seed),
    lambda seed: lipnb.image_generator(latent_dim=4, hidden=(8,), seed=seed),
], ids=["conditional generator", "conditional SN critic", "conv critic", "image generator"])
def test_networks_are_functions_of_their_seed_alone(build):
    """Whatever the global random streams hold, the same seed builds the same weights."""
    keras.utils.set_random_seed(1)
    a = [np.array(w) for w in build(7).get_weights()]
    keras.utils.set_random_seed(2)
    np.random.random(10)
    b = [np.array(w) for w in build(7).get_weights()]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("regime", ["gp", "sn"])
def test_steps_between_evaluations_in_one_call_match_keras_fit(regime):
    """train_wgan's loop on JAX (the steps between two evaluations scanned in one compiled
    call) trains as Keras's own fit does, evaluations included."""
    def fresh():
        lipnb.seed_everything(3)
        gan = lipnb.WGAN(lipnb.mlp_generator(hidden=(16, 16), seed=3),
                         lipnb.make_critic(regime, input_shape=(2,), hidden=(16, 16), seed=3), regime=regime, seed=3)
        gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
        return gan, lipnb.gan.SampleQuality(lambda g: {"mean": float(np.mean(g.sample(32)))}, every=4)

    stream = lambda: lipnb.WGAN.dataset(DATA[:512], 32, 5, seed=1)  # noqa: E731
    fitted, fit_log = fresh()
    fitted.fit(stream(), steps_per_epoch=10, epochs=1, callbacks=[fit_log], verbose=0, shuffle=False)
    scanned, scan_log = fresh()
    lipnb.gan._fit_scanned(scanned, stream(), 10, scan_log)
    assert [r["step"] for r in scan_log.records] == [r["step"] for r in fit_log.records] == [0, 4, 8]
    np.testing.assert_allclose([r["mean"] for r in scan_log.records], [r["mean"] for r in fit_log.records],
                               rtol=1e-4, atol=1e-6)
    for a, b in zip(scanned.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_stream_and_sampling_arguments_are_checked():
    x = np.zeros((64, 2), "float32")
    for kwargs, match in ((dict(batch_size=0, n_critic=5), "batch_size"),
                          (dict(batch_size=2.5, n_critic=5), "batch_size"),
                          (dict(batch_size=8, n_critic=0), "n_critic"),
                          (dict(batch_size=8, n_critic=1, labels=np.zeros(3, "int32")), "labels")):
        with pytest.raises(ValueError, match=match):
            lipnb.WGAN.dataset(x, **kwargs)
    gan = lipnb.WGAN(lipnb.mlp_generator(), lipnb.make_critic("sn"), regime="sn")
    for n in (-1, 0, 2.5):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            gan.sample(n)


@pytest.mark.parametrize("hidden", [(2.7,), (), (0, 4), "64"])
def test_networks_need_integer_widths(hidden):
    # int(2.7) would have built a 2-unit layer without a word
    for build in (lambda: lipnb.mlp_critic("sn", hidden=hidden), lambda: lipnb.mlp_generator(hidden=hidden)):
        with pytest.raises(ValueError, match="hidden must be a non-empty list of positive integer widths"):
            build()
