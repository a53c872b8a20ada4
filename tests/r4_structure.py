"""Derive app/fhir/data/r4-structure.json from HL7's R4 JSON Schema (tests/data/fhir-r4.schema.json).

The service checks incoming resources against this compact table (app/fhir/r4.py) rather than
running a JSON Schema validator over the 3 MB schema on every request. test_r4_structure.py
proves the table is exactly what this derivation gives, so the two cannot drift apart.

Regenerate with:  .venv/bin/python -m tests.r4_structure
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).parent / "data" / "fhir-r4.schema.json"
TABLE = Path(__file__).parent.parent / "app" / "fhir" / "data" / "r4-structure.json"
_REF = "#/definitions/"

# How a primitive looks in JSON. The schema says "number" for the integer types (its patterns
# apply to strings only); FHIR's JSON rules make them JSON integers, so "integer" here.
_JSON_TYPES = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}


def derive(schema: dict[str, Any]) -> dict[str, Any]:
    definitions = schema["definitions"]
    primitives: dict[str, list[Any]] = {}
    by_shape: dict[tuple[Any, Any], str] = {}
    for name, spec in definitions.items():
        if "properties" in spec or "oneOf" in spec:
            continue
        json_type = _JSON_TYPES.get(name, "string")
        pattern = spec.get("pattern") if json_type == "string" else None
        primitives[name] = [json_type, pattern]
        by_shape.setdefault((spec.get("type"), spec.get("pattern")), name)

    def inline(spec: dict[str, Any]) -> tuple[str, list[str] | None]:
        """A property spelled out in place: an enum of codes, or a primitive's type and pattern."""
        if "enum" in spec:
            return "code", list(spec["enum"])
        shape = (spec.get("type"), spec.get("pattern"))
        if shape not in by_shape:  # the only one: base64Binary, whose definition has no pattern
            assert spec.get("type") == "string" and primitives["base64Binary"][1] in (None, spec["pattern"])
            primitives["base64Binary"][1] = spec["pattern"]
            by_shape[shape] = "base64Binary"
        return by_shape[shape], None

    types: dict[str, Any] = {}
    resources = sorted(ref["$ref"].removeprefix(_REF) for ref in definitions["ResourceList"]["oneOf"])
    for name, spec in definitions.items():
        if "properties" not in spec:
            continue
        assert spec.get("additionalProperties") is False, name
        properties: dict[str, list[Any]] = {}
        for prop, prop_spec in spec["properties"].items():
            if prop == "resourceType" and "const" in prop_spec:  # a resource: checked by its name
                assert prop_spec["const"] == name
                continue
            is_array = prop_spec.get("type") == "array"
            target_spec = prop_spec["items"] if is_array else prop_spec
            enum = None
            if "$ref" in target_spec:
                target = target_spec["$ref"].removeprefix(_REF)
            else:
                target, enum = inline(target_spec)
            properties[prop] = [target, int(is_array)] + ([enum] if enum else [])
        entry: dict[str, Any] = {"properties": properties}
        required = [r for r in spec.get("required", ()) if r != "resourceType"]
        if required:
            entry["required"] = required
        types[name] = entry
    return {
        "source": "HL7 FHIR R4 (4.0.1) JSON Schema, fhir.schema.json",
        "primitives": primitives,
        "resources": resources,
        "types": types,
    }


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n"


if __name__ == "__main__":
    TABLE.write_text(render(derive(json.loads(SCHEMA.read_text()))))
    print(f"wrote {TABLE}")
