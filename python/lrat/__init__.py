"""lrat: learning to retrieve from agent trajectories.

Reads search-agent logs in many formats into one canonical model, mines retrieval supervision from
them, trains dense retrievers with weighted InfoNCE, and serves HNSW search.
"""

from __future__ import annotations

from typing import Any

from lrat import evaluation as eval  # noqa: F401  (an attribute, kept out of __all__)
from lrat._core import (
    DEFAULT_BROWSE_TOOLS,
    DEFAULT_SEARCH_TOOLS,
    Index,
    IndexFileError,
    LratError,
    TrajectoryParseError,
    __version__,
)
from lrat.corpus import read_corpus
from lrat.mining import MiningConfig, MiningReport, mine, mine_with_report
from lrat.trajectories import ReadOptions, Trajectories, iter_trajectories, read_trajectories

# Names whose modules import torch or transformers: loaded on first use, so `import lrat` stays light.
_LAZY = {
    "Encoder": "lrat.encoder",
    "train": "lrat.training",
    "default_model_path": "lrat.models",
}

__all__ = [
    "DEFAULT_BROWSE_TOOLS",
    "DEFAULT_SEARCH_TOOLS",
    "Encoder",
    "Index",
    "IndexFileError",
    "LratError",
    "MiningConfig",
    "MiningReport",
    "ReadOptions",
    "TrajectoryParseError",
    "Trajectories",
    "__version__",
    "default_model_path",
    "iter_trajectories",
    "mine",
    "mine_with_report",
    "read_corpus",
    "read_trajectories",
    "train",
]


# Submodules reachable as attributes (`lrat.bench.run(...)`) without importing them up front.
_SUBMODULES = {
    "bench": "lrat.bench",
    "beir": "lrat.beir",
    "bootstrap": "lrat.bootstrap",
    "harness": "lrat.harness",
    "calibration": "lrat.harness.calibration",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lrat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
