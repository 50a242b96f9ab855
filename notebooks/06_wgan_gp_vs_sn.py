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
# # 06 · WGAN: weight clipping, gradient penalty and spectral normalization
#
# *Article section "Generative models", eqs. (22)–(26).*
#
# **The constraint.** The WGAN critic estimates
# $W(P_r,P_g)=\max_{\|f\|_L\le1}\mathbb E_{P_r}f-\mathbb E_{P_g}f$ (article eq. (22)); here the
# L-constraint is part of the objective, not a regularizer. Three ways to pursue it:
#
# * **Weight clipping** bounds every entry, hence the Frobenius norm (eq. (9)) and the
#   spectral norm, but crudely.
# * **Gradient penalty** adds $\lambda\,\mathbb E_{\hat x}(\|\nabla f(\hat x)\|-1)^2$
#   (eq. (24)), or its one-sided form (eq. (25)), at random interpolates
#   $\hat x=\varepsilon x_r+(1-\varepsilon)x_g$ (eq. (26)). It constrains $f$ only where the
#   interpolates fall. Its gradient with respect to the weights differentiates a gradient,
#   so every critic step backpropagates twice.
# * **Spectral normalization** computes with $W/\|W\|_2$ in every layer. With activations
#   whose derivatives are at most 1, the chain rule of notebook 01 gives
#   $\|f\|_L\le\prod_l\|W_l/\|W_l\|_2\|_2=1$ everywhere, by construction, at the cost of
#   one power iteration per layer and step.
#
# **The article's claims.** SN converges in fewer epochs than GP to the same quality, and
# each GP epoch is slower. The article also prefers the one-sided penalty.
#
# **Setup.** WGAN-GP's toy data (8 Gaussians, 25 Gaussians, Swiss roll) and 8×8 digits.
# 3-layer leaky-relu MLP critics of width 128 (512 in the full profile; the conv critic of
# `lipnb.conv_critic` for digits), a 3-layer relu generator of the same width, $n_\text{critic}=5$, $\lambda=10$, batch 256. For all regimes,
# Adam(1e-3, β₁=0.5, β₂=0.9): WGAN-GP's 1e-4 needs far more steps than a CPU notebook
# can take. Quality is the exact $W_1$ between 512 generated and 512 held-out points (toy
# data), and the Fréchet distance on the features of a digit classifier (digits).
#
# **How the claims are judged.** A claim that compares regimes is decided over paired
# units, one per data set and seed (the same seed gives both regimes the same data and
# initial generator), from the confidence interval of the mean paired effect; with two
# seeds per toy set that interval is wide, and we leave it so. Where this setup cannot
# decide a comparison (GP at λ = 10, its image setting, is unstable on the toy sets), the
# claim is recorded as inconclusive, with the interval shown, until the fair GAN protocol
# of issue 10 (tuned baselines, more seeds) runs. Bounds that hold by construction are
# shown as checks in the text, not counted as findings.

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

run = lipnb.start_notebook("06_wgan_gp_vs_sn", globals(), profiles={
    "smoke": dict(toy=["8 Gaussians"], seeds=2, steps=20, digit_steps=10, eval_every=10, eval_points=128,
                  classifier_epochs=1, timing_steps=3, timing_rounds=3, width=32, tight_seeds=2, tight_steps=20),
    "quick": dict(toy=["8 Gaussians", "25 Gaussians", "Swiss roll"], seeds=2, steps=200, digit_steps=200,
                  eval_every=50, eval_points=512, classifier_epochs=20, timing_steps=10, timing_rounds=15,
                  width=128, tight_seeds=5, tight_steps=500),
    "full": dict(toy=["8 Gaussians", "25 Gaussians", "Swiss roll"], seeds=5, steps=5000, digit_steps=5000,
                 eval_every=250, eval_points=1024, classifier_epochs=40, timing_steps=50, timing_rounds=20,
                 width=512, tight_seeds=10, tight_steps=3000),
})
REGIMES = ["clip", "gp", "gp-one-sided", "sn"]
TOY = {"8 Gaussians": (lipnb.eight_gaussians, 0.02), "25 Gaussians": (lipnb.twentyfive_gaussians, 0.05),
       "Swiss roll": (lipnb.swiss_roll, None)}
LR = dict(learning_rate=1e-3, beta_1=0.5, beta_2=0.9)

# %% [markdown]
# ## Training every regime on every data set

# %%
def toy_run(name, regime, s):
    make, _ = TOY[name]
    x, _ = make(20000, np.random.default_rng(run.seed + 1000 + s))
    held_out, _ = make(run.size.eval_points, np.random.default_rng(run.seed + 2000 + s))
    # Every evaluation also logs the critic's slopes on data, interpolates and far points.
    evaluate = lambda gan: {"quality": lipnb.wasserstein1(gan.sample(run.size.eval_points), held_out),
                            **lipnb.critic_slopes(gan, x, points=run.size.eval_points, seed=run.seed + 3000 + s)}
    lipnb.seed_everything(run.seed + s)
    hidden = (run.size.width,) * 3
    generator = lipnb.mlp_generator(latent_dim=2, output_dim=2, hidden=hidden, seed=run.seed + s)
    critic = lipnb.make_critic(regime, input_shape=(2,), hidden=hidden, seed=run.seed + s)
    return lipnb.train_wgan(x, regime, run.size.steps, evaluate, generator=generator, critic=critic,
                            eval_every=run.size.eval_every, seed=run.seed + s, **LR)

logs, gans = {}, {}
for name in run.size.toy:
    for regime in REGIMES:
        for s in range(run.size.seeds):
            gans[name, regime, s], logs[name, regime, s] = toy_run(name, regime, s)

# %%
classifier, features, classifier_accuracy = lipnb.digit_classifier(seed=run.seed, epochs=run.size.classifier_epochs)
x_digits, _, x_digits_test, _ = lipnb.load_digits_split(seed=run.seed, flatten=False)
real_features = lipnb.predict(features, x_digits_test)

def digit_quality(gan):
    fake = gan.sample(len(x_digits_test))
    return {"quality": lipnb.frechet_distance(lipnb.predict(features, fake), real_features)}

for regime in REGIMES:
    gen = lipnb.image_generator(latent_dim=32, seed=run.seed)
    gans["digits", regime, 0], logs["digits", regime, 0] = lipnb.train_wgan(
        x_digits, regime, run.size.digit_steps, digit_quality, generator=gen, batch_size=64,
        eval_every=run.size.eval_every, seed=run.seed, **LR)
print(f"digit classifier test accuracy {classifier_accuracy:.3f}")

# %% [markdown]
# ## Sample quality against critic steps and against training time
# Median over seeds (toy data). Lower is better.

# %%
datasets = list(run.size.toy) + ["digits"]
seeds_of = lambda name: range(run.size.seeds) if name != "digits" else range(1)

def curve(name, regime, x_key, y_key="quality"):
    """Median over seeds of a logged value (y_key) against training progress (x_key)."""
    runs = [logs[name, regime, s] for s in seeds_of(name)]
    return (np.median([[r[x_key] for r in log] for log in runs], axis=0),
            np.median([[r[y_key] for r in log] for log in runs], axis=0))

fig, axes = plt.subplots(2, len(datasets), figsize=(3.2 * len(datasets), 5.5), squeeze=False)
for col, name in enumerate(datasets):
    for regime in REGIMES:
        for row, key in enumerate(("critic_steps", "seconds")):
            xs, q = curve(name, regime, key)
            axes[row, col].plot(xs, q, marker=".", label=regime)
    axes[0, col].set(title=name, xlabel="critic steps", yscale="log")
    axes[1, col].set(xlabel="training time, s", yscale="log")
axes[0, 0].set_ylabel("W1 (toy) / Fréchet distance (digits)")
axes[1, 0].set_ylabel("W1 (toy) / Fréchet distance (digits)")
axes[0, 0].legend();

# %%
fig, axes = plt.subplots(1, len(run.size.toy), figsize=(3.3 * len(run.size.toy), 3.3), squeeze=False)
for ax, name in zip(axes[0], run.size.toy):
    real, _ = TOY[name][0](1000, np.random.default_rng(run.seed + 7))
    ax.scatter(*real.T, s=2, color="0.7", label="data")
    for regime in ("gp", "sn"):
        ax.scatter(*gans[name, regime, 0].sample(1000).T, s=2, label=regime)
    ax.set(title=f"{name}: samples", xlabel="x₁", ylabel="x₂")
axes[0, 0].legend(markerscale=5);

# %% [markdown]
# ## The critic's slopes during training
# At every evaluation the log also holds $\|\nabla_x f\|$ of the current critic on the same
# real points, on fresh interpolates between them and new samples, and on the same far
# points (uniform on $[-8,8]^2$). Median over seeds of the per-evaluation median (solid)
# and maximum (dotted) slope; the dashed line is slope 1.

# %%
regions_logged = lipnb.metrics.SLOPE_REGIONS
slope_curve = lambda name, regime, region, stat: curve(name, regime, "critic_steps", f"slope_{region}_{stat}")  # noqa: E731

fig, axes = plt.subplots(len(run.size.toy), len(regions_logged), figsize=(10, 2.6 * len(run.size.toy)),
                         squeeze=False, sharex=True)
for row, name in enumerate(run.size.toy):
    for col, region in enumerate(regions_logged):
        ax = axes[row, col]
        for i, regime in enumerate(REGIMES):
            xs, med = slope_curve(name, regime, region, "median")
            ax.plot(xs, med, color=f"C{i}", label=regime)
            ax.plot(*slope_curve(name, regime, region, "max"), color=f"C{i}", ls=":")
        ax.axhline(1, color="k", ls="--", lw=0.8)
        ax.set(yscale="log", title=f"{name}: {region}" if row == 0 else region)
        if row == len(run.size.toy) - 1:
            ax.set_xlabel("critic steps")
    axes[row, 0].set_ylabel(f"{name}\n" + r"$\|\nabla_x f\|$")
axes[0, 0].legend(fontsize=7);

# %%
# The largest slope the SN critic showed at any evaluation, in any region, on any toy set.
sn_max_during = {name: max(r[f"slope_{region}_max"] for s in seeds_of(name) for r in logs[name, "sn", s]
                           for region in regions_logged) for name in run.size.toy}
lipnb.show_table([{"data set": name, "largest SN slope at any evaluation": v} for name, v in sn_max_during.items()])
# GP's off-norm shares (| |grad f| - 1 | > 0.2) per evaluation, median over seeds.
steps_logged, _ = slope_curve(run.size.toy[0], "gp", "real", "off")
lipnb.show_table([{"critic steps": int(step), **{region: slope_curve(run.size.toy[0], "gp", region, "off")[1][i]
                                                  for region in regions_logged}}
                  for i, step in enumerate(steps_logged)],
                 title=f"GP critic on {run.size.toy[0]}: share of points with | |∇f| − 1 | > 0.2 (median over seeds)")

# %% [markdown]
# ## Convergence: critic steps to reach the same quality
# For each data set and seed (one paired unit) the target is the worse of GP's and SN's
# final quality, a level both reach. We count the critic steps each needs to first get
# within 10% of it, on the evaluation grid.

# %%
units = [(name, s) for name in datasets for s in seeds_of(name)]
unit_names = [f"{name} / seed {s}" for name, s in units]
final_quality = lambda name, regime, s: logs[name, regime, s][-1]["quality"]  # noqa: E731

def steps_to(log, target):
    """Critic steps at the first evaluation within 10% of target (the last one always is)."""
    return float(next(r["critic_steps"] for r in log if r["quality"] <= 1.1 * target))

convergence = []
for (name, s), unit in zip(units, unit_names):
    target = max(final_quality(name, "gp", s), final_quality(name, "sn", s))
    convergence.append({"unit": unit, "target quality": target, "gp steps": steps_to(logs[name, "gp", s], target),
                        "sn steps": steps_to(logs[name, "sn", s], target)})
lipnb.show_table(convergence)

# %% [markdown]
# ## Cost per step, side by side
# One training step (5 critic steps and a generator step) of each regime on the first toy
# set, timed in interleaved rounds so that machine noise hits all alike; the order of the
# regimes rotates from round to round. Short rounds keep the GP and SN blocks of a round
# close in time, so each round is one paired unit of the GP/SN time ratio. The timed GANs
# are fresh copies of the architecture (same width, optimizer and batch), so timing trains
# none of the models analysed above.

# %%
def fresh_gan(regime):
    hidden = (run.size.width,) * 3
    gan = lipnb.WGAN(lipnb.mlp_generator(latent_dim=2, output_dim=2, hidden=hidden, seed=run.seed),
                     lipnb.make_critic(regime, input_shape=(2,), hidden=hidden, seed=run.seed),
                     regime=regime, seed=run.seed)
    gan.compile(keras.optimizers.Adam(**LR), keras.optimizers.Adam(**LR))
    return gan

lipnb.seed_everything(run.seed)
round_times = lipnb.gan.time_train_steps(
    {r: fresh_gan(r) for r in REGIMES}, TOY[run.size.toy[0]][0](20000, np.random.default_rng(run.seed + 3))[0],
    steps=run.size.timing_steps, rounds=run.size.timing_rounds, per_round=True, seed=run.seed)
gp_over_sn = round_times["gp"] / round_times["sn"]
lipnb.show_table([{"regime": r, "ms per step, median over rounds": np.median(round_times[r]) * 1e3,
                   "fastest round": round_times[r].min() * 1e3, "slowest round": round_times[r].max() * 1e3,
                   "time / sn time, median over rounds": np.median(round_times[r] / round_times["sn"])}
                  for r in REGIMES], title=f"One training step, {run.size.timing_rounds} interleaved rounds")

# %% [markdown]
# ## Where the gradient penalty holds the constraint
# We measure $\|\nabla_x f\|$ of the trained critics on the data, on fresh interpolates,
# on generated points and far from everything (uniform on $[-8,8]^2$). GP pulls the norm
# to 1 where its interpolates fall; elsewhere nothing constrains it. SN bounds it
# everywhere.

# %%
name = run.size.toy[0]
rng = np.random.default_rng(run.seed)
real, _ = TOY[name][0](1000, rng)
regions = {}
for regime in ("gp", "sn"):
    gan = gans[name, regime, 0]
    fake = gan.sample(1000)
    eps = rng.uniform(size=(1000, 1)).astype(np.float32)
    places = {"data": real, "interpolates": eps * real + (1 - eps) * fake, "generated": fake,
              "far": rng.uniform(-8, 8, (1000, 2)).astype(np.float32)}
    regions[regime] = {k: lipnb.critic_gradient_norms(gan.critic, v) for k, v in places.items()}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), sharey=True)
for ax, (regime, norms) in zip(axes, regions.items()):
    ax.boxplot(list(norms.values()), showfliers=False)
    ax.set(xticks=range(1, 5), xticklabels=list(norms), title=f"{regime} critic, {name}", ylabel=r"$\|\nabla_x f\|$")
    ax.axhline(1, color="k", ls="--", lw=0.8)

# %%
grid = np.stack(np.meshgrid(np.linspace(-8, 8, 120), np.linspace(-8, 8, 120)), -1).reshape(-1, 2).astype(np.float32)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, regime in zip(axes, ("gp", "sn")):
    g = lipnb.critic_gradient_norms(gans[name, regime, 0].critic, grid).reshape(120, 120)
    im = ax.imshow(g, origin="lower", extent=(-8, 8, -8, 8), vmin=0, vmax=max(1.5, g.max()), cmap="magma")
    ax.scatter(*real[:300].T, s=1, color="cyan")
    ax.set(title=rf"$\|\nabla f\|$ of the {regime} critic", xlabel="x₁", ylabel="x₂")
    fig.colorbar(im, ax=ax)

# %% [markdown]
# ## The SN critics as trained
# Each spectrally normalized layer computes with $W/\hat\sigma$, where $\hat\sigma=\|Wv\|$
# comes from its stored vector $v$, advanced by one power iteration per critic step. A
# Rayleigh quotient never exceeds the top singular value, so $\hat\sigma\le\sigma(W)$ and
# the layer's norm $\sigma(W/\hat\sigma)$ is at least 1: how far above 1 depends on how well
# the vector tracks the moving weights. SN-GAN reports it within 1.05; we hold every layer
# of every trained SN critic to that standard, with the exact norm from an SVD of the
# reshaped kernel that the layer normalizes. (`lipnb.SpectralNormalization.normalized_weight`
# gives $W/\hat\sigma$ without touching the vector.)

# %%
sn_layers = {unit: lipnb.normalized_layer_sigmas(gans[name, "sn", s].critic)
             for (name, s), unit in zip(units, unit_names)}
lipnb.show_table([{"critic": unit, "layers": len(sig), "largest σ(W/σ̂)": max(sig.values()),
                   "smallest σ(W/σ̂)": min(sig.values())} for unit, sig in sn_layers.items()])

# %% [markdown]
# **A check by construction, not a finding.** With the exact top singular vector (what
# `warm_up()` computes) every layer's norm is exactly 1, so the product of layer norms
# that certifies an MLP critic is at most 1 whatever the weights. The table shows it for
# the toy SN critics, next to the same certificate with the vectors as trained (the
# conv critic on digits is left out: its reshaped-kernel norm is not the operator norm,
# notebook 09). `warm_up()` overwrites the stored vectors, so this cell comes after every
# other use of the trained critics.

# %%
construction = []
for name in run.size.toy:
    for s in seeds_of(name):
        critic = gans[name, "sn", s].critic
        as_trained = lipnb.lipschitz_upper_bound(critic)
        for layer in critic.layers:
            if isinstance(layer, lipnb.SpectralNormalization):
                layer.warm_up()
        exact = lipnb.lipschitz_upper_bound(critic)
        construction.append({"critic": f"{name} / seed {s}", "bound, vectors as trained": as_trained,
                             "bound after warm_up()": exact, "at most 1 (+1e-6)": exact <= 1 + 1e-6})
lipnb.show_table(construction, digits=6)

# %% [markdown]
# ## How tight are the critics? A known Wasserstein distance
# A critic trained alone between two fixed distributions shows how close each constraint
# lets it get to $W_1$ (eq. (22)), without a generator in the way. Take $P$ = 8 Gaussians
# and $Q$ = a point mass at the origin. Then $W_1(P, Q) = \mathbb E_P\|x\|$ exactly (every
# point must travel to the origin), and the 1-Lipschitz cone $f(x) = \|x\|$ attains it. A
# 1-Lipschitz critic's $\mathbb E_P f - \mathbb E_Q f$ is therefore at most $W_1$, and its
# ratio to $W_1$ says how tight it is. The cone is not linear: its slope must be 1 in
# every direction, which is what norm-constrained relu networks find hard. (A shifted
# copy of $P$ would not test this: its optimal critic is linear, which every constrained
# network here represents exactly.)
#
# Anil, Lucas & Grosse (2019) show why norm-constrained relu networks fall short: relu
# zeroes the gradient of inactive units, so each layer can lose gradient norm, while
# GroupSort/MaxMin activations permute their inputs and keep it. We compare the SN
# critic (leaky relu) with the same SN critic using `lipnb.MaxMin`, and show clipping
# and GP (λ = 10, and 0.1 as in WGAN-GP's toy script) for reference: their critics are
# not certified, so their ratio can exceed 1.

# %%
ORIGIN = np.zeros((1, 2), "float32")  # Q: a point mass at the origin; W1(P, Q) = E_P |x|

def maxmin_sn_critic(seed, hidden=(run.size.width,) * 3):
    layers = [keras.Input((2,))]
    for i, units in enumerate(hidden):
        init = keras.initializers.GlorotUniform(seed=seed + i)
        layers += [lipnb.SpectralNormalization(keras.layers.Dense(units, kernel_initializer=init)), lipnb.MaxMin()]
    layers.append(lipnb.SpectralNormalization(keras.layers.Dense(1)))
    return keras.Sequential(layers)

TIGHT = {"clip": ("clip", 0.0), "gp λ=10": ("gp", 10.0), "gp λ=0.1": ("gp", 0.1), "sn (leaky relu)": ("sn", 0.0),
         "sn + MaxMin": ("maxmin", 0.0)}

def critic_gap(name, s):
    """Train a critic alone to maximize E_P f - E_Q f; return (estimate / W1, largest slope on P and Q)."""
    regime, gp_weight = TIGHT[name]
    critic = (maxmin_sn_critic(run.seed + s) if regime == "maxmin" else
              lipnb.make_critic(regime, input_shape=(2,), hidden=(run.size.width,) * 3, seed=run.seed + s))
    opt = keras.optimizers.Adam(**LR)
    rng = np.random.default_rng([run.seed, s, 77])

    @tf.function
    def step(p, q):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(critic(q, training=True)) - tf.reduce_mean(critic(p, training=True))
            if gp_weight:
                loss += gp_weight * lipnb.gradient_penalty(critic, p, q)
        opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))

    for _ in range(run.size.tight_steps):
        p = lipnb.eight_gaussians(256, rng)[0].astype("float32")
        step(tf.constant(p), tf.constant(np.repeat(ORIGIN, len(p), axis=0)))
    p = lipnb.eight_gaussians(4096, rng)[0].astype("float32")
    f = lambda x: lipnb.predict(critic, x).ravel()  # noqa: E731
    slope = lipnb.critic_gradient_norms(critic, np.concatenate([p, ORIGIN]))
    w1 = float(np.linalg.norm(p, axis=1).mean())  # exact for this sample against the point mass
    return float((f(p).mean() - f(ORIGIN)[0]) / w1), float(slope.max())

tight = {name: [critic_gap(name, s) for s in range(run.size.tight_seeds)] for name in TIGHT}
ratio = {name: np.array([r[0] for r in runs]) for name, runs in tight.items()}
lipnb.show_table([{"critic": name, "estimate / true W1": str(one_sample(ratio[name], direction="less", null=1.0)),
                   "largest slope on P and Q": max(r[1] for r in tight[name])} for name in TIGHT],
                 title=f"Critics trained alone for {run.size.tight_steps} steps between 8 Gaussians and a point "
                       "mass (estimate / true W1: mean [95% CI])")

# %% [markdown]
# Read the ratio with the slope column. A ratio near 1 with slopes near 1 is a tight,
# honest critic. Slopes well above 1 make the ratio meaningless as an estimate of $W_1$:
# a penalty too weak for this pair of distributions lets the slopes grow far beyond 1.
# The SN critics' slopes are those of the layers as trained, whose stored vectors lag the
# weights (see the previous section), so they can exceed 1 slightly. Clipping keeps
# every weight so small that the critic is nearly flat.

# %% [markdown]
# ## Verdicts

# %%
conv_evidence = paired_comparison([c["sn steps"] for c in convergence], [c["gp steps"] for c in convergence],
                                  direction="less")
run.claim(
    "sn-converges-faster-than-gp",
    "SN first comes within 10% of the quality both SN and GP reach (the worse of their final "
    "qualities) in fewer critic steps than GP (mean paired difference SN - GP over data set x seed).",
    "section 'Generative models' (author's runs)", kind="article",
    measured=dict(by_unit=convergence, paired_difference_sn_minus_gp=conv_evidence.as_dict(),
                  final_quality={f"{u} / {r}": final_quality(n, r, s) for (n, s), u in zip(units, unit_names)
                                 for r in REGIMES}),
    verdict="inconclusive",
    note=f"this setup cannot decide it: GP runs at lambda = 10 (WGAN-GP's image setting), unstable on the "
         f"toy sets, and SN with the WGAN loss, with which users report it trains poorly; the CI of SN - GP "
         f"critic steps is {conv_evidence} ('{conv_evidence.verdict}' taken alone). Decided by the fair GAN "
         f"protocol (issue 10): GP at its tuned lambda, 5+ seeds per cell, more steps.",
)
run.claim(
    "gp-step-slower",
    "A GP training step is slower than an SN step (double backpropagation): the GP/SN time ratio, "
    "per interleaved round on fresh models, is above 1.",
    "section 'Generative models'", kind="article",
    measured=dict(seconds_per_step_by_round={r: t for r, t in round_times.items()},
                  time_ratio_gp_over_sn_by_round=gp_over_sn),
    evidence=(timing_evidence := one_sample(gp_over_sn, direction="greater", null=1.0,
                                            what="the per-round GP/SN time ratio")),
    note=f"{run.size.timing_rounds} rounds of {run.size.timing_steps} steps per regime, width {run.size.width}"
    + lipnb.stats.note_if_inconclusive(
        timing_evidence, "; more and longer interleaved rounds (the full profile, or benchmarks/bench_gan.py) "
        "would decide it"),
)
# The 10% tolerance of "no worse" is the claim's, fixed before the runs: on the log scale
# the one-sided penalty may end at most 10% worse than the two-sided one.
one_log = np.log([final_quality(n, "gp-one-sided", s) for n, s in units])
two_log = np.log([final_quality(n, "gp", s) for n, s in units])
run.claim(
    "one-sided-gp-not-worse",
    "At the same lambda = 10, the one-sided penalty (eq. 25) ends at a quality no more than 10% worse "
    "than the two-sided one (eq. 24): the mean paired log ratio one-sided / two-sided of the final "
    "quality is below log 1.1, over data set x seed.",
    "eqs. (24)-(25)", kind="article",
    measured=dict(units=unit_names, one_sided=np.exp(one_log), two_sided=np.exp(two_log)),
    evidence=paired_comparison(one_log, two_log, direction="less", null=float(np.log(1.1))),
    note="at lambda = 10 only, where Petzka et al. found the one-sided form less sensitive to lambda; "
         "WGAN-GP's appendix found no significant difference across architectures. Across lambda: issue 10",
)
# Every toy data set and seed, at the last logged evaluation: one trained critic per unit.
toy_units = [(n, s) for n in run.size.toy for s in seeds_of(n)]
share_off = {region: np.array([logs[n, "gp", s][-1][f"slope_{region}_off"] for n, s in toy_units])
             for region in ("interpolates", "far")}
run.claim(
    "gp-is-local",
    "GP keeps the gradient norm near 1 only where its interpolates fall: far from the data the share "
    "of points with | |grad f| - 1 | > 0.2 is larger than on the interpolates (mean paired difference "
    "over toy data set x seed).",
    "eqs. (24)-(26)", kind="article",
    measured=dict(units=[f"{n} / seed {s}" for n, s in toy_units], share_off_interpolates=share_off["interpolates"],
                  share_off_far=share_off["far"]),
    evidence=(gp_local_evidence := paired_comparison(share_off["far"], share_off["interpolates"],
                                                     direction="greater")),
    note=f"{run.size.eval_points} points per region; far = uniform on [-8, 8]^2"
    + lipnb.stats.note_if_inconclusive(
        gp_local_evidence, "; more runs per data set (5+ seeds, the fair GAN protocol of issue 10) would decide it"),
)
largest_sigma = max(max(sig.values()) for sig in sn_layers.values())
run.claim(
    "sn-layers-within-1-05-as-trained",
    "Every spectrally normalized layer of every trained SN critic (each toy data set and seed, and "
    "digits), with its stored vector as trained, has spectral norm sigma(W / sigma_estimate) at most 1.05.",
    "section 'Spectral normalization' (our check, by SN-GAN's 1-1.05)", kind="beyond",
    measured=dict(largest_layer_sigma=largest_sigma, layer_sigmas=sn_layers),
    holds=bool(largest_sigma <= 1.05),
    note="exact norms by SVD of the reshaped kernel; one power iteration per critic step, Adam(1e-3). "
         "The article's construction (exact norms) gives 1 by construction: the check in the text",
)
run.claim(
    "sn-critic-bounded-during-training",
    "At every evaluation during training, on every toy data set and seed, the SN critic's gradient "
    "norm stays at most 1 (+1e-3) on data, interpolates and far points.",
    "section 'Spectral normalization'", kind="article",
    measured=dict(max_slope_during_training=sn_max_during),
    holds=bool(max(sn_max_during.values()) <= 1 + 1e-3),
    note=f"{len(logs[run.size.toy[0], 'sn', 0])} evaluations per run, "
         f"{run.size.eval_points} points per region; the vectors as trained (one iteration per step)",
);

tight_evidence = paired_comparison(ratio["sn + MaxMin"], ratio["sn (leaky relu)"], direction="greater")
run.claim(
    "maxmin-sn-critic-is-tighter",
    "Trained alone between 8 Gaussians and a point mass at their center (W1 known exactly), the SN critic with MaxMin "
    "activations estimates W1 more tightly than the same SN critic with leaky relu (paired over seeds).",
    "section 'Spectral normalization' (Anil, Lucas & Grosse 2019)", kind="beyond",
    measured=dict(steps=run.size.tight_steps,
                  estimate_over_true={name: r for name, r in ratio.items()}),
    evidence=tight_evidence,
    note=lipnb.stats.note_if_inconclusive(tight_evidence, "more seeds or steps (the full profile) would decide it"),
);

# %%
run.finish();
