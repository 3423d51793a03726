"""A seeded, encyclopedia-like knowledge base with multi-hop questions, for running the loop offline.

Entities of five types (people, cities, organisations, works, events) carry attributes (years,
occupations, rivers, genres …) and relations (born in, worked for, founded by, headquartered in,
created by, set in, held in, organised by). Each entity gets one Wikipedia-like document: its name as
the first line, then sentences stating its facts, including the inverse of relations that point at it
("He founded the …"). Near-duplicate distractors share an entity's name and some of its facts (its
city, its type) but differ in the others, so a retriever has to read past the name.

A question follows a relation chain e0 → e1 → … → e(h−1) (h = 2 to 4 hops) and asks for an attribute
of the last entity; it names e0 with a disambiguating fact, in the nested style of InfoSeek and
BrowseComp ("In what year was the founder of the organisation that organised the Amber Harbour
Festival (first held in 1923) born?"). Its evidence is the h documents of the chain: each names the
next entity, the last states the answer.

Questions are split into training and held-out sets by a hash of the query id under a fixed split
seed, so the split of a question does not depend on how many questions are generated.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

import polars as pl

_ONSETS = [
    "b",
    "br",
    "c",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
    "th",
    "sh",
    "ch",
    "j",
    "kl",
    "fl",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "ie", "y"]
_CODAS = ["", "", "n", "r", "l", "s", "m", "nd", "rt", "st", "x", "k", "th"]

_COUNTRIES = [
    "Valdoria",
    "Estrenia",
    "Korvath",
    "Marenland",
    "Ostria",
    "Pellucia",
    "Quendor",
    "Rhovania",
    "Sardenia",
    "Talmeria",
    "Ulvany",
    "Wexmoor",
]
_RIVERS = [
    "Aster",
    "Brenn",
    "Calder",
    "Dovey",
    "Elva",
    "Fenner",
    "Garrow",
    "Helm",
    "Isk",
    "Jorra",
    "Kell",
    "Lusk",
    "Mirren",
    "Nael",
    "Orve",
    "Pell",
    "Quill",
    "Rusk",
    "Sarn",
    "Tavy",
    "Ure",
    "Vell",
    "Wyre",
]
_OCCUPATIONS = [
    "architect",
    "astronomer",
    "botanist",
    "cartographer",
    "chemist",
    "composer",
    "economist",
    "engineer",
    "historian",
    "journalist",
    "linguist",
    "mathematician",
    "painter",
    "physician",
    "poet",
    "sculptor",
    "shipbuilder",
    "violinist",
    "novelist",
    "philosopher",
]
_ORG_KINDS = [
    "Institute",
    "Society",
    "Company",
    "Foundation",
    "Academy",
    "Museum",
    "Bank",
    "Press",
    "Conservatory",
    "Observatory",
    "Guild",
    "Trust",
]
_FIELDS = [
    "astronomy",
    "shipbuilding",
    "publishing",
    "banking",
    "music education",
    "natural history",
    "textiles",
    "railway engineering",
    "cartography",
    "medicine",
    "porcelain",
    "botany",
]
_WORK_KINDS = {
    "novel": ("written", "author"),
    "film": ("directed", "director"),
    "opera": ("composed", "composer"),
    "painting": ("painted", "painter"),
    "play": ("written", "playwright"),
}
_GENRES = ["historical", "comic", "tragic", "allegorical", "romantic", "satirical", "pastoral", "gothic"]
_ADJECTIVES = [
    "Amber",
    "Silent",
    "Crimson",
    "Hollow",
    "Gilded",
    "Northern",
    "Quiet",
    "Broken",
    "Silver",
    "Distant",
    "Last",
    "Iron",
    "Velvet",
    "Winter",
    "Golden",
    "Pale",
    "Wandering",
    "Hidden",
]
_NOUNS = [
    "Harbour",
    "Lantern",
    "Orchard",
    "Meridian",
    "Tide",
    "Compass",
    "Garden",
    "Bridge",
    "Crown",
    "Archive",
    "Lighthouse",
    "Mill",
    "Citadel",
    "Voyage",
    "Chorus",
    "Mirror",
    "Tower",
    "Falcon",
]
_EVENT_KINDS = ["Festival", "Congress", "Exhibition", "Regatta", "Summit", "Fair", "Symposium", "Games"]
_FILLERS = {
    "person": [
        "{last} is remembered for a careful, methodical style of work.",
        "Contemporaries described {last} as reserved but generous with students.",
        "Several of {last}'s letters survive in private collections.",
        "{last} travelled widely in the years before settling down.",
        "Little is known about {last}'s early schooling beyond a few parish records.",
        "A portrait of {last} hangs in a provincial gallery.",
        "Later biographers disagreed about the motives behind several of {last}'s decisions.",
        "{last} corresponded with many scholars of the period.",
    ],
    "city": [
        "{name} has a small historic centre with narrow streets.",
        "The economy of {name} has long depended on trade along the river.",
        "{name} holds a weekly market in its central square.",
        "The old walls of {name} were partly demolished in the nineteenth century.",
        "{name} is known for its stone bridges and covered arcades.",
        "A railway line reached {name} relatively late.",
        "The climate around {name} is mild, with wet winters.",
    ],
    "org": [
        "The {name} publishes an annual report on its activities.",
        "The {name} maintains a library open to members.",
        "Over the decades the {name} has changed its statutes several times.",
        "Membership of the {name} was at first restricted to a small circle.",
        "The {name} awards a medal every few years.",
        "The archives of the {name} were catalogued only recently.",
    ],
    "work": [
        "Critics at the time were divided about {name}.",
        "{name} has been revived and reinterpreted several times.",
        "A restored edition of {name} appeared decades later.",
        "The reception of {name} improved considerably after its creator's death.",
        "Scholars have noted the unusual structure of {name}.",
        "{name} was translated or adapted in several countries.",
    ],
    "event": [
        "The {name} attracts visitors from neighbouring regions.",
        "Each edition of the {name} closes with a public ceremony.",
        "Attendance at the {name} grew steadily after its first years.",
        "The {name} was interrupted during several wartime years.",
        "The programme of the {name} changes from one edition to the next.",
        "Local newspapers have covered the {name} since its beginnings.",
    ],
}


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and shape of the generated knowledge base. The defaults give about 3,000 documents and
    500 questions, which keeps the demo loop within minutes on two CPU cores with MiniLM."""

    n_people: int = 1000
    n_cities: int = 250
    n_organisations: int = 450
    n_works: int = 450
    n_events: int = 300
    distractor_rate: float = 0.25
    """Share of people, organisations, works and events that get one near-duplicate distractor."""
    n_questions: int = 500
    hop_weights: tuple[float, float, float] = (0.4, 0.35, 0.25)
    """Relative frequency of 2-, 3- and 4-hop questions."""
    heldout_fraction: float = 0.3
    split_seed: int = 20260404
    filler_sentences: tuple[int, int] = (3, 5)
    """How many fact-free sentences a document gets (inclusive range): two follow the lead sentence,
    so that a 64-token snippet shows the name and lead but rarely the relations; the rest close it."""


@dataclass
class _Entity:
    key: int
    kind: str  # person | city | org | work | event
    name: str
    attrs: dict[str, object]
    rel: dict[str, int] = field(default_factory=dict)  # relation → target entity key
    doc_id: str = ""
    distractor_of: int | None = None


# Relations: subject kind → relation → target kind.
_RELATIONS = {
    "person": {"born_in": "city", "worked_for": "org"},
    "org": {"headquartered_in": "city", "founded_by": "person"},
    "work": {"created_by": "person", "set_in": "city"},
    "event": {"held_in": "city", "organised_by": "org"},
    "city": {},
}

# How a question refers to the target of a relation, given the description of its subject.
_CLAUSES = {
    "born_in": "the city where {x} was born",
    "worked_for": "the organisation that {x} worked for",
    "headquartered_in": "the city where {x} is headquartered",
    "founded_by": "the founder of {x}",
    "created_by": "the {role} of {x}",
    "set_in": "the city in which {x} is set",
    "held_in": "the city that hosted {x}",
    "organised_by": "the organisation that organised {x}",
}

# Attributes a question may ask for: kind → [(attribute, question template)].
_ASKS = {
    "person": [("birth_year", "In what year was {d} born?"), ("occupation", "What was the profession of {d}?")],
    "city": [
        ("founded", "In what year was {d} founded?"),
        ("river", "Which river flows through {d}?"),
        ("country", "In which country is {d}?"),
    ],
    "org": [("founded", "In what year was {d} established?"), ("field", "In what field is {d} active?")],
    "work": [("year", "In what year was {d} completed?"), ("genre", "What is the genre of {d}?")],
    "event": [("year", "In what year was {d} first held?")],
}


@dataclass(frozen=True)
class KnowledgeBase:
    """`corpus`: `doc_id, title, text`; `questions`: `query_id, question, answer, evidence
    (list[str]), hops, split` ("train" or "heldout")."""

    corpus: pl.DataFrame
    questions: pl.DataFrame
    config: SyntheticConfig
    seed: int

    @property
    def train_questions(self) -> pl.DataFrame:
        return self.questions.filter(pl.col("split") == "train")

    @property
    def heldout_questions(self) -> pl.DataFrame:
        return self.questions.filter(pl.col("split") == "heldout")

    def qrels(self, questions: pl.DataFrame | None = None) -> dict[str, dict[str, int]]:
        """Evidence documents as qrels (judgement 1) for the given questions (default: all)."""
        questions = self.questions if questions is None else questions
        return {q: dict.fromkeys(ev, 1) for q, ev in questions.select("query_id", "evidence").iter_rows()}


def split_of(query_id: str, heldout_fraction: float, split_seed: int) -> str:
    """ "heldout" or "train", from a hash of the query id under the split seed."""
    digest = hashlib.sha256(f"{split_seed}:{query_id}".encode()).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") / 2**64 < heldout_fraction else "train"


class _Generator:
    def __init__(self, config: SyntheticConfig, seed: int):
        self.c = config
        self.rng = random.Random(seed)
        self.used_names: set[str] = set()
        self.entities: list[_Entity] = []

    # -- names ---------------------------------------------------------------------------------
    def _word(self, syllables: int) -> str:
        r = self.rng
        w = "".join(r.choice(_ONSETS) + r.choice(_VOWELS) for _ in range(syllables)) + r.choice(_CODAS)
        return w.capitalize()

    def _unique(self, make) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise RuntimeError("name space exhausted; lower the entity counts")

    def _name(self, kind: str) -> str:
        r = self.rng
        if kind == "person":
            return self._unique(lambda: f"{self._word(r.randint(1, 2))} {self._word(r.randint(2, 3))}")
        if kind == "city":
            return self._unique(lambda: self._word(r.randint(2, 3)))
        if kind == "org":
            return self._unique(lambda: f"{self._word(2)} {r.choice(_ORG_KINDS)}")
        if kind == "work":
            return self._unique(lambda: f"The {r.choice(_ADJECTIVES)} {r.choice(_NOUNS)} of {self._word(2)}")
        return self._unique(lambda: f"{r.choice(_ADJECTIVES)} {self._word(2)} {r.choice(_EVENT_KINDS)}")

    # -- entities ------------------------------------------------------------------------------
    def _attrs(self, kind: str) -> dict[str, object]:
        r = self.rng
        if kind == "person":
            return {
                "birth_year": r.randint(1780, 1975),
                "occupation": r.choice(_OCCUPATIONS),
                "pronoun": r.choice(["He", "She"]),
            }
        if kind == "city":
            return {"founded": r.randint(900, 1800), "river": r.choice(_RIVERS), "country": r.choice(_COUNTRIES)}
        if kind == "org":
            return {"founded": r.randint(1800, 1990), "field": r.choice(_FIELDS)}
        if kind == "work":
            work_kind = r.choice(sorted(_WORK_KINDS))
            return {"year": r.randint(1820, 2010), "genre": r.choice(_GENRES), "work_kind": work_kind}
        return {"year": r.randint(1850, 2005)}

    def build(self) -> None:
        counts = {
            "person": self.c.n_people,
            "city": self.c.n_cities,
            "org": self.c.n_organisations,
            "work": self.c.n_works,
            "event": self.c.n_events,
        }
        if min(counts.values()) < 1:
            raise ValueError(f"every entity type needs at least one entity, got {counts}")
        by_kind: dict[str, list[int]] = {}
        for kind, n in counts.items():
            for _ in range(n):
                e = _Entity(len(self.entities), kind, self._name(kind), self._attrs(kind))
                self.entities.append(e)
                by_kind.setdefault(kind, []).append(e.key)
        for e in list(self.entities):
            for relation, target_kind in _RELATIONS[e.kind].items():
                e.rel[relation] = self.rng.choice(by_kind[target_kind])
        # Near-duplicates: same name and kind, some shared facts, the rest redrawn.
        for e in list(self.entities):
            if e.kind == "city" or self.rng.random() >= self.c.distractor_rate:
                continue
            attrs = self._attrs(e.kind)
            if e.kind == "work":
                attrs["work_kind"] = e.attrs["work_kind"]
            for a, v in attrs.items():  # make sure the disambiguating facts differ
                if a in e.attrs and v == e.attrs[a] and isinstance(v, int):
                    attrs[a] = v + self.rng.randint(3, 40)
            d = _Entity(len(self.entities), e.kind, e.name, attrs, distractor_of=e.key)
            relations = list(_RELATIONS[e.kind].items())
            shared = self.rng.randrange(len(relations))
            for i, (relation, target_kind) in enumerate(relations):
                if i == shared:
                    d.rel[relation] = e.rel[relation]
                else:
                    choices = [k for k in by_kind[target_kind] if k != e.rel[relation]]
                    d.rel[relation] = self.rng.choice(choices or by_kind[target_kind])
            self.entities.append(d)
        ids = self.rng.sample(range(1_000_000, 10_000_000), len(self.entities))
        for e, i in zip(self.entities, ids):
            e.doc_id = str(i)

    # -- documents -----------------------------------------------------------------------------
    def _fact(self, e: _Entity, relation: str) -> str:
        t = self.entities[e.rel[relation]].name
        a = e.attrs
        if relation == "born_in":
            return f"{e.name} was born in {t} in {a['birth_year']}."
        if relation == "worked_for":
            return f"{a['pronoun']} worked for the {t} for most of {'his' if a['pronoun'] == 'He' else 'her'} career."
        if relation == "headquartered_in":
            return f"The {e.name} is headquartered in {t}."
        if relation == "founded_by":
            return f"It was founded by {t} in {a['founded']}."
        if relation == "created_by":
            verb, _ = _WORK_KINDS[str(a["work_kind"])]
            return f"{e.name} is {_a(str(a['genre']))} {a['genre']} {a['work_kind']} {verb} by {t}."
        if relation == "set_in":
            return f"The {a['work_kind']} is set in {t}."
        if relation == "held_in":
            return f"The {e.name} was first held in {t} in {a['year']}."
        if relation == "organised_by":
            return f"It is organised by the {t}."
        raise KeyError(relation)

    def _lead(self, e: _Entity) -> str:
        a = e.attrs
        if e.kind == "person":
            return f"{e.name} (born {a['birth_year']}) was {_a(str(a['occupation']))} {a['occupation']}."
        if e.kind == "city":
            return f"{e.name} is a city in {a['country']} on the river {a['river']}. It was founded in {a['founded']}."
        if e.kind == "org":
            return f"The {e.name} is an organisation active in {a['field']}, established in {a['founded']}."
        if e.kind == "work":
            return f"{e.name} is a {a['year']} {a['work_kind']}."
        return f"The {e.name} is an event first held in {a['year']}."

    def documents(self) -> list[dict[str, str]]:
        inverse: dict[int, list[str]] = {}
        for e in self.entities:
            if e.distractor_of is not None:
                continue
            for relation, target in e.rel.items():
                inverse.setdefault(target, []).append(self._inverse(e, relation, self.entities[target]))
        docs = []
        for e in self.entities:
            n_fill = self.rng.randint(*self.c.filler_sentences)
            names = {"name": e.name, "last": e.name.split()[-1]}
            fillers = [s.format(**names) for s in self.rng.sample(_FILLERS[e.kind], n_fill)]
            sentences = [self._lead(e), *fillers[:2]]
            sentences += [self._fact(e, r) for r in _RELATIONS[e.kind] if r in e.rel]
            sentences += sorted(inverse.get(e.key, []))[:4]
            sentences += fillers[2:]
            docs.append({"doc_id": e.doc_id, "title": e.name, "text": e.name + "\n" + " ".join(sentences)})
        docs.sort(key=lambda d: d["doc_id"])
        return docs

    @staticmethod
    def _inverse(subject: _Entity, relation: str, target: _Entity) -> str:
        s = subject.name
        if relation == "born_in":
            return f"The {subject.attrs['occupation']} {s} was born here."
        if relation == "worked_for":
            return f"Its staff included {s}."
        if relation == "headquartered_in":
            return f"The {s} has its headquarters in {target.name}."
        if relation == "founded_by":
            return f"{target.attrs['pronoun']} founded the {s}."
        if relation == "created_by":
            verb, _ = _WORK_KINDS[str(subject.attrs["work_kind"])]
            return f"{target.attrs['pronoun']} {verb} {s}."
        if relation == "set_in":
            return f"{s} is set in {target.name}."
        if relation == "held_in":
            return f"{target.name} hosts the {s}."
        return f"It organises the {s}."

    # -- questions -----------------------------------------------------------------------------
    def _constraint(self, e: _Entity) -> str:
        a = e.attrs
        if e.kind == "person":
            return f"the {a['occupation']} born in {a['birth_year']}"
        if e.kind == "org":
            return f"established in {a['founded']}"
        if e.kind == "work":
            return f"the {a['work_kind']} from {a['year']}"
        if e.kind == "event":
            return f"first held in {a['year']}"
        return f"founded in {a['founded']}"

    def _describe(self, e: _Entity) -> str:
        article = "the " if e.kind in ("org", "event") else ""
        return f"{article}{e.name} ({self._constraint(e)})"

    def _chain(self, hops: int) -> list[tuple[int, str]] | None:
        starts = [e.key for e in self.entities if e.distractor_of is None and e.kind != "city"]
        key = self.rng.choice(starts)
        chain: list[tuple[int, str]] = [(key, "")]
        while len(chain) < hops:
            e = self.entities[chain[-1][0]]
            options = [(r, t) for r, t in e.rel.items() if t not in {k for k, _ in chain}]
            if not options:
                return None
            relation, target = self.rng.choice(sorted(options))
            chain.append((target, relation))
        return chain

    def questions(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        seen: set[tuple[int, ...]] = set()
        attempts = 0
        while len(out) < self.c.n_questions:
            attempts += 1
            if attempts > 100 * self.c.n_questions:
                raise RuntimeError("could not draw enough distinct questions; enlarge the knowledge base")
            hops = self.rng.choices([2, 3, 4], weights=self.c.hop_weights)[0]
            chain = None
            for _ in range(100):  # cities end chains, so long ones take a few draws
                chain = self._chain(hops)
                if chain is not None and tuple(k for k, _ in chain) not in seen:
                    break
            if chain is None or tuple(k for k, _ in chain) in seen:
                continue
            last = self.entities[chain[-1][0]]
            attribute, template = self.rng.choice(_ASKS[last.kind])
            seen.add(tuple(k for k, _ in chain))
            description = self._describe(self.entities[chain[0][0]])
            for (_, relation), (prev_key, _) in zip(chain[1:], chain[:-1]):
                prev = self.entities[prev_key]
                role = _WORK_KINDS[str(prev.attrs["work_kind"])][1] if relation == "created_by" else ""
                description = _CLAUSES[relation].format(x=description, role=role)
            question = template.format(d=description)
            question = question[0].upper() + question[1:]
            qid = f"syn-{len(out):05d}"
            out.append(
                {
                    "query_id": qid,
                    "question": question,
                    "answer": str(last.attrs[attribute]),
                    "evidence": [self.entities[k].doc_id for k, _ in chain],
                    "hops": hops,
                    "split": split_of(qid, self.c.heldout_fraction, self.c.split_seed),
                }
            )
        return out


def generate(config: SyntheticConfig | None = None, seed: int = 0) -> KnowledgeBase:
    """Generates the knowledge base; the same config and seed give identical frames."""
    config = config or SyntheticConfig()
    g = _Generator(config, seed)
    g.build()
    corpus = pl.DataFrame(g.documents(), schema={"doc_id": pl.String, "title": pl.String, "text": pl.String})
    questions = pl.DataFrame(
        g.questions(),
        schema={
            "query_id": pl.String,
            "question": pl.String,
            "answer": pl.String,
            "evidence": pl.List(pl.String),
            "hops": pl.Int64,
            "split": pl.String,
        },
    )
    return KnowledgeBase(corpus, questions, config, seed)
