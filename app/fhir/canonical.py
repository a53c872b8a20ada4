"""Canonical URLs of the project's conformance resources. They name things; they need not resolve."""

BASE = "https://lbp-triage.org/fhir"

QUESTIONNAIRE_URL = f"{BASE}/Questionnaire/lbp-triage"
CODESYSTEM_URL = f"{BASE}/CodeSystem/lbp-triage"
ANSWERS_CODESYSTEM_URL = f"{BASE}/CodeSystem/lbp-triage-answers"
PLANDEFINITION_URL = f"{BASE}/PlanDefinition/lbp-triage-rules"
PRIORITY_EXTENSION_URL = f"{BASE}/StructureDefinition/activity-priority"
