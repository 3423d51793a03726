"""Grading an agent's final answer against the gold one: normalized match (SQuAD's normalization:
lower case, no punctuation, no articles, single spaces; correct when the gold answer appears in the
prediction as whole words), or an LLM judge through the same endpoint as the agent."""

from __future__ import annotations

import re
import string
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def matches(prediction: str | None, gold: str) -> bool:
    if not prediction:
        return False
    p, g = normalize_answer(prediction), normalize_answer(gold)
    return bool(g) and (p == g or f" {g} " in f" {p} ")


JUDGE_PROMPT = """Judge whether a response answers a question correctly, given the correct answer.
Question: {question}
Correct answer: {gold}
Response: {prediction}
Reply with one word: yes if the response states the correct answer (same meaning, any wording), no otherwise."""


async def judge(client: Any, model: str, question: str, gold: str, prediction: str | None) -> bool:
    """An LLM's yes/no verdict (a reply that does not start with yes counts as no)."""
    if not prediction:
        return False
    reply = await client.chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": JUDGE_PROMPT.format(question=question, gold=gold, prediction=prediction)}
        ],
        temperature=0,
        max_tokens=8,
    )
    verdict = (reply.choices[0].message.content or "").strip().lower()
    return verdict.startswith("yes")
