"""`lrat eval`: retrieval metrics of a run against qrels, and agent metrics of trajectory logs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import lrat
from lrat.evaluation import DEFAULT_KS, evaluate_run, evaluate_trajectories, read_qrels, read_run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a retrieval run or agent trajectories against qrels")
    kinds = parser.add_subparsers(dest="eval_kind", metavar="KIND", required=True)

    run = kinds.add_parser("run", help="Recall@k, nDCG@k, MRR and success@k of a run (trec_eval semantics)")
    run.add_argument("run_path", metavar="RUN", type=Path, help="TREC run (qid Q0 docid rank score tag) or JSONL")
    run.add_argument("--qrels", required=True, type=Path, help="TREC qrels (qid 0 docid rel) or JSONL")
    run.add_argument(
        "-k", dest="ks", type=int, nargs="+", default=list(DEFAULT_KS), help="cutoffs (default: %(default)s)"
    )
    run.add_argument(
        "--only-answered",
        action="store_true",
        help="average only over queries the run answers (trec_eval's default; "
        "without it, unanswered qrels queries count as zero, as trec_eval -c)",
    )
    run.add_argument("--relevance-level", type=int, default=1, help="smallest judgement that counts as relevant")
    run.add_argument("--json", type=Path, metavar="OUT", help="also write the means and per-query figures as JSON")
    run.set_defaults(run=_run)

    traj = kinds.add_parser("trajectories", help="evidence recall, success rate and steps of agent logs")
    traj.add_argument("logs", metavar="LOGS", type=Path, nargs="+", help="trajectory log files")
    traj.add_argument("--qrels", required=True, type=Path, help="evidence documents per query (TREC or JSONL)")
    traj.add_argument("--relevance-level", type=int, default=1, help="smallest judgement that counts as evidence")
    traj.add_argument(
        "--json", type=Path, metavar="OUT", help="also write the summary and per-trajectory figures as JSON"
    )
    traj.set_defaults(run=_trajectories)


def _print_table(values: dict[str, Any], title: str) -> None:
    print(title)
    width = max(len(k) for k in values)
    for name, value in values.items():
        shown = "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
        print(f"  {name:<{width}}  {shown}")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _run(args: argparse.Namespace) -> int:
    qrels = read_qrels(args.qrels)
    run = read_run(args.run_path)
    report = evaluate_run(run, qrels, args.ks, complete=not args.only_answered, relevance_level=args.relevance_level)
    if not any(q in run for q in qrels):
        print(f"lrat eval: no query of {args.qrels} is in {args.run_path}", file=sys.stderr)
    unanswered = sum(1 for q in qrels if q not in run)
    label = "unanswered queries (skipped)" if args.only_answered else "unanswered queries (scored 0)"
    _print_table(
        {**report.mean, "queries": report.n_queries, label: unanswered}, f"{args.run_path} against {args.qrels}"
    )
    if args.json:
        _write_json(
            args.json,
            {
                "mean": report.mean,
                "n_queries": report.n_queries,
                "n_missing": report.n_missing,
                "per_query": report.per_query.to_dicts(),
            },
        )
    return 0


def _trajectories(args: argparse.Namespace) -> int:
    read_trajectories = getattr(lrat, "read_trajectories", None)
    if read_trajectories is None:
        raise ValueError("this build of lrat has no read_trajectories; cannot read trajectory logs")
    qrels = read_qrels(args.qrels)
    logs = read_trajectories([str(p) for p in args.logs])
    report = evaluate_trajectories(logs, qrels, relevance_level=args.relevance_level)
    _print_table(report.summary, f"{len(args.logs)} log file(s) against {args.qrels}")
    if args.json:
        _write_json(args.json, {"summary": report.summary, "per_trajectory": report.per_trajectory.to_dicts()})
    return 0
