"""`lrat demo`: the whole loop offline, from a seed, on a generated knowledge base."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole loop offline on a generated knowledge base and compare base with LRAT",
        description=(
            "Generate an encyclopedia-like knowledge base and multi-hop questions from a seed, index it with "
            "the base model, simulate a search agent on the training questions, mine and weight training "
            "examples, train, re-index, and evaluate on held-out questions. Prints base against LRAT and "
            "the oracle (evidence recall, Recall@10, nDCG@10, success rate, steps)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write results.json, settings.json, table.txt, plots, runs and training sets here",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the knowledge base and the agent")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="add the naive (every browse positive) and filter-only (no weights) variants",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny knowledge base and a few training steps")
    parser.add_argument(
        "--model", default=None, metavar="PATH", help="base model folder (default: the bundled all-MiniLM-L6-v2)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrat.harness.demo import run_demo

    run_demo(
        args.out, seed=args.seed, ablation=args.ablation, quick=args.quick, model=args.model, progress=not args.quiet
    )
    return 0
