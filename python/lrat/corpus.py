"""Reading a document collection: JSONL or Parquet into `doc_id, title, text`.

Column names vary between collections: ids may be `doc_id`, `docid`, `id` or `_id`; texts `text`,
`contents`, `content`, `body` or `paragraph_text`; the title is optional. A bad line is named by file
and line; duplicate ids follow a policy (keep the first, keep the last, or stop) and are reported.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Literal

import polars as pl

ID_COLUMNS = ("doc_id", "docid", "id", "_id")
TEXT_COLUMNS = ("text", "contents", "content", "body", "paragraph_text")
DuplicatePolicy = Literal["first", "last", "error"]


class CorpusError(ValueError):
    """A corpus file that cannot be read as documents; the message names the file (and line)."""


def read_corpus(path: str | os.PathLike[str], *, duplicates: DuplicatePolicy = "first") -> pl.DataFrame:
    """`doc_id, title, text` of every document of a JSONL or Parquet corpus. A document id given more
    than once keeps its first row (`duplicates="first"`), its last ("last"), or stops the read
    ("error"); the first two warn with the count and the first ids."""
    if duplicates not in ("first", "last", "error"):
        raise ValueError(f"duplicates must be 'first', 'last' or 'error', not {duplicates!r}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"corpus {p} does not exist")
    if p.suffix == ".parquet":
        try:
            df = pl.read_parquet(p)
        except Exception as exc:  # noqa: BLE001 - polars and arrow raise several kinds
            raise CorpusError(f"corpus {p}: not a readable Parquet file: {exc}") from None
        line_of = None
    else:
        df, line_of = _read_jsonl(p)
    if df.height == 0:
        raise CorpusError(f"corpus {p} holds no documents")
    id_col = _pick(df, ID_COLUMNS, "id", p)
    text_col = _pick(df, TEXT_COLUMNS, "text", p)
    title_col = next((c for c in ("title",) if c in df.columns), None)
    for column, what in ((id_col, "id"), (text_col, "text")):
        missing = df[column].is_null()
        if missing.any():
            row = int(missing.arg_max())
            where = f"{p}:{line_of[row]}" if line_of is not None else f"{p}: row {row}"
            raise CorpusError(f"{where}: the document has no {what} (`{column}`)")
    out = df.select(
        pl.col(id_col).cast(pl.String).alias("doc_id"),
        (pl.col(title_col).cast(pl.String) if title_col else pl.lit(None, pl.String)).alias("title"),
        pl.col(text_col).cast(pl.String).alias("text"),
    )
    repeated = out.filter(pl.col("doc_id").is_duplicated())["doc_id"].unique(maintain_order=True)
    if repeated.len():
        examples = ", ".join(repr(d) for d in repeated.head(3).to_list())
        said = f"corpus {p}: {repeated.len()} document ids appear more than once (first: {examples})"
        if duplicates == "error":
            raise CorpusError(said)
        warnings.warn(f"{said}; kept the {duplicates} row of each", stacklevel=2)
    return out.unique("doc_id", keep=duplicates, maintain_order=True)


def _pick(df: pl.DataFrame, names: tuple[str, ...], what: str, path: Path) -> str:
    for name in names:
        if name in df.columns:
            return name
    raise CorpusError(
        f"corpus {path} has no {what} column (looked for {', '.join(names)}; found {', '.join(df.columns)})"
    )


def _read_jsonl(path: Path) -> tuple[pl.DataFrame, list[int]]:
    """The records of a JSONL file and the line number of each. Polars reads it; when it cannot, the
    file is read again line by line to name the first line at fault."""
    lines = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                lines.append(number)
    if not lines:
        return pl.DataFrame(), lines
    try:
        return pl.read_ndjson(path, infer_schema_length=None), lines
    except Exception:  # noqa: BLE001 - fall through to find the line
        pass
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{path}:{number}: not UTF-8: {exc}") from None
            except ValueError as exc:
                raise CorpusError(f"{path}:{number}: invalid JSON: {exc}") from None
            if not isinstance(record, dict):
                raise CorpusError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    raise CorpusError(f"{path}: the records do not share one schema (a field changes type between lines)")
