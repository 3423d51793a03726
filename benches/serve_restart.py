"""Restart time of `lrat serve` against the size of its journal, with and without compaction.

A server that ran for a while holds, in its journal, every event of every session it served since it
started. A restart replays the journal (to write the sessions a dead process left open). This bench
fills a journal with N ended sessions and 50 open ones, kills the log (descriptors closed, nothing
else), and times the restart: once as it is, once after `compact()` (what the server's housekeeping
does past `--compact-journal-bytes`).

    python benches/serve_restart.py [--sessions 2000,20000] [--steps 8]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from lrat.server.sessions import SessionLog

OPEN = 50


def fill(directory: Path, ended: int, steps: int) -> SessionLog:
    log = SessionLog(directory)
    text = "reasoning " * 60
    for i in range(ended + OPEN):
        sid = f"s{i}"
        for j in range(steps):
            log.log_reasoning(sid, text)
            log.log_search(
                sid,
                f"query {i} {j}",
                10,
                [{"docid": f"d{k}", "title": "t", "snippet": text, "score": 0.5} for k in range(10)],
            )
        if i < ended:
            log.end(sid)
    return log


def die(log: SessionLog) -> None:
    log.journal.close()
    log.trajectories.close()


def restart(directory: Path) -> tuple[float, int]:
    started = time.perf_counter()
    log = SessionLog(directory)
    seconds = time.perf_counter() - started
    recovered = log.recovered
    log.close()
    return seconds, recovered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="2000,20000", help="ended sessions in the journal, comma-separated")
    parser.add_argument("--steps", type=int, default=8, help="searches (with reasoning) per session")
    args = parser.parse_args()
    print(
        f"{'ended sessions':>15} {'journal MB':>11} {'restart s':>10} {'compacted MB':>13} {'restart s':>10} {'ratio':>7}"
    )
    for ended in (int(x) for x in args.sessions.split(",")):
        rows = []
        for compact in (False, True):
            directory = Path(tempfile.mkdtemp(prefix="lrat-restart-"))
            try:
                log = fill(directory, ended, args.steps)
                if compact:
                    log.compact()
                size = log.journal.size() / 1e6
                die(log)
                seconds, recovered = restart(directory)
                assert recovered == OPEN, recovered
                rows.append((size, seconds))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        (plain_mb, plain_s), (small_mb, small_s) = rows
        print(
            f"{ended:>15} {plain_mb:>11.1f} {plain_s:>10.3f} {small_mb:>13.1f} {small_s:>10.3f} {plain_s / small_s:>6.1f}×"
        )


if __name__ == "__main__":
    main()
