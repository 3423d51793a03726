"""`lrat parse LOGS... -o OUT/`: agent logs → the canonical tables as Parquet files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from lrat import _core
from lrat.commands.common import (
    add_engine_arguments,
    add_reader_arguments,
    reader_from_args,
    reader_options,
    start_engine,
    task_bytes,
)
from lrat.trajectories import TABLES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "parse",
        help="read agent logs into the canonical tables (Parquet)",
        description="Read agent logs (files, directories, globs; .json, .jsonl, .txt, .gz, .zst) in any "
        "supported format and write trajectories, steps, search_results, browses and errors as Parquet "
        "files under OUT (with --engine ray: directories of Parquet shards, OUT/<table>/).",
    )
    p.add_argument("logs", nargs="+", help="log files, directories or glob patterns")
    p.add_argument(
        "-o", "--out", required=True, help="output directory (with --engine ray also a URI: s3://bucket/tables)"
    )
    add_reader_arguments(p)
    add_engine_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start_engine(args)
    if args.engine == "ray":
        return _run_on_ray(args)
    reader = reader_from_args(args)
    out = Path(args.out)
    writer = _core.TablesWriter(out)
    bar = tqdm(unit="B", unit_scale=True, desc="parse", disable=args.no_progress, file=sys.stderr)
    try:
        for batch in reader:
            writer.write(batch)
            bar.update(batch.bytes)
            totals = reader.totals()
            bar.set_postfix(trajectories=totals["trajectories"], errors=totals["errors"], refresh=False)
    finally:
        bar.close()
    paths = writer.close()
    t = reader.totals()
    print(
        f"{t['trajectories']} trajectories from {t['records']} records "
        f"({t['errors']} skipped, {t['warnings']} warnings) → {args.out}"
    )
    for path in paths:
        print(f"  {path}")
    if t["errors"]:
        print(f"see {out / 'errors.parquet'} for the skipped records", file=sys.stderr)
    return 0


def _run_on_ray(args: argparse.Namespace) -> int:
    import lrat.ray

    t = lrat.ray.write_tables(args.logs, args.out, options=reader_options(args), task_bytes=task_bytes(args))
    print(
        f"{t['trajectories']} trajectories from {t['records']} records "
        f"({t['errors']} skipped, {t['warnings']} warnings) → {args.out}"
    )
    out = args.out.rstrip("/")
    for name in TABLES:
        print(f"  {out}/{name}/")
    if t["errors"]:
        print(f"see {out}/errors/ for the skipped records", file=sys.stderr)
    return 0
