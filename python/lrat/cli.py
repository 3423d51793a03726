"""The `lrat` command. Each subcommand lives in `lrat.commands.<name>` and registers itself there."""

from __future__ import annotations

import argparse
import importlib
import sys

from lrat import LratError, __version__

# Subcommands, in the order `lrat --help` lists them.
COMMANDS = [
    "demo",
    "bench",
    "parse",
    "stats",
    "mine",
    "train",
    "index",
    "eval",
    "serve",
    "flywheel",
    "agent",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrat",
        description="Learning to retrieve from agent trajectories.",
    )
    parser.add_argument("--version", action="version", version=f"lrat {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"lrat.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (LratError, FileNotFoundError, ValueError) as exc:
        print(f"lrat {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lrat {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
