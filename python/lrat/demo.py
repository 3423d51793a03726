"""The whole LRAT loop, offline, from a seed: knowledge base → base index → simulated agent on training
questions → mining → training → re-indexing → evaluation on held-out questions.

Variants (each trained variant gets the same training budget: the same number of optimiser steps of
the same batch and group size, from the same base model):
- `base`: the untrained retriever.
- `naive`: every browsed document is a positive (judge "none"), weight 1.
- `filter`: the rule-based judge drops browses the agent rejected, weight 1.
- `lrat`: the judge's filter and relevance-intensity weights from reasoning length (the method).
- `oracle`: the training questions themselves as queries, their evidence (qrels) as positives and the
  base retriever's non-evidence top-k as negatives: the ceiling that mined supervision approaches.

Evaluation on held-out questions only (DESIGN §6): single-query retrieval of each question against its
evidence documents (Recall@k, nDCG@k, MRR, misses = 1 − Recall@k), and the simulated agent played on
the held-out questions with the variant's retriever (evidence recall, success rate, steps). Held-out
questions never reach mining or training; `run_loop` checks that no mined example comes from one.

`run_loop` works on any corpus and question split (the HotpotQA bench uses it); `run_demo` feeds it the
synthetic knowledge base.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from lrat.evaluation import evaluate_run, evaluate_trajectories
from lrat.mining import mine_with_report
from lrat.simulate import AgentConfig, document_lookup, simulate, write_runs
from lrat.synthetic import SyntheticConfig, generate
from lrat.trajectories import read_trajectories

MINED_VARIANTS = {
    "naive": {"judge": "none", "weighting": "none"},
    "filter": {"judge": "rules", "weighting": "none"},
    "lrat": {"judge": "rules", "weighting": "intensity"},
}
TABLE_COLUMNS = [
    ("evidence_recall", "evid.rec"),
    ("recall@10", "R@10"),
    ("ndcg@10", "nDCG@10"),
    ("success_rate", "success"),
    ("steps", "steps"),
]
EXTRA_COLUMNS = [("recall@2", "R@2"), ("misses@10", "miss@10"), ("mrr", "MRR")]


@dataclasses.dataclass(frozen=True)
class TrainingBudget:
    """What every trained variant gets. `steps` optimiser steps of `batch_size` examples, each with its
    positive and `group_size − 1` negatives (in-batch documents are negatives too)."""

    steps: int = 30
    batch_size: int = 16
    group_size: int = 2
    learning_rate: float = 1e-4
    temperature: float = 0.02
    max_query_length: int = 64
    max_document_length: int = 128
    seed: int = 42


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Everything that shapes a demo run. `DEFAULT` (half the entities of `SyntheticConfig()`, about
    1,500 documents, and 500 questions) keeps the run within minutes on two CPU cores with
    all-MiniLM-L6-v2; `QUICK` is a smoke test of the whole loop."""

    kb: SyntheticConfig = SyntheticConfig()
    agent: AgentConfig = AgentConfig()
    budget: TrainingBudget = TrainingBudget()
    encode_max_length: int = 128
    """Maximum document length when indexing (tokens), for every variant."""


DEFAULT = DemoConfig(
    kb=SyntheticConfig(n_people=500, n_cities=125, n_organisations=225, n_works=225, n_events=150, n_questions=500),
)
QUICK = DemoConfig(
    kb=SyntheticConfig(n_people=120, n_cities=30, n_organisations=50, n_works=50, n_events=30, n_questions=80),
    budget=TrainingBudget(steps=4, batch_size=8),
)


class Progress:
    """Stage lines with the elapsed time, on stderr (or silent)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Pieces of the loop


def oracle_training_set(
    questions: pl.DataFrame, corpus: pl.DataFrame, searcher: Any, k: int = 10
) -> pl.DataFrame:
    """One example per (training question, evidence document): the question as query, the evidence
    document as positive, the searcher's non-evidence top-`k` for the question as negatives."""
    texts = dict(zip(corpus["doc_id"].to_list(), corpus["text"].to_list()))
    rows = questions.select("query_id", "question", "evidence").to_dicts()
    hits = searcher.search([r["question"] for r in rows], k)
    out = []
    for r, found in zip(rows, hits):
        evidence = set(r["evidence"])
        negatives = [d for d, _ in found if d not in evidence]
        for doc in r["evidence"]:
            if doc not in texts:
                raise ValueError(f"question {r['query_id']}: evidence document {doc!r} is not in the corpus")
            out.append({
                "query": r["question"], "pos": texts[doc], "neg": [texts[d] for d in negatives],
                "pos_id": doc, "neg_id": negatives, "weight": 1.0, "query_id": r["query_id"],
            })
    schema = {"query": pl.String, "pos": pl.String, "neg": pl.List(pl.String), "pos_id": pl.String,
              "neg_id": pl.List(pl.String), "weight": pl.Float64, "query_id": pl.String}
    return pl.DataFrame(out, schema=schema)


def retrieval_metrics(searcher: Any, questions: pl.DataFrame, ks: Sequence[int] = (2, 10)) -> dict[str, float]:
    """Single-query retrieval of each question against its evidence: Recall@k, nDCG@k, MRR, misses@k."""
    rows = questions.select("query_id", "question", "evidence").to_dicts()
    depth = max(ks)
    hits = searcher.search([r["question"] for r in rows], depth)
    run = {r["query_id"]: {d: s for d, s in found} for r, found in zip(rows, hits)}
    qrels = {r["query_id"]: dict.fromkeys(r["evidence"], 1) for r in rows}
    mean = evaluate_run(run, qrels, ks).mean
    out = {f"{m}@{k}": mean[f"{m}@{k}"] for k in ks for m in ("recall", "ndcg")}
    out["mrr"] = mean["mrr"]
    for k in ks:
        out[f"misses@{k}"] = 1.0 - mean[f"recall@{k}"]
    return out


def agent_metrics(
    searcher: Any,
    questions: pl.DataFrame,
    get_document: Callable[[str], str],
    agent: AgentConfig,
    *,
    seed: int,
    runs_path: Path,
    progress: bool,
) -> dict[str, float | None]:
    """Plays the agent on `questions` with `searcher`; evidence recall, success rate, steps."""
    records = simulate(questions, searcher, get_document, agent, seed=seed, progress=progress)
    write_runs(records, runs_path)
    data = read_trajectories(runs_path, strict=True)
    qrels = {q: dict.fromkeys(ev, 1) for q, ev in questions.select("query_id", "evidence").iter_rows()}
    answers = dict(questions.select("query_id", "answer").iter_rows())
    s = evaluate_trajectories(data, qrels, answers=answers).summary
    return {key: s[key] for key in ("evidence_recall", "success_rate", "steps", "searches", "browses")}


def _load_encoder(model: str | os.PathLike[str] | None, max_length: int) -> Any:
    from lrat.encoder import Encoder

    return Encoder.load(model, max_document_length=max_length)


# ---------------------------------------------------------------------------------------------
# The loop


def run_loop(
    corpus: pl.DataFrame,
    train_questions: pl.DataFrame,
    heldout_questions: pl.DataFrame,
    *,
    model: str | os.PathLike[str] | None = None,
    variants: Sequence[str] = ("lrat", "oracle"),
    agent: AgentConfig = AgentConfig(),
    budget: TrainingBudget = TrainingBudget(),
    encode_max_length: int = 128,
    seed: int = 0,
    workdir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Runs base and the trained `variants` (any of naive, filter, lrat, oracle) and returns one
    metrics object per variant, keyed by name, base first. Questions need `query_id, question, answer,
    evidence`; the corpus `doc_id, text` (and optionally `title`). Run files and mined training sets
    are written under `workdir` (a temporary folder when None); trained models go to a temporary folder."""
    unknown = [v for v in variants if v not in (*MINED_VARIANTS, "oracle")]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from naive, filter, lrat, oracle")
    overlap = set(train_questions["query_id"]) & set(heldout_questions["query_id"])
    if overlap:
        raise ValueError(f"{len(overlap)} question(s) are both training and held-out, e.g. {sorted(overlap)[0]}")
    log = Progress(progress)
    heldout_ids = set(heldout_questions["query_id"].to_list())
    get_document = document_lookup(corpus)
    from lrat.retriever import DenseRetriever
    from lrat.training import train

    with tempfile.TemporaryDirectory(prefix="lrat-demo-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        models = Path(tmp) / "models"

        def evaluate(name: str, retriever: Any, extra: dict[str, Any]) -> dict[str, Any]:
            log(f"{name}: single-query retrieval of {heldout_questions.height} held-out questions")
            metrics: dict[str, Any] = retrieval_metrics(retriever, heldout_questions)
            log(f"{name}: agent on the held-out questions")
            metrics.update(agent_metrics(retriever, heldout_questions, get_document, agent, seed=seed,
                                         runs_path=work / f"heldout_runs_{name}.jsonl", progress=progress))
            metrics.update(extra)
            log(f"{name}: evidence recall {metrics['evidence_recall']:.3f}, Recall@10 {metrics['recall@10']:.3f}, "
                f"Recall@2 {metrics['recall@2']:.3f}, nDCG@10 {metrics['ndcg@10']:.3f}, "
                f"success {metrics['success_rate']:.3f}, steps {metrics['steps']:.2f}")
            return metrics

        log(f"index {corpus.height} documents with the base model")
        base = DenseRetriever.build(corpus, _load_encoder(model, encode_max_length), exact=True,
                                    show_progress=progress)
        results: dict[str, dict[str, Any]] = {"base": evaluate("base", base, {"train_examples": 0, "train_steps": 0})}

        training_sets: dict[str, pl.DataFrame] = {}
        reports: dict[str, Any] = {}
        if any(v in MINED_VARIANTS for v in variants):
            log(f"agent on {train_questions.height} training questions with the base retriever")
            records = simulate(train_questions, base, get_document, agent, seed=seed, progress=progress)
            runs_path = write_runs(records, work / "train_runs.jsonl")
            for name in (v for v in variants if v in MINED_VARIANTS):
                df, report = mine_with_report(runs_path, corpus=corpus, strict=True, **MINED_VARIANTS[name])
                leaked = set(df["query_id"].unique().to_list()) & heldout_ids
                if leaked:
                    raise RuntimeError(f"mined examples come from held-out questions: {sorted(leaked)[:3]}")
                if df.height == 0:
                    raise RuntimeError(f"{name}: mining kept no example; the agent browsed nothing useful")
                training_sets[name], reports[name] = df, report
                log(f"mined {name}: {df.height} examples (judge {report.judge}, "
                    f"weighting {MINED_VARIANTS[name]['weighting']})")
        if "oracle" in variants:
            training_sets["oracle"] = oracle_training_set(train_questions, corpus, base, agent.k)
            log(f"oracle: {training_sets['oracle'].height} examples from the training questions' qrels")
        for name, df in training_sets.items():
            df.write_parquet(work / f"train_{name}.parquet")

        for name in variants:
            df = training_sets[name]
            log(f"{name}: train {budget.steps} steps on {df.height} examples")
            result = train(
                df, output_dir=models / name, model=model, max_steps=budget.steps,
                epochs=max(1, math.ceil(budget.steps * budget.batch_size / df.height) + 1),
                batch_size=min(budget.batch_size, df.height), group_size=budget.group_size,
                learning_rate=budget.learning_rate, temperature=budget.temperature,
                max_query_length=budget.max_query_length, max_document_length=budget.max_document_length,
                seed=budget.seed, show_progress=progress, save_steps=0,
            )
            log(f"{name}: re-index with the trained model")
            retriever = DenseRetriever.build(corpus, _load_encoder(result.output_dir, encode_max_length),
                                             exact=True, show_progress=progress)
            results[name] = evaluate(name, retriever, {"train_examples": df.height, "train_steps": result.steps})

    base_row = results["base"]
    if "oracle" in results:
        for name in variants:
            if name == "oracle":
                continue
            results[name]["gain_vs_oracle"] = {
                m: _fraction(results[name][m], base_row[m], results["oracle"][m])
                for m in ("evidence_recall", "recall@10", "ndcg@10")
            }
    return results


def _fraction(value: float | None, base: float | None, oracle: float | None) -> float | None:
    if value is None or base is None or oracle is None or oracle - base <= 1e-12:
        return None
    return (value - base) / (oracle - base)


# ---------------------------------------------------------------------------------------------
# Reporting


def format_table(results: dict[str, dict[str, Any]], extra: bool = False) -> str:
    """The results as a fixed-width text table, one row per variant."""
    columns = TABLE_COLUMNS + (EXTRA_COLUMNS if extra else [])
    has_gain = any("gain_vs_oracle" in r for r in results.values())
    header = f"{'variant':<8}" + "".join(f"{label:>10}" for _, label in columns)
    header += f"{'train ex.':>10}" + (f"{'R@10 gain':>17}" if has_gain else "")
    lines = [header, "-" * len(header)]
    for name, r in results.items():
        cells = []
        for key, _ in columns:
            value = r.get(key)
            cells.append(f"{'—':>10}" if value is None else f"{value:>10.3f}" if key != "steps" else f"{value:>10.2f}")
        line = f"{name:<8}" + "".join(cells) + f"{r.get('train_examples', 0):>10d}"
        if has_gain:
            gain = r.get("gain_vs_oracle", {}).get("recall@10")
            line += f"{'' if gain is None else f'{gain:.0%} of oracle':>17}"
        lines.append(line)
    return "\n".join(lines)


def describe_settings(settings: dict[str, Any]) -> str:
    agent = settings["agent"]
    budget = settings["budget"]
    return (
        f"simulator: lrat.simulate AgentConfig(k={agent['k']}, snippet_tokens={agent['snippet_tokens']}, "
        f"max_steps={agent['max_steps']}, browse_floor={agent['browse_floor']}, browse_ceiling={agent['browse_ceiling']}, "
        f"visibility_noise={agent['visibility_noise']}, explicit_rejection_prob={agent['explicit_rejection_prob']}, "
        f"position_bias={tuple(agent['position_bias'])}; other fields at their defaults), seed {settings['seed']}\n"
        f"training (every trained variant): {budget['steps']} steps × batch {budget['batch_size']}, group "
        f"{budget['group_size']}, lr {budget['learning_rate']}, temperature {budget['temperature']}, "
        f"max lengths {budget['max_query_length']}/{budget['max_document_length']}; model {settings['model']}"
    )


def write_plots(results: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """`metrics.png`: the table's rate metrics per variant as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("evidence_recall", "evidence recall"), ("recall@10", "Recall@10"), ("ndcg@10", "nDCG@10"),
               ("success_rate", "success rate")]
    names = list(results)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [results[name].get(m) or 0.0 for m, _ in metrics]
        bars = ax.bar([j + i * width for j in range(len(metrics))], values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))], [label for _, label in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out questions")
    ax.set_title("LRAT demo: base retriever against retrievers trained on agent trajectories")
    ax.legend(ncol=len(names), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    paths = [out / "metrics.png"]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.bar(names, [results[n].get("steps") or 0.0 for n in names], color="tab:gray")
    ax.set_ylabel("mean steps per question (search + browse)")
    ax.set_title("Agent effort on held-out questions")
    fig.tight_layout()
    paths.append(out / "steps.png")
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def run_demo(
    out: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    ablation: bool = False,
    quick: bool = False,
    model: str | os.PathLike[str] | None = None,
    config: DemoConfig | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Generates the knowledge base from `seed`, runs the loop (base, lrat and oracle; with `ablation`
    also naive and filter), prints the table and returns it as {variant: metrics}. Under `out`: the
    table as `results.json`, the settings that produced it as `settings.json`, the plots, the
    training runs and mined training sets."""
    config = config or (QUICK if quick else DEFAULT)
    log = Progress(progress)
    log(f"generate the knowledge base (seed {seed})")
    kb = generate(config.kb, seed=seed)
    train_q, heldout_q = kb.train_questions, kb.heldout_questions
    log(f"{kb.corpus.height} documents, {train_q.height} training and {heldout_q.height} held-out questions")
    variants = (["naive", "filter"] if ablation else []) + ["lrat", "oracle"]
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    results = run_loop(
        kb.corpus, train_q, heldout_q, model=model, variants=variants, agent=config.agent, budget=config.budget,
        encode_max_length=config.encode_max_length, seed=seed,
        workdir=None if out_dir is None else out_dir / "work", progress=progress,
    )
    settings = {
        "seed": seed,
        "model": str(model) if model is not None else "all-MiniLM-L6-v2 (bundled)",
        "knowledge_base": dataclasses.asdict(config.kb),
        "agent": dataclasses.asdict(config.agent),
        "budget": dataclasses.asdict(config.budget),
        "encode_max_length": config.encode_max_length,
        "documents": kb.corpus.height,
        "train_questions": train_q.height,
        "heldout_questions": heldout_q.height,
        "elapsed_s": round(time.perf_counter() - log.start, 1),
    }
    table = format_table(results)
    print(f"\nHeld-out questions: {heldout_q.height} (of {kb.questions.height}); documents: {kb.corpus.height}")
    print(describe_settings(settings))
    print(table)
    if out_dir is not None:
        (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (out_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        (out_dir / "table.txt").write_text(describe_settings(settings) + "\n" + table + "\n")
        plots = write_plots(results, out_dir)
        log(f"wrote {out_dir / 'results.json'}, settings.json, table.txt and {', '.join(p.name for p in plots)}")
    return results
