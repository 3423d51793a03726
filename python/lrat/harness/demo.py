"""`lrat demo`: the bench's protocol (`lrat.bench`) on a knowledge base generated from a seed.

The knowledge base (`lrat.harness.synthetic`) holds encyclopedia-like documents with near-duplicate distractors
and multi-hop questions; the demo runs it through the same machinery as `lrat bench`: cross-fitted
folds, the simulated agent with the base retriever, mining, training under one budget, and every
delta against base with its paired bootstrap interval. Its folds, seeds and sizes keep it within
minutes on two CPU cores; `settings.json` records whether the base retriever's evidence recall at the
smallest budget sits in the range where a better retriever can show (0.4 to 0.7).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from lrat import bench
from lrat.beir import Collection
from lrat.harness.synthetic import SyntheticConfig, generate


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    kb: SyntheticConfig = SyntheticConfig()
    bench: bench.BenchConfig = bench.BenchConfig()


DEFAULT = DemoConfig(
    kb=SyntheticConfig(n_people=500, n_cities=125, n_organisations=225, n_works=225, n_events=150, n_questions=400),
    # Two folds, one seed, LRAT and the trajectory oracle, batches of 8: within 10 minutes on 2 CPU cores.
    bench=dataclasses.replace(
        bench.DEFAULT,
        folds=2,
        seeds=1,
        variants=("lrat", "oracle_trajectory"),
        training=dataclasses.replace(bench.DEFAULT.training, batch_size=8),
    ),
)
QUICK = DemoConfig(
    kb=SyntheticConfig(n_people=120, n_cities=30, n_organisations=50, n_works=50, n_events=30, n_questions=80),
    bench=dataclasses.replace(
        bench.QUICK, training=dataclasses.replace(bench.DEFAULT.training, steps=4, batch_size=8), resamples=2000
    ),
)


def collection_of(kb: Any, seed: int) -> Collection:
    return Collection(
        name=f"synthetic knowledge base (seed {seed})",
        corpus=kb.corpus,
        questions=kb.questions.select("query_id", "question", "answer", "evidence"),
    )


def run_demo(
    out: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    ablation: bool = False,
    quick: bool = False,
    model: str | os.PathLike[str] | None = None,
    config: DemoConfig | None = None,
    progress: bool = True,
) -> bench.BenchResult:
    """Generates the knowledge base from `seed` and runs the bench on it (base, lrat and the two
    oracles; with `ablation` also naive and filter). Prints the table; under `out` writes what
    `lrat bench` writes."""
    config = config or (QUICK if quick else DEFAULT)
    kb = generate(config.kb, seed=seed)
    bench_config = bench.with_ablation(config.bench) if ablation else config.bench
    return bench.run(
        collection_of(kb, seed),
        bench_config,
        model=model,
        out=out,
        progress=progress,
        extra_settings={"knowledge_base": dataclasses.asdict(config.kb), "knowledge_base_seed": seed},
    )
