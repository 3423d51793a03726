"""The HTTP service (FastAPI on uvicorn) that agents call as their search tool.

    POST /search          {query, k?, snippet_tokens?, reasoning?, context?, session_id?} → {session_id, results}
    POST /get_document    {docid, reasoning?, session_id?}                      → {session_id, docid, title, text}
    GET  /tools           both tools in OpenAI function-calling form
    POST /sessions        {question?, query_id?, session_id?, metadata?}                    → {session_id}
    POST /sessions/{id}/end  {answer?, status?, reasoning?}                      → {session_id, status, steps}
    POST /mcp             MCP (JSON-RPC 2.0: initialize, tools/list, tools/call), see `lrat.server.mcp`
    GET  /health

A session is one agent run. Its id comes from the body's `session_id`, else the `X-Session-Id`
header; a call with neither opens a new session, whose id the response returns (body and header) for
the client to send with its next calls. `reasoning`, when sent with a call, is logged as a reasoning
step just before that call. Errors are JSON `{"error": message}` with status 404 (unknown document
or session), 413 (body over the limit), 422 (invalid fields, with `detail` naming each).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrat.server.mcp import McpDispatcher
from lrat.server.service import SearchService, ToolError, new_session_id
from lrat.server.sessions import SessionNotFound
from lrat.server.surrogates import ESCAPED

SESSION_HEADER = "x-session-id"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Body):
    query: str = Field(min_length=1)
    k: int | None = None
    snippet_tokens: int | None = None
    reasoning: str | None = None
    context: str | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=200)


class GetDocumentRequest(_Body):
    docid: str = Field(min_length=1)
    reasoning: str | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=200)


class StartRequest(_Body):
    question: str | None = None
    query_id: str | None = Field(default=None, min_length=1, max_length=200)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None


class EndRequest(_Body):
    answer: str | None = None
    status: str = "completed"
    reasoning: str | None = None


class BodySizeLimit:
    """Answers 413 to a request whose body exceeds `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send, int(value))
                return
        # Read the (bounded) body here, so that an oversized one is refused before any handler runs.
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._reject(send, received)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, size: int) -> None:
        body = json.dumps(
            {"error": f"request body of {size} bytes or more exceeds the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class CleanSurrogates:
    """Replaces lone UTF-16 surrogates in a JSON body by U+FFFD (counted by the service) before any
    handler parses it, so that no text that cannot be written as UTF-8 reaches a session."""

    def __init__(self, app: ASGIApp, service: SearchService):
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if ESCAPED.search(body):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None  # the handler answers the parse error
            if parsed is not None:
                body = json.dumps(self.service.clean(parsed)).encode()
                headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-length"]
                scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class BearerAuth:
    """Every route but `/health` requires `Authorization: Bearer <api_key>` (401 otherwise)."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "missing or wrong API key: send Authorization: Bearer <key>"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _session(body_id: str | None, request: Request) -> str:
    return body_id or request.headers.get(SESSION_HEADER) or new_session_id()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(
    service: SearchService,
    *,
    idle_timeout: float | None = 1800.0,
    idle_check_every: float = 30.0,
    api_key: str | None = None,
    compact_journal_bytes: int = 64 << 20,
) -> FastAPI:
    """The ASGI app. Its shutdown (lifespan end: uvicorn's graceful stop, or a TestClient closing)
    ends every open session and writes its trajectory, after the requests in flight are answered.
    With `api_key`, every route but `/health` requires it as a Bearer token. Every `idle_check_every`
    seconds, idle sessions are ended and the journal is compacted once it holds more than
    `compact_journal_bytes`."""
    lifespan = _housekeeping_lifespan(service, idle_timeout, idle_check_every, compact_journal_bytes)
    app = FastAPI(title="lrat search service", lifespan=lifespan)
    _add_error_handlers(app)
    _add_routes(app, service)
    app.add_middleware(CleanSurrogates, service=service)
    app.add_middleware(BodySizeLimit, max_bytes=service.limits.max_body_bytes)
    if api_key:
        app.add_middleware(BearerAuth, api_key=api_key)
    return app


def _housekeeping_lifespan(service: SearchService, idle_timeout: float | None, every: float, compact_bytes: int) -> Any:
    """Runs the housekeeping (idle sessions ended, the journal compacted) every `every` seconds while
    the app lives; one failure is reported and the next round runs. At the end, every open session
    is ended and written."""

    def housekeeping() -> None:
        if idle_timeout is not None:
            service.log.end_idle(idle_timeout)
        service.log.compact_if_larger(compact_bytes)

    async def reap() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await run_in_threadpool(housekeeping)
            except Exception as exc:  # noqa: BLE001 - one failure must not end the housekeeping
                print(f"lrat serve: housekeeping failed: {exc!r}", file=sys.stderr)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        reaper = asyncio.create_task(reap())
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await run_in_threadpool(service.log.close)

    return lifespan


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body", "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in detail)
        return _error(422, f"invalid request: {message}", detail=detail)

    @app.exception_handler(ToolError)
    async def tool_error(request: Request, exc: ToolError) -> JSONResponse:
        return _error(exc.status, str(exc))


def _add_routes(app: FastAPI, service: SearchService) -> None:
    mcp = McpDispatcher(service)

    @app.get("/tools")
    async def tools() -> list[dict[str, Any]]:
        return service.tools()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "documents": len(service.searcher),
            "open_sessions": len(service.log.open_sessions()),
            "evicted_sessions": service.log.evicted,
            "replaced_surrogates": service.replaced_surrogates,
        }

    @app.post("/search")
    async def search(body: SearchRequest, request: Request) -> JSONResponse:
        sid = _session(body.session_id, request)
        hits = await run_in_threadpool(
            service.search,
            sid,
            body.query,
            body.k,
            reasoning=body.reasoning,
            context=body.context,
            snippet_tokens=body.snippet_tokens,
        )
        results = [{"docid": h.docid, "score": h.score, "title": h.title, "snippet": h.snippet} for h in hits]
        return JSONResponse({"session_id": sid, "query": body.query, "results": results}, headers={SESSION_HEADER: sid})

    @app.post("/get_document")
    async def get_document(body: GetDocumentRequest, request: Request) -> JSONResponse:
        sid = _session(body.session_id, request)
        text = await run_in_threadpool(service.get_document, sid, body.docid, reasoning=body.reasoning)
        return JSONResponse(
            {"session_id": sid, "docid": body.docid, "title": service.searcher.title(body.docid), "text": text},
            headers={SESSION_HEADER: sid},
        )

    @app.post("/sessions")
    async def start(body: StartRequest, request: Request) -> JSONResponse:
        sid = _session(body.session_id, request)
        await run_in_threadpool(service.log.start, sid, body.question, body.metadata, body.query_id)
        return JSONResponse({"session_id": sid}, headers={SESSION_HEADER: sid})

    @app.post("/sessions/{session_id}/end")
    async def end(session_id: str, body: EndRequest) -> JSONResponse:
        def finish() -> dict[str, Any]:
            if body.reasoning:
                if session_id not in service.log.open_sessions():
                    raise SessionNotFound(session_id)
                service.log.log_reasoning(session_id, body.reasoning)
            return service.log.end(session_id, answer=body.answer, status=body.status)

        try:
            record = await run_in_threadpool(finish)
        except SessionNotFound:
            return _error(404, f"session {session_id!r} is not open (never started, or already ended)")
        return JSONResponse({"session_id": session_id, "status": record["status"], "steps": len(record["result"])})

    @app.post("/mcp")
    async def mcp_endpoint(request: Request) -> JSONResponse:
        raw = await request.body()
        sid = request.headers.get("mcp-session-id") or request.headers.get(SESSION_HEADER)
        reply, sid = await run_in_threadpool(mcp.handle_raw, raw, sid)
        headers = {"mcp-session-id": sid} if sid else {}
        if reply is None:
            return JSONResponse(None, status_code=202, headers=headers)
        return JSONResponse(reply, headers=headers)
