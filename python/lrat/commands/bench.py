"""`lrat bench`: base against retrievers trained on agent trajectories, cross-fitted, with intervals."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from lrat.precision import PRECISIONS


def _ints(value: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None
    if not out:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return out


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def register(subparsers: Any) -> None:
    from lrat.bench import DEFAULT

    t = DEFAULT.training
    parser = subparsers.add_parser(
        "bench",
        help="cross-fitted evaluation of LRAT against base and oracles on a BEIR-layout collection",
        description=(
            "Split the questions of a BEIR-layout collection (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) into "
            "folds; for each seed let the simulated agent play every question with the base retriever, mine and "
            "train on the other folds' trajectories, and evaluate each held-out fold with the question as the "
            "query, with the agents' own queries, and with the agent re-run under step budgets. Prints every "
            "delta against base with its paired bootstrap 95% interval."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("collection", metavar="DIR", help="folder with corpus.jsonl, queries.jsonl and qrels/")
    parser.add_argument("--split", default="test", help="qrels file to read: qrels/SPLIT.tsv")
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write results.json, per_query.parquet, settings.json, table.txt, deltas.png here",
    )
    parser.add_argument("--quick", action="store_true", help="2 folds and 1 seed (unless given)")
    parser.add_argument("--folds", type=int, default=None, help=f"folds ({DEFAULT.folds}; 2 with --quick)")
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds ({DEFAULT.seeds}; 1 with --quick)")
    parser.add_argument("--fold-seed", type=int, default=DEFAULT.fold_seed, help="seed of the fold assignment")
    parser.add_argument(
        "--variants",
        type=_names,
        default=DEFAULT.variants,
        help="trained variants: naive, filter, lrat, oracle_question, oracle_trajectory; oracle_solved is the "
        "question oracle on the training questions the base agent solved; lrat_keep_accepted, "
        "lrat_no_fn_filter and lrat_no_credit are LRAT with one mining mechanism off, lrat_all_outcomes "
        "LRAT mined from failed trajectories too, lrat_chain LRAT with query chains, lrat_question LRAT with "
        "the trajectory's question paired with each accepted page too, lrat_tiered LRAT with "
        "tiered negative weights (3/1/0.3, in-batch 0.3), "
        "lrat_context LRAT trained and searched with contextual queries, lrat_dev LRAT with a 10%% dev split "
        "(best step kept, base kept when worse); base_context (untrained) is the base model searched with "
        "contextual queries",
    )
    parser.add_argument(
        "--plays",
        type=int,
        default=DEFAULT.plays,
        help="times the base agent plays each question per seed; the extra plays only add training trajectories",
    )
    parser.add_argument("--ablation", action="store_true", help="add the naive and filter variants")
    parser.add_argument("--budgets", type=_ints, default=DEFAULT.budgets, help="agent step budgets")
    parser.add_argument("--steps", type=int, default=t.steps, help="optimiser steps of every trained variant")
    parser.add_argument("--batch-size", type=int, default=t.batch_size)
    parser.add_argument("--group-size", type=int, default=t.group_size, help="1 positive + N−1 negatives")
    parser.add_argument("--lr", type=float, default=t.learning_rate)
    parser.add_argument("--temperature", type=float, default=t.temperature)
    parser.add_argument(
        "--merge-base",
        type=float,
        default=t.merge_base,
        metavar="ALPHA",
        help="mix this share of the base weights back into every trained model (WiSE-FT)",
    )
    parser.add_argument(
        "--distill-base",
        type=float,
        default=t.distill_base,
        metavar="LAMBDA",
        help="train every variant with LAMBDA × KL(base ‖ trained) over each query's negatives added to the loss",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=t.precision,
        help="what training and encoding compute in; auto: bf16 where the CPU or GPU computes it natively",
    )
    parser.add_argument(
        "--keep-accepted-negatives",
        action="store_true",
        help="mining: let documents the agent accepted elsewhere in the trajectory be negatives",
    )
    parser.add_argument(
        "--fn-margin",
        type=float,
        default=DEFAULT.false_negative_margin,
        help="drop mined negatives the base model scores above this fraction of their positive (default: keep them)",
    )
    parser.add_argument("--no-fn-filter", action="store_true", help="keep every mined negative (the default)")
    parser.add_argument("--resamples", type=int, default=DEFAULT.resamples, help="bootstrap resamples")
    parser.add_argument(
        "--model", default=None, metavar="PATH", help="base model folder (default: the bundled all-MiniLM-L6-v2)"
    )
    parser.add_argument("--cache", default=None, metavar="DIR", help="keep the base model's corpus embeddings here")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run into the same --out: reuse its base trajectories and the "
        "folds and variants it finished; other --variants or more --seeds than that run add what is new",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output, only the table")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> Any:
    from lrat import bench

    base = bench.QUICK if args.quick else bench.DEFAULT
    config = dataclasses.replace(
        base,
        folds=args.folds if args.folds is not None else base.folds,
        seeds=args.seeds if args.seeds is not None else base.seeds,
        fold_seed=args.fold_seed,
        plays=args.plays,
        variants=tuple(args.variants),
        budgets=tuple(sorted(set(args.budgets))),
        training=dataclasses.replace(
            base.training,
            steps=args.steps,
            batch_size=args.batch_size,
            group_size=args.group_size,
            learning_rate=args.lr,
            temperature=args.temperature,
            merge_base=args.merge_base,
            distill_base=args.distill_base,
            precision=args.precision,
        ),
        exclude_accepted=not args.keep_accepted_negatives,
        false_negative_margin=None if args.no_fn_filter else args.fn_margin,
        resamples=args.resamples,
    )
    return bench.with_ablation(config) if args.ablation else config


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lrat import bench
    from lrat.beir import read_collection

    config = config_from_args(args)
    collection = read_collection(args.collection, split=args.split)
    if not args.quiet:
        import sys

        print(collection.summary(), file=sys.stderr)
    bench.run(
        collection,
        config,
        model=args.model,
        out=args.out,
        cache_dir=args.cache,
        progress=not args.quiet,
        resume=args.resume,
    )
    return 0
