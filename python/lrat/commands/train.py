"""`lrat train`: train a dense retriever on a mined training set with weighted InfoNCE."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lrat.encoder import POOLINGS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a retriever on a mined training set (weighted InfoNCE)",
        description=(
            "Train a bi-encoder on the output of `lrat mine` (Parquet or FlagEmbedding JSONL). "
            "OUT loads with transformers.AutoModel, sentence_transformers.SentenceTransformer and "
            "lrat.Encoder.load. Run under `torchrun --nproc-per-node N` for several GPUs."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data", help="training set: .parquet or FlagEmbedding .jsonl")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for the trained model")
    parser.add_argument(
        "--model",
        default=None,
        metavar="PATH_OR_NAME",
        help="transformers model folder, or a name in the Hugging Face cache (default: all-MiniLM-L6-v2)",
    )
    group = parser.add_argument_group("loss")
    group.add_argument("--temperature", type=float, default=0.02)
    group.add_argument("--group-size", type=int, default=10, help="1 positive + (N-1) trajectory negatives")
    group.add_argument(
        "--no-false-negative-mask",
        action="store_true",
        help="let known positives of a query count as its in-batch negatives",
    )
    group.add_argument(
        "--negative-weights",
        default=None,
        metavar="R,A,B,I",
        help="tiered negative weights: opened and rejected, skipped above an opened result, seen below, "
        "in-batch (from the set's neg_tier column); 'iter' for 3,1,0.3,0.3 (default: every negative counts once)",
    )
    group.add_argument("--fn-margin", type=float, default=0.95, metavar="M",
                       help="drop each negative the base model scores above M× its positive (false negatives)")
    group.add_argument("--no-fn-filter", action="store_true", help="keep every negative")
    group = parser.add_argument_group("model selection")
    group.add_argument("--dev-fraction", type=float, default=0.0, metavar="F",
                       help="hold out this share of the trajectories as a dev split: keep the best evaluated step, "
                            "and the base model when that step is worse than base beyond its interval")
    group.add_argument("--eval-steps", type=int, default=0, help="steps between dev evaluations (0: five per run)")
    group.add_argument("--no-keep-base", action="store_true",
                       help="with a dev split, keep the best trained step even when it is worse than base")
    group = parser.add_argument_group("optimisation")
    group.add_argument("--epochs", type=int, default=1)
    group.add_argument("--max-steps", type=int, default=None)
    group.add_argument("--batch-size", type=int, default=32, help="examples per micro-batch and process")
    group.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    group.add_argument("--lr", type=float, default=2e-5)
    group.add_argument("--weight-decay", type=float, default=0.01)
    group.add_argument("--warmup-ratio", type=float, default=0.1)
    group.add_argument("--max-grad-norm", type=float, default=1.0, help="0 turns clipping off")
    group.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    group.add_argument("--gradient-checkpointing", action="store_true")
    group.add_argument("--seed", type=int, default=42)
    group.add_argument("--merge-base", type=float, default=0.0, metavar="ALPHA",
                       help="after training, move the weights ALPHA of the way back to the base model's (WiSE-FT)")
    group.add_argument("--no-shuffle", action="store_true")
    group.add_argument("--device", default=None, help="cpu, cuda, cuda:1, … (default: CUDA when present)")
    group = parser.add_argument_group("encoder")
    group.add_argument("--pooling", choices=POOLINGS, default=None, help="default: the model's own")
    group.add_argument("--query-prefix", default=None)
    group.add_argument("--document-prefix", default=None)
    group.add_argument("--max-query-length", type=int, default=None)
    group.add_argument("--max-document-length", type=int, default=None)
    group = parser.add_argument_group("checkpoints and logging")
    group.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (0: only the end)")
    group.add_argument("--keep-checkpoints", type=int, default=2)
    group.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue from the latest checkpoint in OUT (or the one named)",
    )
    group.add_argument("--log-every", type=int, default=10, help="steps between lines of OUT/train_log.jsonl")
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrat.training import train

    try:
        result = train(
            args.data,
            output_dir=args.output,
            model=args.model,
            epochs=args.epochs,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            group_size=args.group_size,
            temperature=args.temperature,
            learning_rate=args.lr,
            weight_decay=args.weight_decay,
            warmup_ratio=args.warmup_ratio,
            gradient_accumulation_steps=args.grad_accum,
            max_grad_norm=args.max_grad_norm or None,
            precision=args.precision,
            gradient_checkpointing=args.gradient_checkpointing,
            mask_false_negatives=not args.no_false_negative_mask,
            negative_weights=args.negative_weights,
            false_negative_margin=None if args.no_fn_filter else args.fn_margin,
            dev_fraction=args.dev_fraction,
            eval_steps=args.eval_steps,
            keep_base_if_worse=not args.no_keep_base,
            merge_base=args.merge_base,
            seed=args.seed,
            shuffle=not args.no_shuffle,
            save_steps=args.save_steps,
            keep_checkpoints=args.keep_checkpoints,
            resume=args.resume,
            log_every=args.log_every,
            show_progress=not args.quiet,
            device=args.device,
            pooling=args.pooling,
            query_prefix=args.query_prefix,
            document_prefix=args.document_prefix,
            max_query_length=args.max_query_length,
            max_document_length=args.max_document_length,
        )
    except FloatingPointError as exc:
        print(f"lrat train: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"trained {result.steps} steps on {result.examples} examples, final loss {result.final_loss:.4f}; "
        f"model in {result.output_dir}, log in {result.log_file}"
    )
    if result.dev is not None:
        print(result.dev.summary())
    return 0
