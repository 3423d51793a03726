"""The default (rule-based) judge against hand labels of the real post-browse reasoning.

`fixtures/judge_labels.jsonl` holds one label per browse of ../shared/data/lrat-trajectories/, read
and labelled by hand with the paper's instruction: NOT_RELEVANT only when the reasoning clearly
rejects the page (irrelevant, unrelated, does not help, no useful information); anything else,
unclear reasoning included, RELEVANT.
"""

from __future__ import annotations

import json
from pathlib import Path

import lrat
import pytest
from lrat import _core
from lrat.judges import rule_judge

LABELS = Path(__file__).resolve().parent / "fixtures" / "judge_labels.jsonl"

# The rule judge agrees with 27 of the 28 hand labels (it misses one RELEVANT reasoning that quotes
# the page and then rejects a hypothesis of its own: "so that does not match"); a change of the
# phrase rules that loses another one fails here. Before the opening-sentence rule, the hedged
# negations and the overlap fix it agreed with 23 (NOT_RELEVANT precision 1/2, recall 1/5).
MIN_AGREEMENT = 27 / 28


def load_labels() -> list[dict]:
    return [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def labelled(lrat_trajectories) -> list[dict]:
    """The hand labels joined with the post-browse reasoning lrat reads for each browse."""
    t = lrat.read_trajectories(lrat_trajectories)
    reasoning_by_browse = {}
    steps = t.steps.sort("trajectory_id", "step")
    ids = dict(zip(t.trajectories["trajectory_id"], t.trajectories["source"]))
    rows = steps.rows(named=True)
    for i, row in enumerate(rows):
        if row["kind"] != "browse":
            continue
        after = rows[i + 1] if i + 1 < len(rows) and rows[i + 1]["trajectory_id"] == row["trajectory_id"] else None
        reasoning = after["text"] if after is not None and after["kind"] == "reason" else ""
        reasoning_by_browse[(Path(ids[row["trajectory_id"]]).name, row["step"])] = (row["text"], reasoning)
    out = []
    for label in load_labels():
        doc, reasoning = reasoning_by_browse[(label["file"], label["step"])]
        assert doc == label["doc_id"], label
        out.append({**label, "reasoning": reasoning})
    return out


def test_the_fixture_covers_every_browse_once(labelled, lrat_trajectories):
    reader = lrat.trajectories.open_reader(lrat_trajectories)
    n = sum(len(rs) for batch in reader for rs in _core.browse_reasonings(batch))
    assert len(labelled) == n == 28
    assert len({(r["file"], r["step"]) for r in labelled}) == 28
    assert {r["label"] for r in labelled} == {"RELEVANT", "NOT_RELEVANT"}
    assert all(r["justification"].strip() for r in labelled)


def confusion(labelled: list[dict]) -> dict[tuple[str, str], int]:
    verdicts = rule_judge([r["reasoning"] for r in labelled])
    counts = {(g, p): 0 for g in ("RELEVANT", "NOT_RELEVANT") for p in ("RELEVANT", "NOT_RELEVANT")}
    for r, accepted in zip(labelled, verdicts):
        counts[(r["label"], "RELEVANT" if accepted else "NOT_RELEVANT")] += 1
    return counts


def test_rule_judge_agrees_with_the_hand_labels(labelled):
    c = confusion(labelled)
    agreement = (c[("RELEVANT", "RELEVANT")] + c[("NOT_RELEVANT", "NOT_RELEVANT")]) / len(labelled)
    predicted_rejections = c[("RELEVANT", "NOT_RELEVANT")] + c[("NOT_RELEVANT", "NOT_RELEVANT")]
    true_rejections = c[("NOT_RELEVANT", "RELEVANT")] + c[("NOT_RELEVANT", "NOT_RELEVANT")]
    precision = c[("NOT_RELEVANT", "NOT_RELEVANT")] / predicted_rejections if predicted_rejections else 0.0
    recall = c[("NOT_RELEVANT", "NOT_RELEVANT")] / true_rejections
    print(f"agreement {agreement:.3f}; NOT_RELEVANT precision {precision:.3f} recall {recall:.3f}; confusion {c}")
    assert agreement >= MIN_AGREEMENT
    assert precision >= 0.8 and recall >= 0.8


def _reasoning(labelled, file, step) -> str:
    return next(r["reasoning"] for r in labelled if r["file"] == file and r["step"] == step)


@pytest.mark.parametrize(
    ("file", "step", "accepted"),
    [
        ("4.json", 17, False),  # "That document is unrelated."
        ("15.json", 11, False),  # "doesn't mention 1981 ... So not matching."
        ("10.json", 5, False),  # "That document does not directly answer. Let's search again"
        ("4.json", 15, True),  # "Great! The document reveals ..."
        ("1.json", 3, True),  # verifies each clue and answers
        ("17.json", 9, True),  # "Let's search for ..." says nothing against the page
    ],
)
def test_clear_cases(labelled, file, step, accepted):
    assert rule_judge([_reasoning(labelled, file, step)]) == [accepted]


def test_chat_judge_counts_every_failed_call_across_its_threads():
    import socket

    from lrat.judges import ChatJudge

    with socket.socket() as s:  # a port nothing listens on: every call is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = ChatJudge(url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, timeout=2.0, concurrency=16)
    verdicts = judge([f"reasoning {i}" for i in range(400)])
    assert verdicts == [False] * 400, "a failed call counts as NOT_RELEVANT"
    assert (judge.failed, judge.calls) == (400, 400)
