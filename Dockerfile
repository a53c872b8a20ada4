# syntax=docker/dockerfile:1
# lbp-triage: the FHIR triage API (and, with another command, the webhook worker).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, from the pinned project file, so code changes reuse this layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY app ./app
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LBP_DATABASE_URL=sqlite:////data/lbp-triage.db \
    LBP_ENVIRONMENT=production \
    WEB_CONCURRENCY=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin lbp \
    && mkdir /data && chown lbp /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /data
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# One worker process by default: on the default SQLite database one process (one webhook
# dispatcher) is the rule. On PostgreSQL raise WEB_CONCURRENCY (compose does); the workers
# then share their metrics through PROMETHEUS_MULTIPROC_DIR, emptied at each start.
# `lbp-triage serve` runs uvicorn without its proxy-header handling (the service judges
# X-Forwarded-* itself: LBP_TRUSTED_PROXIES) and without its access log (the service writes its
# own), and gives each worker a listening socket of its own, so that connections opened together
# are spread over the workers. In-flight requests get 20 s to finish on SIGTERM.
# LBP_SECRET_KEY (or LBP_SECRET_KEY_FILE) is required.
CMD ["sh", "-c", "export PROMETHEUS_MULTIPROC_DIR=/tmp/lbp-metrics && rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec lbp-triage serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY} --timeout-graceful-shutdown 20"]
