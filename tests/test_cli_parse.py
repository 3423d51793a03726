"""`lrat parse LOGS... -o OUT/`: the five Parquet tables, exit codes and error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from lrat.cli import main

TABLES = ["trajectories", "steps", "search_results", "browses", "errors"]


def test_parse_real_files_writes_five_tables(real_runs: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["parse", str(real_runs), "-o", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.parquet" for name in TABLES)
    rows = {name: pl.read_parquet(out / f"{name}.parquet").height for name in TABLES}
    assert rows == {"trajectories": 10, "steps": 280, "search_results": 1020, "browses": 28, "errors": 0}
    trajectories = pl.read_parquet(out / "trajectories.parquet")
    assert trajectories["n_searches"].sum() == 102
    assert set(trajectories["outcome"]) == {"completed"}
    stdout = capsys.readouterr().out
    assert "10 trajectories from 10 records (0 skipped, 0 warnings)" in stdout
    assert str(out / "search_results.parquet") in stdout


def test_parse_matches_read_trajectories(real_runs: Path, tmp_path: Path) -> None:
    import lrat

    out = tmp_path / "out"
    assert main(["parse", str(real_runs / "*.json"), "-o", str(out), "--no-progress"]) == 0
    written = lrat.Trajectories.read_parquet(out)
    direct = lrat.read_trajectories(str(real_runs / "*.json"))
    for name in TABLES:
        assert getattr(written, name).equals(getattr(direct, name)), name


def test_parse_writes_a_row_group_per_batch_and_shows_progress(real_runs: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text(
        "".join(json.dumps(json.loads(p.read_text())) + "\n" for p in sorted(real_runs.glob("*.json"))),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "lrat", "parse", str(jsonl), "-o", str(out), "--batch-size", "3"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert pq.ParquetFile(out / "trajectories.parquet").metadata.num_row_groups == 4
    assert pl.read_parquet(out / "trajectories.parquet")["line"].to_list() == list(range(1, 11))
    # tqdm's bar on stderr, with the running totals.
    assert "parse:" in proc.stderr and "trajectories=10" in proc.stderr


def test_parse_bad_records_exit_zero_and_list_them(tmp_path: Path, capsys) -> None:
    logs = tmp_path / "logs.jsonl"
    good = {
        "query_id": "1",
        "query": "q",
        "status": "completed",
        "result": [{"type": "output_text", "tool_name": "None", "arguments": "None", "output": "a"}],
    }
    logs.write_text(json.dumps(good) + "\n{truncated\n" + json.dumps({**good, "query_id": "3"}) + "\n")
    out = tmp_path / "out"
    assert main(["parse", str(logs), "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "2 trajectories from 3 records (1 skipped, 0 warnings)" in captured.out
    assert "errors.parquet" in captured.err
    errors = pl.read_parquet(out / "errors.parquet")
    assert errors.select("source", "line", "severity").row(0) == (str(logs), 2, "error")
    assert errors["reason"][0].startswith("invalid JSON")
    assert pl.read_parquet(out / "trajectories.parquet")["query_id"].to_list() == ["1", "3"]

    # --strict stops at the bad record: exit code 1 and a message naming file, line and reason.
    strict_out = tmp_path / "strict"
    assert main(["parse", str(logs), "-o", str(strict_out), "--no-progress", "--strict"]) == 1
    err = capsys.readouterr().err
    assert f"lrat parse: error: {logs}:2 (byte " in err and "invalid JSON" in err
    # Nothing half-written is left under the final names.
    assert not (strict_out / "trajectories.parquet").exists()


def test_parse_missing_input(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-such-logs.jsonl"
    assert main(["parse", str(missing), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lrat parse: error: ")
    assert str(missing) in err and "no such file or directory" in err
    assert not (tmp_path / "out").exists()

    assert main(["parse", str(tmp_path / "*.jsonl"), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    assert "no input matched" in capsys.readouterr().err


def test_parse_usage_errors(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lrat", "parse", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "-o/--out" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "lrat", "parse", str(tmp_path), "-o", str(tmp_path / "o"), "--log-format", "nope"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert 'unknown format "nope"' in proc.stderr
