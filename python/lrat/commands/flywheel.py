"""`lrat flywheel`: rounds of serve → simulated agent → mine → train → re-index on a synthetic
knowledge base, reporting held-out retrieval and agent metrics per round (the paper's flywheel).

    lrat flywheel --rounds 3 --work-dir runs/flywheel [--model MODEL] [--scale 0.2] [--epochs N]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "flywheel",
        help="run rounds of serve → simulated agent → mine → train → re-index and report each round",
        description="Run the data flywheel on a synthetic knowledge base and report, per round, held-out "
        "retrieval (recall, nDCG) and the simulated agent's success, with the counts logged, mined and trained.",
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work-dir", type=Path, required=True, help="folder for logs, models and metrics.jsonl")
    p.add_argument("--model", help="starting retriever folder (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="size of the synthetic knowledge base relative to the default (~3,000 documents, 500 questions)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="passes over each round's training set (default: lrat train's)")
    p.add_argument("--batch-size", type=int, help="default: lrat train's")
    p.add_argument("--learning-rate", type=float, help="default: lrat train's")
    p.add_argument("--max-steps", type=int, help="cap the training steps of each round")
    p.add_argument("--outcomes", default="completed", help="trajectory outcomes to mine: completed (default) or all")
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrat.harness.flywheel import FlywheelConfig, format_reports, run_flywheel
    from lrat.harness.synthetic import SyntheticConfig

    if args.scale <= 0:
        raise ValueError("--scale must be positive")
    base = SyntheticConfig()
    counts = ("n_people", "n_cities", "n_organisations", "n_works", "n_events", "n_questions")
    synthetic = dataclasses.replace(base, **{c: max(2, round(getattr(base, c) * args.scale)) for c in counts})
    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "max_steps": args.max_steps,
    }
    train = {k: v for k, v in given.items() if v is not None}
    config = FlywheelConfig(
        rounds=args.rounds,
        model=args.model,
        seed=args.seed,
        synthetic=synthetic,
        train=train,
        mine={"outcomes": args.outcomes},
        device=args.device,
    )
    reports = run_flywheel(config, args.work_dir, progress=sys.stderr.isatty())
    print(format_reports(reports))
    print(
        f"(round {config.rounds} is the retriever after the last round; per-round details in "
        f"{args.work_dir / 'metrics.jsonl'})",
        file=sys.stderr,
    )
    return 0
