"""The LRAT loop on real data: HotpotQA dev (500 questions, `shared/data/hotpotqa-dev500`).

Corpus: every question's paragraphs pooled by title (one document per title: the title as its first
line, then the paragraph). Questions are split into training and held-out sets by a hash of the
question id under a fixed seed (`lrat.synthetic.split_of`); evidence = the titles of the supporting
paragraphs. Then the same loop as `lrat demo --ablation`: base index → simulated agent on the training
questions → mining (naive, filter, lrat) → training under one budget, plus the oracle (training
questions' qrels as positives) → re-index → held-out evaluation. Besides the demo's table it prints
Recall@2, misses (1 − Recall@10) and MRR (DESIGN §6: base Recall@10 is already high here), each
trained variant's gain as a share of the oracle's, wall and CPU seconds, and the load average; then,
for each mined training set, how clean its supervision is against the qrels: the share of positives
that are evidence documents of their question, and the share of hard negatives that are (false
negatives: a question's other supporting paragraph left unbrowsed in a result list).

    python benches/bench_hotpotqa.py [--steps N] [--seed N] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import polars as pl  # noqa: E402

from lrat.demo import DEFAULT, describe_settings, format_table, run_loop  # noqa: E402
from lrat.synthetic import split_of  # noqa: E402

SPLIT_SEED = 20260404
HELDOUT_FRACTION = 0.3


def data_path() -> Path:
    here = Path(__file__).resolve().parent.parent
    for root in (here.parent / "shared" / "data", Path("/work/shared/data")):
        path = root / "hotpotqa-dev500" / "dev_subsampled.jsonl"
        if path.is_file():
            return path
    sys.exit("bench_hotpotqa: shared/data/hotpotqa-dev500/dev_subsampled.jsonl not found")


def load(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(corpus `doc_id, title, text`, questions `query_id, question, answer, evidence, split`)."""
    texts: dict[str, str] = {}
    questions = []
    for number, line in enumerate(path.open(encoding="utf-8"), start=1):
        record = json.loads(line)
        evidence = []
        for c in record["contexts"]:
            title = c["title"]
            text = f"{title}\n{c['paragraph_text']}"
            if texts.setdefault(title, text) != text:
                raise ValueError(f"{path}:{number}: title {title!r} has two different paragraphs")
            if c["is_supporting"] and title not in evidence:
                evidence.append(title)
        qid = record["question_id"]
        questions.append({
            "query_id": qid,
            "question": record["question_text"],
            "answer": record["answers_objects"][0]["spans"][0],
            "evidence": evidence,
            "split": split_of(qid, HELDOUT_FRACTION, SPLIT_SEED),
        })
    corpus = pl.DataFrame({"doc_id": list(texts), "title": list(texts), "text": list(texts.values())})
    return corpus, pl.DataFrame(questions)


def supervision_quality(path: Path, questions: pl.DataFrame) -> str:
    """How many of a mined set's positives, and of its hard negatives, are evidence of the question."""
    evidence = {q: set(e) for q, e in questions.select("query_id", "evidence").iter_rows()}
    mined = pl.read_parquet(path, columns=["query_id", "pos_id", "neg_id", "weight"])
    is_evidence = [p in evidence.get(q, ()) for q, p, *_ in mined.iter_rows()]
    negatives = sum(len(n or []) for _, _, n, _ in mined.iter_rows())
    false_negatives = sum(sum(d in evidence.get(q, ()) for d in n or []) for q, _, n, _ in mined.iter_rows())
    line = (f"{mined.height} examples, positives that are evidence {sum(is_evidence) / max(1, mined.height):.2f}, "
            f"hard negatives {negatives} of which evidence {false_negatives / max(1, negatives):.3f}")
    weights = mined.with_columns(pl.Series("evidence", is_evidence)).group_by("evidence").agg(pl.col("weight").mean())
    mean = dict(weights.iter_rows())
    if mined["weight"].n_unique() > 1 and True in mean and False in mean:
        line += f", mean weight of evidence positives {mean[True]:.2f} vs others {mean[False]:.2f}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=DEFAULT.budget.steps, help="training steps of every variant")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated agent")
    parser.add_argument("--out", default=None, help="write results.json and the runs here")
    args = parser.parse_args()

    corpus, questions = load(data_path())
    train_q = questions.filter(pl.col("split") == "train")
    heldout_q = questions.filter(pl.col("split") == "heldout")
    budget = dataclasses.replace(DEFAULT.budget, steps=args.steps)
    print(f"HotpotQA dev500: {corpus.height} pooled paragraphs, {train_q.height} training and "
          f"{heldout_q.height} held-out questions (split seed {SPLIT_SEED})", file=sys.stderr)
    load_before = os.getloadavg()
    wall = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    scratch = tempfile.TemporaryDirectory()
    workdir = Path(scratch.name) if args.out is None else Path(args.out) / "work"
    results = run_loop(
        corpus, train_q, heldout_q, variants=("lrat", "oracle", "filter", "naive"), agent=DEFAULT.agent,
        budget=budget, encode_max_length=DEFAULT.encode_max_length, seed=args.seed, workdir=workdir,
    )
    wall = time.perf_counter() - wall
    results = {name: results[name] for name in ("base", "naive", "filter", "lrat", "oracle")}
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    settings = {"seed": args.seed, "model": "all-MiniLM-L6-v2 (bundled)",
                "agent": dataclasses.asdict(DEFAULT.agent), "budget": dataclasses.asdict(budget)}
    print(f"\nHotpotQA dev500, held-out questions: {heldout_q.height}; documents: {corpus.height}")
    print(describe_settings(settings))
    print(format_table(results, extra=True))
    for name, r in results.items():
        gain = r.get("gain_vs_oracle")
        if gain:
            shares = ", ".join(f"{m} {'—' if v is None else f'{v:.0%}'}" for m, v in gain.items())
            print(f"{name}: gain over base as a share of the oracle's: {shares}")
    print(f"wall {wall:.0f} s, CPU {cpu_s:.0f} s (this process and its threads), "
          f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    print("\nsupervision against the qrels (training questions):")
    for name in ("naive", "filter", "lrat", "oracle"):
        print(f"  {name:<7} " + supervision_quality(workdir / f"train_{name}.parquet", train_q))
    scratch.cleanup()
    if args.out is not None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
