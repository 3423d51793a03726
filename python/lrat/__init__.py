"""lrat: learning to retrieve from agent trajectories.

Reads search-agent logs in many formats into one canonical model, mines retrieval supervision from
them, trains dense retrievers with weighted InfoNCE, and serves HNSW search.
"""

from lrat import evaluation as eval  # noqa: A001  (an attribute, kept out of __all__)
from lrat._core import LratError, TrajectoryParseError, __version__

__all__ = [
    "LratError",
    "TrajectoryParseError",
    "__version__",
]
