"""`lrat bench`: the bootstrap on known cases, folds, BEIR reading errors, the results' schema, and that
nothing of a held-out fold reaches its training data."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from lrat.beir import CollectionError, read_collection, write_collection
from lrat.bench import agent_metrics, assign_folds
from lrat.bootstrap import bootstrap_ratio, paired_bootstrap

# ---------------------------------------------------------------------------------------------- bootstrap


def test_identical_runs_give_an_interval_of_exactly_zero():
    iv = paired_bootstrap(np.zeros(200), resamples=2000, seed=1)
    assert (iv.mean, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert not iv.significant


def test_a_constant_shift_gives_an_interval_at_the_shift():
    iv = paired_bootstrap(np.full(137, 0.25), resamples=2000, seed=1)
    assert iv.mean == pytest.approx(0.25) and iv.low == pytest.approx(0.25) and iv.high == pytest.approx(0.25)
    assert iv.significant


def test_the_interval_covers_the_mean_and_widens_with_noise():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, 400)
    narrow = paired_bootstrap(0.5 + 0.1 * noise, resamples=4000)
    wide = paired_bootstrap(0.5 + 1.0 * noise, resamples=4000)
    assert narrow.low < narrow.mean < narrow.high and narrow.significant
    assert (wide.high - wide.low) > 5 * (narrow.high - narrow.low)
    # The normal approximation's half-width: 1.96 · sd / √n.
    assert (wide.high - wide.low) / 2 == pytest.approx(1.96 * noise.std() / np.sqrt(400), rel=0.15)


def test_noise_around_zero_is_not_significant_and_nan_questions_do_not_count():
    d = np.array([0.1, -0.1] * 50 + [np.nan] * 10)
    iv = paired_bootstrap(d, resamples=3000)
    assert iv.n == 100 and not iv.significant and iv.low < 0 < iv.high


def test_an_interval_end_at_zero_up_to_rounding_is_not_significant():
    from lrat.bootstrap import Interval

    # Seen in a real bench: the 2.5th percentile of means of per-question deltas in thirds came out at
    # 1.7e-19, which is 0 written in floating point.
    assert not Interval(0.0097, 1.65e-19, 0.0197, 500).significant
    assert not Interval(-0.0097, -0.0197, -1e-18, 500).significant
    assert Interval(0.0097, 0.002, 0.0197, 500).significant


def test_bootstrap_is_reproducible_for_a_seed():
    d = np.random.default_rng(3).normal(0.1, 1, 50)
    assert paired_bootstrap(d, seed=7, resamples=500) == paired_bootstrap(d, seed=7, resamples=500)


def test_fraction_of_the_oracle_gain():
    oracle = np.full(100, 0.2)
    half = np.full(100, 0.1)
    iv = bootstrap_ratio(half, oracle, resamples=500)
    assert iv.mean == pytest.approx(0.5) and iv.low == pytest.approx(0.5) and iv.high == pytest.approx(0.5)
    assert np.isnan(bootstrap_ratio(half, np.zeros(100), resamples=100).mean)


# ---------------------------------------------------------------------------------------------- folds


def test_folds_partition_the_questions_evenly_and_reproducibly():
    ids = [f"q{i}" for i in range(503)]
    folds = assign_folds(ids, 5, seed=11)
    assert set(folds) == set(ids)
    sizes = [sum(1 for f in folds.values() if f == i) for i in range(5)]
    assert sorted(sizes) == [100, 100, 101, 101, 101]
    assert assign_folds(list(reversed(ids)), 5, seed=11) == folds
    assert assign_folds(ids, 5, seed=12) != folds


# ---------------------------------------------------------------------------------------------- agent metrics


def test_agent_metrics_cut_the_trajectory_at_each_budget():
    def search(q, docs):
        return {
            "type": "tool_call",
            "tool_name": "search",
            "arguments": json.dumps({"query": [q]}),
            "output": "A search for 'x' found 2 results:\n\n## Web Results\n"
            + "\n\n".join(f"DocID:{d}\n[{d}]\ntext" for d in docs),
        }

    def browse(d):
        return {
            "type": "tool_call",
            "tool_name": "get_document",
            "arguments": json.dumps({"docid": d}),
            "output": f"Document {d}:\n...",
        }

    record = {"result": [search("q", ["a", "x"]), browse("x"), browse("a"), search("r", ["b"]), browse("b")]}
    m = agent_metrics(record, ["a", "b"], budgets=(1, 3, 5))
    assert m["evidence_recall@1"] == 0.5 and m["evidence_browsed@1"] == 0.0 and m["success@1"] == 0.0
    assert m["evidence_browsed@3"] == 0.5 and m["success@3"] == 0.0
    assert m["evidence_recall@5"] == 1.0 and m["success@5"] == 1.0
    assert m["calls_to_first_evidence"] == 3.0 and m["calls_to_all_evidence"] == 5.0
    never = agent_metrics(record, ["zzz"], budgets=(3, 5))
    assert never["calls_to_first_evidence"] == 6.0 and never["calls_to_all_evidence"] == 6.0


# ---------------------------------------------------------------------------------------------- BEIR reading


def _write(root: Path, corpus: list[dict], queries: list[dict], qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def test_a_collection_reads_and_counts_qrels_of_unknown_documents(tmp_path):
    root = _write(
        tmp_path,
        [{"_id": "d1", "title": "One", "text": "first"}, {"_id": "d2", "text": "second"}],
        [
            {"_id": "q1", "text": "what?", "metadata": {"answer": "one"}},
            {"_id": "q2", "text": "who?"},
            {"_id": "q3", "text": "none?"},
        ],
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tghost\t1\nq2\td2\t2\nq2\td1\t0\nq9\td1\t1\n",
    )
    c = read_collection(root)
    assert c.corpus["text"].to_list() == ["One\nfirst", "second"]
    assert c.questions.select("query_id", "answer", "evidence").rows() == [("q1", "one", ["d1"]), ("q2", None, ["d2"])]
    assert (c.unknown_documents, c.unknown_queries, c.queries_without_evidence) == (1, 1, 1)
    assert "1 qrels rows name a document not in the corpus" in c.summary()


@pytest.mark.parametrize(
    ("corpus", "queries", "qrels", "message"),
    [
        ('{"title": "x", "text": "y"}\n', '{"_id": "q", "text": "t"}\n', "h\th\th\n", "corpus.jsonl:1: missing `_id`"),
        ('{"_id": "d", "text": "y"}\n{"_id": "d", "text": "z"}\n', "", "", "corpus.jsonl:2: document id 'd' already"),
        (
            '{"_id": "d", "text": "y"}\n',
            '{"_id": "q", "text": "t"}\n{"_id": "r"\n',
            "",
            "queries.jsonl:2: not valid JSON",
        ),
        (
            '{"_id": "d", "text": "y"}\n',
            '{"_id": "q", "text": "t"}\n',
            "query-id\tcorpus-id\tscore\nq\td\n",
            "test.tsv:2: expected `query-id corpus-id score`, found 2",
        ),
        (
            '{"_id": "d", "text": "y"}\n',
            '{"_id": "q", "text": "t"}\n',
            "query-id\tcorpus-id\tscore\nq\td\thigh\n",
            "test.tsv:2: score 'high' is not an integer",
        ),
        ('{"_id": "d", "text": 5}\n', "", "", "corpus.jsonl:1: `text` is int, not a string"),
    ],
)
def test_reader_errors_name_file_line_and_fault(tmp_path, corpus, queries, qrels, message):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(corpus)
    (tmp_path / "queries.jsonl").write_text(queries)
    (tmp_path / "qrels" / "test.tsv").write_text(qrels)
    with pytest.raises(CollectionError, match=message.replace("?", r"\?").replace("(", r"\(").replace("`", "`")):
        read_collection(tmp_path)


def test_missing_qrels_names_the_files_found(tmp_path):
    _write(tmp_path, [{"_id": "d", "text": "y"}], [{"_id": "q", "text": "t"}], "q\td\t1\n")
    (tmp_path / "qrels" / "dev.tsv").write_text("q\td\t1\n")
    with pytest.raises(CollectionError, match=r"train.tsv: no such file \(qrels files found: dev.tsv, test.tsv\)"):
        read_collection(tmp_path, split="train")


def test_write_then_read_is_the_same_collection(tmp_path):
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "title": ["A", "B"], "text": ["A\nalpha", "B\nbeta"]})
    questions = pl.DataFrame({"query_id": ["1"], "question": ["q?"], "answer": ["x"], "evidence": [["b", "a"]]})
    c = read_collection(write_collection(tmp_path / "c", corpus, questions))
    assert c.corpus.select("doc_id", "text").rows() == corpus.select("doc_id", "text").rows()
    assert c.questions.rows() == questions.rows()


# ---------------------------------------------------------------------------------------------- the whole run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def kb():
    from lrat.harness.synthetic import SyntheticConfig, generate

    return generate(
        SyntheticConfig(n_people=40, n_cities=10, n_organisations=16, n_works=16, n_events=10, n_questions=30), seed=5
    )


def _config():
    from lrat.bench import QUICK, TrainingBudget
    from lrat.harness.simulate import AgentConfig

    # A random tiny encoder retrieves little of use: an agent that opens many results still completes
    # some questions, so that every training set has examples.
    agent = AgentConfig(max_steps=40, browse_floor=0.5, position_decay=0.95, max_browses_per_search=5)
    return dataclasses.replace(
        QUICK,
        training=TrainingBudget(steps=2, batch_size=4),
        resamples=200,
        agent=agent,
        variants=("lrat", "oracle_question", "oracle_trajectory"),
    )


def _collection(kb, tmp_path, questions=None):
    return read_collection(write_collection(tmp_path, kb.corpus, questions if questions is not None else kb.questions))


@pytest.fixture(scope="module")
def bench_run(kb, tiny, tmp_path_factory):
    from lrat.bench import run

    root = tmp_path_factory.mktemp("bench")
    out = root / "out"
    run(_collection(kb, root / "kb"), _config(), model=tiny, out=out, progress=False, print_table=False)
    return out


def test_results_json_schema(bench_run):
    results = json.loads((bench_run / "results.json").read_text())
    assert results["variants"] == ["base", "lrat", "oracle_question", "oracle_trajectory"]
    metrics = results["metrics"]
    for name in (
        "recall@10",
        "aq_recall@10",
        "evidence_browsed@5",
        "success@5",
        "evidence_recall@3",
        "calls_to_first_evidence",
    ):
        assert name in metrics
    assert metrics["misses@10"]["lower_is_better"] and metrics["aq_ndcg@10"]["level"] == "agent_queries"
    for variant in results["variants"]:
        for metric in metrics:
            entry = results["results"][variant][metric]
            assert set(entry) >= {"mean", "sd", "per_seed"} and len(entry["per_seed"]) == 1
            if variant != "base":
                delta = entry["delta"]
                assert set(delta) == {"mean", "low", "high", "n", "significant"}
                if delta["n"]:
                    assert delta["low"] <= delta["mean"] <= delta["high"]
    assert "fraction_of_oracle_trajectory" in results["results"]["lrat"]["recall@10"]
    per_query = pl.read_parquet(bench_run / "per_query.parquet")
    assert per_query.group_by("variant").len().sort("variant")["len"].to_list() == [30, 30, 30, 30]
    settings = json.loads((bench_run / "settings.json").read_text())
    assert settings["fold_sizes"] == [15, 15] and settings["config"]["folds"] == 2
    assert settings["versions"]["torch"] and settings["saturation_check"]["metric"] == "evidence_recall@3"
    assert "question as the query" in (bench_run / "table.txt").read_text()
    assert (bench_run / "deltas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_kept_heldout_runs_give_the_agent_level_metrics(bench_run, kb):
    """Each trained variant's runs on each held-out fold are kept, so that an agent-level delta can be
    traced to what the agent did; recomputed from them, the agent metrics equal per_query's."""
    import lrat

    per_query = pl.read_parquet(bench_run / "per_query.parquet")
    evidence = {q["query_id"]: q["evidence"] for q in kb.questions.to_dicts()}
    for fold in (0, 1):
        for variant in ("lrat", "oracle_question", "oracle_trajectory"):
            path = bench_run / "work" / "seed0" / f"fold{fold}" / f"heldout_runs_{variant}.jsonl"
            records = [json.loads(line) for line in path.read_text().splitlines()]
            assert len(records) == 15
            assert lrat.read_trajectories(path, strict=True).trajectories.height == 15
            expected = per_query.filter((pl.col("variant") == variant) & (pl.col("fold") == fold))
            for record in records:
                row = expected.filter(pl.col("query_id") == record["query_id"]).row(0, named=True)
                for metric, value in agent_metrics(record, evidence[record["query_id"]], _config().budgets).items():
                    assert value == pytest.approx(row[metric], nan_ok=True), (variant, metric)


def test_poisoned_heldout_qrels_leave_the_training_data_unchanged(kb, tiny, bench_run, tmp_path):
    """Fold 0's training sets must not change when the qrels of fold 0's own questions are replaced."""
    from lrat.bench import assign_folds, run

    config = _config()
    folds = assign_folds(kb.questions["query_id"].to_list(), config.folds, config.fold_seed)
    junk = kb.corpus["doc_id"].to_list()[:2]
    poisoned = kb.questions.with_columns(
        pl.when(pl.col("query_id").replace_strict(folds, return_dtype=pl.Int64) == 0)
        .then(pl.lit(junk, dtype=pl.List(pl.String)))
        .otherwise(pl.col("evidence"))
        .alias("evidence")
    )
    assert not poisoned.equals(kb.questions)
    out = tmp_path / "out"
    run(_collection(kb, tmp_path / "kb", poisoned), config, model=tiny, out=out, progress=False, print_table=False)
    for name in ("lrat", "oracle_question", "oracle_trajectory"):
        # Mined rows name their trajectory by the run file's path (`<file>:<line>`), which differs.
        before = pl.read_parquet(bench_run / "work" / "seed0" / "fold0" / f"train_{name}.parquet")
        after = pl.read_parquet(out / "work" / "seed0" / "fold0" / f"train_{name}.parquet")
        assert before.height > 0
        assert before.drop("trajectory_id", strict=False).equals(after.drop("trajectory_id", strict=False)), name
    # The held-out fold's own evaluation did change: the poison reached it.
    a = pl.read_parquet(bench_run / "per_query.parquet").filter(pl.col("fold") == 0, pl.col("variant") == "base")
    b = pl.read_parquet(out / "per_query.parquet").filter(pl.col("fold") == 0, pl.col("variant") == "base")
    assert not a["recall@10"].equals(b["recall@10"])


def test_cli_bench_prints_the_table(kb, tiny, tmp_path, capsys):
    from lrat.cli import main

    root = write_collection(tmp_path / "kb", kb.corpus, kb.questions)
    code = main(
        [
            "bench",
            str(root),
            "--quick",
            "--steps",
            "1",
            "--batch-size",
            "4",
            "--resamples",
            "100",
            "--variants",
            "lrat",
            "--budgets",
            "3,5",
            "--model",
            str(tiny),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "agents' own queries" in out and "success@5" in out and "lrat" in out
    assert main(["bench", str(tmp_path / "nowhere"), "--quiet"]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_resume_reuses_what_an_earlier_run_finished(kb, tiny, tmp_path, monkeypatch):
    import lrat.training
    from lrat.bench import run

    config = dataclasses.replace(_config(), variants=("lrat",))
    collection = _collection(kb, tmp_path / "kb")
    out = tmp_path / "out"
    first = run(collection, config, model=tiny, out=out, progress=False, print_table=False)
    (out / "work" / "seed0" / "fold1" / "eval_lrat.parquet").unlink()
    calls = []
    real_train = lrat.training.train
    monkeypatch.setattr(lrat.training, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    again = run(collection, config, model=tiny, out=out, progress=False, print_table=False, resume=True)
    assert len(calls) == 1  # only the unit whose evaluation was removed
    assert again.per_query.equals(first.per_query)
    with pytest.raises(ValueError, match=r"other settings.*\(config\.budgets\)"):
        run(
            collection,
            dataclasses.replace(config, budgets=(3, 4)),
            model=tiny,
            out=out,
            progress=False,
            print_table=False,
            resume=True,
        )


def test_resume_with_more_seeds_or_other_variants_adds_them_to_the_earlier_run(kb, tiny, tmp_path, monkeypatch):
    import lrat.bench
    import lrat.training
    from lrat.bench import run

    config = dataclasses.replace(_config(), variants=("lrat",), folds=2)
    collection = _collection(kb, tmp_path / "kb")
    out = tmp_path / "out"
    one = run(collection, config, model=tiny, out=out, progress=False, print_table=False)
    resume = functools.partial(run, collection, model=tiny, out=out, progress=False, print_table=False, resume=True)
    calls = []
    real_train = lrat.training.train
    monkeypatch.setattr(lrat.training, "train", lambda *a, **k: calls.append(k["seed"]) or real_train(*a, **k))
    two = resume(dataclasses.replace(config, seeds=2))
    assert calls == [1, 1]  # seed 1's two folds; seed 0 is read back
    assert two.per_query.filter(pl.col("seed") == 0).equals(one.per_query)
    assert sorted(two.per_query["seed"].unique().to_list()) == [0, 1]
    calls.clear()
    both = resume(dataclasses.replace(config, seeds=2, variants=("lrat", "oracle_question")))
    assert calls == [0, 0, 1, 1]  # only the new variant trains
    assert both.per_query.filter(pl.col("variant") != "oracle_question").equals(two.per_query)
    with pytest.raises(ValueError, match=r"\(config\.seeds\)"):  # fewer seeds than the run holds
        resume(config)
    # A variant whose mining changed since (here a default turned off) is not read back stale.
    monkeypatch.setitem(
        lrat.bench.MINED_VARIANTS, "lrat", {**lrat.bench.MINED_VARIANTS["lrat"], "credit_earlier": False}
    )
    with pytest.raises(ValueError, match="the recipe of lrat"):
        resume(dataclasses.replace(config, seeds=2))


def test_tiered_contextual_and_filtered_variants_train_on_lrats_examples_in_their_own_form(kb, tiny, tmp_path):
    from lrat.bench import run

    config = dataclasses.replace(
        _config(),
        variants=("lrat", "lrat_tiered", "lrat_context", "base_context", "lrat_fn_filter"),
        training=dataclasses.replace(_config().training, steps=1),
    )
    out = tmp_path / "out"
    result = run(_collection(kb, tmp_path / "kb"), config, model=tiny, out=out, progress=False, print_table=False)
    fold = out / "work" / "seed0" / "fold0"
    lrat_set, tiered, contextual, filtered = (
        pl.read_parquet(fold / f"train_{n}.parquet") for n in ("lrat", "lrat_tiered", "lrat_context", "lrat_fn_filter")
    )
    assert lrat_set.height > 0 and tiered.equals(lrat_set), "tiers change the loss, not the examples"
    # The false-negative filter is off by default; its variant drops negatives and keeps every example.
    assert filtered["pos_id"].equals(lrat_set["pos_id"])
    assert all(set(f) <= set(n) for f, n in zip(filtered["neg_id"], lrat_set["neg_id"]))
    dropped = lrat_set["neg_id"].list.len().sum() - filtered["neg_id"].list.len().sum()
    assert dropped > 0
    reports = {s["variant"]: s["mining"] for s in result.supervision if s["fold"] == 0}
    assert "false_negatives_dropped" not in reports["lrat"]
    assert reports["lrat_fn_filter"]["false_negatives_dropped"] == dropped
    settings = (out / "table.txt").read_text()
    assert (
        "keeps every other negative (except: lrat_fn_filter drops negatives the base scores above 0.95 of the positive)"
        in settings
    ), "the table names the variant that mines otherwise than the run"
    assert (lrat_set["neg"].list.len() == lrat_set["neg_tier"].list.len()).all()
    assert contextual["pos_id"].equals(lrat_set["pos_id"])
    for plain, joined, context in zip(lrat_set["query"], contextual["query"], contextual["context"]):
        assert joined == (f"{plain}\n{context.strip()}" if context.strip() else plain)
    assert sorted(result.per_query["variant"].unique()) == [
        "base",
        "base_context",
        "lrat",
        "lrat_context",
        "lrat_fn_filter",
        "lrat_tiered",
    ]
    assert not (fold / "train_base_context.parquet").exists(), "the reference is not trained"
    rows = result.per_query.filter(pl.col("variant").is_in(["base", "base_context"])).sort("variant", "query_id")
    base_rows, context_rows = rows.filter(pl.col("variant") == "base"), rows.filter(pl.col("variant") == "base_context")
    assert base_rows["recall@10"].equals(context_rows["recall@10"]), "the question alone has no context"
    assert not base_rows["aq_recall@10"].equals(context_rows["aq_recall@10"]), "the agents' queries carry theirs"


def test_more_plays_add_training_trajectories_and_leave_the_heldout_measure_alone(kb, tiny, bench_run, tmp_path):
    """`plays=2`: every question is played a second time on its own random stream; the training sets
    gain the second play's examples of the training questions only, and everything measured on the
    held-out questions against base (play 0) is what a one-play run measures."""
    from lrat.bench import run

    out = tmp_path / "out"
    result = run(
        _collection(kb, tmp_path / "kb"),
        dataclasses.replace(_config(), plays=2),
        model=tiny,
        out=out,
        progress=False,
        print_table=False,
    )
    seed0 = out / "work" / "seed0"
    first = [json.loads(line) for line in (seed0 / "base_runs.jsonl").read_text().splitlines()]
    second = [json.loads(line) for line in (seed0 / "base_runs_play1.jsonl").read_text().splitlines()]
    assert [r["query_id"] for r in first] == [r["query_id"] for r in second]
    assert [r["result"] for r in first] != [r["result"] for r in second], "the second play is its own stream"
    assert first == [json.loads(line) for line in (bench_run / "work" / "seed0" / "base_runs.jsonl").open()]
    one_play = pl.read_parquet(bench_run / "per_query.parquet").filter(pl.col("variant") == "base")
    assert result.per_query.filter(pl.col("variant") == "base").equals(one_play)
    for fold in (0, 1):
        held = set(pl.read_parquet(out / "per_query.parquet").filter(pl.col("fold") == fold)["query_id"])
        for name in ("lrat", "oracle_trajectory"):
            before = pl.read_parquet(bench_run / "work" / "seed0" / f"fold{fold}" / f"train_{name}.parquet")
            after = pl.read_parquet(seed0 / f"fold{fold}" / f"train_{name}.parquet")
            assert after.height > before.height, (name, fold)
            assert set(zip(before["query"], before["pos_id"])) <= set(zip(after["query"], after["pos_id"]))
            assert not set(after["query_id"]) & held
        question_oracle = f"fold{fold}/train_oracle_question.parquet"
        assert pl.read_parquet(seed0 / question_oracle).equals(
            pl.read_parquet(bench_run / "work" / "seed0" / question_oracle)
        )


def test_the_settings_line_names_the_variants_that_mine_negatives_otherwise_than_the_run():
    from lrat.bench import BenchConfig, _negatives_setting

    assert (
        _negatives_setting(BenchConfig(variants=("lrat", "oracle_question")))
        == "mining excludes accepted documents from negatives: True, keeps every other negative"
    )
    line = _negatives_setting(
        BenchConfig(variants=("lrat", "lrat_keep_accepted", "lrat_no_fn_filter"), false_negative_margin=0.95)
    )
    assert line == (
        "mining excludes accepted documents from negatives: True, drops negatives the base scores above 0.95 of "
        "the positive (except: lrat_keep_accepted lets accepted documents be negatives; lrat_no_fn_filter keeps "
        "every other negative)"
    )


def test_the_solved_question_oracle_keeps_the_question_oracles_rows_of_the_questions_the_agent_solved(
    kb, tiny, bench_run, tmp_path
):
    import shutil

    from lrat.bench import run

    out = tmp_path / "out"
    shutil.copytree(bench_run, out)
    config = dataclasses.replace(_config(), variants=("oracle_question", "oracle_solved"))
    result = run(
        _collection(kb, tmp_path / "kb"), config, model=tiny, out=out, progress=False, print_table=False, resume=True
    )
    seed0 = out / "work" / "seed0"
    records = [json.loads(line) for line in (seed0 / "base_runs.jsonl").read_text().splitlines()]
    solved = {r["query_id"] for r in records if r["status"] == "completed"}
    for fold in (0, 1):
        question_oracle = pl.read_parquet(seed0 / f"fold{fold}" / "train_oracle_question.parquet")
        solved_oracle = pl.read_parquet(seed0 / f"fold{fold}" / "train_oracle_solved.parquet")
        assert 0 < solved_oracle.height < question_oracle.height, fold
        assert solved_oracle.equals(question_oracle.filter(pl.col("query_id").is_in(sorted(solved))))
    assert "fraction_of_oracle_solved" in result.summary["oracle_question"]["aq_recall@10"]


def test_variants_pair_within_and_across_runs_of_one_split_and_not_across_splits(bench_run, tmp_path):
    """`benches/pair_variants.py`: a variant against base reproduces the run's own interval; a variant
    against itself differs by exactly 0; a run whose base rows differ (another split or base run) is
    refused rather than paired."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benches"))
    from pair_variants import format_pairs, pair

    results = json.loads((bench_run / "results.json").read_text())["results"]
    result = pair(
        {"L": (bench_run, "lrat"), "again": (bench_run, "lrat"), "Q": (bench_run, "oracle_question")},
        [("L", "base"), ("L", "again"), ("Q", "L")],
        resamples=_config().resamples,
    )
    for metric, delta in result["L − base"].items():
        assert delta == pytest.approx(results["lrat"][metric]["delta"], nan_ok=True), metric
    assert all(d["mean"] == d["low"] == d["high"] == 0 and not d["significant"] for d in result["L − again"].values())
    per_query = pl.read_parquet(bench_run / "per_query.parquet")
    expected = (
        per_query.filter(pl.col("variant") == "oracle_question")["recall@10"].mean()
        - per_query.filter(pl.col("variant") == "lrat")["recall@10"].mean()
    )
    assert result["Q − L"]["recall@10"]["mean"] == pytest.approx(expected)
    assert "L − again\n  recall@2" in format_pairs(result)

    other = tmp_path / "other"
    other.mkdir()
    # The same runs split into folds the other way round: another split.
    per_query.with_columns(1 - pl.col("fold")).write_parquet(other / "per_query.parquet")
    with pytest.raises(ValueError, match=r"other: its base rows differ from those of .*cannot be paired"):
        pair({"L": (bench_run, "lrat"), "M": (other, "lrat")})
    with pytest.raises(ValueError, match=r"no variant 'lrat_chain'; the run holds base, lrat, oracle_question"):
        pair({"L": (bench_run, "lrat_chain")})
