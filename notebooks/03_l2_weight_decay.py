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
# # 03 · l2 regularization is the Frobenius penalty
#
# *Article section "Matrix norms", eqs. (11)–(12).*
#
# **Claim.** Adding the squared Frobenius norm to the loss (article eq. (11)),
# $\mathcal L(w) + \lambda\sum_l\|W_l\|_F^2$, is exactly l2 regularization, i.e. weight
# decay (eq. (12)). Since $\|W\|_F$ bounds $\|W\|_2$ (notebook 02), it pushes the
# network's Lipschitz bound down, which the article links to lower input sensitivity and
# better generalization.
#
# **Derivation.** $\|W\|_F^2=\sum_{ij}w_{ij}^2$, so $\partial(\lambda\|W\|_F^2)/\partial w_{ij}=2\lambda w_{ij}$:
# the gradient is $2\lambda W$. One SGD step with rate $\eta$ on the penalized loss is
#
# $$W \leftarrow W - \eta\big(\nabla\mathcal L + 2\lambda W\big) = (1-2\eta\lambda)\,W - \eta\nabla\mathcal L ,$$
#
# a multiplicative shrink of the weights followed by the plain gradient step: *decoupled
# weight decay* with coefficient $2\lambda$. Keras's `SGD(weight_decay=d)` performs
# $W\leftarrow W-\eta d W$ and then the gradient step with the gradient taken before the
# shrink, the same update when $d=2\lambda$.
#
# The equivalence needs the update to be linear in the gradient. Adam divides each
# coordinate of the gradient by a running root-mean-square, so the penalty's gradient
# $2\lambda W$ is rescaled per coordinate and weights with large gradients are decayed
# less. Decoupled decay (AdamW, Loshchilov & Hutter 2019) shrinks all weights at the same
# rate. With Adam the two are different algorithms.

# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from keras import ops

import lipnb

run = lipnb.start_notebook("03_l2_weight_decay", globals(), profiles={
    "smoke": dict(steps=20, sweep_l2=[0.0, 1e-3], sweep_seeds=2, epochs=2),
    "quick": dict(steps=300, sweep_l2=[0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2], sweep_seeds=10, epochs=60),
    "full": dict(steps=3000, sweep_l2=[0.0, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
                 sweep_seeds=20, epochs=200),
})
x_train, y_train, x_test, y_test = lipnb.load_digits_split(seed=run.seed)

# %% [markdown]
# ## The penalty's gradient is $2\lambda W$

# %%
lam = 1e-3
w = keras.Variable(np.random.default_rng(run.seed).standard_normal((64, 32)), dtype=lipnb.backend.float64())
_, (grad,) = lipnb.backend.value_and_grad(lambda: (lam * ops.sum(ops.square(w)), None), [w])
grad_error = float(ops.max(ops.abs(grad - 2 * lam * w.value)))
print(f"max |autodiff gradient - 2 lambda W| = {grad_error:.2e}")

# %% [markdown]
# ## SGD: penalized loss versus decoupled decay, step by step
# Two copies of the same MLP see the same minibatches. One minimizes the penalized loss
# with plain SGD; the other uses `SGD(weight_decay=2λ)` on the plain loss (biases are
# excluded from both). We record every parameter after every step, in float64 and in
# float32, and plot the gap between the two copies relative to the distance training
# has moved.
#
# One detail matters at float64 precision: Keras converts `weight_decay` to a tensor
# through float32 before casting it to the variable's dtype, so a coefficient such as
# $2\lambda = 0.002$ becomes $0.00200000009$. We take $\lambda = 2^{-10}$, whose double
# is exact in float32, and also show $\lambda = 10^{-3}$ to expose the rounding.

# %%
def decay_gap(dtype, lam, make_optimizers):
    """Relative parameter gap, per step, between penalized-loss and decoupled-decay training."""
    penalized, decayed = (lipnb.digits_mlp(seed=run.seed, dtype=dtype) for _ in range(2))
    opt_penalized, opt_decayed = make_optimizers(lam)
    opt_decayed.exclude_from_weight_decay(var_names=["bias"])
    kwargs = dict(x=x_train, y=y_train, steps=run.size.steps, seed=run.seed)
    a = lipnb.parameter_trajectory(penalized, opt_penalized, l2=lam, **kwargs)
    b = lipnb.parameter_trajectory(decayed, opt_decayed, **kwargs)
    moved = np.linalg.norm(a - a[0], axis=1)
    return np.linalg.norm(a - b, axis=1)[1:] / moved[1:]

sgd = lambda lam: (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1, weight_decay=2 * lam))
adam = lambda lam: (keras.optimizers.Adam(1e-3), keras.optimizers.AdamW(1e-3, weight_decay=2 * lam))
exact_lam = 2.0**-10
gaps = {f"SGD, {dt}, λ = 2⁻¹⁰": decay_gap(dt, exact_lam, sgd) for dt in ("float64", "float32")}
gaps["SGD, float64, λ = 1e-3"] = decay_gap("float64", 1e-3, sgd)
gaps.update({f"Adam vs AdamW, {dt}, λ = 2⁻¹⁰": decay_gap(dt, exact_lam, adam) for dt in ("float64", "float32")})

fig, ax = plt.subplots(figsize=(8.4, 3.8))
for label, gap in gaps.items():
    # float32 dashed and drawn thicker underneath, so that a float64 line on top of it stays visible
    float32 = "float32" in label
    ax.plot(np.arange(1, len(gap) + 1), gap, label=label, ls="--" if float32 else "-", lw=2.4 if float32 else 1.2,
            zorder=1 if float32 else 2)
ax.set(yscale="log", xlabel="training step",
       ylabel=r"$\|\theta_{\mathrm{penalty}}-\theta_{\mathrm{decay}}\| / \|\theta_t-\theta_0\|$",
       title="Penalized loss vs decoupled decay: relative parameter gap")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1));

# %% [markdown]
# With SGD and an exactly representable coefficient the gap stays at the round-off level
# of each precision. With $\lambda=10^{-3}$ the float32 rounding of the coefficient lifts
# the float64 gap well above round-off. With Adam the two updates differ from the first
# step, and the gap is of the order of the distance moved. The largest gaps are in the
# table below.

# %%
lipnb.show_table([{"training": label, "largest relative gap over the steps": f"{gap.max():.1e}"}
                  for label, gap in gaps.items()], title="Penalized loss vs decoupled decay")
sgd64, sgd32 = gaps["SGD, float64, λ = 2⁻¹⁰"], gaps["SGD, float32, λ = 2⁻¹⁰"]
adam64 = gaps["Adam vs AdamW, float64, λ = 2⁻¹⁰"]
display(run.claim(
    "l2-gradient-is-2-lambda-w",
    "The gradient of lambda |W|_F^2 is 2 lambda W.",
    "eqs. (11)-(12)", "article",
    measured=dict(max_abs_error=grad_error),
    holds=grad_error < 1e-12,
))
display(run.claim(
    "sgd-l2-equals-weight-decay",
    "SGD on the l2-penalized loss and SGD with decoupled weight decay 2 lambda follow the same "
    "trajectory to float tolerance (relative gap below 1e-10 in float64 and 1e-4 in float32).",
    "eqs. (11)-(12)", "article",
    measured=dict(steps=run.size.steps, max_relative_gap_float64=sgd64.max(),
                  max_relative_gap_float32=sgd32.max(),
                  max_relative_gap_float64_lambda_1e_3=gaps["SGD, float64, λ = 1e-3"].max()),
    holds=bool(sgd64.max() < 1e-10 and sgd32.max() < 1e-4),
    note="Keras rounds weight_decay through float32; lambda = 2^-10 avoids that rounding",
))
run.claim(
    "adam-l2-differs-from-adamw",
    "With Adam the l2 penalty and decoupled weight decay (AdamW) give different trajectories "
    "(relative gap above 1%).",
    "eqs. (11)-(12) (gap: the equivalence needs plain SGD)", "gap",
    measured=dict(relative_gap_final_float64=adam64[-1]),
    holds=bool(adam64[-1] > 1e-2),
)

# %% [markdown]
# ## Sweeping λ: the Lipschitz bound, input sensitivity and generalization
# We train the MLP with Adam on the loss of eq. (11) for several $\lambda$, over the same
# paired units. A unit's seed fixes its own split of the digits into training,
# validation (a fifth of the training images) and test sets, the initialization and the
# minibatch order, so within a unit $\lambda = 0$ and $\lambda > 0$ see the same data and
# start from the same weights. For each model we measure the upper bound
# $\prod_l\|W_l\|_2$, the input sensitivity (the mean spectral norm of the input–logit
# Jacobian over test points), validation and test accuracy, and the generalization gap
# (training minus test accuracy).
#
# The generalization claim is decided the way a referee would ask: $\lambda^*$ is the
# $\lambda>0$ with the best mean **validation** accuracy, and the effect is the mean paired
# difference in **test** accuracy between $\lambda^*$ and $\lambda=0$ over the paired units,
# with its 95% confidence interval (`lipnb.stats`). Half a percentage point (about two of
# the 450 test images) is fixed in advance as too small to matter, so the claim is an
# improvement of at least that much: it holds if the whole interval lies above +0.5
# points, does not hold if the whole interval lies below it (too small to matter, even
# when the interval excludes zero, or a loss), and is inconclusive if it straddles it.

# %%
def unit_data(unit_seed):
    """One paired unit's training, validation and test sets (lambda is never chosen on test)."""
    x_tr, y_tr, x_te, y_te = lipnb.load_digits_split(seed=unit_seed)
    return (*lipnb.validation_split(x_tr, y_tr, fraction=0.2, seed=unit_seed), x_te, y_te)

def train_with_l2(l2, unit_seed):
    x_fit, y_fit, x_val, y_val, x_te, y_te = units[unit_seed]
    reg = keras.regularizers.L2(l2) if l2 > 0 else None
    model = lipnb.digits_mlp(hidden=(64, 64), kernel_regularizer=reg, seed=unit_seed)
    lipnb.fit_classifier(model, x_fit, y_fit, epochs=run.size.epochs, seed=unit_seed)
    fit_acc, test_acc = lipnb.accuracy(model, x_fit, y_fit), lipnb.accuracy(model, x_te, y_te)
    return dict(upper_bound=lipnb.lipschitz_upper_bound(model),
                sensitivity=float(lipnb.jacobian_spectral_norms(model, x_te).mean()),
                validation_accuracy=lipnb.accuracy(model, x_val, y_val),
                test_accuracy=test_acc, gap=fit_acc - test_acc)

l2_grid = np.array(run.size.sweep_l2)
seeds = [run.seed + s for s in range(run.size.sweep_seeds)]
units = {s: unit_data(s) for s in seeds}
sweep = [[train_with_l2(l2, s) for s in seeds] for l2 in l2_grid]
metrics = {k: np.array([[r[k] for r in row] for row in sweep]) for k in sweep[0][0]}  # (l2, seeds)
mean = {k: v.mean(1) for k, v in metrics.items()}
best = int(np.argmax(mean["validation_accuracy"][1:])) + 1  # the best lambda > 0, on validation
lipnb.show_table([{"λ": f"{l2:g}", "upper bound": mean["upper_bound"][i], "sensitivity": mean["sensitivity"][i],
                   "validation acc.": mean["validation_accuracy"][i], "test acc.": mean["test_accuracy"][i],
                   "gap": mean["gap"][i], "chosen": "λ*" if i == best else ""}
                  for i, l2 in enumerate(l2_grid)],
                 title=f"Means over {len(seeds)} paired units; λ* has the best validation accuracy among λ > 0")

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
xpos = np.arange(len(l2_grid))
panels = [("upper_bound", r"$\prod_l\|W_l\|_2$", True), ("sensitivity", r"mean $\|J_f\|_2$ on test", True),
          ("test_accuracy", "accuracy", False)]
for ax, (key, label, log) in zip(axes, panels):
    m = metrics[key]
    ax.errorbar(xpos, m.mean(1), yerr=m.std(1), marker="o", capsize=3,
                label="test accuracy" if key == "test_accuracy" else None)
    if key == "test_accuracy":
        v = metrics["validation_accuracy"]
        ax.errorbar(xpos + 0.1, v.mean(1), yerr=v.std(1), marker="s", capsize=3, label="validation accuracy")
        ax.axvline(best, color="0.6", ls=":", label=r"$\lambda^*$ (validation)")
        ax.legend(fontsize=8)
    ax.set(xticks=xpos, xticklabels=[f"{v:g}" for v in l2_grid], xlabel=r"$\lambda$", ylabel=label,
           yscale="log" if log else "linear")
    ax.tick_params(axis="x", labelrotation=45)
fig.suptitle(f"l2 sweep on digits (mean ± std over {len(seeds)} paired units)");

# %%
def per_seed_spearman(values):
    """Rank correlation between lambda and a metric, one per seed (tied values share their
    average rank, as Spearman's coefficient defines it)."""
    from scipy.stats import rankdata

    return np.array([np.corrcoef(rankdata(l2_grid), rankdata(values[:, j]))[0, 1] for j in range(values.shape[1])])

rho = {k: per_seed_spearman(metrics[k]) for k in ("upper_bound", "sensitivity")}
display(run.claim(
    "l2-lowers-lipschitz-bound",
    "Larger lambda gives a smaller Lipschitz upper bound and lower input sensitivity: per seed, the "
    "rank correlation between lambda and each is negative (CI over paired units below 0).",
    "eqs. (10)-(12)", "article",
    measured=dict(l2=l2_grid, upper_bound_mean=mean["upper_bound"], sensitivity_mean=mean["sensitivity"],
                  spearman_bound_by_seed=rho["upper_bound"], spearman_sensitivity_by_seed=rho["sensitivity"]),
    evidence=(rank_evidence := {
        "upper bound": lipnb.stats.one_sample(rho["upper_bound"], direction="less", what="the rank correlation"),
        "sensitivity": lipnb.stats.one_sample(rho["sensitivity"], direction="less", what="the rank correlation")}),
    note=lipnb.stats.note_if_inconclusive(rank_evidence, "more paired units (the full profile) would decide it"),
))
accuracy_gain = lipnb.stats.paired_comparison(
    metrics["test_accuracy"][best], metrics["test_accuracy"][0], direction="greater",
    margin=0.005)  # half a percentage point: about two test images, too small to matter
run.claim(
    "l2-improves-generalization",
    "The l2 penalty at the lambda chosen on validation raises test accuracy over lambda = 0 by more than half a "
    "percentage point, the smallest effect that matters here (mean paired difference over units, each with its own "
    "data split).",
    "eq. (11) and section 'L-constraint and generalization'", "article",
    measured=dict(l2=l2_grid, validation_accuracy_mean=mean["validation_accuracy"],
                  test_accuracy_mean=mean["test_accuracy"], gap_mean=mean["gap"], chosen_l2=l2_grid[best],
                  test_accuracy_chosen=metrics["test_accuracy"][best], test_accuracy_none=metrics["test_accuracy"][0]),
    evidence=accuracy_gain,
    note=lipnb.stats.note_if_inconclusive(
        accuracy_gain, "more paired units (the full profile) or a data set where l2 has more to regularize would "
        "decide it") or f"Adam with minibatches of 64; test-accuracy gain {accuracy_gain}, against a margin of half a "
    "point (about two test images), the smallest gain that counts",
)

# %%
run.finish();
