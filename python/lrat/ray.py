"""Reading and mining agent logs on Ray Data, from one laptop to a cluster (extra `ray`).

The logs are listed on the driver and cut into tasks of whole files, about `task_bytes` each, in
reading order. Each task runs the Rust reader (and miner) on a Ray worker and hands back Arrow
tables; nothing in the output depends on how the files were cut:

- `read_trajectories` gives one Ray Dataset per canonical table, with the single-process tables'
  schema, errors included, and writes them as Parquet shards (`RayTrajectories.write_parquet`);
- `mine_with_report` mines on the workers and finishes on the driver (filters, document texts,
  relevance-intensity weights over all examples), with the same output as `lrat.mine_with_report`.

Paths are local paths (listed like `read_trajectories` lists them) or URIs that pyarrow can open
(`s3://bucket/logs/`, `gs://…`, `file:///…`), or paths inside a given `pyarrow.fs.FileSystem`.
A task copies each remote file to a local temporary file and reads it there; its records are
reported under the URI. `file://` sources are reported under their local path, so that they read
exactly as the same files passed as paths.
"""

from __future__ import annotations

import fnmatch
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from lrat import _core
from lrat._core import LratError
from lrat.judges import Judge, resolve_judge
from lrat.mining import (
    MiningConfig,
    MiningReport,
    empty_examples,
    finish_mining,
    merge_documents,
    mine_batches,
    mining_settings,
    new_report,
)
from lrat.trajectories import TABLES, PathsLike, ReadOptions, Trajectories, open_reader, path_list, read_options

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    import ray.data

TASK_BYTES = 64 << 20
"""The most bytes of logs per task by default, about: files are never split, so a larger file is a
task of its own. Smaller inputs are cut into four tasks per CPU of the cluster (at least 1 MiB each),
so that every worker has work."""
MIN_TASK_BYTES = 1 << 20

_GLOB_CHARS = ("*", "?", "[")


# ----------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class LogFile:
    """A file to read: where it is (`path`, in `filesystem` when that is set, else local), the name its
    records are reported under, and its size in bytes."""

    path: str
    name: str
    size: int
    filesystem: pafs.FileSystem | None = None


def list_logs(
    paths: PathsLike, *, filesystem: pafs.FileSystem | None = None, strict: bool = False
) -> tuple[list[LogFile], pl.DataFrame]:
    """The files `paths` expand to, in reading order, and what listing met (rows of the errors
    table: unreadable directories, second paths to a file). Local paths are listed by the Rust
    reader's own rules; URIs and paths in `filesystem` through pyarrow (directories recursively, files
    with a log extension; `*`, `?` and `[…]` patterns)."""
    inputs = path_list(paths)
    files: list[LogFile] = []
    problems = [pl.DataFrame(_core.empty_tables()["errors"])]
    local: list[str] = []

    def flush() -> None:
        if local:
            listed, errors = _core.list_inputs(local, strict=strict)
            files.extend(LogFile(p, p, os.stat(p).st_size) for p in listed)
            problems.append(pl.DataFrame(errors))
            local.clear()

    for path in inputs:
        if filesystem is None and "://" not in path:
            local.append(path)
            continue
        flush()
        files.extend(_list_remote(path, filesystem))
    flush()
    return files, pl.concat(problems)


def _list_remote(uri: str, filesystem: pafs.FileSystem | None) -> list[LogFile]:
    import pyarrow.fs as pafs

    if filesystem is None:
        fs, path = pafs.FileSystem.from_uri(uri)
        scheme = uri.split("://", 1)[0]
    else:
        fs, path, scheme = filesystem, uri, None

    def named(p: str) -> str:
        if scheme is None or isinstance(fs, pafs.LocalFileSystem):
            return p
        return f"{scheme}://{p}"

    def log_files(root: str, keep: Callable[[str], bool]) -> list[LogFile]:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        found = [i for i in infos if i.type == pafs.FileType.File and keep(i.path)]
        # Component-wise, as the local reader walks directories.
        found.sort(key=lambda i: i.path.split("/"))
        return [LogFile(i.path, named(i.path), i.size, fs) for i in found]

    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [LogFile(path, named(path), info.size, fs)]
    if info.type == pafs.FileType.Directory:
        out = log_files(path, _has_log_extension)
        if not out:
            raise FileNotFoundError(
                f"no input matched {uri} (a directory with no .json, .jsonl, .txt, .gz or .zst files)"
            )
        return out
    if any(c in path for c in _GLOB_CHARS):
        cut = min(path.index(c) for c in _GLOB_CHARS if c in path)
        root = path[:cut].rsplit("/", 1)[0] or "/"
        out = log_files(root, lambda p: fnmatch.fnmatchcase(p, path))
        if not out:
            raise FileNotFoundError(f"no input matched {uri}")
        return out
    raise FileNotFoundError(f"{uri}: no such file or directory")


def _has_log_extension(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[1].lower() in _core.LOG_EXTENSIONS


def default_task_bytes(total_bytes: int, cpus: float) -> int:
    """`TASK_BYTES`, or less so that there are four tasks per CPU (never under `MIN_TASK_BYTES`)."""
    spread = -(-total_bytes // max(1, int(4 * cpus)))
    return max(MIN_TASK_BYTES, min(TASK_BYTES, spread))


def plan_tasks(files: Sequence[LogFile], task_bytes: int = TASK_BYTES) -> list[list[LogFile]]:
    """Consecutive runs of files of about `task_bytes` bytes each (a larger file alone)."""
    if task_bytes < 1:
        raise ValueError(f"task_bytes must be at least 1, got {task_bytes}")
    tasks: list[list[LogFile]] = []
    size = 0
    for f in files:
        if not tasks or size + f.size > task_bytes and tasks[-1]:
            tasks.append([])
            size = 0
        tasks[-1].append(f)
        size += f.size
    return tasks


# ------------------------------------------------------------------------------------ a task


@contextmanager
def _local_copies(files: Sequence[LogFile]) -> Iterator[tuple[list[str], list[str]]]:
    """Local paths and names of `files`: remote ones are copied into a temporary directory first
    (keeping their file names, which tell compression and layout), and removed afterwards."""
    if all(f.filesystem is None for f in files):
        yield [f.path for f in files], [f.name for f in files]
        return
    with tempfile.TemporaryDirectory(prefix="lrat-ray-") as tmp:
        paths = []
        for i, f in enumerate(files):
            if f.filesystem is None:
                paths.append(f.path)
                continue
            local = os.path.join(tmp, str(i), f.path.rsplit("/", 1)[-1])
            os.makedirs(os.path.dirname(local))
            with f.filesystem.open_input_stream(f.path, compression=None) as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            paths.append(local)
        yield paths, [f.name for f in files]


def _ipc(table: Any) -> bytes:
    sink = pa.BufferOutputStream()
    t = pa.table(table)
    with pa.ipc.new_stream(sink, t.schema) as writer:
        writer.write_table(t)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: pa.Buffer | bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(data) if isinstance(data, bytes) else data) as reader:
        return reader.read_all()


def _packed(task: int, parts: dict[str, bytes]) -> pa.Table:
    """A task's output as rows `task, part, data`: Ray Data carries one schema per dataset, and a
    task returns several tables."""
    return pa.table(
        {
            "task": pa.array([task] * len(parts), pa.int64()),
            "part": pa.array(list(parts), pa.string()),
            "data": pa.array(list(parts.values()), pa.large_binary()),
        }
    )


def _task_files(batch: pa.Table, filesystems: Sequence[pafs.FileSystem]) -> tuple[int, list[LogFile]]:
    if batch.num_rows == 0:
        return -1, []
    if batch.num_rows != 1:
        raise ValueError(f"a task batch holds {batch.num_rows} tasks, not one")
    row = batch.to_pylist()[0]
    files = [
        LogFile(path, name, 0, filesystems[fs] if fs >= 0 else None)
        for path, name, fs in zip(row["paths"], row["names"], row["fs"])
    ]
    return row["task"], files


@dataclass(frozen=True)
class _Task:
    """One task of files on a worker: reads them (remote ones through local copies) with the Rust
    pool sized to the task's cores, and returns the parts `read` makes of the reader plus the
    reading totals, packed. lrat's own errors (and I/O and value errors) come back as a `raised`
    part: Ray would hand the driver only their text."""

    options: ReadOptions
    filesystems: tuple[pafs.FileSystem, ...]
    cores: int

    def __call__(self, batch: pa.Table) -> pa.Table:
        task = batch.column("task")[0].as_py() if batch.num_rows else -1
        try:
            task, files = _task_files(batch, self.filesystems)
            if not files:
                return _packed(task, {})
            # The Rust pool sizes itself once per process from LRAT_NUM_THREADS: as many threads as
            # the task reserved cores, not as many as the machine has (Ray runs one task per core).
            os.environ["LRAT_NUM_THREADS"] = str(max(1, self.cores))
            with _local_copies(files) as (paths, names):
                reader = open_reader(paths, options=self.options, names=names)
                parts = self.read(task, reader)
                parts["totals"] = json.dumps(reader.totals()).encode()
        except (LratError, OSError, ValueError) as e:
            return _packed(task, {"raised": pickle.dumps(e)})
        return _packed(task, parts)

    def read(self, task: int, reader: _core.TrajectoryReader) -> dict[str, bytes]:
        raise NotImplementedError


@dataclass(frozen=True)
class _ParseTask(_Task):
    """The five tables, each as an Arrow IPC stream."""

    def read(self, task: int, reader: _core.TrajectoryReader) -> dict[str, bytes]:
        parts: dict[str, list[Any]] = {name: [] for name in TABLES}
        for b in reader:
            for name, table in b.tables().items():
                parts[name].append(pa.table(table))
        return {name: _ipc(_concat(tables, name)) for name, tables in parts.items()}


@dataclass(frozen=True)
class _WriteTask(_Task):
    """Writes the five tables with the Rust writer (what `lrat parse` writes), then moves each into
    `<root>/<table>/part-<task>.parquet`: renamed in place on a local output, uploaded from a local
    staging folder otherwise. Returns only the totals."""

    output: tuple[pafs.FileSystem, str]

    def read(self, task: int, reader: _core.TrajectoryReader) -> dict[str, bytes]:
        import pyarrow.fs as pafs

        fs, root = self.output
        local = type(fs) is pafs.LocalFileSystem
        staging = os.path.join(root, f".task-{task:06d}") if local else tempfile.mkdtemp(prefix="lrat-ray-out-")
        try:
            writer = _core.TablesWriter(staging)
            for b in reader:
                writer.write(b)
            for path in writer.close():
                shard = f"{root}/{path.stem}/part-{task:06d}.parquet"
                if local:
                    os.replace(path, shard)
                else:
                    pafs.copy_files(
                        str(path), shard, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
                    )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return {}


@dataclass(frozen=True)
class _MineTask(_Task):
    """The mined examples (with document ids) and the documents' texts as Arrow IPC streams, and the
    mining counts."""

    config: MiningConfig
    judge: str | Judge
    with_documents: bool

    def read(self, task: int, reader: _core.TrajectoryReader) -> dict[str, bytes]:
        report = new_report(self.config, self.judge)
        documents = _core.DocumentStore()  # stays empty without `with_documents`
        examples = mine_batches(
            reader,
            judge=self.judge,
            config=self.config,
            documents=documents if self.with_documents else None,
            report=report,
        )
        counts = {
            f.name: getattr(report, f.name) for f in fields(MiningReport) if isinstance(getattr(report, f.name), int)
        }
        counts["failed_judge_calls"] = int(getattr(self.judge, "failed", 0))
        return {
            "examples": _ipc(examples.to_arrow()),
            "documents": _ipc(documents.table()),
            "counts": json.dumps(counts).encode(),
        }


def _output_root(directory: str, filesystem: pafs.FileSystem | None = None) -> tuple[pafs.FileSystem, str]:
    import pyarrow.fs as pafs

    if filesystem is not None:
        return filesystem, directory.rstrip("/")
    if "://" in directory:
        return pafs.FileSystem.from_uri(directory)
    return pafs.LocalFileSystem(), os.path.abspath(directory)


def _concat(tables: list[pa.Table], name: str) -> pa.Table:
    if not tables:
        return pa.table(_core.empty_tables()[name])
    return pa.concat_tables(tables)


# ------------------------------------------------------------------------------------ driver


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError("lrat.ray needs Ray Data: pip install 'lrat[ray]'") from e
    return ray


def init(address: str | None = None, **kwargs: Any) -> None:
    """Connects to the Ray cluster at `address` ("auto": the one this machine belongs to), or starts a
    local one when `address` is None, unless Ray is already initialised."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, **kwargs)


def _plan(files: Sequence[LogFile], task_bytes: int | None) -> list[list[LogFile]]:
    if task_bytes is None:
        cpus = _ray().cluster_resources().get("CPU", 1)
        task_bytes = default_task_bytes(sum(f.size for f in files), cpus)
    return plan_tasks(files, task_bytes)


def _filesystems(files: Sequence[LogFile]) -> tuple[pafs.FileSystem, ...]:
    """The distinct filesystems of `files` (the tasks name them by position)."""
    distinct: list[pafs.FileSystem] = []
    for f in files:
        if f.filesystem is not None and not any(f.filesystem.equals(d) for d in distinct):
            distinct.append(f.filesystem)
    return tuple(distinct)


def _run(
    tasks: list[list[LogFile]],
    filesystems: Sequence[pafs.FileSystem],
    fn: Callable[[pa.Table], pa.Table],
    cores: int,
) -> ray.data.Dataset:
    """`fn` over every task (one batch of one row each), lazily: the packed outputs."""
    ray = _ray()

    def fs_index(f: LogFile) -> int:
        return -1 if f.filesystem is None else next(i for i, d in enumerate(filesystems) if f.filesystem.equals(d))

    rows = pa.table(
        {
            "task": pa.array(range(len(tasks)), pa.int64()),
            "paths": pa.array([[f.path for f in t] for t in tasks], pa.list_(pa.string())),
            "names": pa.array([[f.name for f in t] for t in tasks], pa.list_(pa.string())),
            "fs": pa.array([[fs_index(f) for f in t] for t in tasks], pa.list_(pa.int32())),
        }
    )
    ds = ray.data.from_arrow([rows.slice(i, 1) for i in range(len(tasks))] or [rows])
    ds = ds.map_batches(fn, batch_size=1, batch_format="pyarrow", num_cpus=cores)
    # Ray Data holds part of the CPUs back for each operator of a pipeline; with one operator doing
    # all the work that left a quarter of a 2-CPU machine idle (`benches/bench_ray.py`: six 1 s tasks
    # took 4.3 s instead of 3.0). This dataset only, not the caller's global context.
    ds.context.op_resource_reservation_enabled = False
    return ds


def _collect(packed: ray.data.Dataset, wanted: Sequence[str]) -> list[dict[str, Any]]:
    """The packed rows named in `wanted`, streamed to the driver as the tasks finish, ordered by
    task then part name. A task that failed on a bad record (strict mode) or an unusable input
    raises its error here; the earliest task's is the first in reading order, as one process would
    raise it."""
    keep = {*wanted, "raised"}
    rows = []
    for block in packed.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=0):
        data = block.column("data")
        for i, (task, part) in enumerate(zip(block.column("task").to_pylist(), block.column("part").to_pylist())):
            if part in keep:
                # A view of the block's bytes, not a copy: the examples' and documents' streams are large.
                rows.append({"task": task, "part": part, "data": data[i].as_buffer()})
    rows.sort(key=lambda r: (r["task"], r["part"]))
    raised = [r for r in rows if r["part"] == "raised"]
    if raised:
        raise pickle.loads(raised[0]["data"].to_pybytes())
    return rows


def _listing_totals(listing: pl.DataFrame) -> dict[str, int]:
    errors = listing.filter(pl.col("severity") == "error").height
    return {"records": errors, "bytes": 0, "trajectories": 0, "errors": errors, "warnings": listing.height - errors}


def _listing_errors(listing: pl.DataFrame) -> pa.Table:
    """What listing met as rows of the errors table, in the errors dataset's schema."""
    schema = without_views(pa.table(_core.empty_tables()["errors"])).schema
    return without_views(listing.to_arrow()).cast(schema)


def _add_totals(into: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


@dataclass
class RayTrajectories:
    """The canonical tables as Ray Datasets (one block per task), and the reading totals."""

    trajectories: ray.data.Dataset
    steps: ray.data.Dataset
    search_results: ray.data.Dataset
    browses: ray.data.Dataset
    errors: ray.data.Dataset
    totals: dict[str, int]
    tasks: int
    """How many tasks read the logs."""

    def write_parquet(self, directory: str, **kwargs: Any) -> list[str]:
        """Writes each table as Parquet shards under `<directory>/<table>/` (a URI works on a cluster);
        `lrat.Trajectories.read_parquet` reads them back. Keywords go to `Dataset.write_parquet`."""
        out = []
        for name in TABLES:
            path = f"{directory.rstrip('/')}/{name}"
            if "://" not in path:
                # A table with no rows writes no shard; its directory still says it is empty.
                os.makedirs(path, exist_ok=True)
            getattr(self, name).write_parquet(path, **kwargs)
            out.append(path)
        return out

    def to_local(self) -> Trajectories:
        """Every table gathered into this process as a `lrat.Trajectories`."""
        ray = _ray()
        tables = {}
        for name in TABLES:
            refs = getattr(self, name).to_arrow_refs()
            parts = [t for t in ray.get(refs) if t.num_rows] if refs else []
            tables[name] = pl.DataFrame(pa.concat_tables(parts)) if parts else pl.DataFrame(_core.empty_tables()[name])
        return Trajectories(**tables)


def read_trajectories(
    paths: PathsLike,
    format: str | None = None,
    *,
    options: ReadOptions | None = None,
    filesystem: pafs.FileSystem | None = None,
    task_bytes: int | None = None,
    cores_per_task: int = 1,
    **settings: Any,
) -> RayTrajectories:
    """`lrat.read_trajectories` on Ray: the same tables as Ray Datasets, errors included. Starts a
    local Ray when none is running (`lrat.ray.init(address)` connects to a cluster first).
    `task_bytes`: logs per task (default: `default_task_bytes`); `cores_per_task`: CPUs each task
    reserves and uses."""
    ray = _ray()
    from ray.data.expressions import col

    o = read_options(options, format, settings)
    init()
    files, listing = list_logs(paths, filesystem=filesystem, strict=o.strict)
    filesystems = _filesystems(files)
    tasks = _plan(files, task_bytes)
    packed = _run(tasks, filesystems, _ParseTask(o, filesystems, cores_per_task), cores_per_task).materialize()
    totals = _listing_totals(listing)
    for row in _collect(packed.filter(expr=col("part").is_in(["totals", "raised"])), ["totals"]):
        _add_totals(totals, json.loads(row["data"].to_pybytes()))

    def table(name: str) -> ray.data.Dataset:
        ds = packed.filter(expr=col("part") == name).map_batches(
            _Unpack(name), batch_size=1, batch_format="pyarrow", zero_copy_batch=True
        )
        if name == "errors" and listing.height:
            ds = ds.union(ray.data.from_arrow(_listing_errors(listing)))
        return ds

    return RayTrajectories(**{name: table(name) for name in TABLES}, totals=totals, tasks=len(tasks))


def write_tables(
    paths: PathsLike,
    directory: str | os.PathLike[str],
    format: str | None = None,
    *,
    options: ReadOptions | None = None,
    filesystem: pafs.FileSystem | None = None,
    output_filesystem: pafs.FileSystem | None = None,
    task_bytes: int | None = None,
    cores_per_task: int = 1,
    **settings: Any,
) -> dict[str, int]:
    """Reads logs on Ray and writes the canonical tables as Parquet shards under
    `<directory>/<table>/` (a local path, or a URI such as `s3://bucket/tables`), each task its own
    shards, straight from the workers: nothing passes through the driver or stays in the object
    store, so the output may be larger than any machine's memory. The rows are those of
    `lrat.read_trajectories`; `lrat.Trajectories.read_parquet` reads them back. Returns the totals
    (records, bytes, trajectories, errors, warnings). `output_filesystem`: a `pyarrow.fs.FileSystem`
    that `directory` is a path in; other arguments as for `read_trajectories`."""
    import pyarrow.parquet as pq

    o = read_options(options, format, settings)
    init()
    files, listing = list_logs(paths, filesystem=filesystem, strict=o.strict)
    fs, root = _output_root(os.fspath(directory), output_filesystem)
    for name in TABLES:
        fs.create_dir(f"{root}/{name}", recursive=True)
    filesystems = _filesystems(files)
    task = _WriteTask(o, filesystems, cores_per_task, (fs, root))
    packed = _run(_plan(files, task_bytes), filesystems, task, cores_per_task)
    totals = _listing_totals(listing)
    for row in _collect(packed, ["totals"]):
        _add_totals(totals, json.loads(row["data"].to_pybytes()))
    if listing.height:
        pq.write_table(_listing_errors(listing), f"{root}/errors/listing.parquet", filesystem=fs)
    return totals


@dataclass(frozen=True)
class _Unpack:
    part: str

    def __call__(self, batch: pa.Table) -> pa.Table:
        tables = [_from_ipc(d) for d in batch.column("data").to_pylist()]
        return without_views(_concat(tables, self.part))


def without_views(table: pa.Table) -> pa.Table:
    """`table` with its string columns as `large_string` instead of the core's `string_view`:
    the same values (polars reads both as String), in the layout Ray moves between processes
    without falling back to IPC."""
    schema = pa.schema(
        [f.with_type(pa.large_string()) if f.type == pa.string_view() else f for f in table.schema],
        metadata=table.schema.metadata,
    )
    return table if schema == table.schema else table.cast(schema)


def mine_with_report(
    logs: PathsLike,
    *,
    corpus: str | os.PathLike[str] | pl.DataFrame | None = None,
    judge: str | Judge | None = "rules",
    config: MiningConfig | None = None,
    read_options: ReadOptions | None = None,
    filesystem: pafs.FileSystem | None = None,
    task_bytes: int | None = None,
    cores_per_task: int = 1,
    **settings: Any,
) -> tuple[pl.DataFrame, MiningReport]:
    """`lrat.mine_with_report` on Ray, with the same output. Reading, judging and mining run on the
    workers; the examples (document ids and reasoning, far smaller than the logs) and the documents'
    texts come back to the driver, which filters them, attaches texts and weights them over all
    examples (the intensity's median length is global). A judge other than "rules" or "none" runs
    on the workers and must pickle."""
    c, o = mining_settings(config, read_options, settings)
    judge = resolve_judge(judge)
    init()
    files, listing = list_logs(logs, filesystem=filesystem, strict=o.strict)
    filesystems = _filesystems(files)
    task = _MineTask(o, filesystems, cores_per_task, c, judge, corpus is None)
    packed = _run(_plan(files, task_bytes), filesystems, task, cores_per_task)
    report = new_report(c, judge)
    totals = _listing_totals(listing)
    examples, documents = [], []
    for row in _collect(packed, ["examples", "documents", "counts", "totals"]):
        if row["part"] == "examples":
            examples.append(pl.DataFrame(_from_ipc(row["data"])))
        elif row["part"] == "documents":
            documents.append(pl.DataFrame(_from_ipc(row["data"])))
        elif row["part"] == "counts":
            for key, value in json.loads(row["data"].to_pybytes()).items():
                setattr(report, key, getattr(report, key) + value)
        else:
            _add_totals(totals, json.loads(row["data"].to_pybytes()))
    report.take_reading_totals(totals)
    # One chunk: examples decoded from many IPC streams made the joins of the finishing twice as slow.
    ex = pl.concat(examples, rechunk=True) if examples else pl.DataFrame(empty_examples())
    found = merge_documents(documents) if corpus is None else None
    return finish_mining(ex, corpus=corpus, found_documents=found, judge=judge, config=c, report=report)


def mine(logs: PathsLike, **options: Any) -> pl.DataFrame:
    """`lrat.mine` on Ray (see `mine_with_report`)."""
    return mine_with_report(logs, **options)[0]
