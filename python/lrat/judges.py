"""Judges of post-browse reasoning: does the reasoning the agent wrote after reading a page say the
page helped? A judge is any callable from a list of reasoning texts to a list of booleans
(True = RELEVANT)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lrat import _core

Judge = Callable[[Sequence[str]], Sequence[bool]]

JUDGE_PROMPT = """You are judging whether a web page helped a search agent. You see only the reasoning the \
agent wrote right after reading the page.

Answer NOT_RELEVANT only when the reasoning clearly rejects the page: it says the page is irrelevant or \
unrelated, does not help, has no useful information, or is about something else. In every other case, \
including when the reasoning is unclear, answer RELEVANT.

Reasoning:
<<<
{reasoning}
>>>

Answer with one word: RELEVANT or NOT_RELEVANT."""


def rule_judge(reasonings: Sequence[str]) -> list[bool]:
    """The built-in offline judge: negation-aware phrase rules that detect explicit rejection."""
    return _core.judge_reasonings(list(reasonings))


@dataclass
class ChatJudge:
    """A judge that asks an OpenAI-compatible chat endpoint, as the paper's LLM judge does.

    A call that still fails after `retries` attempts counts as NOT_RELEVANT, as in the paper, and is
    counted in `failed`.
    """

    url: str
    model: str
    api_key: str | None = None
    prompt: str = JUDGE_PROMPT
    retries: int = 3
    timeout: float = 60.0
    concurrency: int = 8
    max_chars: int = 8000
    failed: int = field(default=0, init=False)
    calls: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def _endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else f"{url}/chat/completions"

    def _ask(self, reasoning: str) -> bool:
        body = json.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": self.prompt.format(reasoning=reasoning[: self.max_chars])}],
                "temperature": 0,
                "max_tokens": 8,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries):
            try:
                request = urllib.request.Request(self._endpoint(), data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = json.load(response)["choices"][0]["message"]["content"]
                return "NOT_RELEVANT" not in answer.upper().replace("-", "_").replace(" ", "_")
            except (urllib.error.URLError, OSError, KeyError, IndexError, TypeError, ValueError):
                if attempt + 1 < self.retries:
                    time.sleep(min(2.0**attempt * 0.5, 8.0))
        with self._lock:  # the pool's threads fail at once
            self.failed += 1
        return False

    def __call__(self, reasonings: Sequence[str]) -> list[bool]:
        with self._lock:
            self.calls += len(reasonings)
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(self._ask, reasonings))


def resolve_judge(judge: str | Judge | None) -> str | Judge:
    """ "rules" and "none" are handled inside the Rust core; anything else must be a callable."""
    if judge is None or judge is False:
        return "none"
    if isinstance(judge, str):
        if judge not in ("rules", "none"):
            raise ValueError(f"judge must be 'rules', 'none' or a callable, not {judge!r}")
        return judge
    if not callable(judge):
        raise TypeError(f"judge must be 'rules', 'none' or a callable, not {type(judge).__name__}")
    return judge
