"""`TrainingConfig`: every setting of a training run, with its check and its `lrat train` flag."""

from __future__ import annotations

import dataclasses
import math

from lrat.encoder import POOLINGS
from lrat.options import check_choices, option
from lrat.precision import PRECISIONS
from lrat.training.data import NegativeWeights

_LOSS = "loss"
_SELECTION = "model selection"
_OPTIMISATION = "optimisation"
_ENCODER = "encoder"
_CHECKPOINTS = "checkpoints and logging"


@dataclasses.dataclass
class TrainingConfig:
    """Every setting of a run. `batch_size` is per process and per micro-batch: the examples whose
    documents serve as each other's in-batch negatives (gathered over processes)."""

    output_dir: str
    model: str | None = None
    epochs: int = option(1, "--epochs", "passes over the training set", group=_OPTIMISATION)
    max_steps: int | None = option(None, "--max-steps", "stop after this many optimizer steps", group=_OPTIMISATION)
    batch_size: int = option(16, "--batch-size", "examples per micro-batch and process", group=_OPTIMISATION)
    group_size: int = option(4, "--group-size", "1 positive + (N-1) trajectory negatives", group=_LOSS)
    temperature: float = option(0.05, "--temperature", "softmax temperature τ", group=_LOSS)
    learning_rate: float = option(2e-5, "--lr", "peak learning rate (AdamW)", group=_OPTIMISATION)
    """Batch size, group size, τ and learning rate are the bench's measured recipe (`lrat.bench.TrainingBudget`
    reads them from here). On the quality issue's first split lr 1e-4 with τ 0.02 left held-out question
    Recall@10 below base (0.829 against 0.846), lr 2e-5 with τ 0.05 above it (0.857)."""
    weight_decay: float = option(
        0.01, "--weight-decay", "AdamW weight decay (not on biases and norms)", group=_OPTIMISATION
    )
    warmup_ratio: float = option(0.1, "--warmup-ratio", "share of the steps with a linear warm-up", group=_OPTIMISATION)
    gradient_accumulation_steps: int = option(
        1, "--grad-accum", "micro-batches per optimizer step", group=_OPTIMISATION
    )
    max_grad_norm: float | None = option(
        1.0,
        "--max-grad-norm",
        "gradient clipping norm; 0 turns clipping off",
        group=_OPTIMISATION,
        convert=lambda v: v or None,
    )
    precision: str = option(
        "auto",
        "--precision",
        "auto: bf16 where the GPU or CPU computes it natively (AVX512-BF16, AMX), else fp16 on GPUs, fp32 on CPUs",
        group=_OPTIMISATION,
        choices=PRECISIONS,
    )
    gradient_checkpointing: bool = option(
        False,
        "--gradient-checkpointing",
        "recompute activations in the backward pass (less memory)",
        group=_OPTIMISATION,
    )
    mask_false_negatives: bool = option(
        True,
        "--no-false-negative-mask",
        "let known positives of a query count as its in-batch negatives",
        group=_LOSS,
        negates=True,
    )
    negative_weights: NegativeWeights | None = option(
        None,
        "--negative-weights",
        "tiered negative weights: opened and rejected, skipped above an opened result, seen below, in-batch "
        "(from the set's neg_tier column); 'iter' for 3,1,0.3,0.3 (default: every negative counts once)",
        group=_LOSS,
        metavar="R,A,B,I",
    )
    """Tiered negative weights (rejected, skipped above, seen below, in-batch); None: every negative
    counts once. The tiers come from the set's `neg_tier` column (`lrat mine` writes it); without it
    only the in-batch weight applies."""
    false_negative_margin: float | None = option(
        None,
        "--fn-margin",
        "drop each negative the base model scores above M× its positive (false negatives; NV-Retriever: 0.95)",
        group=_LOSS,
        metavar="M",
        off_flag="--no-fn-filter",
        off_help="keep every negative (the default)",
    )
    """Before training, drop each negative that the base model scores above this fraction of its
    positive (`lrat.negatives`, NV-Retriever's relative margin, 0.95 there); None (the default) keeps
    every negative. Applies to training sets given as a DataFrame or a file. Off by default: `lrat mine`
    already keeps documents the agent accepted out of the negatives, after which the filter caught no
    evidence on the bench and dropped the hardest true negatives, at a cost (docs/benchmarks.md). Turn
    it on for a set whose negatives nothing else cleaned."""
    dev_fraction: float = option(
        0.0,
        "--dev-fraction",
        "hold out this share of the trajectories as a dev split: keep the best evaluated step, and the base "
        "model when that step is worse than base beyond its interval",
        group=_SELECTION,
        metavar="F",
    )
    """Share of the trajectories (else questions, else queries) held out of training as a dev split
    (`lrat.training.dev`): the run keeps its best evaluated step, and the base model when that step is
    worse than base beyond its interval. 0: no dev split, the last step is kept."""
    eval_steps: int = option(0, "--eval-steps", "steps between dev evaluations (0: five per run)", group=_SELECTION)
    keep_base_if_worse: bool = option(
        True,
        "--no-keep-base",
        "with a dev split, keep the best trained step even when it is worse than base",
        group=_SELECTION,
        negates=True,
    )
    """With a dev split: keep the base weights when the selected model's dev loss is worse than the
    base model's with a 95% interval above 0."""
    merge_base: float = option(
        0.0,
        "--merge-base",
        "after training, move the weights ALPHA of the way back to the base model's (WiSE-FT)",
        group=_OPTIMISATION,
        metavar="ALPHA",
    )
    """Weight interpolation with the base model after training (WiSE-FT): the saved weights are
    `merge_base · base + (1 − merge_base) · trained`; 0 keeps the trained weights."""
    distill_base: float = option(
        1.0,
        "--distill-base",
        "add LAMBDA × KL(base ‖ trained) over each query's negatives to the loss: lift the positive, keep the "
        "base model's ranking of the rest",
        group=_LOSS,
        metavar="LAMBDA",
    )
    """Weight λ of the distillation term (`lrat.training.loss`): each example also pays λ · KL between the
    frozen base model's softmax and the trained model's over its batch columns other than its positive.
    0 turns it off (and loads no second model). 1 is the bench's measured choice (docs/benchmarks.md)."""
    seed: int = option(42, "--seed", "seed of the example order and of the negatives' sampling", group=_OPTIMISATION)
    shuffle: bool = option(True, "--no-shuffle", "keep the examples in file order", group=_OPTIMISATION, negates=True)
    save_steps: int = option(0, "--save-steps", "checkpoint every N steps (0: only the end)", group=_CHECKPOINTS)
    keep_checkpoints: int = option(2, "--keep-checkpoints", "checkpoints kept (the latest ones)", group=_CHECKPOINTS)
    resume: bool | str = option(
        False,
        "--resume",
        "continue from the latest checkpoint in OUT (or the one named)",
        group=_CHECKPOINTS,
        metavar="CHECKPOINT",
        const=True,
    )
    log_every: int = option(10, "--log-every", "steps between lines of OUT/train_log.jsonl", group=_CHECKPOINTS)
    show_progress: bool = option(True, "--quiet", "no progress bar", group=_CHECKPOINTS, negates=True)
    device: str | None = option(
        None, "--device", "cpu, cuda, cuda:1, … (default: CUDA when present)", group=_OPTIMISATION
    )
    pooling: str | None = option(None, "--pooling", "default: the model's own", group=_ENCODER, choices=POOLINGS)
    normalize: bool | None = None
    query_prefix: str | None = option(
        None, "--query-prefix", "text put before every query (an instruction)", group=_ENCODER
    )
    document_prefix: str | None = option(None, "--document-prefix", "text put before every document", group=_ENCODER)
    max_query_length: int | None = option(None, "--max-query-length", "tokens kept of a query", group=_ENCODER)
    max_document_length: int | None = option(None, "--max-document-length", "tokens kept of a document", group=_ENCODER)

    def check(self) -> None:
        positive = ("epochs", "batch_size", "group_size", "gradient_accumulation_steps", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio must be within [0, 1], got {self.warmup_ratio}")
        check_choices(self)
        if not 0 <= self.merge_base <= 1:
            raise ValueError(f"merge_base must be within [0, 1], got {self.merge_base}")
        if not (self.distill_base >= 0 and math.isfinite(self.distill_base)):
            raise ValueError(f"distill_base must be a finite number ≥ 0, got {self.distill_base}")
        if isinstance(self.negative_weights, (str, tuple, list)):
            weights = self.negative_weights
            self.negative_weights = (
                NegativeWeights.parse(weights) if isinstance(weights, str) else NegativeWeights(*weights)
            )
        if self.save_steps < 0 or self.keep_checkpoints < 1:
            raise ValueError("save_steps must be ≥ 0 and keep_checkpoints ≥ 1")
        if not 0 <= self.dev_fraction < 1:
            raise ValueError(f"dev_fraction must be within [0, 1), got {self.dev_fraction}")
        if self.eval_steps < 0:
            raise ValueError(f"eval_steps must be ≥ 0, got {self.eval_steps}")
        if self.false_negative_margin is not None and not self.false_negative_margin > 0:
            raise ValueError(f"false_negative_margin must be positive (or None), got {self.false_negative_margin}")
        if self.dev_fraction > 0 and self.resume:
            raise ValueError("a run with a dev split cannot resume from a checkpoint (its selection lives in memory)")
