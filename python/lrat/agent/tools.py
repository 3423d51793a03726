"""The agent's two tools, `search(query)` and `get_document(docid)`, with the schemas `lrat serve`
publishes, run against an lrat corpus in this process (`LocalTools`) or a running `lrat serve`
(`HttpTools`). Each call returns what the model reads (`text`) and what the run file keeps (`output`,
the structured form `lrat serve` logs), or raises `ToolCallError` with a message the model is shown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from lrat.result_text import search_output
from lrat.server.service import Limits, tool_schemas


class ToolCallError(ValueError):
    """A call the model got wrong (unknown tool, bad arguments, unknown docid): shown to the model."""


@dataclass(frozen=True)
class ToolResult:
    text: str
    """What the model reads."""
    output: dict[str, Any]
    """What the run file keeps: `{"results": [{docid, title, snippet, score}]}` or `{"docid", "text"}`."""


class Tools(Protocol):
    async def search(self, query: str, k: int) -> list[dict[str, Any]]: ...

    async def get_document(self, docid: str) -> dict[str, Any]: ...


def schemas(k: int = 10) -> list[dict[str, Any]]:
    return tool_schemas(Limits(), default_k=k)


async def call_tool(tools: Tools, name: str, arguments: Any, k: int) -> ToolResult:
    """Runs one call; `arguments` is the model's (a JSON object already decoded)."""
    if not isinstance(arguments, dict):
        raise ToolCallError(f"the arguments of {name} must be a JSON object, got {type(arguments).__name__}")
    if name == "search":
        query = arguments.get("query")
        if isinstance(query, list) and query and all(isinstance(q, str) for q in query):
            query = " ".join(query)
        if not isinstance(query, str) or not query.strip():
            raise ToolCallError('search needs {"query": "<non-empty text>"}')
        wanted = arguments.get("k", k)
        if isinstance(wanted, bool) or not isinstance(wanted, int) or not 1 <= wanted <= Limits().max_k:
            wanted = k
        results = await tools.search(query, wanted)
        text = search_output(query, [(r["docid"], r.get("title") or "", r.get("snippet") or "") for r in results])
        return ToolResult(text, {"results": results})
    if name == "get_document":
        docid = arguments.get("docid", arguments.get("id"))
        if isinstance(docid, int) and not isinstance(docid, bool):
            docid = str(docid)
        if not isinstance(docid, str) or not docid.strip():
            raise ToolCallError('get_document needs {"docid": "<a docid from the search results>"}')
        document = await tools.get_document(docid.strip())
        return ToolResult(f"Document {document['docid']}:\n{document['text']}", document)
    raise ToolCallError(f"unknown tool {name!r}; the tools are search and get_document")


class LocalTools:
    """Over a `lrat.server.CorpusSearch` in this process (encoding runs in a worker thread)."""

    def __init__(self, searcher: Any):
        self.searcher = searcher

    async def search(self, query: str, k: int) -> list[dict[str, Any]]:
        hits = await asyncio.to_thread(self.searcher.hits, [query], k)
        return [{"docid": h.docid, "title": h.title, "snippet": h.snippet, "score": h.score} for h in hits[0]]

    async def get_document(self, docid: str) -> dict[str, Any]:
        from lrat.server.search import DocumentNotFound

        try:
            text = self.searcher.get_document(docid)
        except DocumentNotFound:
            raise ToolCallError(f"no document with docid {docid!r}; use a docid from the search results") from None
        return {"docid": docid, "text": text}


class HttpTools:
    """Over a running `lrat serve` (`/search`, `/get_document`), one server session per question so the
    server logs each question's calls as its own trajectory."""

    def __init__(self, client: Any, base_url: str, session_id: str, api_key: str | None = None):
        self.client, self.base_url, self.session_id = client, base_url.rstrip("/"), session_id
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.base_url}/{route}", json={**body, "session_id": self.session_id}, headers=self.headers
        )
        if response.status_code in (404, 422):
            detail = response.json().get("error", response.text) if response.content else response.text
            raise ToolCallError(str(detail))
        response.raise_for_status()
        return response.json()

    async def start(self, question: str, query_id: str) -> None:
        await self._post("sessions", {"question": question, "query_id": query_id})

    async def finish(self, record: dict[str, Any]) -> None:
        """Ends the server's session with the run's answer and status."""
        answer = next((s["output"] for s in record["result"] if s["type"] == "output_text"), None)
        response = await self.client.post(
            f"{self.base_url}/sessions/{self.session_id}/end",
            json={"answer": answer, "status": record["status"]},
            headers=self.headers,
        )
        response.raise_for_status()

    async def search(self, query: str, k: int) -> list[dict[str, Any]]:
        return (await self._post("search", {"query": query, "k": k}))["results"]

    async def get_document(self, docid: str) -> dict[str, Any]:
        reply = await self._post("get_document", {"docid": docid})
        return {"docid": reply["docid"], "text": reply["text"]}
