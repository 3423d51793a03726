"""Converts the shared HotpotQA dev subsample (`shared/data/hotpotqa-dev500/dev_subsampled.jsonl`) into
the BEIR layout that `lrat bench` reads.

Corpus: every question's paragraphs pooled by title (one document per title, `_id` = the title, as the
paragraphs carry no global id); queries: the 500 questions with their answer in `metadata.answer`;
qrels/test.tsv: the supporting paragraphs of each question.

    python benches/hotpotqa_to_beir.py [--out bench-data/hotpotqa-beir]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import polars as pl
from lrat.beir import write_collection

ROOT = Path(__file__).resolve().parent.parent


def data_path() -> Path:
    for root in (ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        path = root / "hotpotqa-dev500" / "dev_subsampled.jsonl"
        if path.is_file():
            return path
    sys.exit("hotpotqa_to_beir: shared/data/hotpotqa-dev500/dev_subsampled.jsonl not found")


def load(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(corpus `doc_id, title, text`, questions `query_id, question, answer, evidence`)."""
    texts: dict[str, str] = {}
    questions = []
    for number, line in enumerate(path.open(encoding="utf-8"), start=1):
        record = json.loads(line)
        evidence = []
        for c in record["contexts"]:
            title = c["title"]
            text = f"{title}\n{c['paragraph_text']}"
            if texts.setdefault(title, text) != text:
                raise ValueError(f"{path}:{number}: title {title!r} has two different paragraphs")
            if c["is_supporting"] and title not in evidence:
                evidence.append(title)
        questions.append(
            {
                "query_id": record["question_id"],
                "question": record["question_text"],
                "answer": record["answers_objects"][0]["spans"][0],
                "evidence": evidence,
            }
        )
    corpus = pl.DataFrame({"doc_id": list(texts), "title": list(texts), "text": list(texts.values())})
    return corpus, pl.DataFrame(questions)


def convert(out: Path) -> Path:
    corpus, questions = load(data_path())
    return write_collection(out, corpus, questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench-data" / "hotpotqa-beir"))
    args = parser.parse_args()
    out = convert(Path(args.out))
    print(out)


if __name__ == "__main__":
    main()
