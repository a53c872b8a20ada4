"""lbp-triage: a FHIR R4 triage service for low back pain."""

__version__ = "0.1.0"
