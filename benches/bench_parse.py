"""Throughput and peak memory of `lrat.read_trajectories` against three baselines, in one run.

Builds a JSONL corpus (default 512 MB) by replicating the real run files
(`../shared/data/lrat-trajectories/*.json`) with fresh ids, then runs each contender in its own
subprocess (so that each peak RSS is the child's own, from `os.wait4`) over the same file:

  lrat            lrat.read_trajectories(path): every table as polars DataFrames
  lrat-iter       lrat.iter_trajectories(path, batch_size=...): the same, batch by batch
  pure-python     json.loads and loops extracting the same trajectories, steps, result and browse rows
  orjson          orjson.loads over the lines (parsing only, nothing extracted)
  polars          polars.read_ndjson(path) (parsing only)

and prints MB/s, trajectories/s, peak RSS, and lrat's ratios against the baselines. A last run shows
the peak RSS of `iter_trajectories` on two input sizes (it should not grow with the input).

    python benches/bench_parse.py                 # 512 MB corpus under bench-data/
    python benches/bench_parse.py --size-mb 64    # a quick run
    LRAT_NUM_THREADS=1 python benches/bench_parse.py   # lrat on one core
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / ".." / "shared" / "data" / "lrat-trajectories", Path("/work/shared/data/lrat-trajectories")]
MB = 1_000_000

# ----------------------------------------------------------------------------------------------------
# Corpus


def find_sources() -> Path:
    for path in SOURCES:
        if path.is_dir() and any(path.glob("*.json")):
            return path.resolve()
    sys.exit("bench_parse: ../shared/data/lrat-trajectories is absent (the real run files)")


def build_corpus(path: Path, size_mb: float, sources: Path) -> tuple[int, int]:
    """Writes JSON lines until `size_mb` MB: the real runs again and again, each copy with a fresh
    `query_id`. Reuses an existing file of the same name. Returns (bytes, trajectories)."""
    meta = path.with_suffix(".meta.json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        if m.get("bytes") == path.stat().st_size:
            return m["bytes"], m["trajectories"]
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(sources.glob("*.json"))]
    target = int(size_mb * MB)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = n = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        copy = 0
        while written < target:
            for r in records:
                line = json.dumps({**r, "query_id": f"{r['query_id']}-{copy}"}) + "\n"
                f.write(line)
                written += len(line.encode("utf-8"))
                n += 1
                if written >= target:
                    break
            copy += 1
    tmp.rename(path)
    meta.write_text(json.dumps({"bytes": written, "trajectories": n}))
    return written, n


# ----------------------------------------------------------------------------------------------------
# Contenders (each runs in a child process: `bench_parse.py --worker NAME FILE`)


def run_lrat(path: str, batch_size: int) -> int:
    import lrat

    t = lrat.read_trajectories(path, batch_size=batch_size)
    assert t.n_errors == 0, t.summary()
    return len(t)


def run_lrat_iter(path: str, batch_size: int) -> int:
    import lrat

    n = 0
    for t in lrat.iter_trajectories(path, batch_size=batch_size):
        assert t.n_errors == 0, t.summary()
        n += len(t)
    return n


_DOCID = re.compile(r"DocID:")


def _first_query(arguments: str) -> str:
    try:
        args = json.loads(arguments)
    except ValueError:
        return arguments
    q = args.get("query", "") if isinstance(args, dict) else args
    return q[0] if isinstance(q, list) and q else str(q)


def _search_hits(output: str) -> list[tuple[str, str | None, str | None]]:
    hits = []
    for block in _DOCID.split(output)[1:]:
        first, _, rest = block.partition("\n")
        rest = rest.lstrip()
        title = None
        if rest.startswith("["):
            close = rest.find("]")
            if close > 0 and "\n" not in rest[1:close]:
                title, rest = rest[1:close].strip(), rest[close + 1 :]
        snippet = rest.strip()
        hits.append((first.strip(), title, snippet or None))
    return hits


KNOWN_FIELDS = {"query_id", "id", "trajectory_id", "query", "question", "answer", "status", "result"}


def run_pure_python(path: str, batch_size: int) -> int:
    """The same extraction as lrat's BrowseComp reader, in plain Python: rows of the trajectories,
    steps, search_results and browses tables."""
    trajectories, steps, results, browses = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            tid = f"{path}:{line_no}"
            final = None
            n_search = n_browse = 0
            for i, item in enumerate(r["result"]):
                kind = item["type"]
                if kind == "reasoning":
                    steps.append((tid, i, "reason", None, item.get("output") or ""))
                elif kind == "tool_call":
                    name = item["tool_name"]
                    if name == "search":
                        query = _first_query(item.get("arguments") or "")
                        steps.append((tid, i, "search", name, query))
                        for rank, (key, title, snippet) in enumerate(_search_hits(item.get("output") or ""), 1):
                            results.append((tid, i, rank, key, title, snippet, None))
                        n_search += 1
                    else:
                        args = json.loads(item.get("arguments") or "{}")
                        key = str(args.get("docid")) if isinstance(args, dict) and "docid" in args else None
                        content = item.get("output")
                        ok = bool(content) and not content.lower().startswith(("error", "failed", "not found"))
                        steps.append((tid, i, "browse", name, key or ""))
                        browses.append((tid, i, key, ok, len(content or ""), content))
                        n_browse += 1
                elif kind == "output_text":
                    final = item.get("output") or ""
                    steps.append((tid, i, "answer", None, final))
            extra = {k: v for k, v in r.items() if k not in KNOWN_FIELDS}
            trajectories.append(
                (
                    tid,
                    r.get("query_id"),
                    path,
                    line_no,
                    "browsecomp",
                    r.get("query"),
                    final,
                    r.get("answer"),
                    r.get("status"),
                    len(r["result"]),
                    n_search,
                    n_browse,
                    json.dumps(extra) if extra else None,
                )
            )
    return len(trajectories)


def run_orjson(path: str, batch_size: int) -> int:
    import orjson

    n = 0
    with open(path, "rb") as f:
        for line in f:
            orjson.loads(line)
            n += 1
    return n


def run_polars(path: str, batch_size: int) -> int:
    import polars as pl

    return pl.read_ndjson(path).height


CONTENDERS = {
    "lrat": run_lrat,
    "lrat-iter": run_lrat_iter,
    "pure-python": run_pure_python,
    "orjson": run_orjson,
    "polars": run_polars,
}


def worker(name: str, path: str, batch_size: int) -> None:
    # Imports are not timed; the clock covers the work only.
    if name.startswith("lrat"):
        import lrat  # noqa: F401
    elif name == "polars":
        import polars  # noqa: F401
    elif name == "orjson":
        import orjson  # noqa: F401
    t0, c0 = time.perf_counter(), time.process_time()
    n = CONTENDERS[name](path, batch_size)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "trajectories": n}))


def measure(name: str, path: Path, batch_size: int) -> dict:
    """Runs one contender in a child; its peak RSS comes from the child's own rusage."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", name, str(path), "--batch-size", str(batch_size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"bench_parse: {name} failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss * 1024 / MB  # ru_maxrss is in KiB on Linux
    return result


def interleaved_runs(names: list[str], repeat: int, measure_one) -> dict[str, list[dict]]:
    """`repeat` rounds, each running every contender once (`measure_one(name)`), so that a change
    in the machine's load during the bench reaches every contender alike."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            runs[name].append(measure_one(name))
    return runs


def median_run(runs: list[dict]) -> tuple[dict, str]:
    """The median of repeated runs by wall-clock seconds, and every run's seconds to print."""
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return median, ", ".join(f"{run['seconds']:.2f}" for run in runs)


def warm_page_cache(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=float, default=512, help="corpus size in MB (default 512)")
    p.add_argument("--data-dir", type=Path, default=ROOT / "bench-data", help="where the corpus is built")
    p.add_argument("--batch-size", type=int, default=4096, help="records per batch for lrat")
    p.add_argument(
        "--memory-batch-size",
        type=int,
        default=256,
        help="records per batch for the two-size iteration run (default 256, about 15 MB of these records)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds; each runs every contender once, in a fresh process, and each contender's median run is reported (default 3)",
    )
    p.add_argument("--only", nargs="+", choices=list(CONTENDERS), help="run only these contenders")
    p.add_argument("--no-memory-run", action="store_true", help="skip the two-size batch-iteration run")
    p.add_argument("--worker", nargs=2, metavar=("NAME", "FILE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.batch_size)
        return

    sources = find_sources()
    size_tag = f"{args.size_mb:g}"
    corpus = args.data_dir / f"corpus-{size_tag}MB.jsonl"
    t0 = time.perf_counter()
    n_bytes, n_traj = build_corpus(corpus, args.size_mb, sources)
    print(
        f"corpus: {corpus} — {n_bytes / MB:.0f} MB, {n_traj} trajectories ({time.perf_counter() - t0:.1f} s to build or find)"
    )
    import lrat

    threads = os.environ.get("LRAT_NUM_THREADS") or str(os.cpu_count())
    print(
        f"lrat {lrat.__version__}, {threads} threads for lrat (LRAT_NUM_THREADS), {os.cpu_count()} cores; batch_size {args.batch_size}"
    )
    print(
        "load average at start: {:.1f} {:.1f} {:.1f} (other work on the machine slows every contender)".format(
            *os.getloadavg()
        )
    )
    warm_page_cache(corpus)

    names = args.only or list(CONTENDERS)
    results = {}
    print(
        f"{args.repeat} rounds, each running every contender once in a fresh process; the figures are each contender's median run"
    )
    print(
        f"\n{'contender':<12} {'seconds':>8} {'MB/s':>8} {'traj/s':>9} {'peak RSS MB':>12} {'CPU s':>7}  (CPU s: all threads, work only)"
    )
    every_run = interleaved_runs(names, args.repeat, lambda name: measure(name, corpus, args.batch_size))
    for name in names:
        runs = every_run[name]
        for run in runs:
            if run["trajectories"] != n_traj:
                sys.exit(f"bench_parse: {name} read {run['trajectories']} records, expected {n_traj}")
        r, all_runs = median_run(runs)
        r["mb_s"] = n_bytes / MB / r["seconds"]
        r["traj_s"] = n_traj / r["seconds"]
        results[name] = r
        print(
            f"{name:<12} {r['seconds']:>8.2f} {r['mb_s']:>8.0f} {r['traj_s']:>9.0f} {r['peak_rss_mb']:>12.0f} {r['cpu_seconds']:>7.1f}"
            f"  (runs: {all_runs} s)"
        )

    targets = {"pure-python": 8.0, "orjson": 1.5, "polars": 4.0}
    for contender in ("lrat", "lrat-iter"):
        if contender not in results:
            continue
        print(f"\n{contender} speed-up, wall clock (target) | CPU seconds (work done, all threads):")
        for base, target in targets.items():
            if base in results:
                ratio = results[base]["seconds"] / results[contender]["seconds"]
                cpu_ratio = results[base]["cpu_seconds"] / results[contender]["cpu_seconds"]
                verdict = "met" if ratio >= target else "MISSED"
                print(f"  vs {base:<12} {ratio:6.2f}x  (>= {target:g}x: {verdict:<6}) | {cpu_ratio:5.2f}x")

    if not args.no_memory_run:
        small_mb = max(args.size_mb / 4, 1)
        small = args.data_dir / f"corpus-{small_mb:g}MB.jsonl"
        small_bytes, _ = build_corpus(small, small_mb, sources)
        warm_page_cache(small)
        print(f"\nlrat.iter_trajectories peak RSS by input size (batch_size {args.memory_batch_size}):")
        for path, size in ((small, small_bytes), (corpus, n_bytes)):
            r = measure("lrat-iter", path, args.memory_batch_size)
            print(
                f"  {size / MB:>6.0f} MB input: peak RSS {r['peak_rss_mb']:>6.0f} MB, {size / MB / r['seconds']:.0f} MB/s"
            )
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
