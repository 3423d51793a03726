"""lrat.ray: reading and mining on Ray Data give exactly what one process gives, errors included,
on the shared trajectories and 10,000 generated files (several formats, compressed and plain, bad
records), through local paths, `file://` URIs and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import lrat
import lrat.ray
import polars as pl
import pyarrow.fs as pafs
import pytest
import ray
from _many_logs import write_many_logs
from lrat import _core
from lrat.cli import main
from lrat.trajectories import TABLES, Trajectories, open_reader
from polars.testing import assert_frame_equal

N_FILES = 10_000


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def many_logs(tmp_path_factory) -> Path:
    root = write_many_logs(tmp_path_factory.mktemp("many") / "logs", N_FILES)
    # A second path to a file already listed: read once, with a warning.
    os.symlink(root / "part-00" / "000000-chat_completions.jsonl", root / "part-00" / "zz-link.jsonl")
    return root


@pytest.fixture(scope="module")
def inputs(many_logs: Path, lrat_trajectories: Path) -> list[str]:
    return [str(many_logs), str(lrat_trajectories)]


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    keys = [name for name, dtype in df.schema.items() if not dtype.is_nested()]
    return df.sort(keys, nulls_last=True)


def assert_same_tables(expected: Trajectories, got: Trajectories) -> None:
    for name in TABLES:
        a, b = getattr(expected, name), getattr(got, name)
        assert a.height == b.height, f"{name}: {a.height} rows in one process, {b.height} on Ray"
        assert_frame_equal(_sorted(a), _sorted(b), check_dtypes=True)


def _local_totals(paths: list[str]) -> dict[str, int]:
    reader = open_reader(paths)
    for _ in reader:
        pass
    return dict(reader.totals())


def test_tables_equal_one_process_errors_included(inputs: list[str]):
    expected = lrat.read_trajectories(inputs)
    read = lrat.ray.read_trajectories(inputs, task_bytes=1 << 20)
    got = read.to_local()
    assert_same_tables(expected, got)
    assert read.totals == _local_totals(inputs)
    # The generated set holds what the equality must cover.
    assert expected.trajectories.height > N_FILES
    assert set(expected.trajectories["format"]) >= {"browsecomp", "chat_completions", "react", "search_r1"}
    assert expected.n_errors >= N_FILES // 60
    assert expected.errors.filter(pl.col("reason").str.contains("read once")).height == 1
    assert read.tasks > 10


def test_parquet_shards_read_back_as_the_tables(inputs: list[str], many_logs: Path, tmp_path: Path):
    part = [str(many_logs / "part-00"), inputs[1]]  # part-00 holds a second path to a file
    expected = lrat.read_trajectories(part)
    totals = lrat.ray.write_tables(part, tmp_path.as_uri() + "/direct", task_bytes=64 << 10)
    assert totals == _local_totals(part)
    assert len(list((tmp_path / "direct" / "trajectories").glob("*.parquet"))) > 3
    assert_same_tables(expected, Trajectories.read_parquet(tmp_path / "direct"))

    # Into a filesystem object: each task's tables are staged locally and uploaded.
    subtree = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    assert lrat.ray.write_tables(part, "in/subtree", output_filesystem=subtree, task_bytes=64 << 10) == totals
    assert_same_tables(expected, Trajectories.read_parquet(tmp_path / "in" / "subtree"))

    lrat.ray.read_trajectories(part, task_bytes=64 << 10).write_parquet(str(tmp_path / "datasets"))
    assert_same_tables(expected, Trajectories.read_parquet(tmp_path / "datasets"))


def test_mined_examples_and_report_equal_one_process(inputs: list[str]):
    expected, expected_report = lrat.mine_with_report(inputs, outcomes="all")
    got, report = lrat.ray.mine_with_report(inputs, outcomes="all", task_bytes=1 << 20)
    assert expected.height > 1000
    assert_frame_equal(expected, got)
    assert report == expected_report


def test_mining_options_and_a_corpus_pass_through(inputs: list[str], lrat_trajectories: Path):
    corpus = pl.DataFrame({"doc_id": ["1", "2"], "title": ["One", None], "text": ["first text", "second text"]})
    settings = dict(judge="none", rule="per_search", weighting="none", corpus=corpus, contextual_queries=True)
    expected, expected_report = lrat.mine_with_report([str(lrat_trajectories)], **settings)
    got, report = lrat.ray.mine_with_report([str(lrat_trajectories)], task_bytes=50_000, **settings)
    assert_frame_equal(expected, got)
    assert report == expected_report


def test_file_uris_read_through_pyarrow_as_the_same_paths(many_logs: Path):
    part = many_logs / "part-03"
    expected = lrat.read_trajectories([str(part)])
    got = lrat.ray.read_trajectories([part.as_uri()], task_bytes=64 << 10).to_local()
    assert_same_tables(expected, got)
    files, _ = lrat.ray.list_logs([f"{part.as_uri()}/*.gz"])
    assert files and all(f.name.endswith(".gz") and f.filesystem is not None for f in files)
    local = lrat.ray.list_logs([str(part)])[0]
    assert [f.name for f in lrat.ray.list_logs([part.as_uri()])[0]] == [f.name for f in local]


def test_paths_in_a_given_filesystem(many_logs: Path):
    part = many_logs / "part-05"
    fs = pafs.SubTreeFileSystem(str(many_logs), pafs.LocalFileSystem())
    files, _ = lrat.ray.list_logs(["part-05"], filesystem=fs)
    assert [f.name for f in files] == [f"part-05/{p.name}" for p in sorted(part.iterdir())]
    got = lrat.ray.read_trajectories(["part-05"], filesystem=fs, task_bytes=64 << 10).to_local()
    expected = lrat.read_trajectories([str(part)])
    assert got.trajectories.height == expected.trajectories.height
    assert set(got.errors["source"]) <= {f.name for f in files}


def test_strict_stops_at_the_first_bad_record(many_logs: Path):
    with pytest.raises(
        lrat.TrajectoryParseError, match=r"part-00/\d+-\w+\.jsonl(\.gz|\.zst)?:\d+ .*invalid JSON"
    ) as caught:
        lrat.ray.read_trajectories([str(many_logs / "part-00")], strict=True)
    assert caught.value.line > 0 and caught.value.source.startswith(str(many_logs))


def test_missing_inputs_fail_before_any_task(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        lrat.ray.read_trajectories([str(tmp_path / "nothing-here")])
    with pytest.raises(FileNotFoundError, match="no input matched"):
        lrat.ray.read_trajectories([f"{tmp_path.as_uri()}/*.jsonl"])


def test_tasks_keep_files_whole_and_in_order():
    files = [lrat.ray.LogFile(str(i), str(i), size) for i, size in enumerate([5, 5, 20, 1, 1, 1])]
    tasks = lrat.ray.plan_tasks(files, task_bytes=10)
    assert [[f.path for f in t] for t in tasks] == [["0", "1"], ["2"], ["3", "4", "5"]]
    with pytest.raises(ValueError, match="task_bytes"):
        lrat.ray.plan_tasks(files, task_bytes=0)
    # Four tasks per CPU for small inputs, never under 1 MiB, never over 64 MiB.
    assert lrat.ray.default_task_bytes(80 << 20, cpus=2) == 10 << 20
    assert lrat.ray.default_task_bytes(1000, cpus=2) == 1 << 20
    assert lrat.ray.default_task_bytes(100 << 30, cpus=2) == 64 << 20


def test_documents_merge_as_one_store():
    def table(*docs):
        return pl.DataFrame(
            docs,
            schema={"doc_id": pl.String, "title": pl.String, "text": pl.String, "text_source": pl.String},
            orient="row",
        )

    merged = lrat.mining.merge_documents(
        [
            table(("a", None, "short", "snippet"), ("b", "B", "page b", "browse")),
            table(("a", "A", "a longer one", "snippet"), ("c", None, "c", "snippet")),
            table(("a", "A2", "full page", "browse"), ("b", "B2", "page B!", "browse")),
        ]
    )
    assert merged.rows() == [
        ("a", "A", "full page", "browse"),
        ("b", "B", "page B!", "browse"),
        ("c", None, "c", "snippet"),
    ]
    assert merged.columns == pl.DataFrame(_core.DocumentStore().table()).columns


def test_cli_parse_and_mine_on_ray(inputs: list[str], tmp_path: Path, capsys):
    logs = inputs[1]
    assert main(["parse", logs, "-o", str(tmp_path / "local"), "--no-progress"]) == 0
    assert main(["parse", logs, "-o", str(tmp_path / "ray"), "--engine", "ray", "--task-mb", "0.1"]) == 0
    assert_same_tables(Trajectories.read_parquet(tmp_path / "local"), Trajectories.read_parquet(tmp_path / "ray"))
    assert (tmp_path / "ray" / "errors").is_dir()

    assert main(["mine", logs, "-o", str(tmp_path / "local.parquet"), "--no-progress"]) == 0
    assert main(["mine", logs, "-o", str(tmp_path / "ray.parquet"), "--engine", "ray", "--task-mb", "0.1"]) == 0
    assert_frame_equal(pl.read_parquet(tmp_path / "local.parquet"), pl.read_parquet(tmp_path / "ray.parquet"))
    assert "examples →" in capsys.readouterr().out


def test_cli_address_needs_the_ray_engine(inputs: list[str], tmp_path: Path, capsys):
    assert main(["parse", inputs[1], "-o", str(tmp_path / "x"), "--address", "auto"]) == 1
    assert "--address needs --engine ray" in capsys.readouterr().err
