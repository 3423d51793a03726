"""Retrieval metrics against trec_eval (pytrec-eval-terrier), trajectory metrics on hand-computed cases."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from lrat.evaluation import (
    answer_is_correct,
    evaluate_run,
    evaluate_trajectories,
    query_metrics,
    read_qrels,
    read_run,
    trec_ranking,
)

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is the reference implementation")

KS = (1, 3, 5, 10, 20, 100)


def realistic(seed: int = 7):
    """Hundreds of queries, graded judgements (0-3), ties in scores, unjudged retrieved documents,
    qrels queries missing from the run, run queries absent from the qrels, a query with no relevant doc."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(5000)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(400):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 12))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if q % 10 == 3:
            continue  # missing from the run
        pool = set(rng.sample(docs, rng.randint(5, 120)))
        pool.update(d for d in judged if rng.random() < 0.6)
        # Scores on a coarse grid so that many ties occur.
        run[qid] = {d: round(rng.uniform(0, 3), 1) for d in pool}
    qrels["q_norel"] = {"d1": 0, "d2": 0}
    run["q_norel"] = {"d1": 1.0, "d3": 0.5}
    run["q_not_judged"] = {"d1": 2.0}
    return qrels, run


def reference(qrels, run):
    measures = {
        f"recall.{','.join(map(str, KS))}",
        f"ndcg_cut.{','.join(map(str, KS))}",
        "recip_rank",
        f"success.{','.join(map(str, KS))}",
    }
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


def ref_name(measure: str) -> str:
    if measure == "mrr":
        return "recip_rank"
    name, k = measure.split("@")
    return {"recall": "recall", "ndcg": "ndcg_cut", "success": "success"}[name] + f"_{k}"


def test_every_measure_matches_trec_eval_per_query():
    qrels, run = realistic()
    ref = reference(qrels, run)
    report = evaluate_run(run, qrels, KS, complete=False)
    assert report.n_queries == len(ref)  # queries of both run and qrels
    ties = sum(len(s) - len(set(s.values())) for s in run.values())
    assert ties > 1000, "the fixture must exercise tie-breaking"
    for row in report.per_query.iter_rows(named=True):
        expected = ref[row["query_id"]]
        for m in report.measures:
            assert row[m] == pytest.approx(expected[ref_name(m)], abs=1e-12), (row["query_id"], m)


def test_means_follow_trec_eval_with_and_without_c():
    qrels, run = realistic(11)
    ref = reference(qrels, run)
    partial = evaluate_run(run, qrels, KS, complete=False)
    full = evaluate_run(run, qrels, KS, complete=True)
    assert full.n_queries == len(qrels)
    assert full.n_missing == sum(1 for q in qrels if q not in run) == 40
    for m in partial.measures:
        values = [ref[q][ref_name(m)] for q in ref]
        assert partial.mean[m] == pytest.approx(sum(values) / len(values), abs=1e-12)
        # trec_eval -c: missing queries contribute zeros over the qrels' query count.
        assert full.mean[m] == pytest.approx(sum(values) / len(qrels), abs=1e-12)


def test_ties_are_broken_by_docid_descending():
    assert trec_ranking({"a": 1.0, "c": 2.0, "b": 1.0, "d": 1.0}) == ["c", "d", "b", "a"]
    values = query_metrics({"a": 1.0, "b": 1.0}, {"a": 1}, ks=(1,))
    assert values["success@1"] == 0.0 and values["mrr"] == 0.5


def test_graded_ndcg_by_hand():
    values = query_metrics({"x": 3.0, "y": 2.0, "z": 1.0}, {"y": 2, "z": 1, "w": 3}, ks=(3,))
    dcg = 2 / 1.584962500721156 + 1 / 2
    idcg = 3 + 2 / 1.584962500721156 + 1 / 2
    assert values["ndcg@3"] == pytest.approx(dcg / idcg)
    assert values["recall@3"] == pytest.approx(2 / 3)


def test_trec_and_jsonl_files_read_the_same(tmp_path):
    qrels, run = realistic(3)
    trec_q, jsonl_q = tmp_path / "q.txt", tmp_path / "q.jsonl"
    trec_q.write_text("".join(f"{q} 0 {d} {r}\n" for q, ds in qrels.items() for d, r in ds.items()))
    jsonl_q.write_text(
        "".join(
            json.dumps({"query_id": q, "doc_id": d, "relevance": r}) + "\n"
            for q, ds in qrels.items()
            for d, r in ds.items()
        )
    )
    trec_r, jsonl_r = tmp_path / "r.trec", tmp_path / "r.jsonl"
    lines, jlines = [], []
    for q, scores in run.items():
        for rank, d in enumerate(trec_ranking(scores), start=1):
            lines.append(f"{q} Q0 {d} {rank} {scores[d]} test\n")
            jlines.append(json.dumps({"query_id": q, "docid": d, "score": scores[d]}) + "\n")
    trec_r.write_text("".join(lines))
    jsonl_r.write_text("".join(jlines))
    assert read_qrels(trec_q) == read_qrels(jsonl_q) == qrels
    assert read_run(trec_r) == read_run(jsonl_r) == run


def test_bad_lines_are_named(tmp_path):
    bad = tmp_path / "bad.qrels"
    bad.write_text("q1 0 d1 1\nq1 0 d2\n")
    with pytest.raises(ValueError, match=r"bad.qrels:2: a TREC qrels line has 4 fields"):
        read_qrels(bad)
    bad_run = tmp_path / "bad.jsonl"
    bad_run.write_text('{"query_id": "q", "docid": "a", "score": 1}\n{"query_id": "q", "docid": "a", "score": 2}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: document 'a' is listed twice"):
        read_run(bad_run)
    bad_run.write_text('{"query_id": "q", "docid": "a", "score": "high"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: score 'high' is not a number"):
        read_run(bad_run)


# --- trajectory metrics -----------------------------------------------------------------------


def small_logs():
    trajectories = pl.DataFrame(
        {
            "trajectory_id": ["t1", "t2", "t3"],
            "query_id": ["q1", "q2", "q3"],
            "question": ["?", "?", "?"],
            "final_answer": ["Explanation: ...\nExact Answer: The Kestrel Institute", "I think it is Paris.", None],
            "gold_answer": ["Kestrel Institute", "London", "1923"],
            "outcome": ["completed", "completed", "failed"],
            "n_searches": [3, 2, 5],
            "n_browses": [2, 0, 1],
        }
    )
    search_results = pl.DataFrame(
        {
            "trajectory_id": ["t1", "t1", "t1", "t1", "t2", "t2", "t3"],
            "step": [1, 1, 3, 5, 1, 1, 1],
            "rank": [1, 2, 1, 1, 1, 2, 1],
            "doc_key": ["e1", "x", "e2", "e1", "y", "e3", None],
        }
    )
    browses = pl.DataFrame(
        {"trajectory_id": ["t1", "t1", "t3"], "step": [2, 4, 2], "doc_key": ["e1", "e2", "z"], "ok": [True, True, True]}
    )
    qrels = {"q1": {"e1": 1, "e2": 2, "e9": 1, "n": 0}, "q2": {"e3": 1, "e4": 1}}
    return trajectories, search_results, browses, qrels


class Logs:
    def __init__(self, trajectories, search_results, browses):
        self.trajectories, self.search_results, self.browses = trajectories, search_results, browses
        self.steps = None


def test_trajectory_metrics_by_hand():
    trajectories, search_results, browses, qrels = small_logs()
    report = evaluate_trajectories(Logs(trajectories, search_results, browses), qrels)
    per = {r["trajectory_id"]: r for r in report.per_trajectory.iter_rows(named=True)}
    assert per["t1"]["evidence_recall"] == pytest.approx(2 / 3)  # e1, e2 of {e1, e2, e9}; 'n' has rel 0
    assert per["t2"]["evidence_recall"] == pytest.approx(1 / 2)
    assert per["t3"]["evidence_recall"] is None  # no qrels for q3
    assert [per[t]["correct"] for t in ("t1", "t2", "t3")] == [True, False, False]
    assert [per[t]["steps"] for t in ("t1", "t2", "t3")] == [5, 2, 6]
    s = report.summary
    assert s["evidence_recall"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert s["success_rate"] == pytest.approx(1 / 3)
    assert s["steps"] == pytest.approx(13 / 3)
    assert s["searches_per_success"] == pytest.approx(10 / 1)
    assert (s["n_trajectories"], s["n_with_evidence"], s["n_judged"], s["n_success"]) == (3, 2, 3, 1)


def test_correct_flags_and_answer_mapping_override_gold():
    trajectories, search_results, _, qrels = small_logs()
    report = evaluate_trajectories(
        trajectories, qrels, search_results=search_results, correct={"t2": True}, answers={"q1": ["Harrowby"]}
    )
    per = dict(report.per_trajectory.select("trajectory_id", "correct").iter_rows())
    assert per == {"t1": False, "t2": True, "t3": False}
    none = evaluate_trajectories(trajectories.drop("gold_answer"), qrels, search_results=search_results)
    assert none.summary["n_judged"] == 0 and none.summary["success_rate"] is None
    assert none.summary["searches_per_success"] is None


def test_answer_judge():
    assert answer_is_correct("Exact Answer: the Río Tinto.", "Rio Tinto") is False  # accents are kept
    assert answer_is_correct("Exact Answer: Río Tinto.", "río tinto")
    assert answer_is_correct("It was founded in 1923 by him", "1923")
    assert not answer_is_correct("It was founded in 19234", "1923")
    assert not answer_is_correct("", "x")


def test_missing_columns_are_reported():
    trajectories, search_results, _, qrels = small_logs()
    with pytest.raises(ValueError, match="search_results table lacks column"):
        evaluate_trajectories(trajectories, qrels, search_results=search_results.drop("doc_key"))
    with pytest.raises(ValueError, match="pass `search_results`"):
        evaluate_trajectories(trajectories, qrels)


# --- the `lrat eval` command ------------------------------------------------------------------


def eval_main(argv):
    import argparse

    from lrat.commands import eval as eval_command

    parser = argparse.ArgumentParser(prog="lrat")
    eval_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_eval_run_command_prints_and_writes_trec_eval_figures(tmp_path, capsys):
    qrels, run = realistic(5)
    qpath, rpath, out = tmp_path / "q.txt", tmp_path / "r.trec", tmp_path / "out" / "m.json"
    qpath.write_text("".join(f"{q} 0 {d} {r}\n" for q, ds in qrels.items() for d, r in ds.items()))
    rpath.write_text(
        "".join(f"{q} Q0 {d} {i} {s[d]} x\n" for q, s in run.items() for i, d in enumerate(trec_ranking(s), start=1))
    )
    assert eval_main(["eval", "run", str(rpath), "--qrels", str(qpath), "-k", "10", "--json", str(out)]) == 0
    ref = reference(qrels, run)
    expected = sum(ref[q]["ndcg_cut_10"] for q in ref) / len(qrels)
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed and f"{expected:.4f}" in printed
    assert "unanswered queries (scored 0)  40" in printed
    payload = json.loads(out.read_text())
    assert payload["mean"]["ndcg@10"] == pytest.approx(expected)
    assert len(payload["per_query"]) == len(qrels)
    assert (
        eval_main(["eval", "run", str(rpath), "--qrels", str(qpath), "-k", "10", "--only-answered", "--json", str(out)])
        == 0
    )
    assert json.loads(out.read_text())["mean"]["ndcg@10"] == pytest.approx(
        sum(ref[q]["ndcg_cut_10"] for q in ref) / len(ref)
    )


def test_eval_trajectories_command_uses_read_trajectories(tmp_path, capsys, monkeypatch):
    """`lrat.read_trajectories` is provided by the parsing layer; here a stand-in with its API."""
    import lrat

    trajectories, search_results, browses, qrels = small_logs()
    seen = []

    def read_trajectories(paths):
        seen.append(paths)
        return Logs(trajectories, search_results, browses)

    monkeypatch.setattr(lrat, "read_trajectories", read_trajectories, raising=False)
    qpath = tmp_path / "q.jsonl"
    qpath.write_text(
        "".join(
            json.dumps({"query_id": q, "docid": d, "relevance": r}) + "\n"
            for q, ds in qrels.items()
            for d, r in ds.items()
        )
    )
    out = tmp_path / "t.json"
    logs = tmp_path / "run.jsonl"
    assert eval_main(["eval", "trajectories", str(logs), "--qrels", str(qpath), "--json", str(out)]) == 0
    assert seen == [[str(logs)]]
    summary = json.loads(out.read_text())["summary"]
    assert summary["evidence_recall"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert summary["success_rate"] == pytest.approx(1 / 3)
    assert "searches_per_success" in capsys.readouterr().out


def test_lrat_eval_is_the_evaluation_module():
    import lrat
    import lrat.evaluation

    assert lrat.eval is lrat.evaluation
    assert "eval" not in lrat.__all__  # `from lrat import *` must not shadow the builtin
