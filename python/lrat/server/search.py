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
    """`search(queries, k)` → ranked `Hit`s; `get_document(docid)` → text. Also an `lrat.harness.simulate.Searcher`.

    Scores are similarities, higher is better: 1 − the index's distance for cosine and inner-product
    indexes, the negated squared distance for an `l2` index. Snippets are the
    first `snippet_tokens` whitespace tokens of a document, its title line kept on its own line, as
    the BrowseComp-Plus searcher shows them.
    """

    def __init__(self, encoder: Any, index: Index, corpus: pl.DataFrame, *, snippet_tokens: int = DEFAULT_SNIPPET_TOKENS):
        if snippet_tokens < 1:
            raise ValueError(f"snippet_tokens must be positive, got {snippet_tokens}")
        if getattr(encoder, "dim", index.dim) != index.dim:
            raise ValueError(f"the encoder makes vectors of dimension {encoder.dim}, the index holds dimension {index.dim}")
        if index.key_kind not in ("str", None):
            raise ValueError("the index must be keyed by document ids (strings)")
        self.encoder, self.index, self.snippet_tokens = encoder, index, snippet_tokens
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
        # The tokenizer and model of a transformers encoder are not safe to call from many threads.
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

        return cls(Encoder.load(model, device=device), Index.view(Path(index)), read_corpus(corpus),
                   snippet_tokens=snippet_tokens)

    @classmethod
    def build(cls, encoder: Any, corpus: pl.DataFrame, *, snippet_tokens: int = DEFAULT_SNIPPET_TOKENS,
              batch_size: int = 64, show_progress_bar: bool | None = False) -> CorpusSearch:
        """Encodes every document of `corpus` (`doc_id, title?, text`) and indexes it in memory."""
        vectors = encoder.encode(corpus["text"].to_list(), kind="document", batch_size=batch_size,
                                 show_progress_bar=show_progress_bar)
        index = Index(vectors.shape[1], metric="cos")
        index.add(corpus["doc_id"].to_list(), vectors)
        return cls(encoder, index, corpus, snippet_tokens=snippet_tokens)

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
        with self._encode_lock:
            vectors = np.atleast_2d(self.encoder.encode(queries, kind="query", show_progress_bar=False))
        keys, distances = self.index.search(vectors, k)
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

    def search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        """The `lrat.harness.simulate.Searcher` protocol."""
        return [[(h.docid, h.score) for h in row] for row in self.hits(queries, k)]

    @staticmethod
    def search_text(query: str, hits: list[Hit]) -> str:
        """The BrowseComp-Plus searcher's text for one search, as it goes into trajectories."""
        return search_output(query, [(h.docid, h.title, h.snippet) for h in hits])
