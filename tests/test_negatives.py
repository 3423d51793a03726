"""The false-negative filter: negatives the guide scores close to their positive are dropped."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from lrat.negatives import filter_false_negatives


class Lookup:
    """A guide model whose vectors are looked up by text (unit length)."""

    def __init__(self, vectors):
        self.vectors = {t: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for t, v in vectors.items()}
        self.encoded: list[str] = []

    def encode(self, texts, kind, batch_size, show_progress_bar):
        self.encoded += list(texts)
        return np.stack([self.vectors[t] for t in texts])


def test_negatives_scored_near_the_positive_are_dropped_in_order():
    guide = Lookup({"q": [1, 0], "pos": [1, 0.2], "twin": [1, 0.1], "far": [0, 1], "mid": [1, 1]})
    df = pl.DataFrame(
        {
            "query": ["q"],
            "pos": ["pos"],
            "neg": [["far", "twin", "mid"]],
            "pos_id": ["p"],
            "neg_id": [["f", "t", "m"]],
            "weight": [1.0],
        }
    )
    out, dropped = filter_false_negatives(df, guide, relative_margin=0.95)
    # s(q, pos) = 0.981; twin 0.995 > 0.95 · 0.981 is dropped; mid 0.707 and far 0 stay, in order.
    assert dropped == 1
    assert out["neg_id"].to_list() == [["f", "m"]] and out["neg"].to_list() == [["far", "mid"]]
    assert out.drop("neg", "neg_id").equals(df.drop("neg", "neg_id"))
    tiered = df.with_columns(
        pl.Series("neg_tier", [[2, 0, 1]], dtype=pl.List(pl.UInt8)),
        pl.Series("neg_source", [["corpus", "browse", "snippet"]]),
    )
    out, _ = filter_false_negatives(tiered, guide, relative_margin=0.95)
    assert out["neg_tier"].to_list() == [[2, 1]] and out["neg_source"].to_list() == [["corpus", "snippet"]]
    everything, none_dropped = filter_false_negatives(df, guide, relative_margin=2.0)
    assert none_dropped == 0 and everything["neg_id"].to_list() == [["f", "t", "m"]]


def test_known_document_vectors_are_not_encoded_again():
    guide = Lookup({"q": [1, 0], "pos": [1, 0.2], "twin": [1, 0.1]})
    df = pl.DataFrame({"query": ["q"], "pos": ["pos"], "neg": [["twin"]], "pos_id": ["p"], "neg_id": [["t"]]})
    known = {"p": guide.vectors["pos"], "t": guide.vectors["twin"]}
    out, dropped = filter_false_negatives(df, guide, document_vectors=known)
    assert dropped == 1 and guide.encoded == ["q"]
    with pytest.raises(ValueError, match="relative_margin"):
        filter_false_negatives(df, guide, relative_margin=0)
