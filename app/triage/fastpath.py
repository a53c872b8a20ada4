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
from typing import Annotated, Literal, NotRequired

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
