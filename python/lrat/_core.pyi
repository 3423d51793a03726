"""Type stub of `lrat._core`, the compiled bindings over the Rust core (kept by hand;
`tests/test_stub.py` checks it against the compiled module)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "LratError",
    "TrajectoryParseError",
    "TrajectoryReader",
    "TrajectoryBatch",
    "TablesWriter",
    "Table",
    "empty_tables",
    "list_inputs",
    "LOG_EXTENSIONS",
    "TokenCounter",
    "DocumentStore",
    "browse_reasonings",
    "mine_batch",
    "judge_reasonings",
    "attach_texts",
    "DEFAULT_SEARCH_TOOLS",
    "DEFAULT_BROWSE_TOOLS",
    "IndexFileError",
    "Index",
]

__version__: str

LOG_EXTENSIONS: list[str]
"""File extensions (lower case, no dot) read when a directory is listed; `.gz` and `.zst` files are
decompressed."""
DEFAULT_SEARCH_TOOLS: list[str]
"""Tool names that mean search when `search_tools` is not given."""
DEFAULT_BROWSE_TOOLS: list[str]
"""Tool names that mean browse when `browse_tools` is not given."""

class LratError(Exception):
    """Base class of lrat's errors."""

class TrajectoryParseError(LratError):
    """A trajectory record could not be read."""

    source: str
    line: int
    byte_offset: int
    reason: str

class _ArrowStream(Protocol):
    """Anything with the Arrow PyCapsule stream interface: a polars DataFrame, a pyarrow Table …"""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class _Totals(TypedDict):
    records: int
    bytes: int
    trajectories: int
    errors: int
    warnings: int

class _Tables(TypedDict):
    trajectories: Table
    steps: Table
    search_results: Table
    browses: Table
    errors: Table

@final
class Table:
    """An Arrow table (arro3's class), handed to polars / pyarrow through the PyCapsule interface."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...
    def __len__(self) -> int: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def num_columns(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...
    def __getattr__(self, name: str) -> Any: ...

@final
class TrajectoryBatch:
    """The trajectories parsed from one batch of records."""

    def __len__(self) -> int: ...
    @property
    def records(self) -> int:
        """Records read for this batch, good and bad."""
    @property
    def bytes(self) -> int:
        """Bytes of record text read for this batch."""
    @property
    def n_errors(self) -> int: ...
    def first_error(self) -> TrajectoryParseError | None:
        """The first error of the batch, or None."""
    def tables(self) -> _Tables:
        """The canonical tables as Arrow (PyCapsule stream) objects, keyed by table name."""

@final
class TrajectoryReader:
    """Streams trajectories from files, directories and globs, in batches."""

    def __new__(
        cls,
        inputs: list[str],
        *,
        format: str | None = None,
        batch_size: int = 4096,
        batch_bytes: int = 16777216,
        strict: bool = False,
        search_tools: list[str] | None = None,
        browse_tools: list[str] | None = None,
        unknown_tools: str = "warn",
        max_record_bytes: int = 67108864,
        include_content: bool = True,
        names: list[str] | None = None,
    ) -> TrajectoryReader:
        """`names`, one per input: read exactly these files (no expansion), reporting each under its
        name (which also decides compression and layout), as `lrat.ray` does for remote copies."""
    def __iter__(self) -> Iterator[TrajectoryBatch]: ...
    def __next__(self) -> TrajectoryBatch: ...
    def totals(self) -> _Totals:
        """Totals so far: records, bytes, trajectories, errors, warnings."""

@final
class TablesWriter:
    """Writes batches of trajectories as the canonical tables in Parquet files under a directory."""

    def __new__(cls, directory: str | os.PathLike[str]) -> TablesWriter: ...
    def write(self, batch: TrajectoryBatch) -> None: ...
    def close(self) -> list[Path]:
        """Finishes the files; returns their paths."""

def empty_tables() -> _Tables:
    """The canonical tables with no rows."""

def list_inputs(inputs: list[str], *, strict: bool = False) -> tuple[list[str], Table]:
    """The files `inputs` (files, directories, globs) expand to, in reading order, and what listing
    met as rows of the errors table (unreadable directories: errors; second paths to a file:
    warnings). With `strict`, the first unreadable directory is raised."""

class IndexFileError(LratError):
    """A file is not an lrat index, is truncated, or fails its checksum."""

_Keys = Sequence[str] | Sequence[int] | npt.NDArray[np.integer] | npt.NDArray[np.str_]

@final
class Index:
    """Approximate nearest-neighbour search (HNSW, on the usearch engine) over float vectors.

    Keys are strings (such as docids) or non-negative integers; an index holds one kind, fixed by its
    first `add`. String keys are mapped to integer ids inside, and the mapping is saved with the index.

    Distances: ``cos`` = 1 - cosine similarity, ``ip`` = 1 - dot product, ``l2`` = squared Euclidean.
    A ``cos`` index stores vectors (and takes queries) scaled to unit length, so that a search needs
    only dot products; a zero vector is at distance 1 from everything.
    ``dtype`` sets how vectors are stored: ``f32``, ``f16`` (half the memory), or ``i8`` (a quarter;
    each vector scaled so that its largest component is 127, then rounded; requires ``metric="cos"``).

    Safe to use from many threads at once; searches and insertions release the GIL and batches of
    queries run in parallel on lrat's thread pool (size: ``LRAT_NUM_THREADS``, default all cores).

    Errors: a wrong dimension, NaN or infinite values, ``k`` larger than the index, ``k < 1``, a search
    of an empty index, a key already present or repeated in one batch (the whole batch is rejected),
    changing a read-only view: ``ValueError``. A non-float array or keys of the wrong kind: ``TypeError``.
    Removing an absent key: ``KeyError``. A missing file: ``FileNotFoundError``. A file that is not an
    lrat index, is truncated or fails its checksum: ``IndexFileError``.
    """

    def __new__(
        cls,
        dim: int,
        metric: Literal["cos", "ip", "l2"] = "cos",
        dtype: Literal["f32", "f16", "i8"] = "f32",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
    ) -> Index: ...
    def add(self, keys: _Keys, vectors: npt.ArrayLike) -> None:
        """Adds one vector per key. Float32 C-contiguous arrays are read in place; other float arrays
        (any strides, float16/float64) are converted once."""
    def search(
        self,
        queries: npt.ArrayLike,
        k: int = 10,
        *,
        exact: bool = False,
        allowed: _Keys | None = None,
        threads: int | None = None,
    ) -> tuple[np.ndarray, npt.NDArray[np.float32]]:
        """The `k` nearest keys of each query and their distances, nearest first.

        Shapes are ``(len(queries), k)``, or ``(k,)`` for a 1-D query. Keys are an int64 array, or an
        object array of str for string keys. ``exact=True`` compares each query with every vector.
        ``allowed`` restricts results to those keys (unknown keys are ignored; sets of up to 8192 keys
        are searched exactly); rows with fewer than `k` matches are padded with key -1 (or None) and
        distance +inf. A batch runs on ``threads`` threads, each taking the next small run of rows
        until none is left (default: lrat's pool, ``LRAT_NUM_THREADS`` or the number of cores; 1
        searches on the calling thread); the results do not depend on it.

        An f32 index that has changed is frozen for search once the rows searched since reach 1/64 of
        its size (at once, for a batch that large): it is serialized in memory and searched in place
        (the vectors are not held twice), which takes about as long as saving it; the next ``add`` or
        ``remove`` turns it back. ``Index.load`` and ``Index.view`` give indexes already frozen.
        """
    def remove(self, keys: str | int | _Keys) -> int:
        """Removes keys; all must be present, else nothing is removed and KeyError is raised."""
    def contains(self, keys: _Keys) -> npt.NDArray[np.bool_]: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def save(self, path: str | PathLike[str]) -> None:
        """Writes the index atomically: a temporary file beside `path`, then a rename."""
    @staticmethod
    def load(path: str | PathLike[str]) -> Index:
        """Reads an index written by `save` into memory."""
    @staticmethod
    def view(path: str | PathLike[str]) -> Index:
        """Memory-maps an index written by `save`, read-only (add and remove raise ValueError)."""
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def connectivity(self) -> int: ...
    @property
    def expansion_add(self) -> int: ...
    @property
    def expansion_search(self) -> int: ...
    @expansion_search.setter
    def expansion_search(self, value: int) -> None: ...
    @property
    def key_kind(self) -> Literal["str", "int"] | None: ...
    @property
    def is_view(self) -> bool: ...
    @property
    def memory_usage(self) -> int:
        """Bytes held by the graph and the stored vectors."""

class _MineStats(TypedDict):
    browses: int
    examples: int
    accepted: int
    rejected: int
    not_in_results: int
    unreadable: int
    failed: int
    chained: int
    credited: int

class _Mined(TypedDict):
    examples: Table
    stats: _MineStats

@final
class TokenCounter:
    """Counts tokens with a tokenizer.json (a file or a model directory), or whitespace words (None)."""

    def __new__(cls, path: str | os.PathLike[str] | None = None) -> TokenCounter: ...
    def count(self, text: str) -> int: ...
    def count_many(self, texts: list[str]) -> list[int]: ...
    @property
    def is_whitespace(self) -> bool: ...

@final
class DocumentStore:
    """The best text of every document seen in the batches mined with it: a successful browse's
    output, else the longest snippet; documents in the order they first appeared."""

    def __new__(cls) -> DocumentStore: ...
    def __len__(self) -> int: ...
    def table(self) -> Table:
        """`doc_id, title, text, text_source` of every document."""

def browse_reasonings(batch: TrajectoryBatch) -> list[list[str]]:
    """The post-browse reasoning of every browse, one list per trajectory of the batch."""

def mine_batch(
    batch: TrajectoryBatch,
    counter: TokenCounter,
    *,
    judge: Literal["rules", "none"] | list[list[bool]] | None,
    rule: Literal["segment", "per_search"] = "segment",
    chain_queries: bool = False,
    credit_earlier: bool = False,
    documents: DocumentStore | None = None,
) -> _Mined:
    """Mines the batch: examples (with document ids) and counts; the batch's document texts go
    into `documents` when given. `judge`: "rules" (the built-in judge), "none" or None (every browse
    accepted: the naive variant, as in `lrat.mine`), or the verdicts, one list per trajectory. The examples table has `trajectory_id, query_id, outcome, step,
    search_step, rank, query, pos_id, neg_id, neg_tier` (per negative: 0 opened and rejected, 1 skipped
    above an opened result, 2 seen below), `context` (the reasoning step right before the search),
    `reasoning, reasoning_tokens, accepted, chained, credited`. With `chain_queries`, each accepted page
    is also the positive of the earlier searches of its query chain (`chained` true; `rank` 0 where
    that search's list did not hold the page); with `credit_earlier`, of every earlier search whose
    list held it (`credited` true)."""

class _Attached(TypedDict):
    texts: Table
    missing_positives: int
    missing_negatives: int
    positive_sources: dict[str, int]
    negative_sources: dict[str, int]

def attach_texts(examples: _ArrowStream, documents: _ArrowStream) -> _Attached:
    """Document texts for examples, row for row: `pos, pos_source` (null where the positive has no
    text) and `neg_id, neg, neg_source` (the negatives that have a text, in order; empty where the
    positive has none). `examples` needs `pos_id` and `neg_id`, `documents` `doc_id, text,
    text_source` (the first row of an id with a text wins). Counts cover the examples whose positive
    has a text.
    Raises ValueError naming a missing column or one that does not hold strings."""

def judge_reasonings(texts: list[str]) -> list[bool]:
    """The built-in rule-based judge: True (RELEVANT) unless the reasoning clearly rejects the page."""
