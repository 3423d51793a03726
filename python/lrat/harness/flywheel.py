"""The data flywheel of the paper: serve → agent → mine → train → re-index, round after round.

Each round serves the current retriever (`lrat.server.SearchService`: the corpus encoded and indexed,
every call logged by the same `SessionLog` that `lrat serve` writes), lets the simulated agent
(`lrat.harness.simulate`) answer the training questions through it, mines the logged trajectories
(`lrat.mine`, reading the log directory as it is), trains the retriever further on them
(`lrat.train`) and re-indexes the corpus with the new model for the next round.

The agent's run goes through the service after the fact: the simulator plays each question against
the service's searcher, then its steps (reasoning, searches, reads, answer) are sent to the service
in order under one session per question, exactly as an HTTP client would send them, so the logs are
what `lrat serve` writes. The search results the service logs are the ones the agent saw (the same
index answers the same query).

Before each round's training, and once after the last, the served retriever is measured on the
held-out questions: retrieval of their evidence documents (`lrat.eval.evaluate_run`) and the agent's
own results on them (`lrat.eval.evaluate_trajectories`: success rate, evidence recall, searches).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lrat.evaluation import evaluate_run, evaluate_trajectories
from lrat.harness.simulate import AgentConfig, simulate
from lrat.harness.synthetic import KnowledgeBase, SyntheticConfig, generate
from lrat.server.search import CorpusSearch
from lrat.server.service import Limits, SearchService
from lrat.server.sessions import SessionLog

RETRIEVAL_KS = (10, 100)


@dataclass(frozen=True)
class FlywheelConfig:
    rounds: int = 3
    model: str | None = None
    """Starting retriever (a model folder); None: the bundled all-MiniLM-L6-v2."""
    seed: int = 0
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: Mapping[str, Any] = field(default_factory=dict)
    """Settings of `lrat.train` (TrainingConfig fields) for every round; the others keep its defaults."""
    mine: Mapping[str, Any] = field(default_factory=dict)
    """Options of `lrat.mine` (rule, judge, weighting, outcomes, ...); the corpus is always given."""
    device: str | None = None
    encode_batch_size: int = 64


@dataclass
class RoundReport:
    round: int
    model: str
    retrieval: dict[str, float]
    """Held-out retrieval of the served index: recall@10/100, ndcg@10/100, mrr, ..."""
    agent: dict[str, Any]
    """The agent on the held-out questions: success_rate, evidence_recall, searches, browses, ..."""
    trajectories_logged: int = 0
    examples_mined: int = 0
    train_steps: int = 0
    train_loss: float | None = None
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "recall@10": self.retrieval.get("recall@10"),
            "ndcg@10": self.retrieval.get("ndcg@10"),
            "recall@100": self.retrieval.get("recall@100"),
            "agent_success": self.agent.get("success_rate"),
            "agent_evidence_recall": self.agent.get("evidence_recall"),
            "agent_searches": self.agent.get("searches"),
            "logged": self.trajectories_logged,
            "mined": self.examples_mined,
            "train_steps": self.train_steps,
            "train_loss": self.train_loss,
        }


def replay(service: SearchService, record: Mapping[str, Any], session_id: str, *, k: int) -> dict[str, Any]:
    """Sends one simulated run's steps to the service under `session_id`, as a client would, and ends
    the session; returns the trajectory record the service wrote."""
    service.log.start(
        session_id,
        question=str(record["query"]),
        query_id=str(record["query_id"]),
        metadata={"agent": "lrat.harness.simulate"},
    )
    answer = None
    for i, step in enumerate(record["result"]):
        kind = step["type"]
        if kind == "reasoning":
            service.log.log_reasoning(session_id, step["output"])
        elif kind == "tool_call":
            args = json.loads(step["arguments"])
            if step["tool_name"] == "search":
                query = args["query"]
                service.search(session_id, query[0] if isinstance(query, list) else query, k)
            else:
                service.get_document(session_id, args["docid"])
        elif kind == "output_text":
            answer = step["output"]
        else:
            raise ValueError(f"run {record['query_id']}: step {i} has unknown type {kind!r}")
    return service.log.end(session_id, answer=answer, status=str(record["status"]))


def _retrieval(searcher: CorpusSearch, questions: pl.DataFrame, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    k = min(max(RETRIEVAL_KS), len(searcher))
    hits = searcher.search(questions["question"].to_list(), k)
    run = {qid: dict(row) for qid, row in zip(questions["query_id"].to_list(), hits)}
    return evaluate_run(run, qrels, ks=RETRIEVAL_KS).mean


def _play(
    kb: KnowledgeBase,
    questions: pl.DataFrame,
    searcher: CorpusSearch,
    log_dir: Path,
    config: FlywheelConfig,
    label: str,
) -> int:
    """The agent answers `questions` through a service logging to `log_dir`; returns runs logged."""
    records = simulate(questions, searcher, searcher.get_document, config.agent, seed=config.seed, searcher_name=label)
    log = SessionLog(log_dir, server_metadata={"flywheel": label})
    service = SearchService(searcher, log, Limits(max_k=max(config.agent.k, 1)), default_k=config.agent.k)
    try:
        for record in records:
            replay(service, record, f"{label}-{record['query_id']}", k=config.agent.k)
    finally:
        log.close()
    return len(records)


def run_flywheel(
    config: FlywheelConfig, work_dir: str | os.PathLike[str], *, progress: bool = False
) -> list[RoundReport]:
    """Runs `config.rounds` rounds under `work_dir` (one folder per round: `logs/` the served
    trajectories, `eval-logs/` the held-out runs, `model/` the retriever trained in the round) and
    returns one report per round plus one for the final retriever; also written to
    `work_dir/metrics.jsonl`."""
    from lrat.encoder import Encoder
    from lrat.mining import mine_with_report
    from lrat.training import train

    if config.rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {config.rounds}")
    unknown = {"corpus"} & set(config.mine)
    if unknown:
        raise ValueError("the flywheel passes the corpus to lrat.mine itself; leave `corpus` out of mine options")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    kb = generate(config.synthetic, seed=config.seed)
    train_q, heldout_q = kb.train_questions, kb.heldout_questions
    if train_q.is_empty() or heldout_q.is_empty():
        raise ValueError("the synthetic knowledge base has no training or no held-out questions; raise n_questions")
    qrels = kb.qrels(heldout_q)
    answers = dict(zip(heldout_q["query_id"].to_list(), heldout_q["answer"].to_list()))
    model_path: str | None = config.model
    reports: list[RoundReport] = []
    metrics_file = work / "metrics.jsonl"
    metrics_file.unlink(missing_ok=True)
    for r in range(config.rounds + 1):
        started = time.perf_counter()
        folder = work / f"round-{r}"
        encoder = Encoder.load(model_path, device=config.device)
        searcher = CorpusSearch.build(
            encoder,
            kb.corpus,
            snippet_tokens=config.agent.snippet_tokens,
            batch_size=config.encode_batch_size,
            show_progress_bar=progress,
        )
        retrieval = _retrieval(searcher, heldout_q, qrels)
        eval_dir = folder / "eval-logs"
        _play(kb, heldout_q, searcher, eval_dir, config, f"round{r}-heldout")
        agent = evaluate_trajectories(_read(eval_dir), qrels, answers=answers).summary
        report = RoundReport(r, model_path or "all-MiniLM-L6-v2", retrieval, dict(agent))
        if r < config.rounds:
            log_dir = folder / "logs"
            report.trajectories_logged = _play(kb, train_q, searcher, log_dir, config, f"round{r}")
            examples, _ = mine_with_report(log_dir, corpus=kb.corpus, **config.mine)
            report.examples_mined = examples.height
            if examples.height:
                settings = {"show_progress": progress, "device": config.device, **config.train}
                result = train(examples, output_dir=folder / "model", model=model_path, **settings)
                report.train_steps, report.train_loss = result.steps, result.final_loss
                model_path = str(result.output_dir)
        report.seconds = time.perf_counter() - started
        reports.append(report)
        with open(metrics_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**asdict(report), "row": report.row()}, default=str) + "\n")
        del encoder, searcher
    return reports


def _read(directory: Path):
    from lrat.trajectories import read_trajectories

    return read_trajectories(directory, "browsecomp", strict=True)


def format_reports(reports: Sequence[RoundReport]) -> str:
    """A text table: one line per round (the last line is the final retriever)."""
    header = [
        "round",
        "recall@10",
        "ndcg@10",
        "recall@100",
        "agent_success",
        "agent_evidence_recall",
        "agent_searches",
        "logged",
        "mined",
        "train_steps",
        "train_loss",
    ]
    lines = ["  ".join(f"{h:>10}" for h in header)]
    for rep in reports:
        row = rep.row()
        cells = []
        for h in header:
            v = row[h]
            cells.append(f"{'-':>10}" if v is None else f"{v:>10.4f}" if isinstance(v, float) else f"{v:>10}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


__all__ = ["FlywheelConfig", "RoundReport", "format_reports", "replay", "run_flywheel"]
