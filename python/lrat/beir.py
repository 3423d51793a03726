"""Collections in the BEIR layout: `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`.

- `corpus.jsonl`: one object per line with `_id`, `text` and optionally `title`.
- `queries.jsonl`: one object per line with `_id` and `text`; an answer, when the collection has one,
  is read from `answer` or `metadata.answer` (a string or a list of strings, the first counts).
- `qrels/<split>.tsv`: a header line, then `query-id <tab> corpus-id <tab> score` rows; a document is
  evidence for a query when its score is positive.

Errors name the file, the line and what is wrong. Qrels rows that name a document absent from the
corpus, or a query absent from the queries, are counted in the `Collection` (and left out), not fatal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


class CollectionError(ValueError):
    """A file of a collection is missing or malformed; the message names the file and the line."""


@dataclass
class Collection:
    """A corpus (`doc_id, title, text`; the text starts with the title on its own line, as the
    retriever and the simulated agent see it) and the questions that have evidence (`query_id,
    question, answer, evidence`), with what was left out of the qrels."""

    name: str
    corpus: pl.DataFrame
    questions: pl.DataFrame
    unknown_documents: int = 0
    """Qrels rows naming a document that is not in the corpus."""
    unknown_queries: int = 0
    """Qrels rows naming a query that is not in the queries file."""
    queries_without_evidence: int = 0
    """Queries of the queries file with no positive qrels row (not benchmarked)."""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.name}: {self.corpus.height} documents, {self.questions.height} questions with evidence "
            f"(mean {self.questions['evidence'].list.len().mean() or 0:.2f} evidence documents each)"
        )
        skipped = []
        if self.unknown_documents:
            skipped.append(f"{self.unknown_documents} qrels rows name a document not in the corpus")
        if self.unknown_queries:
            skipped.append(f"{self.unknown_queries} qrels rows name a query not in queries.jsonl")
        if self.queries_without_evidence:
            skipped.append(f"{self.queries_without_evidence} queries have no evidence")
        return text + (f"; left out: {'; '.join(skipped)}" if skipped else "")


def _jsonl(path: Path) -> Any:
    if not path.is_file():
        raise CollectionError(f"{path}: no such file")
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CollectionError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise CollectionError(f"{path}:{number}: expected a JSON object, found {type(obj).__name__}")
            yield number, obj


def _string(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise CollectionError(f"{where}: missing `{key}`")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "_id":
        return str(value)
    if not isinstance(value, str):
        raise CollectionError(f"{where}: `{key}` is {type(value).__name__}, not a string")
    return value


def _records_with_ids(path: Path, what: str) -> Any:
    """(`file:line`, `_id`, object) of each record; an id seen twice is an error."""
    seen: dict[str, int] = {}
    for number, obj in _jsonl(path):
        where = f"{path}:{number}"
        key = _string(obj, "_id", where)
        if key in seen:
            raise CollectionError(f"{where}: {what} id {key!r} already appeared on line {seen[key]}")
        seen[key] = number
        yield where, key, obj


def read_corpus_jsonl(path: str | os.PathLike[str]) -> pl.DataFrame:
    """`doc_id, title, text` of a BEIR corpus; the text is prefixed with the title's own line."""
    path = Path(path)
    ids, titles, texts = [], [], []
    for where, doc_id, obj in _records_with_ids(path, "document"):
        text = _string(obj, "text", where) or ""
        title = (_string(obj, "title", where, required=False) or "").strip()
        if not text.strip() and not title:
            raise CollectionError(f"{where}: document {doc_id!r} has neither text nor title")
        ids.append(doc_id)
        titles.append(title)
        texts.append(f"{title}\n{text}" if title and not text.startswith(title) else text)
    if not ids:
        raise CollectionError(f"{path}: no documents")
    return pl.DataFrame({"doc_id": ids, "title": titles, "text": texts})


def _answer(obj: dict[str, Any]) -> str | None:
    for holder in (obj, obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}):
        value = holder.get("answer", holder.get("answers"))
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v.strip()), None)
        if isinstance(value, str) and value.strip():
            return value
    return None


def read_queries_jsonl(path: str | os.PathLike[str]) -> pl.DataFrame:
    """`query_id, question, answer` of a BEIR queries file (answer null when the file has none)."""
    path = Path(path)
    rows = []
    for where, qid, obj in _records_with_ids(path, "query"):
        text = _string(obj, "text", where)
        if not text.strip():
            raise CollectionError(f"{where}: query {qid!r} has an empty text")
        rows.append({"query_id": qid, "question": text, "answer": _answer(obj)})
    return pl.DataFrame(rows, schema={"query_id": pl.String, "question": pl.String, "answer": pl.String})


def read_qrels_tsv(path: str | os.PathLike[str]) -> list[tuple[str, str, int]]:
    """`(query_id, doc_id, score)` rows of a BEIR qrels file: a header, then three tab-separated
    columns (a four-column TREC line `qid 0 docid score` is read too)."""
    path = Path(path)
    if not path.is_file():
        raise CollectionError(f"{path}: no such file")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.rstrip("\n\r")
            if not text.strip():
                continue
            parts = text.split("\t") if "\t" in text else text.split()
            if number == 1 and not _is_int(parts[-1]):
                continue  # the header
            if len(parts) == 4:
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise CollectionError(
                    f"{path}:{number}: expected `query-id corpus-id score`, found {len(parts)} column(s): {text[:80]!r}"
                )
            qid, doc_id, score = (p.strip() for p in parts)
            if not _is_int(score):
                raise CollectionError(f"{path}:{number}: score {score!r} is not an integer")
            if not qid or not doc_id:
                raise CollectionError(f"{path}:{number}: empty query or document id")
            rows.append((qid, doc_id, int(float(score))))
    return rows


def _is_int(text: str) -> bool:
    try:
        return float(text) == int(float(text))
    except ValueError:
        return False


def read_collection(root: str | os.PathLike[str], split: str = "test") -> Collection:
    """Reads a BEIR-layout folder. `split` names the qrels file (`qrels/<split>.tsv`); when it is
    absent and the folder has exactly one qrels file, that one is read."""
    root = Path(root)
    if not root.is_dir():
        raise CollectionError(f"{root}: not a folder (expected corpus.jsonl, queries.jsonl and qrels/)")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted((root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise CollectionError(f"{qrels_path}: no such file (qrels files found: {names})")
        qrels_path = found[0]
    corpus = read_corpus_jsonl(root / "corpus.jsonl")
    queries = read_queries_jsonl(root / "queries.jsonl")
    known_docs = set(corpus["doc_id"].to_list())
    known_queries = set(queries["query_id"].to_list())
    evidence: dict[str, list[str]] = {}
    unknown_docs = unknown_queries = 0
    for qid, doc_id, score in read_qrels_tsv(qrels_path):
        if score <= 0:
            continue
        if qid not in known_queries:
            unknown_queries += 1
            continue
        if doc_id not in known_docs:
            unknown_docs += 1
            continue
        docs = evidence.setdefault(qid, [])
        if doc_id not in docs:
            docs.append(doc_id)
    questions = queries.filter(pl.col("query_id").is_in(list(evidence))).with_columns(
        pl.col("query_id").replace_strict(evidence, return_dtype=pl.List(pl.String)).alias("evidence")
    )
    return Collection(
        name=root.name,
        corpus=corpus,
        questions=questions,
        unknown_documents=unknown_docs,
        unknown_queries=unknown_queries,
        queries_without_evidence=queries.height - questions.height,
    )


def write_collection(
    root: str | os.PathLike[str], corpus: pl.DataFrame, questions: pl.DataFrame, split: str = "test"
) -> Path:
    """Writes `corpus` (`doc_id, title, text`; a text that starts with its title line is written
    without it) and `questions` (`query_id, question, evidence`, optional `answer`) in the BEIR layout."""
    root = Path(root)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, title, text in corpus.select("doc_id", "title", "text").iter_rows():
            title = title or ""
            if title and text.startswith(title + "\n"):
                text = text[len(title) + 1 :]
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}, ensure_ascii=False) + "\n")
    has_answer = "answer" in questions.columns
    with open(root / "queries.jsonl", "w", encoding="utf-8") as fh:
        for row in questions.iter_rows(named=True):
            obj: dict[str, Any] = {"_id": row["query_id"], "text": row["question"]}
            if has_answer and row["answer"] is not None:
                obj["metadata"] = {"answer": row["answer"]}
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    with open(root / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, evidence in questions.select("query_id", "evidence").iter_rows():
            for doc_id in evidence:
                fh.write(f"{qid}\t{doc_id}\t1\n")
    return root
