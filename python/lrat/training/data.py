"""Training examples: read the mined set, order it into steps, sample each example's group of documents.

Input is what `lrat mine` writes: Parquet (or a polars DataFrame) with `query`, `pos`, `neg`, `weight`
(and optional `pos_id`, `neg_id`, `neg_tier`), or FlagEmbedding JSONL with `query`, `pos: [str]`, `neg: [str]`,
`pos_id`, `neg_id`, `reweight_rate`. Everything needed later is decided by (seed, epoch, example index),
so a resumed run sees exactly the batches and negatives an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl


@dataclasses.dataclass
class TrainingSet:
    """Examples in columns. Keys identify documents (by id when the set has ids, else by text) and
    queries (by text) for the false-negative guard."""

    queries: list[str]
    positives: list[str]
    negatives: list[list[str]]
    weights: np.ndarray  # float64 (n,)
    query_keys: np.ndarray  # int64 (n,)
    positive_keys: np.ndarray  # int64 (n,)
    negative_keys: list[np.ndarray]  # int64 per example
    negative_tiers: list[np.ndarray] | None = None
    """uint8 per example, aligned with `negatives`: why the agent passed each one over
    (`lrat.mining.NEGATIVE_TIERS`); None when the set does not say."""

    def __len__(self) -> int:
        return len(self.queries)


TIER_NAMES = ("rejected", "skipped_above", "seen_below")


@dataclasses.dataclass(frozen=True)
class NegativeWeights:
    """How much each kind of negative counts in the softmax's denominator (its logit gains log w):
    documents the agent opened and rejected, results it skipped above one it opened, results seen below
    every one it opened, and the other examples' documents (in-batch). ITER's tiers: 3 / 1 / 0.3."""

    rejected: float = 3.0
    skipped_above: float = 1.0
    seen_below: float = 0.3
    in_batch: float = 0.3

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"negative weight `{name}` must be a positive number, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> NegativeWeights:
        """ "iter" (3,1,0.3,0.3) or four numbers: rejected,skipped_above,seen_below,in_batch."""
        if text.strip().lower() == "iter":
            return cls()
        parts = [p for p in text.replace(" ", "").split(",") if p]
        if len(parts) != 4:
            raise ValueError(
                f"negative weights: expected 'iter' or 4 numbers "
                f"(rejected,skipped_above,seen_below,in_batch), got {text!r}"
            )
        try:
            return cls(*(float(p) for p in parts))
        except ValueError as exc:
            raise ValueError(f"negative weights {text!r}: {exc}") from None

    def of_tiers(self, tiers: np.ndarray) -> np.ndarray:
        table = np.array([self.rejected, self.skipped_above, self.seen_below], dtype=np.float32)
        return table[tiers]


def stable_key(kind: str, value: str) -> int:
    """A 64-bit key that is the same in every process and every run (unlike `hash`)."""
    digest = hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def load_training_set(source: str | os.PathLike[str] | pl.DataFrame, *, name: str | None = None) -> TrainingSet:
    """Read a training set (Parquet, FlagEmbedding JSONL, or a polars DataFrame) and check it; errors
    name `name` (default: the file, or "the DataFrame")."""
    if isinstance(source, pl.DataFrame):
        return _from_frame(source, name or "the DataFrame")
    return _from_frame(read_training_frame(source), str(Path(source)))


def read_training_frame(path: str | os.PathLike[str]) -> pl.DataFrame:
    """The rows of a training-set file (Parquet, or FlagEmbedding JSONL with one row per positive)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training set {path} does not exist")
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        return _read_flagembedding(path)
    raise ValueError(f"{path}: unknown training-set format; expected .parquet or FlagEmbedding .jsonl")


def _read_flagembedding(path: Path) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_number}: invalid JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_number}: expected a JSON object")
            where = f"{path}:{line_number}"
            positives = _string_list(record.get("pos"), "pos", where)
            pos_ids = _string_list(record.get("pos_id", []), "pos_id", where)
            if not positives:
                raise ValueError(f"{where}: `pos` is empty")
            if pos_ids and len(pos_ids) != len(positives):
                raise ValueError(f"{where}: `pos_id` has {len(pos_ids)} ids for {len(positives)} positives")
            weight = record.get("reweight_rate", record.get("weight", 1.0))
            if weight is None:
                weight = 1.0
            if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                raise ValueError(f"{where}: `reweight_rate` must be a number, got {weight!r}")
            query = record.get("query")
            # A record with several positives is several examples sharing the query and negatives.
            for k, positive in enumerate(positives):
                rows.append(
                    {
                        "query": query,
                        "pos": positive,
                        "pos_id": pos_ids[k] if pos_ids else None,
                        "neg": _string_list(record.get("neg", []), "neg", where),
                        "neg_id": _string_list(record.get("neg_id", []), "neg_id", where) or None,
                        "neg_tier": _tier_list(record.get("neg_tier"), where),
                        "weight": float(weight),
                        "_line": line_number,
                    }
                )
    schema = {
        "query": pl.String,
        "pos": pl.String,
        "pos_id": pl.String,
        "neg": pl.List(pl.String),
        "neg_id": pl.List(pl.String),
        "neg_tier": pl.List(pl.UInt8),
        "weight": pl.Float64,
        "_line": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _string_list(value: Any, field: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: `{field}` must be a list of strings")
    return value


def _tier_list(value: Any, where: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and 0 <= v < len(TIER_NAMES) for v in value):
        raise ValueError(f"{where}: `neg_tier` must be a list of tiers 0–{len(TIER_NAMES) - 1}")
    return value


def _from_frame(frame: pl.DataFrame, name: str) -> TrainingSet:
    for column in ("query", "pos"):
        if column not in frame.columns:
            raise ValueError(f"{name}: missing column `{column}` (columns: {', '.join(frame.columns)})")
    n = frame.height
    if n == 0:
        raise ValueError(f"{name}: the training set has no rows")
    lines = frame["_line"].to_list() if "_line" in frame.columns else None

    def where(i: int) -> str:
        return f"{name}: line {lines[i]}" if lines is not None else f"{name}: row {i}"

    queries = frame["query"].to_list()
    positives = frame["pos"].to_list()
    negatives = frame["neg"].to_list() if "neg" in frame.columns else [[] for _ in range(n)]
    if "weight" in frame.columns:
        weight_column = frame["weight"]
        if weight_column.null_count():
            raise ValueError(f"{where(int(weight_column.is_null().arg_max()))}: `weight` is null")
        weights = weight_column.cast(pl.Float64).to_numpy().copy()
    else:
        weights = np.ones(n, dtype=np.float64)
    pos_ids = frame["pos_id"].to_list() if "pos_id" in frame.columns else [None] * n
    neg_ids = frame["neg_id"].to_list() if "neg_id" in frame.columns else [None] * n
    has_tiers = "neg_tier" in frame.columns and frame["neg_tier"].null_count() < n
    tiers = frame["neg_tier"].to_list() if has_tiers else None

    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        raise ValueError(f"{where(int(bad[0]))}: weight {weights[bad[0]]} is not a finite non-negative number")
    if weights.sum() <= 0:
        raise ValueError(f"{name}: every weight is 0, nothing to learn from")

    query_keys = np.empty(n, dtype=np.int64)
    positive_keys = np.empty(n, dtype=np.int64)
    negative_keys: list[np.ndarray] = []
    negative_tiers: list[np.ndarray] = []
    clean_negatives: list[list[str]] = []
    for i in range(n):
        query, positive = queries[i], positives[i]
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"{where(i)}: the query is empty")
        if not isinstance(positive, str) or not positive.strip():
            raise ValueError(f"{where(i)}: the positive document text (`pos`) is empty")
        negs = negatives[i] or []
        if any(not isinstance(t, str) for t in negs):
            raise ValueError(f"{where(i)}: `neg` holds a null text")
        ids = neg_ids[i]
        if ids is not None and len(ids) not in (0, len(negs)):
            raise ValueError(f"{where(i)}: `neg_id` has {len(ids)} ids for {len(negs)} negatives")
        query_keys[i] = stable_key("query", query)
        positive_keys[i] = _document_key(pos_ids[i], positive)
        negative_keys.append(
            np.array(
                [_document_key(ids[k] if ids else None, t) for k, t in enumerate(negs)],
                dtype=np.int64,
            )
        )
        clean_negatives.append(list(negs))
        if tiers is not None:
            row_tiers = tiers[i]
            if row_tiers is None or len(row_tiers) != len(negs):
                raise ValueError(
                    f"{where(i)}: `neg_tier` has {0 if row_tiers is None else len(row_tiers)} "
                    f"tiers for {len(negs)} negatives"
                )
            if any(t is None or not 0 <= t < len(TIER_NAMES) for t in row_tiers):
                raise ValueError(f"{where(i)}: `neg_tier` holds a value outside 0–{len(TIER_NAMES) - 1}")
            negative_tiers.append(np.asarray(row_tiers, dtype=np.uint8))
    return TrainingSet(
        queries,
        positives,
        clean_negatives,
        weights,
        query_keys,
        positive_keys,
        negative_keys,
        negative_tiers if tiers is not None else None,
    )


def _document_key(doc_id: str | None, text: str) -> int:
    return stable_key("id", doc_id) if doc_id else stable_key("text", text)


def sample_negatives(count: int, available: int, rng: random.Random) -> list[int]:
    """Indices of `count` negatives out of `available`: without repetition when there are enough, else
    each repeated as evenly as the shortfall needs (FlagEmbedding's rule); none when none exist."""
    if available == 0 or count == 0:
        return []
    if available >= count:
        return rng.sample(range(available), count)
    pool = list(range(available)) * math.ceil(count / available)
    return rng.sample(pool, count)


def example_rng(seed: int, epoch: int, index: int) -> random.Random:
    return random.Random(f"{seed}:{epoch}:{index}")


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """Which examples each optimizer step uses: `steps[s][m][r]` are the example indices of micro-batch
    m on process r."""

    steps: list[list[list[np.ndarray]]]
    dropped: int  # examples left out at the end of the epoch (fewer than one per micro-batch and process)


def plan_epoch(
    n: int,
    *,
    epoch: int,
    seed: int,
    batch_size: int,
    accumulation: int,
    world_size: int,
    shuffle: bool = True,
) -> StepPlan:
    """Order an epoch into steps of `accumulation` micro-batches of `batch_size` examples per process.

    Micro-batch m of a step, gathered over processes, is a contiguous slice of the epoch's order, so a
    run on W processes with batch size b sees the same global micro-batches as one process with W·b.
    The last step may be smaller and is split evenly; when it has fewer examples than micro-batches
    times processes it is dropped.
    """
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    per_step = batch_size * accumulation * world_size
    steps: list[list[list[np.ndarray]]] = []
    dropped = 0
    for start in range(0, n, per_step):
        chunk = order[start : start + per_step]
        if len(chunk) < accumulation * world_size:
            dropped = len(chunk)
            break
        micros = np.array_split(chunk, accumulation)
        steps.append([np.array_split(micro, world_size) for micro in micros])
    return StepPlan(steps, dropped)


@dataclasses.dataclass
class Group:
    """One micro-batch on one process: texts to encode and what the loss needs."""

    queries: list[str]
    documents: list[str]
    targets: np.ndarray  # int64 (B,) column of each query's positive
    weights: np.ndarray  # float32 (B,)
    query_keys: np.ndarray  # int64 (B,)
    positive_keys: np.ndarray  # int64 (B,)
    document_keys: np.ndarray  # int64 (D,)
    document_owners: np.ndarray  # int64 (D,) the example (row) that brought each document
    document_weights: np.ndarray  # float32 (D,) for its owner: 1 for the positive, the tier weight of a negative


def collate(
    data: TrainingSet,
    indices: Sequence[int] | np.ndarray,
    *,
    group_size: int,
    seed: int,
    epoch: int,
    negative_weights: NegativeWeights | None = None,
) -> Group:
    """Each example contributes its query and its group: the positive then `group_size − 1` sampled
    trajectory negatives (or only the positive when it has none). With `negative_weights` and a set
    that has tiers, each negative carries its tier's weight (else 1)."""
    queries: list[str] = []
    documents: list[str] = []
    targets: list[int] = []
    document_keys: list[np.ndarray] = []
    owners: list[int] = []
    document_weights: list[np.ndarray] = []
    tiered = negative_weights is not None and data.negative_tiers is not None
    for row, index in enumerate(indices):
        i = int(index)
        queries.append(data.queries[i])
        targets.append(len(documents))
        documents.append(data.positives[i])
        picked = sample_negatives(group_size - 1, len(data.negatives[i]), example_rng(seed, epoch, i))
        documents.extend(data.negatives[i][k] for k in picked)
        document_keys.append(np.array([data.positive_keys[i]], dtype=np.int64))
        document_keys.append(data.negative_keys[i][picked] if picked else np.empty(0, dtype=np.int64))
        owners.extend([row] * (1 + len(picked)))
        document_weights.append(np.ones(1, dtype=np.float32))
        if tiered and picked:
            document_weights.append(negative_weights.of_tiers(data.negative_tiers[i][picked]))  # type: ignore[index,union-attr]
        else:
            document_weights.append(np.ones(len(picked), dtype=np.float32))
    idx = np.asarray(indices, dtype=np.int64)
    return Group(
        queries=queries,
        documents=documents,
        targets=np.asarray(targets, dtype=np.int64),
        weights=data.weights[idx].astype(np.float32),
        query_keys=data.query_keys[idx],
        positive_keys=data.positive_keys[idx],
        document_keys=np.concatenate(document_keys),
        document_owners=np.asarray(owners, dtype=np.int64),
        document_weights=np.concatenate(document_weights),
    )
