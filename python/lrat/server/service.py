"""The two agent tools, `search` and `get_document`, over a `CorpusSearch`, with every call logged to
a `SessionLog`. The HTTP app, the MCP endpoint and `lrat flywheel` all call this one object."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from lrat.contextual import contextual_query
from lrat.server.search import CorpusSearch, DocumentNotFound, Hit
from lrat.server.sessions import SessionLog
from lrat.server.surrogates import replace_lone_surrogates


@dataclass(frozen=True)
class Limits:
    max_k: int = 100
    max_query_chars: int = 4096
    max_snippet_tokens: int = 1024
    max_body_bytes: int = 256 * 1024
    """Largest request body accepted (reasoning texts travel in the body)."""


class ToolError(ValueError):
    """A call the client got wrong (HTTP 4xx, MCP tool error)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def new_session_id() -> str:
    return uuid.uuid4().hex


def tool_schemas(limits: Limits, default_k: int = 10) -> list[dict[str, Any]]:
    """The tools in OpenAI function-calling form (`{"type": "function", "function": {...}}`)."""
    return [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": (
                    "Search the document collection. Returns the best-matching documents, each with its "
                    "docid, score, title and the first words of its text (a snippet)."
                ),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {
                            "type": "string",
                            "description": "What to search for.",
                            "minLength": 1,
                            "maxLength": limits.max_query_chars,
                        },
                        "k": {
                            "type": "integer",
                            "description": f"Number of results (default {default_k}).",
                            "minimum": 1,
                            "maximum": limits.max_k,
                            "default": default_k,
                        },
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "get_document",
                "description": "Read the full text of a document found by search, by its docid.",
                "parameters": {
                    "type": "object",
                    "properties": {"docid": {"type": "string", "description": "The document's docid.", "minLength": 1}},
                    "required": ["docid"],
                    "additionalProperties": False,
                },
            },
        },
    ]


class SearchService:
    """`contextual`: search with each query joined with the reasoning sent along with it (for a model
    trained on contextual queries); a call's explicit `context` is always used."""

    def __init__(
        self,
        searcher: CorpusSearch,
        log: SessionLog,
        limits: Limits | None = None,
        default_k: int = 10,
        *,
        contextual: bool = False,
    ):
        self.searcher, self.log = searcher, log
        self.contextual = contextual
        self.replaced_surrogates = 0
        """Lone UTF-16 surrogates replaced by U+FFFD in client text (`lrat.server.surrogates`)."""
        self._count_lock = threading.Lock()
        self.limits = limits or Limits()
        if not 1 <= default_k <= self.limits.max_k:
            raise ValueError(f"default k must be within 1..{self.limits.max_k}, got {default_k}")
        self.default_k = default_k

    def tools(self) -> list[dict[str, Any]]:
        return tool_schemas(self.limits, self.default_k)

    def clean(self, value: Any) -> Any:
        """`value` with its lone surrogates replaced (and counted)."""
        cleaned, replaced = replace_lone_surrogates(value)
        if replaced:
            with self._count_lock:
                self.replaced_surrogates += replaced
        return cleaned

    def search(
        self,
        session_id: str,
        query: str,
        k: int | None = None,
        *,
        reasoning: str | None = None,
        context: str | None = None,
        snippet_tokens: int | None = None,
    ) -> list[Hit]:
        k = self.default_k if k is None else k
        query, reasoning, context = self.clean([query, reasoning, context])
        lim = self.limits
        if not isinstance(query, str) or not query.strip():
            raise ToolError("query must be a non-empty string")
        if len(query) > lim.max_query_chars:
            raise ToolError(f"query is {len(query)} characters long; the limit is {lim.max_query_chars}")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= lim.max_k:
            raise ToolError(f"k must be an integer within 1..{lim.max_k}, got {k!r}")
        if snippet_tokens is not None and (
            isinstance(snippet_tokens, bool)
            or not isinstance(snippet_tokens, int)
            or not 1 <= snippet_tokens <= lim.max_snippet_tokens
        ):
            raise ToolError(
                f"snippet_tokens must be an integer within 1..{lim.max_snippet_tokens}, got {snippet_tokens!r}"
            )
        if context is not None and not isinstance(context, str):
            raise ToolError(f"context must be a string, got {type(context).__name__}")
        if context is None and self.contextual:
            context = reasoning
        hits = self.searcher.hits([contextual_query(query, context)], k, snippet_tokens=snippet_tokens)[0]
        if reasoning:
            self.log.log_reasoning(session_id, reasoning)
        shown = [{"docid": h.docid, "title": h.title, "snippet": h.snippet, "score": h.score} for h in hits]
        self.log.log_search(session_id, query, k, shown)
        return hits

    def get_document(self, session_id: str, docid: str, *, reasoning: str | None = None) -> str:
        if not isinstance(docid, str) or not docid:
            raise ToolError("docid must be a non-empty string")
        docid, reasoning = self.clean([docid, reasoning])
        try:
            text = self.searcher.get_document(docid)
        except DocumentNotFound as exc:
            raise ToolError(str(exc.args[0]), status=404) from None
        if reasoning:
            self.log.log_reasoning(session_id, reasoning)
        self.log.log_get_document(session_id, docid, text)
        return text
