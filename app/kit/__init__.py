"""Shared HTTP plumbing: FHIR responses, request guards, error rendering."""
