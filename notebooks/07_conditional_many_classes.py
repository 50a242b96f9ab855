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
# # 07 · Conditional generation with many classes: GP against SN
#
# *Article section "Generative models", the discussion after eq. (26).*
#
# **Claim.** The gradient penalty constrains the critic only at its random interpolates
# (eq. (26)). The article argues that with many classes, especially in conditional
# generation, the interpolates fall where the constraint matters little, so the
# constraint is missing where it is needed and GP degrades. Spectral normalization
# constrains the critic everywhere, so it should hold up.
#
# **Setup.** $K$ classes, each a Gaussian (std 0.05) on a circle whose radius grows with
# $K$ (neighbours at least 6 std apart). A conditional generator $G(z,y)$ (class
# embedding concatenated to $z$) and a projection critic
# $f(x,y)=w^\top\phi(x)+\langle E_y,\phi(x)\rangle$ (Miyato & Koyama 2018), trained with
# GP or with SN on every layer, embedding included. Otherwise as in notebook 06.
# Per-class quality is the exact $W_1$ between generated and real points of each class,
# averaged over classes.

# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import lipnb
import matplotlib.pyplot as plt
import numpy as np

run = lipnb.start_notebook("07_conditional_many_classes", globals(), profiles={
    "smoke": dict(classes=[2, 10], steps=15, per_class=16, digit_steps=10, classifier_epochs=1, seeds=2, width=32),
    "quick": dict(classes=[2, 10, 50, 100], steps=250, per_class=64, digit_steps=250, classifier_epochs=20,
                  seeds=1, width=128),
    "full": dict(classes=[2, 5, 10, 25, 50, 100], steps=5000, per_class=256, digit_steps=5000,
                 classifier_epochs=40, seeds=3, width=512),
})
REGIMES = ["gp", "sn"]
LR = dict(learning_rate=1e-3, beta_1=0.5, beta_2=0.9)
radius = lambda k: max(2.0, 6 * 0.05 * k / (2 * np.pi))

# %% [markdown]
# ## Training on K-class mixtures

# %%
def mixture(n, k, s):
    return lipnb.class_mixture(n, k, np.random.default_rng(s), radius=radius(k))

def per_class_quality(gan, k):
    rng = np.random.default_rng(99)
    labels = np.repeat(np.arange(k), run.size.per_class).astype(np.int32)
    real, real_labels, centers = mixture(len(labels), k, 98)
    fake = gan.sample(len(labels), labels=labels)
    w1 = [lipnb.wasserstein1(fake[labels == c], real[real_labels == c][: run.size.per_class])
          if np.sum(real_labels == c) >= run.size.per_class else np.nan for c in range(k)]
    on_class = np.linalg.norm(fake - centers[labels], axis=1) < 3 * 0.05
    return {"quality": float(np.nanmean(w1)), "on_class_fraction": float(on_class.mean())}

gans, logs = {}, {}
for k in run.size.classes:
    x, y, _ = mixture(40000, k, run.seed)
    for regime in REGIMES:
        for s in range(run.size.seeds):
            lipnb.seed_everything(run.seed + s)
            hidden = (run.size.width,) * 3
            generator = lipnb.mlp_generator(latent_dim=2, output_dim=2, hidden=hidden, num_classes=k,
                                            seed=run.seed + s)
            critic = lipnb.make_critic(regime, input_shape=(2,), num_classes=k, hidden=hidden, seed=run.seed + s)
            gans[k, regime, s], logs[k, regime, s] = lipnb.train_wgan(
                x, regime, run.size.steps, lambda gan, k=k: per_class_quality(gan, k), labels=y, num_classes=k,
                generator=generator, critic=critic, eval_every=run.size.steps, seed=run.seed + s, **LR)

# %%
# Median over seeds of the final evaluation.
final = lambda k, r, key: float(np.median([logs[k, r, s][-1][key] for s in range(run.size.seeds)]))  # noqa: E731
quality = {r: np.array([final(k, r, "quality") for k in run.size.classes]) for r in REGIMES}
on_class = {r: np.array([final(k, r, "on_class_fraction") for k in run.size.classes]) for r in REGIMES}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for r in REGIMES:
    axes[0].plot(run.size.classes, quality[r], marker="o", label=r)
    axes[1].plot(run.size.classes, on_class[r], marker="o", label=r)
axes[0].set(xscale="log", yscale="log", xlabel="classes K", ylabel="mean per-class W1", title="Per-class quality")
axes[1].set(xscale="log", xlabel="classes K", ylabel="share within 3 std of its class", title="Samples on their class")
axes[0].legend();

# %% [markdown]
# ## Where the interpolates fall, and where the critic breaks the constraint
# For the largest $K$: the interpolates of eq. (26) between each real point and a
# generated point of the same label, and the critic's gradient norm for a label $y$ at
# three kinds of places: the interpolates, the other classes' data, and empty space
# inside and around the ring.

# %%
k = run.size.classes[-1]
rng = np.random.default_rng(run.seed)
real, labels, centers = mixture(2000, k, 7)
regions = {}
for regime in REGIMES:
    gan = gans[k, regime, 0]
    fake = gan.sample(len(real), labels=labels)
    eps = rng.uniform(size=(len(real), 1)).astype(np.float32)
    interp = eps * real + (1 - eps) * fake
    others = real[np.roll(np.arange(len(real)), 1)]  # data of (mostly) other classes, scored as class y
    empty = rng.uniform(-1.3 * radius(k), 1.3 * radius(k), real.shape).astype(np.float32)
    places = {"interpolates": interp, "other classes' data": others, "empty space": empty}
    regions[regime] = {name: lipnb.critic_gradient_norms(gan.critic, p, extra_inputs=[labels])
                       for name, p in places.items()}
    regions[regime]["interpolate distance to class"] = np.linalg.norm(interp - centers[labels], axis=1)

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
axes[0].scatter(*real.T, s=1, color="0.6", label="data")
axes[0].scatter(*interp[:500].T, s=2, color="C0", label="interpolates (SN run)")
axes[0].set(title=f"K = {k}: interpolates", xlabel="x₁", ylabel="x₂")
axes[0].legend(markerscale=5)
for ax, regime in zip(axes[1:], REGIMES):
    names = [n for n in regions[regime] if n != "interpolate distance to class"]
    ax.boxplot([regions[regime][n] for n in names], showfliers=False)
    ax.axhline(1, color="k", ls="--", lw=0.8)
    ax.set(xticks=range(1, len(names) + 1), xticklabels=[n.replace(" ", "\n") for n in names],
           title=f"{regime} critic", ylabel=r"$\|\nabla_x f(x,y)\|$")

violation = {r: {n: float(np.mean(v > 1.1)) for n, v in regions[r].items() if n != "interpolate distance to class"}
             for r in REGIMES}
violation

# %% [markdown]
# ## Conditional digits (10 classes)
# An MLP generator and an MLP projection critic on flattened 8×8 digits. Quality is the
# share of samples that a digit classifier assigns to their label, and the Fréchet
# distance of the classifier's features.

# %%
classifier, features, classifier_accuracy = lipnb.digit_classifier(seed=run.seed, epochs=run.size.classifier_epochs)
x_tr, y_tr, x_te, y_te = lipnb.load_digits_split(seed=run.seed)
real_features = lipnb.predict(features, x_te.reshape(-1, 8, 8, 1))

def digit_quality(gan):
    labels = np.tile(np.arange(10), 50).astype(np.int32)
    fake = gan.sample(len(labels), labels=labels).reshape(-1, 8, 8, 1)
    predicted = np.argmax(lipnb.predict(classifier, fake), axis=1)
    return {"quality": lipnb.frechet_distance(lipnb.predict(features, fake), real_features),
            "label_accuracy": float(np.mean(predicted == labels))}

digits = {}
for regime in REGIMES:
    gen = lipnb.mlp_generator(latent_dim=32, output_dim=64, hidden=(128, 256), num_classes=10,
                              output_activation="sigmoid", seed=run.seed)
    critic = lipnb.mlp_critic(regime, input_dim=64, hidden=(256, 128), num_classes=10, seed=run.seed)
    _, log = lipnb.train_wgan(x_tr, regime, run.size.digit_steps, digit_quality, labels=y_tr, num_classes=10,
                              generator=gen, critic=critic, batch_size=64, eval_every=run.size.digit_steps,
                              seed=run.seed, **LR)
    digits[regime] = log[-1]
print(f"classifier test accuracy {classifier_accuracy:.3f}")
digits

# %% [markdown]
# ## Verdicts

# %%
degradation = {r: float(quality[r][-1] / quality[r][0]) for r in REGIMES}
run.claim(
    "gp-degrades-with-many-classes",
    "Going from the fewest to the most classes, GP's per-class W1 grows by a larger factor than "
    "SN's, and SN ends better at the largest K.",
    "section 'Generative models' (discussion of eq. (26))",
    measured=dict(classes=run.size.classes, per_class_w1=quality, on_class_fraction=on_class,
                  degradation_factor=degradation),
    holds=bool(degradation["gp"] > degradation["sn"] and quality["sn"][-1] < quality["gp"][-1]),
    note=f"median of {run.size.seeds} seed(s) per K; {run.size.steps} generator steps",
)
run.claim(
    "gp-violations-away-from-interpolates",
    "At the largest K, the GP critic exceeds slope 1.1 more often away from its interpolates "
    "(other classes' data, empty space) than on them, while the SN critic stays at or below 1.1.",
    "eqs. (24)-(26)",
    measured=dict(share_above_1_1=violation,
                  median_interpolate_distance_to_class={r: float(np.median(regions[r]["interpolate distance to class"]))
                                                        for r in REGIMES}),
    holds=bool(max(violation["gp"]["other classes' data"], violation["gp"]["empty space"])
               > violation["gp"]["interpolates"] and max(violation["sn"].values()) == 0.0),
)
run.claim(
    "sn-holds-on-conditional-digits",
    "On 10-class conditional digits, SN's samples match their labels at least as often as GP's.",
    "section 'Generative models'",
    measured=dict(gp=digits["gp"], sn=digits["sn"]),
    holds=bool(digits["sn"]["label_accuracy"] >= digits["gp"]["label_accuracy"]),
)

# %%
run.finish();
