"""The training loop: steps of accumulated micro-batches, AdamW with linear warm-up and decay, clipping,
mixed precision, checkpoints that resume to the same weights, a JSONL log.

Several processes (launched by `torchrun`, or by a caller that has already initialised
`torch.distributed`) each encode their share of a micro-batch; documents are gathered with their
gradients so every query sees every document of the global micro-batch, and gradients are summed, so
W processes with batch size b train exactly like one process with batch size W·b.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import queue
import random
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.distributed as dist

from lrat.encoder import Encoder
from lrat.training.config import TrainingConfig
from lrat.training.data import (
    Group,
    StepPlan,
    TrainingSet,
    collate,
    load_training_set,
    plan_epoch,
    read_training_frame,
)
from lrat.training.dev import DevReport, compare_with_base, dev_losses, split_dev, weighted_mean
from lrat.training.loss import batch_loss

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.pt"
LOG_FILE = "train_log.jsonl"
# Settings that fix which examples and negatives each step sees; a resumed run must keep them.
PLAN_SETTINGS = ("batch_size", "gradient_accumulation_steps", "group_size", "seed", "shuffle", "epochs")


@dataclasses.dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    steps: int
    examples: int
    final_loss: float
    log_file: Path
    dropped_per_epoch: int
    dev: DevReport | None = None
    false_negatives_dropped: int | None = None


def run_training(data: str | os.PathLike[str] | pl.DataFrame | TrainingSet, config: TrainingConfig) -> TrainResult:
    config.check()
    rank, world = _distributed_setup()
    device = config.device
    if device is None and torch.cuda.is_available():
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if world > 1 else "cuda"
    out = Path(config.output_dir)
    checkpoint = _checkpoint_to_resume(out, config.resume)
    _seed_everything(config.seed)

    encoder = _load_encoder(config, checkpoint, device)
    teacher = _load_teacher(config, encoder.device) if config.distill_base > 0 else None
    sets = _training_sets(data, config, encoder, checkpoint, device, announce=rank == 0 and config.show_progress)
    training_set = sets.training
    model = encoder.model
    plans = _EpochPlans(len(training_set), config, world)

    optimizer = torch.optim.AdamW(_parameter_groups(model, config.weight_decay), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(plans.warmup_steps, plans.total_steps))
    # fp16 needs loss scaling; bf16 has float32's range.
    scaler = torch.amp.GradScaler("cuda") if encoder.autocast_dtype == torch.float16 else None

    start_step = 0
    if checkpoint is not None:
        start_step = _load_state(checkpoint, config, world, optimizer, scheduler, scaler)

    log = _StepLog(out / LOG_FILE, enabled=rank == 0, resumed_at=start_step)
    selection = None
    if sets.dev is not None:
        selection = _Selection(encoder, sets.dev, config, sets.dev_grouped_by, plans.total_steps)
    progress = _progress(config.show_progress and rank == 0, plans.total_steps, start_step)
    loss_value = float("nan")
    examples_done = 0
    window_examples = 0
    window_start = run_start = time.perf_counter()

    try:
        for step, step_weight, prepared in _prefetch(
            _step_batches(training_set, encoder, plans, config, rank, start_step)
        ):
            loss_value, step_examples = _forward_backward(
                encoder, prepared, step_weight, config, scaler, world, teacher
            )
            epoch = step // plans.steps_per_epoch
            if not math.isfinite(loss_value):
                raise FloatingPointError(
                    f"the loss is {loss_value} at step {step + 1} (epoch {epoch + 1}); training stopped. "
                    "Lower the learning rate, raise the temperature, prefer bf16 over fp16, or check the data"
                )
            if step_weight > 0:
                _apply_gradients(model, optimizer, scaler, config.max_grad_norm)
            # A step whose examples all weigh 0 has no gradient; it leaves the weights alone.
            optimizer.zero_grad(set_to_none=True)
            learning_rate = scheduler.get_last_lr()[0]
            scheduler.step()
            examples_done += step_examples
            window_examples += step_examples
            done = step + 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{loss_value:.4f}", lr=f"{learning_rate:.2e}")
            if done % config.log_every == 0 or done == plans.total_steps:
                now = time.perf_counter()
                log.append(
                    {
                        "step": done,
                        "epoch": epoch + 1,
                        "loss": loss_value,
                        "learning_rate": learning_rate,
                        "examples": examples_done,
                        "examples_per_second": window_examples / max(now - window_start, 1e-9),
                        "elapsed_seconds": now - run_start,
                    }
                )
                window_examples, window_start = 0, now
            if selection is not None and selection.due(done):
                log.append({"step": done, "dev_loss": selection.evaluate(done)})
            if config.save_steps and done % config.save_steps == 0 and done < plans.total_steps:
                _save_checkpoint(out, done, encoder, optimizer, scheduler, scaler, config, world, rank)
    finally:
        if progress is not None:
            progress.close()

    dev_report = selection.finish() if selection is not None else None
    if rank == 0:
        _save_model(encoder, config, dev_report)
        summary = {
            "steps": plans.total_steps,
            "examples": examples_done,
            "final_loss": loss_value,
            "config": dataclasses.asdict(config),
            "world_size": world,
            "dev": dev_report.to_dict() if dev_report is not None else None,
            "false_negatives_dropped": sets.false_negatives,
        }
        (out / "lrat_training.json").write_text(json.dumps(summary, indent=2) + "\n")
    if world > 1:
        dist.barrier()
    return TrainResult(
        out,
        plans.total_steps,
        examples_done,
        loss_value,
        log.path,
        plans.first.dropped,
        dev_report,
        sets.false_negatives,
    )


def _load_with_settings(source: str | Path | None, config: TrainingConfig, device: str | None) -> Encoder:
    """`source` loaded with the run's encoding settings (pooling, prefixes, lengths, precision)."""
    return Encoder.load(
        source,
        pooling=config.pooling,  # type: ignore[arg-type]
        normalize=config.normalize,
        query_prefix=config.query_prefix,
        document_prefix=config.document_prefix,
        max_query_length=config.max_query_length,
        max_document_length=config.max_document_length,
        device=device,
        precision=config.precision,
    )


def _load_encoder(config: TrainingConfig, checkpoint: Path | None, device: str | None) -> Encoder:
    """The model to train (the checkpoint's when resuming), in training mode."""
    encoder = _load_with_settings(checkpoint if checkpoint is not None else config.model, config, device)
    model = encoder.model
    if config.gradient_checkpointing:
        # transformers 5 renamed the switch and its keyword; 4 only has the old ones.
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return encoder


def _load_teacher(config: TrainingConfig, device: torch.device) -> Encoder:
    """The base model, frozen, for the distillation term (`distill_base`); the same encoding settings as
    the model that trains."""
    teacher = _load_with_settings(config.model, config, str(device))
    teacher.model.eval()
    teacher.model.requires_grad_(False)
    return teacher


class _EpochPlans:
    """The run's length and each epoch's plan of micro-batches (one epoch's kept at a time)."""

    def __init__(self, examples: int, config: TrainingConfig, world: int):
        self._examples, self._config, self._world = examples, config, world
        self.first = self._plan(0)
        self.steps_per_epoch = len(self.first.steps)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"the training set has {examples} examples, fewer than one per micro-batch and process "
                f"({config.gradient_accumulation_steps * world})"
            )
        total = self.steps_per_epoch * config.epochs
        self.total_steps = total if config.max_steps is None else min(total, config.max_steps)
        self.warmup_steps = math.ceil(config.warmup_ratio * self.total_steps)
        self._current: tuple[int, StepPlan] = (0, self.first)

    def _plan(self, epoch: int) -> StepPlan:
        c = self._config
        return plan_epoch(
            self._examples,
            epoch=epoch,
            seed=c.seed,
            batch_size=c.batch_size,
            accumulation=c.gradient_accumulation_steps,
            world_size=self._world,
            shuffle=c.shuffle,
        )

    def micro_batches(self, step: int) -> tuple[int, list[Any]]:
        """(epoch, the micro-batches of `step`)."""
        epoch, in_epoch = divmod(step, self.steps_per_epoch)
        if self._current[0] != epoch:
            self._current = (epoch, self._plan(epoch))
        return epoch, self._current[1].steps[in_epoch]


_Prepared = list[tuple[Group, dict[str, Any], dict[str, Any]]]


def _step_batches(
    training_set: TrainingSet,
    encoder: Encoder,
    plans: _EpochPlans,
    config: TrainingConfig,
    rank: int,
    start_step: int,
) -> Iterator[tuple[int, float, _Prepared]]:
    """Each step from `start_step` on: its index, the total weight of its examples across processes
    and micro-batches, and this process's micro-batches, collated and tokenised."""
    for step in range(start_step, plans.total_steps):
        epoch, micros = plans.micro_batches(step)
        step_weight = float(sum(training_set.weights[part].sum() for micro in micros for part in micro))
        prepared = []
        for micro in micros:
            group = collate(
                training_set,
                micro[rank],
                group_size=config.group_size,
                seed=config.seed,
                epoch=epoch,
                negative_weights=config.negative_weights,
            )
            prepared.append(
                (
                    group,
                    encoder.tokenize(group.queries, "query", to_device=False),
                    encoder.tokenize(group.documents, "document", to_device=False),
                )
            )
        yield step, step_weight, prepared


def _forward_backward(
    encoder: Encoder,
    prepared: _Prepared,
    step_weight: float,
    config: TrainingConfig,
    scaler: torch.amp.GradScaler | None,
    world: int,
    teacher: Encoder | None = None,
) -> tuple[float, int]:
    """Accumulates one step's gradients (summed across processes); returns the step's loss and the
    number of examples it saw, both over every process."""
    total = torch.zeros((), device=encoder.device)
    if step_weight > 0:
        for group, query_features, document_features in prepared:
            loss = _micro_loss(encoder, group, query_features, document_features, step_weight, config, world, teacher)
            total += loss.detach()
            (scaler.scale(loss) if scaler is not None else loss).backward()
    examples = sum(len(group.queries) for group, _, _ in prepared)
    if world > 1:
        _all_reduce_gradients(encoder.model)
        dist.all_reduce(total)
        counts = torch.tensor([examples], device=encoder.device)
        dist.all_reduce(counts)
        examples = int(counts.item())
    return float(total.item()), examples


def _save_model(encoder: Encoder, config: TrainingConfig, dev_report: DevReport | None) -> None:
    """Writes the trained model (merged with the base one under `merge_base`, unless the dev split
    kept the base model) to the output folder."""
    encoder.model.eval()
    if dev_report is not None and config.show_progress:
        print(dev_report.summary())
    if config.merge_base > 0 and not (dev_report is not None and dev_report.kept_base):
        _merge_with_base(encoder.model, config.model, config.merge_base)
    encoder.save(config.output_dir)


@dataclasses.dataclass
class _TrainingSets:
    training: TrainingSet
    dev: TrainingSet | None
    dev_grouped_by: str
    false_negatives: int | None


def _training_sets(
    data: str | os.PathLike[str] | pl.DataFrame | TrainingSet,
    config: TrainingConfig,
    encoder: Encoder,
    checkpoint: Path | None,
    device: str | None,
    *,
    announce: bool,
) -> _TrainingSets:
    """The training set (and the dev set, with `dev_fraction`), after the false-negative filter. The
    filter's guide is the base model, also when a resumed run's encoder comes from a checkpoint."""
    if isinstance(data, TrainingSet):
        if config.dev_fraction > 0:
            raise ValueError("a dev split needs the training set as a DataFrame or a file, not a TrainingSet")
        return _TrainingSets(data, None, "", None)
    source_name = "the DataFrame" if isinstance(data, pl.DataFrame) else str(Path(data))
    frame = data if isinstance(data, pl.DataFrame) else read_training_frame(data)
    false_negatives = None
    if config.false_negative_margin is not None:
        guide = encoder if checkpoint is None else Encoder.load(config.model, device=device, precision=config.precision)
        frame, false_negatives = _filter_false_negatives(frame, guide, config.false_negative_margin)
        if announce:
            print(
                f"false-negative filter: dropped {false_negatives} negatives scored above "
                f"{config.false_negative_margin:g}× their positive by the base model"
            )
    if config.dev_fraction <= 0:
        return _TrainingSets(load_training_set(frame, name=source_name), None, "", false_negatives)
    train_frame, dev_frame, grouped_by = split_dev(frame, config.dev_fraction, config.seed)
    return _TrainingSets(
        load_training_set(train_frame, name=f"{source_name} (training part)"),
        load_training_set(dev_frame, name=f"{source_name} (dev part)"),
        grouped_by,
        false_negatives,
    )


class _StepLog:
    """`training_log.jsonl`, one JSON line per logged step, written by the first process only. A resumed
    run trains the steps after its checkpoint again, so their old lines go."""

    def __init__(self, path: Path, *, enabled: bool, resumed_at: int):
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if resumed_at == 0 or not path.is_file():
            path.write_text("")
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(l for l in lines if l.strip() and json.loads(l).get("step", 0) <= resumed_at))

    def append(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def _apply_gradients(model: torch.nn.Module, optimizer: Any, scaler: Any, max_grad_norm: float | None) -> None:
    if scaler is not None:
        scaler.unscale_(optimizer)
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _filter_false_negatives(frame: pl.DataFrame, guide: Encoder, margin: float) -> tuple[pl.DataFrame, int]:
    """The false-negative filter on a training frame; a frame without complete ids is keyed by text
    (and loses its partial `neg_id`, which no longer lines up)."""
    from lrat.negatives import filter_false_negatives

    if not {"query", "pos", "neg"} <= set(frame.columns):
        return frame, 0
    with_ids = all(c in frame.columns and frame[c].null_count() == 0 for c in ("pos_id", "neg_id"))
    if with_ids:
        return filter_false_negatives(frame, guide, relative_margin=margin)
    keyed = frame.with_columns(pl.col("pos").alias("pos_id"), pl.col("neg").alias("neg_id"))
    filtered, dropped = filter_false_negatives(keyed, guide, relative_margin=margin)
    filtered = filtered.drop("pos_id", "neg_id")
    if "pos_id" in frame.columns:
        filtered = filtered.with_columns(frame["pos_id"])
    return filtered, dropped


class _Selection:
    """Dev evaluations during a run: the base model's loss first, then every `eval_steps` steps and at
    the end; the best state is kept in memory and restored by `finish`."""

    def __init__(self, encoder: Encoder, dev: TrainingSet, config: TrainingConfig, grouped_by: str, total: int):
        self.encoder, self.dev, self.config, self.total = encoder, dev, config, total
        self.every = config.eval_steps or max(1, math.ceil(total / 5))
        self.base_state = _state_copy(encoder.model)
        self.base_losses = self._losses()
        self.report = DevReport(len(dev), grouped_by, weighted_mean(self.base_losses, dev.weights))
        self.best_losses: np.ndarray | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def _losses(self) -> np.ndarray:
        return dev_losses(self.encoder, self.dev, temperature=self.config.temperature)

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.total

    def evaluate(self, step: int) -> float:
        losses = self._losses()
        loss = weighted_mean(losses, self.dev.weights)
        self.report.evaluations.append({"step": step, "loss": loss})
        if self.report.best_loss is None or loss < self.report.best_loss:
            self.report.best_step, self.report.best_loss = step, loss
            self.best_losses, self.best_state = losses, _state_copy(self.encoder.model)
        return loss

    def finish(self) -> DevReport:
        model = self.encoder.model
        if self.best_state is None:
            return self.report
        self.report.versus_base = compare_with_base(self.best_losses, self.base_losses, self.config.seed)
        worse = self.report.versus_base.low > 0
        self.report.kept_base = self.config.keep_base_if_worse and worse
        model.load_state_dict(self.base_state if self.report.kept_base else self.best_state)
        return self.report


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _merge_with_base(model: torch.nn.Module, base: str | None, share: float) -> None:
    """Moves every floating-point parameter and buffer `share` of the way back to the base model's."""
    base_state = Encoder.load(base, device="cpu").model.state_dict()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name in base_state and value.is_floating_point():
                value.mul_(1.0 - share).add_(base_state[name].to(value.device, value.dtype), alpha=share)


def _micro_loss(
    encoder: Encoder,
    group: Group,
    query_features: dict[str, torch.Tensor],
    document_features: dict[str, torch.Tensor],
    step_weight: float,
    config: TrainingConfig,
    world: int,
    teacher: Encoder | None = None,
) -> torch.Tensor:
    device = encoder.device
    query_features = {k: v.to(device, non_blocking=True) for k, v in query_features.items()}
    document_features = {k: v.to(device, non_blocking=True) for k, v in document_features.items()}
    with encoder.autocast():
        queries = encoder.embed(query_features)
        documents = encoder.embed(document_features)
    teacher_vectors = None
    if teacher is not None:
        with torch.no_grad(), teacher.autocast():
            teacher_vectors = (teacher.embed(query_features), teacher.embed(document_features))
    batch = {
        "targets": torch.as_tensor(group.targets, device=device),
        "weights": torch.as_tensor(group.weights, device=device),
        "query_keys": torch.as_tensor(group.query_keys, device=device),
        "positive_keys": torch.as_tensor(group.positive_keys, device=device),
        "document_keys": torch.as_tensor(group.document_keys, device=device),
        "document_owners": torch.as_tensor(group.document_owners, device=device),
        "document_weights": torch.as_tensor(group.document_weights, device=device),
    }
    return batch_loss(
        queries,
        documents,
        batch,
        temperature=config.temperature,
        weight_total=step_weight,
        mask_false_negatives=config.mask_false_negatives,
        in_batch_weight=None if config.negative_weights is None else config.negative_weights.in_batch,
        distributed=world > 1,
        teacher=teacher_vectors,
        distill_weight=config.distill_base,
    )


def _distributed_setup() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce_gradients(model: torch.nn.Module) -> None:
    """Sum every gradient over processes in one collective."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _linear_schedule(warmup_steps: int, total_steps: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(
    out: Path,
    step: int,
    encoder: Encoder,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    config: TrainingConfig,
    world: int,
    rank: int,
) -> None:
    # Everything goes into a `.partial` folder, renamed into place only once complete: a run killed
    # mid-save leaves no checkpoint that looks whole. Every process's RNG state matters (dropout
    # differs per process); each writes its own.
    folder = out / CHECKPOINTS / f"step-{step:08d}"
    partial = folder.with_name(folder.name + ".partial")
    if rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    if world > 1:
        dist.barrier()
    torch.save(_rng_state(), partial / f"rng_state_{rank}.pt")
    if world > 1:
        dist.barrier()
    if rank == 0:
        encoder.save(partial)
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "plan": {name: getattr(config, name) for name in PLAN_SETTINGS},
                "world_size": world,
                "max_steps": config.max_steps,
            },
            partial / STATE_FILE,
        )
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        kept = sorted(p for p in (out / CHECKPOINTS).glob("step-*") if not p.name.endswith(".partial"))
        for old in kept[: -config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    if world > 1:
        dist.barrier()


def _complete(checkpoint: Path) -> bool:
    """The checkpoint has its trainer state and the RNG state of every process that wrote it."""
    if not (checkpoint / STATE_FILE).is_file():
        return False
    try:
        world = int(torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)["world_size"])
    except Exception:  # noqa: BLE001 - a truncated or foreign file makes the checkpoint incomplete
        return False
    return all((checkpoint / f"rng_state_{r}.pt").is_file() for r in range(world))


def _checkpoint_to_resume(out: Path, resume: bool | str) -> Path | None:
    if resume is False or resume is None or resume == "":
        return None
    if resume is True:
        found = sorted(p for p in (out / CHECKPOINTS).glob("step-*") if p.is_dir() and not p.name.endswith(".partial"))
        complete = [p for p in found if _complete(p)]
        if not complete:
            raise FileNotFoundError(f"nothing to resume: {out / CHECKPOINTS} holds no complete checkpoint")
        skipped = [p.name for p in found if p > complete[-1]]
        if skipped:
            print(f"resuming from {complete[-1].name}: {', '.join(skipped)} lack their trainer or RNG state")
        return complete[-1]
    path = Path(resume)
    if not _complete(path):
        raise FileNotFoundError(f"{path} is not a complete checkpoint (its {STATE_FILE} or an RNG state is missing)")
    return path


def _load_state(
    checkpoint: Path, config: TrainingConfig, world: int, optimizer: Any, scheduler: Any, scaler: Any
) -> int:
    state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
    for name, saved in state["plan"].items():
        if getattr(config, name) != saved:
            raise ValueError(
                f"{checkpoint}: was written with {name}={saved!r}, this run has {getattr(config, name)!r}; "
                "a resumed run must keep the settings that order the data"
            )
    if state["world_size"] != world:
        raise ValueError(f"{checkpoint}: was written by {state['world_size']} processes, this run has {world}")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    rank = dist.get_rank() if world > 1 else 0
    _set_rng_state(torch.load(checkpoint / f"rng_state_{rank}.pt", map_location="cpu", weights_only=False))
    return int(state["step"])


def _progress(enabled: bool, total: int, start: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


_DONE = object()


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run `items` on a background thread (tokenisation releases the GIL) `depth` items ahead."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            buffer.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
