"""CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/): the triage where the EHR's clinicians work.

- `lbp-triage` (patient-view, encounter-start): cards from the patient's latest triage.
- `lbp-imaging` (order-select, order-sign): lumbar spine imaging ordered without red flags in the
  first six weeks of back pain gets a warning (guide § Imaging, CMS166).

Served at /cds-services beside the FHIR API, with the EHR's signed JWT (see security.py).
"""
