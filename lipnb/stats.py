"""The verdict protocol: paired comparisons, confidence intervals and three verdicts.

A claim that compares methods, settings or seeds is decided from the confidence interval
of its effect, never from two means:

* ``"does not hold"``: the interval lies entirely within ``null ± margin`` (an effect
  too small to matter, stated before looking), even if it excludes ``null``;
* ``"holds"``: otherwise, when it lies entirely on the side of ``null`` the claim predicts;
* ``"does not hold"``: when it lies entirely on the other side;
* ``"inconclusive"``: anything else. The claim's note then says what would decide it.

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
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from lipnb.validation import number, one_of

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
    if not isinstance(level, (int, float)) or not 0.5 <= level < 1:
        raise ValueError(f"level must be in [0.5, 1), got {level!r}")
    return float(level)


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
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise ValueError(f"resamples must be an integer >= 100, got {resamples!r}")
    rng = np.random.default_rng(seed)
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
    """The verdict that an interval ``ci`` gives for a claim predicting ``direction``."""
    one_of(direction, "direction", DIRECTIONS)
    lo, hi = (float(v) for v in ci)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"ci must be a finite [low, high] with low <= high, got {list(ci)}")
    if margin is not None:
        margin = number(margin, "margin", minimum=0.0)
    if margin is not None and null - margin <= lo and hi <= null + margin:
        return "does not hold"  # too small to matter, whatever its sign
    predicted = lo > null if direction == "greater" else hi < null
    opposite = hi < null if direction == "greater" else lo > null
    if predicted:
        return "holds"
    if opposite:
        return "does not hold"
    return "inconclusive"


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

    @property
    def verdict(self) -> str:
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


def _rule(direction: str, null: float, margin: float | None, what: str) -> str:
    side = ">" if direction == "greater" else "<"
    text = ""
    if margin is not None:
        text = f"does not hold if the whole CI of {what} is within ±{margin:g} of {null:g} (too small to matter); "
    text += f"holds if the whole CI of {what} is {side} {null:g}; does not hold if it is wholly on the other side"
    return text + "; else inconclusive"


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
        spread (all equal) give a t interval of zero width, so the verdict then rests on
        the values alone; with few units read ``sign_test_p`` beside it.
    """
    one_of(direction, "direction", DIRECTIONS)
    one_of(method, "method", METHODS)
    null = number(null, "null")
    if margin is not None:
        margin = number(margin, "margin", minimum=0.0)
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
                    rule=_rule(direction, null, margin, what),
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
