"""Type stub of `lrat._core`, the compiled bindings over the Rust core (kept by hand;
`tests/test_stub.py` checks it against the compiled module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict, final

__version__: str

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
        strict: bool = False,
        search_tools: list[str] | None = None,
        browse_tools: list[str] | None = None,
        unknown_tools: str = "warn",
        max_record_bytes: int = 67108864,
        include_content: bool = True,
    ) -> TrajectoryReader: ...
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
