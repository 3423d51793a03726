"""lrat: learning to retrieve from agent trajectories.

Reads search-agent logs in many formats into one canonical model, mines retrieval supervision from
them, trains dense retrievers with weighted InfoNCE, and serves HNSW search.
"""

from __future__ import annotations

from lrat._core import (
    DEFAULT_BROWSE_TOOLS,
    DEFAULT_SEARCH_TOOLS,
    Index,
    IndexFileError,
    LratError,
    TrajectoryParseError,
    __version__,
)
from lrat.mining import MiningReport, mine, mine_with_report, read_corpus
from lrat.trajectories import Trajectories, iter_trajectories, read_trajectories

from lrat import evaluation as eval  # noqa: A001  (an attribute, kept out of __all__)

__all__ = [
    "DEFAULT_BROWSE_TOOLS",
    "DEFAULT_SEARCH_TOOLS",
    "Index",
    "IndexFileError",
    "LratError",
    "MiningReport",
    "TrajectoryParseError",
    "Trajectories",
    "__version__",
    "iter_trajectories",
    "mine",
    "mine_with_report",
    "read_corpus",
    "read_trajectories",
]
