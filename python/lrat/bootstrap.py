"""Paired bootstrap confidence intervals over questions.

A delta is paired: each question's value under a variant minus its value under the baseline, so the
questions' own difficulty cancels. The interval is the percentile interval of the mean delta over
`resamples` resamples of the questions with replacement, from a seeded generator, so that a report is
reproducible. Identical runs give an interval of exactly [0, 0]; a constant shift c gives [c, c].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
# Far above the rounding error of a mean of per-question values, far below any difference a bench shows.
_ROUNDING = 1e-12


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval; `n` is the number of paired questions behind it."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0. An end within float rounding of 0 (a mean of 0/1 values that is 0
        up to the last bits, such as 1.7e-19) holds it."""
        return self.low > _ROUNDING or self.high < -_ROUNDING

    def to_dict(self) -> dict[str, float | int | bool]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "significant": self.significant}


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n), dtype=np.int32)


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"expected one value per question, got an array of shape {values.shape}")
    return values


def paired_bootstrap(
    deltas: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0, confidence: float = 0.95
) -> Interval:
    """The mean of `deltas` (one per question; NaN = the question does not count) and its percentile
    bootstrap interval."""
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError("resamples must be ≥ 1 and confidence within (0, 1)")
    d = _clean(deltas)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    means = d[_indices(d.size, resamples, seed)].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    mean = float(d.mean())
    # The percentiles of identical means can differ from their mean in the last bit; an interval
    # never excludes the point estimate.
    return Interval(mean, float(min(low, mean)), float(max(high, mean)), int(d.size))


def bootstrap_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """mean(numerator) / mean(denominator) over the questions where both are known (a variant's gain
    as a fraction of the oracle's), with the percentile interval of the ratio under paired resampling.
    NaN when the denominator's mean is not positive; resamples whose denominator is not positive are
    left out of the interval."""
    a, b = _clean(numerator), _clean(denominator)
    if a.shape != b.shape:
        raise ValueError(f"numerator and denominator differ in length ({a.size} and {b.size})")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size == 0 or b.mean() <= 0:
        return Interval(float("nan"), float("nan"), float("nan"), int(a.size))
    idx = _indices(a.size, resamples, seed)
    num, den = a[idx].mean(axis=1), b[idx].mean(axis=1)
    ok = den > 0
    ratios = num[ok] / den[ok]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Interval(float(a.mean() / b.mean()), float(low), float(high), int(a.size))
