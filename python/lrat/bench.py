"""`lrat bench`: does training on agent trajectories help? Cross-fitted, seeded, with paired intervals.

The protocol (docs/method.md §5):
- Questions with evidence are split into `folds` folds by a hash of their id under `fold_seed`. The
  models evaluated on fold i are trained only on trajectories of questions outside fold i, so every
  question is held out exactly once and all of them count.
- For each seed, the simulated agent plays every question once with the base retriever (its trajectories
  are cached and shared by every fold and variant; with `plays` > 1 it plays each question again on
  other random streams, and those runs only add training trajectories). Fold i's training data is mined from the
  trajectories of the other folds' questions; fold i's own base trajectories give the *agents' own
  queries*: the searches the agent issued on the held-out question, other than the question itself,
  frozen as one query set that every variant is scored on.
- Variants under one training budget: `base`, `lrat` (judge filter + intensity weights), the
  `oracle_question` (training questions as queries, their qrels as positives, base-retrieved non-evidence
  as negatives) and the `oracle_trajectory` (the agent's own queries on the training questions, labelled
  by the qrels: the evidence among a query's results as positives, the rest as negatives: the ceiling of
  a perfect judge on the same logs); on request the `oracle_solved` (the question oracle on the
  training questions the base agent solved, whose trajectories LRAT learns from); with `ablation`, `naive` (every browse positive) and `filter`
  (judge, no weights).
- Metrics per question, so that every delta is paired: the question as the query (Recall@2/5/10,
  nDCG@10, misses@10); the agents' own queries (Recall@2/5/10 and nDCG@10, averaged over the question's
  queries); and the agent re-run on the held-out question with the variant's retriever, cut at each
  step budget: evidence browsed, success (all evidence browsed), evidence recall (documents returned by
  any search within the budget), and the calls until the first and the last evidence document was
  browsed (budget + 1 when it never was).
- Each delta against base carries a paired bootstrap interval over questions (seeds averaged per
  question first) and the mean ± sd of the per-seed means; gains are also given as a fraction of
  each oracle's gain.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lrat.beir import Collection
from lrat.bootstrap import RESAMPLES, bootstrap_ratio, paired_bootstrap
from lrat.contextual import contextual_query
from lrat.evaluation import query_metrics
from lrat.harness.simulate import AgentConfig, document_lookup, simulate, write_runs
from lrat.mining import MiningConfig, mine_with_report
from lrat.negatives import filter_false_negatives
from lrat.training.config import TrainingConfig

MINED_VARIANTS: dict[str, dict[str, Any]] = {
    "naive": {"judge": "none", "weighting": "none"},
    "filter": {"judge": "rules", "weighting": "none"},
    "lrat": {"judge": "rules", "weighting": "intensity"},
    # LRAT with one mechanism of the mining recipe off, to measure what each carries.
    "lrat_keep_accepted": {"judge": "rules", "weighting": "intensity", "exclude_accepted": False},
    "lrat_no_fn_filter": {"judge": "rules", "weighting": "intensity", "false_negative_margin": None},
    # LRAT with the false-negative filter at NV-Retriever's relative margin (off by default).
    "lrat_fn_filter": {"judge": "rules", "weighting": "intensity", "false_negative_margin": 0.95},
    # LRAT with query chains: the searches the agent reformulated get the page it found next.
    "lrat_chain": {"judge": "rules", "weighting": "intensity", "chain_queries": True},
    # LRAT without crediting accepted pages to the earlier searches that listed them.
    "lrat_no_credit": {"judge": "rules", "weighting": "intensity", "credit_earlier": False},
    # LRAT with task-level examples: the trajectory's question paired with each page the agent accepted.
    "lrat_question": {"judge": "rules", "weighting": "intensity", "question_examples": True},
    # LRAT mined from every trajectory, failed ones too (the paper: they help, less than successful ones).
    "lrat_all_outcomes": {"judge": "rules", "weighting": "intensity", "outcomes": "all"},
    # LRAT with ITER's tiered negative weights (3 / 1 / 0.3, in-batch 0.3).
    "lrat_tiered": {"judge": "rules", "weighting": "intensity", "negative_weights": "iter"},
    # LRAT with 10% of the training trajectories as a dev split: best step kept, base kept when worse.
    "lrat_dev": {"judge": "rules", "weighting": "intensity", "dev_fraction": 0.1},
    # LRAT trained and searched with contextual queries (the query joined with the reasoning before it).
    "lrat_context": {"judge": "rules", "weighting": "intensity", "contextual_queries": True},
}
"""How each mined variant mines (judge, weighting, contextual queries) and trains (negative weights),
and, where given, a mechanism of the config (`exclude_accepted`, `false_negative_margin`) set for
that variant alone. A variant mined with contextual queries is also searched with them: the
frozen agent queries and the re-run agent's searches carry the reasoning written before them."""
TRAINING_KEYS = ("negative_weights", "dev_fraction")
"""Keys of a variant's recipe that go to training rather than mining."""
CONTEXTUAL_VARIANTS = frozenset(
    [*(n for n, r in MINED_VARIANTS.items() if r.get("contextual_queries")), "base_context"]
)
ORACLES = ("oracle_question", "oracle_trajectory", "oracle_solved")
"""`oracle_solved` is the question oracle on the training questions the base agent solved (those whose
trajectories LRAT mines by default): the oracle's lead over LRAT that is left is supervision, the rest
is coverage. A diagnostic, not run by default."""
REFERENCES = ("base_context",)
"""Untrained variants: `base_context` is the base model searched with contextual queries, which tells
what `lrat_context` owes to the context alone and what to its training."""
ALL_VARIANTS = (*MINED_VARIANTS, *ORACLES, *REFERENCES)
DEFAULT_VARIANTS = ("lrat", "oracle_question", "oracle_trajectory")


_TRAINING_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}


@dataclass(frozen=True)
class TrainingBudget:
    """What every trained variant gets: `steps` optimiser steps of `batch_size` examples, each with its
    positive and `group_size − 1` trajectory negatives (the other examples' documents are in-batch
    negatives too). The recipe (gentle learning rate, τ 0.05, groups of 4) is the one measured in the
    quality issue's first check, and `lrat train`'s defaults (`TrainingConfig`); the paper's GPU recipe
    (lr 1e-6 over 2 epochs of 91K pairs) does not transfer to a few hundred mined examples."""

    steps: int = 30
    batch_size: int = _TRAINING_DEFAULTS["batch_size"]
    group_size: int = _TRAINING_DEFAULTS["group_size"]
    learning_rate: float = _TRAINING_DEFAULTS["learning_rate"]
    temperature: float = _TRAINING_DEFAULTS["temperature"]
    max_query_length: int = 64
    max_document_length: int = 128
    merge_base: float = 0.0
    """Share of the base weights mixed back into each trained model (WiSE-FT); 0 keeps it as trained."""
    distill_base: float = _TRAINING_DEFAULTS["distill_base"]
    """Weight of the distillation term toward the frozen base model (`TrainingConfig.distill_base`): on
    the quick bench λ 1 kept the evidence that plain training pushed out of the top 10 (λ 3 halved the
    gains)."""
    precision: str = "auto"
    """What training and encoding compute in, for the base model and every trained one alike
    (`lrat.precision`; auto: bf16 where the CPU or GPU computes it natively, else float32 on CPUs)."""


@dataclass(frozen=True)
class BenchConfig:
    """Every setting of a bench run; `settings.json` records all of them."""

    folds: int = 5
    seeds: int = 3
    fold_seed: int = 20260404
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    budgets: tuple[int, ...] = (3, 5, 8)
    ks: tuple[int, ...] = (2, 5, 10)
    agent: AgentConfig = AgentConfig()
    training: TrainingBudget = TrainingBudget()
    plays: int = 1
    """Times the base agent plays each question per seed. Play 0 is the one every held-out metric is
    measured against; plays 1… (each its own random stream: seed `s + seeds × p`) only add training
    trajectories, as more logs of the same questions would. Mined and trajectory-oracle sets use every
    play; the question oracle has one example per evidence document whatever the plays."""
    exclude_accepted: bool = True
    """Mining: a document accepted anywhere in a trajectory is never one of its negatives."""
    false_negative_margin: float | None = _TRAINING_DEFAULTS["false_negative_margin"]
    """Mined training sets: drop a negative that the base model scores above this fraction of its
    positive (`lrat.negatives`); None (the default, as in `lrat train`) keeps every negative."""
    encode_max_length: int = 128
    resamples: int = RESAMPLES
    bootstrap_seed: int = 0

    def check(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.plays < 1:
            raise ValueError(f"plays must be at least 1, got {self.plays}")
        unknown = [v for v in self.variants if v not in ALL_VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(ALL_VARIANTS)}")
        if not self.budgets or min(self.budgets) < 1:
            raise ValueError(f"budgets must be positive step counts, got {self.budgets}")


SATURATION_TARGET = (0.4, 0.7)
"""Where the base retriever's evidence recall at the smallest budget should sit for a better retriever
to be able to show (docs/method.md §5: a metric that saturates for the base shows nothing)."""

DEFAULT = BenchConfig()
QUICK = BenchConfig(folds=2, seeds=1)


def with_ablation(config: BenchConfig) -> BenchConfig:
    """The config with the naive and filter variants added before the others."""
    extra = tuple(v for v in ("naive", "filter") if v not in config.variants)
    return dataclasses.replace(config, variants=extra + tuple(config.variants))


# ---------------------------------------------------------------------------------------------
# Folds


def assign_folds(query_ids: Sequence[str], folds: int, seed: int) -> dict[str, int]:
    """Fold of each question: questions ordered by a hash of `seed:id`, then dealt round-robin, so the
    folds differ in size by at most one and a question's fold depends only on the ids and the seed."""
    order = sorted(query_ids, key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).digest())
    return {q: i % folds for i, q in enumerate(order)}


# ---------------------------------------------------------------------------------------------
# Reading a trajectory record back as calls

_DOCID = re.compile(r"^DocID:(.*)$", re.MULTILINE)


def calls_of(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The record's tool calls in order: `("search", (query, [doc ids]))` or `("browse", doc_id)`."""
    out: list[tuple[str, Any]] = []
    for step in record["result"]:
        if step.get("type") != "tool_call":
            continue
        args = json.loads(step["arguments"]) if isinstance(step["arguments"], str) else step["arguments"]
        if step.get("tool_name") == "search":
            query = args["query"][0] if isinstance(args["query"], list) else args["query"]
            out.append(("search", (query, [d.strip() for d in _DOCID.findall(step.get("output") or "")])))
        else:
            out.append(("browse", str(args["docid"])))
    return out


def agent_metrics(record: Mapping[str, Any], evidence: Sequence[str], budgets: Sequence[int]) -> dict[str, float]:
    """Per-budget evidence browsed, success and evidence recall of one trajectory, and the calls until
    the first and the last evidence document was browsed (max(budgets) + 1 when never)."""
    wanted = set(evidence)
    calls = calls_of(record)
    out: dict[str, float] = {}
    for b in budgets:
        browsed = {arg for kind, arg in calls[:b] if kind == "browse"} & wanted
        returned = {d for kind, arg in calls[:b] if kind == "search" for d in arg[1]} & wanted
        out[f"evidence_browsed@{b}"] = len(browsed) / len(wanted)
        out[f"success@{b}"] = float(browsed == wanted)
        out[f"evidence_recall@{b}"] = len(returned) / len(wanted)
    cap = max(budgets)
    seen: set[str] = set()
    first = last = float(cap + 1)
    for i, (kind, arg) in enumerate(calls[:cap], start=1):
        if kind == "browse" and arg in wanted:
            seen.add(arg)
            first = min(first, float(i))
            if seen == wanted:
                last = float(i)
                break
    out["calls_to_first_evidence"] = first
    out["calls_to_all_evidence"] = last
    return out


def search_contexts(record: Mapping[str, Any]) -> dict[str, str]:
    """Each search query of the record → the reasoning step right before its first search ("" when
    the step before is not reasoning): the context a contextual retriever gets with it."""
    out: dict[str, str] = {}
    steps = record["result"]
    for i, step in enumerate(steps):
        if step.get("type") != "tool_call" or step.get("tool_name") != "search":
            continue
        args = json.loads(step["arguments"]) if isinstance(step["arguments"], str) else step["arguments"]
        query = args["query"][0] if isinstance(args["query"], list) else args["query"]
        before = steps[i - 1] if i > 0 else None
        context = str(before.get("output") or "") if before is not None and before.get("type") == "reasoning" else ""
        out.setdefault(query, context)
    return out


def agent_queries(record: Mapping[str, Any], question: str) -> list[str]:
    """The distinct search queries of a trajectory other than the question itself, in order."""
    queries = [arg[0] for kind, arg in calls_of(record) if kind == "search"]
    norm = question.strip().lower()
    return list(dict.fromkeys(q for q in queries if q.strip() and q.strip().lower() != norm))


# ---------------------------------------------------------------------------------------------
# Metric names, in the order of the table


def metric_names(config: BenchConfig) -> list[tuple[str, str]]:
    """(metric, level) pairs: level is question, agent_queries or agent."""
    out = [(f"recall@{k}", "question") for k in config.ks] + [("ndcg@10", "question"), ("misses@10", "question")]
    out += [(f"aq_recall@{k}", "agent_queries") for k in config.ks] + [("aq_ndcg@10", "agent_queries")]
    for b in config.budgets:
        out += [(f"evidence_browsed@{b}", "agent"), (f"success@{b}", "agent"), (f"evidence_recall@{b}", "agent")]
    out += [("calls_to_first_evidence", "agent"), ("calls_to_all_evidence", "agent")]
    return out


LOWER_IS_BETTER = {"misses@10", "calls_to_first_evidence", "calls_to_all_evidence"}


def _ranking_metrics(
    found: Sequence[tuple[str, float]], evidence: Sequence[str], ks: Sequence[int]
) -> dict[str, float]:
    """Recall@k for each k and nDCG@10 of one result list against the question's evidence."""
    m = query_metrics({d: s for d, s in found}, dict.fromkeys(evidence, 1), ks=sorted({*ks, 10}))
    return {**{f"recall@{k}": m[f"recall@{k}"] for k in ks}, "ndcg@10": m["ndcg@10"]}


def retrieval_metrics(
    searcher: Any, questions: Sequence[Mapping[str, Any]], ks: Sequence[int]
) -> dict[str, dict[str, float]]:
    """query_id → the question-as-query metrics (and misses@10 = 1 − Recall@10)."""
    hits = searcher.search([q["question"] for q in questions], max(*ks, 10))
    out = {}
    for q, found in zip(questions, hits):
        m = _ranking_metrics(found, q["evidence"], sorted({*ks, 10}))
        out[q["query_id"]] = {
            **{f"recall@{k}": m[f"recall@{k}"] for k in ks},
            "ndcg@10": m["ndcg@10"],
            "misses@10": 1.0 - m["recall@10"],
        }
    return out


def agent_query_metrics(
    searcher: Any, queries: Mapping[str, list[str]], evidence: Mapping[str, Sequence[str]], ks: Sequence[int]
) -> dict[str, dict[str, float]]:
    """query_id → each metric (prefixed `aq_`) averaged over the question's frozen agent queries (NaN
    without any)."""
    flat = [(qid, text) for qid, texts in queries.items() for text in texts]
    hits = searcher.search([t for _, t in flat], max(*ks, 10)) if flat else []
    per_question: dict[str, list[dict[str, float]]] = {}
    for (qid, _), found in zip(flat, hits):
        per_question.setdefault(qid, []).append(_ranking_metrics(found, evidence[qid], ks))
    names = [f"recall@{k}" for k in ks] + ["ndcg@10"]
    out = {}
    for qid in queries:
        rows = per_question.get(qid)
        out[qid] = {f"aq_{n}": (sum(r[n] for r in rows) / len(rows) if rows else math.nan) for n in names}
    return out


# ---------------------------------------------------------------------------------------------
# Training sets


def question_oracle_set(
    questions: Sequence[Mapping[str, Any]], texts: Mapping[str, str], searcher: Any, k: int
) -> pl.DataFrame:
    """The training questions as queries, each evidence document a positive, the searcher's
    non-evidence top-`k` as negatives."""
    hits = searcher.search([q["question"] for q in questions], k)
    rows = []
    for q, found in zip(questions, hits):
        evidence = set(q["evidence"])
        negatives = [d for d, _ in found if d not in evidence]
        for doc in q["evidence"]:
            rows.append((q["question"], doc, negatives, q["query_id"]))
    return _training_frame(rows, texts)


def trajectory_oracle_set(
    records: Sequence[Mapping[str, Any]], questions: Mapping[str, Mapping[str, Any]], texts: Mapping[str, str]
) -> pl.DataFrame:
    """Every search of the training trajectories, labelled by the qrels: each evidence document among
    its results is a positive, the other results are negatives (a perfect judge on the same logs)."""
    rows = []
    for record in records:
        qid = record["query_id"]
        evidence = set(questions[qid]["evidence"])
        seen: set[tuple[str, str]] = set()
        for kind, arg in calls_of(record):
            if kind != "search":
                continue
            query, docs = arg
            negatives = [d for d in docs if d not in evidence]
            for doc in docs:
                if doc in evidence and (query, doc) not in seen:
                    seen.add((query, doc))
                    rows.append((query, doc, negatives, qid))
    return _training_frame(rows, texts)


def _training_frame(rows: list[tuple[str, str, list[str], str]], texts: Mapping[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "query": [r[0] for r in rows],
            "pos": [texts[r[1]] for r in rows],
            "neg": [[texts[d] for d in r[2]] for r in rows],
            "pos_id": [r[1] for r in rows],
            "neg_id": [r[2] for r in rows],
            "weight": [1.0] * len(rows),
            "query_id": [r[3] for r in rows],
        },
        schema={
            "query": pl.String,
            "pos": pl.String,
            "neg": pl.List(pl.String),
            "pos_id": pl.String,
            "neg_id": pl.List(pl.String),
            "weight": pl.Float64,
            "query_id": pl.String,
        },
    )


def _negatives_of(variant: str, config: BenchConfig) -> tuple[bool, float | None]:
    """Whether a mined variant keeps the accepted documents out of its negatives, and its false-negative
    filter's margin: what its recipe sets, else the run's."""
    recipe = MINED_VARIANTS[variant]
    return (
        recipe.get("exclude_accepted", True) and config.exclude_accepted,
        recipe.get("false_negative_margin", config.false_negative_margin),
    )


def fold_training_sets(
    variants: Sequence[str],
    corpus: pl.DataFrame,
    train_questions: Sequence[Mapping[str, Any]],
    train_records: Sequence[Mapping[str, Any]],
    base: Any,
    config: BenchConfig,
    work: Path,
    base_vectors: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, pl.DataFrame], dict[str, dict[str, Any]]]:
    """The training set of each trained variant for one fold, from the training questions and their
    base trajectories alone (nothing of the held-out fold reaches this function), and the mining
    report of each mined variant."""
    texts = dict(zip(corpus["doc_id"].to_list(), corpus["text"].to_list()))
    sets: dict[str, pl.DataFrame] = {}
    reports: dict[str, dict[str, Any]] = {}
    mined = [v for v in variants if v in MINED_VARIANTS]
    if mined:
        runs = write_runs(train_records, work / "train_runs.jsonl")
        for name in mined:
            exclude, fn_margin = _negatives_of(name, config)
            recipe = {
                k: v
                for k, v in MINED_VARIANTS[name].items()
                if k not in (*TRAINING_KEYS, "exclude_accepted", "false_negative_margin")
            }
            df, report = mine_with_report(runs, corpus=corpus, strict=True, exclude_accepted=exclude, **recipe)
            reports[name] = report.to_dict()
            if fn_margin is not None:
                df, dropped = filter_false_negatives(
                    df, base.encoder, relative_margin=fn_margin, document_vectors=base_vectors
                )
                reports[name]["false_negatives_dropped"] = dropped
            sets[name] = df
    if "oracle_question" in variants:
        sets["oracle_question"] = question_oracle_set(train_questions, texts, base, config.agent.k)
    if "oracle_solved" in variants:
        solved = {r["query_id"] for r in train_records if r.get("status") == "completed"}
        sets["oracle_solved"] = question_oracle_set(
            [q for q in train_questions if q["query_id"] in solved], texts, base, config.agent.k
        )
    if "oracle_trajectory" in variants:
        by_id = {q["query_id"]: q for q in train_questions}
        sets["oracle_trajectory"] = trajectory_oracle_set(train_records, by_id, texts)
    return sets, reports


def supervision_quality(df: pl.DataFrame, evidence: Mapping[str, Sequence[str]]) -> dict[str, float | int]:
    """How clean a training set is against the qrels: the share of positives that are evidence of
    their question and the share of negatives that are (false negatives)."""
    pos = neg = bad = 0
    for qid, p, negs in df.select("query_id", "pos_id", "neg_id").iter_rows():
        ev = set(evidence.get(qid, ()))
        pos += p in ev
        neg += len(negs or [])
        bad += sum(d in ev for d in negs or [])
    return {
        "examples": df.height,
        "positives_evidence": pos / max(df.height, 1),
        "negatives": neg,
        "negatives_evidence": bad / max(neg, 1),
    }


# ---------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Stage lines on stderr with elapsed time and, for the unit-counted phase, an ETA."""

    def __init__(self, enabled: bool = True, total_units: int = 0):
        self.enabled = enabled
        self.start = time.perf_counter()
        self.total = total_units
        self.done = 0
        self.unit_time = 0.0

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[{_clock(time.perf_counter() - self.start)}] {message}", file=sys.stderr, flush=True)

    def unit_done(self, seconds: float) -> None:
        self.done += 1
        self.unit_time += seconds
        if self.total:
            left = (self.unit_time / self.done) * (self.total - self.done)
            self(f"{self.done}/{self.total} trained models done; ETA {_clock(left)}")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class BenchResult:
    """`per_query`: one row per (seed, variant, question) with every metric; `summary`: variant →
    metric → statistics (see `summarize`); `settings`: everything that produced it."""

    per_query: pl.DataFrame
    summary: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    supervision: list[dict[str, Any]] = field(default_factory=list)


def _load_encoder(model: str | os.PathLike[str] | None, max_length: int, precision: str) -> Any:
    from lrat.encoder import Encoder

    return Encoder.load(model, max_document_length=max_length, precision=precision)


def _build_retriever(
    corpus: pl.DataFrame,
    encoder: Any,
    progress: bool,
    cache: Path | None = None,
    keep_vectors: dict[str, np.ndarray] | None = None,
) -> Any:
    from lrat.server.search import CorpusSearch

    ids = corpus["doc_id"].to_list()
    vectors = None
    if cache is not None and cache.is_file():
        vectors = np.load(cache)
        if vectors.shape[0] != len(ids):
            vectors = None
    if vectors is None:
        vectors = encoder.encode(corpus["text"].to_list(), kind="document", batch_size=64, show_progress_bar=progress)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, vectors)
    if keep_vectors is not None:
        keep_vectors.update(zip(ids, vectors))
    # Every seed replays the same questions: keep all their query vectors.
    return CorpusSearch.build(encoder, corpus, exact=True, vectors=vectors, query_cache=200_000)


def _embedding_cache_key(
    model: str | os.PathLike[str] | None, corpus: pl.DataFrame, max_length: int, precision: str
) -> str:
    from lrat.models import default_model_path

    folder = Path(model) if model is not None else Path(default_model_path())
    h = hashlib.sha256(str(folder.resolve()).encode())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
    h.update(f"{max_length}:{precision}".encode())
    for doc_id, text in corpus.select("doc_id", "text").iter_rows():
        h.update(doc_id.encode())
        h.update(b"\0")
        h.update(text.encode())
        h.update(b"\1")
    return h.hexdigest()[:20]


def _frozen_queries(
    record_of: Mapping[str, Mapping[str, Any]], by_id: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The queries the base agent issued on each question (other than the question itself), as they
    were and joined with the reasoning before each (for the variants searched with contextual queries)."""
    frozen = {qid: agent_queries(record_of[qid], by_id[qid]["question"]) for qid in by_id}
    in_context = {}
    for qid, texts in frozen.items():
        contexts = search_contexts(record_of[qid])
        in_context[qid] = [contextual_query(t, contexts.get(t, "")) for t in texts]
    return frozen, in_context


def _recipe(variant: str) -> dict[str, Any] | str:
    """How a variant mines, with the mining defaults of this code filled in (an oracle's name stands
    for its recipe)."""
    if variant not in MINED_VARIANTS:
        return variant
    return {**dataclasses.asdict(MiningConfig()), **MINED_VARIANTS[variant]}


def _stamp_work(
    work: Path,
    collection: Collection,
    config: BenchConfig,
    model: str | os.PathLike[str] | None,
    question_ids: list[str],
    resume: bool,
) -> None:
    """Writes what this run is (settings, model, collection) into `work/run.json`; refuses to resume a
    folder that another run's settings, model or collection left. A resumed run may name other variants
    (each variant's training set and model depend on nothing else, so finished ones are read back and
    new ones trained) and, when each question is played once, more seeds: seed s plays, mines and trains
    alike whatever the number of seeds (extra plays take their seeds from that number)."""
    now = json.loads(
        json.dumps(
            {
                "config": dataclasses.asdict(config),
                "model": str(model),
                "collection": collection.name,
                "documents": collection.corpus.height,
                "questions": question_ids,
            },
            default=str,
        )
    )
    recipes = json.loads(json.dumps({name: _recipe(name) for name in config.variants}, default=str))
    stamp = work / "run.json"
    if resume and stamp.is_file():
        earlier = json.loads(stamp.read_text())
        earlier_recipes = earlier.pop("recipes", {})
        recipes = {**earlier_recipes, **recipes}
        differ = sorted(
            [
                f"config.{k}"
                for k in now["config"]
                if k != "variants" and earlier.get("config", {}).get(k) != now["config"][k]
            ]
            + [k for k in now if k != "config" and earlier.get(k) != now[k]]
            # A variant whose recipe changed since (a default of the code, say) would be read back stale.
            + [f"the recipe of {n}" for n, r in earlier_recipes.items() if n in config.variants and r != recipes[n]]
        )
        if differ == ["config.seeds"] and config.plays == 1 and earlier["config"]["seeds"] < config.seeds:
            differ = []
        if differ:
            raise ValueError(
                f"{work.parent} holds a run of other settings, model or collection ({', '.join(differ)}); "
                "cannot resume it"
            )
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({**now, "recipes": recipes}, sort_keys=True))


def _train_variant(
    name: str,
    df: pl.DataFrame,
    output_dir: Path,
    *,
    model: str | os.PathLike[str] | None,
    config: BenchConfig,
    precision: str,
    seed: int,
    progress: bool,
) -> Any:
    """Trains variant `name` on its training set with the budget every variant shares."""
    from lrat.training import train

    b = config.training
    return train(
        df,
        output_dir=output_dir,
        model=model,
        max_steps=b.steps,
        false_negative_margin=None,  # mined sets were filtered when mined, with the cached base vectors
        **{k: v for k, v in MINED_VARIANTS.get(name, {}).items() if k in TRAINING_KEYS},
        epochs=max(1, math.ceil(b.steps * b.batch_size / df.height) + 1),
        batch_size=min(b.batch_size, df.height),
        group_size=b.group_size,
        learning_rate=b.learning_rate,
        temperature=b.temperature,
        max_query_length=b.max_query_length,
        max_document_length=b.max_document_length,
        seed=seed,
        show_progress=progress,
        save_steps=0,
        merge_base=b.merge_base,
        distill_base=b.distill_base,
        precision=precision,
    )


def _heldout_metrics(
    retriever: Any,
    held: list[dict[str, Any]],
    frozen: Mapping[str, list[str]],
    evidence: Mapping[str, Sequence[str]],
    config: BenchConfig,
    play: Callable[[], list[dict[str, Any]]],
    runs_path: Path,
) -> list[dict[str, Any]]:
    """One row per held-out question: the question as the query, the frozen agent queries, and the
    agent's runs with this retriever (`play`, kept at `runs_path`) under each budget. In that order:
    the retriever caches query vectors, and the order of encoding is part of what makes a run
    reproducible."""
    q_metrics = retrieval_metrics(retriever, held, config.ks)
    aq = agent_query_metrics(retriever, frozen, evidence, config.ks)
    played = play()
    write_runs(played, runs_path)
    return [
        {
            "query_id": record["query_id"],
            **q_metrics[record["query_id"]],
            **aq[record["query_id"]],
            **agent_metrics(record, evidence[record["query_id"]], config.budgets),
        }
        for record in played
    ]


def run(
    collection: Collection,
    config: BenchConfig = DEFAULT,
    *,
    model: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    extra_settings: Mapping[str, Any] | None = None,
    print_table: bool = True,
    resume: bool = False,
) -> BenchResult:
    """Runs the protocol on a collection and returns per-question values, the summary and the
    settings; with `out`, writes `results.json`, `per_query.parquet`, `settings.json`, `table.txt`,
    the delta plots and (under `work/`) the base trajectories, each fold's training sets and each
    trained variant's runs on the held-out questions.
    `cache_dir` keeps the base model's corpus embeddings between runs. With `resume`, a run into an
    `out` folder that an interrupted run of the same settings left reuses its base trajectories and
    every (seed, fold, variant) it finished evaluating."""
    config.check()
    from lrat.encoder import choose_device
    from lrat.precision import resolve

    precision = resolve(config.training.precision, choose_device())
    wall = time.perf_counter()
    corpus, questions = collection.corpus, collection.questions
    rows = questions.select("query_id", "question", "answer", "evidence").to_dicts()
    for r in rows:
        r["answer"] = r["answer"] or ""
    if len(rows) < config.folds:
        raise ValueError(f"{len(rows)} questions with evidence cannot fill {config.folds} folds")
    by_id = {r["query_id"]: r for r in rows}
    evidence = {r["query_id"]: r["evidence"] for r in rows}
    fold_of = assign_folds(list(by_id), config.folds, config.fold_seed)
    trained = list(dict.fromkeys(config.variants))
    log = Progress(progress, total_units=config.seeds * config.folds * len(trained))
    scratch = tempfile.TemporaryDirectory(prefix="lrat-bench-")
    out_dir = Path(out) if out is not None else None
    work = out_dir / "work" if out_dir is not None else Path(scratch.name)
    models = Path(scratch.name) / "models"
    get_document = document_lookup(corpus)
    max_budget = max(config.budgets)
    heldout_agent = dataclasses.replace(config.agent, max_steps=min(config.agent.max_steps, max_budget))

    if resume and out_dir is None:
        raise ValueError("resume needs an output folder (out) to resume from")
    _stamp_work(work, collection, config, model, sorted(by_id), resume)
    log(
        f"{collection.name}: {corpus.height} documents, {len(rows)} questions in {config.folds} folds, "
        f"{config.seeds} seed(s), variants base + {', '.join(trained)}"
    )
    cache = None
    if cache_dir is not None:
        key = _embedding_cache_key(model, corpus, config.encode_max_length, precision)
        cache = Path(cache_dir) / f"base-{key}.npy"
    log("encode the corpus with the base model" + (" (cached)" if cache is not None and cache.is_file() else ""))
    base_vectors: dict[str, np.ndarray] = {}
    base = _build_retriever(
        corpus, _load_encoder(model, config.encode_max_length, precision), progress, cache, base_vectors
    )
    base_question = retrieval_metrics(base, rows, config.ks)

    per_query: list[dict[str, Any]] = []
    supervision: list[dict[str, Any]] = []
    untrained: list[dict[str, Any]] = []
    dev_reports: list[dict[str, Any]] = []
    base_evidence_recall: list[float] = []

    def base_play(path: Path, play_seed: int, what: str) -> list[dict[str, Any]]:
        """The base agent's runs of every question on `play_seed`, read back from `path` when resuming."""
        if resume and path.is_file():
            log(f"{what}: the base trajectories of the earlier run (resumed)")
            return [json.loads(line) for line in path.open(encoding="utf-8")]
        log(f"{what}: the agent plays all {len(rows)} questions with the base retriever")
        played = simulate(rows, base, get_document, config.agent, seed=play_seed, progress=progress)
        write_runs(played, path)
        return played

    for seed in range(config.seeds):
        records = base_play(work / f"seed{seed}" / "base_runs.jsonl", seed, f"seed {seed}")
        record_of = {r["query_id"]: r for r in records}
        more_plays: dict[str, list[dict[str, Any]]] = {qid: [] for qid in by_id}
        for p in range(1, config.plays):
            where = f"seed {seed}, play {p + 1} of {config.plays}"
            for r in base_play(work / f"seed{seed}" / f"base_runs_play{p}.jsonl", seed + config.seeds * p, where):
                more_plays[r["query_id"]].append(r)
        frozen, frozen_in_context = _frozen_queries(record_of, by_id)
        base_aq = agent_query_metrics(base, frozen, evidence, config.ks)
        for qid in by_id:
            a = agent_metrics(record_of[qid], evidence[qid], config.budgets)
            base_evidence_recall.append(a[f"evidence_recall@{min(config.budgets)}"])
            per_query.append(
                {
                    "seed": seed,
                    "fold": fold_of[qid],
                    "variant": "base",
                    "query_id": qid,
                    **base_question[qid],
                    **base_aq[qid],
                    **a,
                }
            )
        for fold in range(config.folds):
            held = [r for r in rows if fold_of[r["query_id"]] == fold]
            train_rows = [r for r in rows if fold_of[r["query_id"]] != fold]
            fold_work = work / f"seed{seed}" / f"fold{fold}"
            fold_work.mkdir(parents=True, exist_ok=True)
            sets, reports = fold_training_sets(
                trained,
                corpus,
                train_rows,
                [rec for r in train_rows for rec in (record_of[r["query_id"]], *more_plays[r["query_id"]])],
                base,
                config,
                fold_work,
                base_vectors,
            )
            held_ids = {r["query_id"] for r in held}
            for name, df in sets.items():
                leaked = set(df["query_id"].unique().to_list()) & held_ids
                if leaked:
                    raise RuntimeError(f"{name}: training examples come from held-out questions {sorted(leaked)[:3]}")
                df.write_parquet(fold_work / f"train_{name}.parquet")
                quality = supervision_quality(df, evidence)
                mining = {"mining": reports[name]} if name in reports else {}
                supervision.append({"seed": seed, "fold": fold, "variant": name, **quality, **mining})
            for name in trained:
                started = time.perf_counter()
                df = sets.get(name)
                done_file = fold_work / f"eval_{name}.parquet"
                if resume and done_file.is_file():
                    per_query.extend(pl.read_parquet(done_file).to_dicts())
                    log.total -= 1
                    log(f"seed {seed}, fold {fold + 1}/{config.folds}, {name}: evaluated by the earlier run (resumed)")
                    continue
                where = f"seed {seed}, fold {fold + 1}/{config.folds}, {name}"
                if df is None:
                    log(f"{where}: the base model, evaluate {len(held)} held-out questions")
                    retriever = base
                elif df.height == 0:
                    log(f"{where}: no training example; this fold keeps the base model for {name}")
                    untrained.append({"seed": seed, "fold": fold, "variant": name})
                    retriever = base
                else:
                    log(f"{where}: train {config.training.steps} steps on {df.height} examples")
                    result = _train_variant(
                        name,
                        df,
                        models / name,
                        model=model,
                        config=config,
                        precision=precision,
                        seed=seed,
                        progress=progress,
                    )
                    if result.dev is not None:
                        log(f"{where}: {result.dev.summary()}")
                        dev_reports.append({"seed": seed, "fold": fold, "variant": name, **result.dev.to_dict()})
                    log(f"{where}: encode the corpus, evaluate {len(held)} held-out questions")
                    retriever = _build_retriever(
                        corpus, _load_encoder(result.output_dir, config.encode_max_length, precision), progress
                    )
                contextual = name in CONTEXTUAL_VARIANTS
                frozen_queries = frozen_in_context if contextual else frozen
                metrics = _heldout_metrics(
                    retriever,
                    held,
                    {q: frozen_queries[q] for q in held_ids},
                    evidence,
                    config,
                    play=functools.partial(
                        simulate, held, retriever, get_document, heldout_agent, seed=seed, contextual=contextual
                    ),
                    runs_path=fold_work / f"heldout_runs_{name}.jsonl",
                )
                rows_done = [{"seed": seed, "fold": fold, "variant": name, **m} for m in metrics]
                per_query.extend(rows_done)
                pl.DataFrame(rows_done).write_parquet(done_file)
                log.unit_done(time.perf_counter() - started)

    frame = pl.DataFrame(per_query).sort("seed", "variant", "query_id")
    names = [m for m, _ in metric_names(config)]
    summary = summarize(frame, ["base", *trained], names, resamples=config.resamples, seed=config.bootstrap_seed)
    elapsed = time.perf_counter() - wall
    settings = _settings(
        collection, config, model, fold_of, elapsed, {"precision": precision, **(extra_settings or {})}
    )
    settings["untrained"] = untrained
    settings["dev_selection"] = dev_reports
    smallest = float(np.mean(base_evidence_recall))
    settings["saturation_check"] = {
        "metric": f"evidence_recall@{min(config.budgets)}",
        "base": smallest,
        "target": list(SATURATION_TARGET),
        "within_target": SATURATION_TARGET[0] <= smallest <= SATURATION_TARGET[1],
    }
    result = BenchResult(frame, summary, settings, supervision)
    table = format_table(result, config)
    if print_table:
        print(table)
    if out_dir is not None:
        write_outputs(result, config, out_dir, table)
        log(f"wrote {out_dir}/results.json, per_query.parquet, settings.json, table.txt and deltas.png")
    scratch.cleanup()
    return result


def summarize(
    frame: pl.DataFrame, variants: Sequence[str], metrics: Sequence[str], *, resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """variant → metric → {mean, sd (across seeds), per_seed}; for variants other than base also
    `delta` (paired bootstrap interval of the per-question delta, seeds averaged first, with the number
    of questions behind it), `delta_per_seed` and, where an oracle ran, `fraction_of_<oracle>` (the
    delta as a share of that oracle's delta)."""
    seeds = sorted(frame["seed"].unique().to_list())
    qids = sorted(frame["query_id"].unique().to_list())
    position = {q: i for i, q in enumerate(qids)}

    def matrix(variant: str, metric: str) -> np.ndarray:
        """seeds × questions (NaN where missing)."""
        m = np.full((len(seeds), len(qids)), np.nan)
        part = frame.filter(pl.col("variant") == variant).select("seed", "query_id", metric)
        for s, q, v in part.iter_rows():
            m[seeds.index(s), position[q]] = np.nan if v is None else v
        return m

    values = {(v, m): matrix(v, m) for v in variants for m in metrics}
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        out[v] = {}
        for m in metrics:
            x = values[(v, m)]
            with np.errstate(all="ignore"):
                per_seed = [float(np.nanmean(row)) if np.any(~np.isnan(row)) else math.nan for row in x]
            entry: dict[str, Any] = {
                "mean": float(np.nanmean(per_seed)) if any(not math.isnan(p) for p in per_seed) else math.nan,
                "sd": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0,
                "per_seed": per_seed,
            }
            if v != "base":
                d = _seed_mean(x - values[("base", m)])
                entry["delta"] = paired_bootstrap(d, resamples=resamples, seed=seed).to_dict()
                entry["delta_per_seed"] = [p - b for p, b in zip(per_seed, out["base"][m]["per_seed"])]
                for oracle in ORACLES:
                    if oracle in variants and oracle != v:
                        od = _seed_mean(values[(oracle, m)] - values[("base", m)])
                        sign = -1.0 if m in LOWER_IS_BETTER else 1.0
                        entry[f"fraction_of_{oracle}"] = bootstrap_ratio(
                            sign * d, sign * od, resamples=resamples, seed=seed
                        ).to_dict()
            out[v][m] = entry
    return out


def _seed_mean(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(x), axis=0)
        sums = np.nansum(x, axis=0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _settings(
    collection: Collection,
    config: BenchConfig,
    model: Any,
    fold_of: Mapping[str, int],
    elapsed: float,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    import importlib.metadata as md

    versions = {}
    for pkg in ("lrat", "torch", "transformers", "polars", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    sizes = [sum(1 for f in fold_of.values() if f == i) for i in range(config.folds)]
    return {
        "collection": {
            "name": collection.name,
            "documents": collection.corpus.height,
            "questions": collection.questions.height,
            "unknown_documents": collection.unknown_documents,
            "unknown_queries": collection.unknown_queries,
            "queries_without_evidence": collection.queries_without_evidence,
        },
        "model": str(model) if model is not None else "all-MiniLM-L6-v2 (bundled)",
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "fold_sizes": sizes,
        "seeds": list(range(config.seeds)),
        "simulator": "lrat.harness.simulate (seeded per question; held-out runs cut at the largest budget)",
        "versions": versions,
        "elapsed_s": round(elapsed, 1),
        **(dict(extra) if extra else {}),
    }


# ---------------------------------------------------------------------------------------------
# Reporting

LABELS = {
    "question": "question as the query",
    "agent_queries": "agents' own queries (frozen, from base runs)",
    "agent": "agent re-run on held-out questions",
}


def format_delta(delta: Mapping[str, Any]) -> str:
    """A paired bootstrap interval as the table prints it: `+mean [low, high]`, `ns` when it holds 0,
    `—` when no question counts."""
    if delta["n"] == 0 or math.isnan(delta["mean"]):
        return "—"
    text = f"{delta['mean']:+.3f} [{delta['low']:+.3f}, {delta['high']:+.3f}]"
    return text + ("" if delta["significant"] else " ns")


def _fn_filter_setting(margin: float | None) -> str:
    return (
        "keeps every other negative"
        if margin is None
        else f"drops negatives the base scores above {margin} of the positive"
    )


def _negatives_setting(config: BenchConfig) -> str:
    """How mining treats negatives, with the variants whose recipe sets it otherwise than the run."""
    line = (
        f"mining excludes accepted documents from negatives: {config.exclude_accepted}, "
        f"{_fn_filter_setting(config.false_negative_margin)}"
    )
    exceptions = []
    for name in (v for v in config.variants if v in MINED_VARIANTS):
        exclude, margin = _negatives_of(name, config)
        if margin != config.false_negative_margin:
            exceptions.append(f"{name} {_fn_filter_setting(margin)}")
        if exclude != config.exclude_accepted:
            exceptions.append(f"{name} lets accepted documents be negatives")
    return line + (f" (except: {'; '.join(exceptions)})" if exceptions else "")


def format_table(result: BenchResult, config: BenchConfig) -> str:
    """Base's mean (± sd across seeds) and each variant's delta against base with its paired 95%
    interval (`ns`: the interval contains 0), grouped by level; then the gains as fractions of the
    oracles'."""
    s = result.summary
    variants = [v for v in s if v != "base"]
    width = 32
    header = f"{'metric':<26}{'base':>14}" + "".join(f"{v:>{width}}" for v in variants)
    lines = [header, "-" * len(header)]
    level_of = dict(metric_names(config))
    current = None
    for metric, level in metric_names(config):
        if level != current:
            lines.append(f"{LABELS[level]}:")
            current = level
        b = s["base"][metric]
        base_text = f"{b['mean']:.3f}" + (f"±{b['sd']:.3f}" if config.seeds > 1 else "")
        line = f"  {metric:<24}{base_text:>14}"
        for v in variants:
            line += f"{format_delta(s[v][metric]['delta']):>{width}}"
        lines.append(line)
    oracles = [o for o in ORACLES if o in s]
    for v in (x for x in variants if x not in ORACLES):
        for o in oracles:
            lines.append("")
            lines.append(f"{v}'s gain as a fraction of {o}'s (95% interval; — when the oracle gains nothing):")
            cells = []
            for metric in (
                "recall@10",
                "aq_recall@10",
                f"evidence_browsed@{config.budgets[len(config.budgets) // 2]}",
                f"success@{config.budgets[len(config.budgets) // 2]}",
            ):
                if metric not in level_of:
                    continue
                f = s[v][metric].get(f"fraction_of_{o}")
                if f is None or math.isnan(f["mean"]):
                    cells.append(f"{metric} —")
                else:
                    cells.append(f"{metric} {f['mean']:.0%} [{f['low']:.0%}, {f['high']:.0%}]")
            lines.append("  " + "; ".join(cells))
    st = result.settings
    lines.append("")
    lines.append(
        f"{st['collection']['name']}: {st['collection']['documents']} documents, {st['collection']['questions']} "
        f"questions, {config.folds} folds (sizes {st['fold_sizes']}), {config.seeds} seed(s); deltas are means over "
        f"questions (seeds averaged per question) with paired bootstrap 95% intervals ({config.resamples} resamples); "
        f"base shows mean±sd across seeds"
    )
    a, t = config.agent, config.training
    changed = {f.name: getattr(a, f.name) for f in dataclasses.fields(a) if getattr(a, f.name) != f.default}
    lines.append(
        "simulator: lrat.harness.simulate AgentConfig, calibrated defaults"
        + (f" except {', '.join(f'{k}={v}' for k, v in changed.items())}" if changed else "")
        + f" (max_steps {a.max_steps} for the base runs that training is mined from; held-out runs cut at "
        f"{max(config.budgets)} calls)"
        + (f"; {config.plays} base plays of each training question" if config.plays > 1 else "")
    )
    lines.append(
        f"training (every trained variant): {t.steps} steps × batch {t.batch_size}, group {t.group_size}, "
        f"lr {t.learning_rate}, τ {t.temperature}, max lengths {t.max_query_length}/{t.max_document_length}, "
        f"merge_base {t.merge_base}, distill_base {t.distill_base}, precision {st.get('precision', t.precision)}; "
        f"{_negatives_setting(config)}; model {st['model']}; "
        f"wall {st['elapsed_s']:.0f} s"
    )
    sat = st.get("saturation_check")
    if sat:
        lines.append(
            f"saturation check: base {sat['metric']} = {sat['base']:.3f} "
            f"({'within' if sat['within_target'] else 'outside'} the target {sat['target'][0]}–{sat['target'][1]})"
        )
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_outputs(result: BenchResult, config: BenchConfig, out: Path, table: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    levels = dict(metric_names(config))
    results = {
        "variants": list(result.summary),
        "metrics": {m: {"level": levels[m], "lower_is_better": m in LOWER_IS_BETTER} for m in levels},
        "results": _json_safe(result.summary),
        "supervision": _json_safe(result.supervision),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "settings.json").write_text(json.dumps(_json_safe(result.settings), indent=2) + "\n")
    result.per_query.write_parquet(out / "per_query.parquet")
    (out / "table.txt").write_text(table + "\n")
    try:
        write_plot(result, config, out / "deltas.png")
    except ImportError:
        pass  # matplotlib is the `plots` extra


def write_plot(result: BenchResult, config: BenchConfig, path: Path) -> Path:
    """One panel per metric: each variant's delta against base with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m, _ in metric_names(config)]
    variants = [v for v in result.summary if v != "base"]
    cols = 4
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4 * cols, 1.2 + 0.45 * len(variants) * rows + 0.8 * rows), squeeze=False
    )
    for ax, metric in zip(axes.flat, metrics):
        for i, v in enumerate(variants):
            d = result.summary[v][metric]["delta"]
            if d["n"] == 0 or math.isnan(d["mean"]):
                continue
            color = (
                "tab:green"
                if d["significant"] and (d["mean"] > 0) != (metric in LOWER_IS_BETTER)
                else ("tab:red" if d["significant"] else "tab:gray")
            )
            ax.errorbar(
                [d["mean"]],
                [i],
                xerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]],
                fmt="o",
                color=color,
                capsize=3,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(variants)), variants, fontsize=7)
        ax.set_ylim(-0.6, len(variants) - 0.4)
        ax.set_title(f"{metric} (base {result.summary['base'][metric]['mean']:.3f})", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(
        "Delta against base with paired bootstrap 95% intervals (green: better, red: worse, grey: ns)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
