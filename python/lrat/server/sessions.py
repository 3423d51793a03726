"""The trajectory log of a search service: every call of every agent session, on disk, readable by
`lrat mine` / `lrat.read_trajectories` as it is.

Design. A call becomes two records:

1. At once, an *event line* (`{"session": id, "seq": n, "event": {...}}`) appended to the journal
   `LOG_DIR/journal/journal-NNNNNN.events`. The journal exists so that no logged call is lost if the
   process dies: its extension is not one the trajectory reader scans, so `lrat mine LOG_DIR` never
   sees it.
2. When the session ends (`end`, the idle timeout, or shutdown), its whole trajectory is appended as
   one BrowseComp-Plus run record (`{query_id, query, status, result: [...], ...}`) to
   `LOG_DIR/trajectories-NNNNNN.jsonl`: searches as `search` calls whose output is structured,
   `{"results": [{docid, title, snippet, score}, ...]}`, document reads as `get_document` calls with
   output `{docid, text}`, the client's reasoning as `reasoning` steps, the client's answer as
   `output_text`. Structured outputs (not the BrowseComp-Plus text with its `DocID:` markers) mean
   that a document or query holding such markers can never read back as results never shown.

Atomicity. Each line is written with a single `os.write` on a descriptor opened with `O_APPEND`
under a lock, so lines never interleave or tear between writers, and a reader sees whole lines.
Rotation by size: when a line would take a file past `max_bytes`, the next number is opened; a
file is never renamed, so readers never see a file move under them.

Durability (`fsync`): "always" syncs every journal line and trajectory (slowest, nothing is lost
even on power loss); "session" (the default) syncs each finished trajectory; "never" leaves it to
the OS (a process crash still loses nothing already written; a power cut may).

Recovery. On start, sessions found in the journal without an `end` event (the previous process
died) are written out as trajectories with status "incomplete"; the journal is then removed. A
clean shutdown ends every open session and removes the journal too.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lrat.server.surrogates import replace_lone_surrogates

FsyncPolicy = Literal["always", "session", "never"]
FSYNC_POLICIES = ("always", "session", "never")
TRAJECTORY_PREFIX = "trajectories-"
JOURNAL_PREFIX = "journal-"
_NUMBERED = re.compile(r"-(\d{6})\.")


class RotatingAppender:
    """Appends whole lines to `DIR/PREFIX-NNNNNN.SUFFIX`, opening the next number at `max_bytes`."""

    def __init__(self, directory: Path, prefix: str, suffix: str, max_bytes: int, fsync: bool):
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.directory, self.prefix, self.suffix = directory, prefix, suffix
        self.max_bytes, self.fsync = max_bytes, fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        directory.mkdir(parents=True, exist_ok=True)
        numbers = [int(m.group(1)) for p in self.files() if (m := _NUMBERED.search(p.name))]
        self._number = max(numbers, default=0)
        self.torn_bytes = sum(_cut_torn_tail(p) for p in self.files())
        """Bytes of torn last lines cut from the files at start: a process killed inside `write`
        (SIGKILL stops a write at a page boundary) leaves part of a line that it never acknowledged."""

    def files(self) -> list[Path]:
        return sorted(self.directory.glob(f"{self.prefix}[0-9]*{self.suffix}"))

    def _open(self) -> None:
        path = self.directory / f"{self.prefix}{self._number:06d}{self.suffix}"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def append(self, line: bytes, *, sync: bool = False) -> None:
        if not line.endswith(b"\n") or b"\n" in line[:-1]:
            raise ValueError("append takes exactly one line ending in a newline")
        with self._lock:
            if self._fd is None or (self._size > 0 and self._size + len(line) > self.max_bytes):
                self._close_fd()
                self._number += 1
                self._open()
            assert self._fd is not None
            written = os.write(self._fd, line)
            if written != len(line):  # regular files do not write partially unless the disk is full
                raise OSError(
                    f"short write to {self.prefix}{self._number:06d}{self.suffix}: {written} of {len(line)} bytes"
                )
            self._size += written
            if sync or self.fsync:
                os.fsync(self._fd)

    def replace_with(self, lines: list[bytes]) -> None:
        """Replaces every file with one new file holding `lines`: written under a temporary name,
        synced and renamed into place before the old files go, so that a crash at any point leaves
        either the old files or the new one (the new one's number is the highest, so a reader that
        replays files in order ends with its content)."""
        with self._lock:
            old = self.files()
            self._close_fd()
            self._number += 1
            path = self.directory / f"{self.prefix}{self._number:06d}{self.suffix}"
            partial = path.with_name(path.name + ".tmp")
            with open(partial, "wb") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(partial, path)
            for stale in old:
                stale.unlink()
            self._open()

    def size(self) -> int:
        """Bytes in all the files."""
        return sum(p.stat().st_size for p in self.files() if p.exists())

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._lock:
            self._close_fd()


def _cut_torn_tail(path: Path, chunk: int = 1 << 16) -> int:
    """Truncates `path` after its last newline; returns the bytes cut (0 when it ends in one)."""
    with open(path, "rb+") as fh:
        end = fh.seek(0, os.SEEK_END)
        at = end
        while at > 0:
            start = max(0, at - chunk)
            fh.seek(start)
            block = fh.read(at - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            at = start
        else:
            keep = 0
        if keep < end:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return end - keep


def _line(obj: Any) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate that no caller cleaned: never let it stop a write
        return _line(replace_lone_surrogates(obj)[0])


@dataclass
class Session:
    id: str
    question: str | None
    started: float
    last_seen: float
    steps: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    retrieved: set[str] = field(default_factory=set)
    metadata: dict[str, Any] = field(default_factory=dict)
    query_id: str | None = None
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Unique to this run of the session (a client may reuse its id): recovery writes a session
    whose trajectory is not yet on disk, and only such a one."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: str) -> dict[str, Any]:
        return {
            "query_id": self.query_id or self.id,
            "trajectory_id": self.id,
            "query": self.question or "",
            "status": status,
            "tool_call_counts": dict(self.counts),
            "retrieved_docids": sorted(self.retrieved),
            "metadata": {
                "server": "lrat serve",
                "started": self.started,
                "ended": time.time(),
                **self.metadata,
                "session_uid": self.uid,
            },
            "result": self.steps,
        }


class SessionNotFound(KeyError):
    pass


class SessionLog:
    """Open sessions in memory, their events in the journal, finished trajectories in rotated JSONL."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 64 << 20,
        fsync: FsyncPolicy = "session",
        server_metadata: dict[str, Any] | None = None,
        crash_point: Callable[[str], None] | None = None,
        max_open_sessions: int = 10_000,
    ):
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        if max_open_sessions < 1:
            raise ValueError(f"max_open_sessions must be positive, got {max_open_sessions}")
        self.max_open_sessions = max_open_sessions
        self.evicted = 0
        """Sessions ended (and written, status "incomplete") to make room under `max_open_sessions`."""
        self.directory = Path(directory)
        self.fsync = fsync
        self.server_metadata = dict(server_metadata or {})
        # Fault injection for tests: called with the name of each point of the write path.
        self._crash_point = crash_point or (lambda point: None)
        self.trajectories = RotatingAppender(self.directory, TRAJECTORY_PREFIX, ".jsonl", max_bytes, fsync == "always")
        journal_dir = self.directory / "journal"
        self.recovered = self._recover(journal_dir)
        self.journal = RotatingAppender(journal_dir, JOURNAL_PREFIX, ".events", max_bytes, fsync == "always")
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- sessions ------------------------------------------------------------------------------
    def start(
        self,
        session_id: str,
        question: str | None = None,
        metadata: dict[str, Any] | None = None,
        query_id: str | None = None,
    ) -> Session:
        """The open session `session_id`, created if it is not open yet. `question` (else the first
        search query) becomes the trajectory's question; `query_id` (else the session id) its query id."""
        victim = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the session log is closed")
            session = self._sessions.get(session_id)
            if session is None:
                if len(self._sessions) >= self.max_open_sessions:
                    # Full: the session that has waited longest is ended and written to make room.
                    victim = self._sessions.pop(min(self._sessions, key=lambda k: self._sessions[k].last_seen))
                    victim.lock.acquire()
                    self.evicted += 1
                now = time.time()
                session = Session(
                    session_id,
                    question,
                    now,
                    now,
                    metadata={**self.server_metadata, **(metadata or {})},
                    query_id=query_id,
                )
                self._sessions[session_id] = session
                self._event(
                    session,
                    {
                        "type": "start",
                        "question": question,
                        "query_id": query_id,
                        "metadata": session.metadata,
                        "uid": session.uid,
                    },
                )
            elif question and not session.question:
                session.question = question
                self._event(session, {"type": "question", "question": question})
        if victim is not None:
            victim.metadata["evicted"] = True
            self._write(victim, "incomplete")
        return session

    def open_sessions(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def log_reasoning(self, session_id: str, text: str) -> None:
        session = self.start(session_id)
        with session.lock:
            self._append_step(session, {"type": "reasoning", "tool_name": None, "arguments": None, "output": text})

    def log_search(self, session_id: str, query: str, k: int, results: list[dict[str, Any]]) -> None:
        """A search and what it showed, as structured results (`docid, title, snippet, score`): a text
        inside a document can never read back as a result that was not shown."""
        session = self.start(session_id, question=query)
        with session.lock:
            session.retrieved.update(r["docid"] for r in results)
            args = json.dumps({"query": query, "k": k}, ensure_ascii=False)
            self._append_step(
                session, {"type": "tool_call", "tool_name": "search", "arguments": args, "output": {"results": results}}
            )

    def log_get_document(self, session_id: str, docid: str, text: str) -> None:
        """A document read, as `{docid, text}`."""
        session = self.start(session_id)
        with session.lock:
            args = json.dumps({"docid": docid}, ensure_ascii=False)
            self._append_step(
                session,
                {
                    "type": "tool_call",
                    "tool_name": "get_document",
                    "arguments": args,
                    "output": {"docid": docid, "text": text},
                },
            )

    def end(self, session_id: str, *, answer: str | None = None, status: str = "completed") -> dict[str, Any]:
        """Writes the session's trajectory and forgets it; returns the record written."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise SessionNotFound(session_id)
            # Taken before the log's lock is let go: a compaction never sees the session gone from
            # the open ones before its trajectory is written.
            session.lock.acquire()
        return self._write(session, status, answer)

    def _write(self, session: Session, status: str, answer: str | None = None) -> dict[str, Any]:
        """Writes a session taken out of the open ones, whose lock the caller holds (and this
        releases): its trajectory, then its end event."""
        try:
            if answer is not None:
                self._append_step(
                    session, {"type": "output_text", "tool_name": None, "arguments": None, "output": answer}
                )
            record = session.record(status)
            self._crash_point("end: before the trajectory")
            self.trajectories.append(_line(record), sync=self.fsync != "never")
            self._crash_point("end: after the trajectory, before the end event")
            self._event(session, {"type": "end", "status": status})
            self._crash_point("end: after the end event")
        finally:
            session.lock.release()
        return record

    def compact(self) -> int:
        """Rewrites the journal with the events of the open sessions only (ended sessions' events are
        dropped), so that it, and the time a restart takes to replay it, follows what is open rather
        than everything served. Returns the events kept."""
        with self._lock:
            sessions = sorted(self._sessions.values(), key=lambda x: x.started)
            for session in sessions:
                session.lock.acquire()
            try:
                lines = []
                for session in sessions:
                    start = {
                        "type": "start",
                        "question": session.question,
                        "query_id": session.query_id,
                        "metadata": session.metadata,
                        "uid": session.uid,
                    }
                    lines.append(_line({"session": session.id, "time": session.started, "event": start}))
                    lines += [
                        _line(
                            {"session": session.id, "time": session.last_seen, "event": {"type": "step", "step": step}}
                        )
                        for step in session.steps
                    ]
                self.journal.replace_with(lines)
            finally:
                for session in sessions:
                    session.lock.release()
        return len(lines)

    def compact_if_larger(self, max_bytes: int) -> bool:
        """`compact` when the journal holds more than `max_bytes`."""
        if self.journal.size() <= max_bytes:
            return False
        self.compact()
        return True

    def end_idle(self, idle_seconds: float) -> list[str]:
        """Ends (status "incomplete") the sessions that made no call for `idle_seconds`."""
        cutoff = time.time() - idle_seconds
        with self._lock:
            idle = [s.id for s in self._sessions.values() if s.last_seen < cutoff]
        ended = []
        for sid in idle:
            try:
                self.end(sid, status="incomplete")
                ended.append(sid)
            except SessionNotFound:  # ended meanwhile by its client
                pass
        return ended

    def close(self) -> int:
        """Ends every open session (status "incomplete"), syncs and removes the journal. Idempotent."""
        with self._lock:
            if self._closed:
                return 0
            self._closed = True
            open_ids = list(self._sessions)
        for sid in open_ids:
            with self._lock:
                session = self._sessions.pop(sid, None)
            if session is None:
                continue
            with session.lock:
                self.trajectories.append(_line(session.record("incomplete")), sync=self.fsync != "never")
                self._crash_point("close: after a trajectory")
        self.trajectories.close()
        self.journal.close()
        self._crash_point("close: before removing the journal")
        for path in self.journal.files():
            path.unlink()
        return len(open_ids)

    # -- internals -----------------------------------------------------------------------------
    def _append_step(self, session: Session, step: dict[str, Any]) -> None:
        session.steps.append(step)
        session.last_seen = time.time()
        if step["type"] == "tool_call":
            name = step["tool_name"]
            session.counts[name] = session.counts.get(name, 0) + 1
        self._event(session, {"type": "step", "step": step})

    def _event(self, session: Session, event: dict[str, Any]) -> None:
        self.journal.append(_line({"session": session.id, "time": time.time(), "event": event}))

    def _recover(self, journal_dir: Path) -> int:
        """Writes the sessions a dead process left open in the journal; returns how many."""
        if not journal_dir.is_dir():
            return 0
        files = sorted(journal_dir.glob(f"{JOURNAL_PREFIX}[0-9]*.events"))
        sessions: dict[str, Session] = {}
        first_time = float("inf")
        for path in files:
            with open(path, "rb") as fh:
                for number, raw in enumerate(fh, start=1):
                    if not raw.endswith(b"\n"):
                        break  # a line torn by the crash: never acknowledged to its client
                    try:
                        entry = json.loads(raw)
                        sid, event = entry["session"], entry["event"]
                    except (ValueError, KeyError, TypeError) as exc:
                        raise ValueError(f"{path}:{number}: not a journal event ({exc})") from exc
                    kind = event.get("type")
                    if kind == "start":
                        t = entry.get("time", 0.0)
                        first_time = min(first_time, t)
                        sessions[sid] = Session(
                            sid,
                            event.get("question"),
                            t,
                            t,
                            metadata=event.get("metadata") or {},
                            query_id=event.get("query_id"),
                            uid=event.get("uid") or uuid.uuid4().hex,
                        )
                    elif sid not in sessions:
                        continue
                    elif kind == "question":
                        sessions[sid].question = event.get("question")
                    elif kind == "step":
                        step = event["step"]
                        sessions[sid].steps.append(step)
                        if step.get("type") == "tool_call":
                            name = step.get("tool_name")
                            sessions[sid].counts[name] = sessions[sid].counts.get(name, 0) + 1
                    elif kind == "end":
                        del sessions[sid]
        # A session may have been written before the process died without journaling its end (or
        # by a recovery that died before removing the journal): it is on disk already.
        written = self._written_uids(first_time) if sessions else set()
        recovered = 0
        for session in sessions.values():
            if session.uid in written:
                continue
            session.metadata["recovered"] = True
            self.trajectories.append(_line(session.record("incomplete")), sync=self.fsync != "never")
            recovered += 1
            self._crash_point("recover: after a trajectory")
        for path in files:
            path.unlink()
        return recovered

    def _written_uids(self, since: float) -> set[str]:
        """The session uids of the trajectories in files written to since `since` (the journal's
        first event): only those can hold a session of the journal."""
        uids: set[str] = set()
        for path in self.trajectories.files():
            try:
                if path.stat().st_mtime < since - 1.0:
                    continue
                with open(path, "rb") as fh:
                    for raw in fh:
                        marker = raw.find(b'"session_uid":"')
                        if marker >= 0:
                            end = raw.find(b'"', marker + 15)
                            uids.add(raw[marker + 15 : end].decode("ascii", "replace"))
            except OSError:
                continue
        return uids
