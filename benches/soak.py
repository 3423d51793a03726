"""Soak test of `lrat serve`: kill -9 under load, restart, and count lost and duplicated data.

A real server process (`python -m lrat serve`, a tiny encoder over a generated corpus) serves
`--clients` concurrent agents. Each agent runs sessions of a few searches and document reads, each
call carrying a unique marker in its reasoning, and ends them. A killer sends SIGKILL to the server
at random moments (`--kills` times) and starts a new one on the same log directory; agents whose
call failed move on (a failed call is "unacknowledged": it may or may not have been logged).

At the end the server is stopped cleanly and every trajectory is read back. The checks:
- every acknowledged call's marker is in the logs exactly once (nothing lost, nothing written twice);
- every unacknowledged call's marker at most once;
- no session run (uid) is written twice;
- `lrat.read_trajectories(..., strict=True)` reads every file.

    python benches/soak.py [--kills 200] [--clients 16] [--seconds-between 0.3,1.5]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: Path) -> tuple[Path, Path, Path, list[str]]:
    """A tiny model, a generated corpus and its index."""
    import lrat
    from _tiny_model import make_tiny_model
    from lrat.harness.synthetic import SyntheticConfig, generate

    model = make_tiny_model(work / "model")
    kb = generate(
        SyntheticConfig(n_people=60, n_cities=15, n_organisations=25, n_works=25, n_events=15, n_questions=20), seed=0
    )
    corpus = work / "corpus.jsonl"
    kb.corpus.write_ndjson(corpus)
    encoder = lrat.Encoder.load(model, device="cpu")
    index = lrat.Index(encoder.dim)
    index.add(kb.corpus["doc_id"].to_list(), encoder.encode(kb.corpus["text"].to_list(), show_progress_bar=False))
    index.save(work / "corpus.index")
    return model, corpus, work / "corpus.index", kb.corpus["doc_id"].to_list()


class Server:
    def __init__(self, model: Path, corpus: Path, index: Path, logs: Path, port: int):
        self.argv = [
            sys.executable,
            "-m",
            "lrat",
            "serve",
            "--index",
            str(index),
            "--corpus",
            str(corpus),
            "--model",
            str(model),
            "--log-dir",
            str(logs),
            "--port",
            str(port),
            "--device",
            "cpu",
            "--idle-timeout",
            "0",
            "--torch-threads",
            "1",
        ]
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise RuntimeError("the server did not come up within 120 s")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown writes open sessions
        self.process.wait(timeout=120)


def post(url: str, body: dict, timeout: float = 10.0) -> bool:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return False


def agent(
    server: Server, stop: threading.Event, seed: int, doc_ids: list[str], acked: list[str], unacked: list[str]
) -> None:
    rng = random.Random(seed)
    words = "river city film actor born capital team country".split()
    while not stop.is_set():
        sid = uuid.uuid4().hex
        for n in range(rng.randint(2, 6)):
            marker = f"m-{sid}-{n}"
            if rng.random() < 0.7:
                body = {"query": " ".join(rng.sample(words, 2)), "k": 5, "reasoning": marker, "session_id": sid}
                ok = post(server.url + "/search", body)
            else:
                docid = "no-such-document" if rng.random() < 0.1 else rng.choice(doc_ids)  # a 404 now and then
                ok = post(server.url + "/get_document", {"docid": docid, "reasoning": marker, "session_id": sid})
            (acked if ok else unacked).append(marker)
            if not ok:
                time.sleep(0.05)  # the server may be restarting: do not spin
            if stop.is_set():
                break
        post(server.url + f"/sessions/{sid}/end", {"answer": "done"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds-between", default="0.3,1.5", help="range of the wait before each kill")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    low, high = (float(x) for x in args.seconds_between.split(","))
    work = Path(tempfile.mkdtemp(prefix="lrat-soak-"))
    model, corpus, index, doc_ids = prepare(work)
    logs = work / "logs"
    server = Server(model, corpus, index, logs, free_port())
    server.start()
    stop = threading.Event()
    acked: list[str] = []
    unacked: list[str] = []
    threads = [
        threading.Thread(target=agent, args=(server, stop, args.seed * 1000 + i, doc_ids, acked, unacked), daemon=True)
        for i in range(args.clients)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    rng = random.Random(args.seed)
    downtime = 0.0
    for kill in range(args.kills):
        time.sleep(rng.uniform(low, high))
        server.kill()
        down = time.perf_counter()
        server.start()
        downtime += time.perf_counter() - down
        if (kill + 1) % 20 == 0:
            print(f"{kill + 1} kills, {len(acked)} calls acknowledged, {len(unacked)} not", flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    server.stop()
    wall = time.perf_counter() - started

    import lrat

    t = lrat.read_trajectories(logs, strict=True)
    seen = collections.Counter()
    uids = collections.Counter()
    for path in sorted(logs.glob("trajectories-*.jsonl")):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            uids[record["metadata"]["session_uid"]] += 1
            for step in record["result"]:
                if step["type"] == "reasoning" and str(step["output"]).startswith("m-"):
                    seen[step["output"]] += 1
    lost = [m for m in acked if seen[m] == 0]
    doubled = [m for m in acked if seen[m] > 1]
    unacked_doubled = [m for m in unacked if seen[m] > 1]
    repeated_runs = [u for u, c in uids.items() if c > 1]
    print(f"\n{args.kills} kills in {wall:.0f} s ({downtime:.0f} s restarting), {args.clients} clients")
    print(f"calls acknowledged {len(acked)}: lost {len(lost)}, written twice {len(doubled)}")
    print(
        f"calls not acknowledged {len(unacked)}: logged {sum(1 for m in unacked if seen[m])}, twice {len(unacked_doubled)}"
    )
    print(f"trajectories {len(t)} (session runs written twice: {len(repeated_runs)}); read strictly: ok")
    ok = not (lost or doubled or unacked_doubled or repeated_runs)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
