"""Tool calls written in a reply's text, for models served without native tool calling:

- Qwen style: `<tool_call>{"name": "search", "arguments": {"query": "…"}}</tool_call>`;
- ReAct: `Action: search[query]`, `Action: get_document[docid]`, `Action: finish[answer]`
  (`Action 3: Search[…]` too);
- a final answer in `<answer>…</answer>` (or ReAct's `finish[…]`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_QWEN = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_REACT = re.compile(r"^\s*Action(?:\s*\d+)?\s*:\s*([A-Za-z_]+)\s*\[(.*)\]\s*$", re.MULTILINE)
_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)

_REACT_TOOLS = {
    "search": ("search", "query"),
    "get_document": ("get_document", "docid"),
    "open": ("get_document", "docid"),
}


@dataclass(frozen=True)
class TextCall:
    name: str
    arguments: Any
    """The decoded arguments, or None when they could not be read (`error` says why)."""
    raw: str
    error: str | None = None


@dataclass(frozen=True)
class ParsedReply:
    calls: list[TextCall]
    answer: str | None
    reasoning: str
    """The reply with its tool calls and answer taken out."""


def parse_reply(text: str) -> ParsedReply:
    calls: list[TextCall] = []
    for match in _QWEN.finditer(text):
        raw = match.group(1)
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            calls.append(TextCall("", None, raw, f"the <tool_call> is not JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            calls.append(TextCall("", None, raw, 'a <tool_call> must be {"name": …, "arguments": {…}}'))
            continue
        arguments = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                calls.append(TextCall(obj["name"], None, raw, "the arguments are not a JSON object"))
                continue
        calls.append(TextCall(obj["name"], arguments, raw))
    answer = None
    if (found := _ANSWER.search(text)) is not None:
        answer = found.group(1).strip()
    if not calls:
        for match in _REACT.finditer(text):
            verb, value = match.group(1).lower(), match.group(2).strip()
            if verb == "finish":
                answer = value
                break
            tool = _REACT_TOOLS.get(verb)
            if tool is None:
                calls.append(TextCall(verb, None, match.group(0), f"unknown action {match.group(1)!r}"))
            else:
                calls.append(TextCall(tool[0], {tool[1]: value}, match.group(0)))
    reasoning = _QWEN.sub("", _ANSWER.sub("", text))
    reasoning = _THINK.sub(lambda m: m.group(0)[7:-8], reasoning).strip()
    return ParsedReply(calls, answer, reasoning)


TEXT_MODE_PROMPT = """You answer questions by searching a document collection. You have two tools:
- search(query): returns the best-matching documents, each with its docid, title and a snippet;
- get_document(docid): returns the full text of one document.
To call a tool, write exactly one line such as
<tool_call>{"name": "search", "arguments": {"query": "your query"}}</tool_call>
and stop; the result comes back in the next message. Think before each call. When you know the answer,
write it as <answer>your answer</answer>."""
