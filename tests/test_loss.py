"""Weighted InfoNCE against the formula of docs/method.md §4, the false-negative guard, and the distributed path."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from lrat.training.loss import batch_loss, false_negative_mask, weighted_info_nce  # noqa: E402


def _random_batch(seed: int, queries: int = 5, documents: int = 17, dim: int = 8):
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(queries, dim, generator=g), dim=-1)
    d = F.normalize(torch.randn(documents, dim, generator=g), dim=-1)
    targets = torch.randperm(documents, generator=g)[:queries]
    weights = torch.rand(queries, generator=g) * 2
    return q, d, targets, weights


def _formula(q, d, targets, weights, tau, mask=None) -> float:
    """L = Σ_i w_i · (−log softmax(s(q_i, ·)/τ)[t_i]) / Σ_i w_i, written out term by term."""
    q, d = q.double().numpy(), d.double().numpy()
    total = 0.0
    for i in range(q.shape[0]):
        scores = [float(q[i] @ d[j]) / tau for j in range(d.shape[0]) if mask is None or not mask[i, j]]
        top = max(scores)
        log_denominator = top + math.log(sum(math.exp(s - top) for s in scores))
        ce = log_denominator - float(q[i] @ d[int(targets[i])]) / tau
        total += float(weights[i]) * ce
    return total / float(weights.sum())


@pytest.mark.parametrize("tau", [0.02, 0.05, 1.0])
def test_loss_matches_the_formula(tau):
    q, d, targets, weights = _random_batch(1)
    loss = weighted_info_nce(q, d, targets, weights, temperature=tau)
    assert loss.item() == pytest.approx(_formula(q, d, targets, weights, tau), rel=1e-5)


def test_loss_with_a_mask_matches_the_formula_without_the_masked_columns():
    q, d, targets, weights = _random_batch(2)
    mask = torch.rand(q.shape[0], d.shape[0], generator=torch.Generator().manual_seed(3)) < 0.3
    mask[torch.arange(q.shape[0]), targets] = False
    loss = weighted_info_nce(q, d, targets, weights, temperature=0.02, mask=mask)
    assert loss.item() == pytest.approx(_formula(q, d, targets, weights, 0.02, mask.numpy()), rel=1e-5)


def test_unit_weights_give_plain_info_nce():
    q, d, targets, _ = _random_batch(4)
    loss = weighted_info_nce(q, d, targets, torch.ones(q.shape[0]), temperature=0.02)
    plain = F.cross_entropy(q @ d.T / 0.02, targets)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)


def test_weights_scale_each_example_and_normalise_by_their_sum():
    q, d, targets, weights = _random_batch(5)
    per_example = F.cross_entropy(q @ d.T / 0.02, targets, reduction="none")
    loss = weighted_info_nce(q, d, targets, weights, temperature=0.02)
    assert loss.item() == pytest.approx(((weights * per_example).sum() / weights.sum()).item(), rel=1e-6)
    # Multiplying all weights by a constant changes nothing: only relative intensity matters.
    assert weighted_info_nce(q, d, targets, 7 * weights, temperature=0.02).item() == pytest.approx(loss.item())


def test_an_example_of_weight_zero_gets_no_gradient_and_adds_nothing():
    q, d, targets, weights = _random_batch(6)
    weights[2] = 0.0
    q = q.clone().requires_grad_(True)
    loss = weighted_info_nce(q, d, targets, weights, temperature=0.02)
    loss.backward()
    assert torch.count_nonzero(q.grad[2]) == 0
    assert torch.count_nonzero(q.grad[0]) > 0
    keep = torch.tensor([0, 1, 3, 4])
    without = weighted_info_nce(q[keep], d, targets[keep], weights[keep], temperature=0.02)
    assert loss.item() == pytest.approx(without.item(), rel=1e-6)


def test_weight_total_of_a_larger_batch_splits_the_loss_into_parts_that_add_up():
    q, d, targets, weights = _random_batch(7)
    whole = weighted_info_nce(q, d, targets, weights, temperature=0.05)
    parts = [
        weighted_info_nce(q[s], d, targets[s], weights[s], temperature=0.05, weight_total=weights.sum())
        for s in (slice(0, 2), slice(2, 5))
    ]
    assert sum(p.item() for p in parts) == pytest.approx(whole.item(), rel=1e-6)


def test_temperature_must_be_positive():
    q, d, targets, weights = _random_batch(8)
    with pytest.raises(ValueError, match="temperature"):
        weighted_info_nce(q, d, targets, weights, temperature=0.0)


def test_false_negative_mask_hides_other_positives_of_the_same_query_only():
    # Examples 0 and 1 share a query (keys 10) with positives 100 and 101; example 2 (query 11) has
    # positive 102 and brought document 100 as one of its negatives.
    query_keys = torch.tensor([10, 10, 11])
    positive_keys = torch.tensor([100, 101, 102])
    # columns: 0:pos of ex0, 1:neg, 2:pos of ex1, 3:pos of ex2, 4:neg (= doc 100), 5:neg (= doc 101)
    document_keys = torch.tensor([100, 900, 101, 102, 100, 101])
    targets = torch.tensor([0, 2, 3])
    mask = false_negative_mask(query_keys, positive_keys, document_keys, targets)
    expected = torch.tensor(
        [
            [False, False, True, False, True, True],  # query 10: 101 and the extra copies are its positives
            [True, False, False, False, True, True],
            [False, False, False, False, False, False],  # query 11: 100 and 101 are genuine negatives
        ]
    )
    assert torch.equal(mask, expected)


def test_a_negative_of_weight_two_counts_as_that_negative_twice():
    q, d, targets, weights = _random_batch(12, queries=3, documents=6)
    targets = torch.tensor([0, 1, 2])
    log_w = torch.zeros(3, 6)
    log_w[:, 4] = math.log(2.0)
    weighted = weighted_info_nce(q, d, targets, weights, temperature=0.05, log_column_weights=log_w)
    doubled = weighted_info_nce(q, torch.cat([d, d[4:5]]), targets, weights, temperature=0.05)
    assert weighted.item() == pytest.approx(doubled.item(), rel=1e-6)


def _tiered_formula(q, d, targets, weights, tau, owners, column_weights, in_batch) -> float:
    """Σ_i w_i · (log Σ_j v_ij e^{s_ij/τ} − s_it/τ) / Σ w, v_ij the column's weight for its own row
    and `in_batch` for every other row."""
    q, d = q.double().numpy(), d.double().numpy()
    total = 0.0
    for i in range(q.shape[0]):
        v = [float(column_weights[j]) if int(owners[j]) == i else in_batch for j in range(d.shape[0])]
        denominator = sum(v[j] * math.exp(float(q[i] @ d[j]) / tau) for j in range(d.shape[0]))
        total += float(weights[i]) * (math.log(denominator) - float(q[i] @ d[int(targets[i])]) / tau)
    return total / float(weights.sum())


def test_tiered_negative_weights_follow_the_formula():
    q, d, _, weights = _random_batch(13, queries=3, documents=9)
    batch = {
        "targets": torch.tensor([0, 3, 6]),
        "weights": weights,
        "query_keys": torch.tensor([1, 2, 3]),
        "positive_keys": torch.tensor([100, 101, 102]),
        "document_keys": torch.tensor([100, 900, 901, 101, 902, 903, 102, 904, 905]),
        "document_owners": torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]),
        "document_weights": torch.tensor([1.0, 3.0, 0.3, 1.0, 1.0, 3.0, 1.0, 0.3, 0.3]),
    }
    loss = batch_loss(q, d, batch, temperature=0.05, in_batch_weight=0.3)
    expected = _tiered_formula(
        q, d, batch["targets"], weights, 0.05, batch["document_owners"], batch["document_weights"], 0.3
    )
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    plain = batch_loss(q, d, batch, temperature=0.05)
    assert plain.item() == pytest.approx(_formula(q, d, batch["targets"], weights, 0.05), rel=1e-5)


def test_batch_loss_applies_the_mask_unless_told_not_to():
    q, d, _, weights = _random_batch(9, queries=3, documents=6)
    batch = {
        "targets": torch.tensor([0, 2, 3]),
        "weights": weights,
        "query_keys": torch.tensor([10, 10, 11]),
        "positive_keys": torch.tensor([100, 101, 102]),
        "document_keys": torch.tensor([100, 900, 101, 102, 100, 101]),
    }
    masked = batch_loss(q, d, batch, temperature=0.05)
    unmasked = batch_loss(q, d, batch, temperature=0.05, mask_false_negatives=False)
    mask = false_negative_mask(
        batch["query_keys"], batch["positive_keys"], batch["document_keys"], batch["targets"]
    ).numpy()
    assert masked.item() == pytest.approx(_formula(q, d, batch["targets"], weights, 0.05, mask), rel=1e-5, abs=1e-6)
    assert unmasked.item() == pytest.approx(_formula(q, d, batch["targets"], weights, 0.05), rel=1e-5, abs=1e-6)
    assert masked.item() < unmasked.item()


def _distillation_formula(q, d, teacher, targets, weights, tau, lam, mask=None) -> float:
    """Σ_i w_i · (CE_i + λ · Σ_j p_ij · log(p_ij / q_ij)) / Σ_i w_i, with p (teacher) and q (model) the
    softmaxes over row i's columns other than its target and the masked ones, written out term by term."""
    q, d = q.double().numpy(), d.double().numpy()
    teacher = teacher.double().numpy()
    total = 0.0
    for i in range(q.shape[0]):
        kept = [j for j in range(d.shape[0]) if mask is None or not mask[i, j]]
        scores = [float(q[i] @ d[j]) / tau for j in kept]
        ce = math.log(sum(math.exp(s) for s in scores)) - float(q[i] @ d[int(targets[i])]) / tau
        others = [j for j in kept if j != int(targets[i])]
        t_norm = sum(math.exp(teacher[i, j]) for j in others)
        s_norm = sum(math.exp(float(q[i] @ d[j]) / tau) for j in others)
        kl = 0.0
        for j in others:
            p_ij = math.exp(teacher[i, j]) / t_norm
            kl += p_ij * math.log(p_ij / (math.exp(float(q[i] @ d[j]) / tau) / s_norm))
        total += float(weights[i]) * (ce + lam * kl)
    return total / float(weights.sum())


@pytest.mark.parametrize("masked", [False, True])
def test_distillation_adds_the_kl_of_teacher_and_model_over_each_rows_negatives(masked):
    q, d, targets, weights = _random_batch(12)
    teacher = torch.randn(q.shape[0], d.shape[0], generator=torch.Generator().manual_seed(13)) * 4
    mask = None
    if masked:
        mask = torch.rand(q.shape[0], d.shape[0], generator=torch.Generator().manual_seed(14)) < 0.3
        mask[torch.arange(q.shape[0]), targets] = False
    loss = weighted_info_nce(
        q, d, targets, weights, temperature=0.05, mask=mask, teacher_logits=teacher, distill_weight=0.7
    )
    expected = _distillation_formula(q, d, teacher, targets, weights, 0.05, 0.7, None if mask is None else mask.numpy())
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_distillation_ignores_the_teachers_view_of_the_positive_and_vanishes_when_they_agree():
    q, d, targets, weights = _random_batch(15)
    plain = weighted_info_nce(q, d, targets, weights, temperature=0.05)
    same = weighted_info_nce(
        q, d, targets, weights, temperature=0.05, teacher_logits=q @ d.T / 0.05, distill_weight=2.0
    )
    assert same.item() == pytest.approx(plain.item(), rel=1e-6)
    teacher = torch.randn(q.shape[0], d.shape[0], generator=torch.Generator().manual_seed(16))
    shifted = teacher.clone()
    shifted[torch.arange(q.shape[0]), targets] += 50.0
    a = weighted_info_nce(q, d, targets, weights, temperature=0.05, teacher_logits=teacher, distill_weight=1.0)
    b = weighted_info_nce(q, d, targets, weights, temperature=0.05, teacher_logits=shifted, distill_weight=1.0)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)
    assert a.item() > plain.item()


# ------------------------------------------------------------------------------------ distributed


def _global_problem():
    """A linear 'encoder' so gradients reach shared parameters; two processes with unequal shares."""
    g = torch.Generator().manual_seed(11)
    features_q = torch.randn(6, 12, generator=g)
    features_d = torch.randn(23, 12, generator=g)
    weights = torch.tensor([0.5, 2.0, 0.0, 1.5, 1.0, 3.0])
    # rank 0: queries 0-2 with documents 0-10 (targets 0, 4, 9); rank 1: queries 3-5, documents 11-22.
    targets = torch.tensor([0, 4, 9, 11, 15, 20])
    query_keys = torch.tensor([1, 2, 3, 1, 5, 6])  # query 3 repeats query 0 on the other process
    positive_keys = torch.tensor([50, 51, 52, 53, 54, 55])
    document_keys = torch.arange(1000, 1023)
    document_keys[targets] = positive_keys
    document_keys[13] = 50  # a negative on rank 1 that is query 0's positive on rank 0
    return features_q, features_d, weights, targets, query_keys, positive_keys, document_keys


def _global_owners_and_weights():
    """The example that brought each document (global rows) and its weight for that example."""
    owners = torch.tensor([0] * 4 + [1] * 5 + [2] * 2 + [3] * 4 + [4] * 5 + [5] * 3)
    column_weights = torch.rand(23, generator=torch.Generator().manual_seed(5)) * 2.7 + 0.3
    column_weights[torch.tensor([0, 4, 9, 11, 15, 20])] = 1.0
    return owners, column_weights


def _projection():
    return torch.nn.Linear(12, 8, bias=False).requires_grad_(True)


def _teacher_vectors(features: torch.Tensor) -> torch.Tensor:
    """A fixed projection standing in for the frozen base model."""
    g = torch.Generator().manual_seed(17)
    return F.normalize(features @ torch.randn(12, 8, generator=g), dim=-1)


def _single_process_loss_and_grad(in_batch_weight, distill):
    fq, fd, w, t, qk, pk, dk = _global_problem()
    owners, column_weights = _global_owners_and_weights()
    torch.manual_seed(0)
    proj = _projection()
    q, d = F.normalize(proj(fq), dim=-1), F.normalize(proj(fd), dim=-1)
    batch = {
        "targets": t,
        "weights": w,
        "query_keys": qk,
        "positive_keys": pk,
        "document_keys": dk,
        "document_owners": owners,
        "document_weights": column_weights,
    }
    teacher = (_teacher_vectors(fq), _teacher_vectors(fd)) if distill else None
    loss = batch_loss(
        q, d, batch, temperature=0.05, in_batch_weight=in_batch_weight, teacher=teacher, distill_weight=distill
    )
    loss.backward()
    return loss.item(), proj.weight.grad.clone()


def _distributed_worker(rank: int, world: int, port: int, in_batch_weight, distill, results):
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        fq, fd, w, t, qk, pk, dk = _global_problem()
        owners, column_weights = _global_owners_and_weights()
        q_rows, d_rows = (slice(0, 3), slice(0, 11)) if rank == 0 else (slice(3, 6), slice(11, 23))
        local_targets = t[q_rows] - d_rows.start
        torch.manual_seed(0)
        proj = _projection()
        q = F.normalize(proj(fq[q_rows]), dim=-1)
        d = F.normalize(proj(fd[d_rows]), dim=-1)
        batch = {
            "targets": local_targets,
            "weights": w[q_rows],
            "query_keys": qk[q_rows],
            "positive_keys": pk[q_rows],
            "document_keys": dk[d_rows],
            "document_owners": owners[d_rows] - q_rows.start,
            "document_weights": column_weights[d_rows],
        }
        teacher = (_teacher_vectors(fq[q_rows]), _teacher_vectors(fd[d_rows])) if distill else None
        loss = batch_loss(
            q,
            d,
            batch,
            temperature=0.05,
            in_batch_weight=in_batch_weight,
            distributed=True,
            teacher=teacher,
            distill_weight=distill,
        )
        loss.backward()
        grad = proj.weight.grad.clone()
        dist.all_reduce(grad)
        total = loss.detach().clone()
        dist.all_reduce(total)
        results[rank] = (total.item(), grad.numpy())
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("in_batch_weight", "distill"), [(None, 0.0), (0.3, 0.0), (0.3, 0.5)])
def test_two_processes_give_the_single_process_loss_and_gradient(in_batch_weight, distill):
    import torch.multiprocessing as mp

    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_distributed_worker, args=(2, _free_port(), in_batch_weight, distill, results), nprocs=2, join=True)
    expected_loss, expected_grad = _single_process_loss_and_grad(in_batch_weight, distill)
    for rank in (0, 1):
        loss, grad = results[rank]
        assert loss == pytest.approx(expected_loss, rel=1e-5)
        np.testing.assert_allclose(grad, expected_grad.numpy(), rtol=1e-4, atol=1e-6)
