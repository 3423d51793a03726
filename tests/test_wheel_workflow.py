"""The wheel workflow (.github/workflows/wheels.yml) is valid and builds, tests and publishes what users
install: one abi3 wheel per platform, tested from a clean virtualenv without Rust, published on tags."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "wheels.yml"

PLATFORMS = {
    "linux-x86_64": ("x86_64", "ubuntu"),
    "linux-aarch64": ("aarch64", "ubuntu"),
    "macos-x86_64": ("x86_64", "macos"),
    "macos-arm64": ("aarch64", "macos"),
    "windows-x64": ("x64", "windows"),
}


@pytest.fixture(scope="module")
def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(action)]


def run_text(job: dict) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if exe is None:
        pytest.fail("check-jsonschema is not installed (it is in the `dev` extra)")
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True
    )


def test_the_workflow_matches_github_actions_schema(tmp_path: Path) -> None:
    done = check_jsonschema(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    # The validator has teeth: a job without `runs-on` is rejected.
    broken = WORKFLOW.read_text().replace(
        "    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n      - uses: PyO3/maturin-action@v1\n",
        "    steps:\n      - uses: actions/checkout@v4\n      - uses: PyO3/maturin-action@v1\n",
        1,
    )
    assert broken != WORKFLOW.read_text()
    (tmp_path / "broken.yml").write_text(broken)
    assert check_jsonschema(tmp_path / "broken.yml").returncode != 0


def test_every_needed_job_and_matrix_field_exists(workflow: dict) -> None:
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        needs = job.get("needs", [])
        for needed in [needs] if isinstance(needs, str) else needs:
            assert needed in jobs, f"job {name} needs {needed}, which does not exist"
        entries = job.get("strategy", {}).get("matrix", {}).get("platform", [])
        used = set(re.findall(r"matrix\.platform\.(\w+)\b(?!\s*\|\|)", yaml.safe_dump(job)))
        for entry in entries:
            missing = used - set(entry)
            assert not missing, f"job {name}: platform {entry['name']} lacks {sorted(missing)}"


def test_a_wheel_is_built_for_every_platform_and_an_sdist(workflow: dict) -> None:
    wheel = workflow["jobs"]["wheel"]
    platforms = {p["name"]: p for p in wheel["strategy"]["matrix"]["platform"]}
    assert set(platforms) == set(PLATFORMS)
    for name, (target, runner) in PLATFORMS.items():
        assert platforms[name]["target"] == target
        assert platforms[name]["runner"].startswith(runner)
    for name in ("linux-x86_64", "linux-aarch64"):
        assert platforms[name]["manylinux"] == "2_28"
    (build,) = steps_using(wheel, "PyO3/maturin-action")
    assert "--out dist" in build["with"]["args"]
    assert "target-cpu" not in yaml.safe_dump(workflow), "wheels must run on any CPU of their platform"
    (sdist,) = steps_using(workflow["jobs"]["sdist"], "PyO3/maturin-action")
    assert sdist["with"]["command"] == "sdist"


def test_each_wheel_is_tested_installed_without_rust(workflow: dict) -> None:
    test = workflow["jobs"]["test"]
    assert test["needs"] == "wheel"
    matrix = test["strategy"]["matrix"]
    assert {p["name"] for p in matrix["platform"]} == set(PLATFORMS)
    assert min(matrix["python"], key=lambda v: tuple(map(int, v.split(".")))) == "3.10"
    script = run_text(test)
    assert "rustup self uninstall" in script and "command -v cargo" in script
    assert "--only-binary=lrat" in script
    assert "site-packages" in script, "the job must check that the tests import the installed package"
    assert "python -m pytest" in script and "lrat demo" in script


def test_publishing_happens_on_version_tags_through_trusted_publishing(workflow: dict) -> None:
    assert "v*" in workflow["on"]["push"]["tags"]
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert set(publish["needs"]) == {"wheel", "sdist", "test"}
    assert publish["permissions"] == {"id-token": "write"}
    assert steps_using(publish, "pypa/gh-action-pypi-publish")
    assert "password" not in yaml.safe_dump(publish), "trusted publishing needs no token"


def test_wheels_are_built_with_the_distribution_profile() -> None:
    tomllib = pytest.importorskip("tomllib")
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    dist = cargo["profile"]["dist"]
    assert dist["inherits"] == "release"
    assert dist["lto"] == "fat" and dist["codegen-units"] == 1 and dist["strip"] == "debuginfo"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["maturin"]["profile"] == "dist"
    assert pyproject["project"]["requires-python"] == ">=3.10"
    bindings = tomllib.loads((ROOT / "rust" / "lrat-py" / "Cargo.toml").read_text())
    assert "abi3-py310" in bindings["dependencies"]["pyo3"]["features"]
    assert not (ROOT / ".cargo").exists(), "no .cargo/config: a target-cpu flag there would reach the wheels"
