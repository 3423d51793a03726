"""`lrat.read_trajectories` / `lrat.iter_trajectories`: the BrowseComp format on the real run files,
input handling, and bad input (each error names the file, the line or byte offset, and the reason)."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from pathlib import Path

import lrat
import polars as pl
import pytest
from lrat import _core

# ---------------------------------------------------------------------------------------------------
# The real run files: exact figures.

FIRST_SEARCH_OF_RUN_1 = [
    "9358159",
    "2690620",
    "5992926",
    "1675639",
    "5601468",
    "3896914",
    "5406386",
    "1888799",
    "7177735",
    "10121870",
]


def test_real_files_counts(real_runs: Path) -> None:
    t = lrat.read_trajectories(real_runs)
    assert len(t) == 10
    assert t.n_errors == 0 and t.n_warnings == 0 and t.errors.height == 0
    assert t.trajectories["n_searches"].sum() == 102
    assert t.trajectories["n_browses"].sum() == 28
    steps = t.steps
    assert steps.filter(pl.col("kind") == "search").height == 102
    assert steps.filter(pl.col("kind") == "browse").height == 28
    assert steps.filter(pl.col("tool_name") == "get_document").height == 18
    assert steps.filter(pl.col("tool_name") == "visit").height == 10
    assert steps.filter(pl.col("kind") == "tool").height == 0
    assert t.browses.height == 28
    assert set(t.trajectories["outcome"]) == {"completed"}
    assert set(t.trajectories["format"]) == {"browsecomp"}
    assert sorted(t.trajectories["query_id"].cast(pl.Int64)) == [0, 1, 4, 5, 6, 10, 11, 14, 15, 17]
    # Every step of every run is one row: reasoning, tool calls and the final answer.
    assert steps.height == 280
    assert t.trajectories["n_steps"].sum() == 280


def test_real_file_question_answer_and_results(real_runs: Path) -> None:
    t = lrat.read_trajectories(real_runs / "1.json")
    row = t.trajectories.row(0, named=True)
    assert row["trajectory_id"] == f"{real_runs / '1.json'}:1"
    assert row["source"] == str(real_runs / "1.json")
    assert row["line"] == 1
    assert row["query_id"] == "1"
    assert row["question"].startswith("Who is a Czech historian who was born in Valašské Klobouky")
    assert row["gold_answer"] == "Bedřich Havlíček"
    assert row["final_answer"].startswith("The Czech historian you are referring to is Bedřich Havlíček.")
    assert row["outcome"] == "completed"
    assert (row["n_steps"], row["n_searches"], row["n_browses"]) == (6, 1, 1)
    metadata = json.loads(row["metadata"])
    assert {"metadata", "retrieved_docids", "tool_call_counts"} <= set(metadata)

    assert t.steps["kind"].to_list() == ["reason", "search", "reason", "browse", "reason", "answer"]
    search = t.steps.row(1, named=True)
    # The call carried four queries; the step keeps the first, the one the output answers.
    assert search["text"] == "Czech historian born in Valašské Klobouky Ladislav Zdeněk brother"
    assert search["tool_name"] == "search"

    results = t.search_results.sort("rank")
    assert results["step"].to_list() == [1] * 10
    assert results["rank"].to_list() == list(range(1, 11))
    assert results["doc_key"].to_list() == FIRST_SEARCH_OF_RUN_1
    assert results["title"][0] == "Bedřich Havlíček"
    assert results["snippet"][0].startswith("Bedřich Havlíček\nCzech historian Bedřich Havlíček")
    assert results["score"].is_null().all()

    browse = t.browses.row(0, named=True)
    assert (browse["step"], browse["doc_key"], browse["ok"]) == (3, "9358159", True)
    assert browse["content"].startswith("Document 9358159:")
    assert browse["content_length"] == len(browse["content"])


def test_real_files_browse_keys_and_result_union(real_runs: Path, real_records: list[dict]) -> None:
    t = lrat.read_trajectories(real_runs)
    by_query = dict(zip(t.trajectories["trajectory_id"], t.trajectories["query_id"]))
    browses = t.browses.with_columns(pl.col("trajectory_id").replace_strict(by_query).alias("query_id"))
    # 17.json names its documents by number (`{"docid": 6053813}`): keys are their text.
    assert browses.filter(pl.col("query_id") == "17").sort("step")["doc_key"].to_list() == [
        "6053813",
        "10869026",
        "10737434",
    ]
    assert browses.filter(pl.col("query_id") == "10").sort("step")["doc_key"].to_list() == [
        "512151",
        "512147",
        "1551027",
        "11039998",
    ]
    assert browses["ok"].all()
    # Each run lists the union of its result docids in `retrieved_docids`.
    results = t.search_results.with_columns(pl.col("trajectory_id").replace_strict(by_query).alias("query_id"))
    for record in real_records:
        found = set(results.filter(pl.col("query_id") == record["query_id"])["doc_key"])
        assert found == {str(d) for d in record["retrieved_docids"]}, record["query_id"]


def test_table_columns_and_dtypes(real_runs: Path) -> None:
    t = lrat.read_trajectories(real_runs / "1.json")
    s, u32, u64 = pl.String, pl.UInt32, pl.UInt64
    assert dict(t.trajectories.schema) == {
        "trajectory_id": s,
        "query_id": s,
        "source": s,
        "line": u64,
        "format": s,
        "question": s,
        "final_answer": s,
        "gold_answer": s,
        "outcome": s,
        "n_steps": u32,
        "n_searches": u32,
        "n_browses": u32,
        "metadata": s,
    }
    assert dict(t.steps.schema) == {"trajectory_id": s, "step": u32, "kind": s, "tool_name": s, "text": s}
    assert dict(t.search_results.schema) == {
        "trajectory_id": s,
        "step": u32,
        "rank": u32,
        "doc_key": s,
        "title": s,
        "snippet": s,
        "score": pl.Float64,
    }
    assert dict(t.browses.schema) == {
        "trajectory_id": s,
        "step": u32,
        "doc_key": s,
        "ok": pl.Boolean,
        "content_length": u64,
        "content": s,
    }
    assert dict(t.errors.schema) == {"source": s, "line": u64, "byte_offset": u64, "severity": s, "reason": s}
    # With no input rows the tables keep their columns.
    empty = lrat.trajectories.empty()
    for name in lrat.trajectories.TABLES:
        assert getattr(empty, name).schema == getattr(t, name).schema


def test_tables_arrive_as_arrow_pycapsules(real_runs: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    batch = next(iter(_core.TrajectoryReader([str(real_runs)])))
    tables = batch.tables()
    assert set(tables) == {"trajectories", "steps", "search_results", "browses", "errors"}
    for table in tables.values():
        assert hasattr(table, "__arrow_c_stream__")
    arrow = pa.table(tables["search_results"])
    assert arrow.num_rows == 1020  # 102 searches, 10 results each
    assert arrow.schema.field("doc_key").type == pa.string_view()


def test_include_content_false_drops_browse_text(real_runs: Path) -> None:
    t = lrat.read_trajectories(real_runs, include_content=False)
    assert t.browses.height == 28
    assert t.browses["content"].is_null().all()
    assert (t.browses["content_length"] > 0).all()


# ---------------------------------------------------------------------------------------------------
# Inputs: files, directories, globs, compression, layouts.


def test_directory_glob_and_list_agree(real_runs: Path, tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    for p in sorted(real_runs.glob("*.json"))[:4]:
        (nested / p.name).write_bytes(p.read_bytes())
    (tmp_path / "a" / "notes.csv").write_text("not a log\n")
    from_dir = lrat.read_trajectories(tmp_path)
    from_glob = lrat.read_trajectories(str(nested / "*.json"))
    from_list = lrat.read_trajectories(sorted(nested.glob("*.json")))
    assert len(from_dir) == len(from_glob) == len(from_list) == 4
    assert from_dir.trajectories["query_id"].to_list() == from_list.trajectories["query_id"].to_list()
    assert from_dir.search_results.equals(from_glob.search_results)


def test_missing_inputs_raise_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        lrat.read_trajectories(missing)
    with pytest.raises(FileNotFoundError, match=r"\*\.zzz"):
        lrat.read_trajectories(str(tmp_path / "*.zzz"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(FileNotFoundError, match="empty_dir"):
        lrat.read_trajectories(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="no input"):
        lrat.read_trajectories([])


def test_jsonl_one_trajectory_per_line(real_jsonl: Path, real_runs: Path) -> None:
    t = lrat.read_trajectories(real_jsonl)
    assert len(t) == 10
    assert t.trajectories["line"].to_list() == list(range(1, 11))
    assert t.trajectories["trajectory_id"].to_list() == [f"{real_jsonl}:{i}" for i in range(1, 11)]
    assert t.trajectories["n_searches"].sum() == 102
    from_files = lrat.read_trajectories(real_runs)
    assert t.search_results.drop("trajectory_id").equals(from_files.search_results.drop("trajectory_id"))


def test_json_file_holding_json_lines(real_jsonl: Path, tmp_path: Path) -> None:
    as_json = tmp_path / "runs.json"
    as_json.write_bytes(real_jsonl.read_bytes())
    t = lrat.read_trajectories(as_json)
    assert len(t) == 10 and t.errors.height == 0
    assert t.trajectories["line"].to_list() == list(range(1, 11))
    assert t.trajectories["n_browses"].sum() == 28


def test_json_array_of_trajectories(real_records: list[dict], tmp_path: Path) -> None:
    path = tmp_path / "all.json"
    path.write_text(json.dumps(real_records[:3]), encoding="utf-8")
    t = lrat.read_trajectories(path)
    assert len(t) == 3
    assert t.trajectories["trajectory_id"].to_list() == [f"{path}:1#{i}" for i in range(3)]


def test_gzip_and_zstd(real_jsonl: Path, real_runs: Path, tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    data = real_jsonl.read_bytes()
    gz = tmp_path / "runs.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    zst = tmp_path / "runs.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(data))
    doc_gz = tmp_path / "one.json.gz"
    doc_gz.write_bytes(gzip.compress((real_runs / "1.json").read_bytes()))
    plain = lrat.read_trajectories(real_jsonl)
    for path in (gz, zst):
        t = lrat.read_trajectories(path)
        assert len(t) == 10 and t.errors.height == 0
        assert t.trajectories["n_searches"].sum() == 102
        assert t.search_results.drop("trajectory_id").equals(plain.search_results.drop("trajectory_id"))
    one = lrat.read_trajectories(doc_gz)
    assert one.trajectories["query_id"].to_list() == ["1"]
    assert one.search_results["doc_key"].to_list() == FIRST_SEARCH_OF_RUN_1


def test_iter_trajectories_batch_sizes(real_jsonl: Path) -> None:
    batches = list(lrat.iter_trajectories(real_jsonl, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert all(isinstance(b, lrat.Trajectories) for b in batches)
    joined = lrat.Trajectories.concat(batches)
    whole = lrat.read_trajectories(real_jsonl)
    for name in lrat.trajectories.TABLES:
        assert getattr(joined, name).equals(getattr(whole, name)), name
    assert [len(b) for b in lrat.iter_trajectories(real_jsonl, batch_size=100)] == [10]
    with pytest.raises(ValueError, match="batch_size"):
        list(lrat.iter_trajectories(real_jsonl, batch_size=0))


def test_iter_trajectories_batch_bytes(real_jsonl: Path) -> None:
    sizes = [len(line) for line in real_jsonl.read_bytes().splitlines()]
    # A batch closes at the record that brings it to the byte limit.
    limit = sizes[0] + sizes[1]
    batches = list(lrat.iter_trajectories(real_jsonl, batch_bytes=limit))
    expected, count, total = [], 0, 0
    for size in sizes:
        count, total = count + 1, total + size
        if total >= limit:
            expected.append(count)
            count, total = 0, 0
    expected += [count] if count else []
    assert [len(b) for b in batches] == expected and len(batches) > 1
    joined = lrat.Trajectories.concat(batches)
    whole = lrat.read_trajectories(real_jsonl)
    for name in lrat.trajectories.TABLES:
        assert getattr(joined, name).equals(getattr(whole, name)), name
    with pytest.raises(ValueError, match="batch_bytes"):
        list(lrat.iter_trajectories(real_jsonl, batch_bytes=0))


def test_reader_totals(real_jsonl: Path) -> None:
    reader = _core.TrajectoryReader([str(real_jsonl)], batch_size=4)
    sizes = [(len(b), b.records, b.n_errors) for b in reader]
    assert sizes == [(4, 4, 0), (4, 4, 0), (2, 2, 0)]
    totals = reader.totals()
    assert totals == {
        "records": 10,
        "bytes": totals["bytes"],
        "trajectories": 10,
        "errors": 0,
        "warnings": 0,
    }
    # Record bytes exclude the newlines.
    assert totals["bytes"] == real_jsonl.stat().st_size - 10


def test_format_override_and_bad_format_name(real_jsonl: Path) -> None:
    auto = lrat.read_trajectories(real_jsonl)
    named = lrat.read_trajectories(real_jsonl, format="browsecomp")
    alias = lrat.read_trajectories(real_jsonl, format="BrowseComp-Plus")
    assert named.steps.equals(auto.steps) and alias.steps.equals(auto.steps)
    with pytest.raises(ValueError, match='unknown format "markdown"; expected one of auto, browsecomp'):
        lrat.read_trajectories(real_jsonl, format="markdown")
    with pytest.raises(ValueError, match="unknown_tools"):
        lrat.read_trajectories(real_jsonl, unknown_tools="ignore")


def test_named_format_reports_a_record_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"query_id": "q", "query": "who?"}\n', encoding="utf-8")
    t = lrat.read_trajectories(path, format="browsecomp")
    assert len(t) == 0
    assert t.errors["reason"].to_list() == ["missing field `result` (the list of steps)"]


# ---------------------------------------------------------------------------------------------------
# Bad input. Each case: a JSONL file good / bad / good; the error row names the file, the line and the
# byte offset of the bad record and says what is wrong; both good records are kept; strict raises.


def _record(qid: str, steps: list[dict] | None = None, **fields) -> dict:
    if steps is None:
        steps = [
            {"type": "reasoning", "tool_name": "None", "arguments": "None", "output": "think"},
            {
                "type": "tool_call",
                "tool_name": "search",
                "arguments": json.dumps({"query": ["q " + qid]}),
                "output": f"A search found 2 results:\n\n## Web Results\nDocID:{qid}1\n[T1]\ns1\n\nDocID:{qid}2\n[T2]\ns2\n",
            },
            {"type": "output_text", "tool_name": "None", "arguments": "None", "output": "answer " + qid},
        ]
    return {"query_id": qid, "query": "question " + qid, "status": "completed", "result": steps, **fields}


GOOD_BEFORE = json.dumps(_record("1")).encode()
GOOD_AFTER = json.dumps(_record("3")).encode()

BAD_LINES = {
    "truncated_json": (GOOD_BEFORE[: len(GOOD_BEFORE) // 2], "invalid JSON"),
    "invalid_utf8": (GOOD_BEFORE.replace(b"question 1", b"question \xff\xfe"), "invalid UTF-8"),
    "wrong_type_result": (
        json.dumps({"query_id": "2", "result": "none"}).encode(),
        "field `result` is a string, expected a list of steps",
    ),
    "wrong_type_status": (json.dumps(_record("2", status=7)).encode(), "field `status` is a number, expected a string"),
    "missing_tool_name": (
        json.dumps(_record("2", [{"type": "tool_call", "arguments": "{}", "output": ""}])).encode(),
        "result[0] is a tool call without `tool_name`",
    ),
    "missing_step_type": (json.dumps(_record("2", [{"output": "x"}])).encode(), "result[0] has no `type`"),
    "not_a_trajectory": (b'{"hello": "world"}', 'unrecognised record: none of the known formats has the keys "hello"'),
}


def _good_bad_good(tmp_path: Path, bad: bytes) -> tuple[Path, int]:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(GOOD_BEFORE + b"\n" + bad + b"\n" + GOOD_AFTER + b"\n")
    return path, len(GOOD_BEFORE) + 1


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_record_is_skipped_counted_and_named(tmp_path: Path, case: str) -> None:
    bad, reason = BAD_LINES[case]
    path, offset = _good_bad_good(tmp_path, bad)
    t = lrat.read_trajectories(path)
    assert t.trajectories["query_id"].to_list() == ["1", "3"]
    assert t.trajectories["line"].to_list() == [1, 3]
    assert t.search_results["doc_key"].to_list() == ["11", "12", "31", "32"]
    assert t.n_errors == 1 and t.n_warnings == 0
    err = t.errors.row(0, named=True)
    assert err["source"] == str(path)
    assert err["line"] == 2
    assert err["severity"] == "error"
    assert reason in err["reason"]
    if case == "invalid_utf8":
        # The offset points at the first bad byte.
        assert err["byte_offset"] == offset + bad.index(b"\xff")
    else:
        assert err["byte_offset"] == offset
    assert "1 records skipped" in t.summary()
    assert reason.split("`")[0] in t.summary()


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_strict_raises_at_the_bad_record(tmp_path: Path, case: str) -> None:
    bad, reason = BAD_LINES[case]
    path, offset = _good_bad_good(tmp_path, bad)
    with pytest.raises(lrat.TrajectoryParseError) as info:
        lrat.read_trajectories(path, strict=True)
    e = info.value
    assert isinstance(e, lrat.LratError)
    assert e.source == str(path)
    assert e.line == 2
    assert e.byte_offset >= offset
    assert reason in e.reason
    assert str(path) in str(e) and ":2 " in str(e) and reason in str(e)


def test_truncated_json_reason_says_where(tmp_path: Path) -> None:
    path, _ = _good_bad_good(tmp_path, b'{"query_id": "2", "result": [')
    reason = lrat.read_trajectories(path).errors["reason"][0]
    assert reason.startswith("invalid JSON:")
    assert "EOF" in reason or "end" in reason.lower()


def test_first_bad_json_line_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"{oops\n" + GOOD_AFTER + b"\n")
    t = lrat.read_trajectories(path)
    assert t.trajectories["query_id"].to_list() == ["3"]
    assert t.errors.select("line", "byte_offset").row(0) == (1, 0)


def test_unknown_tool_warns_keeps_or_skips(tmp_path: Path) -> None:
    steps = [
        {"type": "tool_call", "tool_name": "calculator", "arguments": '{"expr": "1+1"}', "output": "2"},
        {"type": "tool_call", "tool_name": "search", "arguments": '{"query": "x"}', "output": "DocID:5\n[T]\ns"},
        {"type": "output_text", "tool_name": "None", "arguments": "None", "output": "2"},
    ]
    path = tmp_path / "tools.jsonl"
    path.write_bytes(GOOD_BEFORE + b"\n" + json.dumps(_record("2", steps)).encode() + b"\n" + GOOD_AFTER + b"\n")

    warned = lrat.read_trajectories(path)
    assert warned.trajectories["query_id"].to_list() == ["1", "2", "3"]
    assert warned.n_errors == 0 and warned.n_warnings == 1
    w = warned.errors.row(0, named=True)
    assert (w["source"], w["line"], w["byte_offset"], w["severity"]) == (str(path), 2, len(GOOD_BEFORE) + 1, "warning")
    assert '"calculator"' in w["reason"] and "unknown tool" in w["reason"]
    tool_step = warned.steps.filter(pl.col("kind") == "tool").row(0, named=True)
    # The step keeps the call's arguments, as compact JSON.
    assert (tool_step["tool_name"], tool_step["text"]) == ("calculator", '{"expr":"1+1"}')

    kept = lrat.read_trajectories(path, unknown_tools="keep")
    assert len(kept) == 3 and kept.errors.height == 0

    skipped = lrat.read_trajectories(path, unknown_tools="error")
    assert skipped.trajectories["query_id"].to_list() == ["1", "3"]
    assert skipped.n_errors == 1
    assert skipped.errors.row(0, named=True)["line"] == 2
    assert '"calculator"' in skipped.errors["reason"][0]

    # Naming the tool makes it known.
    configured = lrat.read_trajectories(path, search_tools=["search", "calculator"])
    assert configured.errors.height == 0
    assert configured.trajectories.filter(pl.col("query_id") == "2")["n_searches"].item() == 2


def test_wrong_typed_fields_are_read_where_unambiguous_counted_per_field_and_rejected_when_strict(
    tmp_path: Path,
) -> None:
    steps = [
        {
            "type": "tool_call",
            "tool_name": "search",
            "arguments": {"query": 1984},
            "output": [{"docid": 7, "title": "T7", "text": "s7"}, {"docid": "8", "title": "T8", "text": "s8"}],
        },
        {"type": "tool_call", "tool_name": "get_document", "arguments": {"docid": 7}, "output": "Document 7: s7"},
        {"type": "output_text", "tool_name": "None", "arguments": "None", "output": "answer"},
    ]
    wrong = _record("2", steps) | {"query_id": 2, "query": {"text": None}}
    path = tmp_path / "types.jsonl"
    path.write_bytes(GOOD_BEFORE + b"\n" + json.dumps(wrong).encode() + b"\n" + GOOD_AFTER + b"\n")

    t = lrat.read_trajectories(path)
    assert t.trajectories["query_id"].to_list() == ["1", "2", "3"]
    row = t.trajectories.filter(pl.col("query_id") == "2").row(0, named=True)
    assert row["question"] is None
    assert t.steps.filter((pl.col("kind") == "search") & (pl.col("text") == "1984")).height == 1
    assert sorted(t.search_results.filter(pl.col("doc_key").is_in(["7", "8"]))["doc_key"].to_list()) == ["7", "8"]
    assert t.browses.filter(pl.col("doc_key") == "7").height == 1
    # Numbers in the agent's own tool arguments (the query 1984, get_document's docid 7) are how it
    # wrote them, not wrong types; the docid 7 in the search tool's output is.
    assert t.n_errors == 0
    assert all(line == 2 for line in t.errors["line"].to_list())
    assert t.wrong_types.rows() == [
        ("docid", "a number", "read as text", 1),
        ("query", "an object", "ignored", 1),
        ("query_id", "a number", "read as text", 1),
    ]
    assert "wrong type: `query_id` is a number, read as text" in t.summary()

    with pytest.raises(
        lrat.TrajectoryParseError, match=r"types\.jsonl:2 .*wrong type: `docid` is a number, read as text"
    ):
        lrat.read_trajectories(path, strict=True)


def test_empty_file_is_an_error_and_others_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(GOOD_BEFORE + b"\n")
    (tmp_path / "b.jsonl").write_bytes(b"")
    (tmp_path / "c.jsonl").write_bytes(b"\n  \n")
    (tmp_path / "d.jsonl").write_bytes(GOOD_AFTER + b"\n")
    t = lrat.read_trajectories(tmp_path)
    assert t.trajectories["query_id"].to_list() == ["1", "3"]
    errors = t.errors.sort("source")
    assert errors["source"].to_list() == [str(tmp_path / "b.jsonl"), str(tmp_path / "c.jsonl")]
    assert errors["reason"].to_list() == ["file is empty", "file is empty"]
    assert errors["line"].to_list() == [0, 0] and errors["byte_offset"].to_list() == [0, 0]
    with pytest.raises(lrat.TrajectoryParseError, match="b.jsonl.*file is empty"):
        lrat.read_trajectories(tmp_path, strict=True)


def test_unreadable_files_are_errors_and_others_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(GOOD_BEFORE + b"\n")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "gone.jsonl")  # a dangling link: cannot be opened
    (tmp_path / "c.jsonl.gz").write_bytes(b"this is not gzip data\n")
    (tmp_path / "d.jsonl").write_bytes(GOOD_AFTER + b"\n")
    t = lrat.read_trajectories(tmp_path)
    assert t.trajectories["query_id"].to_list() == ["1", "3"]
    errors = t.errors.sort("source")
    assert errors["source"].to_list() == [str(tmp_path / "b.jsonl"), str(tmp_path / "c.jsonl.gz")]
    assert errors["reason"][0].startswith("cannot open:")
    assert errors["reason"][1].startswith("read error:")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(GOOD_BEFORE + b"\n")
    locked = tmp_path / "b.jsonl"
    locked.write_bytes(GOOD_AFTER + b"\n")
    locked.chmod(0)
    try:
        t = lrat.read_trajectories(tmp_path)
    finally:
        locked.chmod(0o644)
    assert t.trajectories["query_id"].to_list() == ["1"]
    assert t.errors["source"].to_list() == [str(locked)]
    assert "ermission denied" in t.errors["reason"][0]


def _write_huge_line(path: Path, size: int) -> int:
    """good / a valid record of `size` bytes / good; returns the huge line's byte offset."""
    head = b'{"query_id": "2", "result": [{"type": "reasoning", "output": "'
    tail = b'"}]}'
    with path.open("wb") as f:
        f.write(GOOD_BEFORE + b"\n")
        f.write(head)
        chunk = b"x" * (1 << 20)
        left = size - len(head) - len(tail)
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        f.write(tail + b"\n")
        f.write(GOOD_AFTER + b"\n")
    return len(GOOD_BEFORE) + 1


def test_100_mb_line_is_skipped_and_the_next_record_kept(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    offset = _write_huge_line(path, 100 * 1000 * 1000)
    t = lrat.read_trajectories(path)
    assert t.trajectories["query_id"].to_list() == ["1", "3"]
    err = t.errors.row(0, named=True)
    assert (err["source"], err["line"], err["byte_offset"], err["severity"]) == (str(path), 2, offset, "error")
    assert "longer than max_record_bytes (67108864 bytes)" in err["reason"]
    with pytest.raises(lrat.TrajectoryParseError, match="max_record_bytes") as info:
        lrat.read_trajectories(path, strict=True)
    assert (info.value.line, info.value.byte_offset) == (2, offset)
    # A limit above the record's size reads it.
    big = lrat.read_trajectories(path, max_record_bytes=128 << 20)
    assert big.trajectories["query_id"].to_list() == ["1", "2", "3"]
    assert (
        big.steps.filter(pl.col("trajectory_id") == big.trajectories["trajectory_id"][1])["text"].str.len_bytes().item()
        > 99_000_000
    )


_PEAK_SCRIPT = """
import resource, sys
import lrat
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = lrat.read_trajectories(sys.argv[1], max_record_bytes=int(sys.argv[2]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert len(t) == 2 and t.n_errors == 1, (len(t), t.errors)
print((after - before) // 1024)
"""


def test_too_long_record_is_not_held_in_memory(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "huge.jsonl"
    _write_huge_line(path, 100 * 1000 * 1000)
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path), str(1 << 20)],
        capture_output=True,
        text=True,
        check=True,
    )
    grown_mib = int(out.stdout.strip())
    # Holding the record would take at least 95 MiB; with a 1 MiB limit at most the limit and the
    # read buffer are held.
    assert grown_mib < 40, grown_mib


def test_good_records_around_several_bad_ones_in_many_files(tmp_path: Path) -> None:
    lines = [GOOD_BEFORE]
    for bad, _ in BAD_LINES.values():
        lines += [bad, GOOD_AFTER]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "b.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    t = lrat.read_trajectories(tmp_path, batch_size=3)
    n_bad = len(BAD_LINES)
    assert len(t) == 2 * (n_bad + 1)
    assert t.n_errors == 2 * n_bad
    assert t.errors.filter(pl.col("source") == str(tmp_path / "a.jsonl"))["line"].to_list() == list(
        range(2, 2 * n_bad + 1, 2)
    )


# ---------------------------------------------------------------------------------------------------
# The GIL is released while Rust works.


def test_gil_is_released_during_a_large_read(real_records: list[dict], tmp_path: Path) -> None:
    path = tmp_path / "large.jsonl"
    lines = []
    for i in range(60):
        for r in real_records:
            lines.append(json.dumps({**r, "query_id": f"{r['query_id']}-{i}"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")  # about 40 MB

    stop = threading.Event()
    gaps: list[float] = []
    ticks = [0]

    def spin() -> None:
        last = time.perf_counter()
        worst = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now
            ticks[0] += 1
        gaps.append(worst)

    # One batch: parsing is one call into Rust, and `tables()` another.
    reader = _core.TrajectoryReader([str(path)], batch_size=1 << 20, batch_bytes=1 << 30)
    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    start_ticks = ticks[0]
    t0 = time.perf_counter()
    batch = next(reader)
    batch.tables()
    elapsed = time.perf_counter() - t0
    during = ticks[0] - start_ticks
    stop.set()
    thread.join()
    assert len(batch) == 600
    # Had the GIL been held, the thread would have stalled for the whole call.
    assert during > 1000
    assert gaps[0] < max(0.5 * elapsed, 0.02), (gaps[0], elapsed)


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_damaged_compressed_files_keep_every_complete_record_before_the_damage(tmp_path: Path, kind: str) -> None:
    import zlib

    lines = [json.dumps(_record(str(i), [{"type": "reasoning", "output": f"thought {i} " * 40}])) for i in range(1500)]
    data = ("\n".join(lines) + "\n").encode()
    if kind == "gz":
        packed = gzip.compress(data)
        damaged = packed[: int(len(packed) * 0.6)]
        recoverable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(damaged)
    else:
        zstandard = pytest.importorskip("zstandard")
        packed = zstandard.ZstdCompressor().compress(data)
        damaged = packed[: int(len(packed) * 0.6)]
        recoverable = zstandard.ZstdDecompressor().decompressobj().decompress(damaged)
    complete = recoverable.count(b"\n")
    assert 0 < complete < len(lines)
    path = tmp_path / f"runs.jsonl.{kind}"
    path.write_bytes(damaged)
    t = lrat.read_trajectories(path)
    assert t.trajectories["query_id"].to_list() == [str(i) for i in range(complete)]
    (error,) = t.errors.to_dicts()
    assert error["source"] == str(path) and error["line"] == complete + 1
    assert error["byte_offset"] == len(b"".join(line + b"\n" for line in data.split(b"\n")[:complete]))
    with pytest.raises(lrat.LratError, match=rf"runs\.jsonl\.{kind}:{complete + 1} \(byte \d+\): read error"):
        lrat.read_trajectories(path, strict=True)


def test_a_symlink_loop_is_read_once_with_a_warning_naming_the_link(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "sub" / "runs.jsonl").write_text(json.dumps(_record("1")) + "\n" + json.dumps(_record("2")) + "\n")
    (logs / "sub" / "loop").symlink_to(logs)
    (logs / "copy.jsonl").symlink_to(logs / "sub" / "runs.jsonl")
    t = lrat.read_trajectories(logs)
    assert t.trajectories["query_id"].to_list() == ["1", "2"], "each file once, however many paths lead to it"
    assert t.n_errors == 0 and t.n_warnings == 2
    named = {w["source"]: w["reason"] for w in t.errors.to_dicts()}
    assert set(named) == {str(logs / "sub" / "loop"), str(logs / "copy.jsonl")}
    assert "a loop" in named[str(logs / "sub" / "loop")] and "read once" in named[str(logs / "copy.jsonl")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory: no unreadable directory to make")
def test_an_unreadable_directory_is_counted_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "runs.jsonl").write_text(json.dumps(_record("1")) + "\n")
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "runs.jsonl").write_text(json.dumps(_record("2")) + "\n")
    closed.chmod(0)
    try:
        t = lrat.read_trajectories(tmp_path)
        assert t.trajectories["query_id"].to_list() == ["1"] and t.n_errors == 1
        assert t.errors["source"].to_list() == [str(closed)] and "cannot read the directory" in t.errors["reason"][0]
        with pytest.raises(lrat.LratError, match="closed.*cannot read the directory"):
            lrat.read_trajectories(tmp_path, strict=True)
    finally:
        closed.chmod(0o755)


@pytest.mark.parametrize("value", [2**64 - 1, 2**41, 0])
def test_out_of_range_record_limits_are_refused_naming_the_option(tmp_path: Path, value: int) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(_record("1")) + "\n")
    with pytest.raises(ValueError, match="max_record_bytes must be within 1..=1099511627776"):
        lrat.read_trajectories(path, max_record_bytes=value)


def test_read_options_are_one_set_checked_by_name(real_jsonl: Path) -> None:
    options = lrat.ReadOptions(strict=True, batch_size=3)
    assert len(lrat.read_trajectories(real_jsonl, options=options)) == 10
    # Keywords apply over the options; a name that is not a reading option is refused, naming it.
    assert [len(b) for b in lrat.iter_trajectories(real_jsonl, options=options, batch_size=100)] == [10]
    with pytest.raises(TypeError, match="unknown ReadOptions setting stirct; the settings are .*strict"):
        lrat.read_trajectories(real_jsonl, stirct=True)
    with pytest.raises(TypeError, match="unknown ReadOptions setting"):
        lrat.mine(real_jsonl, judge="none", batchsize=3)


def test_an_object_keyed_by_question_id_reads_one_trajectory_per_key() -> None:
    from conftest import FIXTURES

    t = lrat.read_trajectories(FIXTURES / "formats" / "keyed_by_question.json")
    assert t.errors.height == 0
    tr = t.trajectories
    assert tr["query_id"].to_list() == ["hotpot_5a8b57f2", "hotpot_5a8c7595", "eiffel_1", "plain_text_3"]
    assert tr["format"].to_list() == ["react", "react", "chat_completions", "react"]
    # reward 1; `correct: false` wins over a reward; em 1; a bare transcript states no outcome
    assert tr["outcome"].to_list() == ["completed", "failed", "completed", "unknown"]
    mined = lrat.mine(FIXTURES / "formats" / "keyed_by_question.json", judge="none")
    assert set(mined["outcome"]) <= {"completed", "unknown"}
    assert "eiffel_1" in set(mined["query_id"])


def test_reflexion_logs_read_questions_outcomes_and_reference_answers() -> None:
    """Reflexion's run logs: section headers, a reflection header run on into the question, `Answer is
    CORRECT/INCORRECT` and `Correct answer:` lines; a halted agent (graded, never finished) failed."""
    from conftest import FIXTURES

    t = lrat.read_trajectories(FIXTURES / "formats" / "reflexion_react.txt")
    assert t.errors.height == 0
    tr = t.trajectories
    assert tr["question"].to_list() == [
        "Which magazine was started first, Arthur's Magazine or First for Women?",
        "The Oberoi family is part of a hotel company that has a head office in what city?",
        "What city does Paul Clyne and David Soares have in common?",
    ]
    assert tr["outcome"].to_list() == ["completed", "failed", "failed"]
    assert tr["gold_answer"].to_list() == ["Arthur's Magazine", "Delhi", "New York"]
    # No frame line ends up in a page the agent read.
    assert not t.browses["content"].str.contains("AGENTS|Correct answer").any()
    # The one result list (`Similar: [...]`) is in the failed run: mined only when failures are asked for.
    path = FIXTURES / "formats" / "reflexion_react.txt"
    with pytest.warns(UserWarning, match="outcome"):
        assert lrat.mine(path, judge="none").height == 0
    mined = lrat.mine(path, judge="none", outcomes="all")
    assert mined.select("pos_id", "rank", "outcome").rows() == [("The Oberoi Group", 2, "failed")]


def test_mcp_task_results_wandb_tables_and_title_lists_read_and_mine() -> None:
    from conftest import FIXTURES

    formats = FIXTURES / "formats"
    t = lrat.read_trajectories([formats / "mcp_task_result.json", formats / "title_list_results.jsonl"])
    assert t.errors.height == 0
    assert t.trajectories["outcome"].to_list() == ["completed", "completed"]
    browsed = t.browses["doc_key"].to_list()
    assert browsed == [
        "https://en.wikipedia.org/wiki/Eiffel_Tower",
        "https://en.wikipedia.org/wiki/Rh%C3%B4ne",
        "Saône",
    ]
    mined = lrat.mine([formats / "mcp_task_result.json", formats / "title_list_results.jsonl"], judge="none")
    assert set(mined["pos_id"]) == set(browsed)

    table = lrat.read_trajectories(formats / "wandb_table.json")
    assert table.trajectories["query_id"].to_list() == ["q1", "q2"]
    assert table.trajectories["outcome"].to_list() == ["completed", "failed"]
    (error,) = table.errors.rows(named=True)
    assert error["severity"] == "error" and error["reason"].startswith("table row 2: no trajectory")
    with pytest.raises(lrat.TrajectoryParseError, match="table row 2"):
        lrat.read_trajectories(formats / "wandb_table.json", strict=True)


def test_qwen_style_calls_in_chat_text_read_one_search_per_query_and_mine() -> None:
    """S1-DeepResearch writes `<tool_call>` into the assistant's text, answers it in `tool` messages, and
    runs several queries per call, their result blocks cut by `-------` lines."""
    from conftest import FIXTURES

    path = FIXTURES / "formats" / "qwen_calls_in_chat.json"
    for fmt in ["auto", "chat_completions"]:
        t = lrat.read_trajectories(path, format=fmt)
        assert t.errors.height == 0
        searches = t.steps.filter(pl.col("kind") == "search")
        assert searches["text"].to_list() == ["Radetzky March composer", "Johann Strauss I birthplace"]
        assert t.search_results.group_by("step").len().sort("step")["len"].to_list() == [2, 2]
        assert t.browses["doc_key"].to_list() == [
            "https://en.wikipedia.org/wiki/Johann_Strauss_I",
            "https://en.wikipedia.org/wiki/Leopoldstadt",
        ]
    mined = lrat.mine(path, judge="none")
    assert set(mined["pos_id"]) == {
        "https://en.wikipedia.org/wiki/Johann_Strauss_I",
        "https://en.wikipedia.org/wiki/Leopoldstadt",
    }


def test_group_chats_read_the_web_surfers_searches_and_pages_and_mine() -> None:
    """AutoGen / CaptainAgent and Magentic-One group chats (Who&When, Aegis) call no tools: the web
    surfer's turns show the searches it ran, the results, and the pages it read."""
    from conftest import FIXTURES

    path = FIXTURES / "formats" / "group_chat.jsonl"
    t = lrat.read_trajectories(path)
    assert t.errors.height == 0 and t.n_warnings == 0
    assert t.trajectories["format"].to_list() == ["group_chat"] * 4
    assert t.trajectories["outcome"].to_list() == ["unknown", "completed", "unknown", "unknown"]
    searches = t.steps.filter(pl.col("kind") == "search")
    assert searches["text"].to_list() == [
        "Eiffel Tower height 1889",
        "Danube source",
        "Danube length",
        "Eiffel Tower height",
    ]
    assert t.search_results.height == 8
    browsed = t.browses["doc_key"].to_list()
    assert browsed[:2] == [
        "https://www.toureiffel.paris/en/the-monument/key-figures",
        "https://en.wikipedia.org/wiki/Danube",
    ]
    assert browsed[2].startswith("Key figures - Eiffel Tower"), "a Magentic-One click names a shown result"
    assert browsed[3] == "https://en.wikipedia.org/wiki/Gustave_Eiffel"
    mined = lrat.mine(path, judge="none")
    assert set(mined["pos_id"]) == set(browsed[:3]), "the page reached by a link on a page was never shown"
    assert lrat.read_trajectories(path, format="group_chat").trajectories.height == 4


def test_smolagents_teams_read_the_managed_agents_searches_and_pages() -> None:
    """Aegis-style smolagents logs: contents are Python literals of text parts; the search agent's own
    calls sit in the manager's observation, inside `<summary_of_work>`."""
    from conftest import FIXTURES

    path = FIXTURES / "formats" / "smolagents_team.json"
    t = lrat.read_trajectories(path)
    (warning,) = t.errors.rows(named=True)
    assert warning["severity"] == "warning" and '"python_interpreter"' in warning["reason"]
    assert t.trajectories.select("format", "final_answer").row(0) == ("group_chat", "1889")
    assert t.steps.filter(pl.col("kind") == "search")["text"].to_list() == ["Eiffel Tower completed year"]
    assert t.browses["doc_key"].to_list() == ["https://en.wikipedia.org/wiki/Eiffel_Tower"]
    mined = lrat.mine(path, judge="none")
    assert mined["pos_id"].to_list() == ["https://en.wikipedia.org/wiki/Eiffel_Tower"]
    assert "https://www.britannica.com/biography/Gustave-Eiffel" in mined["neg_id"][0].to_list()
