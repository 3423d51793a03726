"""What the agent did differently with a trained retriever: base and a variant, call by call.

Reads an `lrat bench --out DIR` folder (which keeps each seed's base runs and each variant's runs on its
held-out questions under `work/`) and the collection it ran on, cuts every run at a budget of calls,
and prints for both: searches, browses, evidence among the results (evidence recall), evidence browsed
and success; then, for the questions whose evidence recall fell or rose, how their searches and
browses changed, and where base had found the evidence the variant never returned (which search, at
what rank).

    python benches/compare_heldout_runs.py OUT_DIR COLLECTION_DIR [--variant lrat] [--budget 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from lrat.beir import read_collection
from lrat.bench import agent_metrics, calls_of


def cut(record: dict[str, Any], budget: int, evidence: set[str]) -> dict[str, Any]:
    """The first `budget` calls: their counts, result lists, and the bench's own agent metrics."""
    calls = calls_of(record)[:budget]
    searches = [arg for kind, arg in calls if kind == "search"]
    metrics = agent_metrics(record, sorted(evidence), [budget])
    return {
        "searches": len(searches),
        "browses": len(calls) - len(searches),
        **{name: metrics[f"{name}@{budget}"] for name in ("evidence_recall", "evidence_browsed", "success")},
        "result_lists": [docs for _, docs in searches],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the `lrat bench --out` folder")
    parser.add_argument("collection", type=Path, help="the BEIR-layout collection it ran on")
    parser.add_argument("--variant", default="lrat")
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    seed_dir = args.out / "work" / f"seed{args.seed}"
    evidence = {
        r["query_id"]: set(r["evidence"])
        for r in read_collection(args.collection).questions.select("query_id", "evidence").to_dicts()
    }
    base = {r["query_id"]: r for r in map(json.loads, (seed_dir / "base_runs.jsonl").open(encoding="utf-8"))}
    files = sorted(seed_dir.glob(f"fold*/heldout_runs_{args.variant}.jsonl"))
    if not files:
        sys.exit(f"{seed_dir}: no heldout_runs_{args.variant}.jsonl (bench runs before a869bba did not keep them)")
    variant = {r["query_id"]: r for f in files for r in map(json.loads, f.open(encoding="utf-8"))}

    b = {q: cut(base[q], args.budget, evidence[q]) for q in variant}
    v = {q: cut(variant[q], args.budget, evidence[q]) for q in variant}
    fields = ("searches", "browses", "evidence_recall", "evidence_browsed", "success")
    print(f"{len(variant)} held-out questions, seed {args.seed}, first {args.budget} calls of each run:")
    for name, runs in (("base", b), (args.variant, v)):
        means = "  ".join(f"{f} {np.mean([r[f] for r in runs.values()]):.3f}" for f in fields)
        print(f"  {name:>12}: {means}")

    fell = [q for q in variant if v[q]["evidence_recall"] < b[q]["evidence_recall"]]
    rose = [q for q in variant if v[q]["evidence_recall"] > b[q]["evidence_recall"]]
    for label, qs in (("fell", fell), ("rose", rose)):
        if not qs:
            continue
        change = {f: np.mean([v[q][f] - b[q][f] for q in qs]) for f in ("searches", "browses")}
        print(
            f"evidence recall {label} on {len(qs)} questions: Δsearches {change['searches']:+.2f}, "
            f"Δbrowses {change['browses']:+.2f}, success base {np.mean([b[q]['success'] for q in qs]):.2f}, "
            f"{args.variant} {np.mean([v[q]['success'] for q in qs]):.2f}"
        )
    lost: Counter[tuple[str, str]] = Counter()
    for q in fell:
        returned = {d for docs in v[q]["result_lists"] for d in docs}
        for doc in evidence[q] - returned:
            for i, docs in enumerate(b[q]["result_lists"], start=1):
                if doc in docs:
                    rank = docs.index(doc) + 1
                    lost[
                        ("first search" if i == 1 else "a later search", "rank 1-2" if rank <= 2 else "rank 3-10")
                    ] += 1
                    break
    if lost:
        print(f"evidence base returned and {args.variant} never did, by where base had it:")
        for (search, rank), n in sorted(lost.items()):
            print(f"  {search}, {rank}: {n}")


if __name__ == "__main__":
    main()
