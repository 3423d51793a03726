"""Throughput and peak memory of the whole parse → align → mine path, against a pure-Python
implementation of the same rules, in one run.

The corpus is the ingestion bench's (`bench_parse.build_corpus`: the real run files replicated with
fresh ids, as JSON lines under bench-data/). Each contender runs in its own subprocess, so each peak
RSS is its own (from `os.wait4`):

  lrat         lrat.mine(path, judge="none", outcomes="all"): reading, segment mining and credits to
               earlier searches (lrat's default; --no-credit-earlier leaves them out; with
               --chain-queries, query chains too), token counts of
               the post-browse reasoning (the default model's tokenizer), document texts from the
               trajectories, relevance-intensity weights
  pure-python  json.loads and loops doing the same: the BrowseComp steps, the segment rule (same runs,
               same negatives order), its credits (unless --no-credit-earlier), its query chains with --chain-queries, the exclusion of accepted pages from the negatives, one `tokenizers` call per reasoning text on the same
               tokenizer.json, document texts from browse outputs / snippets, the same weights

Both use the naive judge (every browse accepted), so the example sets do not depend on reproducing
the rule judge; the judge's share of the work is small (phrase matching on the reasoning texts).
The bench checks that both produce the same examples — (query, pos_id, neg_id, reasoning tokens),
in order — and prints the number of mismatches, then MB/s, examples/s, peak RSS, CPU seconds and
lrat's speed-up (target: at least 15x, wall clock).

    python benches/bench_mine.py                  # 128 MB corpus under bench-data/
    python benches/bench_mine.py --size-mb 32 --repeat 1   # a quick run (one round)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parse import (  # noqa: E402
    MB,
    ROOT,
    _first_query,
    _search_hits,
    build_corpus,
    find_sources,
    interleaved_runs,
    median_run,
    warm_page_cache,
)

TARGET = 15.0

# ----------------------------------------------------------------------------------------------------
# lrat


@dataclass(frozen=True)
class Modes:
    """The optional example sources both contenders add."""

    chain_queries: bool = False
    credit_earlier: bool = True  # lrat's default

    def flags(self) -> list[str]:
        return ["--chain-queries"] * self.chain_queries + ["--no-credit-earlier"] * (not self.credit_earlier)


def run_lrat(path: str, modes: Modes):
    import lrat

    return lrat.mine(
        path, judge="none", outcomes="all", chain_queries=modes.chain_queries, credit_earlier=modes.credit_earlier
    )


def lrat_rows(df) -> list[tuple]:
    """The compared fields of lrat's DataFrame as Python tuples (after the clock stops: a user of
    lrat keeps the DataFrame)."""
    return list(
        zip(df["query"].to_list(), df["pos_id"].to_list(), df["neg_id"].to_list(), df["reasoning_tokens"].to_list())
    )


# ----------------------------------------------------------------------------------------------------
# Pure Python: the same rules with json and loops

ERROR_PREFIXES = (
    "error",
    "[error",
    "failed",
    "[failed",
    "exception",
    "traceback",
    "could not",
    "cannot ",
    "unable to",
    "no document",
    "document not found",
    "not found",
    "404",
    "[visit] failed",
    "the page could not",
)
BROWSE_TOOLS = {"get_document", "visit", "open", "open_page", "fetch", "browse", "read", "scrape"}


def _browse_ok(text: str) -> bool:
    t = text.lstrip()
    return bool(t) and not t[:40].lower().startswith(ERROR_PREFIXES)


def _clean_browse_text(text: str) -> str:
    """The page text without the `Document <id>:` header."""
    t = text.lstrip()
    if t.startswith("Document "):
        head, sep, rest = t.partition(":")
        if sep and " " not in head[len("Document ") :].strip():
            return rest.strip()
    return t.strip()


def _steps(record: dict) -> list[tuple]:
    """(kind, payload) per step: ("reason", text), ("search", (query, [(key, title, snippet)])),
    ("browse", (key, ok, content)), ("answer", text)."""
    steps = []
    for item in record["result"]:
        kind = item["type"]
        if kind == "reasoning":
            steps.append(("reason", item.get("output") or ""))
        elif kind == "tool_call":
            name = item["tool_name"]
            output = item.get("output") or ""
            if name == "search":
                steps.append(("search", (_first_query(item.get("arguments") or ""), _search_hits(output))))
            elif name in BROWSE_TOOLS:
                args = json.loads(item.get("arguments") or "{}")
                key = args.get("docid") if isinstance(args, dict) else None
                steps.append(("browse", (None if key is None else str(key), _browse_ok(output), output)))
            else:
                steps.append(("tool", None))
        elif kind == "output_text":
            steps.append(("answer", item.get("output") or ""))
    return steps


def _runs(steps: list[tuple]) -> list[list[int]]:
    """Browse calls separated by at most one reasoning step each."""
    runs, i = [], 0
    while i < len(steps):
        if steps[i][0] != "browse":
            i += 1
            continue
        run, j = [i], i
        while True:
            k = j + 1
            if k < len(steps) and steps[k][0] == "reason":
                k += 1
            if k < len(steps) and steps[k][0] == "browse":
                run.append(k)
                j = k
            else:
                break
        runs.append(run)
        i = j + 1
    return runs


def _segment_examples(steps: list[tuple], modes: Modes) -> list[tuple]:
    """The segment rule with every browse accepted, then (with `chain_queries`) its query chains and
    (with `credit_earlier`) its credits: (query, positive, negatives, reasoning), in lrat's order
    (the rule's examples, then the chains', then the credits'), and no page accepted in the
    trajectory among the negatives."""
    examples = []
    chains = []  # (positive, reasoning, the run's positives, the chain's earlier searches)
    credits = []  # (positive, reasoning, how many searches came before the example's own)
    searches: list[tuple[str, list[str], set[str]]] = []  # every search: query, keys, pages browsed after it
    history: list[tuple[str, list[str]]] = []
    rejected: list[str] = []
    run_at = {run[0]: run for run in _runs(steps)}
    i = 0
    while i < len(steps):
        kind, payload = steps[i]
        if kind == "search":
            history.append((payload[0], [h[0] for h in payload[1]]))
            searches.append((payload[0], [h[0] for h in payload[1]], set()))
            i += 1
            continue
        run = run_at.get(i)
        if run is None:
            i += 1
            continue
        i = run[-1] + 1
        browses = []
        for s in run:
            key, ok, _ = steps[s][1]
            if key is None or not ok:
                continue
            after = steps[s + 1] if s + 1 < len(steps) else None
            browses.append((key, after[1] if after and after[0] == "reason" else ""))
            if searches:
                searches[-1][2].add(key)
        run_accepted = {key for key, _ in browses}
        browsed = run_accepted | set(rejected)
        for key, reasoning in browses:
            if not any(key in keys for _, keys in reversed(history)):
                continue
            seen = set(run_accepted)
            seen.add(key)
            negatives = []
            for k in reversed(rejected):
                if k not in seen:
                    seen.add(k)
                    negatives.append(k)
            for _, keys in reversed(history):
                for k in keys:
                    if k not in browsed and k not in seen:
                        seen.add(k)
                        negatives.append(k)
            examples.append((history[-1][0], key, negatives, reasoning))
            if modes.chain_queries:
                chains.append((key, reasoning, run_accepted, history[:-1]))
            if modes.credit_earlier:
                credits.append((key, reasoning, len(searches) - 1))
        if run_accepted:
            history.clear()
            rejected.clear()
    # Every browse is accepted, so a chain's earlier searches were followed by no browse at all.
    paired = {(e[0], e[1]) for e in examples} if chains else set()
    for key, reasoning, run_accepted, earlier in chains:
        for query, keys in earlier:
            if (query, key) in paired:
                continue
            paired.add((query, key))
            negatives = [k for k in dict.fromkeys(keys) if k not in run_accepted and k != key]
            examples.append((query, key, negatives, reasoning))
    # Credits: every earlier search whose list held the page (the run's other pages are accepted,
    # so the final exclusion leaves them out).
    paired = {(e[0], e[1]) for e in examples}
    for key, reasoning, before in credits:
        for query, keys, browsed in searches[:before]:
            if key in keys and (query, key) not in paired:
                paired.add((query, key))
                examples.append(
                    (query, key, [k for k in dict.fromkeys(keys) if k not in browsed and k != key], reasoning)
                )
    # A page accepted anywhere in the trajectory is none of its negatives (`exclude_accepted`).
    accepted = {e[1] for e in examples}
    return [(q, key, [k for k in negatives if k not in accepted], r) for q, key, negatives, r in examples]


def run_pure_python(path: str, modes: Modes) -> list[tuple]:
    from lrat.mining import default_tokenizer_path
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    examples, texts = [], {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            steps = _steps(record)
            for kind, payload in steps:
                if kind == "search":
                    for key, title, snippet in payload[1]:
                        if snippet and (
                            key not in texts or (texts[key][0] == "snippet" and len(snippet) > len(texts[key][1]))
                        ):
                            texts[key] = ("snippet", snippet, title)
                elif kind == "browse" and payload[0] is not None and payload[1]:
                    body = _clean_browse_text(payload[2])
                    old = texts.get(payload[0])
                    if body and (old is None or old[0] == "snippet" or len(body) > len(old[1])):
                        texts[payload[0]] = ("browse", body, old[2] if old else None)
            examples.extend(_segment_examples(steps, modes))

    rows = []
    for query, pos, negs, reasoning in examples:
        tokens = len(tokenizer.encode(reasoning, add_special_tokens=False).ids) if reasoning.strip() else 0
        if pos not in texts:
            continue
        neg_ids = [k for k in negs if k in texts]
        rows.append([query, pos, neg_ids, tokens, texts[pos][1], [texts[k][1] for k in neg_ids]])

    lengths = sorted(r[3] for r in rows)
    beta = (
        lengths[len(lengths) // 2]
        if len(lengths) % 2
        else (lengths[len(lengths) // 2 - 1] + lengths[len(lengths) // 2]) / 2
    )
    raw = [1 - math.exp(-math.log(2) * r[3] / beta) if beta > 0 and r[3] > 0 else None for r in rows]
    mean = sum(x for x in raw if x is not None) / max(1, sum(x is not None for x in raw))
    for r, x in zip(rows, raw):
        r.append(x / mean if x is not None and mean > 0 else 1.0)
    return [(r[0], r[1], r[2], r[3]) for r in rows]


CONTENDERS = {"lrat": run_lrat, "pure-python": run_pure_python}


def worker(name: str, path: str, out: str, modes: Modes) -> None:
    # Imports are not timed; the clock covers the work only.
    import lrat  # noqa: F401

    if name == "pure-python":
        import tokenizers  # noqa: F401
    t0, c0 = time.perf_counter(), time.process_time()
    result = CONTENDERS[name](path, modes)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    examples = lrat_rows(result) if name == "lrat" else result
    with open(out, "wb") as f:
        pickle.dump(examples, f)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "examples": len(examples)}))


def measure(name: str, path: Path, out: Path, modes: Modes) -> dict:
    argv = [sys.executable, __file__, "--worker", name, str(path), str(out)]
    proc = subprocess.Popen(argv + modes.flags(), stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"bench_mine: {name} failed with exit code {code}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss * 1024 / MB  # KiB on Linux
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=float, default=128, help="corpus size in MB (default 128)")
    p.add_argument("--data-dir", type=Path, default=ROOT / "bench-data", help="where the corpus is built")
    p.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="rounds; each runs every contender once, in a fresh process, and each contender's median run is reported (default 5)",
    )
    p.add_argument("--chain-queries", action="store_true", help="both contenders add query chains' examples")
    p.add_argument(
        "--no-credit-earlier",
        action="store_true",
        help="neither contender credits accepted pages to earlier searches (lrat does by default)",
    )
    p.add_argument("--worker", nargs=3, metavar=("NAME", "FILE", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    modes = Modes(args.chain_queries, not args.no_credit_earlier)
    if args.worker:
        worker(*args.worker, modes)
        return

    corpus = args.data_dir / f"corpus-{args.size_mb:g}MB.jsonl"
    t0 = time.perf_counter()
    n_bytes, n_traj = build_corpus(corpus, args.size_mb, find_sources())
    print(
        f"corpus: {corpus} — {n_bytes / MB:.0f} MB, {n_traj} trajectories ({time.perf_counter() - t0:.1f} s to build or find)"
    )
    import lrat

    threads = os.environ.get("LRAT_NUM_THREADS") or str(os.cpu_count())
    print(f"lrat {lrat.__version__}, {threads} threads for lrat (LRAT_NUM_THREADS), {os.cpu_count()} cores")
    print(
        "load average at start: {:.1f} {:.1f} {:.1f} (other work on the machine slows every contender)".format(
            *os.getloadavg()
        )
    )
    warm_page_cache(corpus)

    results, outputs = {}, {}
    print(
        f"{args.repeat} rounds, each running every contender once in a fresh process; the figures are each contender's median run"
    )
    print(
        f"\n{'contender':<12} {'seconds':>8} {'MB/s':>8} {'examples/s':>11} {'peak RSS MB':>12} {'CPU s':>7}  (CPU s: all threads, work only)"
    )
    with tempfile.TemporaryDirectory() as tmp:

        def output(name: str) -> Path:
            return Path(tmp) / f"{name}.pickle"

        every_run = interleaved_runs(
            list(CONTENDERS), args.repeat, lambda name: measure(name, corpus, output(name), modes)
        )
        for name in CONTENDERS:
            runs = every_run[name]
            with output(name).open("rb") as f:
                outputs[name] = pickle.load(f)
            r, all_runs = median_run(runs)
            r["mb_s"] = n_bytes / MB / r["seconds"]
            r["examples_s"] = r["examples"] / r["seconds"]
            results[name] = r
            print(
                f"{name:<12} {r['seconds']:>8.2f} {r['mb_s']:>8.1f} {r['examples_s']:>11.0f} {r['peak_rss_mb']:>12.0f} {r['cpu_seconds']:>7.1f}"
                f"  (runs: {all_runs} s)"
            )

    a, b = outputs["lrat"], outputs["pure-python"]
    mismatches = sum(1 for x, y in zip(a, b) if tuple(x[:3]) != tuple(y[:3]) or x[3] != y[3]) + abs(len(a) - len(b))
    print(
        f"\nexamples: lrat {len(a)}, pure-python {len(b)}; mismatches of (query, pos_id, neg_id, reasoning tokens): {mismatches}"
    )
    ratio = results["pure-python"]["seconds"] / results["lrat"]["seconds"]
    cpu_ratio = results["pure-python"]["cpu_seconds"] / results["lrat"]["cpu_seconds"]
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"lrat speed-up vs pure-python: {ratio:.1f}x wall clock (>= {TARGET:g}x: {verdict}), {cpu_ratio:.1f}x CPU seconds"
    )
    rounds = [p["seconds"] / l["seconds"] for l, p in zip(every_run["lrat"], every_run["pure-python"])]
    print(f"  round by round: {', '.join(f'{r:.1f}x' for r in rounds)} (median {statistics.median(rounds):.1f}x)")
    print(
        f"peak RSS: lrat {results['lrat']['peak_rss_mb']:.0f} MB, pure-python {results['pure-python']['peak_rss_mb']:.0f} MB, corpus {n_bytes / MB:.0f} MB"
    )
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
