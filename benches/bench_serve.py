"""Load test of `lrat serve` on loopback: queries/s and p50/p99 latency of `POST /search` at
concurrency 1, 8 and 64, against calling the same search in-process (encoder + index, no HTTP), and
the index alone (precomputed query vectors). Also checks that no request failed and that no logged
call was lost: after a graceful stop (SIGTERM) the trajectory logs must hold every session and every
search step sent.

The corpus is the synthetic knowledge base (`--scale` of ~3,000 documents), encoded with the model
(default: the bundled all-MiniLM-L6-v2); queries are its questions, cycled. Each level sends at most
`--requests` searches (default 2,000) and stops early after `--max-seconds`. Each client worker is one
session; workers end their sessions after the level, except one per level left open for the graceful
shutdown to write. CPU seconds of the server process (from /proc) are reported beside wall time.

    python benches/bench_serve.py                         # ~2,000 requests per level
    python benches/bench_serve.py --requests 500 --scale 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: Path, scale: float, model: str | None) -> tuple[list[str], Path, Path]:
    import dataclasses

    import lrat
    from lrat.harness.synthetic import SyntheticConfig, generate
    from lrat.server import CorpusSearch

    base = SyntheticConfig()
    counts = ("n_people", "n_cities", "n_organisations", "n_works", "n_events", "n_questions")
    kb = generate(dataclasses.replace(base, **{c: max(2, round(getattr(base, c) * scale)) for c in counts}))
    encoder = lrat.Encoder.load(model, device="cpu")
    started = time.perf_counter()
    searcher = CorpusSearch.build(encoder, kb.corpus)
    print(f"encoded and indexed {len(searcher)} documents in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    index_path, corpus_path = work / "corpus.index", work / "corpus.jsonl"
    searcher.index.save(index_path)
    kb.corpus.write_ndjson(corpus_path)
    return kb.questions["question"].to_list(), index_path, corpus_path


def in_process(queries: list[str], index_path: Path, corpus_path: Path, model: str | None, n: int, k: int) -> dict:
    from lrat.server import CorpusSearch

    searcher = CorpusSearch.open(index_path, corpus_path, model, device="cpu")
    for q in queries[:20]:
        searcher.hits([q], k)
    latencies = []
    cpu0, started = time.process_time(), time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        searcher.hits([queries[i % len(queries)]], k)
        latencies.append(time.perf_counter() - t0)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    distinct = queries[: min(n, len(queries))]
    vectors = searcher.encoder.encode(distinct, kind="query", show_progress_bar=False)
    index_latencies = []
    for i in range(n):
        t0 = time.perf_counter()
        searcher.index.search(vectors[i % len(distinct)], k)
        index_latencies.append(time.perf_counter() - t0)
    return {
        "search": {
            "n": n,
            "qps": n / wall,
            "p50_ms": 1e3 * percentile(latencies, 50),
            "p99_ms": 1e3 * percentile(latencies, 99),
            "cpu_s": cpu,
            "wall_s": wall,
        },
        "index": {
            "n": n,
            "qps": n / sum(index_latencies),
            "p50_ms": 1e3 * percentile(index_latencies, 50),
            "p99_ms": 1e3 * percentile(index_latencies, 99),
        },
    }


async def level(
    base_url: str, queries: list[str], concurrency: int, n: int, k: int, max_seconds: float, label: str = ""
) -> dict:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    deadline = time.perf_counter() + max_seconds
    sessions = [f"{label}c{concurrency}-w{w}" for w in range(concurrency)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def worker(w: int) -> None:
            nonlocal sent
            while sent < n and time.perf_counter() < deadline:
                i = sent
                sent += 1
                body = {"query": queries[i % len(queries)], "k": k, "session_id": sessions[w]}
                if i % 4 == 0:
                    body["reasoning"] = f"step {i}: the previous results did not mention the entity; search again."
                t0 = time.perf_counter()
                try:
                    r = await client.post("/search", json=body)
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                    elif len(r.json()["results"]) != k:
                        errors["short"] = errors.get("short", 0) + 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = time.perf_counter() - started
        ended = 0
        for sid in sessions[1:]:  # the first stays open: the graceful shutdown must write it
            r = await client.post(f"/sessions/{sid}/end", json={"answer": "Exact Answer: none"})
            ended += r.status_code == 200
    return {
        "concurrency": concurrency,
        "n": len(latencies),
        "wall_s": wall,
        "qps": len(latencies) / wall,
        "p50_ms": 1e3 * percentile(latencies, 50),
        "p99_ms": 1e3 * percentile(latencies, 99),
        "errors": errors,
        "sessions": len(sessions),
        "ended": ended,
    }


def count_logged(log_dir: Path) -> tuple[int, int, int]:
    """(trajectory lines in the files, trajectories read by lrat, search steps read by lrat)."""
    import lrat
    import polars as pl

    lines = sum(len(p.read_bytes().splitlines()) for p in log_dir.glob("trajectories-*.jsonl"))
    t = lrat.read_trajectories(log_dir, "browsecomp", strict=True)
    return lines, len(t), t.steps.filter(pl.col("kind") == "search").height


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="searches per concurrency level (upper bound)")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="time bound of each level")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.3, help="synthetic corpus size relative to ~3,000 documents")
    parser.add_argument("--model", help="encoder folder (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="encoder threads, the same in-process and in the server (1: best on a shared CPU)",
    )
    parser.add_argument("--fsync", default="session", choices=["always", "session", "never"])
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    import torch

    torch.set_num_threads(args.torch_threads)

    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        work = Path(tmp)
        queries, index_path, corpus_path = prepare(work, args.scale, args.model)
        baseline = in_process(queries, index_path, corpus_path, args.model, min(args.requests, 2000), args.k)

        port = free_port()
        log_dir = work / "logs"
        command = [
            sys.executable,
            "-m",
            "lrat",
            "serve",
            "--index",
            str(index_path),
            "--corpus",
            str(corpus_path),
            "--log-dir",
            str(log_dir),
            "--port",
            str(port),
            "--device",
            "cpu",
            "--fsync",
            args.fsync,
            "--torch-threads",
            str(args.torch_threads),
        ]
        if args.model:
            command += ["--model", args.model]
        server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        base_url = f"http://127.0.0.1:{port}"
        try:
            import httpx

            for _ in range(600):
                try:
                    if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise RuntimeError("the server did not start")
            warmup = asyncio.run(level(base_url, queries, 1, 20, args.k, 30, label="warmup-"))["n"]  # logged too
            results = []
            for c in levels:
                cpu0 = process_cpu_seconds(server.pid)
                result = asyncio.run(level(base_url, queries, c, args.requests, args.k, args.max_seconds))
                result["server_cpu_s"] = process_cpu_seconds(server.pid) - cpu0
                results.append(result)
        finally:
            server.send_signal(signal.SIGINT)  # uvicorn's graceful stop: finish requests, run shutdown
            _, stderr = server.communicate(timeout=120)
        if server.returncode != 0:
            print(stderr, file=sys.stderr)
            raise RuntimeError(f"the server exited with {server.returncode}")

        lines, trajectories, searches = count_logged(log_dir)
        sent = warmup + sum(r["n"] for r in results)
        sessions = 1 + sum(r["sessions"] for r in results)

    in_search, in_index = baseline["search"], baseline["index"]
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; k = {args.k}; "
        f"{len(queries)} distinct queries; fsync = {args.fsync}; torch threads = {args.torch_threads}"
    )
    print(
        f"{'path':<22}{'requests':>9}{'qps':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs in-process':>15}{'server CPU s':>14}{'errors':>8}"
    )
    print(
        f"{'in-process index':<22}{in_index['n']:>9}{in_index['qps']:>9.0f}{in_index['p50_ms']:>9.2f}{in_index['p99_ms']:>9.2f}{'':>15}{'':>14}{'':>8}"
    )
    print(
        f"{'in-process search':<22}{in_search['n']:>9}{in_search['qps']:>9.1f}{in_search['p50_ms']:>9.2f}{in_search['p99_ms']:>9.2f}{'1.00x':>15}{in_search['cpu_s']:>14.1f}{'':>8}"
    )
    for r in results:
        ratio = r["qps"] / in_search["qps"]
        print(
            f"{'HTTP c=' + str(r['concurrency']):<22}{r['n']:>9}{r['qps']:>9.1f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{ratio:>14.2f}x{r['server_cpu_s']:>14.1f}{sum(r['errors'].values()):>8}"
        )
    lost_sessions, lost_steps = sessions - trajectories, sent - searches
    print(
        f"logged: {lines} trajectory lines, {trajectories} trajectories read back (sessions {sessions}), "
        f"{searches} search steps (searches sent {sent}): lost sessions {lost_sessions}, lost steps {lost_steps}"
    )
    failed = any(r["errors"] for r in results) or lost_sessions or lost_steps or lines != trajectories
    print(json.dumps({"baseline": baseline, "levels": results}, default=float), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
