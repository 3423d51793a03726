"""Descriptive statistics of a set of trajectories: the paper's Table 1, tool-call transitions, the
ranks agents browse at, and how long they reason after a browse.

Definitions (all computed from the canonical tables, `lrat.read_trajectories`):

- searches: search steps. A search call with a list of queries whose output splits into one result
  block per query is one search step per query (as the tables store it); otherwise one per call.
- browses: browse steps (one per document opened).
- steps: searches + browses ("steps = search + browse calls", as the paper counts them); reasoning, answers and
  calls of other tools are not counted.
- browse/search ratio: total browses / total searches of the group (None without searches).
- transitions: between consecutive tool calls of the same trajectory, each a search (S) or a browse
  (B), with reasoning and other steps in between ignored. P(X→Y) = n(X→Y) / n(X→·).
- browsed rank: the 1-based rank of the browsed document in the most recent earlier search result
  list of the same trajectory that contains it (its first place in that list). Browses of documents in
  no earlier list are counted as `not_in_results`, browses without a readable document id as
  `no_doc_id`.
- reading: how much of the logs the reader understood. Searches with results: search steps with at
  least one result. Browses matched: browses of a document shown in an earlier result list of the
  same trajectory (as for browsed ranks); browses of a page read: browses whose tool answered with
  text. Outcomes known: trajectories whose log states an outcome (not "unknown"). Records skipped: the
  records the reader could not read (each with its reason in `Trajectories.errors`).
- post-browse reasoning length: tokens of the reasoning step right after a browse, counted with the
  default model's tokenizer (or whitespace words); browses followed by anything other than a
  reasoning step are counted as `without_reasoning` and left out of the distribution.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl

from lrat.mining import token_counter
from lrat.trajectories import Trajectories

TOOL_KINDS = {"search": "S", "browse": "B"}
TRANSITIONS = ("S->S", "S->B", "B->S", "B->B")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
HISTOGRAM_BINS = 30


def _table1_row(t: pl.DataFrame) -> dict:
    n = t.height
    searches = int(t["searches"].sum() or 0)
    browses = int(t["browses"].sum() or 0)
    return {
        "trajectories": n,
        "searches": searches,
        "browses": browses,
        "avg_searches": searches / n if n else None,
        "avg_browses": browses / n if n else None,
        "browse_search_ratio": browses / searches if searches else None,
        "avg_steps": (searches + browses) / n if n else None,
    }


def _table1(trajectories: pl.DataFrame, steps: pl.DataFrame) -> dict:
    counts = (
        steps.filter(pl.col("kind").is_in(list(TOOL_KINDS)))
        .group_by("trajectory_id")
        .agg(
            (pl.col("kind") == "search").sum().alias("searches"),
            (pl.col("kind") == "browse").sum().alias("browses"),
        )
    )
    t = (
        trajectories.select("trajectory_id", "outcome")
        .join(counts, on="trajectory_id", how="left")
        .with_columns(pl.col("searches").fill_null(0), pl.col("browses").fill_null(0))
    )
    rows = {"all": _table1_row(t)}
    for outcome in sorted(t["outcome"].unique().to_list()):
        rows[outcome] = _table1_row(t.filter(pl.col("outcome") == outcome))
    return rows


def _transitions(steps: pl.DataFrame) -> dict:
    calls = (
        steps.filter(pl.col("kind").is_in(list(TOOL_KINDS)))
        .sort("trajectory_id", "step")
        .with_columns(pl.col("kind").replace_strict(TOOL_KINDS).alias("state"))
        .with_columns(
            pl.col("state").shift(-1).over("trajectory_id").alias("next"),
        )
        .filter(pl.col("next").is_not_null())
    )
    counts = {name: 0 for name in TRANSITIONS}
    for a, b, n in calls.group_by("state", "next").len().iter_rows():
        counts[f"{a}->{b}"] = int(n)
    probabilities = {}
    for name in TRANSITIONS:
        origin = name[0]
        total = counts[f"{origin}->S"] + counts[f"{origin}->B"]
        probabilities[name] = counts[name] / total if total else None
    return {"counts": counts, "probabilities": probabilities}


def _shown_ranks(search_results: pl.DataFrame, browses: pl.DataFrame) -> pl.DataFrame:
    """Per browse found in an earlier result list (`_browse`: its row in `browses`), its rank there."""
    b = browses.select("trajectory_id", "step", "doc_key").with_row_index("_browse")
    b = b.filter(pl.col("doc_key").is_not_null())
    return (
        b.join(
            search_results.select("trajectory_id", pl.col("step").alias("search_step"), "rank", "doc_key"),
            on=["trajectory_id", "doc_key"],
            how="inner",
        )
        .filter(pl.col("search_step") < pl.col("step"))
        .sort("_browse", "search_step", "rank", descending=[False, True, False])
        .unique("_browse", keep="first")
    )


def _browsed_ranks(search_results: pl.DataFrame, browses: pl.DataFrame) -> dict:
    no_doc_id = browses.filter(pl.col("doc_key").is_null()).height
    hits = _shown_ranks(search_results, browses)
    histogram = hits.group_by("rank").len().sort("rank")
    found = hits.height
    counts = {int(r): int(n) for r, n in histogram.iter_rows()}
    return {
        "browses": browses.height,
        "found": found,
        "not_in_results": browses.height - no_doc_id - found,
        "no_doc_id": no_doc_id,
        "counts": counts,
        "fractions": {r: n / found for r, n in counts.items()} if found else {},
        "mean": float(hits["rank"].mean()) if found else None,
    }


def _share(part: int, whole: int) -> dict:
    return {"count": part, "of": whole, "fraction": part / whole if whole else None}


def _reading(trajectories: Trajectories) -> dict:
    searches = trajectories.steps.filter(pl.col("kind") == "search").select("trajectory_id", "step")
    with_results = searches.join(
        trajectories.search_results.select("trajectory_id", "step").unique(), on=["trajectory_id", "step"]
    ).height
    browses = trajectories.browses.with_row_index("_browse")
    shown = _shown_ranks(trajectories.search_results, trajectories.browses)["_browse"].to_list()
    matched = browses["_browse"].is_in(shown)
    page = browses["ok"] & (browses["content_length"].fill_null(0) > 0)
    t = trajectories.trajectories
    return {
        "records_skipped": trajectories.n_errors,
        "searches_with_results": _share(with_results, searches.height),
        "browses_matched": _share(int(matched.sum()), browses.height),
        "browses_matched_or_page": _share(int((matched | page).sum()), browses.height),
        "outcomes_known": _share(t.filter(pl.col("outcome") != "unknown").height, t.height),
    }


def _distribution(values: np.ndarray) -> dict:
    if values.size == 0:
        return {
            "count": 0,
            "mean": None,
            "min": None,
            "max": None,
            "quantiles": {},
            "histogram": {"edges": [], "counts": []},
        }
    counts, edges = np.histogram(values, bins=min(HISTOGRAM_BINS, max(1, int(values.max()) + 1)))
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "min": int(values.min()),
        "max": int(values.max()),
        "quantiles": {str(q): float(np.quantile(values, q)) for q in QUANTILES},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _reasoning_lengths(steps: pl.DataFrame, counter) -> dict:
    after = steps.select("trajectory_id", (pl.col("step") - 1).alias("step"), pl.col("kind").alias("next_kind"), "text")
    b = (
        steps.filter(pl.col("kind") == "browse")
        .select("trajectory_id", "step")
        .join(after, on=["trajectory_id", "step"], how="left")
    )
    texts = b.filter(pl.col("next_kind") == "reason")["text"].to_list()
    lengths = np.asarray(counter.count_many(texts) if texts else [], dtype=np.int64)
    out = _distribution(lengths)
    out["without_reasoning"] = b.height - len(texts)
    return out


def compute(trajectories: Trajectories, *, tokenizer: str | os.PathLike[str] | None = None) -> dict:
    """The figures of the module docstring, as a JSON-ready dict with keys `table1` (per outcome and
    "all"), `transitions`, `browsed_ranks`, `reading`, `reasoning_tokens` and `tokenizer`.

    tokenizer: None (the default model's), "whitespace", or a tokenizer.json / model directory.
    """
    ids = trajectories.trajectories["trajectory_id"]
    if ids.n_unique() != ids.len():
        dup = ids.filter(ids.is_duplicated()).unique().head(3).to_list()
        raise ValueError(
            f"trajectory ids are not unique across the inputs (e.g. {dup}); statistics would mix trajectories"
        )
    counter = token_counter(tokenizer)
    return {
        "table1": _table1(trajectories.trajectories, trajectories.steps),
        "transitions": _transitions(trajectories.steps),
        "browsed_ranks": _browsed_ranks(trajectories.search_results, trajectories.browses),
        "reading": _reading(trajectories),
        "reasoning_tokens": _reasoning_lengths(trajectories.steps, counter),
        "tokenizer": "whitespace" if counter.is_whitespace else str(tokenizer or "default (all-MiniLM-L6-v2)"),
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def format_stats(stats: dict) -> str:
    """A plain-text report of `compute`'s figures."""
    lines = [f"{'outcome':<10} {'traj':>6} {'avg search':>10} {'avg browse':>10} {'B/S':>6} {'avg steps':>9}"]
    for outcome, r in stats["table1"].items():
        lines.append(
            f"{outcome:<10} {r['trajectories']:>6} {_fmt(r['avg_searches']):>10} {_fmt(r['avg_browses']):>10} "
            f"{_fmt(r['browse_search_ratio']):>6} {_fmt(r['avg_steps']):>9}"
        )
    t = stats["transitions"]
    lines.append(
        "transitions: "
        + ", ".join(
            f"P({k.replace('->', '→')}) = {_fmt(t['probabilities'][k])} (n={t['counts'][k]})" for k in TRANSITIONS
        )
    )
    r = stats["browsed_ranks"]
    ranks = ", ".join(f"{k}: {v}" for k, v in r["counts"].items())
    lines.append(
        f"browsed ranks ({r['found']} of {r['browses']} browses found in an earlier result list; "
        f"{r['not_in_results']} not in results, {r['no_doc_id']} without doc id): {ranks or '-'}; mean {_fmt(r['mean'])}"
    )
    g = stats["reading"]

    def share(key: str) -> str:
        v = g[key]
        pct = f" ({v['fraction']:.1%})" if v["fraction"] is not None else ""
        return f"{v['count']}/{v['of']}{pct}"

    lines.append(
        f"reading: {g['records_skipped']} records skipped; searches with results {share('searches_with_results')}; "
        f"browses matched to a shown result {share('browses_matched')}, to a shown result or a page read "
        f"{share('browses_matched_or_page')}; outcomes known {share('outcomes_known')}"
    )
    s = stats["reasoning_tokens"]
    q = s["quantiles"]
    lines.append(
        f"post-browse reasoning ({stats['tokenizer']} tokens): {s['count']} texts, mean {_fmt(s['mean'])}, "
        f"median {_fmt(q.get('0.5'))}, p90 {_fmt(q.get('0.9'))}, min {_fmt(s['min'])}, max {_fmt(s['max'])}; "
        f"{s['without_reasoning']} browses without reasoning after them"
    )
    return "\n".join(lines)


def write_json(stats: dict, path: str | os.PathLike[str]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(stats, indent=2, ensure_ascii=False))


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use; a clear ImportError without it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'lrat[plots]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(stats: dict, directory: str | os.PathLike[str]) -> list[Path]:
    """Writes table1.png, transitions.png, browsed_ranks.png and reasoning_tokens.png into
    `directory`; returns their paths. Needs matplotlib (the `plots` extra)."""
    plt = pyplot()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)

    table = stats["table1"]
    outcomes = list(table)
    measures = [("avg_searches", "searches"), ("avg_browses", "browses"), ("avg_steps", "steps")]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(measures)
    for i, (key, label) in enumerate(measures):
        xs = [j + i * width for j in range(len(outcomes))]
        ax.bar(xs, [table[o][key] or 0 for o in outcomes], width, label=label)
    ax.set_xticks([j + width * (len(measures) - 1) / 2 for j in range(len(outcomes))])
    ax.set_xticklabels([f"{o}\n(n={table[o]['trajectories']})" for o in outcomes])
    ax.set_ylabel("calls per trajectory")
    ax.set_title("Tool calls per trajectory by outcome")
    ax.legend()
    save(fig, "table1.png")

    p = stats["transitions"]["probabilities"]
    matrix = np.array([[p["S->S"] or 0, p["S->B"] or 0], [p["B->S"] or 0, p["B->B"] or 0]])
    fig, ax = plt.subplots(figsize=(3.8, 3.2))
    ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.5 else "black")
    ax.set_xticks([0, 1], ["search", "browse"])
    ax.set_yticks([0, 1], ["search", "browse"])
    ax.set_xlabel("next call")
    ax.set_ylabel("call")
    ax.set_title("Transition probabilities")
    save(fig, "transitions.png")

    r = stats["browsed_ranks"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar([int(k) for k in r["fractions"]], list(r["fractions"].values()))
    ax.set_xlabel("rank of the browsed document")
    ax.set_ylabel("fraction of browses")
    ax.set_title(f"Browsed ranks ({r['found']} browses; {r['not_in_results']} not in results)")
    save(fig, "browsed_ranks.png")

    s = stats["reasoning_tokens"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    edges, counts = s["histogram"]["edges"], s["histogram"]["counts"]
    if counts:
        ax.stairs(counts, edges, fill=True)
    ax.set_xlabel(f"post-browse reasoning length ({stats['tokenizer']} tokens)")
    ax.set_ylabel("browses")
    ax.set_title(f"Post-browse reasoning lengths ({s['count']} texts)")
    save(fig, "reasoning_tokens.png")
    return paths
