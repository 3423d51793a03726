"""Model selection on a dev split of the mined examples, and the guard that keeps the base model.

Mined logs carry no relevance labels, so the dev split is made of mined examples too: whole
trajectories (or questions) held out of training. Its score is the loss the model trains on, computed
in full: each dev example's positive against all of its trajectory negatives and the positives of the
other dev examples (those of the same query masked), at the training temperature. Lower is better.
The run keeps the evaluated step with the lowest weighted mean loss; when even that one is worse than
the base model beyond a paired bootstrap interval over dev examples, the base model is kept.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from lrat.bootstrap import Interval, paired_bootstrap

if TYPE_CHECKING:
    from lrat.encoder import Encoder
    from lrat.training.data import TrainingSet

GROUP_COLUMNS = ("trajectory_id", "query_id", "query")
"""What keeps examples together on one side of the split, the first column the set has."""


def split_dev(frame: pl.DataFrame, fraction: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(train, dev, the column grouped by): about `fraction` of the groups go to dev, chosen by `seed`;
    at least one group on each side."""
    if not 0 < fraction < 1:
        raise ValueError(f"dev_fraction must be within (0, 1), got {fraction}")
    column = next(c for c in GROUP_COLUMNS if c in frame.columns)
    groups = frame[column].cast(pl.String).fill_null("").unique().sort().to_list()
    if len(groups) < 2:
        raise ValueError(
            f"a dev split needs examples of at least 2 distinct `{column}` values; the set has {len(groups)}"
        )
    count = min(max(1, round(fraction * len(groups))), len(groups) - 1)
    order = np.random.default_rng([seed, 7]).permutation(len(groups))
    dev_groups = {groups[i] for i in order[:count]}
    is_dev = frame[column].cast(pl.String).fill_null("").is_in(list(dev_groups))
    return frame.filter(~is_dev), frame.filter(is_dev), column


def dev_losses(encoder: Encoder, dev: TrainingSet, *, temperature: float, batch_size: int = 64) -> np.ndarray:
    """Per dev example: −log softmax(s/τ)[positive] over its positive, all of its trajectory negatives
    and the other dev examples' positives (minus those that are positives of the same query)."""
    queries = list(dict.fromkeys(dev.queries))
    q_row = {q: i for i, q in enumerate(queries)}
    documents: dict[int, str] = {}
    for i in range(len(dev)):
        documents.setdefault(int(dev.positive_keys[i]), dev.positives[i])
        for key, text in zip(dev.negative_keys[i].tolist(), dev.negatives[i]):
            documents.setdefault(int(key), text)
    d_row = {key: j for j, key in enumerate(documents)}
    qv = encoder.encode(queries, kind="query", batch_size=batch_size, show_progress_bar=False)
    dv = encoder.encode(list(documents.values()), kind="document", batch_size=batch_size, show_progress_bar=False)
    scores = qv @ dv.T / temperature
    positives_of: dict[str, set[int]] = {}
    for i in range(len(dev)):
        positives_of.setdefault(dev.queries[i], set()).add(int(dev.positive_keys[i]))
    all_positive_rows = {d_row[k] for k in map(int, dev.positive_keys)}
    out = np.empty(len(dev), dtype=np.float64)
    for i in range(len(dev)):
        own = d_row[int(dev.positive_keys[i])]
        same_query = {d_row[k] for k in positives_of[dev.queries[i]]}
        columns = (({d_row[int(k)] for k in dev.negative_keys[i]} | all_positive_rows) - same_query) | {own}
        row = scores[q_row[dev.queries[i]], sorted(columns)].astype(np.float64)
        top = row.max()
        out[i] = top + math.log(np.exp(row - top).sum()) - float(scores[q_row[dev.queries[i]], own])
    return out


@dataclasses.dataclass
class DevReport:
    """What the dev split decided."""

    examples: int
    grouped_by: str
    base_loss: float
    evaluations: list[dict[str, float]] = dataclasses.field(default_factory=list)
    best_step: int | None = None
    best_loss: float | None = None
    versus_base: Interval | None = None
    """The selected model's per-example dev loss minus the base model's (mean and 95% interval)."""
    kept_base: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["versus_base"] = self.versus_base.to_dict() if self.versus_base is not None else None
        return out

    def summary(self) -> str:
        if self.best_step is None:
            return f"dev split: {self.examples} examples, no evaluation"
        delta = self.versus_base
        said = (
            f"dev split ({self.examples} examples by {self.grouped_by}): base loss {self.base_loss:.4f}, "
            f"best {self.best_loss:.4f} at step {self.best_step}"
        )
        if delta is not None:
            said += f", change {delta.mean:+.4f} [{delta.low:+.4f}, {delta.high:+.4f}]"
        if self.kept_base:
            said += "; worse than the base model beyond its interval, so the base model is kept"
        return said


def weighted_mean(losses: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    return float((losses * weights).sum() / total) if total > 0 else float(losses.mean())


def compare_with_base(selected: np.ndarray, base: np.ndarray, seed: int) -> Interval:
    return paired_bootstrap(selected - base, seed=seed)
