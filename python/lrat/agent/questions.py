"""Questions for `lrat agent run`, from the three layouts agents' benchmarks ship in:

- BEIR `queries.jsonl`: `{"_id", "text", "answer"?}` per line (`lrat.beir.read_queries_jsonl`);
- a TSV of `id <tab> question [<tab> answer]` lines, as `InfoSeek-Eval.tsv`;
- BrowseComp-Plus-style JSONL: `{"query_id", "query", "answer"?}` per line (also `id`/`question`).

Errors name the file, the line and what is wrong; ids must be unique, since each names a run file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answer: str | None = None


class QuestionsError(ValueError):
    """A questions file that cannot be read."""


_ID_KEYS = ("query_id", "_id", "id", "question_id", "qid")
_TEXT_KEYS = ("query", "text", "question", "problem")
_ANSWER_KEYS = ("answer", "gold_answer", "gt_answer", "ground_truth")


def read_questions(path: str | os.PathLike[str]) -> list[Question]:
    path = Path(path)
    if not path.is_file():
        raise QuestionsError(f"{path}: no such file")
    if path.suffix.lower() in (".tsv", ".txt"):
        questions = _read_tsv(path)
    else:
        questions = _read_jsonl(path)
    seen: dict[str, int] = {}
    for number, q in enumerate(questions, start=1):
        if q.id in seen:
            raise QuestionsError(f"{path}: question id {q.id!r} appears twice (records {seen[q.id]} and {number})")
        seen[q.id] = number
    if not questions:
        raise QuestionsError(f"{path}: no questions")
    return questions


def _read_tsv(path: Path) -> list[Question]:
    out: list[Question] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            parts = text.split("\t")
            if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                raise QuestionsError(f"{path}:{number}: expected `id <tab> question [<tab> answer]`: {text[:80]!r}")
            if number == 1 and parts[0].strip().lower() in ("id", "query_id", "qid") and len(out) == 0:
                continue  # a header
            answer = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
            out.append(Question(parts[0].strip(), parts[1].strip(), answer))
    return out


def _read_jsonl(path: Path) -> list[Question]:
    out: list[Question] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuestionsError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise QuestionsError(f"{where}: expected a JSON object, found {type(obj).__name__}")
            qid = _first(obj, _ID_KEYS)
            text = _first(obj, _TEXT_KEYS)
            if qid is None:
                raise QuestionsError(f"{where}: no question id (one of {', '.join(_ID_KEYS)})")
            if text is None or not text.strip():
                raise QuestionsError(f"{where}: question {qid!r} has no text (one of {', '.join(_TEXT_KEYS)})")
            answer = _first(obj, _ANSWER_KEYS)
            if answer is None and isinstance(obj.get("metadata"), dict):
                answer = _first(obj["metadata"], _ANSWER_KEYS)
            out.append(Question(qid, text.strip(), answer))
    return out


def _first(obj: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            return value
    return None
