"""The access layer's line per request is written without a log record when the service's JSON
handler is the only one it would reach: the same text the record would have made, and the usual
way (a record) whenever anything else listens."""

from __future__ import annotations

import io
import logging

from app.kit import logs

FIELDS = {
    "request_id": "0123456789abcdef",
    "method": "POST",
    "route": "/fhir/X",
    "status": 201,
    "ms": 1.5,
    "agent": "Zoë",
}


def _configured(monkeypatch):
    monkeypatch.setattr(logging.root, "handlers", [])  # no capture on the root logger
    logs.configure_logging("INFO", "json")
    stream = io.StringIO()
    logging.getLogger("lbp_triage").handlers[0].setStream(stream)
    return stream


def _reset():
    for name in ("uvicorn", "uvicorn.error", "lbp_triage"):
        logging.getLogger(name).handlers[:] = []


def test_the_direct_line_is_the_records_line(monkeypatch):
    stream = _configured(monkeypatch)
    logger = logging.getLogger("lbp_triage.access")
    monkeypatch.setattr(logs.time, "time", lambda: 1_800_000_000.1234)
    monkeypatch.setattr(logging.time, "time_ns", lambda: 1_800_000_000_123_400_000)
    try:
        assert logs.write_line(logger, "request", dict(FIELDS))
        logger.info("request", extra=dict(FIELDS))
    finally:
        _reset()
    direct, recorded = stream.getvalue().splitlines()
    assert direct == recorded
    assert '"event": "request"' in direct and "Zo\\u00eb" in direct


def test_anything_else_listening_gets_a_record(monkeypatch):
    stream = _configured(monkeypatch)
    logger = logging.getLogger("lbp_triage.access")
    captured = logging.Handler()
    try:
        monkeypatch.setattr(logging.root, "handlers", [captured])
        assert not logs.write_line(logger, "request", dict(FIELDS))
        monkeypatch.setattr(logging.root, "handlers", [])
        logger.addFilter(lambda record: True)
        assert not logs.write_line(logger, "request", dict(FIELDS))
        logger.filters.clear()
        logging.getLogger("lbp_triage").handlers[0].setFormatter(logs.ConsoleFormatter())
        assert not logs.write_line(logger, "request", dict(FIELDS))
    finally:
        logger.filters.clear()
        _reset()
    assert stream.getvalue() == ""
