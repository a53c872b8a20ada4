"""A strict, small model of the common QuestionnaireResponse shape: the fast path.

Full R4B validation with fhir.resources costs about a millisecond per response. Most
responses use a tiny corner of the resource, so they are first checked against this
model, which is deliberately *stricter* than R4B: anything it accepts, R4B accepts
too (tests/test_fastpath.py proves it with generated inputs). Whatever it does not
accept (extensions, contained resources, meta, primitive extensions, unusual values)
goes to the full R4B models, so no input R4B rejects is ever let through.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from app.fhir import r4

# Stricter than FHIR string: no control characters, no leading/trailing whitespace.
Text = Annotated[
    str, StringConstraints(max_length=4096, pattern=r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$")
]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
Uri = Annotated[str, StringConstraints(pattern=r"^\S{1,4096}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[^\s]{1,256}$")]
Integer32 = Annotated[StrictInt, Field(ge=-2147483648, le=2147483647)]

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))?$")


def _real_datetime(value: str) -> str:
    if not _DATETIME.match(value):
        raise ValueError("not a full FHIR date or dateTime")
    text = value.replace("Z", "+00:00")
    if "." in text:  # fromisoformat takes at most 6 fractional digits
        head, _, tail = text.partition(".")
        found = re.match(r"\d+", tail)
        assert found is not None  # _DATETIME put digits after the point
        digits = found.group(0)
        text = head + "." + digits[:6].ljust(6, "0") + tail[len(digits) :]
    parsed = dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
    if isinstance(parsed, dt.datetime) and not parsed.year >= 1:
        raise ValueError("year out of range")
    return value


DateTime = Annotated[str, AfterValidator(_real_datetime)]
Decimal = Annotated[StrictInt | StrictFloat, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]


_CONFIG = ConfigDict(extra="forbid", strict=True)


@with_config(_CONFIG)
class Coding(TypedDict, total=False):
    system: Uri
    version: Text
    code: Code
    display: Text


@with_config(_CONFIG)
class Identifier(TypedDict, total=False):
    system: Uri
    value: Text


@with_config(_CONFIG)
class Reference(TypedDict, total=False):
    reference: Text
    type: Uri
    display: Text


# An answer holds exactly one value[x]: one small shape per answer type.
@with_config(_CONFIG)
class BooleanAnswer(TypedDict):
    valueBoolean: StrictBool


@with_config(_CONFIG)
class IntegerAnswer(TypedDict):
    valueInteger: Integer32


@with_config(_CONFIG)
class DecimalAnswer(TypedDict):
    valueDecimal: Decimal


@with_config(_CONFIG)
class CodingAnswer(TypedDict):
    valueCoding: Coding


# Tried in order, the commonest first; each shape takes exactly one key, so at most one matches.
Answer = Annotated[BooleanAnswer | CodingAnswer | IntegerAnswer | DecimalAnswer, Field(union_mode="left_to_right")]


@with_config(_CONFIG)
class Item(TypedDict):
    linkId: Text
    text: NotRequired[Text]
    answer: NotRequired[Annotated[list[Answer], Field(min_length=1, max_length=1)]]
    item: NotRequired[Annotated[list[Item], Field(min_length=1, max_length=200)]]


@with_config(_CONFIG)
class QuestionnaireResponse(TypedDict):
    resourceType: Literal["QuestionnaireResponse"]
    id: NotRequired[Id]
    identifier: NotRequired[Identifier]
    questionnaire: NotRequired[Uri]
    status: Literal["in-progress", "completed", "amended", "entered-in-error", "stopped"]
    subject: NotRequired[Reference]
    authored: NotRequired[DateTime]
    author: NotRequired[Reference]
    source: NotRequired[Reference]
    item: NotRequired[Annotated[list[Item], Field(min_length=1, max_length=200)]]


_validator = TypeAdapter(QuestionnaireResponse).validator


def accepts(data: object) -> bool:
    """True if the fast model accepts the parsed JSON (and so R4B would too)."""
    try:
        _validator.validate_python(data)
    except ValidationError:
        return False
    return True


# --- The fast path instead of the R4 structure walk ----------------------------------------
#
# The walk (r4.check_structure) and this model checked the same body one after the other, for
# much the same rules. Where the model is looser than the walk (an empty identifier, reference
# or coding; a dateTime offset beyond ±14:00; whitespace inside strings that the schema's
# patterns refuse, such as a no-break space; nesting past the depth limit) the few elements it
# takes are checked again here with the walk's own patterns. So a body this accepts is one the
# walk accepts too (tests/test_fastpath.py checks it against the walk on generated bodies), and
# the walk is skipped for it; any other body is walked and validated exactly as before.


class Coverage:
    """read_resource's `vouched` check for one request: the fast model, and the walk's rules
    where the model is looser. Remembers the body it vouched for, so that validation does not
    run the fast model on it a second time (`done_for`)."""

    __slots__ = ("_vouched_for",)

    def __init__(self) -> None:
        self._vouched_for: object = None

    def __call__(self, data: dict[str, Any], max_depth: int | None) -> bool:
        covered = covers_structure(data, max_depth)
        self._vouched_for = data if covered else None
        return covered

    def done_for(self, data: object) -> bool:
        """Did this check accept this very body (so the fast model has passed it)?"""
        return data is not None and self._vouched_for is data


def covers_structure(data: dict[str, Any], max_depth: int | None) -> bool:
    """True when the fast model accepts `data` and the walk would find nothing in it."""
    return accepts(data) and _within_structure(data, max_depth)


@cache
def _walk_rules() -> dict[str, Any]:
    """The walk's patterns for the elements the fast model takes, and the strings of the
    triage Questionnaires that pass them (linkIds, texts, codes: most of a body's strings)."""
    from app.fhir.questionnaire import VERSIONS, questionnaire

    rules = {
        "id": r4.matcher("QuestionnaireResponse", "id"),
        "canonical": r4.matcher("QuestionnaireResponse", "questionnaire"),
        "code": r4.matcher("Coding", "code"),
        "dateTime": r4.matcher("QuestionnaireResponse", "authored"),
        "string": r4.matcher("QuestionnaireResponse_Item", "linkId"),
        "uri": r4.matcher("Coding", "system"),
    }
    strings: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)
        elif isinstance(node, str):
            strings.add(node)

    for version in VERSIONS:
        collect(questionnaire(version)["item"])
    for kind in ("code", "string", "uri"):
        rules[f"known {kind}"] = frozenset(s for s in strings if rules[kind](s) is not None)
    return rules


_IDENTIFIER = (("system", "uri"), ("value", "string"))
_REFERENCE = (("reference", "string"), ("type", "uri"), ("display", "string"))
_CODING = (("system", "uri"), ("version", "string"), ("code", "code"), ("display", "string"))


def _elements(node: dict[str, Any], elements: tuple[tuple[str, str], ...], rules: dict[str, Any]) -> bool:
    if not node:
        return False  # an empty object: the walk refuses it
    for name, kind in elements:
        value = node.get(name)
        if value is not None and value not in rules[f"known {kind}"] and rules[kind](value) is None:
            return False
    return True


def _within_structure(qr: dict[str, Any], max_depth: int | None) -> bool:
    """What the walk checks beyond the fast model, on a body the model accepted."""
    rules = _walk_rules()
    if max_depth is not None and max_depth < 6:  # a limit that low: let the walk judge every body
        return False
    if "id" in qr and rules["id"](qr["id"]) is None:
        return False
    if "questionnaire" in qr and rules["canonical"](qr["questionnaire"]) is None:
        return False
    if rules["code"](qr["status"]) is None:
        return False
    if "authored" in qr and rules["dateTime"](qr["authored"]) is None:
        return False
    if "identifier" in qr and not _elements(qr["identifier"], _IDENTIFIER, rules):
        return False
    for name in ("subject", "author", "source"):
        if name in qr and not _elements(qr[name], _REFERENCE, rules):
            return False
    return _within_items(qr.get("item") or (), 1, max_depth, rules)


def _within_items(items: Any, level: int, max_depth: int | None, rules: dict[str, Any]) -> bool:
    # The walk counts the resource as depth 1 and each array element two deeper: an item of
    # level n is at 1 + 2n, its answer at 3 + 2n and the answer's Coding at 4 + 2n.
    if items and max_depth is not None and 4 + 2 * level > max_depth:
        return False
    known, string = rules["known string"], rules["string"]
    for item in items:
        link_id, text = item["linkId"], item.get("text")
        if link_id not in known and string(link_id) is None:
            return False
        if text is not None and text not in known and string(text) is None:
            return False
        for answer in item.get("answer") or ():
            coding = answer.get("valueCoding")
            if coding is not None and not _elements(coding, _CODING, rules):
                return False
        if not _within_items(item.get("item") or (), level + 1, max_depth, rules):
            return False
    return True
