"""`lrat bench` on real data: the shared HotpotQA dev subsample (500 questions, 4,858 pooled paragraphs).

Converts the shared file to the BEIR layout (`benches/hotpotqa_to_beir.py`, under `bench-data/`), runs the
bench with the options given (those of `lrat bench`: `--quick`, `--seeds`, `--ablation`, `--out` …),
then prints how clean each variant's supervision is against the qrels (the share of positives that are
evidence of their question, the share of negatives that are: false negatives), the wall and CPU time
and the load average.

    python benches/bench_hotpotqa.py [--quick] [--out DIR] [other `lrat bench` options]
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import polars as pl  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hotpotqa_to_beir import ROOT, convert  # noqa: E402
from lrat import bench  # noqa: E402
from lrat.beir import read_collection  # noqa: E402
from lrat.cli import build_parser  # noqa: E402
from lrat.commands.bench import config_from_args  # noqa: E402


def main() -> None:
    root = ROOT / "bench-data" / "hotpotqa-beir"
    if not (root / "qrels" / "test.tsv").is_file():
        convert(root)
    args = build_parser().parse_args(["bench", str(root), *sys.argv[1:]])
    config = config_from_args(args)
    load_before = os.getloadavg()
    wall = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result = bench.run(
        read_collection(root),
        config,
        model=args.model,
        out=args.out,
        cache_dir=args.cache or ROOT / "bench-data" / "cache",
        progress=not args.quiet,
        resume=args.resume,
    )
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    print("\nsupervision against the qrels (training questions; mean over folds and seeds):")
    quality = pl.DataFrame([{k: v for k, v in s.items() if k != "mining"} for s in result.supervision])
    print(
        quality.group_by("variant", maintain_order=True).agg(
            pl.col("examples").mean().round(1),
            pl.col("positives_evidence").mean().round(3),
            pl.col("negatives").mean().round(1),
            pl.col("negatives_evidence").mean().round(4),
        )
    )
    print(
        f"wall {wall:.0f} s, CPU {cpu_s:.0f} s (this process and its threads), "
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
