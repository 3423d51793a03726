"""`lrat.stats` and `lrat stats`: Table 1, transitions, browsed ranks and post-browse reasoning lengths,
checked against figures computed here from the raw JSON with plain loops (not through lrat)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import lrat
import lrat.mining
import pytest
from lrat import stats as lrat_stats
from lrat.cli import main

BROWSE_TOOLS = {"get_document", "visit"}
BLOCK_SEPARATOR = "\n=======\n"


def _docids(block: str) -> list[str]:
    return [part.split("\n", 1)[0].strip() for part in block.split("DocID:")[1:]]


def independent_figures(records: list[dict]) -> dict:
    """The module's definitions, on raw BrowseComp records."""
    per_outcome: dict[str, list[tuple[int, int]]] = {}
    transitions: Counter = Counter()
    ranks: Counter = Counter()
    not_in_results = 0
    lengths = []
    without_reasoning = 0
    for record in records:
        calls = []  # "S" per search step, ("B", docid) per browse
        history: list[list[str]] = []
        items = record["result"]
        for i, item in enumerate(items):
            if item["type"] != "tool_call":
                continue
            if item["tool_name"] == "search":
                queries = json.loads(item["arguments"])["query"]
                blocks = item["output"].split(BLOCK_SEPARATOR)
                if isinstance(queries, list) and len(queries) > 1 and len(blocks) == len(queries):
                    lists = [_docids(b) for b in blocks]
                else:
                    lists = [_docids(item["output"])]
                for ids in lists:
                    calls.append("S")
                    history.append(ids)
            elif item["tool_name"] in BROWSE_TOOLS:
                docid = str(json.loads(item["arguments"])["docid"])
                calls.append("B")
                rank = next((ids.index(docid) + 1 for ids in reversed(history) if docid in ids), None)
                if rank is None:
                    not_in_results += 1
                else:
                    ranks[rank] += 1
                after = items[i + 1] if i + 1 < len(items) else None
                if after is not None and after["type"] == "reasoning":
                    lengths.append(len(after["output"].split()))
                else:
                    without_reasoning += 1
        transitions.update(f"{a}->{b}" for a, b in zip(calls, calls[1:]))
        per_outcome.setdefault(record["status"], []).append((calls.count("S"), calls.count("B")))
    return {
        "per_outcome": per_outcome,
        "transitions": transitions,
        "ranks": ranks,
        "not_in_results": not_in_results,
        "lengths": lengths,
        "without_reasoning": without_reasoning,
    }


def check_table1_row(row: dict, pairs: list[tuple[int, int]]) -> None:
    n = len(pairs)
    searches = sum(s for s, _ in pairs)
    browses = sum(b for _, b in pairs)
    assert row["trajectories"] == n
    assert row["searches"] == searches
    assert row["browses"] == browses
    assert row["avg_searches"] == pytest.approx(searches / n)
    assert row["avg_browses"] == pytest.approx(browses / n)
    assert row["avg_steps"] == pytest.approx((searches + browses) / n)
    assert row["browse_search_ratio"] == pytest.approx(browses / searches)


def check_against_independent(stats: dict, records: list[dict]) -> dict:
    ref = independent_figures(records)
    everything = [p for pairs in ref["per_outcome"].values() for p in pairs]
    check_table1_row(stats["table1"]["all"], everything)
    assert set(stats["table1"]) == {"all", *ref["per_outcome"]}
    for outcome, pairs in ref["per_outcome"].items():
        check_table1_row(stats["table1"][outcome], pairs)

    t = stats["transitions"]
    assert t["counts"] == {k: ref["transitions"][k] for k in ("S->S", "S->B", "B->S", "B->B")}
    for origin in "SB":
        out = ref["transitions"][f"{origin}->S"] + ref["transitions"][f"{origin}->B"]
        for target in "SB":
            assert t["probabilities"][f"{origin}->{target}"] == pytest.approx(
                ref["transitions"][f"{origin}->{target}"] / out
            )

    r = stats["browsed_ranks"]
    assert r["counts"] == dict(sorted(ref["ranks"].items()))
    assert r["not_in_results"] == ref["not_in_results"]
    assert r["found"] == sum(ref["ranks"].values())
    assert r["no_doc_id"] == 0

    s = stats["reasoning_tokens"]
    assert s["count"] == len(ref["lengths"])
    assert s["without_reasoning"] == ref["without_reasoning"]
    assert s["mean"] == pytest.approx(sum(ref["lengths"]) / len(ref["lengths"]))
    assert (s["min"], s["max"]) == (min(ref["lengths"]), max(ref["lengths"]))
    assert sum(s["histogram"]["counts"]) == len(ref["lengths"])
    return ref


def test_figures_on_the_real_trajectories_match_plain_loops(lrat_trajectories, real_records):
    stats = lrat_stats.compute(lrat.read_trajectories(lrat_trajectories), tokenizer="whitespace")
    ref = check_against_independent(stats, real_records)
    # What the real files hold: 10 completed runs and 28 browses, each of a document some earlier
    # search of its trajectory returned (mining's one "not in results" comes from its segment reset).
    assert stats["table1"]["all"]["trajectories"] == 10
    assert stats["table1"]["all"]["browses"] == 28
    assert stats["browsed_ranks"]["not_in_results"] == 0
    assert ref["without_reasoning"] == 0


def test_default_tokenizer_counts_match_the_tokenizers_package(lrat_trajectories, real_records):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(lrat.mining.default_tokenizer_path()))
    tok.no_truncation()
    tok.no_padding()
    expected = []
    for record in real_records:
        items = record["result"]
        for i, item in enumerate(items):
            if (
                item["type"] == "tool_call"
                and item["tool_name"] in BROWSE_TOOLS
                and items[i + 1]["type"] == "reasoning"
            ):
                expected.append(len(tok.encode(items[i + 1]["output"], add_special_tokens=False).ids))
    s = lrat_stats.compute(lrat.read_trajectories(lrat_trajectories))["reasoning_tokens"]
    assert s["count"] == len(expected) == 28
    assert s["mean"] == pytest.approx(sum(expected) / len(expected))
    assert (s["min"], s["max"]) == (min(expected), max(expected))


def _search(query, docids):
    blocks = "".join(f"DocID:{d}\n[Title {d}]\nsnippet of {d}\n\n" for d in docids)
    return {
        "type": "tool_call",
        "tool_name": "search",
        "arguments": json.dumps({"query": [query]}),
        "output": f"## Web Results\n{blocks}",
    }


def _browse(docid):
    return {
        "type": "tool_call",
        "tool_name": "get_document",
        "arguments": json.dumps({"docid": docid}),
        "output": f"Document {docid}:\ntext {docid}",
    }


def _reason(text):
    return {"type": "reasoning", "tool_name": None, "arguments": None, "output": text}


TINY = [
    {
        "query_id": "a",
        "query": "q?",
        "status": "completed",
        "result": [
            _reason("start"),
            _search("one", ["d1", "d2", "d3"]),  # S
            _reason("open the second"),
            _browse("d2"),  # B, rank 2
            _reason("useful page with four words"),  # 5 words
            _search("two", ["d4", "d2"]),  # S
            _browse("d2"),  # B, rank 2 in the newer list
            _browse("d9"),  # B, in no result list; followed by no reasoning
            {"type": "output_text", "tool_name": None, "arguments": None, "output": "answer"},
        ],
    },
    {
        "query_id": "b",
        "query": "r?",
        "status": "failed",
        "result": [_search("three", ["d5"]), _search("four", ["d6", "d7"]), _browse("d7"), _reason("ok")],
    },
]


def write_tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TINY))
    return path


def test_hand_built_case(tmp_path):
    stats = lrat_stats.compute(lrat.read_trajectories(write_tiny(tmp_path)), tokenizer="whitespace")
    t1 = stats["table1"]
    assert t1["completed"] == {
        "trajectories": 1,
        "searches": 2,
        "browses": 3,
        "avg_searches": 2.0,
        "avg_browses": 3.0,
        "browse_search_ratio": 1.5,
        "avg_steps": 5.0,
    }
    assert t1["failed"]["avg_steps"] == 3.0 and t1["failed"]["browse_search_ratio"] == 0.5
    assert t1["all"]["trajectories"] == 2 and t1["all"]["avg_steps"] == 4.0
    # Calls: S B S B B | S S B
    assert stats["transitions"]["counts"] == {"S->S": 1, "S->B": 3, "B->S": 1, "B->B": 1}
    assert stats["transitions"]["probabilities"]["S->B"] == pytest.approx(0.75)
    assert stats["transitions"]["probabilities"]["B->B"] == pytest.approx(0.5)
    r = stats["browsed_ranks"]
    assert r["counts"] == {2: 3} and r["not_in_results"] == 1 and r["browses"] == 4
    s = stats["reasoning_tokens"]
    assert s["count"] == 2 and s["without_reasoning"] == 2
    assert (s["min"], s["max"], s["mean"]) == (1, 5, 3.0)
    check_against_independent(stats, TINY)


def test_reading_figures_count_what_the_reader_understood(tmp_path):
    unread = {
        "query_id": "c",
        "query": "s?",
        "result": [
            _search("five", []),  # a search whose output lists nothing
            {
                "type": "tool_call",
                "tool_name": "get_document",
                "arguments": '{"docid": "x"}',
                "output": "Error: not found",
            },
        ],
    }
    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*TINY, unread]) + "not json\n")
    t = lrat.read_trajectories(path)
    g = lrat_stats.compute(t, tokenizer="whitespace")["reading"]
    assert g["records_skipped"] == 1
    assert g["searches_with_results"] == {"count": 4, "of": 5, "fraction": 0.8}
    # d2, d2 and d7 were shown; d9 was not, but its page was read; x was neither shown nor read.
    assert g["browses_matched"] == {"count": 3, "of": 5, "fraction": 0.6}
    assert g["browses_matched_or_page"] == {"count": 4, "of": 5, "fraction": 0.8}
    assert g["outcomes_known"] == {"count": 2, "of": 3, "fraction": pytest.approx(2 / 3)}
    assert "searches with results 4/5 (80.0%)" in lrat_stats.format_stats(lrat_stats.compute(t, tokenizer="whitespace"))


def test_duplicate_trajectory_ids_are_refused(tmp_path):
    # Records that carry their own id keep it, so two files can hold the same one.
    record = {**TINY[0], "trajectory_id": "same"}
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(json.dumps(record) + "\n")
    t = lrat.read_trajectories([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    with pytest.raises(ValueError, match="not unique"):
        lrat_stats.compute(t)


def test_cli_prints_and_writes_json_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = write_tiny(tmp_path)
    out, plots = tmp_path / "stats.json", tmp_path / "plots"
    assert main(["stats", str(path), "--json", str(out), "--plots", str(plots), "--tokenizer", "whitespace"]) == 0
    printed = capsys.readouterr().out
    assert "completed" in printed and "P(S→B) = 0.75" in printed
    written = json.loads(out.read_text())
    assert written["table1"]["all"]["trajectories"] == 2
    assert written["browsed_ranks"]["counts"] == {"2": 3}
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["browsed_ranks.png", "reasoning_tokens.png", "table1.png", "transitions.png"]
    for p in plots.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_without_matplotlib(tmp_path, capsys, monkeypatch):
    path = write_tiny(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["stats", str(path), "--tokenizer", "whitespace"]) == 0
    assert "transitions" in capsys.readouterr().out
    assert main(["stats", str(path), "--plots", str(tmp_path / "p")]) == 1
    assert "plots need matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
