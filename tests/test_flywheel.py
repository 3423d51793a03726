"""`lrat flywheel`: two tiny rounds of serve → agent → mine → train → re-index, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import lrat  # noqa: E402
from _tiny_model import make_tiny_model  # noqa: E402
from lrat.harness.flywheel import FlywheelConfig, format_reports, run_flywheel  # noqa: E402
from lrat.harness.synthetic import SyntheticConfig, generate  # noqa: E402

TINY_KB = SyntheticConfig(n_people=40, n_cities=12, n_organisations=20, n_works=20, n_events=12, n_questions=24)


@pytest.mark.slow
def test_two_rounds_log_mine_train_and_report_each_round(tmp_path: Path) -> None:
    base = make_tiny_model(tmp_path / "tiny")
    config = FlywheelConfig(
        rounds=2,
        model=str(base),
        synthetic=TINY_KB,
        train={"epochs": 1, "batch_size": 4, "group_size": 3, "learning_rate": 1e-3, "temperature": 0.05},
        mine={"outcomes": "all", "tokenizer": "whitespace"},
        device="cpu",
    )
    reports = run_flywheel(config, tmp_path / "work")
    kb = generate(TINY_KB, seed=0)
    n_train, n_heldout = kb.train_questions.height, kb.heldout_questions.height

    assert [r.round for r in reports] == [0, 1, 2]
    assert reports[0].model == str(base)
    assert reports[1].model == str(tmp_path / "work" / "round-0" / "model")
    assert reports[2].model == str(tmp_path / "work" / "round-1" / "model")
    for r in reports[:2]:
        assert r.trajectories_logged == n_train
        assert r.examples_mined > 0 and r.train_steps > 0 and r.train_loss is not None
        # The round's served logs are what `lrat mine` read: one trajectory per training question.
        served = lrat.read_trajectories(tmp_path / "work" / f"round-{r.round}" / "logs", "browsecomp", strict=True)
        assert sorted(served.trajectories["query_id"].to_list()) == sorted(kb.train_questions["query_id"].to_list())
        assert served.steps.filter(pl.col("kind") == "reason").height > 0
    assert reports[2].trajectories_logged == 0 and reports[2].train_steps == 0
    for r in reports:
        assert 0.0 <= r.retrieval["recall@10"] <= r.retrieval["recall@100"] <= 1.0
        assert r.agent["n_trajectories"] == n_heldout
        assert 0.0 <= r.agent["success_rate"] <= 1.0

    lines = [json.loads(x) for x in (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()]
    assert [x["round"] for x in lines] == [0, 1, 2]
    table = format_reports(reports).splitlines()
    assert table[0].split()[:3] == ["round", "recall@10", "ndcg@10"] and len(table) == 4


def test_cli_passes_only_the_training_settings_given(tmp_path: Path, monkeypatch) -> None:
    """`lrat flywheel` trains each round with `lrat train`'s defaults unless a flag overrides one."""
    import lrat.harness.flywheel
    from lrat.cli import main

    seen = []
    monkeypatch.setattr(lrat.harness.flywheel, "run_flywheel", lambda config, work, progress: seen.append(config) or [])
    monkeypatch.setattr(lrat.harness.flywheel, "format_reports", lambda reports: "")
    assert main(["flywheel", "--work-dir", str(tmp_path), "--rounds", "1"]) == 0
    assert main(["flywheel", "--work-dir", str(tmp_path), "--batch-size", "8", "--max-steps", "5"]) == 0
    assert [dict(c.train) for c in seen] == [{}, {"batch_size": 8, "max_steps": 5}]
