"""Search results as a FHIR Bundle of type searchset."""

from __future__ import annotations

from typing import Any


def searchset(
    resources: list[dict[str, Any]], total: int, base: str, self_url: str, next_url: str | None
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def history(versions: list[dict[str, Any]], base: str, self_url: str) -> dict[str, Any]:
    """An instance's versions, newest first, as a Bundle of type history. Each entry says how
    the version came about as FHIR's history does: version 1 a create (POST, 201), later ones an
    update (PUT, 200); fullUrl is the version-independent URL."""
    entries = []
    for resource in versions:
        resource_type, resource_id, meta = resource["resourceType"], resource["id"], resource["meta"]
        first = meta["versionId"] == "1"
        entries.append(
            {
                "fullUrl": f"{base}/{resource_type}/{resource_id}",
                "resource": resource,
                "request": (
                    {"method": "POST", "url": resource_type}
                    if first
                    else {"method": "PUT", "url": f"{resource_type}/{resource_id}"}
                ),
                "response": {
                    "status": "201 Created" if first else "200 OK",
                    "etag": f'W/"{meta["versionId"]}"',
                    "lastModified": meta["lastUpdated"],
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(entries),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }
