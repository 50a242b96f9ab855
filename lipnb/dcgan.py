"""The author's own WGAN setting, scaled to 8x8 digits (notebook 06).

The article's "SN converged in fewer epochs than GP" comes from the author's public Keras
scripts (``wgan_gp_celeba.py`` and ``wgan_sn_celeba.py``). Both train DCGAN-style conv
critics with BatchNorm inside, the GP critic included, with Adam(2e-4, beta_1=0.5),
``n_critic = 5`` and batch 64. His spectral normalization is not lipnb's: every call
starts a fresh power iteration from all ones, runs 5 steps, and lets the gradient flow
through all of it, on every conv and dense kernel and on BatchNorm's gamma.

- :func:`per_call_sn` and :func:`batch_moments`: those two pieces, on every backend;
- :class:`DCGANCritic`: his critic, with or without BatchNorm and his SN;
- :class:`DigitWGAN`: one arm of the comparison, compiled once and trained for any number
  of seeds (each seed starts from fresh weights and a fresh optimizer).
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
from keras import ops

from lipnb import backend
from lipnb.gan import copy_variables, image_generator
from lipnb.operators import MatrixOperator, power_step
from lipnb.penalties import gradient_penalty
from lipnb.training import evaluation_chunks
from lipnb.validation import nonnegative_int, number, positive_int

__all__ = ["per_call_sn", "batch_moments", "DCGANCritic", "DigitWGAN"]


def per_call_sn(w, iterations: int = 5):
    """``w`` divided by its reshaped kernel's norm, estimated the author's way.

    The kernel is reshaped to ``(-1, out)``; ``iterations`` power steps start from all
    ones at every call and are differentiated through (no stop-gradient, no stored
    vector). Few iterations underestimate σ, so the result can have a norm above 1.
    """
    iterations = positive_int(iterations, "iterations")
    w = ops.convert_to_tensor(w)  # a backend tensor, on the backend's device (a numpy kernel is not)
    kernel = MatrixOperator.of_kernel(w)
    # The author's iteration starts on the rows, so each step runs on the adjoint map:
    # v = unit(u M), then u = unit(M v).
    u = ops.ones(kernel.out_shape, dtype=w.dtype)
    for _ in range(iterations):
        u, v, _ = power_step(kernel.T, u)
    return w / ops.sum(kernel.forward(v) * u)


def batch_moments(h, axes):
    """Batch mean and variance as TensorFlow's ``tf.nn.moments`` computes them, everywhere.

    The variance's gradient does not flow through the mean. First derivatives are the
    same either way, but a gradient penalty's second derivatives are not, so
    ``keras.ops.moments`` (exact on JAX and PyTorch) would train a BatchNorm GP critic
    differently from backend to backend.
    """
    h = ops.convert_to_tensor(h)  # a numpy h minus a PyTorch tensor is a TypeError
    mean = ops.mean(h, axis=axes)
    return mean, ops.mean(ops.square(h - ops.stop_gradient(mean)), axis=axes)


class DCGANCritic(keras.layers.Layer):
    """The author's critic: strided 3x3 convs with leaky relu and a bias-free linear score.

    BatchNorm (with the batch's statistics, in training and at evaluation alike, as the
    critic only ever sees training batches) follows every conv but the first.

    Args:
        filters: channels of each conv (the author's 64x64 critic has more layers; three
            take 8x8 digits down to 1x1).
        batchnorm: BatchNorm after every conv but the first.
        spectral: the author's SN (:func:`per_call_sn`) on every kernel and every gamma.
        sn_iterations: power steps per call of his SN.
        negative_slope: of the leaky relu.
        epsilon: BatchNorm's variance offset.
        seed: seed of the Glorot-uniform kernels (layer ``i`` uses ``10 * seed + i``).
    """

    def __init__(self, filters: Sequence[int] = (32, 64, 128), batchnorm: bool = True, spectral: bool = False,
                 sn_iterations: int = 5, negative_slope: float = 0.2, epsilon: float = 1e-3,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(positive_int(f, "filters") for f in filters)
        if not self.filters:
            raise ValueError("filters must name at least one conv layer")
        self.batchnorm, self.spectral = bool(batchnorm), bool(spectral)
        self.sn_iterations = positive_int(sn_iterations, "sn_iterations")
        self.negative_slope = number(negative_slope, "negative_slope", minimum=0.0)
        self.epsilon = number(epsilon, "epsilon", minimum=0.0, strict=True)
        self.seed = None if seed is None else nonnegative_int(seed, "seed")

    def _glorot(self, i):
        return keras.initializers.GlorotUniform(seed=None if self.seed is None else 10 * self.seed + i)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"DCGANCritic takes images (batch, height, width, channels), got shape {input_shape}")
        height, width, channels = input_shape[1:]
        self.kernels, self.biases, self.gammas, self.betas = [], [], [], []
        for i, f in enumerate(self.filters):
            self.kernels.append(self.add_weight(shape=(3, 3, channels, f), initializer=self._glorot(i),
                                                name=f"kernel_{i}"))
            self.biases.append(self.add_weight(shape=(f,), initializer="zeros", name=f"bias_{i}"))
            if i > 0 and self.batchnorm:
                self.gammas.append(self.add_weight(shape=(f,), initializer="ones", name=f"gamma_{i}"))
                self.betas.append(self.add_weight(shape=(f,), initializer="zeros", name=f"beta_{i}"))
            channels, height, width = f, -(-height // 2), -(-width // 2)
        self.flat_size = height * width * channels
        self.dense = self.add_weight(shape=(self.flat_size, 1), initializer=self._glorot(9), name="dense")

    def _normalized(self, w):
        return per_call_sn(w, self.sn_iterations) if self.spectral else w

    def call(self, x, training=None):
        # Batch statistics at every call: the author's critic is only ever run on batches.
        h = x
        norm_index = 0
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = ops.conv(h, self._normalized(kernel), strides=2, padding="same") + bias
            if i > 0 and self.batchnorm:
                mean, var = batch_moments(h, (0, 1, 2))
                gamma = self._normalized(self.gammas[norm_index])
                h = (h - mean) / ops.sqrt(var + self.epsilon) * gamma + self.betas[norm_index]
                norm_index += 1
            h = ops.leaky_relu(h, negative_slope=self.negative_slope)
        return ops.matmul(ops.reshape(h, (-1, self.flat_size)), self._normalized(self.dense))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "batchnorm": self.batchnorm,
                "spectral": self.spectral, "sn_iterations": self.sn_iterations,
                "negative_slope": self.negative_slope, "epsilon": self.epsilon, "seed": self.seed}


class DigitWGAN:
    """One arm of the author's setting on digits, compiled once for every seed.

    The training step (``n_critic`` critic steps, then a generator step) is compiled on
    the first :meth:`run`. Later runs copy a fresh seed's weights and a fresh optimizer
    state into the same variables, so they reuse the compiled step: a GPU spends its time
    training rather than compiling, and a seed's numbers do not depend on which seeds ran
    before it (a test checks this). On TensorFlow the step goes through XLA, which is
    bit-reproducible where TensorFlow's graph executor was not.

    Args:
        batchnorm, spectral: the critic (:class:`DCGANCritic`).
        gp_weight: λ of the gradient penalty at random interpolates (eq. (24)); 0 for none.
        learning_rate, beta_1: Adam's, for both networks (the author's: 2e-4, 0.5).
        batch: samples per critic minibatch.
        n_critic: critic steps per generator step.
        latent_dim: size of the generator's input.
        filters: the critic's conv channels.
        generator_factory: ``seed -> generator`` (default :func:`lipnb.image_generator`
            with ``latent_dim``).
    """

    def __init__(self, *, batchnorm: bool, spectral: bool, gp_weight: float, learning_rate: float = 2e-4,
                 beta_1: float = 0.5, batch: int = 64, n_critic: int = 5, latent_dim: int = 32,
                 filters: Sequence[int] = (32, 64, 128), generator_factory: Callable | None = None):
        self.batchnorm, self.spectral = bool(batchnorm), bool(spectral)
        self.gp_weight = number(gp_weight, "gp_weight", minimum=0.0)
        self.learning_rate = number(learning_rate, "learning_rate", minimum=0.0, strict=True)
        self.beta_1 = number(beta_1, "beta_1", minimum=0.0)
        self.batch, self.n_critic = positive_int(batch, "batch"), positive_int(n_critic, "n_critic")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.filters = tuple(filters)
        if generator_factory is None:
            def generator_factory(seed):
                return image_generator(latent_dim=self.latent_dim, seed=seed)
        self.generator_factory = generator_factory
        self._step = None

    def _fresh(self, seed, image_shape):
        critic = DCGANCritic(self.filters, batchnorm=self.batchnorm, spectral=self.spectral, seed=seed)
        critic.build((None, *image_shape))
        return critic, self.generator_factory(seed)

    def _compile(self, image_shape):
        critic, generator = self._fresh(0, image_shape)
        opt_c, opt_g = (keras.optimizers.Adam(self.learning_rate, beta_1=self.beta_1) for _ in range(2))
        opt_c.build(critic.trainable_variables)
        opt_g.build(generator.trainable_variables)
        gp_weight, n_critic = self.gp_weight, self.n_critic

        def critic_loss(real, fake, eps):
            loss = ops.mean(critic(fake)) - ops.mean(critic(real))
            if gp_weight:
                loss += gp_weight * gradient_penalty(critic, real, fake, epsilon=eps)
            return loss, None

        def step(reals, z_critic, eps, z_generator):
            for i in range(n_critic):
                fake = generator(z_critic[i], training=True)
                _, grads = backend.value_and_grad(
                    lambda real=reals[i], fake=fake, e=eps[i]: critic_loss(real, fake, e), critic.trainable_variables)
                opt_c.apply_gradients(zip(grads, critic.trainable_variables))
            _, grads = backend.value_and_grad(lambda: (-ops.mean(critic(generator(z_generator, training=True))), None),
                                              generator.trainable_variables)
            opt_g.apply_gradients(zip(grads, generator.trainable_variables))
            return 0

        self.critic, self.generator = critic, generator
        self._optimizer_variables = list(opt_c.variables) + list(opt_g.variables)
        self._fresh_optimizer_state = [ops.convert_to_numpy(v.value) for v in self._optimizer_variables]
        self._state = critic.trainable_variables + list(generator.variables) + self._optimizer_variables
        self._step_fn = step
        self._step = backend.compile_stateful(step, self._state, jit_compile=True)
        self._batched_step = None
        self._image_shape = tuple(image_shape)

    def _checked(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or not np.all(np.isfinite(images)):
            raise ValueError(f"images must be a finite 4-D array (n, height, width, channels), got shape "
                             f"{images.shape}" + ("" if images.ndim != 4 else " with non-finite values"))
        if self._step is None:
            self._compile(images.shape[1:])
        elif images.shape[1:] != self._image_shape:
            raise ValueError(f"this DigitWGAN was compiled for images of shape {self._image_shape}, "
                             f"got {images.shape[1:]}")
        return images

    def _draws(self, images, order, draws):
        """One step's inputs: real minibatches, critic latents, interpolation weights, generator latents."""
        n, b, k = len(images), self.batch, self.n_critic
        reals = images[order.integers(0, n, k * b)].reshape(k, b, *images.shape[1:])
        eps_shape = (k, b) + (1,) * (images.ndim - 1)
        return (reals, draws.standard_normal((k, b, self.latent_dim)), draws.uniform(size=eps_shape),
                draws.standard_normal((b, self.latent_dim)))

    def run(self, images, seed: int, steps: int, eval_every: int, evaluate: Callable):
        """Train from seed ``seed``'s fresh weights; score the generator as it goes.

        Args:
            images: real images ``(n, height, width, channels)``, drawn with replacement.
            seed: seeds the networks' weights, the minibatch order and the latent and
                interpolation draws.
            steps: generator steps.
            eval_every: generator steps between evaluations.
            evaluate: ``generator -> dict`` of scores, called before training and every
                ``eval_every`` steps.

        Returns:
            Records ``{"step", "critic_steps", **scores}``, the first before training.
            :attr:`generator` holds the trained generator until the next run.
        """
        seed, steps = nonnegative_int(seed, "seed"), positive_int(steps, "steps")
        eval_every = positive_int(eval_every, "eval_every")
        images = self._checked(images)
        critic, generator = self._fresh(seed, images.shape[1:])
        copy_variables(critic.weights + generator.weights, self.critic.weights + self.generator.weights)
        for variable, value in zip(self._optimizer_variables, self._fresh_optimizer_state, strict=True):
            variable.assign(value)
        # The minibatch order and the latent/interpolation draws: two streams of their own.
        order, draws = np.random.default_rng(seed), np.random.default_rng([seed, 1])
        records = [dict(step=0, critic_steps=0, **evaluate(self.generator))]
        for t in range(1, steps + 1):
            self._step(*(ops.convert_to_tensor(a, "float32") for a in self._draws(images, order, draws)))
            if t % eval_every == 0:
                records.append(dict(step=t, critic_steps=t * self.n_critic, **evaluate(self.generator)))
        return records

    def run_many(self, images, seeds, steps: int, eval_every: int, evaluate: Callable,
                 batched: bool | None = None) -> list:
        """:meth:`run` for each of ``seeds``, side by side on a GPU.

        With ``batched`` (JAX only; the default on JAX with a GPU, see
        :func:`lipnb.backend.side_by_side`) all seeds train in one compiled call per evaluation interval
        (:func:`lipnb.backend.compile_batched`), each from its own fresh weights and with
        its own minibatches and draws, the very ones :meth:`run` would use: each seed's
        numbers are those of :meth:`run` up to the rounding of batched arithmetic (a test
        checks this). Otherwise the seeds run one after another through :meth:`run`.

        Returns:
            One ``(records, generator_weights)`` per seed: :meth:`run`'s records and the
            trained generator's weights (``generator.set_weights`` them to sample).
        """
        seeds = [nonnegative_int(s, "seed") for s in seeds]
        if not seeds:
            raise ValueError("run_many needs at least one seed")
        if not backend.batched(batched) or len(seeds) == 1:
            return [(self.run(images, s, steps, eval_every, evaluate), self.generator.get_weights()) for s in seeds]
        steps, eval_every = positive_int(steps, "steps"), positive_int(eval_every, "eval_every")
        images = self._checked(images)
        if self._batched_step is None:
            self._batched_step = backend.compile_batched(self._step_fn, self._state)
        fresh = []
        for s in seeds:
            critic, generator = self._fresh(s, images.shape[1:])
            fresh.append([v.value for v in critic.trainable_variables + list(generator.variables)]
                         + self._fresh_optimizer_state)
        values = [ops.stack([run[i] for run in fresh]) for i in range(len(self._state))]
        first = len(self.critic.trainable_variables)
        generator_slots = range(first, first + len(self.generator.variables))

        def with_generator_of(i):
            for slot, variable in zip(generator_slots, self.generator.variables):
                variable.assign(values[slot][i])
            return self.generator

        streams = [(np.random.default_rng(s), np.random.default_rng([s, 1])) for s in seeds]
        records = [[dict(step=0, critic_steps=0, **evaluate(with_generator_of(i)))] for i in range(len(seeds))]
        for chunk, done, due in evaluation_chunks(steps, eval_every):
            per_run = [[self._draws(images, *stream) for _ in range(chunk)] for stream in streams]
            per_step = tuple(np.stack([np.stack([d[j] for d in run]) for run in per_run]).astype("float32")
                             for j in range(4))
            _, values = backend.wait(self._batched_step(values, per_step))
            if due:
                for i, log in enumerate(records):
                    log.append(dict(step=done, critic_steps=done * self.n_critic, **evaluate(with_generator_of(i))))
        return [(log, [ops.convert_to_numpy(with_generator_of(i).weights[j].value)
                       for j in range(len(self.generator.weights))]) for i, log in enumerate(records)]
