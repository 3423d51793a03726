"""Type stubs of the compiled module `lrat._core`."""

from os import PathLike
from typing import Literal, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

class LratError(Exception):
    """Base class of lrat's errors."""

class TrajectoryParseError(LratError):
    """A trajectory record could not be read."""

    source: str
    line: int
    byte_offset: int
    reason: str

class IndexFileError(LratError):
    """A file is not an lrat index, is truncated, or fails its checksum."""

Keys = Sequence[str] | Sequence[int] | npt.NDArray[np.integer] | npt.NDArray[np.str_]

class Index:
    """Approximate nearest-neighbour search (HNSW, on the usearch engine) over float vectors.

    Keys are strings (such as docids) or non-negative integers; an index holds one kind, fixed by its
    first `add`. String keys are mapped to integer ids inside, and the mapping is saved with the index.

    Distances: ``cos`` = 1 - cosine similarity, ``ip`` = 1 - dot product, ``l2`` = squared Euclidean.
    ``dtype`` sets how vectors are stored: ``f32``, ``f16`` (half the memory), or ``i8`` (a quarter;
    every vector is scaled to unit length, so it requires ``metric="cos"``).

    Safe to use from many threads at once; searches and insertions release the GIL and batches of
    queries run in parallel on lrat's thread pool (size: ``LRAT_NUM_THREADS``, default all cores).

    Errors: a wrong dimension, NaN or infinite values, ``k`` larger than the index, ``k < 1``, a search
    of an empty index, a key already present or repeated in one batch (the whole batch is rejected),
    changing a read-only view: ``ValueError``. A non-float array or keys of the wrong kind: ``TypeError``.
    Removing an absent key: ``KeyError``. A missing file: ``FileNotFoundError``. A file that is not an
    lrat index, is truncated or fails its checksum: ``IndexFileError``.
    """

    def __init__(
        self,
        dim: int,
        metric: Literal["cos", "ip", "l2"] = "cos",
        dtype: Literal["f32", "f16", "i8"] = "f32",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
    ) -> None: ...
    def add(self, keys: Keys, vectors: npt.ArrayLike) -> None:
        """Adds one vector per key. Float32 C-contiguous arrays are read in place; other float arrays
        (any strides, float16/float64) are converted once."""
    def search(
        self,
        queries: npt.ArrayLike,
        k: int = 10,
        *,
        exact: bool = False,
        allowed: Keys | None = None,
    ) -> tuple[np.ndarray, npt.NDArray[np.float32]]:
        """The `k` nearest keys of each query and their distances, nearest first.

        Shapes are ``(len(queries), k)``, or ``(k,)`` for a 1-D query. Keys are an int64 array, or an
        object array of str for string keys. ``exact=True`` compares each query with every vector.
        ``allowed`` restricts results to those keys (unknown keys are ignored; sets of up to 8192 keys
        are searched exactly); rows with fewer than `k` matches are padded with key -1 (or None) and
        distance +inf.
        """
    def remove(self, keys: str | int | Keys) -> int:
        """Removes keys; all must be present, else nothing is removed and KeyError is raised."""
    def contains(self, keys: Keys) -> npt.NDArray[np.bool_]: ...
    def __contains__(self, key: object) -> bool: ...
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
