"""Paired bootstrap between variants of `lrat bench` runs of the same split, within one run or across runs.

Each run of the bench pairs its variants with base only. To ask whether one variant beats another
(LRAT against an oracle, a recipe against the one it replaces) the per-question values are paired
directly: `A − B` over the same (seed, question) rows, seeds averaged per question, with the bench's
paired bootstrap. Variants from different `--out` folders pair only when their base rows are equal
(same questions, folds, seeds and base runs); the script refuses otherwise.

    python benches/pair_variants.py NAME=DIR:VARIANT [NAME=DIR:VARIANT ...] [--pairs A-B,C-D] [--json FILE]

Without `--pairs` it prints each named variant against base, then every pair in the order given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from lrat.bench import RESAMPLES, format_delta, summarize

KEYS = ("seed", "fold", "variant", "query_id")


def read_variant(folder: str | Path, variant: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A run's rows of `variant` and of base, from `folder/per_query.parquet`."""
    path = Path(folder) / "per_query.parquet"
    if not path.is_file():
        raise ValueError(f"{path}: no such file (pass the --out folder of an `lrat bench` run)")
    frame = pl.read_parquet(path)
    held = sorted(frame["variant"].unique().to_list())
    if variant not in held:
        raise ValueError(f"{path}: no variant {variant!r}; the run holds {', '.join(held)}")
    base = frame.filter(pl.col("variant") == "base").sort("seed", "query_id")
    return frame.filter(pl.col("variant") == variant).sort("seed", "query_id"), base


def pair(
    named: Mapping[str, tuple[str | Path, str]],
    pairs: Sequence[tuple[str, str]] | None = None,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, Any]]]:
    """`named`: name → (run folder, variant). Returns "A − B" → metric → the bootstrap interval of the
    mean per-question difference (`mean`, `low`, `high`, `n`), for each pair of names (`"base"` names
    the runs' common base). Raises ValueError when the runs' base rows differ."""
    rows: dict[str, pl.DataFrame] = {}
    base: pl.DataFrame | None = None
    first = ""
    for name, (folder, variant) in named.items():
        if name == "base":
            raise ValueError("'base' names the runs' common base; give the variant another name")
        rows[name], its_base = read_variant(folder, variant)
        if base is None:
            base, first = its_base, str(folder)
        elif not its_base.equals(base):
            raise ValueError(
                f"{folder}: its base rows differ from those of {first} (other questions, folds, seeds or base "
                "runs): its variants cannot be paired with that run's"
            )
    if base is None:
        raise ValueError("name at least one variant (NAME=DIR:VARIANT)")
    rows["base"] = base
    names = list(named)
    if pairs is None:
        pairs = [(n, "base") for n in names] + [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    metrics = [c for c in base.columns if c not in KEYS]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for a, b in pairs:
        unknown = [n for n in (a, b) if n not in rows]
        if unknown:
            raise ValueError(f"pair {a}-{b}: no variant named {', '.join(unknown)}; named: {', '.join(rows)}")
        frame = pl.concat(
            [
                rows[a].with_columns(pl.lit("first").alias("variant")),
                rows[b].with_columns(pl.lit("base").alias("variant")),
            ],
            how="diagonal_relaxed",
        )
        summary = summarize(frame, ["base", "first"], metrics, resamples=resamples, seed=seed)
        out[f"{a} − {b}"] = {m: summary["first"][m]["delta"] for m in metrics}
    return out


def format_pairs(result: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """One block per pair: each metric's mean difference, its interval, and `ns` when it holds 0 (an end
    within float rounding of 0 holds it, as in the bench's table)."""
    lines = []
    for name, metrics in result.items():
        lines.append(name)
        lines.extend(f"  {metric:28s} {format_delta(d)}" for metric, d in metrics.items())
    return "\n".join(lines)


def _named(spec: str) -> tuple[str, tuple[str, str]]:
    name, sep, rest = spec.partition("=")
    folder, colon, variant = rest.rpartition(":")
    if not sep or not colon or not name or not folder or not variant:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected NAME=DIR:VARIANT")
    if "-" in name or "," in name:
        raise argparse.ArgumentTypeError(f"{spec!r}: a name holds no '-' or ',' (they separate --pairs)")
    return name, (folder, variant)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", type=_named, help="NAME=DIR:VARIANT, DIR an `lrat bench --out` folder")
    parser.add_argument("--pairs", help="comma-separated A-B pairs of names (base: the runs' base); default: all")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--json", type=Path, help="also write the intervals to this file")
    args = parser.parse_args(argv)
    named = dict(args.variants)
    pairs = None
    if args.pairs:
        pairs = []
        for p in args.pairs.split(","):
            a, dash, b = p.partition("-")
            if not dash:
                parser.error(f"--pairs: {p!r} is not A-B")
            pairs.append((a, b))
    try:
        result = pair(named, pairs, resamples=args.resamples)
    except ValueError as e:
        sys.exit(f"pair_variants: {e}")
    print(format_pairs(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
