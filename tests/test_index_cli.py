"""`lrat index build` and `lrat index search`, run through the `lrat` command's entry point."""

from __future__ import annotations

import json

import lrat.cli
import numpy as np
import pytest
from lrat import Index


@pytest.fixture(autouse=True)
def only_the_index_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other subcommands may live on other branches; this test needs only `index`.
    monkeypatch.setattr(lrat.cli, "COMMANDS", ["index"])


def lrat_main(*args: str) -> int:
    return lrat.cli.main([str(a) for a in args])


@pytest.fixture()
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((300, 16)).astype(np.float32)
    np.save(tmp_path / "emb.npy", embeddings)
    ids = [f"doc-{i}" for i in range(300)]
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    return tmp_path, embeddings, ids


def test_build_then_search_jsonl(corpus, capsys) -> None:
    tmp, embeddings, ids = corpus
    assert lrat_main("index", "build", tmp / "emb.npy", "--ids", tmp / "ids.txt", "-o", tmp / "idx.lrat") == 0
    assert "indexed 300 vectors of dimension 16" in capsys.readouterr().err
    index = Index.load(tmp / "idx.lrat")
    assert len(index) == 300 and index.key_kind == "str" and index.metric == "cos"

    np.save(tmp / "q.npy", embeddings[[4, 250]])
    assert lrat_main("index", "search", tmp / "idx.lrat", tmp / "q.npy", "-k", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["query"] for r in records] == [0, 1]
    assert [r["keys"][0] for r in records] == ["doc-4", "doc-250"]
    assert all(len(r["keys"]) == 3 == len(r["distances"]) for r in records)


def test_search_writes_tsv_with_query_ids(corpus, capsys) -> None:
    tmp, embeddings, _ = corpus
    np.save(tmp / "ids.npy", np.arange(1000, 1300))
    assert (
        lrat_main("index", "build", tmp / "emb.npy", "--ids", tmp / "ids.npy", "--metric", "l2", "-o", tmp / "i") == 0
    )
    np.save(tmp / "q.npy", embeddings[:2])
    (tmp / "qids.txt").write_text("first\nsecond\n", encoding="utf-8")
    out = tmp / "results.tsv"
    code = lrat_main(
        "index", "search", tmp / "i", tmp / "q.npy", "-k", "2", "--query-ids", tmp / "qids.txt", "-o", out, "--exact"
    )
    assert code == 0
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r[:3] for r in rows[::2]] == [["first", "1", "1000"], ["second", "1", "1001"]]
    assert len(rows) == 4 and float(rows[0][3]) == pytest.approx(0.0, abs=1e-4)


def test_without_ids_rows_are_the_keys(corpus, capsys) -> None:
    tmp, embeddings, _ = corpus
    assert lrat_main("index", "build", tmp / "emb.npy", "-o", tmp / "i", "--dtype", "f16") == 0
    assert Index.view(tmp / "i").search(embeddings[17], 1)[0][0] == 17


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda t: (t / "ids.txt").write_text("a\nb\n"), "holds 2 ids, but"),
        (lambda t: np.save(t / "emb.npy", np.ones((3, 4), dtype=np.int64)), "expected a float matrix"),
        (lambda t: np.save(t / "emb.npy", np.ones(4, dtype=np.float32)), "2-D"),
        (lambda t: (t / "emb.npy").write_bytes(b"garbage"), "not a readable .npy"),
        (lambda t: (t / "ids.txt").write_text("a\n\n" + "x\n" * 298), "ids.txt:2: empty id"),
        (lambda t: (t / "ids.txt").write_text("same\n" * 300), "appears more than once"),
    ],
)
def test_build_reports_bad_input(corpus, capsys, setup, message: str) -> None:
    tmp, _, _ = corpus
    setup(tmp)
    assert lrat_main("index", "build", tmp / "emb.npy", "--ids", tmp / "ids.txt", "-o", tmp / "i") == 1
    err = capsys.readouterr().err
    assert "lrat index: error:" in err and message in err
    assert not (tmp / "i").exists()


def test_search_reports_bad_input(corpus, capsys) -> None:
    tmp, embeddings, _ = corpus
    assert lrat_main("index", "build", tmp / "emb.npy", "-o", tmp / "i") == 0
    np.save(tmp / "q.npy", embeddings[:, :8])
    assert lrat_main("index", "search", tmp / "i", tmp / "q.npy") == 1
    assert "has dimension 8" in capsys.readouterr().err
    (tmp / "broken").write_bytes((tmp / "i").read_bytes()[:1000])
    assert lrat_main("index", "search", tmp / "broken", tmp / "emb.npy") == 1
    assert "truncated" in capsys.readouterr().err
    assert lrat_main("index", "search", tmp / "missing", tmp / "emb.npy") == 1
    assert "missing" in capsys.readouterr().err
    np.save(tmp / "q.npy", embeddings[:1])
    assert lrat_main("index", "search", tmp / "i", tmp / "q.npy", "-k", "301") == 1
    assert "k=301" in capsys.readouterr().err
