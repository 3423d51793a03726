"""`lrat agent run` against a scripted OpenAI-compatible endpoint on localhost (tests/_fake_openai.py):
both tool-call modes, malformed calls, 429s and timeouts retried, budgets, resuming; the run files read
back through `read_trajectories` and `mine`. Nothing here calls the network."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os

import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("openai")
pytest.importorskip("torch")

import lrat  # noqa: E402
from _fake_openai import ANSWER, FakeEndpoint  # noqa: E402
from _tiny_model import make_tiny_model  # noqa: E402
from lrat.agent import AgentSettings, LocalTools, Question, QuestionsError, read_questions, run_questions  # noqa: E402
from lrat.agent.loop import run_file_name  # noqa: E402
from lrat.agent.text_calls import parse_reply  # noqa: E402
from lrat.cli import main as cli_main  # noqa: E402

CORPUS = pl.DataFrame(
    {
        "doc_id": [f"d{i}" for i in range(12)],
        "title": [f"title {i}" for i in range(12)],
        "text": [f"the river {i} city of the capital {'actor ' * (i % 3)}born in {i}" for i in range(12)],
    }
)


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    from lrat.encoder import Encoder
    from lrat.server import CorpusSearch

    tiny = make_tiny_model(tmp_path_factory.mktemp("tiny"))
    return CorpusSearch.build(Encoder.load(tiny, device="cpu"), CORPUS, exact=True)


def _play(searcher, questions, out, *, mode="tools", retries=3, timeout=1.0, concurrency=4, **settings):
    from openai import AsyncOpenAI

    async def main():
        with FakeEndpoint(slow_seconds=timeout * 3) as endpoint:
            client = AsyncOpenAI(base_url=endpoint.base_url, api_key="test", max_retries=retries, timeout=timeout)

            @contextlib.asynccontextmanager
            async def tools(_question):
                yield LocalTools(searcher)

            async with client:
                summary = await run_questions(
                    client,
                    tools,
                    questions,
                    out,
                    AgentSettings(model="fake", mode=mode, **settings),
                    concurrency=concurrency,
                    progress=False,
                )
            return summary, endpoint.requests

    return asyncio.run(main())


def _runs(out) -> dict[str, dict]:
    return {r["query_id"]: r for r in (json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json")))}


def _first_result(searcher, query: str) -> str:
    return searcher.hits([query], 10)[0][0].docid


@pytest.mark.parametrize("mode", ["tools", "text"])
def test_runs_read_back_and_mine_the_opened_documents(tmp_path, searcher, mode):
    questions = [
        Question("q1", "which river city", "river"),
        Question("q/2", "malformed capital question", "lake"),
        Question("q3", "ratelimit actor born", None),
        Question("q4", "slow city capital", "river"),
    ]
    summary, _ = _play(searcher, questions, tmp_path, mode=mode)
    assert (summary.written, summary.errors, summary.completed) == (4, 0, 4)
    assert (summary.graded, summary.correct) == (3, 2)  # "lake" is not in the answer
    assert summary.tool_errors == 1  # the malformed call, shown to the model, which retried
    runs = _runs(tmp_path)
    assert set(runs) == {"q1", "q/2", "q3", "q4"}
    assert (tmp_path / "runs" / run_file_name("q/2")).is_file() and "/" not in run_file_name("q/2")
    for q in questions:
        run = runs[q.id]
        assert run["status"] == "completed" and run["result"][-1] == {
            "type": "output_text",
            "tool_name": None,
            "arguments": None,
            "output": run["result"][-1]["output"],
        }
        assert ANSWER in run["result"][-1]["output"]
        assert run["tool_call_counts"] == {"search": 1, "get_document": 1}
        assert run["metadata"]["usage"]["total_tokens"] > 0
    assert runs["q/2"]["metadata"]["tool_errors"][0]["error"]

    t = lrat.read_trajectories(tmp_path / "runs")
    assert t.errors.height == 0 and t.trajectories.height == 4
    assert set(t.trajectories["outcome"]) == {"completed"}
    searches = t.steps.filter(pl.col("kind") == "search")
    assert searches.height == 4
    mined = lrat.mine(tmp_path / "runs", corpus=CORPUS)
    expected = {q.id: _first_result(searcher, q.text) for q in questions}
    assert dict(zip(mined["query_id"], mined["pos_id"])) == expected


def test_budgets_end_a_model_that_never_answers(tmp_path, searcher):
    summary, _ = _play(searcher, [Question("s", "stubborn river")], tmp_path, max_calls=3)
    run = _runs(tmp_path)["s"]
    assert run["status"] == "incomplete" and summary.completed == 0
    assert run["metadata"]["tool_calls"] == 3 and run["tool_call_counts"] == {"search": 3}
    assert run["metadata"]["stop"] == "no answer"  # asked once more, without tools, for an answer

    summary, _ = _play(searcher, [Question("t", "stubborn city")], tmp_path / "tokens", max_tokens=250)
    run = _runs(tmp_path / "tokens")["t"]
    assert run["status"] == "incomplete" and run["metadata"]["stop"] == "token budget"
    assert run["metadata"]["usage"]["total_tokens"] == 360  # 120 a reply: the third crosses 250 and is the last

    _play(searcher, [Question("u", "stubborn capital")], tmp_path / "text", mode="text", max_turns=4)
    run = _runs(tmp_path / "text")["u"]
    assert run["status"] == "incomplete" and run["metadata"]["model_calls"] == 4


def test_a_hundred_questions_at_concurrency_eight_lose_and_repeat_none(tmp_path, searcher):
    kinds = ["", "ratelimit ", "slow ", "malformed "]
    questions = [Question(f"q{i}", f"{kinds[i % 4] if i % 5 == 0 else ''}river question {i}") for i in range(100)]
    summary, _ = _play(searcher, questions, tmp_path, concurrency=8, timeout=0.5)
    runs = _runs(tmp_path)
    assert summary.errors == 0 and summary.written == 100 and len(runs) == 100
    assert sorted(runs) == sorted(q.id for q in questions)
    assert all(r["status"] == "completed" for r in runs.values())
    assert len(list((tmp_path / "runs").iterdir())) == 100, "no partial files left"


def test_a_rerun_plays_only_the_questions_without_a_run_file(tmp_path, searcher):
    questions = [Question(f"q{i}", f"river question {i}") for i in range(3)]
    _play(searcher, questions, tmp_path)
    (tmp_path / "runs" / run_file_name("q1")).unlink()
    summary, requests = _play(searcher, questions, tmp_path)
    assert (summary.skipped, summary.written) == (2, 1)
    assert requests == 3  # one question: search, open, answer


def test_an_endpoint_that_keeps_failing_is_recorded_and_retried_next_time(tmp_path, searcher):
    questions = [Question("ok", "river question"), Question("bad", "ratelimit river question")]
    summary, _ = _play(searcher, questions, tmp_path, retries=0)
    assert (summary.written, summary.errors) == (1, 1)
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert errors[0]["query_id"] == "bad" and "RateLimitError" in errors[0]["error"]
    assert set(_runs(tmp_path)) == {"ok"}
    summary, _ = _play(searcher, questions, tmp_path, retries=0)
    assert (summary.skipped, summary.written) == (1, 0)  # a fresh endpoint rate-limits its first call again
    summary, _ = _play(searcher, questions, tmp_path, retries=2)
    assert (summary.skipped, summary.written, summary.errors) == (1, 1, 0)


def test_text_mode_reads_qwen_and_react_calls():
    reply = parse_reply(
        '<think>look it up</think>\n<tool_call>{"name": "search", "arguments": {"query": "x"}}</tool_call>'
    )
    assert [(c.name, c.arguments) for c in reply.calls] == [("search", {"query": "x"})]
    assert reply.reasoning == "look it up" and reply.answer is None
    react = parse_reply("Thought 1: find it\nAction 1: Search[Nile river]\n")
    assert [(c.name, c.arguments) for c in react.calls] == [("search", {"query": "Nile river"})]
    done = parse_reply("Thought: I know\nAction: Finish[Cairo]")
    assert done.answer == "Cairo" and not done.calls
    bad = parse_reply("<tool_call>{oops</tool_call>")
    assert bad.calls[0].arguments is None and "not JSON" in bad.calls[0].error
    assert parse_reply("so <answer> Paris </answer>").answer == "Paris"


def test_questions_from_beir_tsv_and_browsecomp_files(tmp_path):
    beir = tmp_path / "queries.jsonl"
    beir.write_text('{"_id": "a", "text": "Who?", "metadata": {"answer": "Me"}}\n{"_id": "b", "text": "Where?"}\n')
    assert read_questions(beir) == [Question("a", "Who?", "Me"), Question("b", "Where?", None)]
    tsv = tmp_path / "q.tsv"
    tsv.write_text("x_0\tWhat moth?\tArgina amanda\nx_1\tWho?\n")
    assert read_questions(tsv) == [Question("x_0", "What moth?", "Argina amanda"), Question("x_1", "Who?", None)]
    bcp = tmp_path / "bcp.jsonl"
    bcp.write_text('{"query_id": 7, "query": "Which?", "answer": "That"}\n')
    assert read_questions(bcp) == [Question("7", "Which?", "That")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "ok"}\n{"_id": "b"}\n')
    with pytest.raises(QuestionsError, match=r"bad.jsonl:2: question 'b' has no text"):
        read_questions(bad)
    twice = tmp_path / "twice.tsv"
    twice.write_text("a\tone\na\ttwo\n")
    with pytest.raises(QuestionsError, match="appears twice"):
        read_questions(twice)


def test_shared_infoseek_questions_read(tmp_path):
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "lrat-eval-queries", "InfoSeek-Eval.tsv"
    )
    if not os.path.isfile(path):
        pytest.skip("../shared/data is not beside the repository")
    questions = read_questions(path)
    assert len(questions) > 100 and all(q.answer for q in questions)
    assert questions[0].id == "InfoSeek-Eval_0" and questions[0].answer == "Argina amanda"


def test_cli_refuses_a_run_without_a_search_backend(tmp_path, capsys):
    questions = tmp_path / "q.tsv"
    questions.write_text("a\tWho?\n")
    code = cli_main(
        ["agent", "run", str(questions), "--out", str(tmp_path / "o"), "--base-url", "http://x", "--model", "m"]
    )
    assert code == 1 and "give either --corpus (and optionally its --index) or --search-url" in capsys.readouterr().err


def test_search_url_runs_through_lrat_serve_which_logs_the_same_sessions(tmp_path, searcher):
    import httpx
    from lrat.agent import HttpTools
    from lrat.server import Limits, SearchService, SessionLog
    from lrat.server.app import create_app
    from openai import AsyncOpenAI

    log = SessionLog(tmp_path / "served")
    app = create_app(SearchService(searcher, log, Limits()))
    questions = [Question("a", "which river city"), Question("b", "capital actor")]

    async def main():
        with FakeEndpoint() as endpoint:
            client = AsyncOpenAI(base_url=endpoint.base_url, api_key="test", max_retries=0, timeout=5)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http, client:

                @contextlib.asynccontextmanager
                async def tools(question):
                    t = HttpTools(http, "http://serve", f"session-{question.id}")
                    await t.start(question.text, question.id)
                    yield t

                return await run_questions(
                    client, tools, questions, tmp_path / "out", AgentSettings(model="fake"), progress=False
                )

    summary = asyncio.run(main())
    log.close()
    assert (summary.written, summary.errors) == (2, 0)
    ours = lrat.mine(tmp_path / "out" / "runs", corpus=CORPUS)
    served = lrat.mine(tmp_path / "served", corpus=CORPUS)
    assert (
        sorted(ours["pos_id"]) == sorted(served["pos_id"]) == sorted(_first_result(searcher, q.text) for q in questions)
    )
    assert sorted(served["query_id"]) == ["a", "b"]


def test_cli_plays_a_tsv_over_a_corpus_and_lrat_mine_reads_the_runs(tmp_path, capsys):
    tiny = make_tiny_model(tmp_path / "tiny")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in CORPUS.iter_rows()))
    questions = tmp_path / "q.tsv"
    questions.write_text("a\twhich river city\tthe river\nb\tratelimit capital\tnothing like it\n")
    out = tmp_path / "out"
    with FakeEndpoint() as endpoint:
        argv = ["agent", "run", str(questions), "--out", str(out), "--base-url", endpoint.base_url]
        argv += ["--model", "fake", "--api-key", "k", "--corpus", str(corpus), "--encoder", str(tiny), "--quiet"]
        assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 questions: 2 written, 0 already done, 0 failed" in printed and "correct 1/2" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["written"], summary["graded"], summary["correct"]) == (2, 2, 1)
    assert cli_main(["mine", str(out / "runs"), "--corpus", str(corpus), "-o", str(tmp_path / "train.parquet")]) == 0
    assert pl.read_parquet(tmp_path / "train.parquet").height == 2
