"""Reading agent trajectories into the canonical tables (polars DataFrames)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import polars as pl

from lrat import _core
from lrat.options import option, replaced

PathsLike = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]

TABLES = ("trajectories", "steps", "search_results", "browses", "errors")


@dataclass
class Trajectories:
    """The canonical model of a set of trajectories: one DataFrame per table (see the README).

    `errors` lists the records that were skipped (severity "error") and the records kept with a
    warning (severity "warning", such as a call of an unknown tool).
    """

    trajectories: pl.DataFrame
    steps: pl.DataFrame
    search_results: pl.DataFrame
    browses: pl.DataFrame
    errors: pl.DataFrame

    def __len__(self) -> int:
        return self.trajectories.height

    @property
    def n_errors(self) -> int:
        return self.errors.filter(pl.col("severity") == "error").height

    @property
    def n_warnings(self) -> int:
        return self.errors.filter(pl.col("severity") == "warning").height

    @property
    def wrong_types(self) -> pl.DataFrame:
        """Fields of the wrong JSON type (a number where text belongs, an object where a query
        belongs), per field: what was found, what the reader did (numbers are read as text, other
        types ignored) and in how many records. Strict reading rejects such records instead."""
        parts = pl.col("reason").str.extract_groups(
            r"^wrong type: `(?<field>.+)` is (?<found>.+), (?<treatment>read as text|ignored)$"
        )
        return (
            self.errors.filter(pl.col("severity") == "warning")
            .select(parts)
            .unnest("reason")
            .drop_nulls()
            .group_by("field", "found", "treatment")
            .agg(pl.len().alias("records"))
            .sort("field", "found", "treatment")
        )

    def summary(self) -> str:
        """A few lines: trajectories by format and outcome, steps, and problems by reason."""
        t = self.trajectories
        lines = [
            f"{t.height} trajectories, {int(t['n_searches'].sum() or 0)} searches, "
            f"{int(t['n_browses'].sum() or 0)} browses, {self.steps.height} steps; "
            f"{self.n_errors} records skipped, {self.n_warnings} warnings"
        ]
        if t.height:
            by = t.group_by("format", "outcome").len().sort("format", "outcome")
            lines += [f"  {r['format']:<17} {r['outcome']:<10} {r['len']}" for r in by.iter_rows(named=True)]
        if self.errors.height:
            reasons = (
                self.errors.with_columns(pl.col("reason").str.replace(r"(line|column) \d+", "$1 N"))
                .group_by("severity", "reason")
                .len()
                .sort("len", descending=True)
                .head(10)
            )
            lines += [f"  {r['severity']}: {r['len']} x {r['reason']}" for r in reasons.iter_rows(named=True)]
        return "\n".join(lines)

    def write_parquet(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Writes each table as `<directory>/<table>.parquet`."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in TABLES:
            path = out / f"{name}.parquet"
            getattr(self, name).write_parquet(path)
            paths.append(path)
        return paths

    @classmethod
    def concat(cls, parts: Sequence[Trajectories]) -> Trajectories:
        if not parts:
            return empty()
        return cls(**{name: pl.concat([getattr(p, name) for p in parts], rechunk=False) for name in TABLES})

    @classmethod
    def read_parquet(cls, directory: str | os.PathLike[str]) -> Trajectories:
        """Reads tables written by `write_parquet` or `lrat parse`: `<table>.parquet` files, or
        `<table>/` directories of shards (`lrat parse --engine ray`)."""
        d = Path(directory)
        tables = {}
        for name in TABLES:
            if (d / f"{name}.parquet").is_file():
                tables[name] = pl.read_parquet(d / f"{name}.parquet")
                continue
            shards = sorted((d / name).glob("*.parquet")) if (d / name).is_dir() else []
            if not shards and not (d / name).is_dir():
                raise FileNotFoundError(f"{d}: neither {name}.parquet nor a {name}/ directory of shards")
            empty = pl.DataFrame(_core.empty_tables()[name])
            tables[name] = pl.concat([empty, *(pl.read_parquet(s) for s in shards)], how="vertical_relaxed")
        return cls(**tables)


def path_list(paths: PathsLike) -> list[str]:
    """`paths` as a list of strings; an empty list is a ValueError."""
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise ValueError("no input paths given")
    return out


def _from_batch(batch: _core.TrajectoryBatch) -> Trajectories:
    tables = batch.tables()
    return Trajectories(**{name: pl.DataFrame(tables[name]) for name in TABLES})


def empty() -> Trajectories:
    """No trajectories, with the tables' columns."""
    return Trajectories(**{name: pl.DataFrame(t) for name, t in _core.empty_tables().items()})


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


_READING = "reading logs"


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How logs are read: one set of options for `read_trajectories`, `iter_trajectories`,
    `open_reader`, `mine` and the commands that read logs (whose flags come from these fields)."""

    format: str = option(
        "auto",
        "--log-format",
        "auto (detect per record), browsecomp, chat_completions, responses, qwen, search_r1, react or group_chat",
        group=_READING,
    )
    """"auto" (detected per record) or one of browsecomp, chat_completions, responses, qwen, search_r1,
    react, group_chat."""
    strict: bool = option(False, "--strict", "stop at the first bad record instead of skipping it", group=_READING)
    """Raise `TrajectoryParseError` at the first bad record instead of skipping and counting it."""
    search_tools: Sequence[str] | None = option(
        None,
        "--search-tools",
        "comma-separated tool names that mean search (replace the defaults)",
        group=_READING,
        metavar="NAMES",
        parse=_names,
    )
    """Tool names that mean search (replace `lrat.DEFAULT_SEARCH_TOOLS`); namespaced names such as
    `server-google_search` match too."""
    browse_tools: Sequence[str] | None = option(
        None,
        "--browse-tools",
        "comma-separated tool names that mean browse (replace the defaults)",
        group=_READING,
        metavar="NAMES",
        parse=_names,
    )
    """Tool names that mean browse (replace `lrat.DEFAULT_BROWSE_TOOLS`); `browser.open` matches too."""
    unknown_tools: str = option(
        "warn",
        "--unknown-tools",
        "calls of other tools: keep with a warning, keep silently, or skip the record",
        group=_READING,
        choices=("warn", "keep", "error"),
    )
    """A call of any other tool is kept as a "tool" step and reported as a warning ("warn"), kept
    silently ("keep"), or makes the record bad ("error")."""
    batch_size: int = option(4096, "--batch-size", "records per batch (bounds memory)", group=_READING)
    """Records per batch."""
    batch_bytes: int = 16 << 20
    """Bytes of input at which a batch closes early."""
    max_record_bytes: int = option(
        64 << 20,
        "--max-record-bytes",
        "longer records are skipped with an error, without being held in memory",
        group=_READING,
    )
    include_content: bool = True
    """Keep browse outputs' text in `browses.content`."""

    def replace(self, **settings: Any) -> ReadOptions:
        """These options with `settings` changed; an unknown name is a TypeError."""
        return replaced(self, **settings)


def read_options(options: ReadOptions | None, format: str | None, settings: dict[str, Any]) -> ReadOptions:
    """`options` (default: `ReadOptions()`) with `format` and the keyword `settings` applied."""
    if format is not None:
        settings = {**settings, "format": format}
    return (options or ReadOptions()).replace(**settings)


def open_reader(
    paths: PathsLike,
    format: str | None = None,
    *,
    options: ReadOptions | None = None,
    names: Sequence[str] | None = None,
    **settings: Any,
) -> _core.TrajectoryReader:
    """The streaming reader behind `read_trajectories` and `iter_trajectories`. With `names`, one
    per path, it reads exactly those files (no expansion) and reports each under its name."""
    o = read_options(options, format, settings)
    return _core.TrajectoryReader(
        path_list(paths),
        names=list(names) if names is not None else None,
        format=o.format,
        batch_size=o.batch_size,
        batch_bytes=o.batch_bytes,
        strict=o.strict,
        search_tools=list(o.search_tools) if o.search_tools is not None else None,
        browse_tools=list(o.browse_tools) if o.browse_tools is not None else None,
        unknown_tools=o.unknown_tools,
        max_record_bytes=o.max_record_bytes,
        include_content=o.include_content,
    )


def iter_trajectories(
    paths: PathsLike, format: str | None = None, *, options: ReadOptions | None = None, **settings: Any
) -> Iterator[Trajectories]:
    """Yields the trajectories of `paths` batch by batch, for inputs larger than memory: a batch
    holds `batch_size` records, or fewer when they reach `batch_bytes` bytes of input. Options as
    for `read_trajectories`."""
    for batch in open_reader(paths, options=read_options(options, format, settings)):
        yield _from_batch(batch)


def read_trajectories(
    paths: PathsLike, format: str | None = None, *, options: ReadOptions | None = None, **settings: Any
) -> Trajectories:
    """Reads agent logs into the canonical tables.

    paths: files, directories (searched recursively for .json, .jsonl, .txt, .gz, .zst) or globs.
    format, and any other keyword: the fields of `ReadOptions` (format, strict, search_tools,
    browse_tools, unknown_tools, batch_size, batch_bytes, max_record_bytes, include_content), applied
    over `options` when given.
    """
    parts = list(iter_trajectories(paths, options=read_options(options, format, settings)))
    return Trajectories.concat(parts) if parts else empty()
