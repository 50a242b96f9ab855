# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (lipnb)
#     language: python
#     name: lipnb
# ---

# %% [markdown]
# # 08 · A constraint after the step is not a reparameterization
#
# *Article section "Generative models", the Keras detail at its end.*
#
# **Claim.** Keras applies `kernel_constraint` after each optimizer step, to the stored
# weight. The forward pass, and so the gradient, never see the normalization. The author
# found that this gave wrong gradients in later training and poor samples. He fixed it by
# making the layer compute with $W/\|W\|_2$ inside the forward pass, so that gradients
# flow through $\|W\|_2$.
#
# **Derivation.** Let $\tilde W=W/\sigma(W)$ and $G=\partial L/\partial\tilde W$. With
# $\partial\sigma/\partial W=uv^\top$ (the top singular vectors),
# $d\tilde W=dW/\sigma-W\,\langle uv^\top,dW\rangle/\sigma^2$, so
#
# $$\frac{\partial L(\tilde W(W))}{\partial W}=\frac1\sigma\Big(G-\langle G,\tilde W\rangle\,uv^\top\Big).$$
#
# This gradient is orthogonal to $W$, since $\langle uv^\top,W\rangle=\sigma$: $L$ does
# not change when $W$ is rescaled, and the reparameterized step never spends effort
# changing the scale that the normalization divides out. The constraint version steps
# along the full $G$ and projects back afterwards. Keras's `SpectralNormalization` does
# the same: it overwrites the kernel with $\tilde W$ and stops the gradient through
# $\sigma$. Both apply $G$ instead of the expression above.
#
# **How the claims are judged.** The gradient comparison is an identity checked at random
# states against a float64 reference. Training outcomes and custom-loop behaviour vary
# with the seed, so they are decided from confidence intervals over seeds; with two seeds
# such an interval is wide, and we leave it so.

# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import keras
import lipnb
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from lipnb.stats import one_sample, paired_comparison

run = lipnb.start_notebook("08_constraint_vs_reparameterization", globals(), profiles={
    "smoke": dict(states=3, seeds=2, steps=20, eval_every=10, loop_steps=20, width=32),
    "quick": dict(states=20, seeds=2, steps=250, eval_every=50, loop_steps=150, width=128),
    "full": dict(states=200, seeds=5, steps=5000, eval_every=250, loop_steps=3000, width=512),
})
rng = np.random.default_rng(run.seed)

# %% [markdown]
# ## Gradients against the exact reparameterization
# A dense layer $x\mapsto\tilde Wx$ inside a nonlinear loss
# $L=\sum\sin(x\tilde W)$ on a random batch. For each method we take the gradient that
# its optimizer would apply, at the same normalized weights $\tilde W$ ($\sigma=1$), and
# compare it with the exact gradient of $L(W/\sigma(W))$ (float64, autodiff through the SVD).

# %%
def exact_reparam_gradient(w, x):
    w = tf.constant(w, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(w)
        loss = tf.reduce_sum(tf.sin(x.astype(np.float64) @ (w / tf.linalg.svd(w, compute_uv=False)[0])))
    return tape.gradient(loss, w).numpy()

def method_gradients(w, x):
    """Gradient each method applies at the normalized weights w (sigma(w) = 1)."""
    out = {}
    lip = lipnb.SpectralNormalization(keras.layers.Dense(w.shape[1], use_bias=False))
    lip.build((None, w.shape[0]))
    lip.layer.kernel.assign(w)
    lip.warm_up()
    ker = keras.layers.SpectralNormalization(keras.layers.Dense(w.shape[1], use_bias=False), power_iterations=20)
    ker.build((None, w.shape[0]))
    ker.layer.kernel.assign(w)
    plain = keras.layers.Dense(w.shape[1], use_bias=False)  # constraint semantics: forward with stored W
    plain.build((None, w.shape[0]))
    plain.kernel.assign(w)
    for name, layer, var in (("lipnb SN", lip, lip.layer.kernel), ("Keras SN", ker, ker.layer.kernel),
                             ("post-step constraint", plain, plain.kernel)):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(layer(x, training=True)))
        out[name] = tape.gradient(loss, var).numpy()
    return out

errors = {"lipnb SN": [], "Keras SN": [], "post-step constraint": []}
cosines = {k: [] for k in errors}
for _ in range(run.size.states):
    w = rng.standard_normal((16, 8))
    w = (w / np.linalg.svd(w, compute_uv=False)[0]).astype(np.float32)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    exact = exact_reparam_gradient(w, x)
    for name, g in method_gradients(w, x).items():
        errors[name].append(np.linalg.norm(g - exact) / np.linalg.norm(exact))
        cosines[name].append(float(np.sum(g * exact) / np.linalg.norm(g) / np.linalg.norm(exact)))

fig, ax = plt.subplots(figsize=(6.4, 3))
ax.boxplot([errors[k] for k in errors], showfliers=True)
ax.set(xticks=[1, 2, 3], xticklabels=list(errors), yscale="log", ylabel="relative error vs exact gradient",
       title="Gradient applied to the weights")
gradient_table = [{"method": k, "median relative error": np.median(v), "largest relative error": np.max(v),
                   "smallest relative error": np.min(v), "median cosine": np.median(cosines[k])}
                  for k, v in errors.items()]
lipnb.show_table(gradient_table, title=f"Against the exact gradient, {run.size.states} random states")

# %%
# A deterministic identity, checked state by state against float64 autodiff: no seeds to
# average over. The other methods' error is the dropped term <G, W~> u v^T, whose size
# varies with the state, so their part is judged on the median.
run.claim(
    "reparameterization-gradient-exact",
    "lipnb's SN applies the exact reparameterization gradient (relative error below 1e-4 at every "
    "state), while the post-step constraint and Keras's SN apply a different one (median relative "
    "error above 1e-2).",
    "section 'Generative models' (the Keras detail)", kind="article",
    measured={row["method"]: {k: v for k, v in row.items() if k != "method"} for row in gradient_table},
    holds=bool(np.max(errors["lipnb SN"]) < 1e-4 and np.median(errors["Keras SN"]) > 1e-2
               and np.median(errors["post-step constraint"]) > 1e-2),
    note=f"{run.size.states} random 16x8 states with sigma(W) = 1, float32 layers against a float64 reference",
);

# %% [markdown]
# ## GAN outcomes on 8 Gaussians
# Same critic, generator and optimizer (notebook 06's setup); only the way the critic's
# weights are normalized differs.

# %%
data, _ = lipnb.eight_gaussians(20000, np.random.default_rng(run.seed + 1))
held_out, _ = lipnb.eight_gaussians(512, np.random.default_rng(run.seed + 2))
evaluate = lambda gan: {"quality": lipnb.wasserstein1(gan.sample(512), held_out)}
VARIANTS = {"lipnb SN": "sn", "Keras SN": "keras-sn", "post-step constraint": "constraint"}
outcomes = {}
for label, regime in VARIANTS.items():
    outcomes[label] = []
    for s in range(run.size.seeds):
        lipnb.seed_everything(run.seed + s)
        hidden = (run.size.width,) * 3  # 3x128 in quick, as in notebook 06; 3x512 in full
        generator = lipnb.mlp_generator(latent_dim=2, output_dim=2, hidden=hidden, seed=run.seed + s)
        critic = lipnb.make_critic(regime, input_shape=(2,), hidden=hidden, seed=run.seed + s)
        outcomes[label].append(lipnb.train_wgan(
            data, regime, run.size.steps, evaluate, generator=generator, critic=critic,
            eval_every=run.size.eval_every, seed=run.seed + s, learning_rate=1e-3, beta_1=0.5)[1])
fig, ax = plt.subplots()
for label, logs in outcomes.items():
    steps = [r["critic_steps"] for r in logs[0]]
    ax.plot(steps, np.median([[r["quality"] for r in log] for log in logs], axis=0), marker=".", label=label)
ax.set(xlabel="critic steps", ylabel="W1 to held-out data", yscale="log", title="8 Gaussians, median over seeds")
ax.legend();
final = {label: np.array([log[-1]["quality"] for log in logs]) for label, logs in outcomes.items()}
lipnb.show_table([{"seed": s, **{label: final[label][s] for label in VARIANTS}} for s in range(run.size.seeds)],
                 title="Final W1 to held-out data")

# %%
run.claim(
    "reparameterization-trains-better",
    "With the same critic and optimizer, true reparameterization ends at a lower W1 than the "
    "post-step constraint (mean paired log ratio over seeds below 0).",
    "section 'Generative models' (the Keras detail)", kind="article",
    measured=dict(final_w1=final),
    evidence=paired_comparison(np.log(final["lipnb SN"]), np.log(final["post-step constraint"]), direction="less"),
    note=f"{run.size.seeds} seeds on 8 Gaussians, {run.size.steps} generator steps; 5+ seeds and the other "
         f"toy sets under the fair GAN protocol (issue 10) would narrow it",
);

# %% [markdown]
# ## Keras's layer at inference
# `keras.layers.SpectralNormalization` normalizes only inside a `training=True` call, by
# overwriting the kernel. Called without `training` (the default in a custom loop or at
# inference) it computes with whatever kernel is stored. A freshly built Keras-SN critic
# therefore computes exactly what the unnormalized critic with the same initial kernels
# computes, and a custom loop that never passes `training=True` trains an unconstrained
# critic.
#
# lipnb's layer normalizes in every call, but it iterates only with `training=True`. In
# such a loop its stored vector goes stale: $\hat\sigma=\|Wv\|$ with an old $v$
# underestimates $\sigma(W)$ as the weights move away from it, so the normalization stops
# holding. The remedy, documented with the layer, is to call the critic with
# `training=True` in its update step (or to call `warm_up()`). We measure the pitfall and
# the remedy with the project's standard: every layer's exact norm $\sigma(W/\hat\sigma)$
# (SVD of the reshaped kernel it normalizes) within SN-GAN's 1.05. For each seed the loop
# runs `loop_steps` Adam steps of the critic's WGAN loss on digits against uniform noise.

# %%
def critic_for(kind, s):
    return lipnb.conv_critic(normalization={"Keras SN": "keras", "lipnb SN": "lipnb", "none": None}[kind],
                             seed=run.seed + s)

lipnb_layer_sigmas = lambda model: list(lipnb.normalized_layer_sigmas(model).values())  # noqa: E731
x_real, _, _, _ = lipnb.load_digits_split(seed=run.seed, flatten=False)
x_fake = np.random.default_rng(run.seed + 5).uniform(size=x_real.shape).astype(np.float32)
loop_batch = np.concatenate([x_fake[:256], x_real[:256]])
checkpoints = max(run.size.loop_steps // 5, 1)

def custom_loop(critic, training):
    """A compiled custom training loop; `training` is what the update step passes to the critic."""
    opt = keras.optimizers.Adam(1e-3)
    opt.build(critic.trainable_variables)

    @tf.function
    def loop_step():
        with tf.GradientTape() as tape:
            scores = critic(loop_batch, training=True) if training else critic(loop_batch)
            loss = tf.reduce_mean(scores[:256]) - tf.reduce_mean(scores[256:])
        opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))

    bounds = []
    for step in range(run.size.loop_steps):
        loop_step()
        if (step + 1) % checkpoints == 0:
            bounds.append(lipnb.lipschitz_upper_bound(critic))
    return np.array(bounds)

LOOPS = {"Keras SN, no training flag": ("Keras SN", False), "lipnb SN, no training flag": ("lipnb SN", False),
         "lipnb SN, training=True (remedy)": ("lipnb SN", True)}
fresh, same_as_unnormalized, drift, sigmas, sigmas_after_warm_up = [], [], {}, {}, {}
for s in range(run.size.seeds):
    critics = {kind: critic_for(kind, s) for kind in ("none", "Keras SN", "lipnb SN")}
    fresh.append({"seed": s, **{kind: lipnb.lipschitz_upper_bound(c) for kind, c in critics.items()}})
    plain = keras.ops.convert_to_numpy(critics["none"](x_real[:256]))
    keras_sn = keras.ops.convert_to_numpy(critics["Keras SN"](x_real[:256]))  # no training flag, as in the loop
    same_as_unnormalized.append(float(np.max(np.abs(keras_sn - plain)) / np.max(np.abs(plain))))
    for label, (kind, training) in LOOPS.items():
        critic = critic_for(kind, s)
        drift[label, s] = custom_loop(critic, training)
        if kind == "lipnb SN":
            sigmas[label, s] = lipnb_layer_sigmas(critic)
            if not training:  # the other remedy: recompute the vectors after the loop
                for layer in critic.layers:
                    if isinstance(layer, lipnb.SpectralNormalization):
                        layer.warm_up()
                sigmas_after_warm_up[s] = lipnb_layer_sigmas(critic)

fig, ax = plt.subplots()
for i, label in enumerate(LOOPS):
    for s in range(run.size.seeds):
        ax.plot(np.arange(1, len(drift[label, s]) + 1) * checkpoints, drift[label, s], marker="o", color=f"C{i}",
                label=label if s == 0 else None)
ax.axhline(1, color="k", ls="--", lw=0.8)
ax.set(xlabel="custom-loop steps", ylabel="certified upper bound", yscale="log",
       title="Custom loops, one line per seed")
ax.legend(fontsize=8)
lipnb.show_table(fresh, title="Certified bound of freshly built critics")
lipnb.show_table([{"loop": label, "seed": s, "largest layer σ(W/σ̂)": max(sig)} for (label, s), sig in sigmas.items()]
                 + [{"loop": "lipnb SN, no training flag, then warm_up()", "seed": s, "largest layer σ(W/σ̂)": max(sig)}
                    for s, sig in sigmas_after_warm_up.items()],
                 title="lipnb's layers after the loop (standard: at most 1.05)")

# %% [markdown]
# The certified bound of the conv critic uses the convolutions' operator norms, which
# lipnb's default reshaped-kernel normalization does not bound (notebook 09), so a fresh
# lipnb critic's certificate need not be below the unnormalized one's; the per-layer
# norms are the check. After `warm_up()` every layer's norm is 1 by construction: the
# table shows it as a check, not a finding.

# %%
run.claim(
    "keras-sn-inference-pitfall",
    "Called without training=True, Keras's SN applies no normalization: for every seed, a freshly built "
    "Keras-SN critic gives the same outputs as the unnormalized critic with the same initial kernels "
    "(relative difference at most 1e-6).",
    "section 'Generative models' (the Keras detail; Keras 3's layer)", kind="beyond",
    measured=dict(relative_output_difference=same_as_unnormalized, fresh_upper_bound=fresh),
    holds=bool(max(same_as_unnormalized) <= 1e-6),
)
growth = np.log([drift["Keras SN, no training flag", s][-1] / fresh[s]["Keras SN"] for s in range(run.size.seeds)])
run.claim(
    "keras-sn-custom-loop-unbounded",
    "In a custom loop that never passes training=True, the Keras-SN critic's certified bound grows "
    "(mean log ratio of the final to the fresh bound over seeds above 0).",
    "section 'Generative models' (the Keras detail; Keras 3's layer)", kind="beyond",
    measured=dict(log_growth=growth, bounds=[drift["Keras SN, no training flag", s] for s in range(run.size.seeds)]),
    evidence=one_sample(growth, direction="greater", what="the mean log growth of the bound"),
    note=f"{run.size.seeds} seeds, {run.size.loop_steps} steps each; a t interval over so few seeds is wide, "
         f"5+ seeds would narrow it",
)
stale = np.array([max(sigmas["lipnb SN, no training flag", s]) for s in range(run.size.seeds)])
remedied = np.array([max(sigmas["lipnb SN, training=True (remedy)", s]) for s in range(run.size.seeds)])
run.claim(
    "lipnb-sn-stale-vector-pitfall",
    "A documented pitfall and its remedy: in a custom loop that never passes training=True, lipnb's stored "
    "vectors go stale and some layer's norm sigma(W / sigma_estimate) leaves SN-GAN's 1.05; the same loop "
    "with training=True in the update step keeps every layer within 1.05 (CIs over seeds).",
    "eq. (15) (persistent vector; our design)", kind="beyond",
    measured=dict(largest_layer_sigma_stale=stale, largest_layer_sigma_remedy=remedied,
                  largest_layer_sigma_after_warm_up=[max(v) for v in sigmas_after_warm_up.values()],
                  bounds_stale=[drift["lipnb SN, no training flag", s] for s in range(run.size.seeds)],
                  bounds_remedy=[drift["lipnb SN, training=True (remedy)", s] for s in range(run.size.seeds)]),
    evidence={"stale vectors leave 1.05": one_sample(np.log(stale), direction="greater", null=float(np.log(1.05)),
                                                     what="the mean log of the largest layer norm"),
              "the remedy stays within 1.05": one_sample(remedied, direction="less", null=1.05,
                                                         what="the mean largest layer norm")},
    note=f"{run.size.seeds} seeds, {run.size.loop_steps} steps each; a t interval over so few seeds is wide, "
         f"5+ seeds would narrow it. The remedy: call the critic with training=True in its update step (or "
         f"call warm_up()) to keep the vectors current",
);

# %%
run.finish();
