"""The FHIR boundary: QuestionnaireResponse in (validated, R4), CarePlan and friends out."""
