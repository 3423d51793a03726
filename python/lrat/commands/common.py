"""Command-line options shared by the commands that read logs."""

from __future__ import annotations

import argparse

from lrat.trajectories import open_reader


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_reader_arguments(p: argparse.ArgumentParser) -> None:
    """The reading options. `--log-format` names the logs' format in every command; `--format`, where a
    command has it, names the format it writes."""
    g = p.add_argument_group("reading logs")
    g.add_argument(
        "--log-format",
        dest="format",
        default="auto",
        help="auto (detect per record), browsecomp, chat_completions, responses, qwen, search_r1 or react",
    )
    g.add_argument("--strict", action="store_true", help="stop at the first bad record instead of skipping it")
    g.add_argument("--search-tools", type=_names, help="comma-separated tool names that mean search (replace the defaults)")
    g.add_argument("--browse-tools", type=_names, help="comma-separated tool names that mean browse (replace the defaults)")
    g.add_argument(
        "--unknown-tools",
        choices=["warn", "keep", "error"],
        default="warn",
        help="calls of other tools: keep with a warning (default), keep silently, or skip the record",
    )
    g.add_argument("--batch-size", type=int, default=4096, help="records per batch (bounds memory)")


def reader_options(args: argparse.Namespace) -> dict:
    """The reading options of `add_reader_arguments`, as keyword arguments of `read_trajectories`,
    `open_reader` and `mine`."""
    return {
        "format": args.format,
        "batch_size": args.batch_size,
        "strict": args.strict,
        "search_tools": args.search_tools,
        "browse_tools": args.browse_tools,
        "unknown_tools": args.unknown_tools,
    }


def reader_from_args(args: argparse.Namespace, **overrides):
    return open_reader(args.logs, **reader_options(args), **overrides)
