"""Lumbar spine imaging: which orders count (a ValueSet of CPT codes served at
/fhir/ValueSet/lbp-lumbar-imaging), and whether an order is one.

The defaults are the lumbar spine X-ray, CT and MRI codes of the CMS166 measure's value set
("Low Back Pain: Use of Imaging Studies"); operators add local codes with LBP_CDS_IMAGING_CODES.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.fhir.canonical import BASE

CPT = "http://www.ama-assn.org/go/cpt"
VALUESET_ID = "lbp-lumbar-imaging"
VALUESET_URL = f"{BASE}/ValueSet/{VALUESET_ID}"
VALUESET_VERSION = "1.0.0"

DEFAULT_CODES: dict[str, str] = {
    "72100": "X-ray of lower spine, 2 or 3 views",
    "72110": "X-ray of lower spine, minimum of 4 views",
    "72114": "X-ray of lower spine, complete, including bending views",
    "72120": "X-ray of lower spine, bending views only",
    "72131": "CT of lower spine without contrast",
    "72132": "CT of lower spine with contrast",
    "72133": "CT of lower spine without and with contrast",
    "72148": "MRI of lower spinal canal without contrast",
    "72149": "MRI of lower spinal canal with contrast",
    "72158": "MRI of lower spinal canal without and with contrast",
}


def imaging_codes(extra_setting: str) -> frozenset[str]:
    extra = (code.strip() for code in extra_setting.split(","))
    return frozenset(DEFAULT_CODES) | frozenset(code for code in extra if code)


def value_set(extra_setting: str) -> dict[str, Any]:
    extra = sorted(imaging_codes(extra_setting) - set(DEFAULT_CODES))
    concepts = [{"code": code, "display": display} for code, display in DEFAULT_CODES.items()]
    concepts += [{"code": code} for code in extra]
    return {
        "resourceType": "ValueSet",
        "id": VALUESET_ID,
        "url": VALUESET_URL,
        "version": VALUESET_VERSION,
        "name": "LumbarSpineImaging",
        "title": "Lumbar spine imaging (X-ray, CT, MRI)",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "lbp-triage",
        "description": "Orders that the lbp-imaging CDS Hooks service treats as imaging of the lumbar "
        "spine: the CPT codes of the CMS166 measure (Low Back Pain: Use of Imaging Studies), plus any "
        "the site adds.",
        "compose": {"include": [{"system": CPT, "concept": concepts}]},
    }


def _codings(order: dict[str, Any]) -> Iterable[dict[str, Any]]:
    code = order.get("code")
    if isinstance(code, dict):
        for coding in code.get("coding") or ():
            if isinstance(coding, dict):
                yield coding


def is_lumbar_imaging(order: Any, codes: frozenset[str]) -> bool:
    return (
        isinstance(order, dict)
        and order.get("resourceType") == "ServiceRequest"
        and any(c.get("system") == CPT and c.get("code") in codes for c in _codings(order))
    )


def imaging_orders(draft_orders: Any, codes: frozenset[str]) -> list[dict[str, Any]]:
    """The lumbar imaging ServiceRequests among the hook's draftOrders (a Bundle)."""
    if not isinstance(draft_orders, dict):
        return []
    entries = draft_orders.get("entry") or ()
    return [e["resource"] for e in entries if isinstance(e, dict) and is_lumbar_imaging(e.get("resource"), codes)]
