"""Logging: one JSON object per line (or readable lines in development).

What may be logged is decided where log calls are made: ids, dispositions, statuses,
timings, error type names — never bodies, answers, names, query strings or tokens.
uvicorn's own access log (which prints raw paths with query strings) is switched off;
the access layer logs each request by its route template instead.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from datetime import UTC, datetime
from typing import Any

# uvicorn adds `color_message` (the same words with terminal colour codes) to its records.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# One encoder for every line: json.dumps(..., default=str) builds a new one per call. The same
# defaults, so the same text.
_encode = json.JSONEncoder(default=str).encode
_LEVELS = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}
_seconds: dict[float, str] = {}  # "YYYY-MM-DDTHH:MM:SS" of the last whole second seen


def _time(created: float) -> str:
    """datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"), the date and
    time of day formatted once per second (the microseconds rounded as datetime rounds them)."""
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    prefix = _seconds.get(whole)
    if prefix is None:
        prefix = datetime.fromtimestamp(whole, UTC).isoformat()[:19]
        _seconds.clear()
        _seconds[whole] = prefix
    return f"{prefix}.{micros // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _time(record.created),
            "level": _LEVELS.get(record.levelname) or record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # the type and where it was raised; not the message (it may quote data)
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            entry["exception"] = record.exc_info[0].__name__
            if tb is not None:
                entry["at"] = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        return _encode(entry)


def write_line(logger: logging.Logger, event: str, fields: dict[str, Any]) -> bool:
    """Write the line `logger.info(event, extra=fields)` would write, without making the record,
    when the JSON handler configure_logging installed is the only one it would reach (the access
    layer's line per request: the logging machinery cost several times the line itself). False,
    writing nothing, when another handler or a filter is on the way (a test's capture, another
    format): then log it the usual way. The caller checks logger.isEnabledFor(INFO) first."""
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return False
        for handler in current.handlers:
            if (
                found is not None
                or type(handler) is not logging.StreamHandler
                or type(handler.formatter) is not JsonFormatter
                or handler.filters
                or handler.level > logging.INFO
            ):
                return False
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None:
        return False
    line = _encode({"time": _time(time.time()), "level": "info", "logger": logger.name, "event": event, **fields})
    found.acquire()
    try:
        found.stream.write(line + found.terminator)
        found.flush()
    except Exception:  # as logging does: a line that cannot be written fails no request
        pass
    finally:
        found.release()
    return True


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
