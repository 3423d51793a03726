"""The search-agent loop over an OpenAI-compatible chat endpoint, one question at a time or many
concurrently, each run written as one BrowseComp-Plus run file that `read_trajectories` and `mine` read.

Per question: the model is called with the question and the tools (natively, or described in the
prompt and parsed from its text); each tool call is run and its result sent back; the run ends when the
model answers, or a budget ends it: `max_calls` tool calls (then the model is asked once, without
tools, for its final answer), `max_turns` model replies, `max_tokens` tokens in all. Transient endpoint
failures (429, 5xx, timeouts, dropped connections) are retried by the client with exponential backoff;
a question whose endpoint still fails is recorded in `errors.jsonl`, gets no run file and is retried by
the next run over the same folder (a question whose run file exists is skipped). Run files are written
whole (to a temporary name, then renamed), so a killed run leaves none half-written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lrat.agent.grading import judge, matches
from lrat.agent.questions import Question
from lrat.agent.text_calls import TEXT_MODE_PROMPT, parse_reply
from lrat.agent.tools import ToolCallError, Tools, call_tool, schemas

MODES = ("tools", "text")

TOOLS_MODE_PROMPT = """You answer questions by searching a document collection with the tools search and
get_document. Search, read the documents that look useful, and search again with what you learned until
you can answer. Then reply with the answer alone, without calling a tool."""

_FINAL_NUDGE = "You have used all your tool calls. Give your final answer now, without calling a tool."
_TEXT_NUDGE = "Call a tool as described, or give your final answer as <answer>…</answer>."


@dataclass(frozen=True)
class AgentSettings:
    model: str
    mode: str = "tools"
    max_calls: int = 20
    """Tool calls per question."""
    max_turns: int = 40
    """Model replies per question."""
    max_tokens: int | None = None
    """Tokens (prompt and completion, as the endpoint reports them) per question; None: no limit."""
    k: int = 10
    temperature: float | None = None
    max_reply_tokens: int | None = None
    system_prompt: str | None = None
    grade: str = "match"
    """How a question with a gold answer is graded: match (normalized), llm (a judge through the same
    endpoint) or none."""

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.grade not in ("match", "llm", "none"):
            raise ValueError(f"grade must be match, llm or none, got {self.grade!r}")
        for name in ("max_calls", "max_turns", "k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")


@dataclass
class _Run:
    question: Question
    steps: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    retrieved: set[str] = field(default_factory=set)
    usage: Counter[str] = field(default_factory=Counter)
    tool_errors: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0
    turns: int = 0
    answer: str | None = None
    stop: str = ""

    def reasoning(self, text: str | None) -> None:
        if text and text.strip():
            self.steps.append({"type": "reasoning", "tool_name": None, "arguments": None, "output": text.strip()})

    def reject(self, tool: str, arguments: str, error: str) -> str:
        """Counts a call the model got wrong and returns the error text it is shown."""
        self.calls += 1
        self.tool_errors.append({"tool": tool, "arguments": arguments[:500], "error": error})
        return f"Error: {error}"

    def add_usage(self, usage: Any) -> None:
        if usage is None:
            return
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(usage, key, None)
            if isinstance(value, int):
                self.usage[key] += value

    def over_tokens(self, settings: AgentSettings) -> bool:
        return settings.max_tokens is not None and self.usage["total_tokens"] >= settings.max_tokens


def run_file_name(question_id: str) -> str:
    """`<id>.json`, the id made safe for a file name (with a short hash when that changed it)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", question_id)[:120]
    if safe != question_id or safe.startswith("."):
        safe = f"{safe}-{hashlib.sha1(question_id.encode()).hexdigest()[:8]}"
    return f"{safe}.json"


async def _tool(run: _Run, tools: Tools, name: str, arguments: Any, settings: AgentSettings) -> str:
    """Runs one call of the model, records it, and returns the text the model reads."""
    try:
        result = await call_tool(tools, name, arguments, settings.k)
    except ToolCallError as exc:
        return run.reject(name, json.dumps(arguments, default=str), str(exc))
    run.calls += 1
    run.counts[name] += 1
    if name == "search":
        run.retrieved.update(r["docid"] for r in result.output["results"])
    run.steps.append(
        {
            "type": "tool_call",
            "tool_name": name,
            "arguments": json.dumps(arguments, ensure_ascii=False),
            "output": result.output,
        }
    )
    return result.text


def _reply_reasoning(message: Any) -> str | None:
    """The reasoning an endpoint returns beside the content (vLLM, SGLang, DeepSeek: `reasoning_content`;
    some servers: `reasoning`)."""
    for key in ("reasoning_content", "reasoning"):
        value = getattr(message, key, None)
        if value is None and getattr(message, "model_extra", None):
            value = message.model_extra.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


async def _complete(client: Any, run: _Run, settings: AgentSettings, messages: list, tools: bool) -> Any:
    kwargs: dict[str, Any] = {"model": settings.model, "messages": messages}
    if tools:
        kwargs["tools"] = schemas(settings.k)
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    if settings.max_reply_tokens is not None:
        kwargs["max_tokens"] = settings.max_reply_tokens
    reply = await client.chat.completions.create(**kwargs)
    run.turns += 1
    run.add_usage(getattr(reply, "usage", None))
    if not reply.choices:
        raise RuntimeError("the endpoint returned no choices")
    return reply.choices[0].message


async def _play_tools_mode(client: Any, tools: Tools, run: _Run, settings: AgentSettings) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": settings.system_prompt or TOOLS_MODE_PROMPT},
        {"role": "user", "content": run.question.text},
    ]
    final = False
    while True:
        if run.turns >= settings.max_turns:
            run.stop = "turn budget"
            return
        message = await _complete(client, run, settings, messages, tools=not final)
        run.reasoning(_reply_reasoning(message))
        calls = list(message.tool_calls or []) if not final else []
        content = message.content or ""
        if not calls:
            answer = _answer_in(content)
            if answer is not None:
                run.answer = answer
                run.stop = "answered"
                return
            if final:
                run.stop = "no answer"
                return
            messages.append({"role": "assistant", "content": content})
            messages.append({"role": "user", "content": "Call a tool or give your final answer."})
            continue
        run.reasoning(content)
        messages.append(
            {
                "role": "assistant",
                "content": content or None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.function.name, "arguments": c.function.arguments},
                    }
                    for c in calls
                ],
            }
        )
        for c in calls:
            if run.calls >= settings.max_calls:
                text = "Error: no tool calls left."
            else:
                try:
                    arguments = json.loads(c.function.arguments or "{}")
                except json.JSONDecodeError as exc:
                    run.reject(c.function.name, c.function.arguments or "", f"not JSON: {exc.msg}")
                    text = f"Error: the arguments are not valid JSON ({exc.msg} at column {exc.colno})."
                else:
                    text = await _tool(run, tools, c.function.name, arguments, settings)
            messages.append({"role": "tool", "tool_call_id": c.id, "content": text})
        if run.over_tokens(settings):
            run.stop = "token budget"
            return
        if run.calls >= settings.max_calls and not final:
            final = True
            messages.append({"role": "user", "content": _FINAL_NUDGE})


def _answer_in(content: str) -> str | None:
    """The answer in a tools-mode reply without native calls: its `<answer>` when tagged, else the whole
    text, unless the text is nothing but tool calls written out (no answer then)."""
    parsed = parse_reply(content)
    if parsed.answer is not None:
        return parsed.answer
    if not content.strip() or (parsed.calls and not parsed.reasoning):
        return None
    return content.strip()


async def _play_text_mode(client: Any, tools: Tools, run: _Run, settings: AgentSettings) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": settings.system_prompt or TEXT_MODE_PROMPT},
        {"role": "user", "content": run.question.text},
    ]
    final = False
    while True:
        if run.turns >= settings.max_turns:
            run.stop = "turn budget"
            return
        message = await _complete(client, run, settings, messages, tools=False)
        run.reasoning(_reply_reasoning(message))
        content = message.content or ""
        parsed = parse_reply(content)
        messages.append({"role": "assistant", "content": content})
        if parsed.answer is not None and (not parsed.calls or final):
            run.reasoning(parsed.reasoning)
            run.answer = parsed.answer
            run.stop = "answered"
            return
        run.reasoning(parsed.reasoning)
        if final:
            run.stop = "no answer"
            return
        if not parsed.calls:
            messages.append({"role": "user", "content": _TEXT_NUDGE})
            continue
        responses = []
        for call in parsed.calls:
            if run.calls >= settings.max_calls:
                responses.append("Error: no tool calls left.")
            elif call.error is not None:
                responses.append(run.reject(call.name, call.raw, call.error))
            else:
                responses.append(await _tool(run, tools, call.name, call.arguments, settings))
        messages.append(
            {"role": "user", "content": "\n".join(f"<tool_response>\n{r}\n</tool_response>" for r in responses)}
        )
        if run.over_tokens(settings):
            run.stop = "token budget"
            return
        if run.calls >= settings.max_calls:
            final = True
            messages.append({"role": "user", "content": _FINAL_NUDGE + " Write it as <answer>…</answer>."})


async def run_question(client: Any, tools: Tools, question: Question, settings: AgentSettings) -> dict[str, Any]:
    """Plays one question; returns its BrowseComp-Plus run record."""
    run = _Run(question)
    started = time.time()
    play = _play_tools_mode if settings.mode == "tools" else _play_text_mode
    await play(client, tools, run, settings)
    if run.answer is not None:
        run.steps.append({"type": "output_text", "tool_name": None, "arguments": None, "output": run.answer})
    record: dict[str, Any] = {
        "query_id": question.id,
        "query": question.text,
        "status": "completed" if run.answer is not None else "incomplete",
        "tool_call_counts": dict(run.counts),
        "retrieved_docids": sorted(run.retrieved),
    }
    if question.answer is not None:
        record["answer"] = question.answer
        if settings.grade == "match":
            record["correct"] = matches(run.answer, question.answer)
        elif settings.grade == "llm":
            record["correct"] = await judge(client, settings.model, question.text, question.answer, run.answer)
    record["metadata"] = {
        "agent": "lrat agent run",
        "model": settings.model,
        "mode": settings.mode,
        "stop": run.stop,
        "tool_calls": run.calls,
        "model_calls": run.turns,
        "usage": dict(run.usage),
        "tool_errors": run.tool_errors,
        "started": started,
        "ended": time.time(),
        "grading": settings.grade if question.answer is not None else None,
    }
    record["result"] = run.steps
    return record


@dataclass
class RunSummary:
    questions: int = 0
    skipped: int = 0
    """Questions whose run file already existed."""
    written: int = 0
    completed: int = 0
    correct: int = 0
    graded: int = 0
    errors: int = 0
    """Questions whose endpoint failed after the client's retries (no run file; see errors.jsonl)."""
    tool_calls: int = 0
    tool_errors: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        graded = f", correct {self.correct}/{self.graded}" if self.graded else ""
        return (
            f"{self.questions} questions: {self.written} written, {self.skipped} already done, {self.errors} failed "
            f"(errors.jsonl); {self.completed} answered{graded}; {self.tool_calls} tool calls "
            f"({self.tool_errors} rejected), {self.tokens} tokens; {self.elapsed_s:.0f} s"
        )


async def run_questions(
    client: Any,
    make_tools: Callable[[Question], Any],
    questions: list[Question],
    out: str | os.PathLike[str],
    settings: AgentSettings,
    *,
    concurrency: int = 4,
    progress: bool = True,
) -> RunSummary:
    """Plays every question that has no run file in `out/runs` yet, `concurrency` at a time, and writes
    `out/runs/<id>.json` for each (the folder `lrat mine` reads); endpoint failures go to
    `out/errors.jsonl`. `make_tools` gives each question its tools: an async context manager yielding a
    `Tools`."""
    settings.check()
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    folder = Path(out) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(questions=len(questions))
    pending = []
    for q in questions:
        if (folder / run_file_name(q.id)).is_file():
            summary.skipped += 1
        else:
            pending.append(q)
    gate = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    done = 0
    errors_path = Path(out) / "errors.jsonl"

    async def one(question: Question) -> None:
        nonlocal done
        async with gate:
            try:
                async with make_tools(question) as tools:
                    record = await run_question(client, tools, question, settings)
                    finish = getattr(tools, "finish", None)
                    if finish is not None:
                        await finish(record)
            except Exception as exc:  # the endpoint failed beyond its retries: record, keep going
                summary.errors += 1
                with open(errors_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"query_id": question.id, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
            else:
                target = folder / run_file_name(question.id)
                partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
                partial.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
                os.replace(partial, target)
                summary.written += 1
                summary.completed += record["status"] == "completed"
                if "correct" in record:
                    summary.graded += 1
                    summary.correct += bool(record["correct"])
                meta = record["metadata"]
                summary.tool_calls += meta["tool_calls"]
                summary.tool_errors += len(meta["tool_errors"])
                summary.tokens += meta["usage"].get("total_tokens", 0)
            done += 1
            if progress:
                elapsed = time.perf_counter() - start
                eta = elapsed / done * (len(pending) - done)
                print(
                    f"[{done}/{len(pending)}] {question.id}: {summary.completed} answered, {summary.errors} failed; "
                    f"{elapsed:.0f} s, ETA {eta:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    await asyncio.gather(*(one(q) for q in pending))
    summary.elapsed_s = time.perf_counter() - start
    return summary
