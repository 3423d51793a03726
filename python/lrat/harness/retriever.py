"""A dense retriever: an `Encoder` and an `Index` over a corpus, answering the simulator's `Searcher` protocol.

Scores are cosine similarities (1 − the index's cosine distance), best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from lrat._core import Index

if TYPE_CHECKING:
    from lrat.encoder import Encoder


class DenseRetriever:
    """`search(queries, k)` encodes the queries as queries and returns, for each, the `k` nearest
    documents of `index` as `(doc_id, cosine similarity)` pairs. `exact=True` compares every query
    with every vector (reproducible to the bit; cheap for corpora of a few thousand documents). Query
    vectors are kept (up to `query_cache` distinct queries): agents repeat their queries, and a
    simulation replays the same questions under several seeds."""

    def __init__(self, encoder: Encoder, index: Index, *, exact: bool = False, batch_size: int = 64,
                 query_cache: int = 200_000):
        if index.key_kind not in (None, "str"):
            raise ValueError("DenseRetriever needs an index keyed by document ids (strings)")
        self.encoder = encoder
        self.index = index
        self.exact = exact
        self.batch_size = batch_size
        self.query_cache = query_cache
        self._query_vectors: dict[str, np.ndarray] = {}

    @classmethod
    def build(
        cls,
        corpus: pl.DataFrame,
        encoder: Encoder,
        *,
        exact: bool = False,
        batch_size: int = 64,
        show_progress: bool | None = None,
        vectors: np.ndarray | None = None,
    ) -> DenseRetriever:
        """Encodes the corpus (`doc_id, text` columns) as documents and indexes it by document id;
        `vectors` (one row per document, in corpus order) skips the encoding."""
        for column in ("doc_id", "text"):
            if column not in corpus.columns:
                raise ValueError(f"the corpus lacks a `{column}` column; it has {', '.join(corpus.columns)}")
        if corpus.height == 0:
            raise ValueError("the corpus is empty")
        if corpus["doc_id"].n_unique() != corpus.height:
            raise ValueError("the corpus lists a document id more than once")
        if vectors is None:
            vectors = encoder.encode(
                corpus["text"].to_list(), kind="document", batch_size=batch_size, show_progress_bar=show_progress
            )
        elif vectors.ndim != 2 or vectors.shape[0] != corpus.height:
            raise ValueError(f"vectors of shape {vectors.shape} for a corpus of {corpus.height} documents")
        index = Index(vectors.shape[1], metric="cos")
        index.add(corpus["doc_id"].to_list(), vectors)
        return cls(encoder, index, exact=exact, batch_size=batch_size)

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        if not queries:
            return []
        k = min(k, len(self.index))
        vectors = self.query_vectors(queries)
        keys, distances = self.index.search(vectors, k, exact=self.exact)
        return [
            [(str(key), 1.0 - float(d)) for key, d in zip(row_keys, row_distances) if key is not None]
            for row_keys, row_distances in zip(keys, distances)
        ]

    def query_vectors(self, queries: Sequence[str]) -> np.ndarray:
        """The encoder's query vectors of `queries`, each distinct new text encoded once."""
        cache = self._query_vectors
        missing = list(dict.fromkeys(q for q in queries if q not in cache))
        if missing:
            encoded = self.encoder.encode(missing, kind="query", batch_size=self.batch_size, show_progress_bar=False)
            if len(cache) + len(missing) > self.query_cache:
                # Full: keep only what this call still needs.
                cache = self._query_vectors = {q: cache[q] for q in queries if q in cache}
            cache.update(zip(missing, encoded))
        return np.stack([cache[q] for q in queries])
