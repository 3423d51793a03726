"""`lrat stats LOGS... [--json OUT] [--plots DIR]`: Table 1, transitions, browsed ranks and post-browse
reasoning lengths of a set of trajectories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lrat.commands.common import add_reader_arguments, reader_options
from lrat.stats import compute, format_stats, pyplot, write_json, write_plots
from lrat.trajectories import read_trajectories


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stats",
        help="describe trajectories: calls per outcome, transitions, browsed ranks, reasoning lengths",
        description="Prints the paper's Table 1 columns by outcome, the search/browse transition "
        "probabilities, the distribution of browsed ranks and of post-browse reasoning lengths "
        "(definitions in lrat.stats).",
    )
    p.add_argument("logs", nargs="+", help="log files, directories or glob patterns")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    p.add_argument("--plots", type=Path, help="write PNG plots into this directory (needs matplotlib)")
    p.add_argument("--tokenizer", help="tokenizer.json or model directory for token counts, or 'whitespace'")
    add_reader_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.plots:
        try:
            pyplot()
        except ImportError as exc:
            print(f"lrat stats: error: {exc}", file=sys.stderr)
            return 1
    trajectories = read_trajectories(args.logs, options=reader_options(args), include_content=False)
    stats = compute(trajectories, tokenizer=args.tokenizer)
    print(format_stats(stats))
    if args.json:
        write_json(stats, args.json)
        print(f"figures → {args.json}")
    if args.plots:
        paths = write_plots(stats, args.plots)
        print(f"{len(paths)} plots → {args.plots}")
    return 0
