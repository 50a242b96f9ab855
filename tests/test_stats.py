"""lipnb.stats: the three verdicts on synthetic data, the intervals against scipy, bad input."""

import numpy as np
import pytest
from scipy import stats as sps

from lipnb import stats


def test_t_interval_matches_scipy():
    x = np.random.default_rng(3).normal(0.2, 1.0, size=12)
    lo, hi = stats.t_interval(x, 0.95)
    ref = sps.t.interval(0.95, df=x.size - 1, loc=x.mean(), scale=sps.sem(x))
    np.testing.assert_allclose([lo, hi], ref, rtol=1e-12)


def test_paired_t_matches_scipy_on_differences():
    rng = np.random.default_rng(4)
    base = rng.normal(size=10)
    treat = base + rng.normal(0.3, 0.5, size=10)
    ev = stats.paired_comparison(treat, base, direction="greater")
    ref = sps.t.interval(0.95, df=9, loc=(treat - base).mean(), scale=sps.sem(treat - base))
    np.testing.assert_allclose(ev.ci, ref, rtol=1e-12)
    assert ev.n == 10 and ev.null == 0.0 and "paired" in ev.method


@pytest.mark.parametrize("shift, margin, want", [
    (1.0, None, "holds"),            # clearly above the null
    (-1.0, None, "does not hold"),   # clearly on the other side
    (0.0, 1.0, "does not hold"),     # inside the margin: too small to matter
    (0.0, None, "inconclusive"),     # straddles the null, no margin
])
@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_three_verdicts_on_synthetic_data(shift, margin, want, method):
    rng = np.random.default_rng(0)
    base = rng.normal(size=40)
    noise = rng.normal(size=40)
    noise -= noise.mean()  # the effect is exactly `shift` on average
    ev = stats.paired_comparison(base + shift + 0.2 * noise, base, direction="greater", margin=margin,
                                 method=method)
    assert ev.verdict == want
    assert ev.estimate == pytest.approx(shift, abs=1e-12)


def test_direction_less_mirrors_greater():
    x = [-0.5, -0.4, -0.6, -0.45, -0.55]
    assert stats.one_sample(x, direction="less").verdict == "holds"
    assert stats.one_sample(x, direction="greater").verdict == "does not hold"


def test_bootstrap_is_seeded():
    x = np.random.default_rng(1).normal(size=15)
    a = stats.bootstrap_ci(x, seed=7)
    assert a == stats.bootstrap_ci(x, seed=7)
    assert a != stats.bootstrap_ci(x, seed=8)


def test_sign_test_known_values():
    assert stats.sign_test([1, 2, 3, 4, 5, 6]) == pytest.approx(2 * 0.5**6)
    assert stats.sign_test([1, -1, 2, -2]) == pytest.approx(1.0)
    assert stats.sign_test([0, 0, 0]) == 1.0  # ties only


def test_decide_edges():
    assert stats.decide([0.1, 0.2], 0.0, "greater") == "holds"
    assert stats.decide([0.0, 0.2], 0.0, "greater") == "inconclusive"  # touching the null is not enough
    assert stats.decide([-0.01, 0.01], 0.0, "greater", margin=0.02) == "does not hold"
    assert stats.decide([-0.01, 0.03], 0.0, "greater", margin=0.02) == "inconclusive"
    # excluding the null is not enough when the whole effect is too small to matter
    assert stats.decide([0.001, 0.004], 0.0, "greater", margin=0.005) == "does not hold"
    # a wider interval around it may hold an effect that matters, or one that does not
    assert stats.decide([0.001, 0.006], 0.0, "greater", margin=0.005) == "inconclusive"
    assert stats.decide([0.006, 0.009], 0.0, "greater", margin=0.005) == "holds"
    assert stats.decide([-0.03, 0.004], 0.0, "greater", margin=0.005) == "does not hold"  # no effect that matters
    # "less" mirrors "greater", margin included
    assert stats.decide([-0.009, -0.006], 0.0, "less", margin=0.005) == "holds"
    assert stats.decide([-0.006, -0.001], 0.0, "less", margin=0.005) == "inconclusive"
    assert stats.decide([-0.004, 0.03], 0.0, "less", margin=0.005) == "does not hold"


def test_a_wider_interval_never_strengthens_a_verdict():
    # The rule is monotone: widening an interval can only move a verdict to inconclusive.
    rng = np.random.default_rng(0)
    rank = {"inconclusive": 0, "holds": 1, "does not hold": 1}
    for _ in range(2000):
        lo, hi = np.sort(rng.normal(0, 0.01, 2))
        wider = (lo - abs(rng.normal(0, 0.005)), hi + abs(rng.normal(0, 0.005)))
        for direction in ("greater", "less"):
            for margin in (None, 0.0, 0.005):
                inner = stats.decide([lo, hi], 0.0, direction, margin)
                outer = stats.decide(wider, 0.0, direction, margin)
                assert outer == inner or rank[outer] < rank[inner], (lo, hi, wider, direction, margin)


def test_combine():
    assert stats.combine(["holds", "holds"]) == "holds"
    assert stats.combine(["holds", "inconclusive"]) == "inconclusive"
    assert stats.combine(["inconclusive", "does not hold"]) == "does not hold"


def test_zero_variance_decides_only_with_enough_units():
    # Equal differences give a t interval of zero width: too few units decide nothing
    # (the sign test of 3 equal signs has p = 0.25); six do (p = 0.031 < 0.05).
    ev = stats.paired_comparison([1.0, 1.0, 1.0], [0.5, 0.5, 0.5], direction="greater")
    assert ev.ci == (0.5, 0.5) and ev.verdict == "inconclusive"
    for n, want in ((5, "inconclusive"), (6, "holds")):
        assert stats.paired_comparison([1.0] * n, [0.5] * n, direction="greater").verdict == want
    assert stats.paired_comparison([0.5] * 6, [1.0] * 6, direction="greater").verdict == "does not hold"


def test_margin_zero_is_no_margin_and_the_rule_names_its_units():
    for ci in ([-1.0, 0.0], [0.0, 0.2], [0.1, 0.2], [-0.2, -0.1]):
        assert stats.decide(ci, 0.0, "greater", margin=0.0) == stats.decide(ci, 0.0, "greater")
    assert "n < 6" in stats.one_sample([1.0, 2.0, 3.0], direction="greater").rule
    assert "n < 8" in stats.one_sample([1.0, 2.0, 3.0], direction="greater", level=0.99).rule
    for n, level, want in ((7, 0.99, "inconclusive"), (8, 0.99, "holds"), (5, 0.9, "holds")):
        assert stats.paired_comparison([1.0] * n, [0.5] * n, direction="greater", level=level).verdict == want
    # the seed matters only to the bootstrap
    assert stats.one_sample([1.0, 1.1, 0.9, 1.05], direction="greater", seed=None).verdict == "holds"


def test_hand_built_evidence_is_checked():
    good = dict(estimate=0.15, ci=(0.1, 0.2), level=0.95, n=5, null=0.0, direction="greater", method="hand",
                rule="r")
    assert stats.Evidence(**good).verdict == "holds"
    numpy_n = stats.Evidence(**{**good, "n": np.int64(5)})
    assert numpy_n.n == 5 and type(numpy_n.n) is int
    for bad, match in ((dict(n=1), "n >= 2"), (dict(estimate=5.0), "interval"), (dict(level=1.2), "level"),
                       (dict(null=float("nan")), "null"), (dict(direction="up"), "direction"),
                       (dict(margin=-0.1), "margin"), (dict(ci=(0.1, float("inf"))), "ci")):
        with pytest.raises(ValueError, match=match):
            stats.Evidence(**{**good, **bad})


@pytest.mark.parametrize("call, match", [
    (lambda: stats.paired_comparison([1.0], [0.0], direction="greater"), "at least 2"),
    (lambda: stats.paired_comparison([1.0, np.nan], [0.0, 0.0], direction="greater"), "NaN"),
    (lambda: stats.paired_comparison([1.0, 2.0, 3.0], [0.0, 0.0], direction="greater"), "paired"),
    (lambda: stats.one_sample([1.0, 2.0], direction="up"), "direction"),
    (lambda: stats.one_sample([1.0, 2.0], direction="greater", method="z"), "method"),
    (lambda: stats.one_sample([1.0, 2.0], direction="greater", level=1.5), "level"),
    (lambda: stats.one_sample([[1.0, 2.0]], direction="greater"), "1-D"),
    (lambda: stats.bootstrap_ci([1.0, 2.0], resamples=5), "resamples"),
    (lambda: stats.bootstrap_ci([1.0, 2.0], seed=None), "seed"),
    (lambda: stats.one_sample([1.0, 2.0], direction="greater", method="bootstrap", seed=1.5), "seed"),
    (lambda: stats.decide([0.1, 0.2], float("nan"), "greater"), "null"),
    (lambda: stats.decide([1.0, 0.0], 0.0, "greater"), "low <= high"),
    (lambda: stats.combine(["maybe"]), "unknown verdict"),
    (lambda: stats.combine([]), "at least one"),
])
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_evidence_dict_round_trip():
    ev = stats.paired_comparison([0.9, 0.95, 0.92], [0.8, 0.85, 0.84], direction="greater", margin=0.01)
    d = ev.as_dict()
    assert set(d) >= {"estimate", "ci", "level", "n", "null", "direction", "method", "rule", "margin"}
    assert stats.decide(d["ci"], d["null"], d["direction"], d.get("margin")) == ev.verdict
    assert stats.Evidence.from_dict(d) == ev
    equal = stats.paired_comparison([1.0] * 3, [0.5] * 3, direction="greater")  # zero width, n = 3
    assert stats.Evidence.from_dict(equal.as_dict()).verdict == equal.verdict == "inconclusive"
    with pytest.raises(ValueError, match="lacks"):
        stats.Evidence.from_dict({"estimate": 1.0})


def test_note_if_inconclusive():
    decided = stats.one_sample([1.0, 1.1, 0.9], direction="greater")
    open_ = stats.one_sample([1.0, -1.1, 0.9], direction="greater")
    assert stats.note_if_inconclusive(decided, "more seeds") == ""
    assert stats.note_if_inconclusive(open_, "more seeds") == "more seeds"
    assert stats.note_if_inconclusive({"a": decided, "b": open_}, "more seeds") == "more seeds"


def test_numpy_scalars_are_numbers_here_too():
    x = np.random.default_rng(1).normal(size=12)
    assert stats.t_interval(x, level=np.float64(0.95)) == stats.t_interval(x, level=0.95)
    assert stats.bootstrap_ci(x, resamples=np.int64(1000)) == stats.bootstrap_ci(x, resamples=1000)
    for level in (np.float64(1.0), float("nan"), True):
        with pytest.raises(ValueError, match="level"):
            stats.t_interval(x, level=level)


def test_null_and_margin_are_checked_when_the_evidence_is_made():
    for null in (float("nan"), "0"):
        with pytest.raises(ValueError, match="null"):
            stats.one_sample([1.0, 2.0, 3.0], direction="greater", null=null)
    with pytest.raises(ValueError, match="margin"):
        stats.one_sample([1.0, 2.0, 3.0], direction="greater", margin=-1.0)
