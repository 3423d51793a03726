"""The Model Context Protocol face of the service: the same two tools, over JSON-RPC 2.0.

This is a minimal implementation written here (the `mcp` package is not used): `initialize`,
`ping`, `tools/list` and `tools/call`, plus notifications (no reply). It is served over HTTP at
`POST /mcp` (one JSON-RPC message or batch per request, a JSON reply; the session id travels in the
`Mcp-Session-Id` header, assigned at `initialize`) and over stdio by `lrat serve --mcp-stdio` (one
message per line, one session for the process). Tool arguments may carry `reasoning`, logged as a
reasoning step before the call.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from lrat import __version__
from lrat.server.search import CorpusSearch
from lrat.server.service import SearchService, ToolError, new_session_id

PROTOCOL_VERSION = "2025-03-26"
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602


class _RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class McpDispatcher:
    def __init__(self, service: SearchService):
        self.service = service

    def tools(self) -> list[dict[str, Any]]:
        return [
            {
                "name": f["function"]["name"],
                "description": f["function"]["description"],
                "inputSchema": f["function"]["parameters"],
            }
            for f in self.service.tools()
        ]

    def handle_raw(self, raw: bytes | str, session_id: str | None) -> tuple[Any, str | None]:
        """Answers one JSON-RPC message or batch: (the reply or None, the session id to use)."""
        try:
            message = json.loads(raw)
        except ValueError as exc:
            return _error(None, PARSE_ERROR, f"not JSON: {exc}"), session_id
        message = self.service.clean(message)
        if isinstance(message, list):
            if not message:
                return _error(None, INVALID_REQUEST, "empty batch"), session_id
            replies = []
            for m in message:
                reply, session_id = self.handle(m, session_id)
                if reply is not None:
                    replies.append(reply)
            return (replies or None), session_id
        return self.handle(message, session_id)

    def handle(self, message: Any, session_id: str | None) -> tuple[dict[str, Any] | None, str | None]:
        if (
            not isinstance(message, dict)
            or message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
        ):
            rid = message.get("id") if isinstance(message, dict) else None
            return _error(rid, INVALID_REQUEST, "expected a JSON-RPC 2.0 object with a string `method`"), session_id
        rid, method = message.get("id"), message["method"]
        params = message.get("params") or {}
        is_notification = "id" not in message
        try:
            if not isinstance(params, dict):
                raise _RpcError(INVALID_PARAMS, "params must be an object")
            if method == "initialize":
                session_id = session_id or new_session_id()
                result: Any = {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {"tools": {"listChanged": False}},
                    "serverInfo": {"name": "lrat", "version": __version__},
                }
            elif method == "ping":
                result = {}
            elif method == "tools/list":
                result = {"tools": self.tools()}
            elif method == "tools/call":
                session_id = session_id or new_session_id()
                result = self._call(session_id, params)
            elif method.startswith("notifications/"):
                result = None
            else:
                raise _RpcError(METHOD_NOT_FOUND, f"unknown method {method!r}")
        except _RpcError as exc:
            return (None if is_notification else _error(rid, exc.code, str(exc))), session_id
        if is_notification:
            return None, session_id
        return {"jsonrpc": "2.0", "id": rid, "result": result}, session_id

    def _call(self, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
        name, args = params.get("name"), params.get("arguments") or {}
        if not isinstance(args, dict):
            raise _RpcError(INVALID_PARAMS, "arguments must be an object")
        args = dict(args)
        reasoning = args.pop("reasoning", None)
        context = args.pop("context", None) if name == "search" else None
        try:
            if name == "search":
                unknown = set(args) - {"query", "k"}
                if unknown:
                    raise ToolError(f"search takes query and k, not {', '.join(sorted(unknown))}")
                query = args.get("query")
                hits = self.service.search(session_id, query, args.get("k"), reasoning=reasoning, context=context)
                text = CorpusSearch.search_text(query, hits)
            elif name == "get_document":
                unknown = set(args) - {"docid"}
                if unknown:
                    raise ToolError(f"get_document takes docid, not {', '.join(sorted(unknown))}")
                docid = args.get("docid")
                text = f"Document {docid}:\n" + self.service.get_document(session_id, docid, reasoning=reasoning)
            else:
                raise _RpcError(INVALID_PARAMS, f"unknown tool {name!r}; the tools are search and get_document")
        except ToolError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        return {"content": [{"type": "text", "text": text}], "isError": False}


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def serve_stdio(service: SearchService, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    """MCP over stdio: one message per line in, one reply per line out, until end of input; then
    every open session is ended and written."""
    dispatcher = McpDispatcher(service)
    session_id: str | None = new_session_id()
    try:
        for line in stdin:
            if not line.strip():
                continue
            reply, session_id = dispatcher.handle_raw(line, session_id)
            if reply is not None:
                stdout.write(json.dumps(reply, ensure_ascii=False) + "\n")
                stdout.flush()
    finally:
        service.log.close()
