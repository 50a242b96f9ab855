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
# # 01 · The Lipschitz constraint
#
# *Article section "Lipschitz constraint and generalization", eqs. (1)–(6).*
#
# **Claim.** A network is insensitive to input perturbations when it satisfies the
# L-constraint (article eq. (3)),
# $\|f(x_1)-f(x_2)\| \le C\,\|x_1-x_2\|$ for all $x_1, x_2$, and for a stack of dense
# layers a valid $C$ is the product of the weight matrices' spectral norms and the
# activations' derivative bounds.
#
# **Derivation.** Write the network as $f = g_L\circ\cdots\circ g_1$ with
# $g_l(h) = \phi_l(W_l h + b_l)$. Along the segment $x(t) = x_2 + t(x_1-x_2)$ the
# fundamental theorem of calculus gives
#
# $$f(x_1)-f(x_2) = \int_0^1 J_f\big(x(t)\big)\,(x_1-x_2)\,dt
# \quad\Rightarrow\quad
# \frac{\|f(x_1)-f(x_2)\|}{\|x_1-x_2\|} \le \max_{t\in[0,1]} \|J_f(x(t))\|_2 .$$
#
# This is the first-order step from article eq. (4) to eq. (5), made exact. By the
# chain rule $J_f = D_L W_L \cdots D_1 W_1$, where $D_l$ is the diagonal matrix of
# activation derivatives $\phi_l'$. The operator norm is submultiplicative, and
# $\|D_l\|_2 = \max_i|\phi_l'| \le c_l$, so
#
# $$\|J_f(x)\|_2 \le \prod_l c_l\,\|W_l\|_2 \quad\text{for every } x .$$
#
# Each factor $\|W_l\|_2$ is the smallest $C$ of article eq. (6). So three numbers should
# be ordered for every pair of inputs:
#
# $$\underbrace{\frac{\|f(x_1)-f(x_2)\|}{\|x_1-x_2\|}}_{\text{finite difference}}
# \;\le\; \underbrace{\max_{\text{found}}\|J_f\|_2}_{\text{largest gradient norm}}
# \;\le\; \underbrace{\prod_l c_l\|W_l\|_2}_{\text{upper bound}} .$$
#
# We check this on a small MLP trained on scikit-learn's 8×8 digits, with $f$ the map
# from pixels to logits and the Euclidean norm on both sides.

# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

import lipnb

run = lipnb.start_notebook("01_lipschitz_constraint", globals(), profiles={
    "smoke": dict(epochs=2, pairs=16, segment_points=6, ascent_steps=5, perturb_points=32),
    "quick": dict(epochs=40, pairs=200, segment_points=33, ascent_steps=150, perturb_points=300),
    "full": dict(epochs=200, pairs=2000, segment_points=129, ascent_steps=500, perturb_points=450),
})
lipnb.show_table([vars(run.size)], title=f"Sizes of the {run.profile!r} profile")

# %% [markdown]
# ## The network
# A 64-64-64-10 relu MLP; the logits are the output $f(x)$.

# %%
x_train, y_train, x_test, y_test = lipnb.load_digits_split(seed=run.seed)
model = lipnb.digits_mlp(hidden=(64, 64), activation="relu", seed=run.seed)
lipnb.fit_classifier(model, x_train, y_train, epochs=run.size.epochs, seed=run.seed)
test_accuracy = lipnb.accuracy(model, x_test, y_test)
upper = lipnb.lipschitz_upper_bound(model)
layer_norms = [lipnb.spectral_norm(layer.kernel) for layer in model.layers]
print(f"test accuracy {test_accuracy:.3f}; layer spectral norms {', '.join(f'{v:.3f}' for v in layer_norms)}; "
      f"upper bound {upper:.2f}")

# %% [markdown]
# ## Finite differences ≤ largest gradient norm ≤ product of norms
# For each pair of test images we compute the finite-difference ratio and the Jacobian's
# spectral norm at evenly spaced points of the segment between them (the mean-value
# inequality above bounds the ratio by the largest of those). Gradient ascent from the
# test points (`lipnb.lipschitz_lower_bound`) then searches for larger local slopes.

# %%
rng = np.random.default_rng(run.seed)
i1, i2 = rng.choice(len(x_test), size=(2, run.size.pairs))
keep = i1 != i2
x1, x2 = x_test[i1[keep]], x_test[i2[keep]]
ratios = lipnb.finite_difference_ratios(model, x1, x2)
t = np.linspace(0.0, 1.0, run.size.segment_points, dtype=np.float32)
segments = x2[:, None, :] + t[None, :, None] * (x1 - x2)[:, None, :]
segment_jac = lipnb.jacobian_spectral_norms(model, segments.reshape(-1, 64)).reshape(len(x1), -1)
segment_max = segment_jac.max(axis=1)
ascent = lipnb.lipschitz_lower_bound(model, x_test[:128], steps=run.size.ascent_steps, seed=run.seed)
largest_gradient = max(float(segment_max.max()), ascent)
lipnb.show_table([
    {"slope": "largest finite-difference ratio over the pairs", "value": ratios.max()},
    {"slope": "largest Jacobian norm on the segments", "value": segment_max.max()},
    {"slope": "largest Jacobian norm after gradient ascent (a lower bound on L)", "value": ascent},
    {"slope": "product bound (an upper bound on L)", "value": upper},
    {"slope": "looseness: product bound / largest slope found", "value": upper / largest_gradient},
], title=f"Slopes of the trained MLP ({len(ratios)} pairs)")

# %%
fig, ax = plt.subplots()
bins = np.geomspace(min(ratios.min(), segment_jac.min()) * 0.9, upper * 1.1, 50)
# Densities, not counts: there are far more segment points than pairs.
ax.hist(ratios, bins=bins, alpha=0.6, density=True, label=f"finite-difference ratio ({len(ratios)} pairs)")
ax.hist(segment_jac.ravel(), bins=bins, alpha=0.6, density=True,
        label=rf"$\|J_f\|_2$ at segment points ({segment_jac.size})")
ax.axvline(largest_gradient, color="k", ls="--", label="largest gradient norm found")
ax.axvline(upper, color="C3", label=r"$\prod_l c_l \|W_l\|_2$")
ax.set(xscale="log", xlabel="local slope (logit change per unit input change)", ylabel="density",
       title="Every measured slope sits below the product bound")
ax.legend();

# %%
# The mean-value inequality holds exactly; the slack covers float32 round-off only.
pair_ok = ratios <= segment_max * (1 + 1e-3) + 1e-5
run.claim(
    "chain-of-bounds",
    "For every sampled pair, the finite-difference ratio is at most the largest Jacobian "
    "norm found, which is at most the product of layer spectral norms and activation bounds.",
    "eqs. (3)-(6)",
    kind="article",
    measured=dict(pairs=int(len(ratios)), pairs_ratio_below_segment_max=int(pair_ok.sum()),
                  max_ratio=float(ratios.max()), largest_gradient_norm=largest_gradient,
                  upper_bound=upper, looseness=upper / largest_gradient),
    holds=bool(pair_ok.all() and ratios.max() <= largest_gradient <= upper),
    note=f"the upper bound is loose: {upper / largest_gradient:.2f} times the largest slope found",
)

# %% [markdown]
# ## Activation derivative bounds
# The constants $c_l$: $\sup|\mathrm{relu}'| = 1$, $\sup|\tanh'| = \sup(1-\tanh^2) = 1$ at
# 0, and $\sup|\sigma'| = \sup \sigma(1-\sigma) = 1/4$ at 0. We take the derivatives by
# automatic differentiation on a dense grid and compare the maxima with
# `lipnb.ACTIVATION_LIPSCHITZ`.

# %%
import keras

grid = np.linspace(-8, 8, 160001)
derivatives = {}
for name in ("relu", "tanh", "sigmoid"):
    _, d = lipnb.backend.input_gradient(keras.activations.get(name),
                                        keras.ops.convert_to_tensor(grid, lipnb.backend.float64()))
    derivatives[name] = keras.ops.convert_to_numpy(d)
measured_max = {name: float(np.abs(d).max()) for name, d in derivatives.items()}
fig, ax = plt.subplots(figsize=(6.4, 3))
for name, d in derivatives.items():
    ax.plot(grid, d, label=f"{name}': max {measured_max[name]:.4f}")
ax.set(xlabel="pre-activation z", ylabel=r"$\phi'(z)$", title="Activation derivatives")
ax.legend();

# %%
run.claim(
    "activation-derivative-bounds",
    "The largest derivatives of relu, tanh and sigmoid are 1, 1 and 1/4.",
    "eq. (5)",
    kind="article",
    measured=dict(measured_max=measured_max,
                  table={k: lipnb.activation_lipschitz(k) for k in measured_max}),
    holds=all(abs(measured_max[k] - lipnb.activation_lipschitz(k)) < 1e-6 for k in measured_max),
)

# %% [markdown]
# ## A residual block is Lipschitz, but not 1-Lipschitz
# For $g(x) = x + \mathrm{relu}(Wx+b)$, $J_g = I + DW$ with $D$ diagonal in $\{0,1\}$, so
# $\|J_g\|_2 \le 1 + \|W\|_2$. The bound is reached when all units are active and $W$'s
# top singular vectors coincide (a symmetric positive semi-definite $W$): then
# $\|I+W\|_2 = 1+\|W\|_2$. We normalize $W$ to $\|W\|_2=1$, so spectral normalization
# alone would suggest a constant of 1; the block's true constant is up to 2.

# %%
def residual_block(w, b):
    inp = keras.Input((w.shape[0],))
    dense = keras.layers.Dense(w.shape[1], activation="relu")
    out = keras.layers.Add()([inp, dense(inp)])
    dense.set_weights([w.astype(np.float32), b.astype(np.float32)])
    return keras.Model(inp, out)

dim = 32
g = rng.standard_normal((dim, dim))
w_cases = {"Gaussian W": g, "symmetric PSD W": g @ g.T}
residual = {}
for label, w in w_cases.items():
    w = w / lipnb.spectral_norm(w)
    block = residual_block(w, np.full(dim, 0.5))
    points = rng.standard_normal((256, dim)).astype(np.float32)
    found = max(float(lipnb.jacobian_spectral_norms(block, points).max()),
                lipnb.lipschitz_lower_bound(block, points[:64], steps=run.size.ascent_steps))
    residual[label] = dict(spectral_norm_w=lipnb.spectral_norm(w), largest_slope=found,
                           bound=1 + lipnb.spectral_norm(w))
lipnb.show_table([{"W": label, **r} for label, r in residual.items()], digits=4,
                 title="Residual block x + relu(Wx + b) with |W|_2 = 1")

# %%
run.claim(
    "residual-block-bound",
    "A residual block x + relu(Wx+b) has Lipschitz constant at most 1 + |W|_2, and above 1 "
    "even when |W|_2 = 1.",
    "section 'Spectral normalization' (caveat on residual blocks)",
    kind="article",
    measured=residual,
    holds=all(1.0 < r["largest_slope"] <= r["bound"] * (1 + 1e-4) for r in residual.values()),
)

# %% [markdown]
# ## Input perturbations against the bound
# The constraint bounds the damage any perturbation $\delta$ can do:
# $\|f(x+\delta)-f(x)\| \le C\|\delta\|$. Random directions do far less than the worst
# case; a gradient-sign step (FGSM, rescaled to the same $\ell_2$ size) aims at the
# loss's steepest direction and does more. Neither can cross the line $C\|\delta\|$.

# %%
eps_grid = np.geomspace(0.01, 3.0, 9)
xs, ys = x_test[: run.size.perturb_points], y_test[: run.size.perturb_points]
f0 = lipnb.predict(model, xs)
change = {"random": [], "FGSM": []}
for eps in eps_grid:
    for kind, xp in (("random", lipnb.random_perturbation(xs, eps, rng)),
                     ("FGSM", lipnb.fgsm(model, xs, ys, eps, norm="l2"))):
        change[kind].append(np.linalg.norm(lipnb.predict(model, xp) - f0, axis=1))
change = {k: np.array(v) for k, v in change.items()}  # (eps, points)

fig, ax = plt.subplots()
for kind, c in change.items():
    ax.plot(eps_grid, np.median(c, axis=1), marker="o", label=f"{kind}: median")
    ax.fill_between(eps_grid, c.min(axis=1), c.max(axis=1), alpha=0.2, label=f"{kind}: min to max over points")
ax.plot(eps_grid, upper * eps_grid, "C3", label=r"bound $C\,\|\delta\|$")
ax.set(xscale="log", yscale="log", xlabel=r"perturbation size $\|\delta\|_2$",
       ylabel=r"logit change $\|f(x+\delta)-f(x)\|_2$", title="Perturbations against the bound")
ax.legend();

# %%
worst_fraction = max(float((c / (upper * eps_grid[:, None])).max()) for c in change.values())
run.claim(
    "perturbation-within-bound",
    "No random or gradient-sign perturbation changes the logits by more than C times its size.",
    "eq. (3)",
    kind="article",
    measured=dict(largest_change_over_bound=worst_fraction, points=len(xs),
                  eps=eps_grid),
    holds=worst_fraction <= 1.0,
)

# %% [markdown]
# ## Gradient-sign steps against noise, point by point
# Both perturbations hit the same test point with the same $\|\delta\|_2$, so we compare
# them pairwise: for each point the effect is $\ln\big(\|\Delta f_\text{FGSM}\| /
# \|\Delta f_\text{random}\|\big)$, zero if the gradient-sign direction is no better than a
# random one. The table gives its mean over the test points with a 95% confidence
# interval at every size. The claim is decided at three sizes fixed in advance: the
# smallest, the middle and the largest of the grid. The logit change has no ceiling, so
# large sizes cannot saturate the comparison the way an accuracy would; whether the
# effect itself shrinks with size is for the table to show.

# %%
log_gain = np.log(change["FGSM"]) - np.log(change["random"])  # (eps, points), paired by point
gain_evidence = [lipnb.stats.paired_comparison(np.log(change["FGSM"][i]), np.log(change["random"][i]),
                                               direction="greater") for i in range(len(eps_grid))]
lipnb.show_table(
    [{"|δ|₂": eps, "median change ratio FGSM / random": float(np.median(np.exp(g))),
      "mean log ratio": ev.estimate, "95% CI": list(ev.ci), "points": ev.n}
     for eps, g, ev in zip(eps_grid, log_gain, gain_evidence)],
    title="FGSM over random noise, paired over test points")

# %%
decided = [0, len(eps_grid) // 2, len(eps_grid) - 1]  # smallest, middle, largest size
run.claim(
    "gradient-sign-beats-noise",
    "A gradient-sign step (FGSM, rescaled to the same l2 size) changes the logits more than random "
    "noise of that size, at the smallest, middle and largest sizes of the grid (unit: test point; "
    "effect: mean log of the FGSM/noise logit-change ratio, paired by point).",
    "eqs. (1)-(2) (adversarial examples; the comparison is ours)",
    kind="beyond",
    measured=dict(points=len(xs), eps=eps_grid,
                  median_fgsm_over_random=np.median(np.exp(log_gain), axis=1),
                  mean_log_ratio=[ev.estimate for ev in gain_evidence]),
    evidence=(sign_evidence := {f"|delta| = {eps_grid[i]:.3g}": gain_evidence[i] for i in decided}),
    note=lipnb.stats.note_if_inconclusive(sign_evidence, "more test points would decide it"),
)

# %% [markdown]
# Each claim above, with its verdict and the evidence it was decided on:

# %%
run.finish();
