"""Dropping likely false negatives from a training set with a guide model.

A mined negative that the guide model (the base encoder by default) scores close to, or above, the
positive is more often an unlabelled relevant document than a hard negative. As in NV-Retriever's
"TopK-PercPos" rule and sentence-transformers' `mine_hard_negatives(relative_margin=…)`, a negative is
dropped when `s(q, neg) > relative_margin · s(q, pos)`, with `s` the guide's cosine similarity
(relative_margin 0.95 keeps negatives that score at most 95% of the positive).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl


def filter_false_negatives(
    df: pl.DataFrame,
    encoder: Any,
    *,
    relative_margin: float = 0.95,
    document_vectors: Mapping[str, np.ndarray] | None = None,
    batch_size: int = 64,
) -> tuple[pl.DataFrame, int]:
    """Returns the training set (`query, pos, neg, pos_id, neg_id, …`) with the negatives that the
    guide scores above `relative_margin` times their positive removed from `neg_id` and the columns
    aligned with it (`neg`, `neg_source`, `neg_tier`; order kept), and how many were removed. `document_vectors` (doc id → unit vector of the guide) spares
    encoding documents the caller has already encoded; the others are encoded from their texts."""
    if not 0 < relative_margin:
        raise ValueError(f"relative_margin must be positive, got {relative_margin}")
    if df.height == 0:
        return df, 0
    known = document_vectors or {}
    queries = df["query"].to_list()
    unique_queries = list(dict.fromkeys(queries))
    qv = encoder.encode(unique_queries, kind="query", batch_size=batch_size, show_progress_bar=False)
    query_vector = dict(zip(unique_queries, qv))

    texts: dict[str, str] = {}
    for pos_id, pos, neg_ids, negs in df.select("pos_id", "pos", "neg_id", "neg").iter_rows():
        if pos_id not in known:
            texts.setdefault(pos_id, pos)
        for d, t in zip(neg_ids or [], negs or []):
            if d not in known:
                texts.setdefault(d, t)
    vectors = dict(known)
    if texts:
        encoded = encoder.encode(list(texts.values()), kind="document", batch_size=batch_size, show_progress_bar=False)
        vectors.update(zip(texts, encoded))

    # Every per-negative column keeps the same negatives as `neg_id`.
    aligned = [c for c in ("neg", "neg_source", "neg_tier") if c in df.columns]
    kept: dict[str, list[list[Any]]] = {c: [] for c in ["neg_id", *aligned]}
    dropped = 0
    for query, pos_id, neg_ids, *columns in df.select("query", "pos_id", "neg_id", *aligned).iter_rows():
        q = query_vector[query]
        threshold = relative_margin * float(q @ vectors[pos_id])
        keep = [float(q @ vectors[d]) <= threshold for d in neg_ids or []]
        dropped += keep.count(False)
        for name, values in zip(["neg_id", *aligned], [neg_ids, *columns]):
            kept[name].append([v for v, k in zip(values or [], keep) if k])
    out = df.with_columns(pl.Series(name, values, dtype=df.schema[name]) for name, values in kept.items())
    return out, dropped
