"""Webhooks: FHIR Subscriptions (R4, Subscriptions Backport IG) delivered as Standard Webhooks.

topics.py      the topics and their filters (pure)
resources.py   the Subscription resource in and out
notifications.py  status Parameters and notification Bundles
outbound.py    SSRF guard: which URLs may be called, and the address to connect to
signing.py     Standard Webhooks secrets and signatures
delivery.py    one HTTP attempt
dispatcher.py  the outbox dispatcher (in-process or `lbp-triage worker`)
metrics.py     Prometheus counters and gauges
router.py      HTTP: create, read, search, delete; $status, $deliveries, $resend
service.py     the use-cases behind the routes
store.py       subscriptions and the outbox rows each triage writes for them
outbox.py      the dispatchers' side of the outbox: claim work, record what happened
sealing.py     what of a subscription is encrypted at rest
"""
