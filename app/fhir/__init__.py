"""FHIR R4 on the wire, shared by every feature: the strict structure check (r4, xhtml), the
Questionnaires (shipped as data), OperationOutcome, search parameters and Bundles, canonical URLs,
and the OpenAPI descriptions of FHIR bodies."""
