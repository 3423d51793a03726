"""Dense search over a corpus: an encoder for the queries, an `lrat.Index` over the documents, and
the corpus texts for titles, snippets and full documents."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lrat import Index, read_corpus
from lrat.result_text import search_output, snippet

DEFAULT_SNIPPET_TOKENS = 64


@dataclass(frozen=True)
class Hit:
    docid: str
    score: float
    title: str
    snippet: str


class DocumentNotFound(KeyError):
    pass


class CorpusSearch:
    """The one searchable corpus of lrat: `hits(queries, k)` → ranked `Hit`s, `search(queries, k)` →
    `(docid, score)` pairs (the `lrat.harness.simulate.Searcher` protocol), `get_document(docid)` → text.

    Scores are similarities, higher is better: 1 − the index's distance for cosine and inner-product
    indexes, the negated squared distance for an `l2` index. Snippets are the
    first `snippet_tokens` whitespace tokens of a document, its title line kept on its own line, as
    the BrowseComp-Plus searcher shows them. `exact=True` compares every query with every vector
    (reproducible to the bit; cheap for corpora of a few thousand documents). Query vectors are kept
    (up to `query_cache` distinct queries, 15 MB at 384 dimensions by default): agents repeat their
    queries, and a simulation replays the same questions under several seeds.
    """

    def __init__(
        self,
        encoder: Any,
        index: Index,
        corpus: pl.DataFrame,
        *,
        snippet_tokens: int = DEFAULT_SNIPPET_TOKENS,
        exact: bool = False,
        query_cache: int = 10_000,
        batch_size: int = 64,
    ):
        if snippet_tokens < 1:
            raise ValueError(f"snippet_tokens must be positive, got {snippet_tokens}")
        if getattr(encoder, "dim", index.dim) != index.dim:
            raise ValueError(
                f"the encoder makes vectors of dimension {encoder.dim}, the index holds dimension {index.dim}"
            )
        if index.key_kind not in ("str", None):
            raise ValueError("the index must be keyed by document ids (strings)")
        self.encoder, self.index, self.snippet_tokens = encoder, index, snippet_tokens
        self.exact, self.query_cache, self.batch_size = exact, query_cache, batch_size
        self._query_vectors: dict[str, np.ndarray] = {}
        self._l2 = index.metric == "l2"
        ids = corpus["doc_id"].to_list()
        titles = corpus["title"].to_list() if "title" in corpus.columns else [None] * len(ids)
        texts = corpus["text"].to_list()
        if len(index):
            known = int(np.count_nonzero(index.contains(ids))) if ids else 0
            if known < len(index):
                raise ValueError(
                    f"the index holds {len(index) - known} of its {len(index)} document ids that the corpus lacks: "
                    "were they built from the same corpus?"
                )
        self._texts: dict[str, str] = dict(zip(ids, texts))
        self._titles: dict[str, str] = {
            d: (t if t else text.partition("\n")[0].strip()) for d, t, text in zip(ids, titles, texts)
        }
        # The tokenizer and model of a transformers encoder are not safe to call from many threads
        # (and the query cache is shared).
        self._encode_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        index: str | os.PathLike[str],
        corpus: str | os.PathLike[str],
        model: str | os.PathLike[str] | None,
        *,
        snippet_tokens: int = DEFAULT_SNIPPET_TOKENS,
        device: str | None = None,
    ) -> CorpusSearch:
        from lrat.encoder import Encoder

        return cls(
            Encoder.load(model, device=device),
            Index.view(Path(index)),
            read_corpus(corpus),
            snippet_tokens=snippet_tokens,
        )

    @classmethod
    def build(
        cls,
        encoder: Any,
        corpus: pl.DataFrame,
        *,
        snippet_tokens: int = DEFAULT_SNIPPET_TOKENS,
        batch_size: int = 64,
        show_progress_bar: bool | None = False,
        exact: bool = False,
        vectors: np.ndarray | None = None,
        query_cache: int = 10_000,
    ) -> CorpusSearch:
        """Encodes every document of `corpus` (`doc_id, title?, text`) and indexes it in memory by
        cosine; `vectors` (one row per document, in corpus order) skips the encoding."""
        for column in ("doc_id", "text"):
            if column not in corpus.columns:
                raise ValueError(f"the corpus lacks a `{column}` column; it has {', '.join(corpus.columns)}")
        if corpus.height == 0:
            raise ValueError("the corpus is empty")
        if corpus["doc_id"].n_unique() != corpus.height:
            raise ValueError("the corpus lists a document id more than once")
        if vectors is None:
            vectors = encoder.encode(
                corpus["text"].to_list(), kind="document", batch_size=batch_size, show_progress_bar=show_progress_bar
            )
        elif vectors.ndim != 2 or vectors.shape[0] != corpus.height:
            raise ValueError(f"vectors of shape {vectors.shape} for a corpus of {corpus.height} documents")
        index = Index(vectors.shape[1], metric="cos")
        index.add(corpus["doc_id"].to_list(), vectors)
        return cls(
            encoder,
            index,
            corpus,
            snippet_tokens=snippet_tokens,
            exact=exact,
            batch_size=batch_size,
            query_cache=query_cache,
        )

    def __len__(self) -> int:
        return len(self.index)

    def title(self, docid: str) -> str:
        return self._titles.get(docid, "")

    def get_document(self, docid: str) -> str:
        try:
            return self._texts[docid]
        except KeyError:
            raise DocumentNotFound(f"document {docid!r} is not in the corpus") from None

    def hits(self, queries: list[str], k: int, *, snippet_tokens: int | None = None) -> list[list[Hit]]:
        n_tokens = self.snippet_tokens if snippet_tokens is None else snippet_tokens
        if not queries:
            return []
        k = min(k, len(self.index))
        keys, distances = self.index.search(self.query_vectors(queries), k, exact=self.exact)
        out = []
        for row_keys, row_distances in zip(keys.tolist(), distances.tolist()):
            row = []
            for docid, distance in zip(row_keys, row_distances):
                if docid is None:
                    continue
                text = self._texts.get(docid, "")
                score = -float(distance) if self._l2 else 1.0 - float(distance)
                row.append(Hit(docid, score, self.title(docid), snippet(text, n_tokens)))
            out.append(row)
        return out

    def query_vectors(self, queries: list[str]) -> np.ndarray:
        """The encoder's query vectors of `queries`, each distinct new text encoded once."""
        with self._encode_lock:
            cache = self._query_vectors
            missing = list(dict.fromkeys(q for q in queries if q not in cache))
            if missing:
                encoded = np.atleast_2d(
                    self.encoder.encode(missing, kind="query", batch_size=self.batch_size, show_progress_bar=False)
                )
                if len(cache) + len(missing) > self.query_cache:
                    # Full: keep only what this call still needs.
                    cache = self._query_vectors = {q: cache[q] for q in queries if q in cache}
                cache.update(zip(missing, encoded))
            return np.stack([cache[q] for q in queries])

    def search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        """The `lrat.harness.simulate.Searcher` protocol."""
        return [[(h.docid, h.score) for h in row] for row in self.hits(queries, k)]

    @staticmethod
    def search_text(query: str, hits: list[Hit]) -> str:
        """The BrowseComp-Plus searcher's text for one search, as it goes into trajectories."""
        return search_output(query, [(h.docid, h.title, h.snippet) for h in hits])
