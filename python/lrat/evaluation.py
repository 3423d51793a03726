"""Retrieval metrics over qrels with trec_eval's semantics, and agent-level trajectory metrics.

Retrieval (`evaluate_run`): Recall@k, nDCG@k (trec_eval `ndcg_cut`), MRR (`recip_rank`) and
success@k (`success`), per query and averaged. Documents are ranked as trec_eval ranks them: by score,
descending, ties broken by document id, descending (the rank column of a TREC run is ignored, as
trec_eval ignores it). A document is relevant when its judgement is at least `relevance_level` (1);
nDCG uses the judgement itself as gain with a log2(rank + 1) discount and the ideal ranking of the
query's judged documents. Unjudged documents are non-relevant.

Queries of the qrels that the run does not answer count as zero for every measure by default
(`complete=True`, trec_eval's `-c`); with `complete=False` only the queries the run answers are
averaged (trec_eval's default). Run queries absent from the qrels are ignored, as trec_eval does.

Trajectories (`evaluate_trajectories`) use the BrowseComp-Plus definitions: evidence recall = |documents returned by any
search of the trajectory ∩ evidence| / |evidence| (averaged over trajectories whose query has
evidence), success rate = share of judged-correct final answers, steps = search + browse calls,
searches per success = all search calls / number of successes.
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

Qrels = Mapping[str, Mapping[str, int]]
"""query id → document id → graded judgement."""
Run = Mapping[str, Mapping[str, float]]
"""query id → document id → retrieval score (higher is better)."""

DEFAULT_KS = (1, 5, 10, 100)


# ---------------------------------------------------------------------------------------------
# Reading qrels and runs


def _records(path: Path) -> Iterable[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if text and not text.startswith("#"):
                yield number, text


def _is_jsonl(path: Path) -> bool:
    for _, text in _records(path):
        return text.startswith("{")
    return False


def _json_field(obj: dict[str, Any], names: tuple[str, ...], where: str) -> Any:
    for name in names:
        if name in obj and obj[name] is not None:
            return obj[name]
    raise ValueError(f"{where}: missing field {' or '.join(repr(n) for n in names)}")


def _parse_json(text: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, found {type(obj).__name__}")
    return obj


def _as_int(value: Any, what: str, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} {value!r} is not a number") from None
    if not number.is_integer():
        raise ValueError(f"{where}: {what} {value!r} is not an integer")
    return int(number)


def _as_float(value: Any, what: str, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} {value!r} is not a number") from None
    if math.isnan(number):
        raise ValueError(f"{where}: {what} is NaN")
    return number


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Reads TREC qrels (`qid iteration docid relevance`) or JSONL
    (`{"query_id", "doc_id" | "docid", "relevance"}`; `qid` and `rel` are accepted too)."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    jsonl = _is_jsonl(path)
    for number, text in _records(path):
        where = f"{path}:{number}"
        if jsonl:
            obj = _parse_json(text, where)
            qid = str(_json_field(obj, ("query_id", "qid"), where))
            docid = str(_json_field(obj, ("doc_id", "docid"), where))
            rel = _as_int(_json_field(obj, ("relevance", "rel", "label"), where), "relevance", where)
        else:
            parts = text.split()
            if len(parts) != 4:
                raise ValueError(
                    f"{where}: a TREC qrels line has 4 fields (qid iteration docid relevance), found {len(parts)}"
                )
            qid, _, docid, rel_text = parts
            rel = _as_int(rel_text, "relevance", where)
        qrels.setdefault(qid, {})[docid] = rel
    return qrels


def read_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Reads a TREC run (`qid Q0 docid rank score tag`) or JSONL (`{"query_id", "doc_id" | "docid",
    "score"}`; with no score, `rank` is used as score −rank). A document listed twice for the same
    query is an error."""
    path = Path(path)
    run: dict[str, dict[str, float]] = {}
    jsonl = _is_jsonl(path)
    for number, text in _records(path):
        where = f"{path}:{number}"
        if jsonl:
            obj = _parse_json(text, where)
            qid = str(_json_field(obj, ("query_id", "qid"), where))
            docid = str(_json_field(obj, ("doc_id", "docid"), where))
            if obj.get("score") is not None:
                score = _as_float(obj["score"], "score", where)
            elif obj.get("rank") is not None:
                score = -_as_float(obj["rank"], "rank", where)
            else:
                raise ValueError(f"{where}: missing field 'score' (or 'rank')")
        else:
            parts = text.split()
            if len(parts) != 6:
                raise ValueError(
                    f"{where}: a TREC run line has 6 fields (qid Q0 docid rank score tag), found {len(parts)}"
                )
            qid, _, docid, _, score_text, _ = parts
            score = _as_float(score_text, "score", where)
        ranking = run.setdefault(qid, {})
        if docid in ranking:
            raise ValueError(f"{where}: document {docid!r} is listed twice for query {qid!r}")
        ranking[docid] = score
    return run


# ---------------------------------------------------------------------------------------------
# Retrieval metrics


def trec_ranking(scores: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval's order: score descending, then document id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def query_metrics(
    scores: Mapping[str, float],
    judgements: Mapping[str, int],
    ks: Iterable[int] = DEFAULT_KS,
    relevance_level: int = 1,
) -> dict[str, float]:
    """The measures of one query: `recall@k`, `ndcg@k`, `success@k` for each k, and `mrr`."""
    ks = sorted(set(ks))
    ranking = trec_ranking(scores)
    rels = [judgements.get(doc, 0) for doc in ranking]
    num_rel = sum(1 for r in judgements.values() if r >= relevance_level)
    ideal = sorted((r for r in judgements.values() if r > 0), reverse=True)

    out: dict[str, float] = {}
    first_hit = next((i for i, r in enumerate(rels) if r >= relevance_level), None)
    for k in ks:
        top = rels[:k]
        hits = sum(1 for r in top if r >= relevance_level)
        out[f"recall@{k}"] = hits / num_rel if num_rel else 0.0
        dcg = sum(r / math.log2(i + 2) for i, r in enumerate(top) if r > 0)
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal[:k]))
        out[f"ndcg@{k}"] = dcg / idcg if idcg > 0 else 0.0
        out[f"success@{k}"] = 1.0 if first_hit is not None and first_hit < k else 0.0
    out["mrr"] = 1.0 / (first_hit + 1) if first_hit is not None else 0.0
    return out


@dataclass(frozen=True)
class RetrievalReport:
    """`per_query`: one row per evaluated query (`query_id` then one column per measure);
    `mean`: measure → mean over the evaluated queries; `n_queries`, `n_missing`: queries evaluated and,
    among them, those the run did not answer."""

    per_query: pl.DataFrame
    mean: dict[str, float]
    n_queries: int
    n_missing: int
    measures: list[str] = field(default_factory=list)


def evaluate_run(
    run: Run,
    qrels: Qrels,
    ks: Iterable[int] = DEFAULT_KS,
    *,
    complete: bool = True,
    relevance_level: int = 1,
) -> RetrievalReport:
    """Scores a run against qrels (see the module docstring for the conventions)."""
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"cutoffs must be positive integers, got {ks}")
    measures = [f"{m}@{k}" for m in ("recall", "ndcg", "success") for k in ks] + ["mrr"]
    rows: list[dict[str, Any]] = []
    missing = 0
    for qid in sorted(qrels):
        if qid in run:
            values = query_metrics(run[qid], qrels[qid], ks, relevance_level)
        elif complete:
            missing += 1
            values = dict.fromkeys(measures, 0.0)
        else:
            continue
        rows.append({"query_id": qid, **{m: values[m] for m in measures}})
    schema = {"query_id": pl.String, **dict.fromkeys(measures, pl.Float64)}
    per_query = pl.DataFrame(rows, schema=schema)
    mean = {m: (float(per_query[m].mean()) if len(rows) else 0.0) for m in measures}
    return RetrievalReport(per_query, mean, len(rows), missing, measures)


# ---------------------------------------------------------------------------------------------
# Trajectory metrics

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_EXACT_ANSWER = re.compile(r"exact answer\s*:\s*(.+)", re.IGNORECASE)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: NFKC, lower case, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_is_correct(final_answer: str | None, gold: str | Iterable[str]) -> bool:
    """True when the normalised gold answer (any of them) equals the normalised final answer or
    occurs in it as a whole-word sequence. An `Exact Answer: …` line, when present, is what is judged."""
    if not final_answer:
        return False
    match = _EXACT_ANSWER.search(final_answer)
    predicted = normalize_answer(match.group(1) if match else final_answer)
    golds = [gold] if isinstance(gold, str) else list(gold)
    for g in golds:
        target = normalize_answer(g)
        if target and (predicted == target or f" {target} " in f" {predicted} "):
            return True
    return False


@dataclass(frozen=True)
class TrajectoryReport:
    """`per_trajectory`: `trajectory_id, query_id, evidence_recall` (null when the query has no
    evidence in the qrels), `correct` (null when it cannot be judged), `n_searches, n_browses, steps`.
    `summary`: `evidence_recall, success_rate, steps, searches, browses, searches_per_success`
    (null when nothing succeeded), `n_trajectories, n_with_evidence, n_judged, n_success`."""

    per_trajectory: pl.DataFrame
    summary: dict[str, float | int | None]


def _tables(data: Any, search_results: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    if isinstance(data, pl.DataFrame):
        if search_results is None:
            raise ValueError("evaluate_trajectories: pass `search_results` with a trajectories DataFrame")
        return data, search_results
    try:
        return data.trajectories, data.search_results
    except AttributeError:
        raise TypeError(
            "evaluate_trajectories expects the object of lrat.read_trajectories (with .trajectories and "
            f".search_results) or a trajectories DataFrame, got {type(data).__name__}"
        ) from None


def _require(df: pl.DataFrame, columns: list[str], name: str) -> None:
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise ValueError(f"the {name} table lacks column(s) {', '.join(absent)}; it has {', '.join(df.columns)}")


def evaluate_trajectories(
    data: Any,
    qrels: Qrels,
    *,
    search_results: pl.DataFrame | None = None,
    answers: Mapping[str, str | list[str]] | None = None,
    correct: Mapping[str, bool] | None = None,
    relevance_level: int = 1,
) -> TrajectoryReport:
    """Agent-level metrics of a set of trajectories.

    `data` is the object `lrat.read_trajectories(paths)` returns (its `.trajectories` and
    `.search_results` tables are used) or the `trajectories` DataFrame itself, with `search_results`
    given. Evidence documents are the query's qrels with judgement ≥ `relevance_level`.

    Correctness of a trajectory, first that applies: `correct[trajectory_id]`; a boolean `correct`
    column of the trajectories table; the final answer judged by `answer_is_correct` against
    `answers[query_id]`, else against the trajectory's `gold_answer`. Otherwise it is not judged.
    """
    trajectories, results = _tables(data, search_results)
    _require(trajectories, ["trajectory_id", "query_id", "final_answer", "n_searches", "n_browses"], "trajectories")
    _require(results, ["trajectory_id", "doc_key"], "search_results")

    returned: dict[str, set[str]] = {}
    for tid, doc in results.select("trajectory_id", "doc_key").drop_nulls().iter_rows():
        returned.setdefault(tid, set()).add(doc)

    has_gold = "gold_answer" in trajectories.columns
    has_flag = "correct" in trajectories.columns
    rows = []
    for row in trajectories.iter_rows(named=True):
        tid, qid = row["trajectory_id"], row["query_id"]
        evidence = {d for d, r in qrels.get(qid, {}).items() if r >= relevance_level} if qid is not None else set()
        recall = len(returned.get(tid, set()) & evidence) / len(evidence) if evidence else None

        verdict: bool | None = None
        if correct is not None and tid in correct:
            verdict = bool(correct[tid])
        elif has_flag and row["correct"] is not None:
            verdict = bool(row["correct"])
        else:
            gold = answers.get(qid) if answers is not None and qid is not None else None
            if gold is None and has_gold:
                gold = row["gold_answer"]
            if gold:
                verdict = answer_is_correct(row["final_answer"], gold)
        searches, browses = int(row["n_searches"] or 0), int(row["n_browses"] or 0)
        rows.append(
            {
                "trajectory_id": tid,
                "query_id": qid,
                "evidence_recall": recall,
                "correct": verdict,
                "n_searches": searches,
                "n_browses": browses,
                "steps": searches + browses,
            }
        )
    schema = {
        "trajectory_id": pl.String,
        "query_id": pl.String,
        "evidence_recall": pl.Float64,
        "correct": pl.Boolean,
        "n_searches": pl.Int64,
        "n_browses": pl.Int64,
        "steps": pl.Int64,
    }
    per = pl.DataFrame(rows, schema=schema)
    n = per.height
    with_evidence = per["evidence_recall"].drop_nulls()
    judged = per["correct"].drop_nulls()
    n_success = int(judged.sum()) if judged.len() else 0
    total_searches = int(per["n_searches"].sum()) if n else 0
    summary: dict[str, float | int | None] = {
        "evidence_recall": float(with_evidence.mean()) if with_evidence.len() else None,
        "success_rate": n_success / judged.len() if judged.len() else None,
        "steps": float(per["steps"].mean()) if n else None,
        "searches": float(per["n_searches"].mean()) if n else None,
        "browses": float(per["n_browses"].mean()) if n else None,
        "searches_per_success": total_searches / n_success if n_success else None,
        "n_trajectories": n,
        "n_with_evidence": with_evidence.len(),
        "n_judged": judged.len(),
        "n_success": n_success,
    }
    return TrajectoryReport(per, summary)
