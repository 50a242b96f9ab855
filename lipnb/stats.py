"""The verdict protocol: paired comparisons, confidence intervals and three verdicts.

A claim that compares methods, settings or seeds is decided from the confidence interval
of its effect, never from two means:

* ``"holds"``: the interval lies entirely on the side of ``null`` the claim predicts;
* ``"does not hold"``: it lies entirely on the other side;
* ``"inconclusive"``: anything else. The claim's note then says what would decide it.

With a ``margin`` (the smallest effect that matters, stated before looking) the claim is
that the effect matters, so the dividing line moves from ``null`` to ``null + margin``
(``null - margin`` for a claim of "less"): it holds when the whole interval lies beyond
that line, and does not hold when none of it does (an effect too small to matter, even
if the interval excludes ``null``). A margin of 0 is no margin. Widening an interval can
then only weaken a verdict, never strengthen it.

The one exception: values without any spread (exact ties, as discrete outcomes give)
have a t interval of zero width, which says nothing about their spread. Such evidence
decides only with enough units for the exact sign test to decide (all ``n`` on one
side: ``2**(1 - n)`` below ``1 - level``, so ``n >= 6`` at 95%); with fewer it is
inconclusive, even though nearly equal values would have decided.

Everything here is pure numpy/scipy and seeded: the same inputs give the same numbers.

Example:
    >>> sn = [0.91, 0.93, 0.92, 0.95, 0.90]
    >>> base = [0.89, 0.90, 0.91, 0.92, 0.88]
    >>> ev = paired_comparison(sn, base, direction="greater")
    >>> ev.verdict
    'holds'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from lipnb.validation import nonnegative_int, number, one_of, positive_int

__all__ = ["VERDICTS", "KINDS", "Evidence", "paired_comparison", "one_sample", "decide", "combine",
           "evidence_verdict", "note_if_inconclusive",
           "bootstrap_ci", "t_interval", "sign_test"]

VERDICTS = ("holds", "does not hold", "inconclusive")
KINDS = ("article", "erratum", "gap", "beyond")
DIRECTIONS = ("greater", "less")
METHODS = ("t", "bootstrap")


def _finite_vector(values, name: str) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {err}") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.size < 2:
        raise ValueError(f"{name} needs at least 2 values to give an interval, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has NaN or infinite values: {x.tolist()}")
    return x


def _check_level(level: float) -> float:
    value = number(level, "level") if isinstance(level, numbers.Real) else None
    if value is None or not 0.5 <= value < 1:
        raise ValueError(f"level must be in [0.5, 1), got {level!r}")
    return value


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval for the mean of ``values`` (n >= 2)."""
    from scipy import stats

    x = _finite_vector(values, "values")
    level = _check_level(level)
    mean, sem = float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))
    if sem == 0.0:
        return mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * sem
    return mean - half, mean + half


def bootstrap_ci(values, level: float = 0.95, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of ``values``, seeded.

    With few values the percentile interval is too narrow; prefer :func:`t_interval`
    below about 20 paired units.
    """
    x = _finite_vector(values, "values")
    level = _check_level(level)
    if positive_int(resamples, "resamples") < 100:
        raise ValueError(f"resamples must be an integer >= 100, got {resamples!r}")
    rng = np.random.default_rng(nonnegative_int(seed, "seed"))  # an int, so the record names it
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def sign_test(differences, null: float = 0.0) -> float:
    """Two-sided exact sign test p-value of ``differences`` against ``null`` (ties dropped)."""
    from scipy import stats

    d = _finite_vector(differences, "differences") - null
    above, below = int(np.sum(d > 0)), int(np.sum(d < 0))
    if above + below == 0:
        return 1.0
    return float(stats.binomtest(above, above + below, 0.5).pvalue)


def decide(ci: Sequence[float], null: float, direction: str, margin: float | None = None) -> str:
    """The verdict that an interval ``ci`` gives for a claim predicting ``direction``
    (by at least ``margin``, when one is given: see the module's rule)."""
    one_of(direction, "direction", DIRECTIONS)
    null = number(null, "null")
    lo, hi = (float(v) for v in ci)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"ci must be a finite [low, high] with low <= high, got {list(ci)}")
    if direction == "less":  # mirror onto "greater"
        lo, hi, null = -hi, -lo, -null
    margin = None if margin is None else number(margin, "margin", minimum=0.0)
    if not margin:  # None or 0: any effect on the predicted side counts
        predicted, excluded = lo > null, hi < null
    else:
        line = null + margin
        predicted, excluded = lo > line, hi <= line  # no effect that matters in the interval
    if predicted:
        return "holds"
    if excluded:
        return "does not hold"
    return "inconclusive"


def _decisive_without_spread(n: int, level: float) -> bool:
    """Whether ``n`` equal values are enough units to decide: the exact two-sided sign
    test of n values all on one side, 2**(1 - n), must be below ``1 - level``."""
    return 2.0 ** (1 - n) < 1 - level


def _units_without_spread(level: float) -> int:
    """The fewest equal values that decide at ``level`` (6 at 95%)."""
    n = 2
    while not _decisive_without_spread(n, level):
        n += 1
    return n


def combine(verdicts: Iterable[str]) -> str:
    """A claim made of parts ("at both batch sizes"): holds only if every part holds."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    unknown = [v for v in verdicts if v not in VERDICTS]
    if unknown:
        raise ValueError(f"unknown verdict(s) {unknown}; expected one of {VERDICTS}")
    if "does not hold" in verdicts:
        return "does not hold"
    if "inconclusive" in verdicts:
        return "inconclusive"
    return "holds"


@dataclass(frozen=True)
class Evidence:
    """The effect a claim is decided on, with its interval and the rule that decides it."""

    estimate: float
    ci: tuple[float, float]
    level: float
    n: int
    null: float
    direction: str
    method: str
    rule: str
    margin: float | None = None
    sign_test_p: float | None = None

    def __post_init__(self):
        # Evidence can be built by hand; it must still be evidence the rule can decide.
        if positive_int(self.n, "n") < 2:
            raise ValueError(f"evidence needs n >= 2 units, got n = {self.n!r}")
        object.__setattr__(self, "n", int(self.n))  # frozen; a plain int for the JSON
        _check_level(self.level)
        one_of(self.direction, "direction", DIRECTIONS)
        number(self.null, "null")
        if self.margin is not None:
            number(self.margin, "margin", minimum=0.0)
        lo, hi = (number(v, "ci") for v in self.ci)
        if not lo <= number(self.estimate, "estimate") <= hi:
            raise ValueError(f"the estimate {self.estimate!r} must lie in its interval [{lo!r}, {hi!r}]")

    @classmethod
    def from_dict(cls, record: Mapping) -> Evidence:
        """The evidence a results file recorded (:meth:`as_dict`), checked as when made."""
        fields = ("estimate", "ci", "level", "n", "null", "direction", "method", "rule", "margin", "sign_test_p")
        missing = [f for f in fields[:8] if f not in record]
        if missing:
            raise ValueError(f"recorded evidence lacks {missing}")
        values = {f: record[f] for f in fields if f in record}
        return cls(**{**values, "ci": tuple(values["ci"])})

    @property
    def verdict(self) -> str:
        lo, hi = self.ci
        if lo == hi and not _decisive_without_spread(self.n, self.level):
            return "inconclusive"  # no spread, and too few units for even the sign test
        return decide(self.ci, self.null, self.direction, self.margin)

    def as_dict(self) -> dict:
        out = {"estimate": self.estimate, "ci": list(self.ci), "level": self.level, "n": self.n,
               "null": self.null, "direction": self.direction, "method": self.method, "rule": self.rule}
        if self.margin is not None:
            out["margin"] = self.margin
        if self.sign_test_p is not None:
            out["sign_test_p"] = self.sign_test_p
        return out

    def __str__(self) -> str:
        lo, hi = self.ci
        return f"{self.estimate:.3g} [{lo:.3g}, {hi:.3g}] (n = {self.n})"


def _rule(direction: str, null: float, margin: float | None, what: str, level: float = 0.95) -> str:
    side, other = (">", "<=") if direction == "greater" else ("<", ">=")
    if not margin:
        text = f"holds if the whole CI of {what} is {side} {null:g}; does not hold if it is wholly on the other side"
    else:
        line = null + margin if direction == "greater" else null - margin
        text = (f"holds if the whole CI of {what} is {side} {line:g} (an effect of at least the margin {margin:g} "
                f"that matters); does not hold if the whole CI is {other} {line:g} (too small to matter, or the "
                f"other way)")
    return text + f"; else inconclusive (also when the values have no spread and n < {_units_without_spread(level)})"


def one_sample(values, *, direction: str, null: float = 0.0, margin: float | None = None,
               level: float = 0.95, method: str = "t", resamples: int = 10_000, seed: int = 0,
               what: str = "the mean") -> Evidence:
    """Evidence on the mean of ``values`` (one per seed or unit) against ``null``.

    Args:
        values: one number per independent unit (seed, data set x seed), n >= 2.
        direction: ``"greater"`` or ``"less"``: where the claim puts the mean.
        null: the no-effect value.
        margin: optional equivalence margin, stated before looking.
        level: confidence level of the interval.
        method: ``"t"`` (Student t) or ``"bootstrap"`` (percentile, seeded).
        what: the effect's name, for the rule's wording.

    Returns:
        :class:`Evidence`; its ``verdict`` applies the module's rule. Values without
        spread (all equal) give a t interval of zero width, which decides only with
        enough units for the sign test (n >= 6 at 95%).
    """
    one_of(direction, "direction", DIRECTIONS)
    one_of(method, "method", METHODS)
    null = number(null, "null")
    if margin is not None:
        margin = number(margin, "margin", minimum=0.0)
    if method == "bootstrap":
        seed = nonnegative_int(seed, "seed")
    x = _finite_vector(values, "values")
    level = _check_level(level)
    if method == "t":
        ci = t_interval(x, level)
        method_text = "Student t interval"
    else:
        ci = bootstrap_ci(x, level, resamples, seed)
        method_text = f"percentile bootstrap, {resamples} resamples, seed {seed}"
    return Evidence(estimate=float(x.mean()), ci=(float(ci[0]), float(ci[1])), level=level, n=int(x.size),
                    null=float(null), direction=direction, method=method_text,
                    rule=_rule(direction, null, margin, what, level),
                    margin=None if margin is None else float(margin), sign_test_p=sign_test(x, null))


def paired_comparison(treatment, baseline, *, direction: str, null: float = 0.0,
                      margin: float | None = None, level: float = 0.95, method: str = "t",
                      resamples: int = 10_000, seed: int = 0) -> Evidence:
    """Evidence on the mean paired difference ``treatment - baseline``.

    The two sequences hold one number per paired unit (the same seed, or the same data
    set and seed), in the same order.

    Raises:
        ValueError: unequal lengths, fewer than 2 pairs, or NaN/infinite values.
    """
    t = _finite_vector(treatment, "treatment")
    b = _finite_vector(baseline, "baseline")
    if t.shape != b.shape:
        raise ValueError(f"treatment and baseline must be paired: {t.size} values against {b.size}")
    ev = one_sample(t - b, direction=direction, null=null, margin=margin, level=level, method=method,
                    resamples=resamples, seed=seed, what="the mean paired difference")
    return Evidence(**{**ev.__dict__, "method": f"{ev.method} on paired differences"})


def evidence_verdict(evidence: Evidence | Mapping[str, Evidence]) -> str:
    """The verdict of one piece of evidence, or of several parts that must all hold."""
    if isinstance(evidence, Evidence):
        return evidence.verdict
    return combine(e.verdict for e in evidence.values())


def note_if_inconclusive(evidence: Evidence | Mapping[str, Evidence], what_would_decide: str) -> str:
    """``what_would_decide`` when the evidence leaves the claim inconclusive, else ``""``.

    An inconclusive claim must say what would decide it; a decided one needs no such note.
    """
    return what_would_decide if evidence_verdict(evidence) == "inconclusive" else ""
