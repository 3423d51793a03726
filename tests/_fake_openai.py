"""A scripted OpenAI-compatible chat endpoint for the agent tests: a thread serving
`POST /v1/chat/completions` on localhost, its replies decided by the conversation so far, so that every
run is deterministic. The question's text picks the script:

- "...": plain: search the question, open the first result, answer (tool calls or text, per request);
- contains "malformed": the first tool call's arguments are not JSON;
- contains "ratelimit": the first request of the question gets 429, then the plain script;
- contains "slow": the first request of the question sleeps past the client's timeout, then plain;
- contains "stubborn": searches forever and never answers.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "The answer is river"


class FakeEndpoint:
    def __init__(self, slow_seconds: float = 2.0):
        self.slow_seconds = slow_seconds
        self.requests = 0
        self.first_seen: set[str] = set()
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, reply = endpoint.reply(body)
                if status == "sleep":
                    time.sleep(endpoint.slow_seconds)
                    status = 200
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("retry-after-ms", "10")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        messages = body["messages"]
        question = next(m["content"] for m in messages if m["role"] == "user")
        with self.lock:
            self.requests += 1
            first = question not in self.first_seen
            self.first_seen.add(question)
        if "judge whether" in question.lower():
            return 200, _completion("yes")
        if first and "ratelimit" in question:
            return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}
        if first and "slow" in question:
            return "sleep", _completion("too late")
        native = "tools" in body
        results = [m["content"] for m in messages if m["role"] == "tool" or "<tool_response>" in (m["content"] or "")]
        if "stubborn" in question:
            return 200, _call(native, len(messages), "search", {"query": f"{question} {len(messages)}"})
        if not results:
            if "malformed" in question and not any(m["role"] == "assistant" for m in messages):
                return 200, _call(native, 0, "search", None)
            return 200, _call(native, 0, "search", {"query": question}, reasoning="I should search first.")
        last = results[-1]
        if last.startswith("Error") or "<tool_response>\nError" in last:
            return 200, _call(native, len(messages), "search", {"query": question}, reasoning="Let me retry.")
        if "Document " not in last:
            docid = re.search(r"DocID:(\S+)", last).group(1)
            return 200, _call(
                native, len(messages), "get_document", {"docid": docid}, reasoning="The first one looks right."
            )
        text = (
            "The document confirms it: the river named in the question is described here in detail, "
            "with its source, its course and the cities along it, which is exactly what was asked. "
        )
        return 200, _completion(text + (ANSWER if native else f"<answer>{ANSWER}</answer>"))


def _completion(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def _call(native: bool, n: int, name: str, arguments: dict[str, Any] | None, reasoning: str = "") -> dict[str, Any]:
    raw = "{not json" if arguments is None else json.dumps(arguments)
    if native:
        return _completion(
            reasoning or None, [{"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": raw}}]
        )
    if arguments is None:
        return _completion(f'{reasoning}\n<tool_call>{{"name": "{name}", "arguments": {{not json}}</tool_call>')
    return _completion(f"{reasoning}\n<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>")
