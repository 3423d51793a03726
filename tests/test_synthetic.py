"""The synthetic knowledge base: reproducible, multi-hop chains whose documents hold the facts, and
near-duplicate distractors that share names."""

from __future__ import annotations

import re
from collections import defaultdict

import polars as pl
import pytest
from lrat.harness.synthetic import KnowledgeBase, SyntheticConfig, generate, split_of

SMALL = SyntheticConfig(n_people=300, n_cities=80, n_organisations=140, n_works=140, n_events=90, n_questions=200)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return generate(SMALL, seed=5)


def test_same_seed_same_frames_and_other_seed_differs(kb):
    again = generate(SMALL, seed=5)
    assert kb.corpus.equals(again.corpus) and kb.questions.equals(again.questions)
    other = generate(SMALL, seed=6)
    assert not other.corpus.equals(kb.corpus)


def test_shapes_and_sizes(kb):
    assert kb.corpus.columns == ["doc_id", "title", "text"]
    assert kb.questions.columns == ["query_id", "question", "answer", "evidence", "hops", "split"]
    assert kb.corpus["doc_id"].n_unique() == kb.corpus.height
    entities = 300 + 80 + 140 + 140 + 90
    assert entities < kb.corpus.height < entities * 1.4  # distractors for about a quarter of non-cities
    assert kb.questions.height == 200 and kb.questions["query_id"].n_unique() == 200
    assert set(kb.questions["hops"].unique()) == {2, 3, 4}
    default = generate(seed=0)
    assert 2000 <= default.corpus.height <= 4000 and 300 <= default.questions.height <= 600


def test_chains_are_held_by_their_evidence_documents(kb):
    docs = dict(kb.corpus.select("doc_id", "text").iter_rows())
    titles = dict(kb.corpus.select("doc_id", "title").iter_rows())
    for q in kb.questions.iter_rows(named=True):
        evidence = q["evidence"]
        assert len(evidence) == q["hops"] == len(set(evidence))
        assert all(d in docs for d in evidence)
        assert titles[evidence[0]] in q["question"]  # the question names the start of the chain
        for here, nxt in zip(evidence, evidence[1:]):
            assert titles[nxt] in docs[here], f"{q['query_id']}: {here} does not name the next entity"
        assert q["answer"] in docs[evidence[-1]], f"{q['query_id']}: the last document lacks the answer"


def test_distractors_share_names_but_not_the_questions_constraint(kb):
    by_title = defaultdict(list)
    for doc_id, title in kb.corpus.select("doc_id", "title").iter_rows():
        by_title[title].append(doc_id)
    docs = dict(kb.corpus.select("doc_id", "text").iter_rows())
    shared = {t: ids for t, ids in by_title.items() if len(ids) > 1}
    assert len(shared) > 100
    for ids in shared.values():
        assert len({docs[i] for i in ids}) == len(ids)
    titles = dict(kb.corpus.select("doc_id", "title").iter_rows())
    confusable = 0
    for q in kb.questions.iter_rows(named=True):
        start = q["evidence"][0]
        others = [d for d in by_title[titles[start]] if d != start]
        years = re.findall(r"\b\d{4}\b", q["question"])
        assert years and all(y in docs[start] for y in years)
        for other in others:
            confusable += 1
            assert not all(y in docs[other] for y in years), q["query_id"]
    assert confusable > 20


def test_split_is_fixed_by_query_id(kb):
    assert set(kb.train_questions["query_id"]).isdisjoint(kb.heldout_questions["query_id"])
    share = kb.heldout_questions.height / kb.questions.height
    assert 0.2 < share < 0.4
    fewer = generate(SyntheticConfig(**{**SMALL.__dict__, "n_questions": 120}), seed=5)
    assert fewer.questions.equals(kb.questions.head(120))
    assert all(split_of(q, 0.3, SMALL.split_seed) == s for q, s in kb.questions.select("query_id", "split").iter_rows())
    qrels = kb.qrels(kb.heldout_questions)
    assert set(qrels) == set(kb.heldout_questions["query_id"]) and all(
        v == 1 for d in qrels.values() for v in d.values()
    )


def test_documents_look_like_encyclopedia_entries(kb):
    for title, text in kb.corpus.select("title", "text").head(50).iter_rows():
        first, _, body = text.partition("\n")
        assert first == title
        assert body.count(". ") >= 4 and body.endswith(".")
    lengths = kb.corpus["text"].map_elements(lambda t: len(t.split()), return_dtype=pl.Int64)
    assert lengths.min() > 40 and 70 < lengths.mean() < 200
