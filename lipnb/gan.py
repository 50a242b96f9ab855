"""Wasserstein GANs with every critic regime of the article (section "Generative models").

``WGAN`` is a ``keras.Model`` with its own ``train_step``, so ``fit`` brings callbacks,
progress bars and checkpoints. The critic regime decides how the 1-Lipschitz constraint
of eq. (22) is pursued:

============== ===========================================================================
``clip``        clip every critic weight to [-c, c] after each step (original WGAN)
``gp``          add the gradient penalty of eq. (24) at the interpolates of eq. (26)
``gp-one-sided`` add the one-sided penalty of eq. (25)
``sn``          lipnb.SpectralNormalization on every critic layer (true reparameterization)
``keras-sn``    keras.layers.SpectralNormalization on every critic layer
``constraint``  a spectral projection applied after each step (Keras constraint semantics)
``none``        no constraint
============== ===========================================================================
"""

from __future__ import annotations

import inspect
from typing import Callable, NamedTuple, Sequence

import keras
import numpy as np
from keras import ops

from lipnb import backend
from lipnb._keras_compat import jax_trainer_state, set_jax_trainer_state
from lipnb.constraints import SpectralProjection, WeightClip
from lipnb.layers import MaxMin, SpectralNormalization
from lipnb.penalties import gradient_penalty
from lipnb.training import evaluation_chunks
from lipnb.validation import number, one_of, positive_int, twin_variables, widths

__all__ = ["REGIMES", "LOSSES", "WGAN", "SampleQuality", "train_wgan", "train_wgans", "GANRun", "mlp_critic",
           "mlp_generator", "image_generator", "make_critic", "time_train_steps", "clear_compiled"]

REGIMES = ("clip", "gp", "gp-one-sided", "sn", "keras-sn", "constraint", "none")
LOSSES = ("wasserstein", "hinge")


def _check_regime(regime):
    return one_of(regime, "regime", REGIMES)


def _check_projection(regime, projection):
    one_of(projection, "projection", SpectralProjection.MODES)
    if projection != "clip" and regime != "constraint":
        raise ValueError(f"projection={projection!r} is the 'constraint' regime's; regime {regime!r} has none")


def _dense_factory(regime, clip: float, seed: int, projection: str = "clip"):
    """Dense layers for a critic of the given regime."""
    count = [0]

    def dense(units, activation=None, name=None):
        count[0] += 1
        kwargs = dict(activation=activation, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + count[0]))
        if regime == "clip":
            kwargs.update(kernel_constraint=WeightClip(clip), bias_constraint=WeightClip(clip))
        if regime == "constraint":
            kwargs.update(kernel_constraint=SpectralProjection(1.0, mode=projection))
        layer = keras.layers.Dense(units, **kwargs)
        if regime == "sn":
            return SpectralNormalization(layer, name=name)
        if regime == "keras-sn":
            return keras.layers.SpectralNormalization(layer, name=name)
        return layer

    return dense


ACTIVATIONS = ("leaky_relu", "maxmin")


def mlp_critic(regime: str, input_dim: int = 2, hidden: Sequence[int] = (128, 128, 128),
               num_classes: int | None = None, clip: float = 0.01, seed: int = 0,
               activation: str = "leaky_relu", projection: str = "clip") -> keras.Model:
    """An MLP critic ``f(x)`` (or ``f(x, y)`` with a class projection) for the given regime.

    ``activation="maxmin"`` puts :class:`lipnb.MaxMin` after each hidden layer instead of
    leaky relu (Anil et al. 2019): it keeps the gradient norm that norm-constrained relu
    networks lose, so a spectrally normalized critic can reach slope 1 (notebook 06).

    ``projection`` is the ``"constraint"`` regime's :class:`lipnb.SpectralProjection`
    mode after each step: ``"clip"`` onto the unit ball, or ``"divide"`` by the norm
    estimate (the article's ``W <- W / sigma``; notebook 08).

    Conditional critics use the projection of Miyato & Koyama (2018):
    ``f(x, y) = w^T phi(x) + <E[y], phi(x)>``, with ``E`` an embedding (spectrally
    normalized too under ``sn``/``keras-sn``).
    """
    _check_regime(regime)
    one_of(activation, "activation", ACTIVATIONS)
    _check_projection(regime, projection)
    hidden, input_dim = widths(hidden), positive_int(input_dim, "input_dim")
    if num_classes is not None:
        num_classes = positive_int(num_classes, "num_classes")
    if activation == "maxmin" and any(u % 2 for u in hidden):
        raise ValueError(f"MaxMin pairs units: every hidden width must be even, got {tuple(hidden)}")

    dense = _dense_factory(regime, clip, seed, projection)
    x_in = keras.Input((input_dim,), name="x")
    h = x_in
    for units in hidden:
        if activation == "maxmin":
            h = MaxMin()(dense(units)(h))
        else:
            h = dense(units, activation="leaky_relu")(h)
    score = dense(1)(h)
    if num_classes is None:
        return keras.Model(x_in, score, name=f"critic_{regime}")
    y_in = keras.Input((), dtype="int32", name="label")
    embed = keras.layers.Embedding(int(num_classes), int(hidden[-1]),
                                   embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05, seed=seed))
    if regime == "sn":
        embed = SpectralNormalization(embed)
    elif regime == "keras-sn":
        embed = keras.layers.SpectralNormalization(embed)
    class_term = keras.layers.Dot(axes=1)([embed(y_in), h])
    return keras.Model([x_in, y_in], keras.layers.Add()([score, class_term]), name=f"critic_{regime}")


def make_critic(regime: str, input_shape=(2,), num_classes=None, seed: int = 0, projection: str = "clip",
                **kwargs) -> keras.Model:
    """An MLP critic for vectors, or lipnb's conv critic for 8x8 images, for a regime
    (``projection``: the ``"constraint"`` regime's, as in :func:`mlp_critic`)."""
    _check_regime(regime)
    if len(input_shape) == 1:
        return mlp_critic(regime, input_dim=int(input_shape[0]), num_classes=num_classes, seed=seed,
                          projection=projection, **kwargs)
    from lipnb.models import conv_critic

    _check_projection(regime, projection)
    if num_classes is not None:
        raise ValueError("conditional image critics are not provided; use an MLP critic on flattened images")
    norm = {"sn": "lipnb", "keras-sn": "keras"}.get(regime)
    critic = conv_critic(input_shape=tuple(input_shape), normalization=norm, seed=seed)
    if regime in ("clip", "constraint"):
        constraint = WeightClip(kwargs.get("clip", 0.01)) if regime == "clip" \
            else SpectralProjection(1.0, mode=projection)
        for layer in critic.layers:
            if hasattr(layer, "kernel"):
                layer.kernel.constraint = constraint
                if regime == "clip" and getattr(layer, "bias", None) is not None:
                    layer.bias.constraint = constraint
    return critic


def mlp_generator(latent_dim: int = 2, output_dim: int = 2, hidden: Sequence[int] = (128, 128, 128),
                  num_classes: int | None = None, output_activation=None, seed: int = 0) -> keras.Model:
    """An MLP generator ``G(z)`` (or ``G(z, y)`` with a class embedding concatenated to z)."""
    latent_dim, output_dim = positive_int(latent_dim, "latent_dim"), positive_int(output_dim, "output_dim")
    hidden = widths(hidden)
    if num_classes is not None:
        num_classes = positive_int(num_classes, "num_classes")
    z_in = keras.Input((latent_dim,), name="z")
    h, inputs = z_in, [z_in]
    if num_classes is not None:
        y_in = keras.Input((), dtype="int32", name="label")
        # Keras's default embedding initializer, seeded: the generator is a function of `seed` alone.
        embed = keras.layers.Embedding(int(num_classes), int(latent_dim),
                                       embeddings_initializer=keras.initializers.RandomUniform(-0.05, 0.05,
                                                                                               seed=seed + 1000))
        h = keras.layers.Concatenate()([z_in, embed(y_in)])
        inputs.append(y_in)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(int(units), activation="relu",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(h)
    out = keras.layers.Dense(int(output_dim), activation=output_activation,
                             kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden)))(h)
    return keras.Model(inputs if len(inputs) > 1 else z_in, out, name="generator")


def image_generator(latent_dim: int = 32, shape=(8, 8, 1), hidden: Sequence[int] = (128, 256), seed: int = 0):
    """An MLP generator of images in [0, 1] (for 8x8 digits)."""
    gen = mlp_generator(latent_dim, int(np.prod(shape)), hidden, output_activation="sigmoid", seed=seed)
    return keras.Sequential([gen, keras.layers.Reshape(shape)], name="image_generator")


class WGAN(keras.Model):
    """A Wasserstein GAN trained with ``fit``: ``n_critic`` critic steps per generator step.

    Each batch the dataset yields must hold ``n_critic`` critic minibatches: critic step
    ``i`` uses slice ``i`` (use :meth:`dataset`). For a conditional GAN the dataset yields
    ``(images, labels)`` and both networks take ``[input, labels]``.

    Args:
        generator: maps ``z`` (or ``[z, labels]``) to samples.
        critic: maps samples (or ``[samples, labels]``) to one score each; build it for the
            regime with :func:`make_critic`.
        regime: one of :data:`REGIMES`.
        latent_dim: size of ``z``.
        n_critic: critic steps per generator step (WGAN-GP: 5).
        gp_weight: lambda of eqs. (24)-(25) (WGAN-GP: 10).
        num_classes: set for a conditional GAN.
        loss: ``"wasserstein"`` (eq. (22): the critic maximizes ``E f(real) - E f(fake)``)
            or ``"hinge"``, the objective SN-GAN trains with: the critic minimizes
            ``E relu(1 - f(real)) + E relu(1 + f(fake))``. The generator minimizes
            ``-E f(fake)`` under both.
        seed: seed of the latent and interpolation draws.

    Example:
        >>> from lipnb.data import eight_gaussians
        >>> points, _ = eight_gaussians(2048, np.random.default_rng(0))
        >>> gan = WGAN(mlp_generator(), make_critic("sn"), regime="sn")
        >>> gan.compile()
        >>> history = gan.fit(WGAN.dataset(points, batch_size=256, n_critic=5), steps_per_epoch=3,
        ...                   verbose=0, shuffle=False)
        >>> gan.sample(4).shape
        (4, 2)
    """

    def __init__(self, generator, critic, regime: str, latent_dim: int | None = None, n_critic: int = 5,
                 gp_weight: float = 10.0, num_classes: int | None = None, loss: str = "wasserstein",
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.regime = _check_regime(regime)
        one_of(loss, "loss", LOSSES)
        self.loss_name = loss
        n_critic = positive_int(n_critic, "n_critic")
        number(gp_weight, "gp_weight", minimum=0.0)
        self.generator, self.critic = generator, critic
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.n_critic, self.gp_weight = int(n_critic), float(gp_weight)
        # The penalty weight is read from a variable, not baked into the compiled step, so
        # one compiled step serves every weight of a grid (train_wgan copies it in, with
        # the optimizers' learning rates, which Keras keeps in variables too).
        self.gp_weight_variable = keras.Variable(self.gp_weight, trainable=False, dtype="float32",
                                                 name="gp_weight")
        self.num_classes = num_classes
        self.seed_generator = keras.random.SeedGenerator(seed)
        # sample() draws from its own stream: evaluating during training (a callback that
        # samples) must not shift the latent and interpolation draws training uses.
        self.sample_seed_generator = keras.random.SeedGenerator(seed + 1)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("critic_loss", "generator_loss", "wasserstein", "penalty", "interpolate_grad_norm")}
        # Both networks are built Keras models, so the WGAN's weights exist now; marking it
        # built lets checkpoints and save_weights work before the first call.
        self.built = True

    @staticmethod
    def dataset(x, batch_size: int, n_critic: int, labels=None, seed: int = 0):
        """A repeating, shuffled stream of ``n_critic * batch_size`` batches.

        A ``tf.data`` pipeline on TensorFlow; elsewhere a generator of numpy batches that
        reshuffles the data (seeded) each time it has gone through it.
        """
        batch_size, n_critic = positive_int(batch_size, "batch_size"), positive_int(n_critic, "n_critic")
        if labels is not None and len(labels) != len(x):
            raise ValueError(f"x has {len(x)} examples but labels has {len(labels)}")
        if backend.name() == "tensorflow":
            import tensorflow as tf

            data = (x,) if labels is None else (x, labels)
            ds = tf.data.Dataset.from_tensor_slices(data if labels is not None else x)
            return ds.shuffle(min(len(x), 100_000), seed=seed).repeat().batch(batch_size * n_critic,
                                                                              drop_remainder=True)
        return _numpy_stream(np.asarray(x), None if labels is None else np.asarray(labels),
                             batch_size * n_critic, seed)

    def compile(self, critic_optimizer=None, generator_optimizer=None, **kwargs):
        """Adam(1e-4, beta_1=0, beta_2=0.9) for both, as in WGAN-GP, unless given."""
        super().compile(**kwargs)
        self.critic_optimizer = critic_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
        self.generator_optimizer = generator_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
        # Create the optimizer slots now: the critic updates run inside a graph loop,
        # where variables cannot be created.
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.generator_optimizer.build(self.generator.trainable_variables)
        if backend.name() == "jax":
            # Keras's JAX trainer carries `self.optimizer.variables` through its stateless
            # step; both optimizers' state must be in it.
            self.optimizer = _OptimizerPair(self.critic_optimizer, self.generator_optimizer)
            from lipnb.models import _warm_up_spectral_layers

            _warm_up_spectral_layers(self.critic)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def sample(self, n: int, labels=None):
        """n generated samples (numpy); ``labels`` for a conditional generator.

        The latent draws come from a stream separate from training's, so sampling, as often
        as you like, leaves the training trajectory unchanged.
        """
        n = positive_int(n, "n")
        z = keras.random.normal((n, self.latent_dim), seed=self.sample_seed_generator)
        inputs = z if labels is None else [z, ops.convert_to_tensor(np.asarray(labels), "int32")]
        return keras.ops.convert_to_numpy(self.generator(inputs, training=False))

    def _inputs(self, x, labels):
        return x if labels is None else [x, labels]

    def critic_step(self, real, labels):
        """One critic update on a real minibatch; returns (loss, W estimate, penalty, grad norm)."""
        batch = ops.shape(real)[0]
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(self._inputs(z, labels), training=True)

        def critic_loss():
            # Real and fake in one call: a spectrally normalized critic iterates once
            # per step and scores both halves with the same normalized weights.
            both_labels = None if labels is None else ops.concatenate([labels, labels], 0)
            scores = self.critic(self._inputs(ops.concatenate([real, fake], 0), both_labels), training=True)
            w_estimate = ops.mean(scores[:batch]) - ops.mean(scores[batch:])
            if self.loss_name == "hinge":
                loss = ops.mean(ops.relu(1.0 - scores[:batch])) + ops.mean(ops.relu(1.0 + scores[batch:]))
            else:
                loss = -w_estimate
            penalty, norm = ops.zeros((), "float32"), ops.zeros((), "float32")
            if self.regime in ("gp", "gp-one-sided"):
                penalty, norms = gradient_penalty(
                    self.critic, real, fake, one_sided=self.regime == "gp-one-sided",
                    extra_inputs=None if labels is None else [labels], return_norms=True,
                    seed=self.seed_generator)
                loss = loss + ops.cast(self.gp_weight_variable, penalty.dtype) * penalty
                norm = ops.mean(norms)
            return loss, (w_estimate, penalty, norm)

        (loss, (w_estimate, penalty, norm)), grads = backend.value_and_grad(
            critic_loss, self.critic.trainable_variables)
        # Keras applies kernel constraints (clip, projection) right after this step.
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        return loss, w_estimate, penalty, norm

    def generator_step(self, batch, labels=None):
        """One generator update on ``batch`` latent draws; returns the generator loss."""
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

        def generator_loss():
            fake = self.generator(self._inputs(z, labels), training=True)
            # training=False: no power iteration here; lipnb's SN still normalizes.
            return -ops.mean(self.critic(self._inputs(fake, labels), training=False)), None

        (g_loss, _), grads = backend.value_and_grad(generator_loss, self.generator.trainable_variables)
        self.generator_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return g_loss

    def train_step(self, *args):
        """One generator step after ``n_critic`` critic steps.

        Called as ``train_step(data)`` on TensorFlow and PyTorch (and eagerly on JAX); in
        ``fit`` on JAX, Keras's trainer calls the stateless ``train_step(state, data)`` and
        expects ``(logs, state)``.
        """
        if backend.name() == "jax" and len(args) == 2:
            return self._stateless_train_step(*args)
        (data,) = args  # also JAX, called eagerly: the variables are updated in place
        return self._train_step(data)

    def _train_step(self, data):
        if isinstance(data, (tuple, list)):  # (images, labels), or a 1-tuple from a data adapter
            real_all, labels_all = data[0], (data[1] if len(data) > 1 else None)
        else:
            real_all, labels_all = data, None
        batch = ops.shape(real_all)[0] // self.n_critic
        if backend.name() == "tensorflow":
            import tensorflow as tf

            batch = tf.shape(real_all)[0] // self.n_critic

            def body(i, *_):
                real = real_all[i * batch:(i + 1) * batch]
                labels = None if labels_all is None else labels_all[i * batch:(i + 1) * batch]
                return (i + 1, *self.critic_step(real, labels))

            # A graph loop rather than an unrolled one: tracing stays fast for any n_critic.
            zero = tf.constant(0.0)
            _, loss, w_estimate, penalty, norm = tf.while_loop(
                lambda i, *_: i < self.n_critic, body, (tf.constant(0), zero, zero, zero, zero))
        else:
            for i in range(self.n_critic):
                real = real_all[i * batch:(i + 1) * batch]
                labels = None if labels_all is None else labels_all[i * batch:(i + 1) * batch]
                loss, w_estimate, penalty, norm = self.critic_step(real, labels)
        labels = None if labels_all is None else labels_all[:batch]
        g_loss = self.generator_step(batch, labels)
        values = dict(critic_loss=loss, generator_loss=g_loss, wasserstein=w_estimate, penalty=penalty,
                      interpolate_grad_norm=norm)
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def _stateless_train_step(self, state, data):
        """Keras's JAX pattern: the same step, run in a stateless scope over ``state``."""
        groups = (self.trainable_variables, self.non_trainable_variables, self.optimizer.variables,
                  self.metrics_variables)
        mapping = [(v, x) for variables, values in zip(groups, state) for v, x in zip(variables, values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._train_step(data)
        new_state = tuple([scope.get_current_value(v) for v in variables] for variables in groups)
        return logs, new_state


class _OptimizerPair:
    """The critic's and the generator's optimizers, seen by Keras's JAX trainer as one.

    The trainer reads ``variables`` to carry optimizer state through its jitted step;
    the updates themselves are the two optimizers' own (``WGAN._train_step``).
    """

    built = True

    def __init__(self, *optimizers):
        self.optimizers = optimizers

    @property
    def variables(self):
        return [v for opt in self.optimizers for v in opt.variables]


def _numpy_stream(x, labels, batch: int, seed: int):
    """Endless batches of ``batch`` rows (with labels), reshuffled after each pass."""
    if batch > len(x):
        raise ValueError(f"a batch of {batch} rows needs at least that many examples, got {len(x)}")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            idx = order[start:start + batch]
            yield (x[idx],) if labels is None else (x[idx], labels[idx])


class SampleQuality(keras.callbacks.Callback):
    """Evaluates a WGAN every ``every`` generator steps; keeps training time separate.

    Each record holds the generator step, the critic steps so far, the training seconds
    so far (evaluation time excluded) and the metrics ``evaluate(gan)`` returns.
    """

    def __init__(self, evaluate, every: int):
        super().__init__()
        every = positive_int(every, "every")
        self.evaluate, self.every = evaluate, int(every)
        self.records: list[dict] = []

    def on_train_begin(self, logs=None):
        import time

        self._clock, self._train_seconds, self._step = time.perf_counter, 0.0, 0
        self.records.append(dict(step=0, critic_steps=0, seconds=0.0, **self.evaluate(self.model)))
        self._t0 = self._clock()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            self._train_seconds += self._clock() - self._t0
            self.records.append(dict(step=self._step, critic_steps=self._step * self.model.n_critic,
                                     seconds=self._train_seconds, **self.evaluate(self.model)))
            self._t0 = self._clock()


# train_wgan's settings (everything but the seed and the data's values) -> a compiled
# WGAN that trains every seed of those settings: compiling once per setting, not per run.
_COMPILED: dict = {}


def clear_compiled() -> None:
    """Forget the compiled WGANs that :func:`train_wgan` keeps for reuse."""
    _COMPILED.clear()


def copy_variables(sources, targets) -> None:
    """Assign each variable of ``sources`` to its twin in ``targets`` (same order and shapes).

    How a model compiled once trains many seeds: load a fresh seed's state into it, train,
    copy the result out. A mismatch means the two are not the same architecture.
    """
    sources, targets = twin_variables(sources, targets)
    for src, dst in zip(sources, targets):
        dst.assign(src.value)




def _copy_state(source: WGAN, target: WGAN) -> None:
    """Every variable of ``source`` (networks, seed streams, optimizers, metrics) into ``target``."""
    copy_variables(_state_of(source), _state_of(target))


def _fit_scanned(gan: WGAN, stream, steps: int, log: SampleQuality) -> None:
    """What ``gan.fit`` does for :func:`train_wgan`, on JAX, with the steps between two
    evaluations run in one compiled call (``backend.compile_stateful(..., scan=True)``).

    Keras's JAX trainer dispatches every step from Python. For these small networks that
    dispatch, a host round trip on a GPU, costs more than the step itself.
    """
    step = getattr(gan, "_lipnb_scanned_step", None)
    if step is None:
        step = backend.compile_stateful(lambda *data: gan._train_step(data), _state_of(gan), scan=True)
        gan._lipnb_scanned_step = step  # kept with the WGAN that train_wgan reuses per setting
    batches_of = iter(stream)
    gan.reset_metrics()
    log.set_model(gan)
    log.on_train_begin()
    for chunk, done, _ in evaluation_chunks(steps, log.every):
        batches = [next(batches_of) for _ in range(chunk)]
        batches = [b if isinstance(b, (tuple, list)) else (b,) for b in batches]  # tf.data: bare tensors
        backend.wait(step(tuple(np.stack(parts) for parts in zip(*batches))))  # the clock must see the work
        for i in range(done - chunk, done):
            log.on_train_batch_end(i)


def train_wgan(x, regime: str, steps: int, evaluate, *, labels=None, num_classes=None, generator=None,
               critic=None, hidden: Sequence[int] = (128, 128, 128), activation: str = "leaky_relu",
               generator_hidden: Sequence[int] | None = None, output_activation: str | None = None,
               projection: str = "clip", latent_dim: int = 2, batch_size: int = 256, n_critic: int = 5,
               learning_rate: float = 1e-4, beta_1: float = 0.0, beta_2: float = 0.9, gp_weight: float = 10.0,
               eval_every: int = 50,
               loss: str = "wasserstein", seed: int = 0, reuse_compiled: bool = True, verbose: int = 0):
    """Build (unless given) and train a WGAN for ``steps`` generator steps; log sample quality.

    Unless ``generator``/``critic`` are given, both are MLPs seeded with ``seed``: the
    critic has ``hidden`` units per layer and ``activation`` (``"leaky_relu"`` or
    ``"maxmin"``), built for ``regime`` (and ``projection``) by :func:`make_critic`; the
    generator has ``generator_hidden`` units per layer (by default ``hidden``) and
    ``output_activation`` on its output (by default none).

    When it builds both networks and ``reuse_compiled`` is on, the training runs on a
    compiled WGAN kept for these settings, loaded with this seed's fresh weights, seed
    streams and optimizer state; the returned WGAN gets the trained state. The numbers are
    those of a fresh compile (a test checks this), but an architecture compiles once however
    many seeds, learning rates and penalty weights it trains: on a GPU, compiling would
    otherwise take longer than training.
    Networks passed in are always trained as given. To train many seeds or settings of
    one architecture at once, use :func:`train_wgans`.

    Returns:
        ``(gan, records)`` with the :class:`SampleQuality` records.
    """
    from lipnb.repro import seed_everything

    steps = positive_int(steps, "steps")
    if generator is not None and (generator_hidden is not None or output_activation is not None):
        raise ValueError("generator_hidden and output_activation shape the generator train_wgan builds; "
                         "a generator was given")
    if critic is not None and projection != "clip":
        raise ValueError("projection shapes the critic train_wgan builds; a critic was given")
    seed_everything(seed)
    x = np.asarray(x)
    architecture = _Architecture.of(regime, x, labels is not None, dict(
        num_classes=num_classes, hidden=hidden, activation=activation, generator_hidden=generator_hidden,
        output_activation=output_activation, projection=projection, latent_dim=latent_dim,
        batch_size=batch_size, n_critic=n_critic, beta_1=beta_1, beta_2=beta_2, loss=loss))
    runner = architecture.compiled(seed) if generator is None and critic is None and reuse_compiled else None
    gan = architecture.build(seed, learning_rate, gp_weight, generator, critic)
    if runner is None:
        runner = gan
    else:
        _copy_state(gan, runner)
    log = SampleQuality(evaluate, eval_every)
    stream = WGAN.dataset(x, batch_size, n_critic, labels=labels, seed=seed)
    if backend.name() == "jax":
        _fit_scanned(runner, stream, int(steps), log)
    else:
        runner.fit(stream, steps_per_epoch=int(steps), epochs=1, callbacks=[log], verbose=verbose,
                   shuffle=False)  # the dataset is already a seeded stream; Keras warns that it cannot shuffle it
    if runner is not gan:
        _copy_state(runner, gan)
    return gan, log.records


class GANRun(NamedTuple):
    """One run of :func:`train_wgans`: its data, evaluation and seed, and optionally its
    own learning rate and penalty weight (otherwise the shared ones)."""

    x: np.ndarray
    evaluate: Callable
    seed: int = 0
    labels: np.ndarray | None = None
    learning_rate: float | None = None
    gp_weight: float | None = None


def train_wgans(runs: Sequence[GANRun], regime: str, steps: int, *, batched: bool | None = None,
                **settings) -> list:
    """Train many WGANs of one architecture: :func:`train_wgan` for each of ``runs``.

    Each run has its own data, evaluation and seed, and may have its own learning rate and
    penalty weight; everything else (``settings``: any keyword of :func:`train_wgan`
    except ``generator`` and ``critic``) is shared.

    With ``batched`` (JAX only; the default on JAX with a GPU, see
    :func:`lipnb.backend.side_by_side`) all runs train side by side in one compiled
    step (:func:`lipnb.backend.compile_batched`): each run's state (weights, optimizer,
    random streams) is one slice of a stacked state, so each run computes what it would
    alone, up to the rounding of batched arithmetic (a test checks this), and a GPU
    runs all of them for about the price of one. Each run is evaluated on its own WGAN
    between the compiled loops; a record's ``seconds`` are then the whole batch's
    training time. Otherwise the runs train one after another, exactly as
    :func:`train_wgan` would.

    Returns:
        ``[(gan, records), ...]`` in the order of ``runs``.
    """
    steps = positive_int(steps, "steps")
    runs = [r if isinstance(r, GANRun) else GANRun(**r) for r in runs]
    if not runs:
        raise ValueError("train_wgans needs at least one run")
    for name in ("generator", "critic"):
        if settings.get(name) is not None:
            raise ValueError(f"train_wgans builds the networks of every run; `{name}` cannot be given "
                             "(train networks of your own with train_wgan)")
    unknown = set(settings) - _TRAIN_WGAN_SETTINGS
    if unknown:
        raise TypeError(f"train_wgans got unknown settings {sorted(unknown)}; "
                        f"it shares these of train_wgan's: {sorted(_TRAIN_WGAN_SETTINGS)}")
    shapes = {(tuple(np.shape(r.x)[1:]), np.asarray(r.x).dtype.str, r.labels is None) for r in runs}
    if len(shapes) > 1:
        raise ValueError(f"the runs of train_wgans must share one data shape, dtype and labelling; got {shapes}")

    def own(run):
        return dict(settings, learning_rate=settings.get("learning_rate", 1e-4) if run.learning_rate is None
                    else run.learning_rate,
                    gp_weight=settings.get("gp_weight", 10.0) if run.gp_weight is None else run.gp_weight)

    if not backend.batched(batched) or len(runs) == 1:
        return [train_wgan(r.x, regime, steps, r.evaluate, labels=r.labels, seed=r.seed, **own(r)) for r in runs]
    return _train_batched(runs, regime, int(steps), own, settings)


# Every keyword of train_wgan but what each GANRun holds (its data, evaluation and seed).
_TRAIN_WGAN_SETTINGS = {name for name, p in inspect.signature(train_wgan).parameters.items()
                        if p.kind is inspect.Parameter.KEYWORD_ONLY} - {"labels", "seed"}


def _train_batched(runs, regime, steps, own, settings):
    """:func:`train_wgans` on JAX: every run one slice of a vmapped, scanned step."""
    import time

    from lipnb.repro import seed_everything

    defaults = {k: p.default for k, p in inspect.signature(train_wgan).parameters.items()
                if p.default is not inspect.Parameter.empty}
    cfg = {**defaults, **settings}
    architecture = _Architecture.of(regime, np.asarray(runs[0].x), runs[0].labels is not None, cfg)
    runner = architecture.compiled(runs[0].seed)
    gans, streams, logs = [], [], []
    for run in runs:
        seed_everything(run.seed)
        mine = own(run)
        gans.append(architecture.build(run.seed, mine["learning_rate"], mine["gp_weight"]))
        streams.append(iter(WGAN.dataset(np.asarray(run.x), architecture.batch_size, architecture.n_critic,
                                          labels=run.labels, seed=run.seed)))
        logs.append(SampleQuality(run.evaluate, cfg["eval_every"]))
    step = getattr(runner, "_lipnb_batched_step", None)
    if step is None:
        step = backend.compile_batched(lambda *data: runner._train_step(data), _state_of(runner))
        runner._lipnb_batched_step = step
    states = [_state_of(g) for g in gans]
    for state in states:  # the same architecture: every variable has the shape of the runner's
        twin_variables(state, _state_of(runner))

    def stacked():  # read back after every evaluation: sampling advances each run's sample stream
        return [ops.stack([state[i].value for state in states]) for i in range(len(states[0]))]

    every = logs[0].every
    for gan, log in zip(gans, logs):
        log.records.append(dict(step=0, critic_steps=0, seconds=0.0, **log.evaluate(gan)))
    values = stacked()
    seconds = 0.0
    for chunk, done, due in evaluation_chunks(steps, every):
        per_run = []
        for stream in streams:
            batches = [next(stream) for _ in range(chunk)]
            per_run.append([np.stack(parts) for parts in zip(*batches)])
        per_step = tuple(np.stack(parts) for parts in zip(*per_run))
        start = time.perf_counter()
        _, values = backend.wait(step(values, per_step))
        seconds += time.perf_counter() - start
        for i, (gan, state, log) in enumerate(zip(gans, states, logs)):
            for variable, value in zip(state, values):
                variable.assign(value[i])
            if due:
                log.records.append(dict(step=done, critic_steps=done * gan.n_critic, seconds=seconds,
                                        **log.evaluate(gan)))
        values = stacked()
    return [(gan, log.records) for gan, log in zip(gans, logs)]


def _state_of(gan: WGAN) -> list:
    """Every variable a training step reads or writes, in a fixed order.

    That includes the power-iteration vectors of lipnb constraints (the "constraint"
    regime's projection), which live outside the model: a reused WGAN copies them in and
    out like the weights, and compiled JAX steps carry them.
    """
    from lipnb.operators import ensure_vectors

    vectors = [*ensure_vectors(gan.critic), *ensure_vectors(gan.generator)]
    return [*gan.variables, *gan.metrics_variables, *gan.critic_optimizer.variables,
            *gan.generator_optimizer.variables, *vectors]


class _Architecture(NamedTuple):
    """What :func:`train_wgan` builds, everything but a run's seed, learning rate and
    penalty weight: the key of the compiled WGAN that trains all of them."""

    regime: str
    shape: tuple
    dtype: str
    labelled: bool
    num_classes: int | None
    hidden: tuple
    activation: str
    generator_hidden: tuple
    output_activation: str | None
    projection: str
    latent_dim: int
    batch_size: int
    n_critic: int
    beta_1: float
    beta_2: float
    loss: str

    @classmethod
    def of(cls, regime, x, labelled, settings) -> "_Architecture":
        """The architecture of data ``x`` under ``settings`` (train_wgan's keywords)."""
        _check_projection(regime, settings["projection"])
        generator_hidden = settings["hidden"] if settings["generator_hidden"] is None else settings["generator_hidden"]
        return cls(regime, tuple(x.shape[1:]), str(x.dtype), labelled, settings["num_classes"],
                   tuple(settings["hidden"]), settings["activation"], tuple(generator_hidden),
                   settings["output_activation"], settings["projection"], int(settings["latent_dim"]),
                   int(settings["batch_size"]), int(settings["n_critic"]), float(settings["beta_1"]),
                   float(settings["beta_2"]), settings["loss"])

    def build(self, seed, learning_rate, gp_weight, generator=None, critic=None) -> WGAN:
        gen = generator if generator is not None else mlp_generator(
            latent_dim=self.latent_dim, output_dim=int(np.prod(self.shape)), hidden=self.generator_hidden,
            num_classes=self.num_classes, output_activation=self.output_activation, seed=seed)
        crit = critic if critic is not None else make_critic(
            self.regime, input_shape=self.shape, num_classes=self.num_classes, seed=seed, projection=self.projection,
            **({"hidden": self.hidden, "activation": self.activation} if len(self.shape) == 1 else {}))
        gan = WGAN(gen, crit, regime=self.regime, n_critic=self.n_critic, gp_weight=gp_weight,
                   num_classes=self.num_classes, loss=self.loss, seed=seed)
        gan.compile(keras.optimizers.Adam(learning_rate, beta_1=self.beta_1, beta_2=self.beta_2),
                    keras.optimizers.Adam(learning_rate, beta_1=self.beta_1, beta_2=self.beta_2))
        return gan

    def compiled(self, seed) -> WGAN:
        """The WGAN kept for this architecture (not the learning rate nor the penalty
        weight: both are variables), built on first use."""
        from lipnb.repro import seed_everything

        key = (backend.name(), keras.config.floatx(), keras.config.dtype_policy().name, *self)
        if key not in _COMPILED:
            _COMPILED[key] = self.build(seed, 1e-4, 10.0)
            # Building draws from the global random streams (unseeded initializers); reseed
            # so that what follows sees the streams a run without reuse would see.
            seed_everything(seed)
        return _COMPILED[key]


def time_train_steps(gans: dict, x, steps: int, rounds: int = 5, batch_size: int = 256,
                     warmup_steps: int = 10, per_round: bool = False, seed: int = 0) -> dict:
    """Seconds per ``train_step`` of each WGAN, timed in interleaved rounds.

    Each round runs ``steps`` compiled training steps of every GAN in turn, starting with a
    different GAN each round, so machine noise and ordering affect them alike. The GANs
    keep training while being timed: time copies, not the models you analyse.

    Args:
        gans: name -> compiled ``WGAN`` (fitted or not).
        x: training points for the timing batches.
        steps: training steps per GAN per round (>= 1).
        rounds: interleaved rounds (>= 1).
        warmup_steps: untimed steps first (>= 1), to trace and warm up each step function.
        per_round: return every round's time instead of the median.
        seed: seed of the timing batches.

    Returns:
        name -> median seconds per step, or (``per_round``) an array with one per round.
    """
    import statistics
    import time

    steps = positive_int(steps, "steps")
    rounds = positive_int(rounds, "rounds")
    warmup_steps = positive_int(warmup_steps, "warmup_steps")  # at least one: the trace
    jax = backend.name() == "jax"
    fns, iterators, states = {}, {}, {}
    for name, gan in gans.items():
        iterators[name] = iter(WGAN.dataset(np.asarray(x), batch_size, gan.n_critic, seed=seed))
        if getattr(gan, "train_function", None) is None:  # never fitted: build the compiled step
            gan.make_train_function()
        fns[name] = gan.train_function
        if jax:  # the stateless step: carry the state, write it back at the end
            states[name] = jax_trainer_state(gan)
        for _ in range(warmup_steps):
            out = _run_step(fns[name], iterators[name], states, name)
    names = list(gans)
    times = {name: [] for name in gans}
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            for _ in range(int(steps)):
                out = _run_step(fns[name], iterators[name], states, name)
            float(keras.ops.convert_to_numpy(out["critic_loss"]))  # wait for the last step
            times[name].append((time.perf_counter() - t0) / steps)
    for name, state in states.items():  # JAX: the timed steps trained the GANs; keep that
        set_jax_trainer_state(gans[name], state)
    if per_round:
        return {name: np.array(t) for name, t in times.items()}
    return {name: statistics.median(t) for name, t in times.items()}


def _run_step(fn, iterator, states, name):
    if name in states:
        out, states[name] = fn(states[name], iterator)
        return out
    if backend.name() == "torch":  # Keras's torch step takes a list of batches, not an iterator
        return fn([next(iterator)])
    return fn(iterator)
