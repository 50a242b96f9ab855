"""Benchmark of WGAN steps: critic and generator step time per critic regime, and lipnb's
critic step side by side with a hand-written TensorFlow step of the same math.

8 Gaussians, the 3x128 MLP critic and generator of notebook 06, CPU.

1. Per-regime table (batch ``--batch``, 256 by default): every regime runs round-robin in
   one process, so machine noise hits them alike; each figure is a median over rounds.
2. Side by side (regimes ``gp`` and ``sn``, batches 256 and 64): lipnb's
   ``WGAN.critic_step`` (wrapped in ``tf.function``, as in the table) against a critic
   step written by hand in plain TensorFlow: ``tf.Variable`` kernels and biases,
   ``tf.matmul``, ``tf.nn.bias_add``, ``tf.nn.leaky_relu`` (slope 0.2, Keras's default), one
   ``tf.GradientTape`` and the same Adam(1e-4, beta_1=0, beta_2=0.9) that
   ``WGAN.compile`` uses, all in one ``tf.function``. The generator forward pass is
   hand-written too (its weights copied from lipnb's generator, which a critic step does
   not update). ``gp``: WGAN loss plus 10 x mean (|grad f(x_hat)| - 1)^2 at per-example
   uniform interpolates (double backprop). ``sn``: every layer computes with W / sigma,
   sigma = |W v| after one power iteration on a persistent vector (a ``tf.Variable``), the
   gradient flowing through sigma with the vectors held constant, as
   ``lipnb.SpectralNormalization`` does. Before timing, the hand-written step is checked
   against lipnb on identical weights, vectors, real batch, latent draws and
   interpolation weights: scores, penalty, loss, gradients, updated power vectors and the
   weights after one Adam update must agree to float32 tolerance, so the two steps time the
   same math. The two steps then run in interleaved rounds (the order alternates each
   round); each round gives one ratio lipnb / hand-written. The claim "lipnb's critic
   step stays within 1.15x of the hand-written one" is decided on the log scale, by
   ``lipnb.stats.one_sample(log(ratios), direction="less", null=log(1.15))`` (a mean of
   ratios leans above the ratio of equal times; the table gives the geometric mean ratio
   with its 95% Student t interval, and the median ratio beside it).

Writes benchmarks/results/gan.{json,md} and refreshes the README block between
``<!-- bench:gan -->`` markers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import machine, write_results  # noqa: E402

import lipnb  # noqa: E402
from lipnb.stats import one_sample  # noqa: E402

BOUND = 1.15  # the bound on lipnb / hand-written critic step time
LEAKY_SLOPE = 0.2  # keras.activations.leaky_relu's default negative_slope (tf.nn.leaky_relu's alpha is 0.2 too)
GP_WEIGHT = 10.0  # WGAN's default gp_weight
SN_EPS = 1e-12  # lipnb.SpectralNormalization's default eps


def _dense_layers(model):
    """The Dense layers of a lipnb MLP, in order, with the SN wrapper (or None) of each."""
    out = []
    for layer in model.layers:
        if isinstance(layer, lipnb.SpectralNormalization):
            out.append((layer.layer, layer))
        elif isinstance(layer, keras.layers.Dense):
            out.append((layer, None))
    return out


def _unit(x):
    return x / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(x))), SN_EPS)


class HandWrittenCritic(tf.Module):
    """A WGAN critic step for regime ``gp`` or ``sn`` in plain TensorFlow.

    Starts from copies of a lipnb WGAN's generator and critic weights (and, for ``sn``,
    its stored power-iteration vectors), so both compute the same numbers.
    """

    def __init__(self, gan, regime: str, seed: int = 0):
        super().__init__()
        if regime not in ("gp", "sn"):
            raise ValueError(f"hand-written step only for 'gp' and 'sn', got {regime!r}")
        self.regime = regime
        self.latent_dim = gan.latent_dim
        critic = _dense_layers(gan.critic)
        if any((sn is not None) != (regime == "sn") for _, sn in critic):
            raise ValueError(f"the {regime!r} critic has unexpected layers")
        for dense, _ in critic[:-1]:
            if dense.activation is not keras.activations.leaky_relu:
                raise ValueError(f"expected leaky relu hidden layers, got {dense.activation}")
        self.kernels = [tf.Variable(d.kernel.numpy(), name=f"kernel{i}") for i, (d, _) in enumerate(critic)]
        self.biases = [tf.Variable(d.bias.numpy(), name=f"bias{i}") for i, (d, _) in enumerate(critic)]
        self.vectors = ([tf.Variable(sn.vector.numpy(), trainable=False, name=f"u{i}")
                         for i, (_, sn) in enumerate(critic)] if regime == "sn" else [])
        # The generator is not trained by a critic step: constants would do, but variables
        # are what lipnb reads too.
        gen = _dense_layers(gan.generator)
        self.g_kernels = [tf.Variable(d.kernel.numpy(), trainable=False) for d, _ in gen]
        self.g_biases = [tf.Variable(d.bias.numpy(), trainable=False) for d, _ in gen]
        self.variables_ = [v for pair in zip(self.kernels, self.biases) for v in pair]  # lipnb's order
        self.optimizer = keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)  # WGAN.compile's default
        self.optimizer.build(self.variables_)
        self.rng = tf.random.Generator.from_seed(seed)
        self.step = tf.function(self._step)

    def generate(self, z):
        h = z
        for i, (k, b) in enumerate(zip(self.g_kernels, self.g_biases)):
            h = tf.nn.bias_add(tf.matmul(h, k), b)
            if i < len(self.g_kernels) - 1:
                h = tf.nn.relu(h)
        return h

    def _kernel(self, i, training):
        w = self.kernels[i]
        if self.regime != "sn":
            return w
        w = tf.convert_to_tensor(w)
        v = tf.convert_to_tensor(self.vectors[i])
        if training:  # one power iteration, no gradient, and the vector persists
            ws = tf.stop_gradient(w)
            v = tf.stop_gradient(_unit(tf.matmul(_unit(tf.matmul(v, ws, transpose_b=True)), ws)))
            self.vectors[i].assign(v)
        sigma = tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(tf.matmul(v, w, transpose_b=True)))), SN_EPS)
        return w / sigma

    def critic(self, x, training):
        h = x
        for i, b in enumerate(self.biases):
            h = tf.nn.bias_add(tf.matmul(h, self._kernel(i, training)), b)
            if i < len(self.biases) - 1:
                h = tf.nn.leaky_relu(h, alpha=LEAKY_SLOPE)
        return h

    def losses(self, real, fake, eps):
        """(loss, W estimate, penalty, mean grad norm, scores); call inside a GradientTape."""
        n = tf.shape(real)[0]
        scores = self.critic(tf.concat([real, fake], 0), training=True)
        w_estimate = tf.reduce_mean(scores[:n]) - tf.reduce_mean(scores[n:])
        loss = -w_estimate
        penalty, norm = tf.constant(0.0), tf.constant(0.0)
        if self.regime == "gp":
            e = tf.reshape(eps, (-1, 1))
            x_hat = e * real + (1.0 - e) * fake
            with tf.GradientTape() as inner:
                inner.watch(x_hat)
                total = tf.reduce_sum(self.critic(x_hat, training=True))
            grads = inner.gradient(total, x_hat)
            norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
            penalty = tf.reduce_mean(tf.square(norms - 1.0))
            loss = loss + GP_WEIGHT * penalty
            norm = tf.reduce_mean(norms)
        return loss, w_estimate, penalty, norm, scores

    def apply(self, real, z, eps):
        """One critic update on given draws; returns what the step returns, plus the scores."""
        fake = self.generate(z)
        with tf.GradientTape() as tape:
            loss, w_estimate, penalty, norm, scores = self.losses(real, fake, eps)
        grads = tape.gradient(loss, self.variables_)
        self.optimizer.apply_gradients(zip(grads, self.variables_))
        return loss, w_estimate, penalty, norm, scores, grads

    def _step(self, real):
        n = tf.shape(real)[0]
        z = self.rng.normal((n, self.latent_dim))
        eps = self.rng.uniform((n,)) if self.regime == "gp" else None
        return self.apply(real, z, eps)[:4]


def check_same_math(gan, hand, real, seed: int = 0) -> dict:
    """Run one critic update of lipnb and of the hand-written step on the same draws; compare.

    lipnb's side repeats ``WGAN.critic_step`` with the draws passed in (critic_step draws
    its own): the same critic call on real and fake together, ``gradient_penalty`` with
    the given ``epsilon``, and the WGAN's own critic optimizer. Both sides advance their
    power vectors and weights by one step, so they stay in step for timing. Raises if any
    quantity differs beyond float32 tolerance.
    """
    rng = np.random.default_rng(seed)
    n = int(real.shape[0])
    z = tf.constant(rng.normal(size=(n, gan.latent_dim)).astype("float32"))
    eps = tf.constant(rng.uniform(size=(n,)).astype("float32"))
    fake = gan.generator(z, training=True)
    variables = gan.critic.trainable_variables
    with tf.GradientTape() as tape:
        scores = gan.critic(tf.concat([real, fake], 0), training=True)
        w_estimate = tf.reduce_mean(scores[:n]) - tf.reduce_mean(scores[n:])
        loss, penalty = -w_estimate, tf.constant(0.0)
        if gan.regime == "gp":
            penalty = lipnb.gradient_penalty(gan.critic, real, fake, epsilon=eps, seed=gan.seed_generator)
            loss = loss + gan.gp_weight * penalty
    grads = tape.gradient(loss, variables)
    gan.critic_optimizer.apply_gradients(zip(grads, variables))
    h_loss, h_w, h_penalty, _, h_scores, h_grads = hand.apply(real, z, eps if gan.regime == "gp" else None)
    pairs = {"fake": (fake, hand.generate(z)), "scores": (scores, h_scores), "loss": (loss, h_loss),
             "w_estimate": (w_estimate, h_w), "penalty": (penalty, h_penalty)}
    pairs.update({f"grad {v.path}": (g, hg) for v, g, hg in zip(variables, grads, h_grads)})
    pairs.update({f"updated {v.path}": (v, hv) for v, hv in zip(variables, hand.variables_)})
    if gan.regime == "sn":
        wrappers = [sn for _, sn in _dense_layers(gan.critic)]
        pairs.update({f"updated {sn.vector.path}": (sn.vector, hv) for sn, hv in zip(wrappers, hand.vectors)})
    lr = float(keras.ops.convert_to_numpy(gan.critic_optimizer.learning_rate))
    worst = {}
    for name, (a, b) in pairs.items():
        a, b = (np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float64) for t in (a, b))
        scale = max(float(np.max(np.abs(a))), 1e-6)
        worst[name] = float(np.max(np.abs(a - b))) / scale
        # Adam's first step moves a weight by about lr * g / (|g| + 1e-7): rounding in a
        # near-zero gradient can move it by a fraction of lr, so updated weights get lr/10.
        atol = max(1e-5 * scale, 0.1 * lr if name.startswith("updated") else 0.0)
        if not np.allclose(a, b, rtol=1e-4, atol=atol):
            raise AssertionError(f"{gan.regime}: hand-written {name} differs from lipnb's "
                                 f"(max relative difference {worst[name]:.2e})")
    maths = [v for k, v in worst.items() if not k.startswith("updated")]
    moves = [float(np.max(np.abs(keras.ops.convert_to_numpy(v) - hv.numpy()))) / lr
             for v, hv in zip(variables, hand.variables_)]
    return {"quantities": len(pairs), "max_relative_difference": max(maths),
            "max_update_difference_over_lr": max(moves), "loss": float(loss), "penalty": float(penalty)}


def side_by_side(regimes, batches, rounds: int, steps: int, warmup: int) -> dict:
    """lipnb's critic step against the hand-written one: interleaved rounds, per-round ratios."""
    out = {"rounds": rounds, "steps_per_round": steps, "bound": BOUND, "results": [], "checks": {}}
    rng = np.random.default_rng(1)
    for batch in batches:
        real = tf.constant(lipnb.eight_gaussians(batch, rng)[0])
        fns = {}
        for regime in regimes:
            lipnb.seed_everything(0)
            gan = lipnb.WGAN(lipnb.mlp_generator(seed=0), lipnb.make_critic(regime, seed=0), regime=regime)
            gan.compile()
            hand = HandWrittenCritic(gan, regime)
            out["checks"][f"{regime}, batch {batch}"] = check_same_math(gan, hand, real)
            fns[regime] = {"lipnb": tf.function(lambda r, gan=gan: gan.critic_step(r, None)), "hand": hand.step}
            for fn in fns[regime].values():
                for _ in range(warmup):
                    fn(real)
        times = {regime: {"lipnb": [], "hand": []} for regime in regimes}
        for i in range(rounds):
            for regime in regimes:
                order = ("lipnb", "hand") if i % 2 == 0 else ("hand", "lipnb")
                for name in order:
                    fn = fns[regime][name]
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        result = fn(real)
                    keras.ops.convert_to_numpy(result[0])
                    times[regime][name].append((time.perf_counter() - t0) / steps)
        for regime in regimes:
            t = {k: np.array(v) for k, v in times[regime].items()}
            ratios = t["lipnb"] / t["hand"]
            ev = one_sample(np.log(ratios), direction="less", null=float(np.log(BOUND)),
                            what="the mean log per-round ratio lipnb / hand-written")
            out["results"].append({
                "regime": regime, "batch": batch,
                "lipnb_ms": float(np.median(t["lipnb"]) * 1e3), "handwritten_ms": float(np.median(t["hand"]) * 1e3),
                "ratio_median": float(np.median(ratios)), "ratio_geometric_mean": float(np.exp(ev.estimate)),
                "ratio_ci": [float(np.exp(v)) for v in ev.ci], "verdict": ev.verdict,
                "within_bound": ev.verdict == "holds",
                "evidence": ev.as_dict(), "ratios": ratios.tolist(),
                "lipnb_ms_per_round": (t["lipnb"] * 1e3).tolist(),
                "handwritten_ms_per_round": (t["hand"] * 1e3).tolist()})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hand-rounds", type=int, default=30, help="rounds of the side-by-side")
    parser.add_argument("--hand-steps", type=int, default=50, help="steps per round of the side-by-side")
    parser.add_argument("--hand-batches", default="256,64", help="batch sizes of the side-by-side")
    parser.add_argument("--hand-warmup", type=int, default=10, help="untimed steps of the side-by-side")
    args = parser.parse_args()
    t_start = time.perf_counter()
    lipnb.seed_everything(0)
    x, _ = lipnb.eight_gaussians(args.batch, np.random.default_rng(0))
    real = tf.constant(x)
    fns = {}
    for regime in lipnb.REGIMES:
        gan = lipnb.WGAN(lipnb.mlp_generator(seed=0), lipnb.make_critic(regime, seed=0), regime=regime)
        gan.compile()
        fns[regime] = (tf.function(lambda r, gan=gan: gan.critic_step(r, None)),
                       tf.function(lambda gan=gan: gan.generator_step(args.batch)))
        fns[regime][0](real)
        fns[regime][1]()
    times = {r: {"critic": [], "generator": []} for r in fns}
    for _ in range(args.rounds):
        for regime, (critic, generator) in fns.items():
            for kind, call in (("critic", lambda: critic(real)), ("generator", generator)):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    out = call()
                keras.ops.convert_to_numpy(out if not isinstance(out, tuple) else out[0])
                times[regime][kind].append((time.perf_counter() - t0) / args.steps)
    res = {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "batch": args.batch,
           "machine": machine(f"TensorFlow {tf.__version__}"),
           "median_ms": {r: {k: statistics.median(v) * 1e3 for k, v in t.items()} for r, t in times.items()}}
    sn = res["median_ms"]["sn"]["critic"]
    res["gp_over_sn_critic"] = res["median_ms"]["gp"]["critic"] / sn
    batches = [int(b) for b in args.hand_batches.split(",") if b.strip()]
    res["handwritten"] = side_by_side(("gp", "sn"), batches, args.hand_rounds, args.hand_steps, args.hand_warmup)
    res["seconds"] = time.perf_counter() - t_start
    lines = [f"Measured {res['date']} on {res['machine']}; 8 Gaussians, 3x128 MLPs, batch {args.batch}, "
             f"medians over {args.rounds} interleaved rounds.", "",
             "| regime | critic step, ms | ratio to sn | generator step, ms |", "|---|---|---|---|"]
    for regime, t in res["median_ms"].items():
        lines.append(f"| {regime} | {t['critic']:.2f} | {t['critic'] / sn:.2f} | {t['generator']:.2f} |")
    lines += ["", f"GP / SN critic step time: {res['gp_over_sn_critic']:.2f}."]
    hw = res["handwritten"]
    worst = max(c["max_relative_difference"] for c in hw["checks"].values())
    moved = max(c["max_update_difference_over_lr"] for c in hw["checks"].values())
    lines += ["", f"lipnb's critic step beside a hand-written `tf.function` step of the same math "
              f"(checked before timing on the same weights and draws: scores, loss, penalty and gradients "
              f"agree to {worst:.1e} relative, the Adam-updated weights to {moved:.1e} x lr); medians over "
              f"{hw['rounds']} interleaved rounds of {hw['steps_per_round']} steps, ratio = lipnb / hand-written "
              f"per round, geometric mean with 95% CI (from the mean log ratio); within {BOUND:g}x if the whole "
              f"CI is below {BOUND:g}.", "",
              "| regime | batch | lipnb, ms | hand-written, ms | median ratio | geometric mean ratio [95% CI] | "
              f"within {BOUND:g}x? |", "|---|---|---|---|---|---|---|"]
    answer = {"holds": "yes", "does not hold": "no", "inconclusive": "inconclusive"}
    for r in hw["results"]:
        lo, hi = r["ratio_ci"]
        lines.append(f"| {r['regime']} | {r['batch']} | {r['lipnb_ms']:.2f} | {r['handwritten_ms']:.2f} | "
                     f"{r['ratio_median']:.2f} | {r['ratio_geometric_mean']:.2f} [{lo:.2f}, {hi:.2f}] | "
                     f"{answer[r['verdict']]} |")
    write_results("gan", res, "\n".join(lines) + "\n")
    print(f"bench_gan.py took {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
