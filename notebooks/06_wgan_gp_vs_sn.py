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

# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import lipnb
import matplotlib.pyplot as plt
import numpy as np

run = lipnb.start_notebook("06_wgan_gp_vs_sn", globals(), profiles={
    "smoke": dict(toy=["8 Gaussians"], seeds=1, steps=20, digit_steps=10, eval_every=10, eval_points=128,
                  classifier_epochs=1, timing_steps=3, width=32),
    "quick": dict(toy=["8 Gaussians", "25 Gaussians", "Swiss roll"], seeds=2, steps=200, digit_steps=200,
                  eval_every=50, eval_points=512, classifier_epochs=20, timing_steps=30, width=128),
    "full": dict(toy=["8 Gaussians", "25 Gaussians", "Swiss roll"], seeds=5, steps=5000, digit_steps=5000,
                 eval_every=250, eval_points=1024, classifier_epochs=40, timing_steps=200, width=512),
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
    x, _ = make(20000, np.random.default_rng(1000 + s))
    held_out, _ = make(run.size.eval_points, np.random.default_rng(2000 + s))
    # Every evaluation also logs the critic's slopes on data, interpolates and far points.
    evaluate = lambda gan: {"quality": lipnb.wasserstein1(gan.sample(run.size.eval_points), held_out),
                            **lipnb.critic_slopes(gan, x, points=run.size.eval_points, seed=3000 + s)}
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
    real, _ = TOY[name][0](1000, np.random.default_rng(7))
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
# GP's off-norm shares (| |grad f| - 1 | > 0.2) per evaluation, median over seeds.
gp_off_during = {region: slope_curve(run.size.toy[0], "gp", region, "off")[1].round(3).tolist()
                 for region in regions_logged}
sn_max_during, gp_off_during

# %% [markdown]
# ## Convergence: critic steps to reach the same quality
# For each data set the target is the worse of GP's and SN's final median quality, a
# level both reach. We count the critic steps each needs to first get within 10% of it.

# %%
def steps_to(name, regime, target):
    xs, q = curve(name, regime, "critic_steps")
    hit = np.nonzero(q <= 1.1 * target)[0]
    return float(xs[hit[0]]) if hit.size else float("inf")

convergence = {}
for name in datasets:
    target = max(curve(name, "gp", "critic_steps")[1][-1], curve(name, "sn", "critic_steps")[1][-1])
    convergence[name] = {"target": float(target), "gp": steps_to(name, "gp", target),
                         "sn": steps_to(name, "sn", target)}
convergence

# %% [markdown]
# ## Cost per step, side by side
# One training step (5 critic steps and a generator step) of each regime on 8 Gaussians,
# timed in interleaved rounds so that machine noise hits all alike.

# %%
step_times = lipnb.gan.time_train_steps({r: gans[run.size.toy[0], r, 0] for r in REGIMES},
                                        TOY[run.size.toy[0]][0](20000, np.random.default_rng(3))[0],
                                        steps=run.size.timing_steps)
gp_over_sn = step_times["gp"] / step_times["sn"]
{k: f"{v * 1e3:.1f} ms" for k, v in step_times.items()} | {"gp / sn": f"{gp_over_sn:.2f}"}

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

# %%
gp_norms, sn_norms = regions["gp"], regions["sn"]
off = lambda v: float(np.mean(np.abs(v - 1) > 0.2))
sn_critic = gans[name, "sn", 0].critic
upper_as_trained = lipnb.lipschitz_upper_bound(sn_critic)
for layer in sn_critic.layers:
    if isinstance(layer, lipnb.SpectralNormalization):
        layer.warm_up()
upper_exact = lipnb.lipschitz_upper_bound(sn_critic)

# %% [markdown]
# ## Verdicts

# %%
final = {f"{n} / {r}": float(curve(n, r, "critic_steps")[1][-1]) for n in datasets for r in REGIMES}
faster = [c["sn"] < c["gp"] for c in convergence.values()]
run.claim(
    "sn-converges-faster-than-gp",
    "SN reaches the quality both SN and GP attain in fewer critic steps than GP, on most data sets.",
    "section 'Generative models' (author's runs)",
    measured=dict(convergence=convergence, final_quality=final),
    holds=sum(faster) > len(faster) / 2,
    note=f"same learning rate for all regimes; {run.size.steps} generator steps per toy run",
)
run.claim(
    "gp-step-slower",
    "A GP training step is slower than an SN step (double backpropagation), timed side by side.",
    "section 'Generative models'",
    measured=dict(seconds_per_step=step_times, gp_over_sn=gp_over_sn),
    holds=bool(gp_over_sn > 1.0),
)
one, two = ([final[f"{n} / {r}"] for n in datasets] for r in ("gp-one-sided", "gp"))
run.claim(
    "one-sided-gp-not-worse",
    "The one-sided penalty (eq. 25) ends at a quality no worse than the two-sided one (eq. 24) "
    "within 10%, on every data set.",
    "eqs. (24)-(25)",
    measured=dict(one_sided=one, two_sided=two, datasets=datasets),
    holds=all(a <= 1.1 * b for a, b in zip(one, two)),
)
# Every toy data set and seed, at the last logged evaluation: one trained critic per run.
gp_local_runs = {f"{n} / seed {s}": dict(interpolates=logs[n, "gp", s][-1]["slope_interpolates_off"],
                                         far=logs[n, "gp", s][-1]["slope_far_off"])
                 for n in run.size.toy for s in seeds_of(n)}
local = [r["far"] >= 2 * max(r["interpolates"], 0.01) for r in gp_local_runs.values()]
run.claim(
    "gp-is-local",
    "GP keeps the gradient norm near 1 only where its interpolates fall: far from the data the "
    "share of points with | |grad f| - 1 | > 0.2 is at least twice that on the interpolates, "
    "in most trained GP critics (every toy data set and seed).",
    "eqs. (24)-(26)",
    measured=dict(runs_where_it_holds=int(sum(local)), runs=len(local), share_off_by_run=gp_local_runs,
                  first_critic=dict(share_off_interpolates=off(gp_norms["interpolates"]),
                                    share_off_far=off(gp_norms["far"]),
                                    median_norm={k: float(np.median(v)) for k, v in gp_norms.items()}),
                  share_off_during_training=gp_off_during),
    holds=sum(local) > len(local) / 2,
    note="a single critic's verdict depends on its seed; hence the count over runs",
)
run.claim(
    "sn-critic-is-1-lipschitz",
    "The SN critic's gradient norm stays at most 1 on data, interpolates, samples and far points, "
    "and its certified bound with exact vectors is at most 1 (+1e-6).",
    "section 'Spectral normalization'",
    measured=dict(max_norm={k: float(v.max()) for k, v in sn_norms.items()},
                  upper_as_trained=upper_as_trained, upper_exact_vectors=upper_exact),
    holds=bool(max(float(v.max()) for v in sn_norms.values()) <= 1 + 1e-3 and upper_exact <= 1 + 1e-6),
    note="measured on the trained vectors; the certified bound after warm_up()",
)
run.claim(
    "sn-critic-bounded-during-training",
    "At every evaluation during training, on every toy data set and seed, the SN critic's gradient "
    "norm stays at most 1 (+1e-3) on data, interpolates and far points.",
    "section 'Spectral normalization'",
    measured=dict(max_slope_during_training=sn_max_during),
    holds=bool(max(sn_max_during.values()) <= 1 + 1e-3),
    note=f"{len(logs[run.size.toy[0], 'sn', 0])} evaluations per run, "
         f"{run.size.eval_points} points per region; the vectors as trained (one iteration per step)",
)

# %%
run.finish();
