"""lrat: learning to retrieve from agent trajectories.

Reads search-agent logs in many formats into one canonical model, mines retrieval supervision from
them, trains dense retrievers with weighted InfoNCE, and serves HNSW search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrat._core import (
    DEFAULT_BROWSE_TOOLS,
    DEFAULT_SEARCH_TOOLS,
    Index,
    IndexFileError,
    LratError,
    TrajectoryParseError,
    __version__,
)

if TYPE_CHECKING:
    from lrat import evaluation as eval  # noqa: F401
    from lrat.corpus import read_corpus
    from lrat.encoder import Encoder
    from lrat.mining import MiningConfig, MiningReport, mine, mine_with_report
    from lrat.models import default_model_path
    from lrat.training import train
    from lrat.trajectories import ReadOptions, Trajectories, iter_trajectories, read_trajectories

# Everything but the compiled core loads on first use, so that `import lrat` stays fast: polars alone
# takes longer to import than the rest of the package, and torch and transformers much longer.
_LAZY = {
    "read_corpus": "lrat.corpus",
    "MiningConfig": "lrat.mining",
    "MiningReport": "lrat.mining",
    "mine": "lrat.mining",
    "mine_with_report": "lrat.mining",
    "ReadOptions": "lrat.trajectories",
    "Trajectories": "lrat.trajectories",
    "iter_trajectories": "lrat.trajectories",
    "read_trajectories": "lrat.trajectories",
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
    "eval": "lrat.evaluation",
    "bench": "lrat.bench",
    "beir": "lrat.beir",
    "bootstrap": "lrat.bootstrap",
    "harness": "lrat.harness",
    "calibration": "lrat.harness.calibration",
}


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


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
