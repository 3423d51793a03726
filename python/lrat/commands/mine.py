"""`lrat mine LOGS... -o train.parquet`: trajectories → weighted training examples."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lrat.commands.common import add_engine_arguments, add_reader_arguments, reader_options, start_engine, task_bytes
from lrat.judges import ChatJudge
from lrat.mining import MINING_BATCH_BYTES, MiningConfig, mine_with_report, write_flagembedding
from lrat.options import add_options, options_from_args


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
    judge = p.add_argument_group("judge (positive filter)")
    judge.add_argument("--no-filter", action="store_true", help="naive variant: every browse is a positive")
    judge.add_argument("--judge-url", help="an OpenAI-compatible endpoint (…/v1) to judge post-browse reasoning")
    judge.add_argument("--judge-model", help="the model name to send to --judge-url")
    judge.add_argument(
        "--judge-api-key", default=os.environ.get("LRAT_JUDGE_API_KEY"), help="API key (default: $LRAT_JUDGE_API_KEY)"
    )
    add_options(p, MiningConfig)
    p.add_argument("--report", type=Path, help="write the mining report as JSON here")
    add_reader_arguments(p)
    add_engine_arguments(p)
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
    start_engine(args)
    config = MiningConfig(**options_from_args(MiningConfig, args))
    options = reader_options(args).replace(batch_bytes=MINING_BATCH_BYTES)
    if args.engine == "ray":
        import lrat.ray

        df, report = lrat.ray.mine_with_report(
            args.logs, corpus=args.corpus, judge=judge, config=config, read_options=options, task_bytes=task_bytes(args)
        )
    else:
        df, report = mine_with_report(
            args.logs,
            corpus=args.corpus,
            judge=judge,
            config=config,
            read_options=options,
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
