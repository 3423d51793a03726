"""An offline stand-in for an LLM search agent, writing real trajectories in the BrowseComp-Plus format.

For each question with known evidence documents the agent searches (first the question, then
reformulations built from names it has read), looks at the top-K snippets, browses some of them,
reasons about what it read, and answers once it has read all the evidence or its step budget is spent.

What it may use, and when (docs/method.md §5):
- *Before reading* (which result to browse) only what a snippet shows: whether its title or text names
  the entity currently sought (a name of the question, or an entity read earlier), the question's
  numbers and content words, names already found; each snippet is judged beside the best-looking one of
  its list, with Gaussian noise and a position factor. Evidence labels are never looked at here.
- *After reading* a document, the evidence labels decide what the agent concludes: an evidence document
  is useful (its reasoning discusses the facts found, and the next entity to look up is chosen among
  the names *its text* mentions: the one in the sentence closest to the question); any other document
  is not, and with probability `explicit_rejection_prob` its reasoning rejects it in so many words.
  The agent may open several results of one list.

Every parameter lives in `AgentConfig`. The browsing, budget, reasoning-length and rejection
parameters are calibrated on the shared real trajectories (`lrat.harness.calibration`, and
`benches/calibrate_simulator.py`, which prints both sides): browses per search, mean browsed rank,
median post-browse reasoning, searches per trajectory and the judge's rejection rate each land within
20% of the real logs' with BM25 on the shared HotpotQA passages. Each question is played with its own
random stream derived from `(seed, query_id)`, so a run is reproducible byte for byte and does not
depend on batching or on which other questions are played.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from lrat.contextual import contextual_query
from lrat.result_text import search_output, snippet


class Searcher(Protocol):
    """A retriever: for each query, the top-`k` `(doc_id, score)` pairs, best first."""

    def search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]: ...


@dataclass(frozen=True)
class AgentConfig:
    """Behaviour of the simulated agent. Probabilities are per snippet unless stated otherwise."""

    k: int = 10
    """Results per search (the paper's K)."""
    snippet_tokens: int = 64
    """Whitespace tokens of a document shown as its snippet (the paper's 64)."""
    max_steps: int = 16
    """Step budget: search plus browse calls. The agent answers when it runs out. Calibrated: the real
    logs average 10.2 searches (13 calls) per trajectory."""
    max_browses_per_search: int = 3
    """At most this many documents are opened from one result list."""
    position_decay: float = 0.6
    """The browse probability at rank r is multiplied by `position_decay ** (r − 1)`. Calibrated on the
    shared real logs, whose agents open mostly the first two results (mean browsed rank about 2.3); the
    paper's per-rank browse rates (0.12 at rank 1, 0.09 at rank 10) are marginal rates over its whole
    log and, with this simulator's snippet scores, give a mean browsed rank near 4.5 instead."""
    browse_floor: float = 0.0
    """Browse probability at rank 1 of a snippet that shows nothing of interest."""
    browse_ceiling: float = 0.7
    """Browse probability at rank 1 of a snippet whose visible-usefulness score is 1."""
    browse_sharpness: float = 2.0
    """The visible-usefulness score is raised to this power before it scales the browse probability:
    above 1, only snippets that clearly show what is sought get opened (real agents browse few results,
    and mostly the top ones)."""
    relative_visibility: bool = True
    """Judge each snippet beside the best-looking one of its list (an agent reads the whole list before
    it opens anything): the score becomes (score / best) · best ** `list_quality_exponent`."""
    list_quality_exponent: float = 0.5
    """How much the best snippet's own score still matters under `relative_visibility` (0: not at all)."""
    max_queries_per_entity: int = 3
    """Searches for one entity read in a document before the agent gives up on it and goes back to
    the question's own words."""
    stop_after_useful: bool = False
    """Stop opening results of a list once one document proved useful. Off by default: an agent that
    sees several promising snippets opens them (the real logs show runs of browses)."""
    visibility_noise: float = 0.15
    """Standard deviation of the Gaussian noise added to the visible-usefulness score."""
    weight_target_title: float = 0.6
    """Score when the snippet's title is the entity currently sought."""
    weight_target_text: float = 0.3
    """Score when the snippet's text (not its title) names that entity."""
    weight_numbers: float = 0.25
    """Score when the snippet shows a number (a year) of the question."""
    weight_overlap: float = 0.3
    """Times the share of the question's content words the snippet contains."""
    weight_known: float = 0.1
    """Score when the snippet names an entity the agent found earlier."""
    useful_reasoning_mean: float = 250.0
    """Mean word length of the reasoning after a useful document. The ratio to the next one is the
    paper's (112 / 78 tokens); the scale is calibrated so that the median post-browse reasoning is near
    the real logs' 177 tokens of the default tokenizer."""
    useless_reasoning_mean: float = 175.0
    """Mean word length of the reasoning after a useless document."""
    reasoning_min_tokens: int = 24
    """Lengths (whitespace words) are this minimum plus an exponential draw, capped at
    `reasoning_max_tokens`."""
    reasoning_max_tokens: int = 600
    explicit_rejection_prob: float = 0.35
    """Probability that the reasoning after a useless document rejects it explicitly. Calibrated so that
    the rule judge rejects about the share of browses it rejects in the real logs (0.22); the paper's
    LLM judge kept 74.8% of browsed non-evidence documents, i.e. rejected 25% of them."""


_WORD = re.compile(r"[\w']+", re.UNICODE)
_NUMBER = re.compile(r"\b\d{3,4}\b")
_NAME = re.compile(r"\b([A-Z][\w']*(?:\s+(?:of\s+|the\s+)?[A-Z][\w']*)*)")
_PRONOUNS = frozenset("he she it they his her its their this these those there in on at after before during".split())
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the this to was were what "
    "which who whom whose when where why how did does do first".split()
)


def content_words(text: str) -> list[str]:
    """Lower-cased words of a text without stop words or words of fewer than three letters."""
    return [w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in _STOP]


def capitalised_names(text: str) -> list[str]:
    """Capitalised phrases of a text (the entities it names), its first word aside."""
    names = []
    for m in _NAME.finditer(text):
        phrase = m.group(1)
        if m.start() == 0:
            phrase = phrase.split(" ", 1)[1] if " " in phrase else ""
        if phrase and phrase.lower() not in _STOP:
            names.append(phrase)
    return names


def title_of(text: str) -> str:
    return text.partition("\n")[0].strip()


class LexicalSearcher:
    """BM25 over a corpus (`doc_id, text` columns), a dependency-free `Searcher` for tests and demos.
    Ties are broken by document order."""

    def __init__(self, corpus: pl.DataFrame, k1: float = 0.9, b: float = 0.4):
        self.doc_ids: list[str] = corpus["doc_id"].to_list()
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for i, text in enumerate(corpus["text"].to_list()):
            words = content_words(text)
            lengths.append(len(words))
            counts: dict[str, int] = {}
            for w in words:
                counts[w] = counts.get(w, 0) + 1
            for w, c in counts.items():
                self.postings.setdefault(w, []).append((i, c))
        self.lengths = lengths
        self.avg_length = sum(lengths) / max(len(lengths), 1)

    def search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        n = len(self.doc_ids)
        out = []
        for query in queries:
            scores: dict[int, float] = {}
            for w in dict.fromkeys(content_words(query)):
                posting = self.postings.get(w)
                if not posting:
                    continue
                idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
                for i, tf in posting:
                    norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg_length)
                    scores[i] = scores.get(i, 0.0) + idf * tf * (self.k1 + 1) / (tf + norm)
            top = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
            out.append([(self.doc_ids[i], s) for i, s in top])
        return out


def document_lookup(corpus: pl.DataFrame) -> Callable[[str], str]:
    """`get_document` over a corpus DataFrame (`doc_id, text`)."""
    texts = dict(zip(corpus["doc_id"].to_list(), corpus["text"].to_list()))

    def get_document(doc_id: str) -> str:
        try:
            return texts[doc_id]
        except KeyError:
            raise KeyError(f"document {doc_id!r} is not in the corpus") from None

    return get_document


# ---------------------------------------------------------------------------------------------
# Reasoning text

_PADDING = [
    "Let me re-read the question to make sure every constraint is covered.",
    "The question has several nested parts, so I should resolve them one at a time.",
    "I should keep the chain of entities straight before answering.",
    "It is worth checking that the dates are consistent with the question.",
    "There may be several entities with the same name, so the details matter.",
    "A precise query with the full name should work better than a general one.",
]
_PADDING_USEFUL = _PADDING + [
    "I will note these names so that the next search can use them.",
    "So far the information fits together, and this fact is exactly what the question needs.",
    "The details on this page match the description in the question.",
]


def _fit(sentences: list[str], length: int, rng: random.Random, padding: list[str]) -> str:
    """The sentences, padded with `padding` sentences and cut, to exactly `length` words."""
    words: list[str] = []
    for s in sentences:
        words += s.split()
    while len(words) < length:
        words += rng.choice(padding).split()
    return " ".join(words[:length])


def _sentences(text: str) -> list[str]:
    """Sentences of a document's body (the text after its title line)."""
    body = text.partition("\n")[2] or text
    return re.split(r"(?<=[.!?])\s+", body.strip()) or [body]


@dataclass
class _Read:
    doc_id: str
    title: str
    useful: bool
    facts: list[str]
    bridges: list[str]


# ---------------------------------------------------------------------------------------------
# One agent


class _Agent:
    def __init__(
        self,
        question: Mapping[str, Any],
        get_document: Callable[[str], str],
        config: AgentConfig,
        seed: int,
        tool_name: str,
    ):
        self.q = question
        self.get_document = get_document
        self.c = config
        self.rng = random.Random(f"{seed}:{question['query_id']}")
        self.tool_name = tool_name
        self.evidence: list[str] = list(question["evidence"])
        self.question: str = question["question"]
        self.names = capitalised_names(self.question)
        self.numbers = set(_NUMBER.findall(self.question))
        self.words = set(content_words(self.question))
        self.result: list[dict[str, Any]] = []
        self.read: set[str] = set()
        self.found: list[str] = []  # evidence read, in order
        self.bridges: list[tuple[str, str]] = []  # (name, title of the document that named it)
        self.resolved: set[str] = set()
        self.known: list[str] = []  # names found so far (titles of useful documents, bridges)
        self.attempts: dict[str, int] = {}
        self.searches = 0
        self.browses = 0
        self.retrieved: set[str] = set()
        self.facts: list[str] = []

    # -- what to look for --------------------------------------------------------------------
    def _target(self) -> tuple[str | None, str]:
        for name, source in reversed(self.bridges):
            if name not in self.resolved and self.attempts.get(name, 0) < self.c.max_queries_per_entity:
                return name, source
        return None, ""

    def _query(self) -> str:
        target, source = self._target()
        key = target or ""
        n = self.attempts.get(key, 0)
        self.attempts[key] = n + 1
        keywords = content_words(self.question)
        if target is None:
            variants = [self.question, " ".join(dict.fromkeys(self.names + sorted(self.numbers)))]
            if len(self.names) > 1:
                variants += self.names
        else:
            variants = [f"{target} {source}", target]
        if n < len(variants) and variants[n].strip():
            return variants[n]
        picked = self.rng.sample(keywords, min(len(keywords), self.rng.randint(2, 5))) if keywords else []
        return " ".join(([target] if target else []) + picked) or self.question

    def _visible_score(self, title: str, text: str) -> float:
        c = self.c
        target, _ = self._target()
        sought = [target] if target else self.names
        low_title, low_text = title.lower(), text.lower()
        score = 0.0
        if any(s.lower() == low_title for s in sought):
            score += c.weight_target_title
        elif any(s.lower() in low_text for s in sought):
            score += c.weight_target_text
        if self.numbers and any(n in text for n in self.numbers):
            score += c.weight_numbers
        if self.words:
            score += c.weight_overlap * len(self.words & set(content_words(text))) / len(self.words)
        if any(k.lower() in low_text for k in self.known if k != target):
            score += c.weight_known
        return min(max(score, 0.0), 1.0)

    def browse_probability(self, rank: int, visible: float) -> float:
        c = self.c
        multiplier = c.position_decay ** (rank - 1)
        shown = visible**c.browse_sharpness
        return min(max(multiplier * (c.browse_floor + (c.browse_ceiling - c.browse_floor) * shown), 0.0), 1.0)

    # -- reading --------------------------------------------------------------------------------
    def _conclude(self, doc_id: str, text: str) -> _Read:
        title = title_of(text)
        if doc_id not in self.evidence or doc_id in self.found:
            return _Read(doc_id, title, False, [], [])
        self.found.append(doc_id)
        for name, _ in self.bridges:
            if name == title:
                self.resolved.add(name)
        new_bridges = []
        facts = []
        sentences = _sentences(text)
        if not self.done:
            taken = {b for b, _ in self.bridges} | {k.lower() for k in self.known} | {title.lower()}
            bridge = self._next_entity(sentences, taken)
            if bridge is not None:
                new_bridges.append(bridge)
                facts += [s for s in sentences if bridge in s][:1]
        answer = str(self.q["answer"])
        if len(self.found) == len(set(self.evidence)):
            facts += [s for s in sentences if answer in s][:1]
        self.bridges += [(b, title) for b in new_bridges]
        self.known += [title, *new_bridges]
        self.facts += facts
        return _Read(doc_id, title, True, facts, new_bridges)

    def _next_entity(self, sentences: list[str], taken: set[str]) -> str | None:
        """The name to look up next, read from a useful document's text: among the capitalised names it
        mentions that the question does not and that the agent has not met yet, the one whose sentence
        shares most content words with the question (earliest first on ties). Only the text read is
        used, never the evidence labels or titles of unread documents."""
        question = self.question.lower()
        best: tuple[float, int, str] | None = None
        for i, sentence in enumerate(sentences):
            overlap = len(self.words & set(content_words(sentence)))
            for name in capitalised_names(sentence):
                low = name.lower()
                if len(name) < 3 or low in _PRONOUNS or low in question or low in taken:
                    continue
                key = (-overlap, i, name)
                if best is None or key < best:
                    best = key
        return None if best is None else best[2]

    def _reasoning_length(self, useful: bool) -> int:
        c = self.c
        mean = c.useful_reasoning_mean if useful else c.useless_reasoning_mean
        extra = self.rng.expovariate(1.0 / max(mean - c.reasoning_min_tokens, 1e-9))
        return int(min(c.reasoning_min_tokens + round(extra), c.reasoning_max_tokens))

    def _post_browse(self, r: _Read, sought: str) -> str:
        length = self._reasoning_length(r.useful)
        if r.useful:
            parts = [f"The document on {r.title} is relevant."]
            facts = r.facts or [_sentences(self.get_document(r.doc_id))[0]]
            parts += [f'It states: "{f}"' for f in facts]
            if r.bridges:
                parts.append(
                    f"So the next entity to look up is {r.bridges[0]}, which the question leads to through {r.title}."
                )
            elif self.done:
                parts.append(f"This settles the last part of the question: the answer is {self.q['answer']}.")
            else:
                parts.append(f"This confirms one link of the chain for {r.title}.")
        elif self.rng.random() < self.c.explicit_rejection_prob:
            topic = sought or "what the question asks"
            parts = [
                self.rng.choice(
                    [
                        f"This page is about {r.title}, not {topic}; it does not help.",
                        f"The document on {r.title} is unrelated to {topic}; no useful information here.",
                        f"This is the wrong {r.title}; it is irrelevant to the question and does not help.",
                    ]
                ),
                "I should look elsewhere.",
            ]
        else:
            first = _sentences(self.get_document(r.doc_id))[0]
            parts = [f"The page describes {r.title}: {first}", "Let me keep this in mind and continue with the search."]
        return _fit(parts, length, self.rng, _PADDING_USEFUL if r.useful else _PADDING)

    @property
    def done(self) -> bool:
        return len(self.found) == len(set(self.evidence))

    def last_reasoning(self) -> str:
        """The latest step's text when it is reasoning (the context of the search about to be made)."""
        last = self.result[-1] if self.result else None
        return str(last["output"]) if last is not None and last["type"] == "reasoning" else ""

    def _step(self, kind: str, **fields: Any) -> None:
        self.result.append(
            {
                "type": kind,
                "tool_name": fields.get("tool_name"),
                "arguments": fields.get("arguments"),
                "output": fields.get("output"),
            }
        )

    # -- the loop -----------------------------------------------------------------------------
    def play(self) -> Generator[str, list[tuple[str, float]], dict[str, Any]]:
        c = self.c
        opening = self.names[0] if self.names else "the main entity"
        self._step(
            "reasoning",
            output=f"The question asks: {self.question} I need to identify {opening} "
            "first and then follow the chain of facts. Let me search.",
        )
        while not self.done and self.searches + self.browses < c.max_steps:
            query = self._query()
            target, _ = self._target()
            sought = target or opening
            hits = yield query
            self.searches += 1
            shown = []
            for doc_id, _score in hits[: c.k]:
                text = self.get_document(doc_id)
                shown.append((doc_id, title_of(text), snippet(text, c.snippet_tokens)))
                self.retrieved.add(doc_id)
            self._step(
                "tool_call",
                tool_name="search",
                arguments=json.dumps({"query": [query]}),
                output=search_output(query, shown),
            )
            wanted = []
            visible = [self._noisy(self._visible_score(title, snip)) for _, title, snip in shown]
            best = max(visible, default=0.0)
            for rank, ((doc_id, title, _snip), score) in enumerate(zip(shown, visible), start=1):
                if c.relative_visibility:
                    # How a snippet looks beside the best of its list, scaled by how good that one looks.
                    score = (score / best) * best**c.list_quality_exponent if best > 0 else 0.0
                p = self.browse_probability(rank, score)
                if self.rng.random() < p and doc_id not in self.read:
                    wanted.append((doc_id, title))
            wanted = wanted[: c.max_browses_per_search]
            if not wanted:
                self._step(
                    "reasoning",
                    output=f"None of these results clearly concern {sought}. I will reformulate the search.",
                )
                continue
            self._step(
                "reasoning",
                output=f"Result DocID:{wanted[0][0]} [{wanted[0][1]}] looks relevant to {sought}. Let me open it.",
            )
            for doc_id, _title in wanted:
                if self.searches + self.browses >= c.max_steps:
                    break
                text = self.get_document(doc_id)
                self.browses += 1
                self.read.add(doc_id)
                self._step(
                    "tool_call",
                    tool_name=self.tool_name,
                    arguments=json.dumps({"docid": doc_id}),
                    output=f"Document {doc_id}:\n{text}",
                )
                conclusion = self._conclude(doc_id, text)
                self._step("reasoning", output=self._post_browse(conclusion, sought))
                if self.done or (conclusion.useful and c.stop_after_useful):
                    break
        return self._finish()

    def _noisy(self, score: float) -> float:
        return min(max(score + self.rng.gauss(0.0, self.c.visibility_noise), 0.0), 1.0)

    def _finish(self) -> dict[str, Any]:
        if self.done:
            facts = " ".join(self.facts) or f"The documents read establish the answer {self.q['answer']}."
            answer_text = f"Explanation: {facts}\nExact Answer: {self.q['answer']}\nConfidence: 90%"
            status = "completed"
        else:
            answer_text = (
                "Explanation: I could not connect all the parts of the question within my search "
                "budget.\nExact Answer: unknown\nConfidence: 5%"
            )
            status = "incomplete"
        self._step("output_text", output=answer_text)
        counts = {"search": self.searches}
        if self.browses:
            counts[self.tool_name] = self.browses
        return {
            "metadata": {},
            "query_id": str(self.q["query_id"]),
            "tool_call_counts": counts,
            "tool_call_counts_all": dict(counts),
            "status": status,
            "retrieved_docids": sorted(self.retrieved),
            "result": self.result,
            "query": self.question,
            "answer": str(self.q["answer"]),
        }


def simulate(
    questions: pl.DataFrame | Iterable[Mapping[str, Any]],
    searcher: Searcher,
    get_document: Callable[[str], str],
    config: AgentConfig | None = None,
    *,
    seed: int = 0,
    batch_size: int = 64,
    searcher_name: str = "",
    browse_tool: str = "get_document",
    contextual: bool = False,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Plays every question (`query_id, question, answer, evidence` fields) and returns one
    BrowseComp-Plus run record per question, in input order. Searches of up to `batch_size` agents
    are sent to `searcher` together. With `contextual`, the searcher receives each query joined with
    the reasoning written right before it (`lrat.contextual`); the trajectory logs the query alone."""
    config = config or AgentConfig()
    rows = questions.to_dicts() if isinstance(questions, pl.DataFrame) else [dict(q) for q in questions]
    for i, q in enumerate(rows):
        absent = [f for f in ("query_id", "question", "answer", "evidence") if q.get(f) is None]
        if absent:
            raise ValueError(f"question {i} (query_id {q.get('query_id')!r}) lacks {', '.join(absent)}")
    metadata = {
        "simulator": "lrat.harness.simulate",
        "seed": seed,
        "k": config.k,
        "snippet_max_tokens": config.snippet_tokens,
        "searcher_type": searcher_name,
        "agent_config": json.loads(json.dumps(asdict(config))),
    }
    records: list[dict[str, Any] | None] = [None] * len(rows)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(rows), desc="simulating agent", unit="question")
    for start in range(0, len(rows), batch_size):
        games = {}
        agents: dict[int, _Agent] = {}
        pending: dict[int, str] = {}

        def advance(i: int, result: list[tuple[str, float]] | None, games=games, pending=pending) -> None:
            try:
                pending[i] = next(games[i]) if result is None else games[i].send(result)
            except StopIteration as stop:
                record = stop.value
                record["metadata"] = metadata
                records[i] = record
                if bar is not None:
                    bar.update(1)

        for i in range(start, min(start + batch_size, len(rows))):
            agents[i] = _Agent(rows[i], get_document, config, seed, browse_tool)
            games[i] = agents[i].play()
            advance(i, None)
        while pending:
            order = sorted(pending)
            texts = [pending[i] for i in order]
            if contextual:
                texts = [contextual_query(text, agents[i].last_reasoning()) for text, i in zip(texts, order)]
            hits = searcher.search(texts, config.k)
            pending.clear()
            if len(hits) != len(order):
                raise ValueError(f"the searcher answered {len(hits)} result lists for {len(order)} queries")
            for i, result in zip(order, hits):
                advance(i, [(str(d), float(score)) for d, score in result])
    if bar is not None:
        bar.close()
    return [r for r in records if r is not None]


def write_runs(records: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Writes run records as JSON lines (UTF-8, one trajectory per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
