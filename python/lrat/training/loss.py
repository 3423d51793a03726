"""Weighted InfoNCE (docs/method.md §4), on one process or across several with cross-device negatives.

For query i with positive column t_i among all documents of the (global) batch,
    CE_i = −log softmax(s(q_i, ·) / τ)[t_i],      L = Σ_i w_i · CE_i / Σ_i w_i.
Every document of the batch is a candidate for every query: its own trajectory negatives and everything
the other examples brought. Columns that are known positives of the query (the same document, or the
positive of another example with the same query) are masked instead of being pushed away. Optional
negative weights v_ij count column j of row i v_ij times in the denominator (its logit gains log v_ij):
the tier weight of the row's own negatives, one weight for every other example's documents.

With a teacher (the frozen base model) and a weight λ, each row also pays λ · KL(p_teacher ‖ p_model),
both distributions taken over the row's columns other than its positive and the masked ones: the model
learns to lift the positive while keeping the teacher's ranking of everything else, which is what keeps
the evidence that the base model placed in the middle of a ranking from being pushed out.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist


def weighted_info_nce(
    queries: torch.Tensor,
    documents: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    *,
    temperature: float,
    mask: torch.Tensor | None = None,
    weight_total: torch.Tensor | float | None = None,
    log_column_weights: torch.Tensor | None = None,
    teacher_logits: torch.Tensor | None = None,
    distill_weight: float = 0.0,
) -> torch.Tensor:
    """Σ_i w_i · (CE_i + λ · KL_i) / W over the rows of `queries`.

    queries (B, h) and documents (D, h) are the vectors (normalised for cosine similarity); targets (B,)
    the column of each query's positive; weights (B,); mask (B, D) True where a column must not count for
    that row (never at its target). W is `weight_total` when given (the Σw of a larger batch that this
    one is a part of), else Σ weights. `log_column_weights` (B, D), 0 at each target, is added to the
    logits: a negative of weight v counts as v copies of itself. `teacher_logits` (B, D), the teacher's
    similarities over τ, and `distill_weight` λ add the distillation term KL_i (module docstring).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    similarities = queries.float() @ documents.float().T / temperature
    logits = similarities if log_column_weights is None else similarities + log_column_weights
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    rows = torch.arange(logits.shape[0], device=logits.device)
    ce = torch.logsumexp(logits, dim=1) - logits[rows, targets]
    if teacher_logits is not None and distill_weight > 0:
        ce = ce + distill_weight * _kl_off_target(teacher_logits.float(), similarities, rows, targets, mask)
    w = weights.to(ce.dtype)
    total = w.sum() if weight_total is None else weight_total
    return (w * ce).sum() / total


def _kl_off_target(
    teacher: torch.Tensor, student: torch.Tensor, rows: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """KL(teacher ‖ student) per row over the columns that are neither the row's target nor masked (0 for
    a row with fewer than two such columns)."""
    excluded = torch.zeros_like(student, dtype=torch.bool) if mask is None else mask.clone()
    excluded[rows, targets] = True
    teacher = teacher.masked_fill(excluded, float("-inf"))
    student = student.masked_fill(excluded, float("-inf"))
    log_p = torch.log_softmax(teacher, dim=1)
    log_q = torch.log_softmax(student, dim=1)
    terms = torch.where(excluded, torch.zeros_like(log_p), log_p.exp() * (log_p - log_q))
    kl = terms.sum(dim=1)
    return torch.where((~excluded).sum(dim=1) >= 2, kl, torch.zeros_like(kl))


def false_negative_mask(
    query_keys: torch.Tensor,
    positive_keys: torch.Tensor,
    document_keys: torch.Tensor,
    targets: torch.Tensor,
    *,
    row_query_keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """(R, D) True where column j holds a positive of row r's query other than r's own target column.

    The positives of a query are the positives of every example in the batch with the same query key.
    query_keys and positive_keys (B,) cover all examples of the batch; document_keys (D,) all columns;
    `row_query_keys` (R,) are the rows' queries when the rows are a slice of the batch (default: all).
    """
    rows = query_keys if row_query_keys is None else row_query_keys
    same_query = (rows[:, None] == query_keys[None, :]).to(torch.float32)  # (R, B)
    is_positive_of = (positive_keys[:, None] == document_keys[None, :]).to(torch.float32)  # (B, D)
    mask = (same_query @ is_positive_of) > 0
    mask[torch.arange(mask.shape[0], device=mask.device), targets] = False
    return mask


class _AllGatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradients of every process and returns this process's slice."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> tuple[torch.Tensor, ...]:
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
        dist.all_gather(gathered, tensor.contiguous(), group=group)
        return tuple(gathered)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor, None]:
        stacked = torch.stack([g.contiguous() for g in grads])
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM, group=ctx.group)
        return stacked[ctx.rank], None


def gather_with_grad(tensor: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Concatenate `tensor` (n_r, …) of every process, n_r varying; gradients flow back to each process."""
    sizes = _gather_sizes(tensor.shape[0], tensor.device, group)
    largest = max(sizes)
    padded = tensor
    if tensor.shape[0] < largest:
        pad = tensor.new_zeros((largest - tensor.shape[0], *tensor.shape[1:]))
        padded = torch.cat([tensor, pad])
    parts = _AllGatherWithGrad.apply(padded, group)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


def gather_no_grad(tensor: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Concatenate `tensor` (n_r, …) of every process, n_r varying; no gradient."""
    with torch.no_grad():
        return gather_with_grad(tensor.detach(), group)


def _gather_sizes(n: int, device: torch.device, group: Any) -> list[int]:
    size = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.empty_like(size) for _ in range(dist.get_world_size(group))]
    dist.all_gather(sizes, size, group=group)
    return [int(s.item()) for s in sizes]


def batch_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    batch: dict[str, torch.Tensor],
    *,
    temperature: float,
    weight_total: torch.Tensor | float | None = None,
    mask_false_negatives: bool = True,
    in_batch_weight: float | None = None,
    distributed: bool = False,
    group: Any = None,
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
    distill_weight: float = 0.0,
) -> torch.Tensor:
    """Weighted InfoNCE of this process's queries against every document of the batch.

    `batch` carries `targets` (positive column per query, local), `weights`, and for the false-negative
    guard `query_keys`, `positive_keys`, `document_keys`. With `in_batch_weight`, it also carries
    `document_owners` (the row that brought each document) and `document_weights` (their weights for
    that row); every other row weighs the column `in_batch_weight`. With `distributed`, documents and keys of all
    processes are gathered (documents keeping their gradients) and the result is this process's share:
    summed over processes it is the loss of the global batch, with `weight_total` the global Σw (when not
    given it is gathered too). `teacher` holds the frozen base model's (queries, documents) vectors of the
    same rows and columns, for the distillation term of weight `distill_weight`.
    """
    targets = batch["targets"]
    weights = batch["weights"]
    query_keys = batch["query_keys"]
    positive_keys = batch["positive_keys"]
    document_keys = batch["document_keys"]
    row_query_keys = None
    weighted = in_batch_weight is not None
    if weighted:
        owners = batch["document_owners"]
        column_weights = batch["document_weights"]
        rows = torch.arange(queries.shape[0], device=queries.device)
    if distributed:
        rank = dist.get_rank(group)
        doc_counts = _gather_sizes(documents.shape[0], documents.device, group)
        targets = targets + sum(doc_counts[:rank])
        if weighted:
            row_counts = _gather_sizes(queries.shape[0], queries.device, group)
            first_rows = torch.tensor([0, *row_counts[:-1]], device=owners.device).cumsum(0)
            owners = gather_no_grad(owners + first_rows[rank], group)
            column_weights = gather_no_grad(column_weights, group)
            rows = rows + int(first_rows[rank])
        documents = gather_with_grad(documents, group)
        if teacher is not None:
            teacher = (teacher[0], gather_no_grad(teacher[1], group))
        document_keys = gather_no_grad(document_keys, group)
        row_query_keys = query_keys
        query_keys = gather_no_grad(query_keys, group)
        positive_keys = gather_no_grad(positive_keys, group)
        if weight_total is None:
            weight_total = gather_no_grad(weights, group).to(torch.float32).sum()
    mask = None
    if mask_false_negatives:
        mask = false_negative_mask(query_keys, positive_keys, document_keys, targets, row_query_keys=row_query_keys)
    log_column_weights = None
    if weighted:
        own = rows[:, None] == owners[None, :]
        log_column_weights = torch.where(
            own,
            column_weights.float().log()[None, :],
            torch.full_like(own, math.log(in_batch_weight), dtype=torch.float32),
        )
    teacher_logits = None
    if teacher is not None and distill_weight > 0:
        teacher_logits = teacher[0].float() @ teacher[1].float().T / temperature
    return weighted_info_nce(
        queries,
        documents,
        targets,
        weights,
        temperature=temperature,
        mask=mask,
        weight_total=weight_total,
        log_column_weights=log_column_weights,
        teacher_logits=teacher_logits,
        distill_weight=distill_weight,
    )
