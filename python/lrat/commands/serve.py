"""`lrat serve`: an HTTP search service for agents, logging every session as a trajectory.

    lrat serve --index INDEX --corpus CORPUS [--model MODEL] --log-dir LOGS [--host H --port P]
    lrat serve ... --mcp-stdio

The index is one written by `lrat index build` with the corpus's document ids as keys, built from
the same model's document vectors. See `lrat.server.app` for the endpoints and
`lrat.server.sessions` for the log format (read it with `lrat mine LOGS`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve search and get_document to agents over HTTP (or MCP), logging trajectories",
        description="Serve search and get_document to agents over HTTP (or MCP on stdio), logging every "
        "session as a BrowseComp-Plus trajectory under --log-dir.",
    )
    p.add_argument("--index", type=Path, required=True, help="index file (`lrat index build`, keyed by docid)")
    p.add_argument("--corpus", type=Path, required=True, help="corpus JSONL or Parquet (id, title?, text)")
    p.add_argument("--model", help="encoder folder for the queries (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--log-dir", type=Path, required=True, help="where trajectories (and the journal) are written")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--snippet-tokens", type=int, default=64, help="whitespace tokens per snippet (default 64)")
    p.add_argument("--default-k", type=int, default=10)
    p.add_argument("--max-k", type=int, default=100)
    p.add_argument("--max-body-bytes", type=int, default=256 * 1024)
    p.add_argument("--max-query-chars", type=int, default=4096)
    p.add_argument("--rotate-bytes", type=int, default=64 << 20, help="start a new log file past this size")
    p.add_argument("--fsync", choices=["always", "session", "never"], default="session")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=1800.0,
        help="seconds without a call after which a session is ended as incomplete (0: never)",
    )
    p.add_argument("--device", help="torch device for the encoder (default: cuda when present, else cpu)")
    p.add_argument(
        "--torch-threads",
        type=int,
        help="intra-op threads of the encoder (default: torch's); 1 is fastest on a busy CPU",
    )
    p.add_argument(
        "--contextual-queries",
        action="store_true",
        help="search with each query joined with the reasoning sent with it (a model trained with "
        "`lrat mine --contextual-queries`); a request's own `context` is always used",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("LRAT_API_KEY"),
        help="require `Authorization: Bearer KEY` on every route but /health (default: $LRAT_API_KEY)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=10_000,
        help="open sessions held in memory; past it the longest idle one is ended and written",
    )
    p.add_argument(
        "--compact-journal-bytes",
        type=int,
        default=64 << 20,
        help="rewrite the journal with the open sessions alone once it holds more than this",
    )
    p.add_argument("--mcp-stdio", action="store_true", help="speak MCP (JSON-RPC) on stdin/stdout instead of HTTP")
    p.set_defaults(run=run)


def build_service(args: argparse.Namespace):
    from lrat.server import CorpusSearch, Limits, SearchService, SessionLog

    if args.snippet_tokens < 1:
        raise ValueError("--snippet-tokens must be positive")
    limits = Limits(max_k=args.max_k, max_query_chars=args.max_query_chars, max_body_bytes=args.max_body_bytes)
    searcher = CorpusSearch.open(
        args.index, args.corpus, args.model, snippet_tokens=args.snippet_tokens, device=args.device
    )
    log = SessionLog(
        args.log_dir,
        max_bytes=args.rotate_bytes,
        fsync=args.fsync,
        server_metadata={
            "index": str(args.index),
            "model": args.model or "all-MiniLM-L6-v2",
            "snippet_max_tokens": args.snippet_tokens,
        },
        max_open_sessions=args.max_sessions,
    )
    if log.trajectories.torn_bytes:
        print(
            f"lrat serve: cut a torn last line ({log.trajectories.torn_bytes} bytes, never acknowledged) "
            f"from the trajectory files of {log.directory}: the previous run was killed while writing it",
            file=sys.stderr,
        )
    if log.recovered:
        print(f"lrat serve: wrote {log.recovered} sessions left open by a previous run", file=sys.stderr)
    return SearchService(searcher, log, limits, default_k=args.default_k, contextual=args.contextual_queries)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    if args.torch_threads is not None:
        if args.torch_threads < 1:
            raise ValueError("--torch-threads must be positive")
        import torch

        torch.set_num_threads(args.torch_threads)
    service = build_service(args)
    if args.mcp_stdio:
        from lrat.server.mcp import serve_stdio

        serve_stdio(service)
        return 0
    try:
        import uvicorn

        from lrat.server.app import create_app
    except ImportError as exc:
        service.log.close()
        raise ValueError(f"lrat serve needs the `serve` extra (pip install 'lrat[serve]'): {exc}") from exc
    if not args.api_key and not _is_loopback(args.host):
        print(
            f"lrat serve: WARNING: listening on {args.host} without an API key: anyone who can reach this "
            "address can search, read every document and write to the logs. Set --api-key or LRAT_API_KEY.",
            file=sys.stderr,
        )
    app = create_app(
        service,
        idle_timeout=args.idle_timeout or None,
        api_key=args.api_key,
        compact_journal_bytes=args.compact_journal_bytes,
    )
    print(
        f"lrat serve: {len(service.searcher)} documents on http://{args.host}:{args.port} (logs in {args.log_dir})",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=30)
    return 0
