"""Training: reading mined sets, batching and groups, the loop, checkpoints and resume, the CLI."""

from __future__ import annotations

import json
import os
import random
import socket
from collections import Counter

import numpy as np
import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import lrat  # noqa: E402
from _tiny_model import make_tiny_model  # noqa: E402
from lrat.cli import main as cli_main  # noqa: E402
from lrat.encoder import Encoder  # noqa: E402
from lrat.training import trainer as trainer_module  # noqa: E402
from lrat.training.data import (  # noqa: E402
    NegativeWeights,
    collate,
    load_training_set,
    plan_epoch,
    sample_negatives,
)
from safetensors.torch import load_file  # noqa: E402

WORDS = "the a of in is was who what which where river city capital country born film actor team".split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def mined_frame(n: int = 24, seed: int = 0) -> pl.DataFrame:
    """What `lrat mine` writes, with the extra columns training ignores."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        negs = [_text(rng, 8) for _ in range(rng.choice([0, 2, 12]))]
        rows.append(
            {
                "query": f"{_text(rng, 4)} {i}",
                "pos": _text(rng, 10),
                "pos_id": f"d{i}",
                "neg": negs,
                "neg_id": [f"n{i}-{k}" for k in range(len(negs))],
                "weight": rng.uniform(0.2, 2.0),
                "trajectory_id": f"t{i % 5}",
                "query_id": str(i),
                "step": i,
                "accepted": True,
            }
        )
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), dropout=0.0)


@pytest.fixture(scope="module")
def tiny_dropout(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny_dropout"), dropout=0.1, seed=1)


def _weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _assert_same_weights(a, b, atol: float = 0.0):
    wa, wb = _weights(a), _weights(b)
    assert set(wa) == set(wb)
    for key in wa:
        if atol == 0.0:
            assert torch.equal(wa[key], wb[key]), key
        else:
            torch.testing.assert_close(wa[key], wb[key], atol=atol, rtol=0), key


QUICK = {"batch_size": 4, "group_size": 3, "show_progress": False, "log_every": 1, "temperature": 0.05}


# ---------------------------------------------------------------------------------------- reading


def test_parquet_and_flagembedding_jsonl_read_the_same(tmp_path):
    frame = mined_frame(6)
    frame.write_parquet(tmp_path / "train.parquet")
    with (tmp_path / "train.jsonl").open("w") as handle:
        for row in frame.iter_rows(named=True):
            record = {
                "query": row["query"],
                "pos": [row["pos"]],
                "neg": row["neg"],
                "pos_id": [row["pos_id"]],
                "neg_id": row["neg_id"],
                "reweight_rate": row["weight"],
            }
            handle.write(json.dumps(record) + "\n")
    a = load_training_set(tmp_path / "train.parquet")
    b = load_training_set(tmp_path / "train.jsonl")
    assert a.queries == b.queries == frame["query"].to_list()
    assert a.positives == b.positives and a.negatives == b.negatives
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.positive_keys, b.positive_keys)
    assert all(np.array_equal(x, y) for x, y in zip(a.negative_keys, b.negative_keys))


def test_missing_weight_means_one_and_missing_ids_key_by_text():
    data = load_training_set(pl.DataFrame({"query": ["q1", "q2"], "pos": ["same text", "same text"], "neg": [[], []]}))
    np.testing.assert_array_equal(data.weights, [1.0, 1.0])
    assert data.positive_keys[0] == data.positive_keys[1]


def test_bad_rows_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"row 1: the positive document text \(`pos`\) is empty"):
        load_training_set(pl.DataFrame({"query": ["q1", "q2"], "pos": ["text", " "]}))
    with pytest.raises(ValueError, match="row 0: weight -1.0"):
        load_training_set(pl.DataFrame({"query": ["q1"], "pos": ["t"], "weight": [-1.0]}))
    with pytest.raises(ValueError, match="missing column `pos`"):
        load_training_set(pl.DataFrame({"query": ["q1"]}))
    with pytest.raises(ValueError, match="every weight is 0"):
        load_training_set(pl.DataFrame({"query": ["q1"], "pos": ["t"], "weight": [0.0]}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "pos": ["p"], "neg": []}\n{"query": "q", "pos": [""], "neg": []}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 2: the positive document text"):
        load_training_set(bad)
    bad.write_text('{"query": "q", "pos": ["p"]}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: invalid JSON"):
        load_training_set(bad)


# ------------------------------------------------------------------------------- groups and steps


def test_negatives_are_sampled_without_repetition_when_enough_else_evenly_repeated():
    rng = random.Random(0)
    picked = sample_negatives(9, 20, rng)
    assert len(picked) == 9 == len(set(picked))
    counts = Counter(sample_negatives(9, 4, rng))
    assert sum(counts.values()) == 9 and set(counts) == {0, 1, 2, 3}
    assert max(counts.values()) <= 3  # ceil(9 / 4) copies at most
    assert sample_negatives(9, 0, rng) == []


def test_collate_builds_one_group_per_example():
    data = load_training_set(mined_frame(6))
    group = collate(data, [0, 1, 2, 3, 4, 5], group_size=10, seed=1, epoch=0)
    sizes = [1 + (9 if negs else 0) for negs in data.negatives[:6]]
    assert len(group.documents) == sum(sizes)
    np.testing.assert_array_equal(group.targets, np.cumsum([0, *sizes[:-1]]))
    for i, target in enumerate(group.targets):
        assert group.documents[target] == data.positives[i]
        members = group.documents[target + 1 : target + sizes[i]]
        assert set(members) <= set(data.negatives[i])
    again = collate(data, [0, 1, 2, 3, 4, 5], group_size=10, seed=1, epoch=0)
    assert again.documents == group.documents  # same seed and epoch, same negatives


def test_tiered_negatives_carry_their_weights_into_the_group():
    frame = mined_frame(6)
    frame = frame.with_columns(
        pl.col("neg").list.eval(pl.element().str.len_chars() % 3).cast(pl.List(pl.UInt8)).alias("neg_tier")
    )
    data = load_training_set(frame)
    weights = NegativeWeights(rejected=3.0, skipped_above=1.0, seen_below=0.25, in_batch=0.5)
    group = collate(data, range(6), group_size=4, seed=1, epoch=0, negative_weights=weights)
    tier_of = {
        text: tier for negs, tiers in zip(data.negatives, data.negative_tiers) for text, tier in zip(negs, tiers)
    }
    for j, (text, owner) in enumerate(zip(group.documents, group.document_owners)):
        if j in group.targets:
            assert group.document_weights[j] == 1.0 and group.documents[j] == data.positives[owner]
        else:
            assert group.document_weights[j] == [3.0, 1.0, 0.25][tier_of[text]]
    plain = collate(data, range(6), group_size=4, seed=1, epoch=0)
    assert plain.documents == group.documents and (plain.document_weights == 1.0).all()
    assert NegativeWeights.parse("iter") == NegativeWeights(3.0, 1.0, 0.3, 0.3)
    with pytest.raises(ValueError, match="4 numbers"):
        NegativeWeights.parse("3,1")
    with pytest.raises(ValueError, match="`seen_below` must be a positive number"):
        NegativeWeights(3.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"row 0: `neg_tier` has 1 tiers for 2 negatives"):
        load_training_set(
            pl.DataFrame(
                {"query": ["q"], "pos": ["p"], "neg": [["a", "b"]], "neg_tier": [[0]]},
                schema_overrides={"neg_tier": pl.List(pl.UInt8)},
            )
        )


def test_several_processes_see_the_global_micro_batches_of_one():
    one = plan_epoch(30, epoch=2, seed=5, batch_size=4, accumulation=2, world_size=1)
    two = plan_epoch(30, epoch=2, seed=5, batch_size=2, accumulation=2, world_size=2)
    assert len(one.steps) == len(two.steps) == 4
    for step_one, step_two in zip(one.steps, two.steps):
        for micro_one, micro_two in zip(step_one, step_two):
            np.testing.assert_array_equal(micro_one[0], np.concatenate(micro_two))
    seen = np.concatenate([part for step in one.steps for micro in step for part in micro])
    assert sorted(seen.tolist()) == list(range(30))


# ------------------------------------------------------------------------------------------ loop


def test_training_learns_logs_and_writes_a_loadable_model(tmp_path, tiny):
    st = pytest.importorskip("sentence_transformers")
    from transformers import AutoModel

    frame = mined_frame(32)
    result = lrat.train(
        frame, model=tiny, output_dir=tmp_path / "out", epochs=6, learning_rate=3e-3, warmup_ratio=0.1, **QUICK
    )
    assert result.steps == 48 and result.examples == 6 * 32
    records = [json.loads(line) for line in result.log_file.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 49))
    assert {"loss", "learning_rate", "examples_per_second", "epoch"} <= set(records[0])
    assert records[4]["learning_rate"] > records[-1]["learning_rate"]  # warm-up, then linear decay
    first_epoch = np.mean([r["loss"] for r in records[:8]])
    last_epoch = np.mean([r["loss"] for r in records[-8:]])
    assert last_epoch < 0.7 * first_epoch

    out = result.output_dir
    encoder = Encoder.load(out, device="cpu")
    assert AutoModel.from_pretrained(str(out)).config.hidden_size == 32
    model = st.SentenceTransformer(str(out), device="cpu")
    texts = frame["pos"].to_list()[:3]
    np.testing.assert_allclose(model.encode(texts), encoder.encode(texts, show_progress_bar=False), atol=1e-5)

    # The trained retriever puts a query's own positive first among all positives far more often.
    def top1_accuracy(model: Encoder) -> float:
        queries = model.encode_queries(frame["query"].to_list(), show_progress_bar=False)
        documents = model.encode_documents(frame["pos"].to_list(), show_progress_bar=False)
        return float(((queries @ documents.T).argmax(axis=1) == np.arange(32)).mean())

    before, after = top1_accuracy(Encoder.load(tiny, device="cpu")), top1_accuracy(encoder)
    assert after >= before + 0.25, (before, after)


def test_a_zero_weight_example_does_not_move_the_model(tmp_path, tiny):
    a = pl.DataFrame({"query": ["who was born in the city"], "pos": ["the actor was born in the capital"]})
    b = pl.DataFrame({"query": ["what river"], "pos": ["the river of the country"]})
    settings = {**QUICK, "batch_size": 1, "shuffle": False, "warmup_ratio": 0.0, "learning_rate": 1e-2}
    only_a = lrat.train(a, model=tiny, output_dir=tmp_path / "a", **settings)
    with_b = lrat.train(
        pl.concat([a.with_columns(weight=pl.lit(1.0)), b.with_columns(weight=pl.lit(0.0))]),
        model=tiny,
        output_dir=tmp_path / "ab",
        **settings,
    )
    assert with_b.steps == 2
    _assert_same_weights(only_a.output_dir, with_b.output_dir)
    assert not torch.equal(
        _weights(tiny)["embeddings.word_embeddings.weight"],
        _weights(only_a.output_dir)["embeddings.word_embeddings.weight"],
    )

    # Inside a batch, the query of a weight-0 example changes nothing either.
    c = b.with_columns(query=pl.lit("which team is the film"))
    pairs = {}
    for name, other in (("b", b), ("c", c)):
        frame = pl.concat([a.with_columns(weight=pl.lit(1.0)), other.with_columns(weight=pl.lit(0.0))])
        pairs[name] = lrat.train(
            frame, model=tiny, output_dir=tmp_path / f"batch_{name}", **{**settings, "batch_size": 2}
        )
    _assert_same_weights(pairs["b"].output_dir, pairs["c"].output_dir)


def _train_then_crash_after_checkpoint_4(frame, model, output_dir, settings, monkeypatch) -> None:
    """A run that dies right after writing the checkpoint of step 4."""
    real_save = trainer_module._save_checkpoint

    def save_then_crash(out, step, *args, **kwargs):
        real_save(out, step, *args, **kwargs)
        if step == 4:
            raise KeyboardInterrupt("simulated crash after the checkpoint of step 4")

    monkeypatch.setattr(trainer_module, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        lrat.train(frame, model=model, output_dir=output_dir, **settings)
    monkeypatch.setattr(trainer_module, "_save_checkpoint", real_save)


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, tiny_dropout, monkeypatch):
    frame = mined_frame(24)
    settings = {**QUICK, "epochs": 2, "save_steps": 2, "learning_rate": 1e-3, "gradient_accumulation_steps": 2}
    whole = lrat.train(frame, model=tiny_dropout, output_dir=tmp_path / "whole", **settings)
    assert whole.steps == 6

    _train_then_crash_after_checkpoint_4(frame, tiny_dropout, tmp_path / "resumed", settings, monkeypatch)
    checkpoints = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert checkpoints == ["step-00000002", "step-00000004"]
    assert not (tmp_path / "resumed" / "model.safetensors").exists()

    resumed = lrat.train(frame, model=tiny_dropout, output_dir=tmp_path / "resumed", resume=True, **settings)
    _assert_same_weights(whole.output_dir, resumed.output_dir)
    steps = [json.loads(line)["step"] for line in resumed.log_file.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="batch_size=4"):
        lrat.train(
            frame, model=tiny_dropout, output_dir=tmp_path / "resumed", resume=True, **{**settings, "batch_size": 3}
        )


def test_resume_passes_over_a_checkpoint_killed_mid_save(tmp_path, tiny_dropout, capsys, monkeypatch):
    frame = mined_frame(24)
    settings = {
        **QUICK,
        "epochs": 2,
        "save_steps": 2,
        "learning_rate": 1e-3,
        "gradient_accumulation_steps": 2,
        "keep_checkpoints": 3,
    }
    whole = lrat.train(frame, model=tiny_dropout, output_dir=tmp_path / "whole", **settings)
    _train_then_crash_after_checkpoint_4(frame, tiny_dropout, tmp_path / "killed", settings, monkeypatch)
    checkpoints = tmp_path / "killed" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-00000002", "step-00000004"]
    (checkpoints / "step-00000004" / "rng_state_0.pt").unlink()  # as a kill before the RNG state was written
    (checkpoints / "step-00000006.partial").mkdir()  # a save that never finished
    resumed = lrat.train(frame, model=tiny_dropout, output_dir=tmp_path / "killed", resume=True, **settings)
    assert "resuming from step-00000002: step-00000004 lack their trainer or RNG state" in capsys.readouterr().out
    _assert_same_weights(whole.output_dir, resumed.output_dir)
    steps = [json.loads(line)["step"] for line in resumed.log_file.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6], "the lines of steps trained again are not kept twice"
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        lrat.train(
            frame,
            model=tiny_dropout,
            output_dir=tmp_path / "x",
            resume=str(checkpoints / "step-00000006.partial"),
            **settings,
        )


def test_gradient_checkpointing_trains_to_the_same_weights(tmp_path, tiny):
    settings = {**QUICK, "max_steps": 2, "learning_rate": 1e-3}
    plain = lrat.train(mined_frame(8), model=tiny, output_dir=tmp_path / "plain", **settings)
    saved = lrat.train(
        mined_frame(8), model=tiny, output_dir=tmp_path / "ckpt", gradient_checkpointing=True, **settings
    )
    _assert_same_weights(plain.output_dir, saved.output_dir, atol=1e-6)


def test_merge_base_interpolates_the_trained_weights_with_the_base(tmp_path, tiny):
    settings = {**QUICK, "max_steps": 2, "learning_rate": 1e-2, "shuffle": False}
    trained = lrat.train(mined_frame(8), model=tiny, output_dir=tmp_path / "trained", **settings)
    merged = lrat.train(mined_frame(8), model=tiny, output_dir=tmp_path / "merged", merge_base=0.25, **settings)
    base, full, mixed = _weights(tiny), _weights(trained.output_dir), _weights(merged.output_dir)
    name = "encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(base[name], full[name])
    torch.testing.assert_close(mixed[name], 0.25 * base[name] + 0.75 * full[name], atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="merge_base must be within"):
        lrat.train(mined_frame(8), model=tiny, output_dir=tmp_path / "bad", merge_base=1.5, **settings)


def _negative_ranking_drift(model, frame: pl.DataFrame, base) -> float:
    """Mean KL(base ‖ model) of the softmax over each example's negatives: how far the model moved the
    base model's ranking of what the agent rejected."""
    rows = [r for r in frame.iter_rows(named=True) if len(r["neg"]) >= 2]
    drift = []
    for encoder in (Encoder.load(base, device="cpu"), Encoder.load(model, device="cpu")):
        scores = []
        for r in rows:
            q = encoder.encode_queries(r["query"])
            scores.append(torch.as_tensor(encoder.encode_documents(r["neg"]) @ q) / 0.05)
        drift.append(scores)
    kls = [
        torch.sum(torch.softmax(b, 0) * (torch.log_softmax(b, 0) - torch.log_softmax(m, 0))).item()
        for b, m in zip(*drift)
    ]
    return float(np.mean(kls))


def test_distill_base_keeps_the_base_models_ranking_of_the_negatives(tmp_path, tiny):
    frame = mined_frame(16)
    settings = {**QUICK, "epochs": 3, "learning_rate": 3e-3, "precision": "fp32"}
    plain = lrat.train(frame, model=tiny, output_dir=tmp_path / "plain", **settings)
    kept = lrat.train(frame, model=tiny, output_dir=tmp_path / "kept", distill_base=20.0, **settings)
    assert json.loads((kept.output_dir / "lrat_training.json").read_text())["config"]["distill_base"] == 20.0
    plain_drift = _negative_ranking_drift(plain.output_dir, frame, tiny)
    kept_drift = _negative_ranking_drift(kept.output_dir, frame, tiny)
    assert plain_drift > 0
    assert kept_drift < 0.5 * plain_drift  # 0.021 against 0.064 when written
    with pytest.raises(ValueError, match="distill_base must be a finite number"):
        lrat.train(frame, model=tiny, output_dir=tmp_path / "bad", distill_base=-1.0, **settings)


def test_unit_negative_weights_train_like_none_and_tiers_change_the_model(tmp_path, tiny):
    frame = mined_frame(8).with_columns(
        pl.col("neg").list.eval(pl.element().str.len_chars() % 3).cast(pl.List(pl.UInt8)).alias("neg_tier")
    )
    settings = {**QUICK, "max_steps": 2}
    lrat.train(frame, model=tiny, output_dir=tmp_path / "none", **settings)
    lrat.train(frame, model=tiny, output_dir=tmp_path / "ones", negative_weights=(1, 1, 1, 1), **settings)
    lrat.train(frame, model=tiny, output_dir=tmp_path / "iter", negative_weights="iter", **settings)
    _assert_same_weights(tmp_path / "none", tmp_path / "ones", atol=1e-6)
    none, tiered = _weights(tmp_path / "none"), _weights(tmp_path / "iter")
    assert any(not torch.allclose(none[k], tiered[k], atol=1e-6) for k in none)


def test_a_nan_loss_stops_with_a_clear_error(tmp_path, tiny):
    with pytest.raises(FloatingPointError, match="the loss is nan at step 1"):
        lrat.train(mined_frame(8), model=tiny, output_dir=tmp_path / "nan", **{**QUICK, "temperature": 1e-45})


def test_unknown_settings_are_refused(tmp_path, tiny):
    with pytest.raises(TypeError, match="learnig_rate"):
        lrat.train(mined_frame(4), model=tiny, output_dir=tmp_path, learnig_rate=1.0)


def test_cli_trains_and_reports_bad_input(tmp_path, tiny, capsys, monkeypatch):
    import lrat.cli

    monkeypatch.setattr(lrat.cli, "COMMANDS", ["train"])  # the other commands are not under test here
    mined_frame(8).write_parquet(tmp_path / "train.parquet")
    argv = ["train", str(tmp_path / "train.parquet"), "--model", str(tiny), "-o", str(tmp_path / "out")]
    assert cli_main([*argv, "--batch-size", "4", "--group-size", "3", "--quiet", "--max-steps", "1"]) == 0
    assert "trained 1 steps on 4 examples" in capsys.readouterr().out
    assert (tmp_path / "out" / "1_Pooling" / "config.json").is_file()
    pl.DataFrame({"query": ["q"], "pos": [""]}).write_parquet(tmp_path / "bad.parquet")
    assert cli_main(["train", str(tmp_path / "bad.parquet"), "--model", str(tiny), "-o", str(tmp_path / "x")]) == 1
    assert "row 0: the positive document text" in capsys.readouterr().err
    assert cli_main([*argv, "--negative-weights", "3,1"]) == 1
    assert "expected 'iter' or 4 numbers" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- distributed


def _train_worker(rank: int, world: int, port: int, model: str, data: str, out: str):
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        lrat.train(
            data,
            model=model,
            output_dir=out,
            device="cpu",
            **{**QUICK, "batch_size": 2, "max_steps": 3, "learning_rate": 1e-3, "precision": "fp32"},
        )
    finally:
        dist.destroy_process_group()


def test_two_processes_train_like_one_with_the_global_batch(tmp_path, tiny):
    import torch.multiprocessing as mp

    mined_frame(16).write_parquet(tmp_path / "train.parquet")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(
        _train_worker,
        args=(2, port, str(tiny), str(tmp_path / "train.parquet"), str(tmp_path / "two")),
        nprocs=2,
        join=True,
    )
    one = lrat.train(
        tmp_path / "train.parquet",
        model=tiny,
        output_dir=tmp_path / "one",
        device="cpu",
        # float32: bf16 rounds two half batches differently from one whole one.
        **{**QUICK, "batch_size": 4, "max_steps": 3, "learning_rate": 1e-3, "precision": "fp32"},
    )
    two_log = [json.loads(line) for line in (tmp_path / "two" / "train_log.jsonl").read_text().splitlines()]
    one_log = [json.loads(line) for line in one.log_file.read_text().splitlines()]
    for a, b in zip(one_log, two_log):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["examples"] == b["examples"]
    _assert_same_weights(one.output_dir, tmp_path / "two", atol=1e-5)


def test_a_dev_split_selects_a_step_and_keeps_the_base_model_when_training_hurts(tmp_path, tiny):
    from lrat.training.dev import split_dev

    frame = mined_frame(24)
    train_part, dev_part, column = split_dev(frame, 0.2, seed=42)  # the training seed
    assert column == "trajectory_id" and dev_part.height > 0 and train_part.height > 0
    assert not set(train_part["trajectory_id"]) & set(dev_part["trajectory_id"]), "trajectories stay whole"
    assert split_dev(frame, 0.2, seed=42)[1].equals(dev_part)

    result = lrat.train(
        frame, model=tiny, output_dir=tmp_path / "dev", dev_fraction=0.2, eval_steps=1, **{**QUICK, "max_steps": 3}
    )
    dev = result.dev
    assert dev is not None and dev.examples == dev_part.height
    assert [e["step"] for e in dev.evaluations] == [1, 2, 3]
    assert dev.best_loss == min(e["loss"] for e in dev.evaluations)
    logged = [json.loads(line) for line in result.log_file.read_text().splitlines()]
    assert [r["step"] for r in logged if "dev_loss" in r] == [1, 2, 3]
    summary = json.loads((tmp_path / "dev" / "lrat_training.json").read_text())
    assert summary["dev"]["best_step"] == dev.best_step

    # Two trajectories that contradict each other: whichever is trained on, the other (dev) gets worse,
    # and the guard keeps the base weights. Without the distillation term, which would hold the model
    # near the base and the harm inside the interval.
    rng = random.Random(4)
    queries = [f"{_text(rng, 3)} {i}" for i in range(16)]
    first = [f"{_text(rng, 6)} river {i}" for i in range(16)]
    second = [f"{_text(rng, 6)} actor {i}" for i in range(16)]
    contradicting = pl.DataFrame(
        {
            "query": queries * 2,
            "pos": first + second,
            "neg": [[t] for t in second + first],
            "trajectory_id": ["t0"] * 16 + ["t1"] * 16,
        }
    )
    wrecked = lrat.train(
        contradicting,
        model=tiny,
        output_dir=tmp_path / "wrecked",
        dev_fraction=0.5,
        false_negative_margin=None,
        distill_base=0.0,
        **{**QUICK, "group_size": 2, "epochs": 3, "learning_rate": 1e-2},
    )
    assert wrecked.dev.kept_base and wrecked.dev.versus_base.low > 0
    base = Encoder.load(tiny).model.state_dict()
    kept = _weights(tmp_path / "wrecked")
    same = [
        k
        for k in kept
        if any(k.endswith(b) for b in base) and torch.equal(kept[k], base[next(b for b in base if k.endswith(b))])
    ]
    assert len(same) == len(kept)
    with pytest.raises(ValueError, match="cannot resume"):
        lrat.train(frame, model=tiny, output_dir=tmp_path / "r", dev_fraction=0.2, resume=True, **QUICK)


def test_lrat_train_drops_negatives_the_base_model_scores_near_their_positive_when_asked(tmp_path, tiny):
    from lrat.negatives import filter_false_negatives

    frame = mined_frame(12)
    encoder = Encoder.load(tiny)
    _, expected = filter_false_negatives(frame, encoder, relative_margin=0.95)
    assert expected > 0, "a random tiny model scores some negatives above their positive"
    filtered = {**QUICK, "max_steps": 1, "false_negative_margin": 0.95}
    result = lrat.train(frame, model=tiny, output_dir=tmp_path / "f", **filtered)
    assert result.false_negatives_dropped == expected
    kept = lrat.train(frame, model=tiny, output_dir=tmp_path / "k", **{**QUICK, "max_steps": 1})
    assert kept.false_negatives_dropped is None, "off by default: every negative is kept"
    without_ids = frame.drop("pos_id", "neg_id")
    assert (
        lrat.train(without_ids, model=tiny, output_dir=tmp_path / "t", **filtered).false_negatives_dropped == expected
    )


def test_lrat_train_defaults_are_the_recipe_the_bench_measured():
    """The README promises that `lrat train` without flags trains with the bench's measured recipe."""
    import argparse

    from lrat.bench import DEFAULT
    from lrat.options import add_options, options_from_args
    from lrat.training.config import TrainingConfig

    parser = argparse.ArgumentParser()
    add_options(parser, TrainingConfig)
    cli = TrainingConfig(output_dir="out", **options_from_args(TrainingConfig, parser.parse_args([])))
    budget = DEFAULT.training
    recipe = ("batch_size", "group_size", "learning_rate", "temperature", "distill_base")
    assert {k: getattr(cli, k) for k in recipe} == {k: getattr(budget, k) for k in recipe}
    assert (cli.batch_size, cli.group_size, cli.temperature) == (16, 4, 0.05)
    assert cli.false_negative_margin is None and DEFAULT.false_negative_margin is None
