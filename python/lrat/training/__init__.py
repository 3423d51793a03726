"""Training a retriever from mined trajectories: weighted InfoNCE with PyTorch and transformers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import polars as pl

from lrat.training.config import TrainingConfig

if TYPE_CHECKING:
    from lrat.training.trainer import TrainResult

__all__ = ["TrainResult", "TrainingConfig", "train"]


def __getattr__(name: str) -> Any:
    # The trainer imports torch: loaded when a run starts, so that the CLI's flags (from TrainingConfig)
    # cost no torch import.
    if name == "TrainResult":
        from lrat.training.trainer import TrainResult

        return TrainResult
    raise AttributeError(f"module 'lrat.training' has no attribute {name!r}")


def train(
    data: str | os.PathLike[str] | pl.DataFrame,
    *,
    output_dir: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> TrainResult:
    """Train `model` (a local transformers folder; default: the bundled all-MiniLM-L6-v2) on a mined
    training set (Parquet path, FlagEmbedding JSONL path or polars DataFrame) and write the result to
    `output_dir`, loadable by `transformers.AutoModel`, `sentence_transformers.SentenceTransformer`
    and `lrat.Encoder.load`.

    `settings` are the fields of `TrainingConfig`: epochs, max_steps, batch_size (16, per process),
    group_size (4), temperature (0.05), learning_rate (2e-5), weight_decay, warmup_ratio,
    gradient_accumulation_steps, max_grad_norm, precision ("auto", "fp32", "bf16", "fp16"),
    gradient_checkpointing, mask_false_negatives, negative_weights (tiered: rejected, skipped above,
    seen below, in-batch; or "iter"), false_negative_margin (None keeps every negative; 0.95 drops
    negatives the base model scores above 0.95× their positive), dev_fraction / eval_steps / keep_base_if_worse (model
    selection on a dev split), merge_base (WiSE-FT share of the base weights), seed, shuffle, save_steps,
    keep_checkpoints, resume
    (True for the latest checkpoint in output_dir, or a checkpoint path), log_every, show_progress,
    device, and the encoder settings pooling, normalize, query_prefix, document_prefix,
    max_query_length, max_document_length.
    """
    known = set(TrainingConfig.__dataclass_fields__) - {"output_dir", "model"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"train() got unknown settings: {', '.join(unknown)}")
    from lrat.training.trainer import run_training

    config = TrainingConfig(
        output_dir=os.fspath(output_dir), model=None if model is None else os.fspath(model), **settings
    )
    return run_training(data, config)
