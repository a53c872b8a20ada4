"""uvicorn's own lines go through the service's log format once each, without terminal colours."""

from __future__ import annotations

import json
import logging


def test_uvicorn_lines_appear_once_and_without_ansi_codes(capsys):
    from app.kit.logs import configure_logging

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # as a uvicorn started at warning leaves it
    configure_logging("INFO", "json")
    try:
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
            "http",
            "127.0.0.1",
            8000,
            extra={"color_message": "Uvicorn running on \x1b[1m%s://%s:%d\x1b[0m (Press CTRL+C to quit)"},
        )
        lines = [line for line in capsys.readouterr().err.splitlines() if "Uvicorn running" in line]
    finally:
        for name in ("uvicorn", "uvicorn.error", "lbp_triage"):
            logging.getLogger(name).handlers[:] = []
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["event"] == "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)"
    assert "\x1b" not in lines[0] and "\\u001b" not in lines[0] and "color_message" not in entry
