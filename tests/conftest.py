"""Shared fixtures: where the real data lives, and the real BrowseComp run files in several shapes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the shared data is absent (a user's clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        path = Path("/work/shared/data").joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data lives beside the repository in CI)")
    return path.resolve()


@pytest.fixture(scope="session")
def lrat_trajectories() -> Path:
    """The folder of the 10 real LRAT run files (one JSON object per file)."""
    return shared_data("lrat-trajectories")


@pytest.fixture(scope="session")
def real_runs(lrat_trajectories: Path) -> Path:
    return lrat_trajectories


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
