"""`lrat demo` end to end on a tiny knowledge base with a tiny model: the table's JSON and files, held-out
questions kept out of training, reproducibility for a seed, and the dense retriever adapter."""

from __future__ import annotations

import json

import polars as pl
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from _tiny_model import make_tiny_model  # noqa: E402
from lrat.bench import assign_folds  # noqa: E402
from lrat.cli import main  # noqa: E402
from lrat.harness.demo import QUICK, run_demo  # noqa: E402
from lrat.harness.synthetic import generate  # noqa: E402

VARIANTS = ["base", "naive", "filter", "lrat", "oracle_question", "oracle_trajectory"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def ablation_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--quick", "--ablation", "--seed", "3", "--model", str(tiny), "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_demo_writes_the_bench_results_for_every_variant(ablation_run):
    results = json.loads((ablation_run / "results.json").read_text())
    assert results["variants"] == VARIANTS
    for name in VARIANTS:
        for metric in ("recall@10", "aq_recall@10", "evidence_recall@3", "success@5"):
            value = results["results"][name][metric]["mean"]
            assert 0.0 <= value <= 1.0, (name, metric)
    base = results["results"]["base"]
    assert base["misses@10"]["mean"] == pytest.approx(1.0 - base["recall@10"]["mean"])
    settings = json.loads((ablation_run / "settings.json").read_text())
    assert settings["knowledge_base_seed"] == 3 and settings["config"]["agent"]["k"] == 10
    assert sum(settings["fold_sizes"]) == QUICK.kb.n_questions
    check = settings["saturation_check"]
    assert check["metric"] == "evidence_recall@3" and 0.0 <= check["base"] <= 1.0
    assert (ablation_run / "deltas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lrat" in (ablation_run / "table.txt").read_text()


def test_heldout_questions_never_reach_the_training_sets(ablation_run):
    kb = generate(QUICK.kb, seed=3)
    settings = json.loads((ablation_run / "settings.json").read_text())
    folds = assign_folds(
        kb.questions["query_id"].to_list(), settings["config"]["folds"], settings["config"]["fold_seed"]
    )
    texts = dict(kb.questions.select("query_id", "question").iter_rows())
    for fold in range(settings["config"]["folds"]):
        heldout = {q for q, f in folds.items() if f == fold}
        for name in VARIANTS[1:]:
            df = pl.read_parquet(ablation_run / "work" / "seed0" / f"fold{fold}" / f"train_{name}.parquet")
            assert df.height > 0, name
            assert not set(df["query_id"]) & heldout, name
            assert not set(df["query"]) & {texts[q] for q in heldout}, name


def test_variants_train_differently(ablation_run):
    fold = ablation_run / "work" / "seed0" / "fold0"
    naive = pl.read_parquet(fold / "train_naive.parquet")
    filtered = pl.read_parquet(fold / "train_filter.parquet")
    weighted = pl.read_parquet(fold / "train_lrat.parquet")
    assert filtered.height < naive.height  # the judge dropped rejected browses
    assert set(naive["weight"]) == {1.0} and set(filtered["weight"]) == {1.0}
    assert weighted.height == filtered.height and weighted["weight"].n_unique() > 1


def test_same_seed_reproduces_the_knowledge_base_and_the_agent(ablation_run, tiny, tmp_path):
    a, b = generate(QUICK.kb, seed=3), generate(QUICK.kb, seed=3)
    assert a.corpus.equals(b.corpus) and a.questions.equals(b.questions)
    assert not generate(QUICK.kb, seed=4).corpus.equals(a.corpus)
    result = run_demo(tmp_path, seed=3, quick=True, model=tiny, progress=False)
    assert list(result.summary) == ["base", "lrat", "oracle_question", "oracle_trajectory"]
    first = (ablation_run / "work" / "seed0" / "base_runs.jsonl").read_bytes()
    assert (tmp_path / "work" / "seed0" / "base_runs.jsonl").read_bytes() == first
    before = json.loads((ablation_run / "results.json").read_text())["results"]["base"]
    assert result.summary["base"]["recall@10"]["mean"] == before["recall@10"]["mean"]
    assert result.summary["base"]["success@8"]["mean"] == before["success@8"]["mean"]


def test_corpus_search_finds_a_document_by_its_own_text(tiny):
    from lrat.encoder import Encoder
    from lrat.server.search import CorpusSearch

    kb = generate(QUICK.kb, seed=0)
    corpus = kb.corpus.head(50)
    retriever = CorpusSearch.build(Encoder.load(tiny, max_query_length=128), corpus, exact=True)
    texts = corpus["text"].to_list()[:5]
    hits = retriever.search(texts, 3)
    assert len(hits) == 5
    for doc_id, found in zip(corpus["doc_id"].to_list(), hits):
        assert len(found) == 3
        assert found[0][0] == doc_id and found[0][1] == pytest.approx(1.0, abs=1e-4)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    with pytest.raises(ValueError, match="more than once"):
        CorpusSearch.build(retriever.encoder, pl.concat([corpus.head(2), corpus.head(1)]))
    vectors = retriever.encoder.encode(corpus["text"].to_list(), kind="document")
    given = CorpusSearch.build(retriever.encoder, corpus, exact=True, vectors=vectors)
    assert given.search(texts, 3) == hits, "vectors computed elsewhere index the same"
    with pytest.raises(ValueError, match=r"vectors of shape \(49, "):
        CorpusSearch.build(retriever.encoder, corpus, vectors=vectors[:49])


def test_corpus_search_query_cache_stays_bounded_and_answers_the_same(tiny):
    from lrat.encoder import Encoder
    from lrat.server.search import CorpusSearch

    corpus = generate(QUICK.kb, seed=0).corpus.head(30)
    encoder = Encoder.load(tiny)
    cached = CorpusSearch.build(encoder, corpus, exact=True)
    cached.query_cache = 3
    fresh = CorpusSearch.build(encoder, corpus, exact=True)
    fresh.query_cache = 0
    texts = corpus["text"].to_list()
    for batch in (texts[:2], texts[1:4], texts[:2], texts[5:7] + texts[:1]):
        assert cached.search(batch, 3) == fresh.search(batch, 3)
        assert len(cached._query_vectors) <= max(3, len(set(batch)))
