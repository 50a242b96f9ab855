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
# # 04 · The spectral norm and power iteration
#
# *Article section "Spectral norm", eqs. (13)–(20).*
#
# **Claims.**
# 1. $\|W\|_2^2=\max_{x\ne0}\frac{x^\top W^\top Wx}{x^\top x}=\lambda_{\max}(W^\top W)$
#    (eqs. (13)–(14)).
# 2. Power iteration (eq. (15)) finds it:
#    $v\leftarrow W^\top u/\|W^\top u\|$, $u\leftarrow Wv/\|Wv\|$, $\|W\|_2\approx u^\top Wv$.
# 3. It converges because the top eigenvalue of $W^\top W$ dominates (eqs. (16)–(20)).
#
# **Derivation of the rates.** One iteration of (15) maps $u$ to $WW^\top u$ up to scale.
# Expand the start in the left singular vectors, $u^{(0)}=\sum_i c_i u_i$. After $r$
# iterations the coefficients are $c_i\sigma_i^{2r}$, so the angle $\theta_r$ between
# $u^{(r)}$ and $u_1$ obeys
#
# $$\tan\theta_r=\frac{\sqrt{\sum_{i\ge2}c_i^2\sigma_i^{4r}}}{|c_1|\,\sigma_1^{2r}}
# \;\approx\;\tan\theta_0\Big(\frac{\sigma_2}{\sigma_1}\Big)^{2r}.$$
#
# The estimate is $u^\top Wv=\|W^\top u\|$ (up to which vector is read), and
# $\|W^\top u\|^2=\sigma_1^2\cos^2\theta+\sum_{i\ge2}(\ldots)\sin^2\theta$. The error is
# therefore quadratic in $\sin\theta$: $(\sigma_1-\hat\sigma)/\sigma_1\propto(\sigma_2/\sigma_1)^{4r}$.
# The estimate converges twice as fast, in log scale, as the vector.
#
# Two assumptions are implicit in the article's proof: $c_1\neq0$ (the start is not
# orthogonal to $u_1$) and $\sigma_1>\sigma_2$. We break each one below.

# %% tags=["parameters"]
profile = "quick"
seed = 0

# %%
import keras
import lipnb
import matplotlib.pyplot as plt
import numpy as np

run = lipnb.start_notebook("04_power_iteration", globals(), profiles={
    "smoke": dict(matrices=10, dim=16, iterations=60, starts=3, train_steps=30),
    "quick": dict(matrices=200, dim=64, iterations=200, starts=8, train_steps=600),
    "full": dict(matrices=2000, dim=256, iterations=600, starts=32, train_steps=5000),
})
rng = np.random.default_rng(run.seed)

def with_singular_values(sigmas, rng, u=None):
    """A square matrix with prescribed singular values (and optionally left vectors u)."""
    n = len(sigmas)
    if u is None:
        u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return u @ np.diag(sigmas) @ v.T, u, v

# %% [markdown]
# ## The spectral norm is the root of $W^\top W$'s largest eigenvalue

# %%
errors = []
for _ in range(run.size.matrices):
    m, n = rng.integers(2, 80, size=2)
    w = rng.standard_normal((m, n))
    lam_max = np.linalg.eigvalsh(w.T @ w).max()
    errors.append(abs(np.sqrt(lam_max) - lipnb.spectral_norm(w)) / lipnb.spectral_norm(w))
run.claim(
    "spectral-norm-is-sqrt-lambda-max",
    "The spectral norm equals the square root of the largest eigenvalue of W^T W (relative "
    "error below 1e-10 against the SVD).",
    "eqs. (13)-(14)",
    measured=dict(matrices=len(errors), max_relative_error=max(errors)),
    holds=max(errors) < 1e-10,
)

# %% [markdown]
# ## Erratum: for a square matrix the spectral norm is not the spectral radius
# The article calls the spectral norm of a square matrix its largest absolute eigenvalue.
# That holds for normal matrices ($W^\top W=WW^\top$, e.g. symmetric), not in general.
# The nilpotent $N=\begin{pmatrix}0&1\\0&0\end{pmatrix}$ has both eigenvalues 0 but maps
# $e_2$ to $e_1$, so $\|N\|_2=1$. In general $|\lambda|\,\|x\|=\|Wx\|\le\|W\|_2\|x\|$ for an
# eigenpair, so the spectral radius never exceeds the spectral norm.

# %%
nilpotent = np.array([[0.0, 1.0], [0.0, 0.0]])
radius = lambda a: float(np.abs(np.linalg.eigvals(a)).max())
gap_general, gap_symmetric = [], []
for _ in range(run.size.matrices):
    a = rng.standard_normal((8, 8))
    gap_general.append(radius(a) / lipnb.spectral_norm(a))
    s = a + a.T
    gap_symmetric.append(radius(s) / lipnb.spectral_norm(s))
fig, ax = plt.subplots(figsize=(6.4, 3))
ax.hist(gap_general, bins=30, label="Gaussian 8x8 (non-normal)")
ax.axvline(np.mean(gap_symmetric), color="C1", lw=3, label="symmetric 8x8 (all at 1)")
ax.set(xlabel=r"spectral radius / $\|W\|_2$", ylabel="count", title="Spectral radius ≤ spectral norm")
ax.legend();

# %%
run.claim(
    "erratum-spectral-radius",
    "For a non-normal square matrix the spectral norm exceeds the largest absolute eigenvalue "
    "([[0,1],[0,0]]: radius 0, norm 1); radius <= norm always, with equality for symmetric matrices.",
    "eq. (7) (erratum)",
    measured=dict(nilpotent_radius=radius(nilpotent), nilpotent_norm=lipnb.spectral_norm(nilpotent),
                  max_radius_over_norm_general=max(gap_general),
                  mean_radius_over_norm_general=float(np.mean(gap_general)),
                  symmetric_max_deviation=float(np.max(np.abs(np.array(gap_symmetric) - 1)))),
    holds=(radius(nilpotent) == 0.0 and lipnb.spectral_norm(nilpotent) == 1.0
           and max(gap_general) <= 1 + 1e-12 and max(np.abs(np.array(gap_symmetric) - 1)) < 1e-10),
)

# %% [markdown]
# ## Convergence rates against the singular-value gap
# Matrices with $\sigma_1=1$, $\sigma_2=\rho$ and the rest spread below $\rho/2$, so that
# $\sigma_2$ alone sets the rate. We follow one random start through the iterations and
# fit the slope of $\log_{10}$ of the vector error ($\tan\theta$) and of the estimate's
# relative error, over the range where they are above round-off.

# %%
def follow(w, u0, iterations):
    """Angle-tangent of u against the top singular vector and estimate error per iteration."""
    u_true = np.linalg.svd(w)[0][:, 0]
    sigma1 = lipnb.spectral_norm(w)
    u, tan, err = u0, [], []
    for _ in range(iterations):
        step = lipnb.power_iteration(w, iterations=1, u0=u)
        u = step.u
        cos = float(u @ u_true)
        # sin from the orthogonal part: sqrt(1 - cos^2) would floor at 1e-8.
        tan.append(np.linalg.norm(u - cos * u_true) / abs(cos))
        err.append(abs(sigma1 - step.sigma) / sigma1)
    return np.array(tan), np.array(err)

def fitted_slope(values, lo=1e-12, hi=1e-2):
    r = np.arange(1, len(values) + 1)
    sel = (values > lo) & (values < hi)
    return float(np.polyfit(r[sel], np.log10(values[sel]), 1)[0]) if sel.sum() >= 3 else float("nan")

rhos = [0.5, 0.7, 0.9, 0.95]
dim = run.size.dim
rates = {}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for i, rho in enumerate(rhos):
    sig = np.concatenate([[1.0, rho], np.linspace(rho / 2, 0.01, dim - 2)])
    w, _, _ = with_singular_values(sig, rng)
    tan, err = follow(w, rng.standard_normal(dim), run.size.iterations)
    rates[rho] = dict(vector_slope=fitted_slope(tan), vector_theory=2 * np.log10(rho),
                      norm_slope=fitted_slope(err), norm_theory=4 * np.log10(rho))
    r = np.arange(1, len(tan) + 1)
    axes[0].plot(r, tan, color=f"C{i}", label=rf"$\rho$={rho}")
    axes[0].plot(r, tan[0] * rho ** (2 * (r - 1)), color=f"C{i}", ls=":", lw=1)
    axes[1].plot(r, err, color=f"C{i}", label=rf"$\rho$={rho}")
    axes[1].plot(r, err[0] * rho ** (4 * (r - 1)), color=f"C{i}", ls=":", lw=1)
axes[0].set(yscale="log", ylim=(1e-17, 1e2), xlabel="iteration r", ylabel="error",
            title=r"vector: $\tan\theta_r$ (dotted: $\rho^{2r}$)")
axes[1].set(xlabel="iteration r", title=r"estimate: $(\sigma_1-\hat\sigma)/\sigma_1$ (dotted: $\rho^{4r}$)")
axes[0].legend();
rates

# %%
rel = {rho: max(abs(d["vector_slope"] / d["vector_theory"] - 1), abs(d["norm_slope"] / d["norm_theory"] - 1))
       for rho, d in rates.items()}
run.claim(
    "power-iteration-rates",
    "The vector error of eq. (15) decays as (s2/s1)^(2r) and the estimate's as (s2/s1)^(4r): "
    "fitted log-slopes within 10% of theory for every gap.",
    "eqs. (15)-(20)",
    measured=dict(rho=rhos, rates={str(k): v for k, v in rates.items()},
                  worst_relative_slope_error=max(rel.values())),
    holds=bool(max(rel.values()) < 0.10),
)

# %% [markdown]
# ## The all-ones start can fail
# The article starts from $u=\mathbf 1$. If $\mathbf 1\perp u_1$ then $c_1=0$ and, in exact
# arithmetic, the iteration converges to $\sigma_2$ instead. We build $W$ with
# $u_1=(e_1-e_2)/\sqrt2$, which is orthogonal to $\mathbf 1$. In floating point, round-off
# leaves a component of size $\varepsilon\approx10^{-16}$ along $u_1$, which grows by
# $(\sigma_1/\sigma_2)^2$ per iteration, so the iteration escapes after about
# $\log\varepsilon/(2\log\rho)$ iterations. The article's $r=5$ is far short of that.

# %%
rho = 0.8
u_left = np.eye(dim)
u_left[:2, :2] = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2)  # u1 = (e1 - e2)/sqrt 2
sig = np.concatenate([[1.0, rho], np.linspace(rho / 2, 0.01, dim - 2)])
w_bad, _, _ = with_singular_values(sig, rng, u=u_left)
iters = max(run.size.iterations, 150)
ones_run = lipnb.power_iteration(w_bad, iterations=iters, u0="ones")
random_run = lipnb.power_iteration(w_bad, iterations=iters, seed=run.seed)
sigma1 = lipnb.spectral_norm(w_bad)
escape = int(np.argmax(ones_run.history > (1 + rho) / 2 * sigma1)) + 1
predicted_escape = np.log(np.finfo(float).eps) / (2 * np.log(rho))

fig, ax = plt.subplots()
r = np.arange(1, iters + 1)
ax.plot(r, np.abs(sigma1 - ones_run.history) / sigma1, label="start = ones (article)")
ax.plot(r, np.abs(sigma1 - random_run.history) / sigma1, label="start = Gaussian (lipnb default)")
ax.axvline(5, color="k", ls=":", label="article's r = 5")
ax.axvline(predicted_escape, color="C3", ls="--", label="predicted escape by round-off")
ax.set(yscale="log", xlabel="iteration r", ylabel=r"$(\sigma_1-\hat\sigma)/\sigma_1$",
       title=r"$\mathbf{1}\perp u_1$: the ones start sticks at $\sigma_2$")
ax.legend();

# %%
err5_ones = abs(sigma1 - ones_run.history[4]) / sigma1
err5_random = abs(sigma1 - random_run.history[4]) / sigma1
run.claim(
    "ones-start-fails-when-orthogonal",
    "When ones is orthogonal to the top singular vector, the article's ones start with r = 5 "
    "returns sigma_2 (to 1e-4), not sigma_1, while a random start does not; round-off frees it only after "
    "about log(eps)/(2 log rho) iterations (within a factor 1.5).",
    "eqs. (15)-(20) (gap: c1 != 0)",
    measured=dict(rho=rho, error_after_5_ones=err5_ones, error_after_5_random=err5_random,
                  escape_iteration=escape, predicted_escape=predicted_escape),
    holds=bool(abs(err5_ones - (1 - rho)) < 1e-4 and err5_random < err5_ones / 10
               and predicted_escape / 1.5 < escape < predicted_escape * 1.5),
)

# %% [markdown]
# ## A tied top singular value: the norm converges, the vector does not
# With $\sigma_1=\sigma_2$ the proof of eqs. (16)–(20) breaks. The estimate still
# converges, now at rate $(\sigma_3/\sigma_1)^{4r}$. The vector converges to the
# normalized projection of the start onto the two-dimensional top subspace, so its limit
# depends on where it started and there is no single top singular vector to recover.

# %%
sig_tied = np.concatenate([[1.0, 1.0], np.linspace(0.5, 0.01, dim - 2)])
w_tied, u_tied, _ = with_singular_values(sig_tied, rng)
finals = [lipnb.power_iteration(w_tied, iterations=run.size.iterations, seed=s) for s in range(run.size.starts)]
norm_err = max(abs(f.sigma - 1.0) for f in finals)
top2 = u_tied[:, :2]
outside = max(float(np.linalg.norm(f.u - top2 @ (top2.T @ f.u))) for f in finals)
cos_pairs = [abs(float(a.u @ b.u)) for i, a in enumerate(finals) for b in finals[i + 1:]]
angle_in_plane = np.degrees([np.arctan2(f.u @ top2[:, 1], f.u @ top2[:, 0]) % 180 for f in finals])
print(f"norm error {norm_err:.1e}; distance from the top subspace {outside:.1e}; "
      f"limit directions in the top plane (degrees): {np.round(np.sort(angle_in_plane), 1)}")

# %%
run.claim(
    "tied-top-singular-value",
    "With sigma_1 = sigma_2 the estimate converges (error < 1e-12) but the vector's limit "
    "depends on the start (some pair of limits has |cos| < 0.9) while staying in the top subspace.",
    "eqs. (16)-(20) (gap: distinct top eigenvalue)",
    measured=dict(starts=len(finals), max_norm_error=norm_err, max_distance_from_top_subspace=outside,
                  min_pairwise_abs_cos=min(cos_pairs)),
    holds=bool(norm_err < 1e-12 and outside < 1e-8 and min(cos_pairs) < 0.9),
)

# %% [markdown]
# ## A persistent vector tracks σ during training
# SN-GAN (Miyato et al. 2018) keeps $u$ between training steps and does one iteration
# per step. The weights move little per step, so the previous $u$ is already close to
# the new top vector and one iteration keeps it there. We train the digits MLP and, after
# every step, update the first layer's estimate with one iteration from the stored $u$.
# For contrast, one iteration from a fresh ones vector each step (no memory).

# %%
x_train, y_train, _, _ = lipnb.load_digits_split(seed=run.seed)
model = lipnb.digits_mlp(seed=run.seed)
trajectory = lipnb.parameter_trajectory(model, keras.optimizers.Adam(1e-3), x_train, y_train,
                                        steps=run.size.train_steps, seed=run.seed)
kernel_shape = model.layers[0].kernel.shape
kernels = trajectory[:, : np.prod(kernel_shape)].reshape(-1, *kernel_shape)
exact = np.array([lipnb.spectral_norm(k) for k in kernels])
u = None
persistent, fresh = [], []
for k in kernels:
    step = lipnb.power_iteration(k, iterations=1, u0=u, seed=run.seed)
    u = step.u
    persistent.append(step.sigma)
    fresh.append(lipnb.power_iteration(k, iterations=1, u0="ones").sigma)
err_persistent = np.abs(np.array(persistent) - exact) / exact
err_fresh = np.abs(np.array(fresh) - exact) / exact

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(exact, "k", label="exact (SVD)")
axes[0].plot(persistent, "--", label="persistent u, 1 iteration/step")
axes[0].plot(fresh, ":", label="fresh ones, 1 iteration/step")
axes[0].set(xlabel="training step", ylabel=r"$\sigma_1$ of layer 1", title="Tracking during training")
axes[0].legend()
axes[1].plot(err_persistent, label="persistent u")
axes[1].plot(err_fresh, label="fresh ones")
axes[1].set(yscale="log", xlabel="training step", ylabel="relative error", title="Estimate error")
axes[1].legend();

# %%
warm = slice(min(50, len(err_persistent) // 2), None)
run.claim(
    "persistent-vector-tracks-sigma",
    "A persistent u with one iteration per training step tracks the layer's spectral norm "
    "(median relative error after warm-up below 1%) and beats a fresh start each step.",
    "eq. (15) as used by SN-GAN",
    measured=dict(steps=len(kernels) - 1, median_error_persistent=float(np.median(err_persistent[warm])),
                  median_error_fresh=float(np.median(err_fresh[warm]))),
    holds=bool(np.median(err_persistent[warm]) < 1e-2
               and np.median(err_persistent[warm]) < np.median(err_fresh[warm])),
)

# %% [markdown]
# ## Verdicts

# %%
run.finish();
