"""Operating the service: liveness and readiness for orchestrators and load balancers."""
