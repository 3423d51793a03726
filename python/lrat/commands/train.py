"""`lrat train`: train a dense retriever on a mined training set with weighted InfoNCE."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from lrat.options import HelpFormatter, add_options, options_from_args
from lrat.training.config import TrainingConfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a retriever on a mined training set (weighted InfoNCE)",
        description=(
            "Train a bi-encoder on the output of `lrat mine` (Parquet or FlagEmbedding JSONL). "
            "OUT loads with transformers.AutoModel, sentence_transformers.SentenceTransformer and "
            "lrat.Encoder.load. Run under `torchrun --nproc-per-node N` for several GPUs."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("data", help="training set: .parquet or FlagEmbedding .jsonl")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for the trained model")
    parser.add_argument(
        "--model",
        default=None,
        metavar="PATH_OR_NAME",
        help="transformers model folder, or a name in the Hugging Face cache (default: all-MiniLM-L6-v2)",
    )
    add_options(parser, TrainingConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrat.training import train

    try:
        result = train(args.data, output_dir=args.output, model=args.model, **options_from_args(TrainingConfig, args))
    except FloatingPointError as exc:
        print(f"lrat train: error: {exc}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, the first process reports for all
    print(
        f"trained {result.steps} steps on {result.examples} examples, final loss {result.final_loss:.4f}; "
        f"model in {result.output_dir}, log in {result.log_file}"
    )
    if result.dev is not None:
        print(result.dev.summary())
    return 0
