"""`lrat mine LOGS... -o train.parquet`: trajectories → weighted training examples."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lrat.commands.common import add_reader_arguments, reader_options
from lrat.judges import ChatJudge
from lrat.mining import MINING_BATCH_BYTES, mine_with_report, write_flagembedding


def _clip(value: str) -> tuple[float | None, float | None]:
    low, _, high = value.partition(",")
    return (float(low) if low.strip() else None, float(high) if high.strip() else None)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "mine",
        help="mine weighted training examples from agent logs",
        description="Browsed documents become positives for the agent's query, unbrowsed results and "
        "rejected browses negatives; the post-browse reasoning filters and weights the positives.",
    )
    p.add_argument("logs", nargs="+", help="log files, directories or glob patterns")
    p.add_argument("-o", "--out", required=True, type=Path, help="output file")
    p.add_argument(
        "--format",
        dest="output_format",
        choices=["parquet", "flagembedding"],
        default="parquet",
        help="parquet (default) or flagembedding JSONL (query, pos, neg, pos_id, neg_id, reweight_rate)",
    )
    p.add_argument("--corpus", type=Path, help="JSONL or Parquet corpus with id, text and optional title")
    p.add_argument("--rule", choices=["segment", "per_search"], default="segment", help="how examples are cut (default: segment)")
    judge = p.add_argument_group("judge (positive filter)")
    judge.add_argument("--no-filter", action="store_true", help="naive variant: every browse is a positive")
    judge.add_argument("--judge-url", help="an OpenAI-compatible endpoint (…/v1) to judge post-browse reasoning")
    judge.add_argument("--judge-model", help="the model name to send to --judge-url")
    judge.add_argument("--judge-api-key", default=os.environ.get("LRAT_JUDGE_API_KEY"), help="API key (default: $LRAT_JUDGE_API_KEY)")
    judge.add_argument("--keep-rejected", action="store_true", help="keep rejected examples (accepted = false)")
    p.add_argument("--keep-accepted-negatives", action="store_true",
                   help="let a document the agent accepted elsewhere in the trajectory be a negative")
    p.add_argument("--contextual-queries", action="store_true",
                   help="join each query with the reasoning written right before its search (ITER's contextual queries)")
    w = p.add_argument_group("relevance intensity")
    w.add_argument("--weighting", choices=["intensity", "none"], default="intensity")
    w.add_argument("--beta", type=float, help="half-saturation length in tokens (default: the median)")
    w.add_argument("--no-normalize", action="store_true", help="do not rescale weights to mean 1")
    w.add_argument("--clip", type=_clip, help="bounds for the weights, LOW,HIGH (either may be empty)")
    w.add_argument("--tokenizer", help="tokenizer.json or model directory for token counts, or 'whitespace'")
    p.add_argument("--all-outcomes", action="store_true", help="keep examples of failed and unknown trajectories too")
    p.add_argument("--report", type=Path, help="write the mining report as JSON here")
    add_reader_arguments(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.judge_url and args.no_filter:
        raise ValueError("--judge-url and --no-filter exclude each other")
    if args.judge_url and not args.judge_model:
        raise ValueError("--judge-url needs --judge-model")
    judge = "none" if args.no_filter else "rules"
    if args.judge_url:
        judge = ChatJudge(url=args.judge_url, model=args.judge_model, api_key=args.judge_api_key)
    df, report = mine_with_report(
        args.logs,
        corpus=args.corpus,
        rule=args.rule,
        judge=judge,
        weighting=args.weighting,
        beta=args.beta,
        normalize=not args.no_normalize,
        clip=args.clip,
        tokenizer=args.tokenizer,
        outcomes="all" if args.all_outcomes else ("completed",),
        keep_rejected=args.keep_rejected,
        exclude_accepted=not args.keep_accepted_negatives,
        contextual_queries=args.contextual_queries,
        read_options=reader_options(args).replace(batch_bytes=MINING_BATCH_BYTES),
        progress=not args.no_progress,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.output_format == "flagembedding":
        write_flagembedding(df, args.out)
    else:
        df.write_parquet(args.out)
    if args.report:
        args.report.write_text(json.dumps(report.to_dict(), indent=2))
    print(report.summary())
    print(f"{df.height} examples → {args.out}")
    if df.height == 0:
        print("no examples were kept; see the counts above", file=sys.stderr)
    return 0
