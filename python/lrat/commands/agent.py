"""`lrat agent run`: a search agent over an OpenAI-compatible endpoint, writing one run file per question.

    lrat agent run QUESTIONS --out RUNS --base-url URL --model NAME \\
        (--corpus CORPUS [--index INDEX] [--encoder MODEL] | --search-url URL) [--mode tools|text]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "agent",
        help="run an LLM search agent against an OpenAI-compatible endpoint",
        description="Run an LLM search agent (any OpenAI-compatible chat endpoint: vLLM, SGLang, Ollama, "
        "llama.cpp server, hosted APIs) over an lrat index or a running `lrat serve`.",
    )
    sub = p.add_subparsers(dest="agent_command", metavar="COMMAND", required=True)
    r = sub.add_parser(
        "run",
        help="play every question, one BrowseComp-Plus run file each",
        description="Play every question of QUESTIONS (BEIR queries.jsonl, a TSV `id<TAB>question[<TAB>answer]`, "
        "or BrowseComp-Plus JSONL) with the tools search and get_document; write OUT/runs/<id>.json per question "
        "(read by `lrat mine OUT/runs`), OUT/summary.json and OUT/errors.jsonl. Questions whose run file exists are skipped, so a run can be resumed.",
    )
    r.add_argument("questions", type=Path, help="questions file")
    r.add_argument("--out", type=Path, required=True, help="folder of run files")
    r.add_argument("--base-url", required=True, help="the endpoint, e.g. http://localhost:8000/v1")
    r.add_argument("--model", required=True, help="model name the endpoint serves")
    r.add_argument("--api-key", default=None, help="endpoint key (default: $OPENAI_API_KEY, else 'EMPTY')")
    where = r.add_argument_group("where the tools search (one of)")
    where.add_argument("--corpus", type=Path, help="corpus JSONL or Parquet (id, title?, text)")
    where.add_argument(
        "--index",
        type=Path,
        help="index of the corpus (`lrat index build`, keyed by docid); default: encode the corpus in memory",
    )
    where.add_argument("--encoder", help="encoder folder for the queries (default: the bundled all-MiniLM-L6-v2)")
    where.add_argument("--search-url", help="a running `lrat serve`, e.g. http://127.0.0.1:8000")
    where.add_argument("--search-api-key", default=os.environ.get("LRAT_API_KEY"), help="its key ($LRAT_API_KEY)")
    r.add_argument("--mode", choices=["tools", "text"], default="tools", help="native tool calls, or parsed from text")
    r.add_argument("--concurrency", type=int, default=4, help="questions played at once")
    r.add_argument("--max-calls", type=int, default=20, help="tool calls per question")
    r.add_argument("--max-turns", type=int, default=40, help="model replies per question")
    r.add_argument("--max-tokens", type=int, default=None, help="tokens per question (prompt + completion)")
    r.add_argument("--k", type=int, default=10, help="results per search")
    r.add_argument("--temperature", type=float, default=None)
    r.add_argument("--max-reply-tokens", type=int, default=None, help="max_tokens of each model reply")
    r.add_argument("--retries", type=int, default=6, help="retries of a failed endpoint call (exponential backoff)")
    r.add_argument("--timeout", type=float, default=600.0, help="seconds per endpoint call")
    r.add_argument(
        "--grade", choices=["match", "llm", "none"], default="match", help="how answers are graded against gold ones"
    )
    r.add_argument("--limit", type=int, default=None, help="play only the first N questions")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import httpx
        from openai import AsyncOpenAI
    except ImportError as exc:
        raise ValueError(f"lrat agent needs the `agent` extra (pip install 'lrat[agent]'): {exc}") from exc
    from lrat.agent import AgentSettings, HttpTools, LocalTools, read_questions, run_questions

    if (args.search_url is None) == (args.corpus is None):
        raise ValueError("give either --corpus (and optionally its --index) or --search-url")
    if args.index is not None and args.corpus is None:
        raise ValueError("--index needs --corpus")
    if args.retries < 0 or args.timeout <= 0:
        raise ValueError("--retries must be ≥ 0 and --timeout positive")
    questions = read_questions(args.questions)
    if args.limit is not None:
        questions = questions[: args.limit]
    settings = AgentSettings(
        model=args.model,
        mode=args.mode,
        max_calls=args.max_calls,
        max_turns=args.max_turns,
        max_tokens=args.max_tokens,
        k=args.k,
        temperature=args.temperature,
        max_reply_tokens=args.max_reply_tokens,
        grade=args.grade,
    )
    settings.check()
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
    searcher = None
    if args.corpus is not None:
        from lrat.server import CorpusSearch

        if args.index is not None:
            searcher = CorpusSearch.open(args.index, args.corpus, args.encoder)
        else:
            from lrat.corpus import read_corpus
            from lrat.encoder import Encoder

            searcher = CorpusSearch.build(
                Encoder.load(args.encoder), read_corpus(args.corpus), show_progress_bar=not args.quiet
            )

    async def main() -> Any:
        client = AsyncOpenAI(base_url=args.base_url, api_key=api_key, max_retries=args.retries, timeout=args.timeout)
        async with httpx.AsyncClient(timeout=args.timeout) as http, client:

            @contextlib.asynccontextmanager
            async def make_tools(question):  # type: ignore[no-untyped-def]
                if searcher is not None:
                    yield LocalTools(searcher)
                    return
                tools = HttpTools(http, args.search_url, uuid.uuid4().hex, args.search_api_key)
                await tools.start(question.text, question.id)
                yield tools

            return await run_questions(
                client, make_tools, questions, args.out, settings, concurrency=args.concurrency, progress=not args.quiet
            )

    summary = asyncio.run(main())
    (args.out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    print(summary.text())
    return 0 if summary.errors == 0 else 1
