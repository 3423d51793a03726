"""Command-line options shared by the commands that read logs."""

from __future__ import annotations

import argparse

from lrat.options import add_options, options_from_args
from lrat.trajectories import ReadOptions, open_reader


def add_reader_arguments(p: argparse.ArgumentParser) -> None:
    """The reading options (`ReadOptions`' flags). `--log-format` names the logs' format in every
    command; `--format`, where a command has it, names the format it writes."""
    add_options(p, ReadOptions)


def reader_options(args: argparse.Namespace) -> ReadOptions:
    """The `ReadOptions` of `add_reader_arguments`' flags."""
    return ReadOptions(**options_from_args(ReadOptions, args))


def reader_from_args(args: argparse.Namespace, **overrides):
    return open_reader(args.logs, options=reader_options(args).replace(**overrides))
