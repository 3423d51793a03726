"""The simulator against real agents: the five calibration figures (`lrat.harness.calibration`) of the shared
real trajectories (Tongyi-DeepResearch on a Wikipedia dump with BM25, `shared/data/lrat-trajectories`)
beside those of the simulated agent with its default `AgentConfig`, searching the shared HotpotQA
passages with BM25 (`LexicalSearcher`, the retriever the real logs used).

    python benches/calibrate_simulator.py [--questions 500] [--seed 0] [--set field=value ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hotpotqa_to_beir import data_path, load  # noqa: E402
from lrat.harness.calibration import behaviour, compare, format_comparison  # noqa: E402
from lrat.harness.simulate import AgentConfig, LexicalSearcher, document_lookup, simulate, write_runs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override an AgentConfig field (to explore; the defaults are what is reported)",
    )
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        field_type = type(getattr(AgentConfig(), key))
        overrides[key] = field_type(value) if field_type is not bool else value.lower() in ("1", "true", "yes")
    config = dataclasses.replace(AgentConfig(), **overrides)
    real_dir = data_path().parent.parent / "lrat-trajectories"
    corpus, questions = load(data_path())
    records = simulate(
        questions.head(args.questions), LexicalSearcher(corpus), document_lookup(corpus), config, seed=args.seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        runs = write_runs(records, Path(tmp) / "runs.jsonl")
        print(format_comparison(compare(behaviour(real_dir), behaviour(runs))))
    solved = sum(r["status"] == "completed" for r in records) / len(records)
    print(
        f"simulated: {len(records)} HotpotQA questions, BM25, seed {args.seed}; solved {solved:.2f}; "
        f"config overrides {overrides or 'none'}"
    )


if __name__ == "__main__":
    main()
