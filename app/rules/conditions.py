"""Small, readable conditions over answers, so the rule tables read like the spec.

Each condition, evaluated on the answers, returns the evidence that makes it true
(the linkIds and answers behind it) or None. `AnyOf` keeps the evidence of every
branch that holds, so a clinician sees all the answers behind a finding, not only
the first one.

`compile_predicate` turns a condition into one plain Python expression (a yes/no test
without evidence), and `compile_table` a whole findings table into one function, so the
engine can test all rules quickly and collect evidence only for the few that fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.rules.model import Answers, AnswerValue, Evidence


class Condition:
    __slots__ = ()

    def expression(self) -> str:  # pragma: no cover - abstract
        """A Python expression over the answers mapping `a` that is true when this holds."""
        raise NotImplementedError

    def evidence(self, answers: Answers) -> Evidence | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def words(self) -> str:  # pragma: no cover - abstract
        """The condition as the rules document writes it, for a clinician checking a decision."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Yes(Condition):
    """A boolean question answered "yes"."""

    link_id: str

    def words(self) -> str:
        return f"{self.link_id} = yes"

    def expression(self) -> str:
        return f"a.get({self.link_id!r}) is True"

    def evidence(self, answers: Answers) -> Evidence | None:
        if answers.get(self.link_id) is True:
            return ((self.link_id, True),)
        return None


@dataclass(frozen=True, slots=True)
class No(Condition):
    """A boolean question answered "no" (explicitly: an absent answer is not a no)."""

    link_id: str

    def words(self) -> str:
        return f"{self.link_id} = no"

    def expression(self) -> str:
        return f"a.get({self.link_id!r}) is False"

    def evidence(self, answers: Answers) -> Evidence | None:
        if answers.get(self.link_id) is False:
            return ((self.link_id, False),)
        return None


@dataclass(frozen=True, slots=True)
class NotYes(Condition):
    """A boolean question not answered "yes": "no", or left unanswered (evidence None)."""

    link_id: str

    def words(self) -> str:
        return f"{self.link_id} is not yes (no, or not answered)"

    def expression(self) -> str:
        return f"a.get({self.link_id!r}) is not True"

    def evidence(self, answers: Answers) -> Evidence | None:
        value = answers.get(self.link_id)
        if value is True:
            return None
        return ((self.link_id, value if value is False else None),)


@dataclass(frozen=True, slots=True)
class CountAtLeast(Condition):
    """At least `count` of the boolean questions answered "yes" (absent = no)."""

    count: int
    link_ids: tuple[str, ...]

    def __init__(self, count: int, *link_ids: str) -> None:
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "link_ids", link_ids)

    def words(self) -> str:
        return f"at least {self.count} of ({', '.join(self.link_ids)}) = yes"

    def expression(self) -> str:
        terms = " + ".join(f"(a.get({link_id!r}) is True)" for link_id in self.link_ids)
        return f"({terms}) >= {self.count!r}"

    def evidence(self, answers: Answers) -> Evidence | None:
        yes = tuple((link_id, True) for link_id in self.link_ids if answers.get(link_id) is True)
        return yes if len(yes) >= self.count else None


@dataclass(frozen=True, slots=True)
class AtLeast(Condition):
    link_id: str
    threshold: float

    def words(self) -> str:
        return f"{self.link_id} ≥ {self.threshold:g}"

    def expression(self) -> str:
        return f"_number(a.get({self.link_id!r})) >= {self.threshold!r}"

    def evidence(self, answers: Answers) -> Evidence | None:
        value = answers.get(self.link_id)
        return ((self.link_id, value),) if _number(value) >= self.threshold else None


@dataclass(frozen=True, slots=True)
class Below(Condition):
    link_id: str
    threshold: float

    def words(self) -> str:
        return f"{self.link_id} < {self.threshold:g}"

    def expression(self) -> str:
        return f"_number(a.get({self.link_id!r}), default=float('inf')) < {self.threshold!r}"

    def evidence(self, answers: Answers) -> Evidence | None:
        value = answers.get(self.link_id)
        return ((self.link_id, value),) if _number(value, default=float("inf")) < self.threshold else None


@dataclass(frozen=True, slots=True)
class OneOf(Condition):
    """A choice question answered with one of the given codes."""

    link_id: str
    codes: frozenset[str]

    def __init__(self, link_id: str, *codes: str) -> None:
        object.__setattr__(self, "link_id", link_id)
        object.__setattr__(self, "codes", frozenset(codes))

    def words(self) -> str:
        return f"{self.link_id} is {' or '.join(sorted(self.codes))}"

    def expression(self) -> str:
        return f"a.get({self.link_id!r}) in {set(sorted(self.codes))!r}"

    def evidence(self, answers: Answers) -> Evidence | None:
        value = answers.get(self.link_id)
        if value in self.codes:
            return ((self.link_id, value),)
        return None


@dataclass(frozen=True, slots=True)
class AllOf(Condition):
    parts: tuple[Condition, ...]

    def __init__(self, *parts: Condition) -> None:
        object.__setattr__(self, "parts", parts)

    def words(self) -> str:
        return "(" + " and ".join(p.words() for p in self.parts) + ")"

    def expression(self) -> str:
        return "(" + " and ".join(p.expression() for p in self.parts) + ")"

    def evidence(self, answers: Answers) -> Evidence | None:
        collected: Evidence = ()
        for part in self.parts:
            found = part.evidence(answers)
            if found is None:
                return None
            collected += found
        return collected


@dataclass(frozen=True, slots=True)
class AnyOf(Condition):
    parts: tuple[Condition, ...]

    def __init__(self, *parts: Condition) -> None:
        object.__setattr__(self, "parts", parts)

    def words(self) -> str:
        return "(" + " or ".join(p.words() for p in self.parts) + ")"

    def expression(self) -> str:
        return "(" + " or ".join(p.expression() for p in self.parts) + ")"

    def evidence(self, answers: Answers) -> Evidence | None:
        collected: Evidence = ()
        for part in self.parts:
            found = part.evidence(answers)
            if found is not None:
                collected += found
        return collected or None


def _number(value: AnswerValue | None, default: float = float("-inf")) -> float:
    """A numeric answer, or a default that makes the comparison false."""
    if value is None or isinstance(value, (bool, str)):
        return default
    return value


def compile_predicate(condition: Condition) -> Callable[[Answers], bool]:
    """The condition as one compiled yes/no function (no evidence)."""
    return eval(f"lambda a: {condition.expression()}", {"_number": _number})


def compile_table(conditions: tuple[Condition, ...]) -> Callable[[Answers], list[int]]:
    """A whole table's conditions as one compiled function: the positions of those that hold,
    in table order. One call tests every row (instead of one call per row)."""
    lines = ["def fired(a):", "    out = []"]
    for n, condition in enumerate(conditions):
        lines += [f"    if {condition.expression()}:", f"        out.append({n})"]
    lines.append("    return out")
    namespace: dict[str, Any] = {"_number": _number}
    exec("\n".join(lines), namespace)
    return namespace["fired"]


def same_verdict(condition: Condition, answers: Answers) -> bool:
    """For tests: the compiled predicate agrees with the evidence-collecting walk."""
    return compile_predicate(condition)(answers) == (condition.evidence(answers) is not None)
