"""Throughput of reading and mining on Ray Data (`lrat.ray`) against the single-process path, at equal
cores, in one run.

Builds a set of JSON-lines shards (default 128 MB in 32 files) from the real run files
(`../shared/data/lrat-trajectories/*.json`), each copy with a fresh id, then times, each in its own
subprocess and with `--repeats` runs (medians):

  local-parse   `lrat parse` (the Rust reader writing Parquet), LRAT_NUM_THREADS = cores
  ray-parse     lrat.ray.write_tables (`lrat parse --engine ray`), on a local Ray with num_cpus = cores
  local-mine    lrat.mine_with_report (rules judge, texts from the trajectories)
  ray-mine      lrat.ray.mine_with_report

for 1 and 2 cores (each child pinned to that many CPUs, with every thread and process it starts, Ray's
included), and prints MB/s, Ray's overhead against the single-process path at the same cores
(the issue's goal: at most 25%), and MB/s per core (what a cluster scales from). Ray's start-up
(`ray.init` and a first job on a few fixture files, which starts the workers and imports lrat in
them: costs a running cluster pays once) is timed apart and not counted.

    python benches/bench_ray.py                       # 128 MB, cores 1 and 2, 3 repeats
    python benches/bench_ray.py --size-mb 32 --repeats 1
    python benches/bench_ray.py --shape many          # 30,000 small files of every format instead
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / ".." / "shared" / "data" / "lrat-trajectories"
MB = 1_000_000


def build_shards(directory: Path, size_mb: float, shards: int) -> int:
    """JSON-lines shards of the real runs with fresh query ids; reused when already there."""
    meta = directory / "meta.json"
    if meta.exists() and json.loads(meta.read_text()).get("size_mb") == size_mb:
        return json.loads(meta.read_text())["bytes"]
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SOURCES.glob("*.json"))]
    if not runs:
        sys.exit(f"bench_ray: no run files under {SOURCES}")
    per_shard = size_mb * MB / shards
    n = 0
    for s in range(shards):
        with (directory / f"shard-{s:03d}.jsonl").open("w", encoding="utf-8") as f:
            written = 0
            while written < per_shard:
                record = dict(runs[n % len(runs)], query_id=f"bench-{n}")
                line = json.dumps(record, ensure_ascii=False) + "\n"
                f.write(line)
                written += len(line.encode())
                n += 1
    total = sum(p.stat().st_size for p in directory.glob("*.jsonl"))
    meta.write_text(json.dumps({"size_mb": size_mb, "bytes": total}))
    return total


def build_many(directory: Path, files: int) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from _many_logs import total_bytes, write_many_logs

    meta = directory / "meta.json"
    if meta.exists() and json.loads(meta.read_text()).get("files") == files:
        return json.loads(meta.read_text())["bytes"]
    shutil.rmtree(directory, ignore_errors=True)
    write_many_logs(directory / "logs", files)
    total = total_bytes(directory / "logs")
    meta.write_text(json.dumps({"files": files, "bytes": total}))
    return total


# ------------------------------------------------------------------------------------ one child


def child(mode: str, cores: int, logs: str, repeats: int) -> None:
    """Runs one contender `repeats` times in this process, pinned to its first `cores` CPUs (Ray's own
    processes, started from here, inherit the pinning); prints JSON with the times."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    import lrat
    from lrat.mining import MINING_BATCH_BYTES

    times = []
    startup = 0.0
    if mode.startswith("ray"):
        import lrat.ray
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ray.data.DataContext.get_current().enable_progress_bars = False
        lrat.ray.mine_with_report([str(ROOT / "tests" / "fixtures" / "formats")])
        startup = time.perf_counter() - t
    for _ in range(repeats):
        out = tempfile.mkdtemp(prefix="bench-ray-")
        t = time.perf_counter()
        if mode == "local-parse":
            from lrat import _core
            from lrat.trajectories import open_reader

            writer = _core.TablesWriter(out)
            for batch in open_reader([logs]):
                writer.write(batch)
            writer.close()
        elif mode == "ray-parse":
            lrat.ray.write_tables([logs], out)
        elif mode == "local-mine":
            lrat.mine_with_report([logs], batch_bytes=MINING_BATCH_BYTES)
        elif mode == "ray-mine":
            lrat.ray.mine_with_report([logs])
        else:
            raise ValueError(mode)
        times.append(time.perf_counter() - t)
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps({"times": times, "startup": startup}))


def run_child(mode: str, cores: int, logs: Path, repeats: int) -> dict:
    env = dict(os.environ, LRAT_NUM_THREADS=str(cores), PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, __file__, "--child", mode, "--cores", str(cores), "--logs", str(logs)]
    cmd += ["--repeats", str(repeats)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench_ray: {mode} with {cores} cores failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=float, default=128)
    p.add_argument("--shards", type=int, default=32)
    p.add_argument("--shape", choices=("shards", "many"), default="shards")
    p.add_argument("--files", type=int, default=30_000, help="with --shape many")
    p.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", type=Path, default=ROOT / "bench-data" / "ray")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--logs", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.cores[0], args.logs, args.repeats)
        return

    if args.shape == "shards":
        logs = args.data / f"shards-{args.size_mb:g}mb"
        total = build_shards(logs, args.size_mb, args.shards)
    else:
        data = args.data / f"many-{args.files}"
        total = build_many(data, args.files)
        logs = data / "logs"
    print(f"{total / MB:.1f} MB of logs ({args.shape}) under {logs}; {args.repeats} repeats, medians\n")
    print(
        f"{'job':<8}{'cores':>6}{'local MB/s':>12}{'ray MB/s':>10}{'ray/local':>11}{'overhead':>10}"
        f"{'ray MB/s/core':>15}{'ray start s':>13}"
    )
    for job in ("parse", "mine"):
        for cores in args.cores:
            local = run_child(f"local-{job}", cores, logs, args.repeats)
            on_ray = run_child(f"ray-{job}", cores, logs, args.repeats)
            lt, rt = statistics.median(local["times"]), statistics.median(on_ray["times"])
            print(
                f"{job:<8}{cores:>6}{total / MB / lt:>12.1f}{total / MB / rt:>10.1f}{lt / rt:>10.2f}x"
                f"{rt / lt - 1:>+10.0%}{total / MB / rt / cores:>15.1f}{on_ray['startup']:>13.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
