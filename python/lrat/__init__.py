"""lrat: learning to retrieve from agent trajectories.

Reads search-agent logs in many formats into one canonical model, mines retrieval supervision from
them, trains dense retrievers with weighted InfoNCE, and serves HNSW search.
"""

from typing import Any

from lrat._core import LratError, TrajectoryParseError, __version__

# Names whose modules import torch or transformers: loaded on first use, so `import lrat` stays light.
_LAZY = {
    "Encoder": "lrat.encoder",
    "train": "lrat.training",
    "default_model_path": "lrat.models",
}

__all__ = [
    "Encoder",
    "LratError",
    "TrajectoryParseError",
    "__version__",
    "default_model_path",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lrat' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
