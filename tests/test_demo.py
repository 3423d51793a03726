"""`lrat demo` end to end on a tiny knowledge base with a tiny model: the table's JSON and files, held-out
questions kept out of training, reproducibility for a seed, and the dense retriever adapter."""

from __future__ import annotations

import json
import polars as pl
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from _tiny_model import make_tiny_model  # noqa: E402

from lrat.cli import main  # noqa: E402
from lrat.demo import QUICK, run_demo  # noqa: E402
from lrat.synthetic import generate  # noqa: E402

VARIANTS = ["base", "naive", "filter", "lrat", "oracle"]
METRICS = ["evidence_recall", "recall@10", "ndcg@10", "success_rate", "steps", "recall@2", "mrr", "misses@10"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def ablation_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--quick", "--ablation", "--seed", "3", "--model", str(tiny), "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_json_holds_one_object_per_variant_with_the_table(ablation_run):
    results = json.loads((ablation_run / "results.json").read_text())
    assert list(results) == VARIANTS
    for name, row in results.items():
        for metric in METRICS:
            assert isinstance(row[metric], float), (name, metric)
        for metric in ("evidence_recall", "recall@10", "ndcg@10", "success_rate", "recall@2", "mrr"):
            assert 0.0 <= row[metric] <= 1.0, (name, metric)
        assert row["misses@10"] == pytest.approx(1.0 - row["recall@10"])
        assert row["steps"] >= 1.0
    assert results["base"]["train_examples"] == 0
    for name in VARIANTS[1:]:
        assert results[name]["train_examples"] > 0
        assert results[name]["train_steps"] == QUICK.budget.steps
    assert set(results["lrat"]["gain_vs_oracle"]) == {"evidence_recall", "recall@10", "ndcg@10"}
    settings = json.loads((ablation_run / "settings.json").read_text())
    assert settings["seed"] == 3 and settings["agent"]["k"] == 10
    assert settings["heldout_questions"] + settings["train_questions"] == QUICK.kb.n_questions
    for plot in ("metrics.png", "steps.png"):
        assert (ablation_run / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lrat" in (ablation_run / "table.txt").read_text()


def test_heldout_questions_never_reach_the_training_sets(ablation_run):
    kb = generate(QUICK.kb, seed=3)
    heldout = set(kb.heldout_questions["query_id"])
    train = set(kb.train_questions["query_id"])
    assert heldout and train
    heldout_texts = set(kb.heldout_questions["question"])
    for name in ("naive", "filter", "lrat", "oracle"):
        df = pl.read_parquet(ablation_run / "work" / f"train_{name}.parquet")
        assert df.height > 0
        ids = set(df["query_id"])
        assert ids <= train, name
        assert not ids & heldout, name
        assert not set(df["query"]) & heldout_texts, name
    runs = [json.loads(line) for line in (ablation_run / "work" / "train_runs.jsonl").open()]
    assert {r["query_id"] for r in runs} == train


def test_variants_train_differently(ablation_run):
    naive = pl.read_parquet(ablation_run / "work" / "train_naive.parquet")
    filtered = pl.read_parquet(ablation_run / "work" / "train_filter.parquet")
    weighted = pl.read_parquet(ablation_run / "work" / "train_lrat.parquet")
    assert filtered.height < naive.height  # the judge dropped rejected browses
    assert set(naive["weight"]) == {1.0} and set(filtered["weight"]) == {1.0}
    assert weighted.height == filtered.height and weighted["weight"].n_unique() > 1


def test_same_seed_reproduces_the_knowledge_base_and_the_agent(ablation_run, tiny, tmp_path):
    a, b = generate(QUICK.kb, seed=3), generate(QUICK.kb, seed=3)
    assert a.corpus.equals(b.corpus) and a.questions.equals(b.questions)
    assert not generate(QUICK.kb, seed=4).corpus.equals(a.corpus)
    results = run_demo(tmp_path, seed=3, quick=True, model=tiny, progress=False)
    assert list(results) == ["base", "lrat", "oracle"]
    first = (ablation_run / "work" / "train_runs.jsonl").read_bytes()
    assert (tmp_path / "work" / "train_runs.jsonl").read_bytes() == first
    before = json.loads((ablation_run / "results.json").read_text())["base"]
    assert results["base"] == before


def test_dense_retriever_finds_a_document_by_its_own_text(tiny):
    from lrat.encoder import Encoder
    from lrat.retriever import DenseRetriever

    kb = generate(QUICK.kb, seed=0)
    corpus = kb.corpus.head(50)
    retriever = DenseRetriever.build(corpus, Encoder.load(tiny, max_query_length=128), exact=True)
    texts = corpus["text"].to_list()[:5]
    hits = retriever.search(texts, 3)
    assert len(hits) == 5
    for doc_id, found in zip(corpus["doc_id"].to_list(), hits):
        assert len(found) == 3
        assert found[0][0] == doc_id and found[0][1] == pytest.approx(1.0, abs=1e-4)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    with pytest.raises(ValueError, match="more than once"):
        DenseRetriever.build(pl.concat([corpus.head(2), corpus.head(1)]), retriever.encoder)
