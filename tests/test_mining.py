"""Mining examples from trajectories: the rules of docs/method.md §2 on real and hand-built logs."""

from __future__ import annotations

import json
import math

import lrat
import polars as pl
import pytest
from lrat.mining import mine_with_report, write_flagembedding
from lrat.weighting import intensity_weights


def run_record(steps, query="who?", status="completed", qid="q1"):
    return {"query_id": qid, "query": query, "status": status, "result": steps}


def search(query, docids):
    blocks = "".join(f"DocID:{d}\n[Title {d}]\nsnippet of {d}\n\n" for d in docids)
    return {
        "type": "tool_call",
        "tool_name": "search",
        "arguments": json.dumps({"query": [query]}),
        "output": f"A search for '{query}' found {len(docids)} results:\n\n## Web Results\n{blocks}",
    }


def browse(docid):
    return {
        "type": "tool_call",
        "tool_name": "get_document",
        "arguments": json.dumps({"docid": docid}),
        "output": f"Document {docid}:\nFull text of document {docid}.",
    }


def reason(text):
    return {"type": "reasoning", "tool_name": None, "arguments": None, "output": text}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


GOOD = "This confirms the answer: the page states the birth year clearly and matches every clue."
BAD = "This page is not relevant; it is about a different person."


def test_naive_rule_on_the_real_trajectories_gives_27_examples_from_28_browses(lrat_trajectories):
    df, report = mine_with_report(lrat_trajectories, judge="none", outcomes="all", credit_earlier=False)
    assert report.browses == 28
    assert report.examples == 27 and report.chained == 0 and report.credited == 0
    assert report.not_in_results == 1
    assert df.height == 27 and not df["chained"].any()
    credited, with_credits = mine_with_report(lrat_trajectories, judge="none", outcomes="all")
    assert with_credits.credited == 17 and with_credits.examples == 44, "credits are on by default"
    assert (with_credits.accepted, with_credits.rejected) == (report.accepted, report.rejected) == (27, 0), (
        "the judge's verdicts count browses once, not the credited examples again"
    )
    assert credited.filter(~pl.col("credited")).drop("weight").equals(df.drop("weight"))
    for row in df.iter_rows(named=True):
        assert row["pos_id"] not in row["neg_id"]
        assert len(row["neg_id"]) == len(set(row["neg_id"]))
        assert row["pos"]


def test_examples_and_texts_do_not_depend_on_batch_boundaries(lrat_trajectories):
    whole = lrat.mine(lrat_trajectories, judge="none", outcomes="all")
    one_by_one = lrat.mine(lrat_trajectories, judge="none", outcomes="all", batch_size=1)
    assert whole.height == 44
    assert one_by_one.equals(whole)


def test_negatives_follow_the_segment_order(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            run_record(
                [
                    search("q1", ["a", "b", "c"]),
                    browse("a"),
                    reason(BAD),
                    search("q2", ["d", "e", "b"]),
                    browse("d"),
                    reason(BAD),
                    browse("e"),
                    reason(GOOD),
                ]
            )
        ],
    )
    df, report = mine_with_report(path, keep_rejected=True, tokenizer="whitespace", weighting="none")
    assert (report.accepted, report.rejected) == (1, 2)
    e = df.filter(pl.col("pos_id") == "e").row(0, named=True)
    assert e["query"] == "q2"
    assert e["neg_id"] == ["d", "a", "b", "c"]
    assert e["neg"][0] == "Title d\nFull text of document d.", "the title seen in the results leads the text"
    assert e["pos"] == "Title e\nFull text of document e."
    assert e["pos_source"] == "browse"
    assert e["neg_source"] == ["browse", "browse", "snippet", "snippet"]
    # d and a were opened and rejected; b and c sat below every opened result of their lists.
    assert e["neg_tier"] == [0, 0, 2, 2]
    assert e["context"] == BAD, "the reasoning right before the search that set the query"
    # without keep_rejected only the accepted example stays
    assert mine_with_report(path, tokenizer="whitespace")[0].height == 1


def test_a_callable_judge_sees_each_post_browse_reasoning(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [run_record([search("q", ["a", "b"]), browse("a"), reason("first"), browse("b"), reason("second")])],
    )
    seen = []

    def judge(texts):
        seen.extend(texts)
        return [t == "second" for t in texts]

    df = lrat.mine(path, judge=judge, tokenizer="whitespace")
    assert seen == ["first", "second"]
    assert df["pos_id"].to_list() == ["b"]
    assert df["neg_id"].to_list() == [["a"]]

    with pytest.raises(ValueError, match="1 verdicts for 2"):
        lrat.mine(path, judge=lambda texts: [True])


def test_outcome_filter_keeps_completed_trajectories_by_default(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            run_record([search("q", ["a"]), browse("a"), reason(GOOD)], qid="ok"),
            run_record([search("q", ["b"]), browse("b"), reason(GOOD)], qid="bad", status="max_turns_exceeded"),
        ],
    )
    df, report = mine_with_report(path, tokenizer="whitespace")
    assert df["query_id"].to_list() == ["ok"]
    assert report.dropped_by_outcome == 1
    assert report.examples_by_outcome == {"completed": 1, "failed": 1}
    assert lrat.mine(path, outcomes="all", tokenizer="whitespace").height == 2


def test_logs_that_state_no_outcome_are_kept_and_a_filter_that_empties_the_set_warns(tmp_path):
    unknown = run_record([search("q", ["a"]), browse("a"), reason(GOOD)], qid="silent")
    del unknown["status"]
    path = write_jsonl(tmp_path / "t.jsonl", [unknown])
    df, report = mine_with_report(path, tokenizer="whitespace")
    assert df["query_id"].to_list() == ["silent"] and df["outcome"].to_list() == ["unknown"]
    assert report.examples_by_outcome == {"unknown": 1} and report.dropped_by_outcome == 0

    failed = write_jsonl(
        tmp_path / "f.jsonl",
        [run_record([search("q", ["b"]), browse("b"), reason(GOOD)], qid="x", status="max_turns_exceeded")],
    )
    with pytest.warns(UserWarning, match=r"removed all 1 examples, whose trajectories' outcomes are \{'failed': 1\}"):
        assert lrat.mine(failed, tokenizer="whitespace").height == 0


def test_corpus_texts_and_missing_texts_are_reported(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [run_record([search("q", ["a", "b", "c"]), browse("a"), reason(GOOD)])])
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"id": "a", "title": "Alpha", "text": "alpha body"})
        + "\n"
        + json.dumps({"id": "b", "text": "beta body"})
        + "\n"
    )
    df, report = mine_with_report(path, corpus=corpus, tokenizer="whitespace")
    row = df.row(0, named=True)
    assert row["pos"] == "Alpha\nalpha body"
    assert row["pos_source"] == "corpus"
    assert row["neg_id"] == ["b"], "c has no text in the corpus: left out, not filled"
    assert report.missing_negative_texts == 1

    only_b = tmp_path / "only_b.jsonl"
    only_b.write_text(json.dumps({"id": "b", "text": "beta body"}) + "\n")
    df, report = mine_with_report(path, corpus=only_b, tokenizer="whitespace")
    assert df.height == 0
    assert report.dropped_missing_positive_text == 1


def test_intensity_weights_follow_the_formula():
    lengths = pl.Series([0, 10, 20, 40, None], dtype=pl.UInt32)
    w = intensity_weights(lengths)
    beta = 20.0  # median of the positive lengths
    raw = [1 - math.exp(-math.log(2) * l / beta) for l in (10, 20, 40)]
    mean = sum(raw) / 3
    expected = [1.0] + [r / mean for r in raw] + [1.0]
    assert w.to_list() == pytest.approx(expected)
    assert w[1:4].mean() == pytest.approx(1.0)
    clipped = intensity_weights(lengths, beta=10, normalize=False, clip=(0.6, None))
    assert clipped.to_list() == pytest.approx([1.0, 0.6, 0.75, 1 - 2**-4, 1.0])


def test_token_lengths_come_from_the_default_models_tokenizer(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    text = "Unbelievably, the Havlíček page confirms it."
    path = write_jsonl(tmp_path / "t.jsonl", [run_record([search("q", ["a"]), browse("a"), reason(text)])])
    df = lrat.mine(path)
    reference = tokenizers.Tokenizer.from_file(str(lrat.mining.default_tokenizer_path()))
    reference.no_padding()
    reference.no_truncation()
    expected = len(reference.encode(text, add_special_tokens=False).ids)
    assert expected > len(text.split())
    assert df["reasoning_tokens"].to_list() == [expected]
    assert lrat.mine(path, tokenizer="whitespace")["reasoning_tokens"].to_list() == [6]


def test_flagembedding_jsonl(tmp_path, lrat_trajectories):
    df = lrat.mine(lrat_trajectories, outcomes="all")
    out = tmp_path / "train.jsonl"
    write_flagembedding(df, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == df.height
    assert set(rows[0]) == {"query", "pos", "neg", "pos_id", "neg_id", "neg_tier", "reweight_rate"}
    assert len(rows[0]["neg_tier"]) == len(rows[0]["neg"])
    assert isinstance(rows[0]["pos"], list) and len(rows[0]["pos"]) == 1
    assert sum(r["reweight_rate"] for r in rows) / len(rows) == pytest.approx(1.0)


def test_per_search_rule(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [run_record([search("q1", ["a", "b"]), browse("b"), reason(GOOD), search("q2", ["c", "d"]), browse("a")])],
    )
    df, report = mine_with_report(path, rule="per_search", tokenizer="whitespace")
    assert df.select("query", "pos_id", "neg_id").rows() == [("q1", "b", ["a"])]
    assert report.not_in_results == 1


def test_documents_accepted_anywhere_in_a_trajectory_are_never_its_negatives(tmp_path):
    from lrat.harness.simulate import LexicalSearcher, document_lookup, simulate, write_runs
    from lrat.harness.synthetic import SyntheticConfig, generate

    kb = generate(
        SyntheticConfig(n_people=60, n_cities=15, n_organisations=25, n_works=25, n_events=15, n_questions=60), seed=2
    )
    records = simulate(kb.questions, LexicalSearcher(kb.corpus), document_lookup(kb.corpus), seed=1)
    runs = write_runs(records, tmp_path / "runs.jsonl")
    options = {"corpus": kb.corpus, "judge": "rules", "keep_rejected": True, "outcomes": "all"}
    kept = lrat.mine(runs, exclude_accepted=False, **options)
    cleaned = lrat.mine(runs, **options)
    accepted: dict[str, set[str]] = {}
    for tid, pos, ok in kept.select("trajectory_id", "pos_id", "accepted").iter_rows():
        if ok:
            accepted.setdefault(tid, set()).add(pos)
    leaks = sum(
        d in accepted.get(t, ()) for t, negs in kept.select("trajectory_id", "neg_id").iter_rows() for d in negs
    )
    assert leaks > 0, "the simulated runs should show the problem the option solves"
    assert cleaned.height == kept.height
    for (tid, before), after in zip(kept.select("trajectory_id", "neg_id").iter_rows(), cleaned["neg_id"].to_list()):
        assert after == [d for d in before if d not in accepted.get(tid, ())]
    assert cleaned["neg"].list.len().to_list() == cleaned["neg_id"].list.len().to_list()


def test_negative_tiers_stay_aligned_when_negatives_are_left_out(tmp_path):
    """Accepted documents and documents without text leave the negatives; every other negative keeps
    its tier."""
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            run_record(
                [
                    search("q1", ["a", "b", "c", "d"]),
                    browse("c"),
                    reason(GOOD),
                    search("q2", ["e", "c", "f", "g"]),
                    browse("f"),
                    reason(BAD),
                    browse("g"),
                    reason(GOOD),
                ]
            )
        ],
    )
    corpus = pl.DataFrame({"doc_id": list("abcdfg"), "text": [f"text {d}" for d in "abcdfg"]})  # no e
    options = {"tokenizer": "whitespace", "weighting": "none", "corpus": corpus}
    raw = (
        mine_with_report(path, exclude_accepted=False, **options)[0].filter(pl.col("pos_id") == "g").row(0, named=True)
    )
    assert (raw["neg_id"], raw["neg_tier"]) == (["f", "c"], [0, 1]), "e has no text"
    clean = lrat.mine(path, **options).filter(pl.col("pos_id") == "g").row(0, named=True)
    assert (clean["neg_id"], clean["neg_tier"], clean["neg"]) == (["f"], [0], ["text f"])
    flag = tmp_path / "train.jsonl"
    write_flagembedding(lrat.mine(path, **options), flag)
    assert [json.loads(line)["neg_tier"] for line in flag.read_text().splitlines()] == [[1, 1, 2], [0]]


def test_query_chains_give_reformulated_searches_the_page_found_next(tmp_path):
    """The searches an agent gave up on since its last accepted page are paired with the next page it
    accepts; the CLI flag and the API agree, and chained rows train like any other."""
    from lrat.cli import main

    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            run_record(
                [
                    search("first", ["a", "b"]),
                    browse("a"),
                    reason(GOOD),
                    search("missed it", ["c", "d"]),
                    search("closer", ["d", "e", "x"]),
                    browse("e"),
                    reason(BAD),
                    search("found it", ["f", "x", "g"]),
                    browse("x"),
                    reason(GOOD),
                ]
            )
        ],
    )
    corpus = pl.DataFrame({"doc_id": list("abcdefgx"), "text": [f"text {d}" for d in "abcdefgx"]})
    options = {"tokenizer": "whitespace", "corpus": corpus, "credit_earlier": False}
    plain = lrat.mine(path, **options)
    chained, report = mine_with_report(path, chain_queries=True, **options)
    assert not plain["chained"].any()
    assert chained.head(plain.height).drop("weight").equals(plain.drop("weight"))
    extra = chained.filter(pl.col("chained")).sort("search_step")
    assert report.chained == extra.height == 2
    assert extra.select("query", "pos_id", "rank", "neg_id", "neg_tier").rows() == [
        ("missed it", "x", 0, ["c", "d"], [2, 2]),
        ("closer", "x", 3, ["e", "d"], [0, 1]),
    ]
    assert extra["pos"].to_list() == ["text x", "text x"] and extra["neg"].to_list() == [
        ["text c", "text d"],
        ["text e", "text d"],
    ]
    assert extra["reasoning"].to_list() == [GOOD, GOOD]
    found = chained.filter(pl.col("query") == "found it")["weight"].item()
    assert extra["weight"].to_list() == [found, found], "a chained row is weighted by the accepted page's reasoning"
    assert "2 of the examples from query chains" in report.summary()

    corpus.write_ndjson(tmp_path / "corpus.jsonl")
    out = tmp_path / "train.parquet"
    command = [
        *("mine", str(path), "--corpus", str(tmp_path / "corpus.jsonl"), "-o", str(out)),
        *("--no-progress", "--no-credit-earlier"),
    ]
    assert main([*command, "--chain-queries", "--tokenizer", "whitespace"]) == 0
    assert pl.read_parquet(out)["chained"].sum() == 2
    assert main(command) == 0
    assert pl.read_parquet(out).height == plain.height


def test_crediting_pairs_an_accepted_page_with_the_earlier_searches_that_listed_it(tmp_path):
    """A page the agent passed over in one list and accepted after a later search is a positive of the
    earlier search too (on by default); a rejected page is credited nowhere; the CLI flag and the API agree."""
    from lrat.cli import main

    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            run_record(
                [
                    search("first look", ["a", "x", "b"]),
                    browse("a"),
                    reason(BAD),
                    search("elsewhere", ["c", "d"]),
                    search("second look", ["d", "x", "e"]),
                    browse("x"),
                    reason(GOOD),
                    search("after", ["x", "f"]),
                    browse("f"),
                    reason(BAD),
                ]
            )
        ],
    )
    corpus = pl.DataFrame({"doc_id": list("abcdefx"), "text": [f"text {d}" for d in "abcdefx"]})
    options = {"tokenizer": "whitespace", "corpus": corpus}
    plain = lrat.mine(path, credit_earlier=False, **options)
    credited, report = mine_with_report(path, **options)
    assert not plain["credited"].any()
    assert credited.head(plain.height).drop("weight").equals(plain.drop("weight"))
    extra = credited.filter(pl.col("credited"))
    assert report.credited == extra.height == 1, "not 'elsewhere' (x unlisted), not 'after' (later)"
    assert extra.select("query", "pos_id", "rank", "neg_id", "neg_tier", "chained").row(0) == (
        "first look",
        "x",
        2,
        ["a", "b"],
        [0, 2],
        False,
    )
    assert extra["reasoning"].item() == GOOD
    found = credited.filter(pl.col("query") == "second look")["weight"].item()
    assert extra["weight"].item() == found, "a credited row is weighted by the accepted page's reasoning"
    assert "1 credited to earlier searches" in report.summary()

    corpus.write_ndjson(tmp_path / "corpus.jsonl")
    out = tmp_path / "train.parquet"
    command = ["mine", str(path), "--corpus", str(tmp_path / "corpus.jsonl"), "-o", str(out), "--no-progress"]
    assert main([*command, "--tokenizer", "whitespace"]) == 0
    assert pl.read_parquet(out)["credited"].sum() == 1
    assert main([*command, "--no-credit-earlier", "--tokenizer", "whitespace"]) == 0
    assert not pl.read_parquet(out)["credited"].any()


def test_contextual_queries_join_the_reasoning_before_the_search_as_the_bench_and_simulator_do(tmp_path):
    from lrat.bench import search_contexts
    from lrat.contextual import contextual_query
    from lrat.harness.simulate import LexicalSearcher, document_lookup, simulate, write_runs
    from lrat.harness.synthetic import SyntheticConfig, generate

    kb = generate(
        SyntheticConfig(n_people=40, n_cities=10, n_organisations=15, n_works=15, n_events=10, n_questions=30), seed=3
    )
    seen: list[str] = []

    class Recording(LexicalSearcher):
        def search(self, queries, k):
            seen.extend(queries)
            return super().search([q.partition("\n")[0] for q in queries], k)

    records = simulate(kb.questions, Recording(kb.corpus), document_lookup(kb.corpus), seed=1, contextual=True)
    runs = write_runs(records, tmp_path / "runs.jsonl")
    options = {"corpus": kb.corpus, "outcomes": "all"}
    plain = lrat.mine(runs, **options)
    joined = lrat.mine(runs, contextual_queries=True, **options)
    assert joined.height == plain.height > 0
    assert (joined["context"].str.strip_chars() != "").all(), "every simulated search follows a reasoning step"
    by_trajectory = {r["query_id"]: search_contexts(r) for r in records}
    for row_plain, row_joined in zip(plain.iter_rows(named=True), joined.iter_rows(named=True)):
        context = by_trajectory[row_plain["query_id"]][row_plain["query"]]
        expected = contextual_query(row_plain["query"], context)
        assert row_joined["query"] == expected == f"{row_plain['query']}\n{row_plain['context'].strip()}"
        assert expected in seen, "the simulator searched with the same contextual query"
    assert contextual_query("q", "  ") == "q" and contextual_query("q", None) == "q"


def test_judge_none_is_the_naive_judge_in_the_core_as_in_mine(lrat_trajectories):
    from lrat import _core
    from lrat.mining import token_counter
    from lrat.trajectories import open_reader

    (batch,) = list(open_reader(lrat_trajectories, "auto", batch_size=1000))
    counter = token_counter()
    naive = _core.mine_batch(batch, counter, judge=None)["stats"]
    assert naive == _core.mine_batch(batch, counter, judge="none")["stats"]
    assert naive["rejected"] == 0 and naive["accepted"] == naive["examples"] == 27
    assert _core.mine_batch(batch, counter, judge="rules")["stats"]["rejected"] > 0
    with pytest.raises(TypeError, match="judge"):
        _core.mine_batch(batch, counter)  # type: ignore[call-arg]
    assert lrat.mine(lrat_trajectories, judge=None, outcomes="all", credit_earlier=False).height == 27


def test_question_examples_pair_the_trajectory_question_with_each_accepted_page(tmp_path):
    """With question_examples (off by default), every page the agent accepted is also a positive of the
    question the trajectory set out to answer, with that browse's negatives and weight; a rejected page
    is not, and a search that was the question itself already holds its pair."""
    from lrat.cli import main

    question = "Which city hosts the museum founded by the author of X?"
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            run_record(
                [
                    search(question, ["a", "x", "b"]),
                    browse("x"),
                    reason(GOOD),
                    search("author of X museum", ["c", "y", "d"]),
                    browse("c"),
                    reason(BAD),
                    browse("y"),
                    reason(GOOD),
                ],
                query=question,
            ),
            run_record([search("other", ["e", "z"]), browse("z"), reason(GOOD)], query="", qid="q2"),
        ],
    )
    corpus = pl.DataFrame({"doc_id": list("abcdexyz"), "text": [f"text {d}" for d in "abcdexyz"]})
    options = {"tokenizer": "whitespace", "corpus": corpus}
    plain = lrat.mine(path, **options)
    asked, report = mine_with_report(path, question_examples=True, **options)
    assert not plain["from_question"].any()
    assert asked.filter(~pl.col("from_question")).drop("weight").equals(plain.drop("weight"))
    extra = asked.filter(pl.col("from_question"))
    # x was found by the question itself (already paired); c was rejected; q2 states no question.
    assert extra.select("query", "pos_id", "neg_id", "context").rows() == [(question, "y", ["c", "d"], "")]
    by_search = asked.filter(~pl.col("from_question") & (pl.col("pos_id") == "y"))
    assert extra["weight"].item() == by_search["weight"].item(), "weighted by the accepted page's reasoning"
    assert report.from_question == 1 and report.examples == report.accepted + report.rejected + report.credited + 1
    assert "1 pairing the question with an accepted page" in report.summary()

    corpus.write_ndjson(tmp_path / "corpus.jsonl")
    out = tmp_path / "train.parquet"
    command = ["mine", str(path), "--corpus", str(tmp_path / "corpus.jsonl"), "-o", str(out), "--no-progress"]
    assert main([*command, "--tokenizer", "whitespace", "--question-examples"]) == 0
    assert pl.read_parquet(out)["from_question"].sum() == 1
