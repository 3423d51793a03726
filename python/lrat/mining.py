"""Mining training examples from trajectories (docs/method.md §2) and assembling their texts.

The Rust core walks each trajectory (segment or per-search rule), asks the judge about each browse,
and yields examples with document ids; this module adds texts (from a corpus or from the
trajectories), filters by outcome and verdict, and weights the examples by relevance intensity.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from lrat import _core
from lrat.contextual import contextual_query_expr
from lrat.corpus import read_corpus
from lrat.judges import Judge, resolve_judge
from lrat.options import check_choices, option, replaced
from lrat.trajectories import PathsLike, ReadOptions, open_reader
from lrat.weighting import intensity_beta, intensity_weights

TRAINING_COLUMNS = ["query", "pos", "neg", "pos_id", "neg_id", "weight"]

# Mining consumes each batch at once, so smaller batches than reading's 16 MiB keep fewer fresh
# pages in use (the mining bench's 128 MB: peak RSS 134–144 MB against 209–213 MB, same speed).
MINING_BATCH_BYTES = 4 << 20


def default_tokenizer_path() -> Path:
    """The tokenizer of the default model (all-MiniLM-L6-v2), bundled with lrat."""
    return Path(str(resources.files("lrat") / "data" / "minilm_tokenizer.json"))


@functools.cache
def _default_token_counter() -> _core.TokenCounter:
    # The bundled file never changes; reading its vocabulary takes a few milliseconds.
    return _core.TokenCounter(default_tokenizer_path())


def token_counter(tokenizer: str | os.PathLike[str] | None = None) -> _core.TokenCounter:
    """None: the default model's tokenizer; "whitespace": whitespace words; else a tokenizer.json
    or a model directory holding one."""
    if tokenizer is None:
        return _default_token_counter()
    if isinstance(tokenizer, str) and tokenizer == "whitespace":
        return _core.TokenCounter(None)
    return _core.TokenCounter(Path(tokenizer))


@dataclass
class MiningReport:
    """What mining saw and kept. Counts of browses and examples are over all trajectories read."""

    rule: str
    judge: str
    records: int = 0
    trajectories: int = 0
    skipped_records: int = 0
    warnings: int = 0
    browses: int = 0
    examples: int = 0
    """Every example mined: accepted + rejected + chained + credited + from_question."""
    accepted: int = 0
    """The judge's verdicts on the examples mined from browses, one per browse (the chained and credited
    examples, all of accepted pages, are counted apart)."""
    rejected: int = 0
    not_in_results: int = 0
    unreadable: int = 0
    failed: int = 0
    chained: int = 0
    """Query-chain examples among `examples` (with `chain_queries`)."""
    credited: int = 0
    """Examples among `examples` crediting an accepted page to an earlier search (with `credit_earlier`)."""
    from_question: int = 0
    """Examples among `examples` pairing a trajectory's question with a page it accepted (with
    `question_examples`)."""
    failed_judge_calls: int = 0
    dropped_by_outcome: int = 0
    examples_by_outcome: dict[str, int] = field(default_factory=dict)
    """Examples found in trajectories of each outcome (completed, failed, unknown), before the filter."""
    dropped_rejected: int = 0
    dropped_missing_positive_text: int = 0
    missing_negative_texts: int = 0
    kept: int = 0
    beta: float | None = None
    positive_text_sources: dict[str, int] = field(default_factory=dict)
    negative_text_sources: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def take_reading_totals(self, totals: dict[str, int]) -> None:
        """Takes the reader's totals: records, trajectories, skipped records, warnings."""
        self.records, self.trajectories = totals["records"], totals["trajectories"]
        self.skipped_records, self.warnings = totals["errors"], totals["warnings"]

    def summary(self) -> str:
        return (
            f"{self.trajectories} trajectories ({self.skipped_records} records skipped), {self.browses} browses → "
            f"{self.examples} examples ({self.accepted} accepted, {self.rejected} rejected by the {self.judge} judge; "
            f"{self.not_in_results} browses of documents in no result list of their "
            f"{'segment' if self.rule == 'segment' else 'search'}, {self.unreadable} unreadable, "
            f"{self.failed} failed"
            + (f"; {self.chained} of the examples from query chains" if self.chained else "")
            + (f"; {self.credited} credited to earlier searches" if self.credited else "")
            + (f"; {self.from_question} pairing the question with an accepted page" if self.from_question else "")
            + f"); kept {self.kept} "
            f"(dropped: {self.dropped_by_outcome} by outcome of {self.examples_by_outcome}, "
            f"{self.dropped_rejected} rejected, "
            f"{self.dropped_missing_positive_text} without positive text; {self.missing_negative_texts} negatives "
            f"without text left out); positive texts from {self.positive_text_sources}, negatives from "
            f"{self.negative_text_sources}" + (f"; beta = {self.beta:g}" if self.beta is not None else "")
        )


def _with_title(docs: pl.DataFrame) -> pl.DataFrame:
    """The text a retriever sees: the title on its own line first, unless the text starts with it."""
    title = pl.col("title")
    return docs.with_columns(
        pl.when(title.is_not_null() & (title != "") & ~pl.col("text").str.starts_with(title.fill_null("")))
        .then(pl.concat_str([title, pl.lit("\n"), pl.col("text")]))
        .otherwise(pl.col("text"))
        .alias("text")
    )


def _verdicts(batch: _core.TrajectoryBatch, judge: Judge) -> list[list[bool]]:
    per_trajectory = _core.browse_reasonings(batch)
    flat = [r for rs in per_trajectory for r in rs]
    answers = list(judge(flat)) if flat else []
    if len(answers) != len(flat):
        raise ValueError(f"the judge returned {len(answers)} verdicts for {len(flat)} reasoning texts")
    out, i = [], 0
    for rs in per_trajectory:
        out.append([bool(a) for a in answers[i : i + len(rs)]])
        i += len(rs)
    return out


def _clip(value: str) -> tuple[float | None, float | None]:
    low, _, high = value.partition(",")
    return (float(low) if low.strip() else None, float(high) if high.strip() else None)


_MINING = "mining"
_INTENSITY = "relevance intensity"


@dataclass(frozen=True)
class MiningConfig:
    """How examples are mined and weighted (the judge and the corpus are arguments of `mine`, the
    reading options `ReadOptions`). `lrat mine` derives its flags from these fields."""

    rule: str = option(
        "segment",
        "--rule",
        "how examples are cut: segment (docs/method.md §2) or per_search",
        group=_MINING,
        choices=("segment", "per_search"),
    )
    keep_rejected: bool = option(
        False, "--keep-rejected", "keep examples the judge rejected (accepted = false)", group=_MINING
    )
    exclude_accepted: bool = option(
        True,
        "--keep-accepted-negatives",
        "let a document the agent accepted elsewhere in the trajectory be a negative",
        group=_MINING,
        negates=True,
    )
    """A document the agent browsed and accepted anywhere in a trajectory is never a negative of that
    trajectory's examples (an agent that accepted a page and moves on leaves it in later result lists,
    where the segment rule would count it as rejected)."""
    chain_queries: bool = option(
        False,
        "--chain-queries",
        "also pair each page the agent accepted with the earlier searches of its query chain",
        group=_MINING,
    )
    """Query chains (Radlinski and Joachims, KDD 2005): the searches since the agent's last accepted
    browse that it left without accepting anything are reformulations of the one that found the next
    accepted page; each gets that page as its positive too, with its own list's results as negatives
    (`chained` marks these examples; `rank` is 0 when the search's list did not hold the page)."""
    credit_earlier: bool = option(
        True,
        "--no-credit-earlier",
        "do not pair each page the agent accepted with the earlier searches whose results listed it",
        group=_MINING,
        negates=True,
    )
    """Credit for pages seen before they were read: a page the agent accepted is also the positive of
    every earlier search of its trajectory whose result list held it (passed over there, or left for
    lack of budget), with that list's results as negatives (`credited` marks these examples)."""
    question_examples: bool = option(
        False,
        "--question-examples",
        "also pair the trajectory's question with each page the agent accepted",
        group=_MINING,
    )
    """Task-level examples: the question a trajectory set out to answer (where its log states one) is
    also the query of each page the agent accepted, with that page's browse example's negatives, weight
    and verdict (`from_question` marks these examples). The question asks for every hop's evidence at
    once, which the agent's own queries, one hop each, do not."""
    contextual_queries: bool = option(
        False,
        "--contextual-queries",
        "join each query with the reasoning written right before its search (ITER's contextual queries)",
        group=_MINING,
    )
    outcomes: str | Sequence[str] = option(
        ("completed", "unknown"),
        "--all-outcomes",
        "keep examples of failed trajectories too",
        group=_MINING,
        switch_value="all",
    )
    """Trajectory outcomes to keep, or "all". By default failures are left out and logs that state no
    outcome (unknown) are kept: many log shapes never say whether the agent succeeded."""
    weighting: str = option(
        "intensity",
        "--weighting",
        "intensity (from the post-browse reasoning's length) or none",
        group=_INTENSITY,
        choices=("intensity", "none"),
    )
    beta: float | None = option(
        None, "--beta", "half-saturation length in tokens (default: the median)", group=_INTENSITY
    )
    normalize: bool = option(True, "--no-normalize", "do not rescale weights to mean 1", group=_INTENSITY, negates=True)
    clip: tuple[float | None, float | None] | None = option(
        None,
        "--clip",
        "bounds for the weights, LOW,HIGH (either may be empty)",
        group=_INTENSITY,
        metavar="LOW,HIGH",
        parse=_clip,
    )
    tokenizer: str | None = option(
        None,
        "--tokenizer",
        "tokenizer.json or model directory for token counts, or 'whitespace' (default: the bundled model's)",
        group=_INTENSITY,
    )

    def __post_init__(self) -> None:
        check_choices(self)

    def replace(self, **settings: Any) -> MiningConfig:
        """This config with `settings` changed; an unknown name is a TypeError."""
        return replaced(self, **settings)


_MINING_FIELDS = frozenset(f.name for f in fields(MiningConfig))


def mine_with_report(
    logs: PathsLike,
    *,
    corpus: str | os.PathLike[str] | pl.DataFrame | None = None,
    judge: str | Judge | None = "rules",
    config: MiningConfig | None = None,
    read_options: ReadOptions | None = None,
    progress: bool = False,
    **settings: Any,
) -> tuple[pl.DataFrame, MiningReport]:
    """`mine` that also returns a `MiningReport`."""
    c, options = mining_settings(config, read_options, settings)
    judge = resolve_judge(judge)
    report = new_report(c, judge)
    # The reader starts reading at once; the tokenizer loads meanwhile.
    reader = open_reader(logs, options=options)
    documents = _core.DocumentStore() if corpus is None else None
    bar = tqdm(unit="B", unit_scale=True, desc="mine", disable=not progress)
    examples = mine_batches(reader, judge=judge, config=c, documents=documents, report=report, on_batch=bar.update)
    bar.close()
    report.take_reading_totals(reader.totals())
    report.failed_judge_calls = int(getattr(judge, "failed", 0))
    found = pl.DataFrame(documents.table()) if documents is not None and len(documents) else None
    return finish_mining(examples, corpus=corpus, found_documents=found, judge=judge, config=c, report=report)


def mining_settings(
    config: MiningConfig | None, read_options: ReadOptions | None, settings: dict[str, Any]
) -> tuple[MiningConfig, ReadOptions]:
    """The mining config and reading options of `mine`'s arguments: keywords named after a
    `MiningConfig` field go to the config, the others to the reading options."""
    mining = {k: v for k, v in settings.items() if k in _MINING_FIELDS}
    reading = {k: v for k, v in settings.items() if k not in _MINING_FIELDS}
    c = (config or MiningConfig()).replace(**mining)
    options = (read_options or ReadOptions(batch_bytes=MINING_BATCH_BYTES)).replace(**reading)
    return c, options


def new_report(config: MiningConfig, judge: str | Judge) -> MiningReport:
    judge_name = judge if isinstance(judge, str) else getattr(judge, "__name__", type(judge).__name__)
    return MiningReport(rule=config.rule, judge=judge_name)


def mine_batches(
    reader: _core.TrajectoryReader,
    *,
    judge: str | Judge,
    config: MiningConfig,
    documents: _core.DocumentStore | None,
    report: MiningReport,
    on_batch: Callable[[int], Any] | None = None,
) -> pl.DataFrame:
    """The examples (with document ids) of every batch of `reader`, in order; the mining counts go
    into `report`, the batches' document texts into `documents` when given. `on_batch` gets each
    batch's bytes."""
    counter = token_counter(config.tokenizer)
    examples = []
    for batch in reader:
        verdicts = judge if isinstance(judge, str) else _verdicts(batch, judge)
        out = _core.mine_batch(
            batch,
            counter,
            rule=config.rule,
            chain_queries=config.chain_queries,
            credit_earlier=config.credit_earlier,
            judge=verdicts,
            documents=documents,
        )
        ex = pl.DataFrame(out["examples"]).with_columns(pl.lit(False).alias("from_question"))
        for key, value in out["stats"].items():
            setattr(report, key, getattr(report, key) + value)
        if config.question_examples:
            asked = question_examples(ex, pl.DataFrame(batch.tables()["trajectories"]))
            report.from_question += asked.height
            report.examples += asked.height
            ex = pl.concat([ex, asked])
        examples.append(ex)
        if on_batch is not None:
            on_batch(batch.bytes)
    return pl.concat(examples) if examples else pl.DataFrame(empty_examples())


def finish_mining(
    ex: pl.DataFrame,
    *,
    corpus: str | os.PathLike[str] | pl.DataFrame | None,
    found_documents: pl.DataFrame | None,
    judge: str | Judge,
    config: MiningConfig,
    report: MiningReport,
) -> tuple[pl.DataFrame, MiningReport]:
    """Mined examples (with document ids, in reading order) → the training table: the outcome and
    judge filters, accepted documents out of the negatives, texts from `corpus` (else from
    `found_documents`, the `DocumentStore` table of the trajectories), contextual queries, weights."""
    c = config
    report.examples_by_outcome = dict(sorted(Counter(ex["outcome"].to_list()).items()))
    if c.outcomes != "all":
        wanted = [c.outcomes] if isinstance(c.outcomes, str) else list(c.outcomes)
        before = ex.height
        ex = ex.filter(pl.col("outcome").is_in(wanted))
        report.dropped_by_outcome = before - ex.height
        if before and not ex.height:
            warnings.warn(
                f"the outcome filter (keeping {', '.join(wanted)}) removed all {before} examples, whose "
                f"trajectories' outcomes are {report.examples_by_outcome}; pass outcomes='all' "
                "(lrat mine --all-outcomes) to keep them",
                stacklevel=3,
            )
    if c.exclude_accepted:
        ex = exclude_accepted_negatives(ex)
    if judge != "none" and not c.keep_rejected:
        before = ex.height
        ex = ex.filter(pl.col("accepted"))
        report.dropped_rejected = before - ex.height

    docs = _document_table(corpus, found_documents)
    ex = _attach_texts(ex, docs, report)
    if c.contextual_queries:
        ex = ex.with_columns(contextual_query_expr("query", "context"))

    if c.weighting == "intensity":
        lengths = ex["reasoning_tokens"]
        report.beta = c.beta if c.beta is not None else intensity_beta(lengths)
        ex = ex.with_columns(intensity_weights(lengths, beta=report.beta, normalize=c.normalize, clip=c.clip))
    else:
        ex = ex.with_columns(pl.lit(1.0).alias("weight"))
    report.kept = ex.height
    rest = [c for c in ex.columns if c not in TRAINING_COLUMNS]
    return ex.select(TRAINING_COLUMNS + rest), report


def mine(logs: PathsLike, **options) -> pl.DataFrame:
    """Mines training examples from agent logs.

    Returns one row per kept example: `query, pos, neg, pos_id, neg_id, weight`, then
    `pos_source` (corpus | browse | snippet), `neg_source`, `trajectory_id, query_id, outcome,
    step, search_step, rank, neg_tier, context, reasoning, reasoning_tokens, accepted, chained, credited,
    from_question`. `neg_tier`
    says, for each negative, why it is one: 0 opened and rejected, 1 skipped above a result the agent
    opened in the same list, 2 seen below every opened one; `context` is the reasoning step right
    before the search that set the query ("" when there is none).

    corpus: JSONL / Parquet path or DataFrame with document texts; without one, texts come from
        the trajectories (browse outputs, else snippets). Documents without text are left out and
        counted, never filled.
    judge: "rules" (built-in offline judge), "none" (naive: every browse is positive), or a callable
        from a list of reasoning texts to booleans (e.g. `lrat.judges.ChatJudge`).
    config, and keywords named after its fields: a `MiningConfig`:
    rule: "segment" (default; docs/method.md §2) or "per_search" (the paper's simple rule).
    weighting: "intensity" (relevance intensity from reasoning length) or "none" (w = 1).
    beta, normalize, clip: the intensity's half-saturation length (median when None), whether to
        normalise to mean 1, and optional (low, high) bounds.
    tokenizer: None (the default model's), "whitespace", or a tokenizer.json / model directory.
    outcomes: trajectory outcomes to keep, ("completed", "unknown") by default (failures left out), or
        "all"; a warning says so when the filter removes every example.
    keep_rejected: keep examples the judge rejected (with accepted = False).
    exclude_accepted: a document the agent browsed and accepted anywhere in a trajectory (before or
        after the search) is never a negative of that trajectory's examples (on by default: an agent
        that accepted a page and moves on leaves it in later result lists, where the segment rule would
        count it as rejected).
    chain_queries: query chains add examples (off by default): each page the agent accepted is also
        the positive of every earlier search it left without accepting anything since its last
        accepted page (those rows have `chained` true, and `rank` 0 where that search's list did not
        hold the page; docs/method.md §2).
    credit_earlier: each page the agent accepted is also the positive of every earlier search of its
        trajectory whose result list held it (on by default; those rows have `credited` true).
    question_examples: the question of each trajectory that states one is also the query of every page
        the agent accepted (off by default; those rows have `from_question` true).
    contextual_queries: the query of each example is its search query joined with the reasoning
        written right before that search (`lrat.contextual`; the `context` column keeps the reasoning).
    read_options, and any other keyword: how the logs are read (`lrat.ReadOptions`: format, strict,
        search_tools, browse_tools, unknown_tools, batch_size, batch_bytes (4 MiB here: batches never
        change the examples, only memory and speed), max_record_bytes). See `mine_with_report` for
        the counts.
    """
    return mine_with_report(logs, **options)[0]


def question_examples(ex: pl.DataFrame, trajectories: pl.DataFrame) -> pl.DataFrame:
    """One example per page accepted in a browse example of `ex` whose trajectory states its question
    (`trajectories`: `trajectory_id, question`): the question as the query, the rest of the first
    browse example of that page; none where a search already paired the question with the page."""
    questions = trajectories.select("trajectory_id", "question").filter(
        pl.col("question").is_not_null() & (pl.col("question").str.strip_chars() != "")
    )
    browsed = ex.filter(pl.col("accepted") & ~pl.col("chained") & ~pl.col("credited"))
    asked = (
        browsed.join(questions, on="trajectory_id", how="inner", maintain_order="left")
        .unique(["trajectory_id", "pos_id"], keep="first", maintain_order=True)
        .join(
            ex.select("trajectory_id", pl.col("query").alias("question"), "pos_id"),
            on=["trajectory_id", "question", "pos_id"],
            how="anti",
            maintain_order="left",
        )
    )
    return asked.with_columns(
        pl.col("question").alias("query"), pl.lit("").alias("context"), pl.lit(True).alias("from_question")
    ).select(ex.columns)


def exclude_accepted_negatives(ex: pl.DataFrame) -> pl.DataFrame:
    """Removes from every example's `neg_id` (and `neg_tier`, kept aligned) the documents whose browse
    was accepted (an example with `accepted` true) anywhere in the same trajectory; the order of the
    other negatives is kept."""
    if ex.height == 0:
        return ex
    accepted = ex.filter(pl.col("accepted")).select("trajectory_id", pl.col("pos_id").alias("_doc")).unique()
    if accepted.height == 0:
        return ex
    numbered = ex.with_row_index("_row")
    kept = numbered.select("_row", "trajectory_id", pl.col("neg_id").alias("_doc")).explode("_doc")
    kept = kept.join(accepted, on=["trajectory_id", "_doc"], how="anti", maintain_order="left")
    out = (
        numbered.drop("neg_id")
        .join(
            kept.group_by("_row", maintain_order=True).agg(pl.col("_doc").drop_nulls().alias("neg_id")),
            on="_row",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("neg_id").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    )
    if "neg_tier" in ex.columns:
        out = out.with_columns(align_negative_tiers(numbered["neg_id"], numbered["neg_tier"], out["neg_id"]))
    return out.select(ex.columns)


def align_negative_tiers(neg_id: pl.Series, neg_tier: pl.Series, kept_neg_id: pl.Series) -> pl.Series:
    """The `neg_tier` lists of `kept_neg_id`, a row-by-row subset of `neg_id` (negatives are unique
    within an example, so a document's tier is found by its id)."""
    if len(neg_id) != len(kept_neg_id):
        raise ValueError(f"{len(neg_id)} rows of negatives before, {len(kept_neg_id)} after")
    before = pl.DataFrame({"neg_id": neg_id, "neg_tier": neg_tier}).with_row_index("_row")
    before = before.explode("neg_id", "neg_tier").drop_nulls("neg_id")
    after = pl.DataFrame({"neg_id": kept_neg_id}).with_row_index("_row").explode("neg_id")
    tiers = (
        after.join(before, on=["_row", "neg_id"], how="left", maintain_order="left")
        .group_by("_row", maintain_order=True)
        .agg(pl.col("neg_tier").drop_nulls())
    )
    # Rows without negatives may vanish in the explode; every row gets its (possibly empty) list back.
    every_row = pl.DataFrame({"_row": pl.int_range(len(kept_neg_id), dtype=pl.UInt32, eager=True)})
    joined = every_row.join(tiers, on="_row", how="left", maintain_order="left")
    return joined["neg_tier"].cast(pl.List(pl.UInt8)).fill_null(pl.lit([], dtype=pl.List(pl.UInt8))).alias("neg_tier")


def empty_examples():
    return {
        "trajectory_id": pl.Series([], dtype=pl.String),
        "query_id": pl.Series([], dtype=pl.String),
        "outcome": pl.Series([], dtype=pl.String),
        "step": pl.Series([], dtype=pl.UInt32),
        "search_step": pl.Series([], dtype=pl.UInt32),
        "rank": pl.Series([], dtype=pl.UInt32),
        "query": pl.Series([], dtype=pl.String),
        "pos_id": pl.Series([], dtype=pl.String),
        "neg_id": pl.Series([], dtype=pl.List(pl.String)),
        "neg_tier": pl.Series([], dtype=pl.List(pl.UInt8)),
        "context": pl.Series([], dtype=pl.String),
        "reasoning": pl.Series([], dtype=pl.String),
        "reasoning_tokens": pl.Series([], dtype=pl.UInt32),
        "accepted": pl.Series([], dtype=pl.Boolean),
        "chained": pl.Series([], dtype=pl.Boolean),
        "credited": pl.Series([], dtype=pl.Boolean),
        "from_question": pl.Series([], dtype=pl.Boolean),
    }


def _document_table(corpus, found: pl.DataFrame | None) -> pl.DataFrame:
    if corpus is not None:
        docs = corpus if isinstance(corpus, pl.DataFrame) else read_corpus(corpus)
        if "title" not in docs.columns:
            docs = docs.with_columns(pl.lit(None, pl.String).alias("title"))
        docs = docs.select("doc_id", "title", "text").with_columns(pl.lit("corpus").alias("text_source"))
    elif found is not None and found.height:
        docs = found
    else:
        return pl.DataFrame(schema={"doc_id": pl.String, "text": pl.String, "text_source": pl.String})
    docs = _with_title(docs.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != "")))
    return docs.select("doc_id", "text", "text_source")


def _attach_texts(ex: pl.DataFrame, docs: pl.DataFrame, report: MiningReport) -> pl.DataFrame:
    attached = _core.attach_texts(ex.select("pos_id", "neg_id"), docs)
    texts = pl.DataFrame(attached["texts"])
    report.dropped_missing_positive_text = attached["missing_positives"]
    report.missing_negative_texts = attached["missing_negatives"]
    report.positive_text_sources = attached["positive_sources"]
    report.negative_text_sources = attached["negative_sources"]
    out = pl.concat([ex.drop("neg_id"), texts], how="horizontal")
    if "neg_tier" in ex.columns:
        out = out.with_columns(align_negative_tiers(ex["neg_id"], ex["neg_tier"], out["neg_id"]))
    return out.filter(pl.col("pos").is_not_null())


def write_flagembedding(df: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Writes the JSONL that FlagEmbedding-style trainers read:
    `{query, pos: [text], neg: [texts], pos_id: [id], neg_id: [ids], reweight_rate}` per line."""
    with open(path, "w", encoding="utf-8") as f:
        columns = ["query", "pos", "neg", "pos_id", "neg_id", "weight"]
        tiers = "neg_tier" in df.columns
        for row in df.select(columns + (["neg_tier"] if tiers else [])).iter_rows(named=True):
            record = {
                "query": row["query"],
                "pos": [row["pos"]],
                "neg": row["neg"],
                "pos_id": [row["pos_id"]],
                "neg_id": row["neg_id"],
                "reweight_rate": row["weight"],
            }
            if tiers:
                record["neg_tier"] = row["neg_tier"]
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def merge_documents(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """One document table from the `DocumentStore` tables of consecutive parts of the logs, in
    order: what a single store over all of them holds. Per document, the text is the best any part
    kept (a browse output over a snippet, then the longer, then the earlier) and the title the first
    title any part had; documents are in the order they first appear."""
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(_core.DocumentStore().table())
    docs = pl.concat(parts).with_row_index("_order")
    first = (
        docs.group_by("doc_id")
        .agg(pl.col("_order").min(), pl.col("title").sort_by("_order").drop_nulls().first())
        .sort("_order")
    )
    best = (
        docs.sort(
            pl.col("text_source").replace_strict({"browse": 0, "snippet": 1}, return_dtype=pl.UInt8),
            pl.col("text").str.len_bytes(),
            pl.col("_order"),
            descending=[False, True, False],
        )
        .unique("doc_id", keep="first")
        .select("doc_id", "text", "text_source")
    )
    return first.join(best, on="doc_id", how="left", maintain_order="left").select(
        "doc_id", "title", "text", "text_source"
    )
