"""The triage feature: POST $triage (router), the use-case (service: validate, triage, render, store
once), the reads and searches of what each triage stored (records), its repository, and the FHIR
resources it renders (CarePlan, Encounter, narrative, the CarePlan page). The clinical rules it
applies live in app.rules."""
