import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lipnb

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
matrices = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda s: arrays(np.float64, s, elements=finite))


def svd_norm(w):
    return float(np.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False)[0])


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_spectral_norm_matches_numpy_svd(w):
    assert lipnb.spectral_norm(w) == pytest.approx(svd_norm(w), rel=1e-10, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_frobenius_bounds_spectral(w):
    s, f = lipnb.spectral_norm(w), lipnb.frobenius_norm(w)
    rank = np.linalg.matrix_rank(w) if np.any(w) else 0
    assert s <= f * (1 + 1e-12)
    assert f <= np.sqrt(max(rank, 1)) * s * (1 + 1e-9) + 1e-300


@settings(max_examples=40, deadline=None)
@given(matrices, st.floats(1e-6, 1e6))
def test_power_method_is_scale_invariant_and_accurate(w, scale):
    exact = svd_norm(w)
    est = lipnb.spectral_norm(w * scale, method="power", tol=1e-12, max_iterations=20000)
    # Power iteration converges slowly for close singular values; the estimate is a lower bound.
    assert est <= exact * scale * (1 + 1e-9) + 1e-300
    assert est == pytest.approx(exact * scale, rel=1e-3, abs=1e-300)


def test_power_method_tight_on_well_separated_spectrum():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    v, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    w = u[:, :30] @ np.diag(np.linspace(3.0, 0.1, 30)) @ v.T
    assert lipnb.spectral_norm(w, method="power") == pytest.approx(3.0, rel=1e-7)


def test_zero_matrix_gives_zero():
    for method in ("svd", "power"):
        assert lipnb.spectral_norm(np.zeros((3, 4)), method=method) == 0.0
    assert lipnb.frobenius_norm(np.zeros((3, 4))) == 0.0
    res = lipnb.power_iteration(np.zeros((3, 4)), iterations=3)
    assert res.sigma == 0.0 and res.history.shape == (3,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accepts_numpy_and_backend_tensors_in_both_float_types(dtype):
    w = np.random.default_rng(1).standard_normal((20, 7)).astype(dtype)
    exact = svd_norm(w)
    # (JAX without x64 holds float64 values as float32: the tolerances allow for it.)
    for value in (w, keras.ops.convert_to_tensor(w), keras.Variable(w)):
        assert lipnb.spectral_norm(value) == pytest.approx(exact, rel=1e-5)
        assert lipnb.frobenius_norm(value) == pytest.approx(np.linalg.norm(w.astype(np.float64)), rel=1e-5)
        assert lipnb.power_iteration(value, iterations=200).sigma == pytest.approx(exact, rel=1e-4)
    assert lipnb.power_iteration(w, iterations=2).u.dtype == dtype


def test_conv_kernel_is_read_as_in_by_out_matrix():
    k = np.random.default_rng(2).standard_normal((3, 3, 4, 5))
    assert lipnb.spectral_norm(k) == pytest.approx(svd_norm(k.reshape(36, 5)), rel=1e-12)
    assert lipnb.as_matrix(k).shape == (36, 5)


def test_float32_extremes_do_not_overflow():
    w = np.full((4, 4), 1e30, dtype=np.float32)
    assert lipnb.frobenius_norm(w) == pytest.approx(4e30, rel=1e-6)
    assert lipnb.spectral_norm(w, method="power") == pytest.approx(4e30, rel=1e-5)


def test_power_iteration_history_and_vectors():
    w = np.diag([5.0, 2.0, 1.0])
    res = lipnb.power_iteration(w, iterations=30)
    assert res.history.shape == (30,) and res.iterations == 30
    assert res.sigma == pytest.approx(5.0, rel=1e-12)
    assert res.sigma == res.history[-1]
    assert np.all(np.diff(res.history) >= -1e-12)  # the estimate rises monotonically
    assert abs(res.u[0]) == pytest.approx(1.0) and abs(res.v[0]) == pytest.approx(1.0)
    assert float(res.u @ w @ res.v) == pytest.approx(res.sigma)


def test_ones_start_fails_when_orthogonal_to_top_vector():
    # Top left singular vector (1, -1)/sqrt 2 is orthogonal to ones.
    w = np.array([[2.0, 0.0], [0.0, 1.0]])
    rot = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2)
    res = lipnb.power_iteration(rot @ w, iterations=5, u0="ones")
    assert res.sigma == pytest.approx(1.0)
    assert lipnb.power_iteration(rot @ w, iterations=60).sigma == pytest.approx(2.0)


def test_default_start_is_deterministic():
    w = np.random.default_rng(3).standard_normal((6, 6))
    a, b = lipnb.power_iteration(w, 3), lipnb.power_iteration(w, 3)
    np.testing.assert_array_equal(a.history, b.history)


@pytest.mark.parametrize("bad, match", [
    (np.ones(3), "rank >= 2"),
    (5.0, "rank >= 2"),
    (np.array([[1.0, np.nan]]), "non-finite"),
    (np.array([[1.0, np.inf]]), "non-finite"),
    (np.zeros((0, 3)), "empty"),
    (np.array([["a", "b"]]), "numeric"),
])
def test_bad_matrices_raise(bad, match):
    for fn in (lipnb.frobenius_norm, lipnb.spectral_norm, lambda w: lipnb.power_iteration(w, 2)):
        with pytest.raises(ValueError, match=match):
            fn(bad)


@pytest.mark.parametrize("iterations", [0, -1, 1.5, True, "3"])
def test_bad_iteration_counts_raise(iterations):
    with pytest.raises(ValueError, match="iterations"):
        lipnb.power_iteration(np.eye(2), iterations=iterations)
    with pytest.raises(ValueError, match="max_iterations"):
        lipnb.spectral_norm(np.eye(2), method="power", max_iterations=iterations)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="method"):
        lipnb.spectral_norm(np.eye(2), method="eig")
    with pytest.raises(ValueError, match="u0"):
        lipnb.power_iteration(np.eye(2), 3, u0="zeros")
    with pytest.raises(ValueError, match="length 2"):
        lipnb.power_iteration(np.eye(2), 3, u0=np.ones(3))
    with pytest.raises(ValueError, match="zero vector"):
        lipnb.power_iteration(np.eye(2), 3, u0=np.zeros(2))
    with pytest.raises(ValueError, match="tol"):
        lipnb.spectral_norm(np.eye(2), method="power", tol=0)


def test_stable_rank():
    assert lipnb.stable_rank(np.eye(5)) == pytest.approx(5.0)
    assert lipnb.stable_rank(np.outer([1.0, 2.0, 3.0], [1.0, -1.0])) == pytest.approx(1.0)
    assert lipnb.stable_rank(np.diag([2.0, 1.0])) == pytest.approx(1.25)
    assert lipnb.stable_rank(np.ones((3, 3, 2, 4))) == pytest.approx(1.0)  # a conv kernel, reshaped
    with pytest.raises(ValueError, match="zero matrix"):
        lipnb.stable_rank(np.zeros((3, 3)))


def test_power_method_meets_a_tight_tol_on_float32_or_warns():
    # A Gaussian's top singular values are close, so power iteration converges slowly; in
    # float32 arithmetic its round-off used to pass for convergence well short of tol.
    w = np.random.default_rng(3).standard_normal((400, 400)).astype(np.float32)
    exact = np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]
    estimate = lipnb.spectral_norm(w, method="power", tol=1e-7, max_iterations=20000)
    assert abs(estimate - exact) / exact < 1e-6
    with pytest.warns(RuntimeWarning, match="before reaching tol"):
        lipnb.spectral_norm(w, method="power", tol=1e-7, max_iterations=3)


def test_bfloat16_tensors_are_accepted():
    w = np.random.default_rng(4).standard_normal((8, 5)).astype(np.float32)
    low = keras.ops.convert_to_tensor(w, "bfloat16")
    rounded = keras.ops.convert_to_numpy(keras.ops.cast(low, "float32"))
    assert lipnb.spectral_norm(low) == pytest.approx(np.linalg.svd(rounded, compute_uv=False)[0], rel=1e-6)


def test_a_start_in_the_null_space_is_named_not_answered_with_zero():
    # ones is orthogonal to the only column of w, so W^T ones = 0 although |w|_2 = sqrt 2.
    w = np.array([[1.0], [-1.0]])
    with pytest.warns(RuntimeWarning, match="orthogonal to the range"):
        stuck = lipnb.power_iteration(w, iterations=5, u0="ones")
    assert stuck.sigma == 0.0  # the literal outcome of eq. (15), now with a warning
    with pytest.raises(ValueError, match="null space"):
        lipnb.spectral_norm(w, method="power", u0="ones")
    assert lipnb.spectral_norm(w, method="power") == pytest.approx(np.sqrt(2.0))
    assert lipnb.spectral_norm(np.zeros((2, 1)), method="power", u0="ones") == 0.0  # a zero matrix is no error
