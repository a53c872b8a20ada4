"""SMART App Launch scopes, v1 and v2 grammar, as this server understands them.

    (system|user|patient) / (ResourceType|*) . (read|write|*|[cruds]+)

v1 `read` grants read and search; v1 `write` grants create, update and delete; v2 letters:
c create, r read, u update, d delete, s search. `patient/` scopes are limited to the
token's own patient (its `patient` claim, or the patient a static token is bound to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# history-instance and vread are reads in SMART (the r of v2, the .read of v1)
INTERACTION_LETTER = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "delete": "d",
    "search": "s",
}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(system|user|patient)/([A-Za-z]+|\*)\.(read|write|\*|[cruds]+)$")


@dataclass(frozen=True, slots=True)
class Grant:
    level: str  # system, user or patient
    resource_type: str  # or *
    letters: str


def parse_scopes(text: str | list[str]) -> tuple[Grant, ...]:
    """Every scope this server understands; others (openid, launch, …) are ignored."""
    words = text.split() if isinstance(text, str) else text
    grants = []
    for word in words:
        match = _SCOPE.match(word)
        if match:
            level, resource_type, permission = match.groups()
            grants.append(Grant(level, resource_type, _V1.get(permission, permission)))
    return tuple(grants)


def allowed(grants: tuple[Grant, ...], resource_type: str, interaction: str) -> Grant | None:
    """The broadest grant for this interaction: system or user before patient."""
    letter = INTERACTION_LETTER[interaction]
    found = None
    for grant in grants:
        if grant.resource_type in (resource_type, "*") and letter in grant.letters:
            if grant.level != "patient":
                return grant
            found = grant
    return found
