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


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """`--engine local|ray` and `--address`: where the logs are read (and mined)."""
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: tasks on Ray Data (pip install 'lrat[ray]'), same output",
    )
    g.add_argument(
        "--address",
        help="the Ray cluster to join: 'auto' (the one this machine belongs to) or host:port "
        "(default: a local Ray started for the run)",
    )
    g.add_argument(
        "--task-mb",
        type=float,
        help="with --engine ray: megabytes of logs per task, about (files are never split; default: 64, "
        "or less so that each CPU of the cluster gets four tasks)",
    )


def start_engine(args: argparse.Namespace) -> None:
    """Joins or starts Ray when the command runs on it; checks the flags otherwise."""
    if args.engine != "ray":
        if args.address:
            raise ValueError("--address needs --engine ray")
        return
    if args.task_mb is not None and args.task_mb <= 0:
        raise ValueError(f"--task-mb must be positive, got {args.task_mb}")
    import ray

    import lrat.ray

    lrat.ray.init(args.address)
    ray.data.DataContext.get_current().enable_progress_bars = not getattr(args, "no_progress", False)


def task_bytes(args: argparse.Namespace) -> int | None:
    """`--task-mb` in bytes, or None for `lrat.ray`'s default."""
    return None if args.task_mb is None else max(1, int(args.task_mb * (1 << 20)))
