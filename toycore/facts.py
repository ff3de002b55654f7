"""The fact table: which athlete plays which sport.

The table is chosen for its near misses, because the AND gate is only
interesting when something *almost* matches:

* three Michaels (Jordan, Phelps, Schumacher) share a first name,
* two Williamses (Serena, Venus) and two Toms (Brady, Daley) share a name
  and, for the Williams sisters, even the sport,
* "Alexis Jordan" (the singer used in the lesson) is in the vocabulary as a
  first name but is *not* a fact: typing her name is a half match on the
  Michael Jordan neuron, and the model should answer "doesn't know".

We deliberately do not add a second athlete called Jordan: the real ones
(DeAndre Jordan, ...) also play basketball, so a leak from the half match
would be invisible in the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """One association the MLP should store: (first name, last name) -> sport."""

    first: str
    last: str
    sport: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


DEFAULT_FACTS: tuple[tuple[str, str, str], ...] = (
    ("Michael", "Jordan", "basketball"),
    ("Michael", "Phelps", "swimming"),
    ("Michael", "Schumacher", "motor racing"),
    ("Serena", "Williams", "tennis"),
    ("Venus", "Williams", "tennis"),
    ("Roger", "Federer", "tennis"),
    ("Rafael", "Nadal", "tennis"),
    ("Tiger", "Woods", "golf"),
    ("Rory", "McIlroy", "golf"),
    ("Lionel", "Messi", "soccer"),
    ("Cristiano", "Ronaldo", "soccer"),
    ("LeBron", "James", "basketball"),
    ("Kobe", "Bryant", "basketball"),
    ("Tom", "Brady", "American football"),
    ("Tom", "Daley", "diving"),
    ("Usain", "Bolt", "sprinting"),
    ("Simone", "Biles", "gymnastics"),
    ("Wayne", "Gretzky", "ice hockey"),
    ("Babe", "Ruth", "baseball"),
    ("Muhammad", "Ali", "boxing"),
    ("Mike", "Tyson", "boxing"),
    ("Lewis", "Hamilton", "motor racing"),
    ("Katie", "Ledecky", "swimming"),
)

# Names in the vocabulary that no fact uses: the lesson's half match.
EXTRA_FIRST_NAMES: tuple[str, ...] = ("Alexis",)

MAX_FACTS = 256
MAX_NAME_CHARS = 40


class FactTable:
    """An immutable, ordered list of facts with set-like editing.

    Immutable because models are immutable: `add`, `remove` and `replace`
    return a new table, so an old model never changes under the app's feet.
    Names are unique (case-insensitive): a person plays one sport here.
    """

    def __init__(self, facts: Iterator[Fact] | list[Fact] | tuple[Fact, ...] = ()) -> None:
        items: list[Fact] = []
        seen: set[str] = set()
        for fact in facts:
            if not isinstance(fact, Fact):
                fact = Fact(*fact)
            _check_fact(fact)
            key = fact.name.casefold()
            if key in seen:
                raise ValueError(f"{fact.name} is in the fact table twice")
            seen.add(key)
            items.append(fact)
        if len(items) > MAX_FACTS:
            raise ValueError(f"at most {MAX_FACTS} facts, got {len(items)}")
        self._facts: tuple[Fact, ...] = tuple(items)

    def __iter__(self) -> Iterator[Fact]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def __getitem__(self, i: int) -> Fact:
        return self._facts[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FactTable) and self._facts == other._facts

    def __hash__(self) -> int:
        return hash(self._facts)

    def __repr__(self) -> str:
        return f"FactTable({len(self)} facts: {', '.join(self.names[:3])}, ...)"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self._facts]

    @property
    def sports(self) -> list[str]:
        """Distinct sports in first-seen order (stable for plots)."""
        return list(dict.fromkeys(f.sport for f in self._facts))

    def index(self, name: str) -> int:
        key = " ".join(name.split()).casefold()
        for i, fact in enumerate(self._facts):
            if fact.name.casefold() == key:
                return i
        raise KeyError(f"no fact about {name!r}")

    def get(self, name: str) -> Fact | None:
        try:
            return self._facts[self.index(name)]
        except KeyError:
            return None

    def add(self, first: str, last: str, sport: str) -> FactTable:
        return FactTable([*self._facts, Fact(first, last, sport)])

    def remove(self, name: str) -> FactTable:
        i = self.index(name)
        return FactTable(self._facts[:i] + self._facts[i + 1 :])

    def replace(self, name: str, sport: str) -> FactTable:
        """Same person, new sport (keeps the position, so neuron j keeps its fact)."""
        i = self.index(name)
        old = self._facts[i]
        new = Fact(old.first, old.last, sport)
        return FactTable(self._facts[:i] + (new,) + self._facts[i + 1 :])

    def to_list(self) -> list[list[str]]:
        return [[f.first, f.last, f.sport] for f in self._facts]


def _check_fact(fact: Fact) -> None:
    for part in (fact.first, fact.last, fact.sport):
        if not isinstance(part, str) or not part.strip():
            raise ValueError(f"fact parts must be non-empty text, got {part!r}")
        if len(part) > MAX_NAME_CHARS:
            raise ValueError(f"{part[:20]!r}... is longer than {MAX_NAME_CHARS} characters")
    for part in (fact.first, fact.last):
        if len(part.split()) != 1:
            raise ValueError(f"first and last names are one word each, got {part!r}")


def default_facts() -> FactTable:
    """The built-in table: 23 well-known athletes with deliberate near misses."""
    return FactTable([Fact(*row) for row in DEFAULT_FACTS])
