"""Is the body FHIR R4? Structural checks shared by every resource the service accepts.

Three layers, each answering 400 with an OperationOutcome whose expressions point at the
faults and never quote a submitted value:

- `parse_json`: JSON that cannot mean two things. A duplicate key in any object is refused
  (most parsers, orjson included, silently keep the last one: `"valueBoolean": true,
  "valueBoolean": false` would erase a "yes"), found by an exact colon count in C (see
  parse_json) with the standard library's parser as the general path.
- `check_structure`: what HL7's R4 JSON Schema rejects, and FHIR's JSON rules beyond it, in one
  iterative walk over the parsed body: unknown elements, JSON types of primitives, their
  formats (the schema's own patterns), codes of required bindings, `null`, empty arrays,
  objects and strings, an array where one value goes (and the reverse), a primitive's
  `_element` that is not an object, any `modifierExtension` (none is understood here, and
  FHIR forbids ignoring one), narratives breaking txt-1/txt-2 (app/fhir/xhtml.py), and the
  nesting depth limit. The walk is driven by data/r4-structure.json, derived from the schema
  (tests/r4_structure.py, kept identical by tests/test_r4_structure.py).
- `check_r4`: the fhir.resources R4B models, for the cardinalities and choice types the
  schema does not express.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from app.fhir.outcome import Fault, Rejected
from app.fhir.xhtml import xhtml_fault

_TABLE = Path(__file__).parent / "data" / "r4-structure.json"
MAX_FAULTS = 50
DEFAULT_MAX_DEPTH = 64


# --- JSON that cannot mean two things ---------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _duplicate_key(body: bytes) -> str | None:
    """The first key found twice in one object, by the standard library's parser, whose hook
    sees every object's pairs before they become a dict (the slower, general path)."""
    try:
        _STRICT_DECODER.decode(body.decode("utf-8"))
    except _DuplicateKey as duplicate:
        return duplicate.key
    except (ValueError, RecursionError):  # what orjson took but this parser cannot (a 5,000-digit number)
        raise Rejected(
            [Fault("structure", "The body is not valid JSON (or not UTF-8, or nested too deeply).")], 400
        ) from None
    return None


def parse_json(body: bytes) -> Any:
    """The body as JSON, or Rejected(400): not UTF-8, not JSON, or a key twice in one object.

    orjson parses (strict UTF-8, no NaN, no lone surrogates) but keeps the last of duplicate
    keys. They are found by counting colons: outside strings a colon ends a key, inside
    strings it is literal in the body and in orjson's re-serialisation alike, as long as the
    body writes no character as a \\u escape (which could spell a colon). So, without \\u
    escapes, the body has more colons than its re-serialisation exactly when some object held
    a key twice (the dropped key, and any colons in its value, are missing). Bodies with \\u
    escapes, and those found with duplicates, go through the standard library's parser."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Rejected(
            [Fault("structure", "The body is not valid JSON (or not UTF-8, or nested too deeply).")], 400
        ) from None
    if b"\\u" in body or body.count(b":") != orjson.dumps(data).count(b":"):
        key = _duplicate_key(body)
        if key is not None:
            name = f" '{key}'" if key in _element_names() else ""  # never echo free text
            raise Rejected(
                [
                    Fault(
                        "structure",
                        f"The JSON has a duplicate key{name} in one object: it could "
                        "mean two things, so it is refused.",
                    )
                ],
                400,
            )
    return data


# --- What the R4 JSON Schema rejects ----------------------------------------------------

# How a property's value is checked; the first three are the common cases, checked inline.
_STRING, _COMPLEX, _BOOLEAN, _NUMBER, _RESOURCE, _XHTML, _MODIFIER = range(7)
_PRIMITIVE_KINDS = {"string": _STRING, "boolean": _BOOLEAN, "integer": _NUMBER, "number": _NUMBER}
_INT32 = (-(2**31), 2**31 - 1)
_INTEGER_RANGES = {"integer": _INT32, "positiveInt": (1, _INT32[1]), "unsignedInt": (0, _INT32[1])}
_INT64 = 2**63
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_JSON_WORDS = {
    "string": "a JSON string",
    "boolean": "a JSON boolean (true or false)",
    "integer": "a JSON whole number",
    "number": "a JSON number",
}


class _Type:
    __slots__ = ("name", "properties", "required", "resource")

    def __init__(self, name: str, resource: bool) -> None:
        self.name = name
        self.resource = resource
        # name → (kind, primitive or _Type, is an array, codes of a required binding, pattern)
        self.properties: dict[str, tuple[int, Any, bool, frozenset[str] | None, Any]] = {}
        self.required: tuple[str, ...] = ()


@cache
def _types() -> dict[str, _Type]:
    """The schema's definitions as walkable types, compiled once."""
    table = json.loads(_TABLE.read_text())
    resources = set(table["resources"])
    types = {name: _Type(name, name in resources) for name in table["types"]}
    primitives = {
        name: (json_type, re.compile(pattern).fullmatch if pattern else None, name)
        for name, (json_type, pattern) in table["primitives"].items()
    }
    # a primitive's compiled (kind, pattern match, …) or a complex type's _Type, as `properties` holds it
    compiled: Any
    for name, spec in table["types"].items():
        typ = types[name]
        typ.required = tuple(spec.get("required", ()))
        for prop, (target, is_array, *enum) in spec["properties"].items():
            if prop == "modifierExtension":
                kind, compiled = _MODIFIER, None
            elif target == "xhtml":
                kind, compiled = _XHTML, primitives[target]
            elif target == "ResourceList":
                kind, compiled = _RESOURCE, None
            elif target in primitives:
                kind, compiled = _PRIMITIVE_KINDS[primitives[target][0]], primitives[target]
            else:
                kind, compiled = _COMPLEX, types[target]
            matches = compiled[1] if kind == _STRING else None
            typ.properties[prop] = (kind, compiled, bool(is_array), frozenset(enum[0]) if enum else None, matches)
    return types


def load_structure() -> None:
    """Compile the R4 structure table now (about 20 ms), rather than in the first request."""
    _element_names()


@cache
def _element_names() -> frozenset[str]:
    return frozenset(name for typ in _types().values() for name in typ.properties) | {"resourceType"}


def _primitive_fault(value: Any, primitive: tuple[str, Any, str], enum: frozenset[str] | None) -> str | None:
    json_type, matches, name = primitive
    if json_type == "string":
        if type(value) is not str:
            return f"must be a JSON string (a FHIR {name})"
        if not value:
            return "must not be an empty string"
        if matches is not None and matches(value) is None:
            return f"is not a valid FHIR {name}"
        if enum is not None and value not in enum:
            return "is not one of the codes allowed here"
        return None
    if json_type == "boolean":
        return None if value is True or value is False else "must be a JSON boolean (true or false)"
    if json_type == "integer":
        if type(value) is not int:
            return f"must be a JSON whole number (a FHIR {name})"
        low, high = _INTEGER_RANGES[name]
        return None if low <= value <= high else f"is out of range for a FHIR {name}"
    if type(value) is float:
        return None if math.isfinite(value) else "must be a finite number"
    if type(value) is int:
        return None if -_INT64 <= value < _INT64 else "is out of range"
    return f"must be a JSON number (a FHIR {name})"


def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


Chain = Any  # the root's name, or (parent chain, key, index or None): a path made into text only on fault


def _render(chain: Chain) -> str:
    parts = []
    while type(chain) is tuple:
        chain, key, index = chain
        if index is not None:
            parts.append(f"[{index}]")
        parts.append("." + (key[1:] if key[0] == "_" else key))
    parts.append(chain)
    return "".join(reversed(parts))


def structure_faults(data: dict[str, Any], max_depth: int | None = DEFAULT_MAX_DEPTH) -> list[Fault]:
    """Every way a resource breaks the R4 JSON Schema or FHIR's JSON rules; empty if none.
    One iterative walk (no input can exhaust the stack); paths are only spelled out on fault."""
    types = _types()
    faults: list[Fault] = []
    root = data.get("resourceType")
    if root not in types or not types[root].resource:
        return [Fault("structure", "The resourceType is not a FHIR R4 resource.", "resourceType")]
    limit = max_depth if max_depth is not None else float("inf")
    stack: list[tuple[dict[str, Any], _Type, Chain, int]] = [(data, types[root], root, 1)]
    push = stack.append

    def fault(code: str, text: str, chain: Chain) -> None:
        faults.append(Fault(code, f"Not valid FHIR R4: {text}.", _render(chain)))

    def other(kind: int, target: Any, enum: Any, value: Any, chain: Chain, depth: int) -> None:
        """Anything but a valid primitive or an object in an object's place."""
        if value is None:
            fault("structure", "null is not a value in FHIR JSON (leave the element out)", chain)
        elif kind <= _NUMBER and kind != _COMPLEX:
            problem = _primitive_fault(value, target, enum)  # numbers come here, and are mostly fine
            if problem:
                fault("value", problem, chain)
        elif kind == _COMPLEX:
            fault("structure", f"must be an object, not {_kind_of(value)}", chain)
        elif kind == _RESOURCE:
            resource_type = value.get("resourceType") if type(value) is dict else None
            if resource_type in types and types[resource_type].resource:
                push((value, types[resource_type], chain, depth))
            else:
                fault("structure", "must be a FHIR R4 resource with a known resourceType", chain)
        elif kind == _XHTML:
            problem = _primitive_fault(value, target, None)
            if problem:
                fault("value", problem, chain)
            else:
                problem = xhtml_fault(value)
                if problem:
                    faults.append(Fault("value", problem, _render(chain)))
        else:  # _MODIFIER
            faults.append(
                Fault(
                    "not-supported",
                    "This server understands no modifier extension, and FHIR "
                    "forbids ignoring one: the resource cannot be accepted.",
                    _render(chain),
                )
            )

    while stack:
        if len(faults) > MAX_FAULTS:
            break
        node, typ, chain, depth = stack.pop()
        if depth > limit:
            faults.append(Fault("structure", f"The JSON is nested more than {max_depth} levels deep.", _render(chain)))
            break
        if not node:
            fault("structure", "an element must not be an empty object", chain)
            continue
        properties = typ.properties
        for key, value in node.items():
            spec = properties.get(key)
            if spec is None:
                if key == "resourceType" and typ.resource and value == typ.name:
                    continue
                named = _NAME.match(key) is not None
                fault(
                    "structure",
                    "an unknown element" if named else "an element with an impossible name",
                    (chain, key, None) if named else chain,
                )
                continue
            kind, target, is_array, enum, matches = spec
            if kind == _MODIFIER:  # whatever it holds: one fault for the element
                other(kind, target, enum, value, (chain, key, None), depth)
                continue
            # The common cases inline (valid strings, booleans and objects); the rest, and every
            # fault, in other().
            if not is_array:
                if kind == _STRING:
                    if type(value) is str and value and matches(value) is not None and (enum is None or value in enum):
                        continue
                elif kind == _COMPLEX:
                    if type(value) is dict:
                        push((value, target, (chain, key, None), depth + 1))
                        continue
                elif kind == _BOOLEAN and (value is True or value is False):
                    continue
                if type(value) is list:
                    fault("structure", "takes a single value, not an array", (chain, key, None))
                else:
                    other(kind, target, enum, value, (chain, key, None), depth + 1)
                continue
            if type(value) is not list or not value:
                fault(
                    "structure",
                    "an array must not be empty (leave the element out)"
                    if value == []
                    else f"must be an array, not {_kind_of(value)}",
                    (chain, key, None),
                )
                continue
            for index, item in enumerate(value):
                if kind == _COMPLEX:
                    if type(item) is dict:
                        push((item, target, (chain, key, index), depth + 2))
                        continue
                elif (
                    kind == _STRING
                    and type(item) is str
                    and item
                    and matches(item) is not None
                    and (enum is None or item in enum)
                ):
                    continue
                other(kind, target, enum, item, (chain, key, index), depth + 2)
        for name in typ.required:
            if name not in node and f"_{name}" not in node:
                fault("required", "a required element is missing", (chain, name, None))
    if len(faults) > MAX_FAULTS:
        del faults[MAX_FAULTS:]
        faults.append(Fault("too-costly", f"More faults were found; only the first {MAX_FAULTS} are listed."))
    return faults


def matcher(type_name: str, element: str) -> Any:
    """The walk's own check of one primitive element's text (the schema's pattern, as
    `pattern.fullmatch`), e.g. matcher("Coding", "code"): for checks that vouch for the walk."""
    return _types()[type_name].properties[element][4]


def check_structure(data: dict[str, Any], max_depth: int | None = DEFAULT_MAX_DEPTH) -> None:
    """Raise Rejected(400) listing every fault, unless the resource passes `structure_faults`."""
    faults = structure_faults(data, max_depth)
    if faults:
        raise Rejected(faults, 400)


# --- Resource type, and the R4B models -------------------------------------------------

_ISSUE_CODE = {  # pydantic error type → FHIR issue-type (after fhirstarter)
    "missing": "required",
    "extra_forbidden": "structure",
    "json_invalid": "structure",
    "literal_error": "value",
    "string_pattern_mismatch": "value",
}


def expect_resource(data: Any, resource_type: str) -> None:
    if not isinstance(data, dict):
        raise Rejected([Fault("structure", "The body must be a JSON object (a FHIR resource).")], 400)
    if data.get("resourceType") != resource_type:
        raise Rejected(
            [Fault("structure", f"The resource must be a {resource_type}.", f"{resource_type}.resourceType")], 400
        )


def loc_to_fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            path += f".{part}"
    return path


def check_r4(model: Any, data: dict[str, Any]) -> None:
    """Raise Rejected(400), every fault listed, unless the R4B model accepts the data."""
    root = data.get("resourceType", "Resource")
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise Rejected(
            [
                Fault(
                    _ISSUE_CODE.get(err["type"], "invalid"),
                    f"Not valid FHIR R4: {err['msg']}.",
                    loc_to_fhirpath(root, err["loc"]),
                )
                for err in exc.errors(include_input=False, include_url=False)
            ],
            400,
        ) from None
    except (TypeError, ValueError) as exc:  # fhir.resources raises some of these directly
        raise Rejected([Fault("structure", f"Not valid FHIR R4: {type(exc).__name__}.")], 400) from None
