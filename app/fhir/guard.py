"""The guard in front of /fhir: 406 for clients that accept no JSON (nor HTML, where a page is
served). Part of the one access layer's pass over each request, not a layer of its own."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import Scope

from app.fhir.errors import problem_response
from app.fhir.http import FhirResponse, check_acceptable, check_accepted
from app.fhir.outcome import FhirError

# Reads that also answer a page for people (text/html): a CarePlan.
HTML_READS = re.compile(r"^/fhir/CarePlan/[^/$][^/]*$")


def unacceptable(scope: Scope) -> FhirResponse | None:
    """The 406 for a /fhir request whose client accepts no JSON (nor HTML where a page is
    served), else None. Called by the access layer (app/security/access.py) once a request
    is admitted."""
    try:
        html = scope["method"] == "GET" and HTML_READS.match(scope["path"]) is not None
        if scope.get("query_string"):
            check_acceptable(Request(scope), html_allowed=html)
        else:  # no _format: the Accept header alone, read without building a Request
            accept = next((value for name, value in scope["headers"] if name == b"accept"), None)
            check_accepted(None, accept.decode("latin-1") if accept is not None else None, html_allowed=html)
    except FhirError as problem:
        return problem_response(problem)
    return None
