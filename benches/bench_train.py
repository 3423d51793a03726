"""Training throughput of `lrat train` against sentence-transformers' MultipleNegativesRankingLoss.

Both train the same model on the same examples (query, positive, the same number of hard negatives),
with the same batch size, sequence length, precision and steps, in this one process. Throughput is
examples per second over the steps after the warm-up ones, read from per-step timestamps (lrat's JSONL
log; a trainer callback for sentence-transformers). Data: HotpotQA dev questions with their supporting
paragraphs as positives and the other paragraphs as negatives (`shared/data/hotpotqa-dev500`), or a
mined training set given with --data.

    python benches/bench_train.py                      # CPU defaults: batch 16, group 4, length 128
    python benches/bench_train.py --batch-size 32 --group-size 10 --max-length 256 --steps 60   # GPU
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402


def hotpotqa_examples() -> pl.DataFrame:
    here = Path(__file__).resolve().parent.parent
    for root in (here.parent / "shared" / "data", Path("/work/shared/data")):
        path = root / "hotpotqa-dev500" / "dev_subsampled.jsonl"
        if path.is_file():
            break
    else:
        sys.exit("bench_train: shared/data/hotpotqa-dev500 not found; pass --data TRAIN.parquet")
    rng = np.random.default_rng(0)
    rows = []
    for line in path.open(encoding="utf-8"):
        record = json.loads(line)
        paragraphs = [(c, f"{c['title']}. {c['paragraph_text']}") for c in record["contexts"]]
        negatives = [text for c, text in paragraphs if not c["is_supporting"]]
        for c, text in paragraphs:
            if c["is_supporting"]:
                rows.append({"query": record["question_text"], "pos": text, "neg": negatives})
    weights = rng.lognormal(0.0, 0.5, len(rows))
    return pl.DataFrame(rows).with_columns(weight=pl.Series(weights / weights.mean()))


def st_dataset(frame: pl.DataFrame, negatives: int, seed: int):
    """Anchor, positive and a fixed draw of `negatives` hard negatives per row (lrat's sampling rule)."""
    from datasets import Dataset
    from lrat.training.data import sample_negatives

    rng = random.Random(seed)
    columns: dict[str, list[str]] = {"anchor": frame["query"].to_list(), "positive": frame["pos"].to_list()}
    for k in range(negatives):
        columns[f"negative_{k + 1}"] = []
    for negs in frame["neg"].to_list():
        if not negs:
            sys.exit("bench_train: every example needs at least one negative for the sentence-transformers side")
        picked = sample_negatives(negatives, len(negs), rng)
        for k, index in enumerate(picked):
            columns[f"negative_{k + 1}"].append(negs[index])
    return Dataset.from_dict(columns)


def throughput(times: list[float], batch_size: int, warmup: int) -> float:
    return (len(times) - warmup) * batch_size / (times[-1] - times[warmup - 1])


def run_sentence_transformers(frame, args, bf16: bool, workdir: Path) -> float:
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    model = SentenceTransformer(args.model, device=args.device)
    model.max_seq_length = args.max_length
    loss = MultipleNegativesRankingLoss(model, scale=1.0 / args.temperature)
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_args, **_kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    training_args = Arguments(
        output_dir=str(workdir / "st"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=max(1, args.steps // 10),
        bf16=bf16,
        logging_steps=args.steps,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        disable_tqdm=True,
        use_cpu=args.device == "cpu",
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_args,
        train_dataset=st_dataset(frame, args.group_size - 1, args.seed),
        loss=loss,
        callbacks=[Clock()],
    )
    trainer.train()
    return throughput(times, args.batch_size, args.warmup_steps)


def run_lrat(frame, args, precision: str, workdir: Path) -> float:
    import lrat

    result = lrat.train(
        frame,
        model=args.model,
        output_dir=workdir / "lrat",
        max_steps=args.steps,
        batch_size=args.batch_size,
        group_size=args.group_size,
        temperature=args.temperature,
        learning_rate=args.lr,
        warmup_ratio=max(1, args.steps // 10) / args.steps,
        max_query_length=args.max_length,
        max_document_length=args.max_length,
        precision=precision,
        seed=args.seed,
        log_every=1,
        show_progress=False,
        device=args.device,
    )
    times = [json.loads(line)["elapsed_seconds"] for line in result.log_file.read_text().splitlines()]
    return throughput(times, args.batch_size, args.warmup_steps)


def main() -> None:
    import lrat
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="a mined training set (default: HotpotQA dev paragraphs)")
    parser.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=4, help="1 positive + N-1 hard negatives per query")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--warmup-steps", type=int, default=3, help="steps left out of the timing")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs per system; the median counts")
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    args.model = str(args.model or lrat.default_model_path())
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.steps <= args.warmup_steps:
        parser.error("--steps must exceed --warmup-steps")
    bf16 = args.device.startswith("cuda") and torch.cuda.is_bf16_supported()
    frame = pl.read_parquet(args.data) if args.data else hotpotqa_examples()
    # Same documents per query on both sides: keep the examples with enough hard negatives.
    frame = frame.filter(pl.col("neg").list.len() >= args.group_size - 1)
    if len(frame) < args.steps * args.batch_size:
        frame = pl.concat([frame] * (args.steps * args.batch_size // len(frame) + 1))

    results: dict[str, list[float]] = {"sentence-transformers MNRL": [], "lrat train": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            workdir = Path(tmp) / str(repeat)
            results["sentence-transformers MNRL"].append(run_sentence_transformers(frame, args, bf16, workdir))
            results["lrat train"].append(run_lrat(frame, args, "bf16" if bf16 else "fp32", workdir))

    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)"
    )
    print(
        f"model {args.model}, {len(frame)} examples, batch {args.batch_size}, group {args.group_size}, "
        f"max length {args.max_length}, {args.steps} steps ({args.warmup_steps} untimed), "
        f"{'bf16' if bf16 else 'fp32'}, {device}"
    )
    base = statistics.median(results["sentence-transformers MNRL"])
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:28s} {median:8.2f} examples/s   {median / base:5.2f}x   runs: {', '.join(f'{v:.2f}' for v in values)}"
        )


if __name__ == "__main__":
    main()
