"""lrat: learning to retrieve from agent trajectories.

Reads search-agent logs in many formats into one canonical model, mines retrieval supervision from
them, trains dense retrievers with weighted InfoNCE, and serves HNSW search.
"""

from lrat._core import Index, IndexFileError, LratError, TrajectoryParseError, __version__

__all__ = [
    "Index",
    "IndexFileError",
    "LratError",
    "TrajectoryParseError",
    "__version__",
]
