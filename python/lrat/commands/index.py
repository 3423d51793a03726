"""`lrat index`: build an HNSW index from an embeddings matrix, and search it.

    lrat index build EMBEDDINGS.npy --ids IDS -o INDEX
    lrat index search INDEX QUERIES.npy -k 10 [-o RESULTS.jsonl|.tsv]

IDS is a text file with one id per line, or a .npy array of strings or integers; without it the
row numbers are the keys. Search writes JSON lines (`{"query": ..., "keys": [...], "distances": [...]}`)
or, with `--format tsv` or an output ending in .tsv, rows `query<TAB>rank<TAB>key<TAB>distance`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO

import numpy as np

from lrat import Index

# Rows added per call: bounds the memory of converting a memory-mapped matrix that is not float32.
ADD_BATCH_ROWS = 65_536


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "index",
        help="build and search HNSW vector indexes",
        description="Build an HNSW index from an embeddings matrix, and search it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    build = actions.add_parser("build", help="index the rows of a .npy embeddings matrix")
    build.add_argument("embeddings", type=Path, help=".npy file holding an (n, dim) float matrix")
    build.add_argument(
        "--ids",
        type=Path,
        help="keys of the rows: a text file with one id per line, or a .npy array (default: row numbers)",
    )
    build.add_argument("-o", "--output", type=Path, required=True, help="index file to write")
    build.add_argument("--metric", choices=["cos", "ip", "l2"], default="cos")
    build.add_argument("--dtype", choices=["f32", "f16", "i8"], default="f32")
    build.add_argument("--connectivity", type=int, default=16, help="edges per node (M)")
    build.add_argument("--expansion-add", type=int, default=128, help="efConstruction")
    build.add_argument("--expansion-search", type=int, default=64, help="ef at search time")
    build.set_defaults(run=_guarded(run_build))

    search = actions.add_parser("search", help="search an index with a .npy matrix of queries")
    search.add_argument("index", type=Path, help="index file written by `lrat index build`")
    search.add_argument("queries", type=Path, help=".npy file holding a (q, dim) float matrix")
    search.add_argument("-k", type=int, default=10, help="neighbours per query (default 10)")
    search.add_argument(
        "--query-ids",
        type=Path,
        help="names of the queries: a text file with one id per line, or a .npy array (default: row numbers)",
    )
    search.add_argument("-o", "--output", type=Path, help="results file (default: standard output)")
    search.add_argument("--format", choices=["jsonl", "tsv"], help="default: from the output's extension, else jsonl")
    search.add_argument("--exact", action="store_true", help="brute-force search (ground truth)")
    search.add_argument("--expansion-search", type=int, help="override ef for this search")
    search.add_argument("--load", action="store_true", help="read the index into memory instead of memory-mapping it")
    search.set_defaults(run=_guarded(run_search))


def _guarded(run):
    """Reports the errors bad input raises (beyond those `lrat.cli` reports) as a message, not a traceback."""

    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (TypeError, KeyError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise ValueError(str(message)) from exc

    return guarded


def _load_matrix(path: Path) -> np.ndarray:
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from exc
    if matrix.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D (rows, dim) matrix, got shape {matrix.shape}")
    if matrix.dtype.kind != "f":
        raise ValueError(f"{path}: expected a float matrix, got dtype {matrix.dtype}")
    return matrix


def _load_ids(path: Path, rows: int, matrix_path: Path) -> list[str] | np.ndarray:
    if path.suffix == ".npy":
        try:
            ids = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{path}: not a readable .npy array of ids ({exc})") from exc
        if ids.ndim != 1 or ids.dtype.kind not in "iuU":
            raise ValueError(f"{path}: expected a 1-D array of integers or strings, got {ids.dtype} {ids.shape}")
        ids = ids.tolist() if ids.dtype.kind == "U" else ids.astype(np.int64)
    else:
        with open(path, encoding="utf-8") as handle:
            ids = [line.rstrip("\r\n") for line in handle]
        if ids and ids[-1] == "":
            ids.pop()
        for number, key in enumerate(ids, start=1):
            if not key:
                raise ValueError(f"{path}:{number}: empty id")
    if len(ids) != rows:
        raise ValueError(f"{path} holds {len(ids)} ids, but {matrix_path} has {rows} rows")
    return ids


def run_build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    matrix = _load_matrix(args.embeddings)
    rows, dim = matrix.shape
    ids = _load_ids(args.ids, rows, args.embeddings) if args.ids else np.arange(rows, dtype=np.int64)
    index = Index(
        dim,
        metric=args.metric,
        dtype=args.dtype,
        connectivity=args.connectivity,
        expansion_add=args.expansion_add,
        expansion_search=args.expansion_search,
    )
    for start in range(0, rows, ADD_BATCH_ROWS):
        stop = min(start + ADD_BATCH_ROWS, rows)
        try:
            index.add(ids[start:stop], matrix[start:stop])
        except ValueError as exc:
            raise ValueError(f"{args.embeddings} rows {start}..{stop - 1}: {exc}") from exc
    index.save(args.output)
    elapsed = time.perf_counter() - started
    print(f"indexed {rows} vectors of dimension {dim} into {args.output} in {elapsed:.1f}s", file=sys.stderr)
    return 0


def _write_results(out: IO[str], fmt: str, names, keys: np.ndarray, distances: np.ndarray) -> None:
    for name, row_keys, row_distances in zip(names, keys.tolist(), distances.tolist()):
        found = [(key, d) for key, d in zip(row_keys, row_distances) if key is not None and key != -1]
        if fmt == "tsv":
            for rank, (key, d) in enumerate(found, start=1):
                out.write(f"{name}\t{rank}\t{key}\t{d:.6g}\n")
        else:
            record = {"query": name, "keys": [k for k, _ in found], "distances": [d for _, d in found]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def run_search(args: argparse.Namespace) -> int:
    index = Index.load(args.index) if args.load else Index.view(args.index)
    if args.expansion_search is not None:
        if args.expansion_search < 1:
            raise ValueError("--expansion-search must be positive")
        index.expansion_search = args.expansion_search
    queries = _load_matrix(args.queries)
    if queries.shape[1] != index.dim:
        raise ValueError(f"{args.queries} has dimension {queries.shape[1]}, but {args.index} has dimension {index.dim}")
    names = _load_ids(args.query_ids, len(queries), args.queries) if args.query_ids else range(len(queries))
    if isinstance(names, np.ndarray):
        names = names.tolist()
    fmt = args.format or ("tsv" if args.output and args.output.suffix == ".tsv" else "jsonl")
    keys, distances = index.search(np.ascontiguousarray(queries), args.k, exact=args.exact)
    if args.output is None:
        _write_results(sys.stdout, fmt, names, keys, distances)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            _write_results(out, fmt, names, keys, distances)
    return 0
