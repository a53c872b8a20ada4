"""Logging: one JSON object per line (or readable lines in development).

What may be logged is decided where log calls are made: ids, dispositions, statuses,
timings, error type names — never bodies, answers, names, query strings or tokens.
uvicorn's own access log (which prints raw paths with query strings) is switched off;
the access layer logs each request by its route template instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# uvicorn adds `color_message` (the same words with terminal colour codes) to its records.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            # the type and where it was raised; not the message (it may quote data)
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            entry["exception"] = record.exc_info[0].__name__
            if tb is not None:
                entry["at"] = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        error = f" exception={record.exc_info[0].__name__}" if record.exc_info and record.exc_info[0] else ""
        return f"{record.levelname:<7} {record.name}: {record.getMessage()} {extras}{error}".rstrip()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    app_logger = logging.getLogger("lbp_triage")
    app_logger.handlers[:] = [handler]
    app_logger.setLevel(level.upper())
    app_logger.propagate = True  # test harnesses capture through the root logger
    # One handler on "uvicorn": "uvicorn.error" propagates to it (a handler on both printed
    # every start-up line twice).
    logging.getLogger("uvicorn").handlers[:] = [handler]
    logging.getLogger("uvicorn").setLevel(level.upper())
    logging.getLogger("uvicorn.error").handlers[:] = []
    logging.getLogger("uvicorn.error").setLevel(logging.NOTSET)  # at the service's level, set just above
    # httpx logs every request's full URL at INFO: a webhook endpoint's query may hold a secret.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
