"""Reading corpora: column names, file:line errors, empty files and duplicate ids."""

from __future__ import annotations

import json

import polars as pl
import pytest
from lrat import read_corpus
from lrat.corpus import CorpusError


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_column_names_vary_and_titles_are_optional(tmp_path):
    path = _write(
        tmp_path / "c.jsonl",
        [json.dumps({"_id": 1, "contents": "one"}), "", json.dumps({"_id": 2, "contents": "two", "title": "T"})],
    )
    df = read_corpus(path)
    assert df.rows() == [("1", None, "one"), ("2", "T", "two")]
    pl.DataFrame({"docid": ["a"], "body": ["x"]}).write_parquet(tmp_path / "c.parquet")
    assert read_corpus(tmp_path / "c.parquet").rows() == [("a", None, "x")]


@pytest.mark.parametrize(
    "lines, message",
    [
        ([json.dumps({"id": "a", "text": "x"}), "", '{"id": "b", "text": '], r"c.jsonl:3: invalid JSON"),
        ([json.dumps({"id": "a", "text": "x"}), "[1, 2]"], r"c.jsonl:2: expected a JSON object, got list"),
        (
            [json.dumps({"id": "a", "text": "x"}), json.dumps({"text": "y"}), json.dumps({"id": "c", "text": "z"})],
            r"c.jsonl:2: the document has no id \(`id`\)",
        ),
        ([json.dumps({"id": "a", "title": "x"})], r"has no text column \(looked for text, contents"),
        ([], r"holds no documents"),
    ],
)
def test_bad_files_are_named_with_their_line(tmp_path, lines, message):
    with pytest.raises(CorpusError, match=message):
        read_corpus(_write(tmp_path / "c.jsonl", lines))


def test_duplicate_ids_follow_the_policy_and_are_reported(tmp_path):
    path = _write(
        tmp_path / "c.jsonl",
        [
            json.dumps({"id": d, "text": t})
            for d, t in [("a", "first a"), ("b", "b"), ("a", "second a"), ("c", "c"), ("c", "c2")]
        ],
    )
    with pytest.warns(UserWarning, match=r"2 document ids appear more than once \(first: 'a', 'c'\); kept the first"):
        assert read_corpus(path).rows() == [("a", None, "first a"), ("b", None, "b"), ("c", None, "c")]
    with pytest.warns(UserWarning, match="kept the last"):
        assert dict(read_corpus(path, duplicates="last").select("doc_id", "text").rows())["a"] == "second a"
    with pytest.raises(CorpusError, match="2 document ids appear more than once"):
        read_corpus(path, duplicates="error")
