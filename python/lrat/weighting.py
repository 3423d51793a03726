"""Relevance intensity (docs/method.md §3): longer reasoning after a browse means a more useful document.

With `l` the token length of the post-browse reasoning and `β` the median of `l` over `l > 0`:
`raw = 1 − exp(−ln2 · l / β)` and `w = raw / mean(raw)`, so that the weights average 1.
`l = 0` or missing gives `w = 1`.
"""

from __future__ import annotations

import math

import polars as pl


def intensity_beta(lengths: pl.Series) -> float:
    """The median of the positive lengths (β); 1.0 when there are none."""
    positive = lengths.drop_nulls().filter(lengths.drop_nulls() > 0)
    if positive.len() == 0:
        return 1.0
    return float(positive.cast(pl.Float64).median())


def intensity_weights(
    lengths: pl.Series,
    *,
    beta: float | None = None,
    normalize: bool = True,
    clip: tuple[float | None, float | None] | None = None,
) -> pl.Series:
    """The weight of each example from its reasoning length.

    beta: the half-saturation length; the median of the positive lengths when None.
    normalize: divide by the mean raw intensity of the examples with a length, so weights average 1.
    clip: (low, high) bounds applied last; either may be None.
    """
    if beta is None:
        beta = intensity_beta(lengths)
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    l = lengths.cast(pl.Float64)
    has_length = l.is_not_null() & (l > 0)
    raw = 1.0 - (-(math.log(2.0)) * l / beta).exp()
    if normalize and has_length.any():
        mean_raw = raw.filter(has_length).mean()
        raw = raw / mean_raw
    w = pl.select(pl.when(has_length).then(raw).otherwise(1.0)).to_series().alias("weight")
    if clip is not None:
        low, high = clip
        w = w.clip(lower_bound=low, upper_bound=high)
    return w
