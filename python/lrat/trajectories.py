"""Reading agent trajectories into the canonical tables (polars DataFrames)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import polars as pl

from lrat import _core

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
        parts = pl.col("reason").str.extract_groups(r"^wrong type: `(?<field>.+)` is (?<found>.+), (?<treatment>read as text|ignored)$")
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
        """Reads tables written by `write_parquet` or `lrat parse`."""
        d = Path(directory)
        return cls(**{name: pl.read_parquet(d / f"{name}.parquet") for name in TABLES})


def _paths(paths: PathsLike) -> list[str]:
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


def open_reader(
    paths: PathsLike,
    format: str = "auto",
    *,
    batch_size: int = 4096,
    batch_bytes: int = 16 << 20,
    strict: bool = False,
    search_tools: Sequence[str] | None = None,
    browse_tools: Sequence[str] | None = None,
    unknown_tools: str = "warn",
    max_record_bytes: int = 64 << 20,
    include_content: bool = True,
) -> _core.TrajectoryReader:
    """The streaming reader behind `read_trajectories` and `iter_trajectories`."""
    return _core.TrajectoryReader(
        _paths(paths),
        format=format,
        batch_size=batch_size,
        batch_bytes=batch_bytes,
        strict=strict,
        search_tools=list(search_tools) if search_tools is not None else None,
        browse_tools=list(browse_tools) if browse_tools is not None else None,
        unknown_tools=unknown_tools,
        max_record_bytes=max_record_bytes,
        include_content=include_content,
    )


def iter_trajectories(
    paths: PathsLike,
    format: str = "auto",
    *,
    batch_size: int = 4096,
    batch_bytes: int = 16 << 20,
    strict: bool = False,
    search_tools: Sequence[str] | None = None,
    browse_tools: Sequence[str] | None = None,
    unknown_tools: str = "warn",
    max_record_bytes: int = 64 << 20,
    include_content: bool = True,
) -> Iterator[Trajectories]:
    """Yields the trajectories of `paths` batch by batch, for inputs larger than memory: a batch
    holds `batch_size` records, or fewer when they reach `batch_bytes` bytes of input. Other
    arguments as for `read_trajectories`."""
    reader = open_reader(
        paths,
        format,
        batch_size=batch_size,
        batch_bytes=batch_bytes,
        strict=strict,
        search_tools=search_tools,
        browse_tools=browse_tools,
        unknown_tools=unknown_tools,
        max_record_bytes=max_record_bytes,
        include_content=include_content,
    )
    for batch in reader:
        yield _from_batch(batch)


def read_trajectories(
    paths: PathsLike,
    format: str = "auto",
    *,
    strict: bool = False,
    search_tools: Sequence[str] | None = None,
    browse_tools: Sequence[str] | None = None,
    unknown_tools: str = "warn",
    max_record_bytes: int = 64 << 20,
    include_content: bool = True,
    batch_size: int = 4096,
) -> Trajectories:
    """Reads agent logs into the canonical tables.

    paths: files, directories (searched recursively for .json, .jsonl, .txt, .gz, .zst) or globs.
    format: "auto" (detected per record) or one of browsecomp, chat_completions, responses, qwen,
        search_r1, react.
    strict: raise `TrajectoryParseError` at the first bad record instead of skipping and counting it.
    search_tools / browse_tools: tool names that mean search / browse (replace the defaults,
        `lrat.DEFAULT_SEARCH_TOOLS` and `lrat.DEFAULT_BROWSE_TOOLS`); namespaced names such as
        `browser.open` or `server-google_search` match too.
    unknown_tools: a call of any other tool is kept as a "tool" step and reported as a warning
        ("warn"), kept silently ("keep"), or makes the record bad ("error").
    max_record_bytes: longer records are skipped with an error, without being held in memory.
    include_content: keep browse outputs' text in `browses.content`.
    """
    parts = list(
        iter_trajectories(
            paths,
            format,
            batch_size=batch_size,
            strict=strict,
            search_tools=search_tools,
            browse_tools=browse_tools,
            unknown_tools=unknown_tools,
            max_record_bytes=max_record_bytes,
            include_content=include_content,
        )
    )
    return Trajectories.concat(parts) if parts else empty()
