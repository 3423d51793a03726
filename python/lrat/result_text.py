"""What a search tool shows an agent: snippets of the results, and the result list as text in the
BrowseComp-Plus searcher's format (which `lrat serve` returns and the simulated agent logs, and which
the readers parse back)."""

from __future__ import annotations

from collections.abc import Sequence


def snippet(text: str, n_tokens: int) -> str:
    """The first `n_tokens` whitespace tokens of a document; its first line (the title) stays a line."""
    head, _, body = text.partition("\n")
    head_tokens = head.split()
    if not body or len(head_tokens) >= n_tokens:
        return " ".join(text.split()[:n_tokens])
    return " ".join(head_tokens) + "\n" + " ".join(body.split()[: n_tokens - len(head_tokens)])


def search_output(query: str, hits: Sequence[tuple[str, str, str]]) -> str:
    """The BrowseComp-Plus searcher's text: `hits` are `(doc_id, title, snippet)`."""
    blocks = "\n\n".join(f"DocID:{d}\n[{t}]\n{s}" for d, t, s in hits)
    return f"A search for '{query}' found {len(hits)} results:\n\n## Web Results\n{blocks}"
