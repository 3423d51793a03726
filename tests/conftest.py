"""Shared fixtures: the real BrowseComp run files and JSONL made from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

_CANDIDATES = [
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lrat-trajectories",
    Path("/work/shared/data/lrat-trajectories"),
]


def _real_runs_dir() -> Path | None:
    for path in _CANDIDATES:
        if path.is_dir() and any(path.glob("*.json")):
            return path.resolve()
    return None


@pytest.fixture(scope="session")
def real_runs() -> Path:
    """The folder of the 10 real LRAT run files (one JSON object per file)."""
    path = _real_runs_dir()
    if path is None:
        pytest.skip("../shared/data/lrat-trajectories is absent (the real run files)")
    return path


@pytest.fixture(scope="session")
def real_records(real_runs: Path) -> list[dict]:
    """The real run files as dicts, sorted by file name."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(real_runs.glob("*.json"))]


@pytest.fixture()
def real_jsonl(tmp_path: Path, real_records: list[dict]) -> Path:
    """The 10 real runs as JSON lines, one trajectory per line, in file-name order."""
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in real_records), encoding="utf-8")
    return path
